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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..errors import InputError
from ..params import ParamLayout, parse_params
from ._ladder import Ladder, flat_value, ladder, line

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
    g, eps_g = flat_value(grad_value, layout, "grad_value")
    if not np.isfinite(g).all():
        raise InputError(
            f"grad_value is NaN or Inf at {layout.label(int(np.flatnonzero(~np.isfinite(g))[0]))}"
            "; the Taylor test needs a finite gradient."
        )
    return g, eps_g


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
            vals, es = evaluate(np.vstack([line(p, v, more), line(p, v, -more)]))
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
