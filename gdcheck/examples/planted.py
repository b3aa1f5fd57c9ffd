r"""Realistic mistakes planted in the series' handwritten gradients, for testing the engine.

Each row of :data:`PLANTED` is ``(model_call, mistake, grad, shows_in)``:

* ``model_call`` — the factory call as a string, e.g. ``"ridge(alpha=0.5)"``; :func:`build`
  turns it into the :class:`gdcheck.Model` whose ``loss`` is the truth;
* ``mistake`` — a unique name;
* ``grad`` — the wrong handwritten gradient, ``grad(params, *prepared_data)``;
* ``shows_in`` — the parameter names whose gradient it makes wrong (``"params"`` for the
  single array of ridge, as :func:`gdcheck.check_gradient` names it).

:func:`example_data` makes seeded data for each model and :func:`planted_point` a point where
the mistake shows. Mistakes in :data:`RIGHT_AT_INIT` give the right gradient at ``init``
(a term that vanishes at zero parameters) and are wrong only once training moves them:
a check at step 0 alone cannot see them.

Example::

    >>> import gdcheck
    >>> from gdcheck.examples.planted import PLANTED, build, example_data, planted_point
    >>> call, mistake, grad, shows_in = PLANTED[0]
    >>> model = build(call)
    >>> data = model.prepare(*example_data(call, seed=0))
    >>> p = planted_point(call, mistake, data, seed=0)
    >>> gdcheck.check_gradient(model.loss, grad, p, *data).passed
    False
"""

from __future__ import annotations

import ast
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import models
from .._types import NDArray
from ..models import Model
from ..models._softmax import softmax_probs

__all__ = [
    "AT_LARGE_LOGITS",
    "ENTRIES",
    "PLANTED",
    "RIGHT_AT_INIT",
    "build",
    "example_data",
    "planted_point",
]

ALPHA = 0.5
"""Ridge's penalty in the planted rows (large enough that its term is not a rounding detail)."""
L2 = 1e-2
"""The MLP's weight decay in the planted rows."""
HIDDEN = 8
OVERFLOW_SCALE = 500.0
"""Parameter scale at which logits reach ~1000, past ``exp``'s overflow (709 in float64)."""

RIDGE = f"ridge(alpha={ALPHA})"
LOGISTIC = "logistic_regression()"
SOFTMAX = "softmax_regression()"
MLP = f"mlp(hidden={HIDDEN}, l2={L2})"


def _penalty_mask(w: NDArray) -> NDArray:
    mask = np.ones_like(w)
    mask[0] = 0.0
    return mask


