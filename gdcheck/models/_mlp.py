r"""A one-hidden-layer ReLU network with a softmax output, rows layout, backpropagated by hand.

The ReLU kink: the loss writes :math:`\max(z, 0)`, whose autodiff derivative at an exact tie
``z = 0`` is ½ under JAX and PyTorch, while the handwritten backward uses the mask
:math:`[z > 0]`, which gives 0 there. Both are valid subgradients; they differ only on entries
where a pre-activation is exactly 0, which generic data never produce (He-normal ``W1`` times
real-valued features). Where they do (a row of zeros in ``X`` with ``b1 = 0``), the
cross-check reports a kink convention difference, not a wrong derivation.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from .._types import Array, NDArray
from ..array_api import namespace
from ..errors import InputError, InputTypeError
from ._model import Model
from ._softmax import check_classes, log_softmax, prepare_labels, softmax_probs

__all__ = ["mlp"]


def _check_args(hidden: Any, l2: Any, seed: Any) -> tuple[int, float, int]:
    for name, value in (("hidden", hidden), ("seed", seed)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise InputTypeError(f"mlp({name}=...) must be an integer, got {type(value).__name__}.")
    if hidden < 1:
        raise InputError(f"mlp(hidden={hidden}): the hidden layer needs at least 1 unit.")
    if isinstance(l2, bool) or not isinstance(l2, numbers.Real):
        raise InputTypeError(f"mlp(l2=...) must be a number, got {type(l2).__name__}.")
    if not math.isfinite(float(l2)) or l2 < 0:
        raise InputError(f"mlp(l2={l2}): the weight decay must be a finite number >= 0.")
    return int(hidden), float(l2), int(seed)


def mlp(hidden: int = 32, l2: float = 1e-4, seed: int = 0, classes: int | None = None) -> Model:
    r"""One ReLU hidden layer, a softmax output, mean cross-entropy plus L2 on the weights.

    Forward, with one-hot targets :math:`Y` (m, C):

    .. math::

        Z_1 = XW_1 + \mathbf 1 b_1^\top, \quad A_1 = \max(Z_1, 0), \quad
        Z_2 = A_1 W_2 + \mathbf 1 b_2^\top, \quad P = \operatorname{softmax}(Z_2),

    .. math::

        C = -\frac1m \sum_{j,c} Y_{jc}\log P_{jc}
            + \frac{\lambda}{2}\left(\|W_1\|^2 + \|W_2\|^2\right) \quad\text{(biases free)}.

    Backward (the handwritten gradient), :math:`\odot` elementwise:

    .. math::

        G_2 = \frac{P - Y}{m}, \quad
        \nabla_{W_2} = A_1^\top G_2 + \lambda W_2, \quad \nabla_{b_2} = \mathbf 1^\top G_2,

    .. math::

        G_1 = (G_2 W_2^\top) \odot [Z_1 > 0], \quad
        \nabla_{W_1} = X^\top G_1 + \lambda W_1, \quad \nabla_{b_1} = \mathbf 1^\top G_1.

    ``init`` draws He-normal weights :math:`W_1 \sim \mathcal N(0, 2/n)`,
    :math:`W_2 \sim \mathcal N(0, 2/H)` from ``numpy.random.default_rng(seed)`` (the same for
    a given seed and data shape) and zero biases. See the module docstring for the ReLU kink
    (autodiff's ½ at :math:`z = 0` against the mask's 0).

    Args:
      hidden: the hidden width H.
      l2: the weight decay :math:`\lambda \ge 0`.
      seed: seeds ``init``.
      classes: the number of classes C; default ``max(y) + 1``.

    Example::

        >>> import numpy as np, gdcheck
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(60, 4)); y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
        >>> model = gdcheck.models.mlp(hidden=8)
        >>> X, Y = model.prepare(X, y)             # Y: one-hot, shape (60, 3)
        >>> p = model.init(X, Y)                   # W1 (4, 8), b1 (8,), W2 (8, 3), b2 (3,)
        >>> gdcheck.check_gradient(model.loss, model.grad, p, X, Y).passed
        True
    """
    hidden, l2, seed = _check_args(hidden, l2, seed)
    classes = check_classes(classes, "mlp")

    def prepare(X: Any, y: Any) -> tuple[NDArray, NDArray]:
        """Validate ``X`` (m, n) and labels ``y`` (m,); return ``X`` and one-hot ``Y`` (m, C)."""
        return prepare_labels(X, y, classes, "mlp")

    def init(X: NDArray, Y: NDArray) -> dict[str, NDArray]:
        """He-normal ``W1`` (n, H), ``W2`` (H, C) from ``default_rng(seed)``; zero biases."""
        n, C = X.shape[1], Y.shape[1]
        rng = np.random.default_rng(seed)
        W1 = rng.standard_normal((n, hidden)) * math.sqrt(2 / n)
        W2 = rng.standard_normal((hidden, C)) * math.sqrt(2 / hidden)
        return {
            "W1": W1.astype(X.dtype),
            "b1": np.zeros(hidden, dtype=X.dtype),
            "W2": W2.astype(X.dtype),
            "b2": np.zeros(C, dtype=X.dtype),
        }

    def loss(params: dict[str, Array], X: Array, Y: Array) -> Array:
        r"""Mean cross-entropy of :math:`\operatorname{softmax}(\max(XW_1+b_1, 0)W_2 + b_2)` plus :math:`\frac\lambda2(\|W_1\|^2+\|W_2\|^2)`."""
        xp = namespace(params)
        A1 = xp.maximum(X @ params["W1"] + params["b1"], 0)
        Z2 = A1 @ params["W2"] + params["b2"]
        ce = -xp.sum(Y * log_softmax(xp, Z2)) / X.shape[0]
        return ce + (l2 / 2) * (xp.sum(params["W1"] ** 2) + xp.sum(params["W2"] ** 2))

    def grad(params: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict[str, NDArray]:
        """The handwritten backward pass (see :func:`mlp`), ReLU mask ``Z1 > 0``."""
        Z1 = X @ params["W1"] + params["b1"]
        A1 = np.maximum(Z1, 0)
        G2 = (softmax_probs(A1 @ params["W2"] + params["b2"]) - Y) / X.shape[0]
        G1 = (G2 @ params["W2"].T) * (Z1 > 0)
        return {
            "W1": X.T @ G1 + l2 * params["W1"],
            "b1": G1.sum(axis=0),
            "W2": A1.T @ G2 + l2 * params["W2"],
            "b2": G2.sum(axis=0),
        }

    return Model(
        name="mlp",
        loss=loss,
        grad=grad,
        init=init,
        prepare=prepare,
        description=(
            f"one-hidden-layer ReLU network (H={hidden}), softmax output, mean cross-entropy "
            f"+ (l2/2)(|W1|² + |W2|²), l2={l2:g}, rows layout, one-hot targets"
        ),
        info={
            "layout": "rows",
            "target": "labels",
            "X": "(m, n)",
            "y": "(m,) integer labels; prepare returns one-hot Y (m, C)",
            "params": "W1 (n, H), b1 (H,), W2 (H, C), b2 (C,)",
            "hidden": hidden,
            "l2": l2,
            "seed": seed,
            "kink": "ReLU: autodiff's d max(z, 0)/dz at z = 0 is 1/2, the handwritten mask z > 0 gives 0",
        },
    )
