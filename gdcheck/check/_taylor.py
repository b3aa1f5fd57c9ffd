r"""The Taylor test: a second opinion on a gradient that needs no tolerance.

For a loss ``L`` that is twice differentiable at ``p``, a direction ``v`` and a candidate
gradient ``g``, the first-order remainder

.. math:: R(h) = \bigl|L(p + hv) - L(p) - h\,\langle g, v\rangle\bigr|
          = h\,|\langle \nabla L(p) - g, v\rangle| + \tfrac{h^2}{2}\,v^\top \nabla^2 L(p)\,v + O(h^3)

shrinks like ``h²`` when ``g`` is right and like ``h`` when it is wrong: halving ``h`` divides
it by 4 or by 2. The observed order :math:`\log_2 R(h)/R(h/2)` is read over the *usable
range*, the steps where ``R`` stays well above what rounding contributes,

.. math:: \rho(h) = 16\,\epsilon_L\,\max(|L(p)|, |L(p+hv)|) + 4\,h\,\epsilon_g \sum_i |g_i v_i|,

(``ε_L`` the loss's dtype, ``ε_g`` the gradient's: a float32 gradient is right only to its
rounding, which is first order in ``h``), and where the step does not cross a kink. Kinks
are found from the symmetric difference :math:`S(h) = L(p+hv) + L(p-hv) - 2L(p)`, which does
not involve ``g``: it is ``O(h²)`` where ``L`` is smooth and ``O(h)`` across a kink (the
one-sided slopes differ, as in Chainer's ``detect_nondifferentiable``). A kink at ``p``
itself leaves no usable range: there the remainder is first order whatever ``g`` is.

Example::

    t = gdcheck.check.taylor_test(loss, grad(w, X, y), w, X, y)
    t.order   # ≈ 2.0 for a right gradient, ≈ 1.0 for a wrong one
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..errors import InputError
from ..params import ParamLayout, parse_params
from ..validation import cast_data
from ._batched import NotBatchable, batched_loss, row_by_row

ROUNDING_MARGIN = 10.0
"""A remainder is usable where it exceeds this many times its rounding level ρ(h)."""
TAIL = 4
"""The order is the slope of log R against log h over the last (smallest) usable steps."""
MAX_EXTRA_HALVINGS = 24
"""More halvings, while the order is still moving from 2 towards 1 (a small mistake)."""
AHEAD = 4
"""Extra halvings evaluated ahead in one batch (8 points: one vmap chunk)."""


@dataclass(frozen=True)
class TaylorTest:
    """The remainders of the first-order Taylor expansion along one direction, and their order."""

    hs: NDArray
    """Step sizes ``h`` (decreasing, halving)."""
    remainders: NDArray
    """``|L(p + h v) − L(p) − h ⟨g, v⟩|`` for each ``h``."""
    order: float | None
    """Observed convergence order over the usable range (≈ 2 right, ≈ 1 wrong); None: none."""
    usable: tuple[int, int] | None
    """``(first, last)`` indices of ``hs`` (inclusive) where the remainder stays above rounding
    and the step crosses no kink; None when fewer than three steps qualify."""
    note: str
    """What the order means, or why there is no usable range."""

    @property
    def looks_right(self) -> bool | None:
        """True for order ≥ 1.8, False for order ≤ 1.2, None when it cannot tell."""
        if self.order is None:
            return None
        if self.order >= 1.8:
            return True
        if self.order <= 1.2:
            return False
        return None

    def __str__(self) -> str:
        order = "no order" if self.order is None else f"order {self.order:.2f}"
        return f"Taylor test: {order} — {self.note}"


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
    """``L(p)``, then ``L(p + h_k v)`` for each k, then ``L(p − h_k v)``."""
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


def taylor_test(
    loss: Callable[..., Any],
    grad_value: Any,
    params: Any,
    *data: Any,
    direction: Any = None,
    h0: float | None = None,
    halvings: int = 12,
    seed: int = 0,
) -> TaylorTest:
    """Taylor-test ``grad_value`` (a gradient at ``params``, in the params' structure).

    Args:
      loss: ``loss(params, *data)``, evaluated in float64: all the points of the ladder in
        a few ``torch.func.vmap`` calls where torch can run the loss, else one by one in NumPy
        (:mod:`._batched`).
      grad_value: the gradient to test at ``params`` (an array, or a dict like ``params``).
      params: an array or a dict of arrays.
      *data: passed to the loss; floating arrays are cast to float64.
      direction: ``v`` in the params' structure; default a random one with ``‖v‖∞ = 1``.
      h0: the largest step; default ``0.01·max(1, ‖p‖∞)``.
      halvings: how many times ``h0`` is halved (more, up to 24, while the order is unsettled).
      seed: for the random direction.
    """
    if not isinstance(halvings, int) or halvings < 2:
        raise InputError(f"halvings={halvings!r}; use an integer >= 2 (12 by default).")
    layout, _ = parse_params(params, "float64")
    g, eps_g = gradient_of(grad_value, layout)
    steps = ladder(loss, params, *data, direction=direction, h0=h0, halvings=halvings, seed=seed)
    return read_ladder(steps, g, eps_g)


def gradient_of(grad_value: Any, layout: ParamLayout) -> tuple[NDArray, float]:
    """The gradient under test as one finite float64 vector, and its dtype's epsilon."""
    g, eps_g = _flat(grad_value, layout, "grad_value")
    if not np.isfinite(g).all():
        raise InputError(
            f"grad_value is NaN or Inf at {layout.label(int(np.flatnonzero(~np.isfinite(g))[0]))}"
            "; the Taylor test needs a finite gradient."
        )
    return g, eps_g


def ladder(
    loss: Callable[..., Any],
    params: Any,
    *data: Any,
    direction: Any = None,
    h0: float | None = None,
    halvings: int = 12,
    seed: int = 0,
    batched: bool = True,
) -> Ladder:
    """The loss at ``params`` and at ``params ± h0/2^k · v``, k = 0 … ``halvings`` (≥ 1; see
    :func:`taylor_test`, which reads at least 3 steps). ``batched=False``: NumPy row by row
    whatever the data's size (for a few rows it is faster than one batched call)."""
    if not isinstance(halvings, int) or halvings < 1:
        raise InputError(f"halvings={halvings!r}; use an integer >= 1.")
    layout, tree = parse_params(params, "float64")
    p = layout.flatten(tree)
    if direction is None:
        v = np.random.default_rng(seed).standard_normal(p.size)
        v /= np.abs(v).max()
    else:
        v, _ = _flat(direction, layout, "direction")
        if not np.isfinite(v).all() or not np.any(v):
            raise InputError("direction must be finite and not all zero.")
    if h0 is None:
        h0 = 0.01 * max(1.0, float(np.abs(p).max()))
    if not (isinstance(h0, (int, float)) and math.isfinite(h0) and h0 > 0):
        raise InputError(f"h0={h0!r}; use a finite step > 0.")
    data64 = tuple(cast_data(d, "float64") for d in data)
    evaluate = _Evaluator(loss, layout, data64, batched)
    hs = h0 / 2.0 ** np.arange(halvings + 1)
    values, epss = evaluate(np.vstack([p[None], _line(p, v, hs), _line(p, v, -hs)]))
    return Ladder(layout, p, v, hs, values, epss, evaluate)


def read_ladder(steps: Ladder, g: NDArray, eps_g: float) -> TaylorTest:
    """The Taylor test of the flat gradient ``g`` (dtype epsilon ``eps_g``) on ``steps``."""
    p, v, evaluate = steps.p, steps.v, steps.evaluate
    f0, eps_l = steps.f0, float(steps.epss[0])
    if not math.isfinite(f0):
        raise InputError(f"the loss is {f0} at params; the Taylor test needs a finite loss there.")
    slope = float(g @ v)
    grad_noise = 4.0 * eps_g * float(np.abs(g * v).sum())
    values, epss = steps.values, steps.epss

    hs: list[float] = []
    rem: list[float] = []
    sym: list[float] = []
    rho: list[float] = []
    rho_sym: list[float] = []
    ends: list[tuple[float, float]] = []

    def step(h: float, fp: float, ep: float, fm: float, em: float) -> None:
        eps = max(eps_l, ep, em)
        big = max(abs(f0), abs(fp), abs(fm))
        hs.append(h)
        rem.append(abs(fp - f0 - h * slope))
        sym.append(abs(fp + fm - 2 * f0))
        rho.append(16 * eps * max(abs(f0), abs(fp)) + h * grad_noise)
        rho_sym.append(32 * eps * big)
        ends.append((fp, fm))

    k = len(steps.hs)
    for i, h in enumerate(steps.hs):
        step(float(h), values[1 + i], epss[1 + i], values[1 + k + i], epss[1 + k + i])
    ahead: list[tuple[float, float, float, float, float]] = []
    for _ in range(MAX_EXTRA_HALVINGS):  # a small mistake: R turns from h² to h late
        usable = _usable(rem, rho, sym, rho_sym)
        if usable is None or usable[1] != len(hs) - 1 or usable[1] - usable[0] < 2:
            break
        last = math.log2(rem[-2] / rem[-1])
        if not 1.15 < last < 1.85:
            break
        if not ahead:  # the next few halvings in one batch; those not needed are dropped
            more = hs[-1] / 2.0 ** np.arange(1, AHEAD + 1)
            vals, es = evaluate(np.vstack([_line(p, v, more), _line(p, v, -more)]))
            ahead = [
                (float(h), vals[i], es[i], vals[AHEAD + i], es[AHEAD + i])
                for i, h in enumerate(more)
            ]
        step(*ahead.pop(0))
    return _verdict(
        np.array(hs),
        np.array(rem),
        np.array(sym),
        np.array(rho),
        np.array(rho_sym),
        ends,
        f0,
        slope,
        eps_g,
    )


# ----------------------------------------------------------------------------- internals


def _flat(value: Any, layout: ParamLayout, what: str) -> tuple[NDArray, float]:
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


def _line(p: NDArray, v: NDArray, hs: NDArray) -> NDArray:
    """The points ``p + h v``, one row per ``h``."""
    return p[None, :] + hs[:, None] * v[None, :]


class _Evaluator:
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
    """The loss of the flat parameters: its value and its dtype's epsilon."""

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


def _crossings(sym: list[float] | NDArray, rho_sym: list[float] | NDArray) -> NDArray:
    """Steps whose symmetric difference is not ``O(h²)``: they reach across a kink."""
    n = len(sym)
    crossed = np.zeros(n, dtype=bool)
    for k in range(n - 1):
        above, next_above = (
            sym[k] > ROUNDING_MARGIN * rho_sym[k],
            sym[k + 1] > (ROUNDING_MARGIN * rho_sym[k + 1]),
        )
        if above and next_above:
            s = math.log2(sym[k] / sym[k + 1])
            crossed[k] = s < 1.5 or s > 3.0
        elif above:
            crossed[k] = sym[k] > 8 * ROUNDING_MARGIN * rho_sym[k]  # dropped by more than 8×
    return crossed


def _usable(
    rem: list[float] | NDArray,
    rho: list[float] | NDArray,
    sym: list[float] | NDArray,
    rho_sym: list[float] | NDArray,
) -> tuple[int, int] | None:
    """The longest run of steps above rounding, after the last one that crosses a kink."""
    crossed = _crossings(sym, rho_sym)
    start = int(np.flatnonzero(crossed)[-1]) + 1 if crossed.any() else 0
    best: tuple[int, int] | None = None
    k = start
    while k < len(rem):
        if math.isfinite(rem[k]) and rem[k] > ROUNDING_MARGIN * rho[k]:
            j = k
            while (
                j + 1 < len(rem)
                and math.isfinite(rem[j + 1])
                and (rem[j + 1] > ROUNDING_MARGIN * rho[j + 1])
            ):
                j += 1
            if best is None or j - k > best[1] - best[0]:
                best = (k, j)
            k = j + 1
        else:
            k += 1
    return best if best is not None and best[1] - best[0] >= 2 else None


def _verdict(
    hs: NDArray,
    rem: NDArray,
    sym: NDArray,
    rho: NDArray,
    rho_sym: NDArray,
    ends: list[tuple[float, float]],
    f0: float,
    slope: float,
    eps_g: float,
) -> TaylorTest:
    crossed = _crossings(sym, rho_sym)
    if crossed[-2]:  # still first order at the smallest steps: a kink at p itself
        h = hs[-1]
        fp, fm = ends[-1]
        return TaylorTest(
            hs,
            rem,
            None,
            None,
            f"a kink at p along v: the one-sided slopes differ ((L(p+hv) − L(p))/h = "
            f"{(fp - f0) / h:.6g}, (L(p) − L(p−hv))/h = {(f0 - fm) / h:.6g}; yours ⟨g, v⟩ = "
            f"{slope:.6g}), so the remainder is first order whatever the gradient: the Taylor "
            "test does not apply here; test at a nearby point.",
        )
    usable = _usable(rem, rho, sym, rho_sym)
    kink = (
        f" (steps above h = {hs[int(np.flatnonzero(crossed)[-1])]:.3g} reach across a kink "
        "and were left out)"
        if crossed.any()
        else ""
    )
    if usable is None:
        if np.all(rem <= ROUNDING_MARGIN * rho):
            why = (
                "the remainder is at the rounding level at every step"
                + kink
                + ": the loss is linear along v here (piecewise linear, as hinge or ReLU "
                "losses are) and your gradient predicts it to rounding, or the steps are too "
                "small (pass a larger h0)"
            )
            if eps_g > 1e-10:
                why += (
                    f"; in float32 the gradient's own rounding (ε = {eps_g:.2g}) hides the "
                    "h² term at small steps"
                )
        else:
            why = (
                "fewer than three consecutive steps stay above rounding" + kink + "; float32 "
                "rounding or a loss that is not smooth here leave no range to read an order "
                "from; pass a larger h0 or test in float64"
            )
        return TaylorTest(hs, rem, None, None, f"no usable range: {why}.")
    a, b = usable
    tail = slice(max(a, b - TAIL + 1), b + 1)
    order = float(np.polyfit(np.log(hs[tail]), np.log(rem[tail]), 1)[0])
    if order >= 1.8:
        meaning = "second order: the gradient is right along v"
    elif order <= 1.2:
        meaning = (
            "first order: the gradient is wrong along v "
            f"(|⟨∇L − g, v⟩| ≈ {float(rem[b] / hs[b]):.3g})"
        )
    else:
        meaning = "between first and second order: unsettled (a small mistake, or rounding)"
    return TaylorTest(
        hs,
        rem,
        order,
        usable,
        f"{meaning}; read over h = {hs[a]:.3g} … {hs[b]:.3g} ({b - a + 1} steps){kink}.",
    )
