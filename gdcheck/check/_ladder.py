r"""The loss along one line, :math:`L(p)` and :math:`L(p \pm h_k v)`, :math:`h_k = h_0/2^k`.

What the Taylor test (:mod:`._taylor`) reads needs no gradient, so :func:`gdcheck.check_gradient`
evaluates it beside your gradient, and reads central differences along ``v`` from it (the
large-data witness, :func:`~._witnesses.ladder_differences`). The values come in a few
``torch.func.vmap`` calls where torch can run the loss on large data, else (and for the
witness's four values) one by one in NumPy (:mod:`._batched`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..backends._common import read_only
from ..errors import InputError
from ..params import ParamLayout, parse_params
from ..validation import cast_data
from ._batched import NotBatchable, batched_loss, row_by_row


@dataclass
class Ladder:
    """The loss at ``p`` and along ``p ± h_k v``: everything of the test that needs no gradient.

    Built before the gradient under test is known (:func:`ladder`), so that
    :func:`gdcheck.check_gradient` can evaluate it beside your gradient, and read central
    differences along ``v`` from it (:func:`~._witnesses.ladder_differences`).
    """

    layout: ParamLayout
    p: NDArray
    v: NDArray
    hs: NDArray
    """``h0 / 2^k``, k = 0 … halvings."""
    values: NDArray
    """``L(p)`` (NaN when not evaluated), then ``L(p + h_k v)`` for each k, then
    ``L(p − h_k v)``."""
    epss: NDArray
    """The machine epsilon of the dtype each value came back in."""
    evaluate: Callable[[NDArray], tuple[NDArray, NDArray]]
    """Evaluates more rows (the extra halvings)."""

    @property
    def f0(self) -> float:
        return float(self.values[0])

    @property
    def plus(self) -> NDArray:
        return self.values[1 : 1 + len(self.hs)]

    @property
    def minus(self) -> NDArray:
        return self.values[1 + len(self.hs) :]


def ladder(
    loss: Callable[..., Any],
    params: Any,
    *data: Any,
    direction: Any = None,
    h0: float | None = None,
    halvings: int = 12,
    seed: int = 0,
    batched: bool = True,
    center: bool = True,
) -> Ladder:
    """The loss at ``params`` and at ``params ± h0/2^k · v``, k = 0 … ``halvings`` (≥ 1; see
    :func:`taylor_test`, which reads at least 3 steps). ``batched=False``: NumPy row by row
    whatever the data's size (for a few rows it is faster than one batched call).
    ``center=False``: ``L(params)`` is not evaluated (``f0`` is NaN): central differences
    along the line do not need it, and on large data it is one pass over the data of five."""
    if not isinstance(halvings, int) or halvings < 1:
        raise InputError(f"halvings={halvings!r}; use an integer >= 1.")
    layout, tree = parse_params(params, "float64")
    p = layout.flatten(tree)
    if direction is None:
        v = np.random.default_rng(seed).standard_normal(p.size)
        v /= np.abs(v).max()
    else:
        v, _ = flat_value(direction, layout, "direction")
        if not np.isfinite(v).all() or not np.any(v):
            raise InputError("direction must be finite and not all zero.")
    if h0 is None:
        h0 = 0.01 * max(1.0, float(np.abs(p).max()))
    if not (isinstance(h0, (int, float)) and math.isfinite(h0) and h0 > 0):
        raise InputError(f"h0={h0!r}; use a finite step > 0.")
    data64 = tuple(cast_data(d, "float64") for d in data)
    evaluate = LossEvaluator(loss, layout, data64, batched)
    hs = h0 / 2.0 ** np.arange(halvings + 1)
    sides = [line(p, v, hs), line(p, v, -hs)]
    values, epss = evaluate(np.vstack([p[None], *sides] if center else sides))
    if not center:  # the same layout, L(p) left NaN (its epsilon: the line's)
        values, epss = np.concatenate([[np.nan], values]), np.concatenate([epss[:1], epss])
    return Ladder(layout, p, v, hs, values, epss, evaluate)


# ----------------------------------------------------------------------------- internals


def flat_value(value: Any, layout: ParamLayout, what: str) -> tuple[NDArray, float]:
    """``value`` in the params' structure as one float64 vector, and its dtype's epsilon."""
    if layout.is_dict:
        if not isinstance(value, Mapping) or set(value) != set(layout.names):
            raise InputError(
                f"{what} must be a dict with the params' keys {list(layout.names)}; got "
                + (f"keys {list(value)}" if isinstance(value, Mapping) else type(value).__name__)
                + "."
            )
        leaves = {n: value[n] for n in layout.names}
    else:
        leaves = {layout.names[0]: value}
    eps = float(np.finfo(np.float64).eps)
    out = {}
    for (name, leaf), shape in zip(leaves.items(), layout.shapes, strict=True):
        if hasattr(leaf, "detach"):
            leaf = leaf.detach().cpu().numpy()
        arr = np.asarray(leaf)
        if arr.dtype == object or not np.issubdtype(arr.dtype, np.number):
            raise InputError(f"{what} for {name} is not numeric (dtype {arr.dtype}).")
        if arr.size != int(np.prod(shape, dtype=np.int64)) or (
            arr.shape != shape and arr.squeeze().shape != tuple(s for s in shape if s != 1)
        ):
            raise InputError(
                f"{what} for {name} has shape {arr.shape}; expected {shape}, the params' shape."
            )
        if np.issubdtype(arr.dtype, np.floating):
            eps = max(eps, float(np.finfo(arr.dtype).eps))
        out[name] = arr.astype(np.float64).reshape(shape)
    return layout.flatten(out), eps


def line(p: NDArray, v: NDArray, hs: NDArray) -> NDArray:
    """The points ``p + h v``, one row per ``h``."""
    return p[None, :] + hs[:, None] * v[None, :]


class LossEvaluator:
    """Loss values at rows of flat parameters: batched through torch, else NumPy row by row.

    The first batch decides: a loss that torch or ``vmap`` cannot run falls back to NumPy for
    the whole test, so every value of one test comes from one evaluator (their rounding then
    differs only by ε|L|, which ρ(h) allows for).
    """

    def __init__(
        self, loss: Callable[..., Any], layout: ParamLayout, data: tuple, batched: bool = True
    ) -> None:
        self.batched = batched_loss(loss, layout, data) if batched else None
        self.numpy = row_by_row(_numpy_loss(loss, layout, data))

    def __call__(self, rows: NDArray) -> tuple[NDArray, NDArray]:
        if self.batched is not None:
            try:
                return self.batched(rows)
            except NotBatchable:
                self.batched = None
        return self.numpy(rows)


def _numpy_loss(
    loss: Callable[..., Any], layout: ParamLayout, data: tuple
) -> Callable[[NDArray], tuple[float, float]]:
    """The loss of the flat parameters: its value and its dtype's epsilon (on read-only views
    of the data: a loss that writes into its data must not change the user's arrays, nor the
    ones autodiff reads on the background thread)."""
    data = read_only(data)

    def f(flat: NDArray) -> tuple[float, float]:
        try:
            with np.errstate(all="ignore"):
                value = np.asarray(loss(layout.to_user(layout.unflatten(flat.copy())), *data))
        except Exception as exc:
            raise InputError(
                f"the loss failed under NumPy during the Taylor test ({type(exc).__name__}: "
                f"{exc}); write it with xp = gdcheck.namespace(params) so it runs on NumPy arrays."
            ) from exc
        if value.size != 1 or not np.issubdtype(value.dtype, np.number):
            raise InputError(
                f"the loss returned shape {value.shape} ({value.dtype}), not a scalar."
            )
        eps = float(np.finfo(value.dtype).eps) if np.issubdtype(value.dtype, np.floating) else 0.0
        return float(value.reshape(())), max(eps, float(np.finfo(np.float64).eps))

    return f
