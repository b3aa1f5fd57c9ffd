r"""Binary logistic regression, rows layout: ``X`` (m, n) one row per example, ``y`` (m,) in {0, 1}.

Also home of :func:`check_rows_data`, the rows-layout checks the softmax and MLP models reuse.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._types import Array, NDArray
from .._words import counted
from ..array_api import namespace
from ..errors import InputError
from ._data import floating, in_dtype
from ._model import Model

__all__ = ["check_rows_data", "logistic_regression"]


def _float_dtype(value: Any) -> type[np.floating]:
    """float32 stays float32 (NumPy, JAX or torch); everything else becomes float64."""
    return np.float32 if str(getattr(value, "dtype", "")).endswith("float32") else np.float64


def check_rows_data(X: Any, y: Any, model: str) -> tuple[NDArray, NDArray]:
    """Validate ``X`` (m, n), one row per example, and ``y`` (m,): returns them as float arrays.

    ``X`` keeps float32 if it is float32, else becomes float64; ``y`` is float64 (its values are
    checked by the caller). A ``y`` of shape (m, 1) or (1, m) is refused: ``Xw + b − y`` would
    silently broadcast (m,) against it to (m, m).

    An X in memory, C-contiguous, aligned and of its dtype is used as it is; any other (a file
    map's columns, a strided view, integers) is read once, block by block, into one aligned
    buffer, as is a ``y`` that is not in memory (a file's last column), a map's pages handed
    back as they are copied (:mod:`._data`).
    """
    X = floating(X)
    dtype = _float_dtype(X)
    y = floating(y, "y")
    if X.ndim != 2:
        raise InputError(
            f"{model}: X has shape {X.shape}; expected a 2-D (m, n) array, one row per example. "
            + (
                f"For a single feature pass X.reshape(-1, 1), shape ({X.shape[0]}, 1)."
                if X.ndim == 1
                else ""
            )
        )
    if y.ndim == 2 and 1 in y.shape:
        raise InputError(
            f"{model}: y has shape {y.shape}; expected ({max(y.shape)},): one target per example. "
            f"A 2-D y silently broadcasts against the (m,) predictions to an (m, m) matrix; pass "
            "y.reshape(-1)."
        )
    if y.ndim != 1:
        raise InputError(f"{model}: y has shape {y.shape}; expected a 1-D (m,) array of targets.")
    m = y.shape[0]
    if X.shape[0] != m:
        if X.shape[1] == m:
            raise InputError(
                f"{model}: X has shape {X.shape} but y has {counted(m, 'example')}; this model takes one row "
                f"per example (m, n), and X looks like features × examples: pass X.T."
            )
        raise InputError(
            f"{model}: X has {X.shape[0]} rows (shape {X.shape}) but y has {counted(m, 'example')} "
            f"(shape {y.shape}); they must have the same number of examples m."
        )
    if m == 0:
        raise InputError(f"{model}: X and y have no examples (m = 0); pass at least one row.")
    return in_dtype(X, dtype, "X", _example_feature), in_dtype(y, np.float64, "y")


def _example_feature(index: tuple) -> str:
    return f"{index} (example {index[0]}, feature {index[1]})"


def _softplus(xp: Any, z: Array) -> Array:
    r""":math:`\log(1 + e^z)` as ``logaddexp(0, z)``: finite for every finite ``z``."""
    return xp.logaddexp(xp.zeros_like(z), z)


def logistic_regression() -> Model:
    r"""Binary logistic regression by gradient descent, with a separate bias.

    With :math:`z = Xw + b` and :math:`\log\sigma(z) = -\operatorname{softplus}(-z)`,
    :math:`\log(1-\sigma(z)) = -\operatorname{softplus}(z)`:

    .. math::

        C(w, b) = \frac{1}{m}\sum_{j=1}^{m}
            y_j \operatorname{softplus}(-z_j) + (1 - y_j)\operatorname{softplus}(z_j),

    .. math::

        \frac{\partial C}{\partial w} = \frac{1}{m} X^\top(\sigma(z) - y), \qquad
        \frac{\partial C}{\partial b} = \frac{1}{m}\sum_{j}(\sigma(z_j) - y_j).

    ``softplus(z) = logaddexp(0, z)`` never overflows (the naive :math:`\log(1 + e^z)` is
    ``inf`` at z = 1000 in float64 and at z = 89 in float32), and the two-branch form avoids
    the cancellation of :math:`\operatorname{softplus}(z) - yz` at large ``|z|``.
    Parameters ``{"w": (n,), "b": ()}``, initialised at zeros.

    Example::

        >>> import numpy as np, gdcheck
        >>> rng = np.random.default_rng(0)
        >>> X = rng.normal(size=(100, 3)); y = (X[:, 0] > 0).astype(float)
        >>> model = gdcheck.models.logistic_regression()
        >>> X, y = model.prepare(X, y)
        >>> p = model.init(X, y)                   # {"w": zeros(3), "b": 0.0}
        >>> round(float(model.loss(p, X, y)), 6)   # log 2 at w = 0
        0.693147
        >>> gdcheck.check_gradient(model.loss, model.grad, p, X, y).passed
        True
    """

    def prepare(X: Any, y: Any) -> tuple[NDArray, NDArray]:
        """Validate ``X`` (m, n) and ``y`` (m,) with values 0/1; ``y`` comes back in X's dtype."""
        X, y = check_rows_data(X, y, "logistic_regression")
        bad = (y != 0) & (y != 1)
        if bad.any():
            i = int(np.argmax(bad))
            raise InputError(
                f"logistic_regression: y must be 0 or 1, but {int(bad.sum())} value(s) are not, "
                f"the first y[{i}] = {y[i]:g}; encode the two classes as 0/1 (e.g. (y == "
                "positive).astype(float)), or use softmax_regression() for several classes."
            )
        return X, y.astype(X.dtype)

    def init(X: NDArray, y: NDArray) -> dict[str, NDArray]:
        """``{"w": zeros (n,), "b": 0}`` in the dtype of ``X``."""
        return {"w": np.zeros(X.shape[1], dtype=X.dtype), "b": np.zeros((), dtype=X.dtype)}

    def loss(params: dict[str, Array], X: Array, y: Array) -> Array:
        r"""Mean log-loss :math:`\frac1m\sum y\,\mathrm{sp}(-z) + (1-y)\,\mathrm{sp}(z)`, stable."""
        xp = namespace(params)
        z = X @ params["w"] + params["b"]
        return xp.mean(y * _softplus(xp, -z) + (1 - y) * _softplus(xp, z))

    def grad(params: dict[str, NDArray], X: NDArray, y: NDArray) -> dict[str, NDArray]:
        r"""The handwritten :math:`\nabla_w = X^\top(\sigma(z)-y)/m`, :math:`\nabla_b = \overline{\sigma(z)-y}`."""
        m = X.shape[0]
        z = X @ params["w"] + params["b"]
        s = np.exp(-np.logaddexp(0, -z))  # σ(z) = exp(−softplus(−z)): no overflow
        return {"w": X.T @ (s - y) / m, "b": np.sum(s - y) / m}

    return Model(
        name="logistic_regression",
        loss=loss,
        grad=grad,
        init=init,
        prepare=prepare,
        description="binary logistic regression, mean log-loss, rows layout, separate bias",
        info={
            "layout": "rows",
            "target": "binary",
            "X": "(m, n)",
            "y": "(m,) in {0, 1}",
            "params": "w (n,), b ()",
        },
    )
