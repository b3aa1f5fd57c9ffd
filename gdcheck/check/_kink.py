r"""Kinks: points where the loss is not differentiable, so that no single gradient is right.

At a kink (an SVM margin, a ReLU input or an ``|x|`` exactly 0) the one-sided gradients differ:
every subgradient is right, autodiff returns one convention (``max(x, 0)`` at a tie: ½ in
PyTorch and JAX), a handwritten gradient another (``margin > 0``: 0), and any perturbation,
however small, steps across. :func:`find_kink` detects this from the reference gradient
``g`` at two step sizes along one random direction ``s`` (the spirit of Chainer's
``gradient_check.check_backward(detect_nondifferentiable=True)``, which fits one-sided
differences of the loss):

.. math:: D(h) = g(p + h s) - g(p - h s) = 2hHs + O(h^3) + J,

a smooth change ``2hHs`` proportional to ``h`` plus a jump ``J`` that does not shrink with
``h``. From ``D_s = D(h)`` and ``D_b = D(kh)``,

.. math:: \hat J = \frac{k D_s - D_b}{k - 1}, \qquad
          \hat S = \frac{k (D_b - D_s)}{k - 1}\ \ (\text{the smooth part of } D_b),

and entry ``i`` jumps when :math:`|\hat J_i| > \theta A_b` (above rounding: ``A_b`` the
gradient's scale in its parameter, :math:`\max(\|g_b\|_\infty, \|\hat S_b\|_\infty / 2k\delta)`),
when :math:`|\hat J_i| \ge \tfrac12 |D_{s,i}|` (the small step's change is mostly jump: a smooth
function's is :math:`O(h^2)` relative to it) and when :math:`\hat J_i` has the sign of
:math:`D_{b,i}` (a kink between ``h`` and ``kh`` from ``p``, not at ``p``, gives the opposite
sign). Four gradient evaluations on the reference backend where the loss is smooth (none
where the screen below already reads it smooth); at a kink, :data:`LOOKS` directions (the
union of the entries that jump: with integer data two kinks can cancel in one entry along one
direction).

At a kink the rounding floor is measured at :func:`floor_point`, a point moved by a relative
:math:`\sqrt\epsilon` along another random direction: far enough that the floor's relative-ε
perturbations cross no kink, near enough that rounding is the same (the floor at ``p`` would
measure the jumps, ~1 for entries ~0.6, instead of rounding). The point is then not judged
when a nearby smooth point is (:func:`judge_at_smooth_points`), and the witnesses, which step
across the kink, are not applicable.

Where it runs: at the given point when its rounding floor is measured (yours did not agree at
once), or when yours agreed at once but a witness disagrees with autodiff; the random nearby
points are smooth with probability 1 and are not probed. Before the four gradients, five
values of the loss screen the given point (:func:`looks_smooth`) when the floor saw no jump
(:func:`floor_jumped`): where the loss is smooth along a random line through it, no kink lies
within reach of the floor's perturbations, and the probe is skipped (:func:`may_be_kink`).
The reference gradients are float64 whatever the dtype. Not probed without autodiff (a witness
is then the reference). An entry whose jumps cancel along every look is not named; the point
is still not judged.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._types import NDArray
from ..params import ParamLayout

KINK_STEP = 1e-7
"""δ: the kink probe's small step relative to the parameters' scale (at least 16 ε of the
dtype, so that it reaches every kink the rounding floor's relative-ε perturbations can cross)."""
STEP_RATIO = 16.0
"""k: the large step is k·δ; a smooth change shrinks k-fold from it to the small one."""
JUMP_SHARE = 1e-8
"""θ: a jump counts above this share of its parameter's gradient scale. Rounding in a
float64 gradient is ~1e-13 of it even summed over 10⁶ terms; a kink's jump is ~1/N."""
FLOOR_JUMP = 1e4
"""A floor sample at the kink moved an entry by more than FLOOR_JUMP·ε of the scale: a jump
too (a second and third look at which entries jump, for free)."""
LOOKS = 3
"""Directions looked along once the first finds a kink: an entry that two kinks move by
opposite jumps can read smooth along one direction, rarely along three."""
SCREEN_STEP = 1e-5
"""h: the screen's step relative to the parameters' scale. Far above the floor's relative ε,
so that a kink its perturbations can cross lies on the screen's line within ``k·h``; small
enough that the fourth-order term of the loss (~``k³h⁴``) stays below :data:`SCREEN_NOISE`
ε of it."""
SCREEN_NOISE = 1e3
"""The screen reads the loss as smooth when the kink part of its second differences is below
this many ε of the loss's largest value. Rounding in the five loss values stays below it; a
kink of one term in 10⁶ at the point adds ~10⁻⁶·h of the loss, ~5·10⁴ ε."""
MAX_LISTED = 8
NOT_APPLICABLE = (
    "not applicable (kink): it steps across the kink, so its estimate is one side's, not "
    "a gradient of the loss at this point"
)


@dataclass
class Kink:
    """Where the loss is not differentiable at a point: the entries whose gradient jumps."""

    mask: NDArray
    """Flat, one per parameter entry: True where the one-sided gradients differ."""
    labels: list[str]
    """The entries as the params name them: ``W[3, 1]``, …"""
    jump: float
    """The largest jump seen, ``max |ĵ|``."""
    size: int
    """How many entries the parameters have."""
    diagnosis: Any = None
    """What the point alone says over its other entries (used only when every point checked
    is a kink)."""
    entries: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    """The same entries per parameter: ``{"W": [(3, 1), …]}``."""
    floor_beside: bool = False
    """True when the point's rounding floor was measured at :func:`floor_point`."""

    def __str__(self) -> str:
        shown = ", ".join(self.labels[:MAX_LISTED])
        more = f" and {len(self.labels) - MAX_LISTED} more" if len(self.labels) > MAX_LISTED else ""
        return (
            "the loss is not differentiable here (a kink: the one-sided gradients differ by up "
            f"to {self.jump:.3g}, as where a max(0, ·), ReLU or |·| is exactly at 0), at "
            f"{len(self.labels)} of {self.size} entries: {shown}{more}. Any subgradient is right "
            "there, so this point is not judged when a nearby smooth point is"
            + (
                "; its rounding floor was measured beside the kink, where no perturbation "
                "crosses it"
                if self.floor_beside
                else ""
            )
            + "; the witnesses, which step across it, do not apply"
        )


def _scale(layout: ParamLayout, flat: NDArray) -> NDArray:
    """Per entry, ``max(|p_i|, rms of its parameter)`` (1 for a parameter that is all 0)."""
    out, start = np.empty_like(flat), 0
    for size in layout.sizes:
        block = flat[start : start + size]
        rms = float(np.sqrt(np.mean(block**2))) if size else 0.0
        out[start : start + size] = np.maximum(np.abs(block), rms if rms > 0 else 1.0)
        start += size
    return out


def _block_max(layout: ParamLayout, values: NDArray) -> NDArray:
    """Each entry replaced by the largest |value| in its parameter."""
    out, start = np.empty_like(values), 0
    for size in layout.sizes:
        out[start : start + size] = float(np.abs(values[start : start + size]).max(initial=0.0))
        start += size
    return out


def floor_jumped(layout: ParamLayout, floor: NDArray, base: NDArray, dtype: str) -> bool:
    """Did the rounding floor see a jump? An entry's response to the relative-ε perturbations
    above ``max(θ, FLOOR_JUMP ε)`` of its parameter's gradient scale (the test
    :func:`find_kink` applies to the floor): rounding stays ~1e-13 of it, a crossed kink of one
    term in 10⁶ moves it ~1e-6. Where it did, the screen is not asked: five losses that round
    at ε|f| cannot see a kink whose term is small beside the loss, and the floor crossed it."""
    return bool(_floor_jumps(floor, _block_max(layout, base), dtype).any())


def _floor_jumps(floor: NDArray, scale: NDArray, dtype: str) -> NDArray:
    """The entries whose floor sample moved by more than ``max(θ, FLOOR_JUMP ε)`` of ``scale``."""
    return floor > max(JUMP_SHARE, FLOOR_JUMP * float(np.finfo(dtype).eps)) * scale + 1e-300


def may_be_kink(
    losses_at: Callable[[NDArray], tuple[NDArray, NDArray]],
    layout: ParamLayout,
    flat: NDArray,
    floor: NDArray,
    base: NDArray,
    dtype: str,
    seed: int,
) -> bool:
    """Must :func:`find_kink` look at ``flat``? Where the floor saw a jump
    (:func:`floor_jumped`), always; else only where five losses do not read the loss smooth
    there (:func:`looks_smooth`)."""
    return floor_jumped(layout, floor, base, dtype) or not looks_smooth(
        losses_at, layout, flat, seed
    )


def looks_smooth(
    losses_at: Callable[[NDArray], tuple[NDArray, NDArray]],
    layout: ParamLayout,
    flat: NDArray,
    seed: int,
) -> bool:
    r"""Is the loss smooth around ``flat`` along one random line? Five float64 loss values:
    ``losses_at(points)``, for points (5, p), gives a loss per row and the ε of its dtype.

    With ``s`` a random direction of :data:`SCREEN_STEP` times each entry's scale and
    :math:`D(c) = f(p + cs) + f(p - cs) - 2f(p)`, a smooth loss has
    :math:`D(c) = c^2 S + O(c^4)`; a kink at ``p`` adds :math:`cK`, ``K`` the jump of the
    directional derivative. From ``c = 1`` and ``c = k``,

    .. math:: \hat K = \frac{k^2 D(1) - D(k)}{k^2 - k},

    and the loss reads smooth when :math:`|\hat K| \le` :data:`SCREEN_NOISE` ε
    :math:`\max |f|`. A kink anywhere on the line within ``k·s`` of ``p`` bends ``D`` too, so
    "not smooth" sends the point to :func:`find_kink`, as does a loss that raises, is not a
    finite scalar, or rounds coarser than that (one computed in float32). ``seed``: the
    screen's own generator, so that the probe's draws stay those it makes without the screen.
    """
    rng = np.random.default_rng(seed)
    step = SCREEN_STEP * _scale(layout, flat) * rng.standard_normal(flat.size)
    k = STEP_RATIO
    points = flat + np.array([0.0, 1.0, -1.0, k, -k])[:, None] * step
    eps64 = float(np.finfo(np.float64).eps)
    try:
        values, eps = (np.asarray(a, dtype=np.float64) for a in losses_at(points))
    except Exception:  # a loss that cannot run here, or not a scalar: the full probe decides
        return False
    if values.shape != (5,) or not np.isfinite(values).all() or float(eps.max()) > eps64:
        return False  # a float32 loss can round a kink's 1e-10 away: the probe decides
    f0, f1, f_1, fk, f_k = (float(v) for v in values)
    d1, dk = f1 + f_1 - 2 * f0, fk + f_k - 2 * f0
    kink = (k * k * d1 - dk) / (k * k - k)
    return abs(kink) <= SCREEN_NOISE * eps64 * float(np.abs(values).max())


def find_kink(
    gradient_at: Callable[[NDArray], NDArray | None],
    layout: ParamLayout,
    flat: NDArray,
    base: NDArray,
    dtype: str,
    rng: np.random.Generator,
    floor: NDArray | None = None,
) -> Kink | None:
    """The kink at ``flat`` (None where the loss is smooth), from four reference gradients.

    ``gradient_at(v)`` is the reference gradient (flat float64) at flat params ``v``, or None
    where it cannot be had; ``base`` is it at ``flat``. ``floor``, the rounding floor measured
    at ``flat`` (the largest |response| to relative-ε perturbations), adds the entries it saw
    jump once a kink is found.
    """
    eps = float(np.finfo(dtype).eps)
    mask, jumps, scale = np.zeros(flat.size, bool), np.zeros(flat.size), np.zeros(flat.size)
    for _ in range(LOOKS):
        seen = _look(gradient_at, layout, flat, base, max(KINK_STEP, 16 * eps), rng)
        if seen is None:
            return None
        mask |= seen[0]
        jumps = np.maximum(jumps, seen[1])
        scale = np.maximum(scale, seen[2])
        if not mask.any():
            return None  # smooth along the first direction: no more looks
    if floor is not None:
        mask |= _floor_jumps(floor, scale, dtype)
    idx = np.flatnonzero(mask)
    entries: dict[str, list[tuple[int, ...]]] = {}
    for i in idx:
        name, where = layout.locate(int(i))
        entries.setdefault(name, []).append(where)
    return Kink(
        mask=mask,
        labels=[layout.label(int(i)) for i in idx],
        jump=float(jumps[mask].max()),
        size=flat.size,
        entries=entries,
    )


def _look(
    gradient_at: Callable[[NDArray], NDArray | None],
    layout: ParamLayout,
    flat: NDArray,
    base: NDArray,
    delta: float,
    rng: np.random.Generator,
) -> tuple[NDArray, NDArray, NDArray] | None:
    """One random direction: the entries that jump, ``|ĵ|``, and the scale ``A`` per entry."""
    step = delta * _scale(layout, flat) * rng.standard_normal(flat.size)
    k = STEP_RATIO
    moved = [gradient_at(flat + c * step) for c in (1.0, -1.0, k, -k)]
    if any(g is None or not np.isfinite(g).all() for g in moved):
        return None
    d_small, d_big = moved[0] - moved[1], moved[2] - moved[3]
    jump = (k * d_small - d_big) / (k - 1)
    smooth = k * (d_big - d_small) / (k - 1)
    scale = np.maximum(_block_max(layout, base), _block_max(layout, smooth) / (2 * k * delta))
    scale = np.maximum(scale, 1e-6 * float(scale.max(initial=0.0)))
    mask = (
        (np.abs(jump) > JUMP_SHARE * scale + 1e-300)
        & (np.abs(jump) >= 0.5 * np.abs(d_small))
        & (jump * d_big > 0)
    )
    return mask, np.abs(jump), scale


def floor_point(
    layout: ParamLayout, flat: NDArray, dtype: str, rng: np.random.Generator
) -> NDArray:
    r"""Flat params moved by :math:`\sqrt\epsilon` of their scale along a random direction.

    The rounding floor's relative-ε perturbations cross no kink there (the margins that were 0
    are now ~√ε, a million (float64) or three thousand (float32) times the perturbation),
    while the terms, and so the rounding, are those of ``flat`` to √ε.
    """
    shift = float(np.sqrt(np.finfo(dtype).eps))
    return flat + shift * _scale(layout, flat) * rng.standard_normal(flat.size)


def without_kink(kink: Kink | None, g: NDArray, r: NDArray, tol: NDArray) -> tuple:
    """``g``, ``r``, ``tol`` for the point's own diagnosis: the kink entries read 0 = 0 with an
    infinite tolerance, so that they neither fail nor bend a fitted factor."""
    if kink is None:
        return g, r, tol
    return (
        np.where(kink.mask, 0.0, g),
        np.where(kink.mask, 0.0, r),
        np.where(kink.mask, np.inf, tol),
    )


def judge_at_smooth_points(checks: list[Any]) -> None:
    """Where a smooth point was checked, a kink point's diagnosis is set aside (kept in
    ``check.kink.diagnosis``): its differences may be a subgradient convention, and the smooth
    points see the same formula. When every point is a kink, each keeps the diagnosis over its
    entries that do not jump."""
    if all(c.kink is not None for c in checks):
        return
    for c in checks:
        if c.kink is not None and c.diagnosis is not None:
            c.kink.diagnosis, c.diagnosis = c.diagnosis, None
