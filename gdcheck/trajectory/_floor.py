r"""The per-step, per-entry gradient tolerance, from the same measured rounding floor as
:func:`gdcheck.check_gradient`.

At step ``k`` a handwritten gradient entry ``g_{k,i}`` passes against autodiff's ``r_{k,i}`` when

.. math:: |g_{k,i} - r_{k,i}| \le \tau_r |r_{k,i}| + \tau_a^{(k,i)}, \qquad
          \tau_r = 16\,\epsilon\sqrt{N}, \qquad
          \tau_a^{(k,i)} = 64\,\max(\nu_{k,i},\ 0.1\max_{j \in p}\nu_{k,j}),

``N`` the largest data dimension (the terms summed) and ``ν`` the **rounding floor**: how far
the gradient moves when the parameters and (small) data are perturbed by a relative ``ε`` with
random signs — ``ε`` times the size of the terms that make up each entry. Near the optimum the
gradient is ~1e-15 but ``ν`` is not, so a correct gradient passes there.

The floor changes slowly along a trajectory (it follows the size of the terms, not the
gradient), so it is measured at :data:`FLOOR_POINTS` steps spread over the run, one batched
call of one backend per perturbation (:func:`~gdcheck.check._perturb.floor_samples`: two, eight on
tiny data; the unperturbed gradients are that backend's shadow check's own rows), and each
step takes the larger floor of the two measured steps around it. A model that knows
its term sizes may hand them over instead (``Model(term_scale=...)``): then
:math:`\nu_k = \epsilon\, S(w_k)`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._types import NDArray
from ..backends._common import report_steps, steps_reported_to
from ..backends._problem import Problem
from ..check._perturb import floor_plan, perturbed_data
from ..check._point import ATOL_SAFETY, RTOL_SAFETY

FLOOR_POINTS = 33
"""Steps at which the rounding floor is measured (spread evenly, first and last included)."""
TRAJECTORY_FLOOR_SHARE = 0.1
"""Along a trajectory an entry's floor is at least this share of its parameter's largest (the
one-point check uses :data:`~gdcheck.check._point.FLOOR_SHARE`, 0.01). The floor is measured at
:data:`FLOOR_POINTS` steps and held in between, and where an entry is a sum whose terms cancel
(a near-constant standardised feature: digits' pixel 37 reaches ±40) its rounding between two
correct evaluations was seen at 6 % of its parameter's largest floor (MLP on digits, step 469).
A tenth of the largest keeps such entries ~1e-15 relative to the block's largest gradient
entry: far below any mistake's size."""


def sample_steps(valid: int, points: int = FLOOR_POINTS) -> NDArray:
    """Evenly spread step indices in ``[0, valid)``, first and last included."""
    if valid <= points:
        return np.arange(valid)
    return np.unique(np.linspace(0, valid - 1, points).round().astype(int))


def measure_floor(
    problem: Problem,
    backend: Any,
    weights: NDArray,
    seed: int = 0,
    base: NDArray | None = None,
) -> NDArray:
    """ν per step and entry, (K, p): measured at :func:`sample_steps`, held between them.

    ``base``: ``backend``'s gradients at every row of ``weights`` when already computed (its
    shadow check, at full precision): the sampled rows are taken from it, not evaluated again.
    Where the data are not perturbed (above :data:`~gdcheck.check._perturb.SMALL_DATA`
    elements) every perturbation's rows go to ``backend`` in one call.
    """
    valid = len(weights)
    if valid == 0:
        return np.zeros((0, problem.layout.size))
    if problem.model.term_scale is not None:
        eps = float(np.finfo(problem.dtype).eps)
        return np.stack(
            [
                eps * np.abs(problem.flat(problem.model.term_scale(problem.user(w), *problem.data)))
                for w in weights
            ]
        )
    idx = sample_steps(valid)
    at = np.asarray(weights[idx], np.float64)
    if base is not None:
        base = np.asarray(base[idx], np.float64)
    else:
        with steps_reported_to(None):  # the stage reports the sampled steps once, below
            base = backend.shadow(problem, at.astype(problem.dtype)).grads.astype(np.float64)
    bumps = _perturbations(problem, at, seed)
    with steps_reported_to(None):
        # the data as they are: every perturbation in one call (at (101, 1e5) float32, 66 rows
        # in 3 batches of 24 instead of 2 calls of 33 rows, each padded to 2 batches)
        if not floor_plan(problem.data)[1]:
            rows = np.concatenate([bumped for bumped, _ in bumps]).astype(problem.dtype)
            moved = backend.shadow(problem, rows).grads
        else:
            moved = np.concatenate(
                [
                    backend.shadow(problem, bumped.astype(problem.dtype), data).grads
                    for bumped, data in bumps
                ]
            )
    moved = np.asarray(moved, np.float64).reshape(-1, *base.shape)
    floor = np.abs(moved - base).max(axis=0, initial=0.0)
    floor[~np.isfinite(floor)] = 0.0
    report_steps(len(idx))
    return _hold(idx, floor, valid)


def _perturbations(problem: Problem, at: NDArray, seed: int) -> Any:
    """``(weights, data or None)`` for each of the floor's perturbations: ``at`` times
    ``1 ± ε`` (a random sign per entry), and the data so moved too when they are small."""
    rng = np.random.default_rng(seed)
    eps = float(np.finfo(problem.dtype).eps)
    samples, small = floor_plan(problem.data)
    for _ in range(samples):
        bumped = at * (1 + eps * rng.choice((-1.0, 1.0), at.shape))
        yield bumped, (perturbed_data(problem.data, eps, rng) if small else None)


def _hold(idx: NDArray, floor: NDArray, valid: int) -> NDArray:
    """Each step's floor: the larger of the measured steps at or around it."""
    right = np.searchsorted(idx, np.arange(valid), side="left").clip(0, len(idx) - 1)
    left = (right - (idx[right] > np.arange(valid))).clip(0, len(idx) - 1)
    return np.maximum(floor[left], floor[right])


def gradient_tolerance(
    reference: NDArray, floor: NDArray, sizes: tuple[int, ...], n_terms: int, eps: float
) -> NDArray:
    """Per step and entry, :math:`\\tau_r|r| + \\tau_a` (see the module docstring), (K, p)."""
    rtol = RTOL_SAFETY * eps * math.sqrt(max(1, n_terms))
    r = np.abs(reference.astype(np.float64))
    atol = np.empty_like(r)
    start = 0
    for size in sizes:
        sl = slice(start, start + size)
        start += size
        share = TRAJECTORY_FLOOR_SHARE * floor[:, sl].max(axis=1, initial=0.0, keepdims=True)
        scale = r[:, sl].max(axis=1, initial=0.0, keepdims=True)
        atol[:, sl] = np.maximum(
            ATOL_SAFETY * np.maximum(floor[:, sl], share), np.maximum(eps * scale, 1e-300)
        )
    return atol + rtol * r


def update_tolerance(
    weights: NDArray, nxt: NDArray, eps: float, constants: NDArray | None = None
) -> NDArray:
    r"""Per step and entry, the rounding allowed between two evaluations of one update rule:
    :math:`32\,\epsilon\,(|w_k| + |w_{k+1} - w_k|) + \rho_k\,|w_{k+1} - w_k|` — the update's
    own arithmetic plus its running state (momentum, moments), each a few roundings of numbers
    of those sizes, and :math:`\rho_k` (``constants``, per step), the relative step change
    from the rule's constants rounded to the dtype (Adam's :math:`\beta`'s, whose
    :math:`1-\beta^t` cancels: :meth:`gdcheck.optim.Optimizer.step_rounding`)."""
    w = np.abs(weights.astype(np.float64))
    step = np.abs(nxt.astype(np.float64) - weights.astype(np.float64))
    extra = 0.0 if constants is None else np.asarray(constants, np.float64)[:, None] * step
    return 32.0 * eps * (w + step) + extra + 1e-300
