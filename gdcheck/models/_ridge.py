r"""Ridge regression in the tutorial's layout: least squares plus an L2 penalty off the intercept.

Conventions (the tutorial's): ``X`` is (n, m), features × examples; ``y`` is (1, m). ``prepare``
prepends a row of ones, so ``w`` is (n+1, 1) and ``w[0]`` is the intercept, which is **not**
penalised (penalising it would shrink the predictions towards 0 instead of towards the mean).
"""

from __future__ import annotations

import math
import numbers

import numpy as np

from .._types import Array, NDArray
from ..array_api import namespace
from ..errors import InputError, InputTypeError
from ._linear import prepare
from ._model import Model

__all__ = ["ridge"]


def _penalty_mask(p: int) -> NDArray:
    r""":math:`D = \operatorname{diag}(0, 1, \dots, 1)`'s diagonal as a (p, 1) column: no intercept."""
    mask = np.ones((p, 1))
    mask[0] = 0.0
    return mask


def ridge(alpha: float = 0.1) -> Model:
    r"""Ridge regression, the tutorial's linear regression with an L2 penalty (intercept free).

    With :math:`D = \operatorname{diag}(0, 1, \dots, 1)` (no penalty on :math:`w_0`):

    .. math::

        C(w) = \frac{1}{m}\sum_{j=1}^{m} (w^\top x_j - y_j)^2 + \alpha \sum_{k \ge 1} w_k^2,
        \qquad
        \frac{\partial C}{\partial w} = \frac{2}{m}\, X (w^\top X - y)^\top + 2\alpha\, D w,

    .. math::

        H = \frac{2}{m} X X^\top + 2\alpha D, \qquad
        w^\star = (X X^\top + m\alpha D)^{-1} X y^\top .

    ``init`` is :math:`w_0 = 0`; ``optimum`` solves the normal equations in float64;
    ``hessian`` is the constant :math:`H` over the flattened ``w`` (p = n+1).

    Args:
      alpha: the penalty :math:`\alpha \ge 0` (0 is the tutorial's least squares).

    Example::

        >>> import numpy as np, gdcheck
        >>> X, y = gdcheck.data.tutorial(seed=0)
        >>> model = gdcheck.models.ridge(alpha=0.1)
        >>> Xb, y = model.prepare(X, y)            # prepends the ones row
        >>> w = model.optimum(Xb, y)               # (2, 1), float64
        >>> bool(np.abs(model.grad(w, Xb, y)).max() < 1e-12)
        True
    """
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise InputTypeError(f"ridge(alpha=...) must be a number, got {type(alpha).__name__}.")
    alpha = float(alpha)
    if not math.isfinite(alpha) or alpha < 0:
        raise InputError(
            f"ridge(alpha={alpha}): the penalty must be a finite number >= 0 (0 is plain least "
            "squares); the default is 0.1."
        )

    def init(X: NDArray, y: NDArray) -> NDArray:
        """:math:`w_0 = 0`, shape (n+1, 1), in the dtype of ``X``."""
        return np.zeros((X.shape[0], 1), dtype=X.dtype)

    def loss(w: Array, X: Array, y: Array) -> Array:
        r""":math:`\frac1m\sum(w^\top x_j - y_j)^2 + \alpha\sum_{k\ge1} w_k^2`, for every array-API library."""
        xp = namespace(w)
        residual = xp.matrix_transpose(w) @ X - y
        return xp.sum(residual**2) / X.shape[1] + alpha * xp.sum(w[1:, :] ** 2)

    def grad(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
        r"""The handwritten :math:`\frac2m X(w^\top X - y)^\top + 2\alpha D w`, shape (n+1, 1)."""
        m = X.shape[1]
        y_hat = w.T @ X
        return (2 / m) * (X @ (y_hat - y).T) + 2 * alpha * _penalty_mask(w.shape[0]) * w

    def optimum(X: NDArray, y: NDArray) -> NDArray:
        r""":math:`w^\star = (XX^\top + m\alpha D)^{-1} X y^\top`, in float64, shape (n+1, 1)."""
        X64, y64 = np.asarray(X, np.float64), np.asarray(y, np.float64)
        D = np.diag(_penalty_mask(X64.shape[0])[:, 0])
        A = X64 @ X64.T + X64.shape[1] * alpha * D
        try:
            return np.linalg.solve(A, X64 @ y64.T)
        except np.linalg.LinAlgError:
            raise InputError(
                "ridge: X Xᵀ + mαD is singular (a constant or duplicated feature row with "
                "alpha=0?), so the optimum is not unique; use alpha > 0 or drop the row."
            ) from None

    def hessian(X: NDArray, y: NDArray | None = None) -> NDArray:
        r"""The constant Hessian :math:`\frac2m XX^\top + 2\alpha D`, (p, p) float64 (y unused)."""
        X64 = np.asarray(X, np.float64)
        D = np.diag(_penalty_mask(X64.shape[0])[:, 0])
        return (2 / X64.shape[1]) * (X64 @ X64.T) + 2 * alpha * D

    return Model(
        name="ridge",
        loss=loss,
        grad=grad,
        init=init,
        prepare=prepare,  # the tutorial's: the ones row, X read once (a map's pages handed back)
        optimum=optimum,
        hessian=hessian,
        description=f"ridge regression, alpha={alpha:g} (intercept not penalised), tutorial layout",
        info={
            "layout": "columns (features × examples), a ones row prepended",
            "target": "values",
            "X": "(n, m)",
            "y": "(1, m)",
            "params": "w (n+1, 1), w[0] the intercept",
            "alpha": alpha,
        },
    )
