r"""Softmax (multinomial logistic) regression, rows layout: ``X`` (m, n), integer labels ``y`` (m,).

Also home of :func:`prepare_labels` (labels → one-hot) and :func:`log_softmax`, which the MLP
reuses for its output layer.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._types import Array, NDArray
from ..array_api import namespace
from ..errors import InputError, InputTypeError
from ._logistic import check_rows_data
from ._model import Model

__all__ = ["check_classes", "log_softmax", "prepare_labels", "softmax_regression"]


def check_classes(classes: Any, model: str) -> int | None:
    """``classes`` is None (from the labels) or an integer >= 2."""
    if classes is None:
        return None
    if isinstance(classes, bool) or not isinstance(classes, numbers.Integral):
        raise InputTypeError(
            f"{model}(classes=...) must be an integer or None, got {type(classes).__name__}."
        )
    if classes < 2:
        raise InputError(
            f"{model}(classes={classes}): need at least 2 classes; for two classes with 0/1 "
            "targets logistic_regression() is the same model with half the parameters."
        )
    return int(classes)


def prepare_labels(X: Any, y: Any, classes: int | None, model: str) -> tuple[NDArray, NDArray]:
    r"""Validate ``X`` (m, n) and labels ``y`` (m,); return ``(X, Y)`` with ``Y`` the one-hot (m, C).

    :math:`Y_{jc} = [y_j = c]`, in X's dtype; ``C = classes`` or ``max(y) + 1``. Labels must be
    integers (integer-valued floats, as read from a CSV, are accepted) in ``[0, C)``.
    """
    X, y = check_rows_data(X, y, model)
    frac = y != np.round(y)
    if frac.any():
        i = int(np.argmax(frac))
        raise InputError(
            f"{model}: y must hold integer class labels 0..C-1, but y[{i}] = {y[i]:g}; "
            "for one-hot targets pass y.argmax(axis=1), for text labels "
            "np.unique(y, return_inverse=True)[1]."
        )
    labels = y.astype(np.int64)
    C = int(labels.max()) + 1 if classes is None else classes
    outside = (labels < 0) | (labels >= C)
    if outside.any():
        i = int(np.argmax(outside))
        fix = (
            f"pass classes >= {int(labels.max()) + 1}, or relabel to 0..{C - 1}"
            if labels[i] >= C
            else f"relabel to 0..{C - 1} (np.unique(y, return_inverse=True)[1])"
        )
        raise InputError(
            f"{model}: {int(outside.sum())} label(s) lie outside [0, {C}), the first y[{i}] = "
            f"{labels[i]}; {fix}."
        )
    if C < 2:
        raise InputError(
            f"{model}: every label is 0, so there is one class; pass classes=C (C >= 2) or "
            "labels of at least two classes."
        )
    Y = (labels[:, None] == np.arange(C)).astype(X.dtype)
    return X, Y


def log_softmax(xp: Any, Z: Array) -> Array:
    r""":math:`\log\operatorname{softmax}(Z)_{jc} = Z'_{jc} - \log\sum_k e^{Z'_{jk}}`, :math:`Z' = Z - \max_k Z_{jk}`.

    Subtracting the row max makes the largest exponent :math:`e^0 = 1`: no overflow at any
    logit, and the sum is >= 1, so the log never sees 0.
    """
    Zs = Z - xp.max(Z, axis=1, keepdims=True)
    return Zs - xp.log(xp.sum(xp.exp(Zs), axis=1, keepdims=True))


def softmax_probs(Z: NDArray) -> NDArray:
    r"""NumPy :math:`P = \operatorname{softmax}(Z)` row by row, with the row max subtracted."""
    E = np.exp(Z - Z.max(axis=1, keepdims=True))
    return E / E.sum(axis=1, keepdims=True)


def softmax_regression(classes: int | None = None) -> Model:
    r"""Softmax regression by gradient descent: a linear layer and a mean cross-entropy.

    With :math:`Z = XW + \mathbf 1 b^\top` (m, C), :math:`P = \operatorname{softmax}(Z)` row by
    row and the one-hot targets :math:`Y` (m, C):

    .. math::

        C(W, b) = -\frac{1}{m}\sum_{j=1}^{m}\sum_{c} Y_{jc} \log P_{jc}, \qquad
        \frac{\partial C}{\partial W} = X^\top G, \qquad
        \frac{\partial C}{\partial b} = \mathbf 1^\top G, \qquad G = \frac{P - Y}{m}.

    ``log P`` is computed as a stable log-softmax (the row max subtracted first), so the loss
    is finite at logits of ±1000 in float32 and float64. Parameters ``{"W": (n, C), "b": (C,)}``,
    initialised at zeros.

    Args:
      classes: the number of classes C; default ``max(y) + 1``.

    Example::

        >>> import numpy as np, gdcheck
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(90, 4)); y = np.arange(90) % 3
        >>> model = gdcheck.models.softmax_regression()
        >>> X, Y = model.prepare(X, y)             # Y: one-hot, shape (90, 3)
        >>> p = model.init(X, Y)                   # {"W": zeros (4, 3), "b": zeros (3,)}
        >>> round(float(model.loss(p, X, Y)), 6)   # log 3 at W = 0
        1.098612
        >>> gdcheck.check_gradient(model.loss, model.grad, p, X, Y).passed
        True
    """
    classes = check_classes(classes, "softmax_regression")

    def prepare(X: Any, y: Any) -> tuple[NDArray, NDArray]:
        """Validate ``X`` (m, n) and labels ``y`` (m,); return ``X`` and one-hot ``Y`` (m, C)."""
        return prepare_labels(X, y, classes, "softmax_regression")

    def init(X: NDArray, Y: NDArray) -> dict[str, NDArray]:
        """``{"W": zeros (n, C), "b": zeros (C,)}`` in the dtype of ``X``."""
        n, C = X.shape[1], Y.shape[1]
        return {"W": np.zeros((n, C), dtype=X.dtype), "b": np.zeros(C, dtype=X.dtype)}

    def loss(params: dict[str, Array], X: Array, Y: Array) -> Array:
        r"""Mean cross-entropy :math:`-\frac1m\sum Y \odot \log\operatorname{softmax}(XW + b)`."""
        xp = namespace(params)
        Z = X @ params["W"] + params["b"]
        return -xp.sum(Y * log_softmax(xp, Z)) / X.shape[0]

    def grad(params: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict[str, NDArray]:
        r"""The handwritten :math:`\nabla_W = X^\top G`, :math:`\nabla_b = \mathbf 1^\top G`, :math:`G = (P - Y)/m`."""
        G = (softmax_probs(X @ params["W"] + params["b"]) - Y) / X.shape[0]
        return {"W": X.T @ G, "b": G.sum(axis=0)}

    return Model(
        name="softmax_regression",
        loss=loss,
        grad=grad,
        init=init,
        prepare=prepare,
        description="softmax regression, mean cross-entropy, rows layout, one-hot targets",
        info={
            "layout": "rows",
            "target": "labels",
            "X": "(m, n)",
            "y": "(m,) integer labels; prepare returns one-hot Y (m, C)",
            "params": "W (n, C), b (C,)",
            "classes": classes,
        },
    )