def _lsq(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    return (2 / X.shape[1]) * (X @ (w.T @ X - y).T)


# -- ridge: C = (1/m)Σ(wᵀx − y)² + α Σ_{k≥1} w_k² ----------------------------------------------
def ridge_penalty_missing_2(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    """``α D w`` for the penalty: the derivative of ``α w²`` is ``2α w``."""
    return _lsq(w, X, y) + ALPHA * _penalty_mask(w) * w


def ridge_intercept_penalised(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    """``2α w`` on every row, the intercept ``w[0]`` too, while the cost leaves it free.

    Right at init (``w = 0``), like every penalty mistake: the penalty term vanishes there.
    """
    return _lsq(w, X, y) + 2 * ALPHA * w


def ridge_penalty_wrong_sign(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    """``− 2α D w``: right at ``w = 0`` (the term vanishes), wrong at every step after."""
    return _lsq(w, X, y) - 2 * ALPHA * _penalty_mask(w) * w


# -- logistic: z = Xw + b ---------------------------------------------------------------------
def logistic_bias_without_mean(p: dict[str, NDArray], X: NDArray, y: NDArray) -> dict:
    """``Σ(σ(z) − y)`` for the bias: a sum where the cost takes a mean (m times too large)."""
    z = X @ p["w"] + p["b"]
    s = np.exp(-np.logaddexp(0, -z))
    return {"w": X.T @ (s - y) / X.shape[0], "b": np.sum(s - y)}


# -- softmax: Z = XW + b, G = (P − Y)/m --------------------------------------------------------
def softmax_bias_without_mean(p: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict:
    """``1ᵀ(P − Y)`` for the bias, without the ``1/m`` that ``W``'s gradient has."""
    P = softmax_probs(X @ p["W"] + p["b"])
    return {"W": X.T @ (P - Y) / X.shape[0], "b": (P - Y).sum(axis=0)}


def softmax_without_max_subtraction(p: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict:
    """``P = exp(Z) / Σ exp(Z)`` without subtracting the row max.

    Right wherever the logits are moderate; at a logit above 709 (float64) or 88 (float32)
    ``exp`` overflows to inf and ``inf/inf`` is NaN, in ``W`` and ``b`` alike.
    """
    E = np.exp(X @ p["W"] + p["b"])
    G = (E / E.sum(axis=1, keepdims=True) - Y) / X.shape[0]
    return {"W": X.T @ G, "b": G.sum(axis=0)}


# -- mlp: Z1 = XW1 + b1, A1 = max(Z1, 0), Z2 = A1W2 + b2 ---------------------------------------
def _mlp_backward(
    p: dict[str, NDArray], X: NDArray, Y: NDArray, mask: str = "Z1"
) -> tuple[dict[str, NDArray], NDArray, NDArray]:
    """The right backward pass (the mask from ``Z1``, or from ``XW1`` with ``mask="XW1"``)."""
    XW1 = X @ p["W1"]
    Z1 = XW1 + p["b1"]
    A1 = np.maximum(Z1, 0)
    G2 = (softmax_probs(A1 @ p["W2"] + p["b2"]) - Y) / X.shape[0]
    G1 = (G2 @ p["W2"].T) * ((Z1 if mask == "Z1" else XW1) > 0)
    grads = {
        "W1": X.T @ G1 + L2 * p["W1"],
        "b1": G1.sum(axis=0),
        "W2": A1.T @ G2 + L2 * p["W2"],
        "b2": G2.sum(axis=0),
    }
    return grads, G2, G1


def mlp_output_bias_without_mean(p: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict:
    """``b2``'s gradient ``1ᵀ(P − Y)``, the ``1/m`` forgotten (m times too large)."""
    grads, G2, _ = _mlp_backward(p, X, Y)
    return {**grads, "b2": G2.sum(axis=0) * X.shape[0]}


def mlp_l2_on_hidden_bias(p: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict:
    """Weight decay ``λ b1`` added to the hidden bias, which the cost does not penalise.

    Right at init (``b1 = 0``), wrong once ``b1`` moves.
    """
    grads, _, _ = _mlp_backward(p, X, Y)
    return {**grads, "b1": grads["b1"] + L2 * p["b1"]}


def mlp_missing_l2_in_W1(p: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict:
    """``W1``'s gradient without its ``λ W1`` (the decay written for ``W2`` only)."""
    grads, _, _ = _mlp_backward(p, X, Y)
    return {**grads, "W1": grads["W1"] - L2 * p["W1"]}


def mlp_relu_mask_before_bias(p: dict[str, NDArray], X: NDArray, Y: NDArray) -> dict:
    """The ReLU mask taken from the cached product ``X W1 > 0`` instead of ``Z1 = X W1 + b1 > 0``.

    Realistic: code that caches ``X @ W1`` and builds the mask from the cache. Right at init
    (``b1 = 0`` makes the two equal), wrong once ``b1`` moves: on every unit whose bias flips
    the sign of a pre-activation, in ``W1`` and ``b1``. (``Z1 >= 0`` instead of ``Z1 > 0`` is
    *not* a mistake: both are subgradients, differing only at exact ties.)
    """
    grads, _, _ = _mlp_backward(p, X, Y, mask="XW1")
    return grads


GradFn = Callable[..., Any]

PLANTED: list[tuple[str, str, GradFn, tuple[str, ...]]] = [
    (RIDGE, "ridge_penalty_missing_2", ridge_penalty_missing_2, ("params",)),
    (RIDGE, "ridge_intercept_penalised", ridge_intercept_penalised, ("params",)),
    (RIDGE, "ridge_penalty_wrong_sign", ridge_penalty_wrong_sign, ("params",)),
    (LOGISTIC, "logistic_bias_without_mean", logistic_bias_without_mean, ("b",)),
    (SOFTMAX, "softmax_bias_without_mean", softmax_bias_without_mean, ("b",)),
    (SOFTMAX, "softmax_without_max_subtraction", softmax_without_max_subtraction, ("W", "b")),
    (MLP, "mlp_output_bias_without_mean", mlp_output_bias_without_mean, ("b2",)),
    (MLP, "mlp_l2_on_hidden_bias", mlp_l2_on_hidden_bias, ("b1",)),
    (MLP, "mlp_missing_l2_in_W1", mlp_missing_l2_in_W1, ("W1",)),
    (MLP, "mlp_relu_mask_before_bias", mlp_relu_mask_before_bias, ("W1", "b1")),
]

RIGHT_AT_INIT = frozenset(
    {
        "ridge_penalty_missing_2",
        "ridge_intercept_penalised",
        "ridge_penalty_wrong_sign",
        "softmax_without_max_subtraction",
        "mlp_l2_on_hidden_bias",
        "mlp_relu_mask_before_bias",
    }
)
"""Mistakes whose gradient equals the right one at the model's ``init`` (w = 0, b = 0)."""

AT_LARGE_LOGITS = frozenset({"softmax_without_max_subtraction"})
"""Mistakes that show only at large logits: :func:`planted_point` scales the point up."""

ENTRIES = {
    "ridge_penalty_missing_2": "weights",
    "ridge_intercept_penalised": "intercept",
    "ridge_penalty_wrong_sign": "weights",
}
"""Where in ridge's ``w`` a mistake shows: ``"intercept"`` is ``w[0]`` only, ``"weights"`` every
``w[k]``, k ≥ 1, and not ``w[0]``."""


def build(call: str) -> Model:
    """The model of a ``model_call`` such as ``"ridge(alpha=0.5)"`` (literal keywords only)."""
    node = ast.parse(call, mode="eval").body
    if not isinstance(node, ast.Call) or not isinstance(node.func, ast.Name) or node.args:
        raise ValueError(f"gdcheck: {call!r} is not a call like 'ridge(alpha=0.5)'.")
    factory = getattr(models, node.func.id)
    return factory(**{kw.arg: ast.literal_eval(kw.value) for kw in node.keywords})


def example_data(call: str, seed: int = 0, m: int = 64) -> tuple[NDArray, NDArray]:
    """Seeded raw data in the model's own layout (before ``prepare``), with learnable signal.

    ridge: ``X`` (3, m), ``y`` (1, m); logistic: ``X`` (m, 4), ``y`` in {0, 1};
    softmax and mlp: ``X`` (m, 4), labels in {0, 1, 2}, each class present.
    """
    rng = np.random.default_rng(seed)
    name = call.split("(")[0]
    if name in ("ridge", "linear_regression"):
        X = rng.uniform(0, 1, size=(3, m))
        y = np.array([[1.0, -2.0, 0.5]]) @ X + 5 + 0.1 * rng.standard_normal((1, m))
        return X, y
    X = rng.standard_normal((m, 4))
    if name == "logistic_regression":
        return X, (X @ np.array([1.0, -1.0, 0.5, 0.0]) + 0.5 * rng.standard_normal(m) > 0) * 1.0
    labels = np.argmax(X[:, :3] + 0.5 * rng.standard_normal((m, 3)), axis=1)
    labels[:3] = [0, 1, 2]
    return X, labels


def planted_point(call: str, mistake: str, data: tuple, seed: int = 0) -> Any:
    """A generic point for ``mistake``: ``init + N(0, 1)`` per entry (× :data:`OVERFLOW_SCALE`
    for the mistakes in :data:`AT_LARGE_LOGITS`), in the dtype of the data."""
    rng = np.random.default_rng(seed)
    params = build(call).init(*data)
    scale = OVERFLOW_SCALE if mistake in AT_LARGE_LOGITS else 1.0

    def move(v: NDArray) -> NDArray:
        return (v + scale * rng.standard_normal(np.shape(v))).astype(v.dtype)

    if isinstance(params, dict):
        return {k: move(v) for k, v in params.items()}
    return move(params)
