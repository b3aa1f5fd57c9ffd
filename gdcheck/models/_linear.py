r"""Models with a handwritten gradient: the tutorial's linear regression.

Conventions (the tutorial's): ``X`` is (n, m), features × examples; ``y`` is (1, m). A row of
ones is prepended to ``X``, so ``w`` is (n+1, 1) and ``w[0]`` is the intercept.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import Array, NDArray
from ..array_api import namespace
from ..validation import check_tutorial_data

__all__ = ["LinearRegression", "linear_regression"]


@dataclass(frozen=True)
class LinearRegression:
    r"""Linear regression trained by plain gradient descent, as the tutorial writes it.

    .. math::

        \hat y = w^\top X, \qquad
        C(w) = \frac{1}{m}\sum_{j=1}^{m} (\hat y_j - y_j)^2, \qquad
        \frac{\partial C}{\partial w} = \frac{2}{m}\, X (\hat y - y)^\top, \qquad
        w \leftarrow w - \eta\, \frac{\partial C}{\partial w}.

    The Hessian is constant, :math:`H = \frac{2}{m} X X^\top`, so gradient descent converges
    iff :math:`\eta < 2/\lambda_{\max}(H)`, and the minimiser is the least-squares solution.

    Example::

        >>> import gdcheck
        >>> X, y = gdcheck.data.tutorial(seed=0)
        >>> model = gdcheck.models.linear_regression()
        >>> Xb, y = model.prepare(X, y)            # prepends the ones row
        >>> w = model.init_params(Xb)              # zeros, shape (2, 1)
        >>> float(model.cost(w, Xb, y)) > 0
        True
    """

    name: str = "linear_regression"

    def prepare(self, X: Any, y: Any) -> tuple[NDArray, NDArray]:
        """Validate ``X`` (n, m) and ``y`` (1, m), and prepend the ones row: returns (n+1, m), (1, m)."""
        X, y = check_tutorial_data(X, y)
        return np.vstack([np.ones((1, X.shape[1])), X]), y

    def init_params(self, X: NDArray) -> NDArray:
        """``w_0 = 0`` of shape (n+1, 1), in the dtype of ``X``."""
        return np.zeros((X.shape[0], 1), dtype=X.dtype)

    def predict(self, w: Array, X: Array) -> Array:
        r""":math:`\hat y = w^\top X`, shape (1, m)."""
        xp = namespace(w)
        return xp.matrix_transpose(w) @ X

    def cost(self, w: Array, X: Array, y: Array) -> Array:
        r""":math:`C = \frac{1}{m}\sum (\hat y - y)^2`, written once for every array-API library."""
        xp = namespace(w)
        residual = self.predict(w, X) - y
        return xp.sum(residual**2) / X.shape[1]

    def gradient(self, w: NDArray, X: NDArray, y: NDArray) -> NDArray:
        r"""The handwritten gradient :math:`\frac{2}{m} X (\hat y - y)^\top`, shape (n+1, 1)."""
        m = X.shape[1]
        y_hat = w.T @ X
        return (2 / m) * (X @ (y_hat - y).T)

    def update(self, w: NDArray, grad: NDArray, lr: float) -> NDArray:
        r"""The handwritten update :math:`w - \eta\, g`."""
        return w - lr * grad

    def term_scale(self, w: NDArray, X: NDArray, y: NDArray) -> NDArray:
        r"""Size of the terms the gradient sums: :math:`S = \frac{2}{m}|X|(|\hat y - y| + |w|^\top|X| + |y|)^\top`.

        Rounding error in any correct evaluation of the gradient is a small multiple of
        ``eps · S`` (the residual is a difference of terms as large as ``|w|ᵀ|X|`` and
        ``|y|``). At the optimum the gradient itself is ~1e-15, but ``S`` is not: it is the
        floor below which a gradient difference is rounding, not a wrong derivation.
        """
        absX = np.abs(X)
        size = np.abs(w.T @ X - y) + np.abs(w).T @ absX + np.abs(y)
        return (2 / X.shape[1]) * (absX @ size.T)

    def n_terms(self, X: NDArray) -> int:
        """Number of terms summed into each gradient entry (the examples, m)."""
        return int(X.shape[1])

    def optimum(self, X: NDArray, y: NDArray) -> NDArray:
        r"""The least-squares minimiser :math:`\arg\min_w \|w^\top X - y\|^2`, in float64."""
        sol, *_ = np.linalg.lstsq(X.T.astype(np.float64), y.T.astype(np.float64), rcond=None)
        return sol

    def hessian(self, X: NDArray) -> NDArray:
        r"""The constant Hessian :math:`H = \frac{2}{m} X X^\top`, in float64."""
        X = X.astype(np.float64)
        return (2 / X.shape[1]) * (X @ X.T)


def linear_regression() -> LinearRegression:
    """The tutorial's handwritten linear regression (see :class:`LinearRegression`)."""
    return LinearRegression()
