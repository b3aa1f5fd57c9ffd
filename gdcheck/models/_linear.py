r"""The tutorial's handwritten linear regression, written through :class:`gdcheck.Model`.

Conventions (the tutorial's): ``X`` is (n, m), features × examples; ``y`` is (1, m). A row of
ones is prepended to ``X`` (:func:`prepare`), so ``w`` is (n+1, 1) and ``w[0]`` is the
intercept.

.. math::

    \hat y = w^\top X, \qquad
    C(w) = \frac{1}{m}\sum_{j=1}^{m} (\hat y_j - y_j)^2, \qquad
    \frac{\partial C}{\partial w} = \frac{2}{m}\, X (\hat y - y)^\top, \qquad
    w \leftarrow w - \eta\, \frac{\partial C}{\partial w}.

The Hessian is constant, :math:`H = \frac{2}{m} X X^\top`, so gradient descent converges iff
:math:`\eta < 2/\lambda_{\max}(H)`, and the minimiser is the least-squares solution.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._types import Array, NDArray
from ..array_api import namespace
from ..validation import check_tutorial_data
from ._model import Model

__all__ = [
    "cost",
    "gradient",
    "hessian",
    "init_params",
    "linear_regression",
    "optimum",
    "predict",
    "prepare",
    "term_scale",
    "update",
]


def prepare(X: Any, y: Any) -> tuple[NDArray, NDArray]:
    """Validate ``X`` (n, m) and ``y`` (1, m), and prepend the ones row: returns (n+1, m), (1, m)."""
    X, y = check_tutorial_data(X, y)
    return np.vstack([np.ones((1, X.shape[1]), X.dtype), X]), y


def init_params(X: NDArray, y: NDArray | None = None) -> NDArray:
    """``w_0 = 0`` of shape (n+1, 1), in the dtype of ``X``."""
    return np.zeros((X.shape[0], 1), dtype=X.dtype)


def predict(w: Array, X: Array) -> Array:
    r""":math:`\hat y = w^\top X`, shape (1, m)."""
    xp = namespace(w)
    return xp.matrix_transpose(w) @ X


def cost(w: Array, X: Array, y: Array) -> Array:
    r""":math:`C = \frac{1}{m}\sum (\hat y - y)^2`, written once for every array-API library."""
    xp = namespace(w)
    residual = predict(w, X) - y
    return xp.sum(residual**2) / X.shape[1]


def gradient(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    r"""The handwritten gradient :math:`\frac{2}{m} X (\hat y - y)^\top`, shape (n+1, 1)."""
    m = X.shape[1]
    y_hat = w.T @ X
    return (2 / m) * (X @ (y_hat - y).T)


def update(w: NDArray, grad: NDArray, state: Any, lr: float) -> tuple[NDArray, None]:
    r"""The handwritten update :math:`w - \eta\, g` (no state)."""
    return w - lr * grad, None


def term_scale(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    r"""Size of the terms the gradient sums: :math:`S = \frac{2}{m}|X|(|\hat y - y| + |w|^\top|X| + |y|)^\top`.

    Rounding error in any correct evaluation of the gradient is a small multiple of ``ε·S``.
    The engine measures that floor by perturbation; a model may hand it this instead, as a
    speed-up (``Model(term_scale=...)``).
    """
    absX = np.abs(X)
    size = np.abs(w.T @ X - y) + np.abs(w).T @ absX + np.abs(y)
    return (2 / X.shape[1]) * (absX @ size.T)


NORMAL_EQUATIONS_COND = 1e10
"""Below this condition number of :math:`XX^\top` the optimum solves the normal equations."""


def optimum(X: NDArray, y: NDArray) -> NDArray:
    r"""The least-squares minimiser :math:`\arg\min_w \|w^\top X - y\|^2`, in float64, (n+1, 1).

    By the normal equations :math:`(XX^\top) w = X y^\top` when :math:`\kappa(XX^\top) <`
    :data:`NORMAL_EQUATIONS_COND` (one pass over X for :math:`XX^\top`, whose relative error is
    about :math:`\kappa\,\epsilon`: 1e-6 at the worst allowed κ), else by ``lstsq`` (an SVD
    of the (m, n+1) matrix: exact to :math:`\kappa(X)\,\epsilon`, and the slow path for large m).
    """
    X64, y64 = X.astype(np.float64, copy=False), y.astype(np.float64, copy=False)
    gram = X64 @ X64.T
    eig = np.linalg.eigvalsh(gram)
    if eig[0] > 0 and eig[-1] / eig[0] < NORMAL_EQUATIONS_COND:
        return np.linalg.solve(gram, X64 @ y64.T)
    sol, *_ = np.linalg.lstsq(X64.T, y64.T, rcond=None)
    return sol


def hessian(X: NDArray, y: NDArray | None = None) -> NDArray:
    r"""The constant Hessian :math:`H = \frac{2}{m} X X^\top`, in float64."""
    X = X.astype(np.float64)
    return (2 / X.shape[1]) * (X @ X.T)


def linear_regression() -> Model:
    """The tutorial's handwritten linear regression as a :class:`gdcheck.Model`.

    Example::

        >>> import gdcheck
        >>> X, y = gdcheck.data.tutorial(seed=0)
        >>> model = gdcheck.models.linear_regression()
        >>> Xb, y = model.prepare(X, y)            # prepends the ones row
        >>> w = model.init(Xb, y)                  # zeros, shape (2, 1)
        >>> float(model.loss(w, Xb, y)) > 0
        True
    """
    return Model(
        name="linear_regression",
        loss=cost,
        grad=gradient,
        init=init_params,
        update=update,
        prepare=prepare,
        optimum=optimum,
        hessian=hessian,
        description="the tutorial's linear regression: C = (1/m) Σ (wᵀx − y)², "
        "∇C = (2/m) X (ŷ − y)ᵀ, w ← w − lr·∇C",
        info={
            "layout": "columns (features × examples), a ones row prepended",
            "optimum": "least squares",
        },
    )
