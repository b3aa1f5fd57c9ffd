"""How a rounding floor perturbs a point, shared by :func:`gdcheck.check_gradient`'s one point
(:meth:`~._point.PointChecker.rounding_floor`) and the trajectory's floor
(:func:`gdcheck.trajectory._floor.measure_floor`): how many perturbations, whether the data are
perturbed too, and the perturbation itself, ``1 ± ε`` with a random sign per entry."""

from __future__ import annotations

import numpy as np

SMALL_DATA = 2_000_000
"""Data with at most this many elements is also perturbed when measuring the rounding floor."""
FLOOR_SAMPLES = 2
"""Perturbations that measure the rounding floor (per entry, the larger is kept)."""
TINY_DATA = 4096
"""Data of at most this many elements gets :data:`TINY_FLOOR_SAMPLES` perturbations."""
TINY_FLOOR_SAMPLES = 8
"""Perturbations of the floor on tiny data. With few terms the random signs can cancel: one
example, ŷ ≈ y, ``w``, ``X`` and ``y`` each moved by ±ε and the residual not at all
(hypothesis found one along a trajectory: a 1-example, 3-feature fit whose floor came out
1e-18 against rounding of 4e-16, in both samples). Each sample more halves the chance, and on
tiny data a sample costs nothing."""


def floor_samples(elements: int) -> int:
    """How many perturbations measure the floor, for array data of ``elements`` elements (0:
    none given, e.g. data a loss closes over, whose size is unknown: not taken for tiny)."""
    return TINY_FLOOR_SAMPLES if 0 < elements <= TINY_DATA else FLOOR_SAMPLES


def floor_plan(data: tuple) -> tuple[int, bool]:
    """``(perturbations, whether the data are perturbed too)`` for the rounding floor of a
    gradient of ``data``: :func:`floor_samples`, and the data only up to :data:`SMALL_DATA`."""
    elements = sum(int(np.size(a)) for a in data if isinstance(a, np.ndarray))
    return floor_samples(elements), elements <= SMALL_DATA


def perturbed_data(data: tuple, eps: float, rng: np.random.Generator) -> tuple:
    """Each floating array times ``1 ± ε``, a random sign per entry, in its own dtype; the rest
    as it is (one draw per array, in order)."""
    return tuple(
        (a * (1 + eps * rng.choice((-1.0, 1.0), a.shape))).astype(a.dtype, copy=False)
        if isinstance(a, np.ndarray) and np.issubdtype(a.dtype, np.floating)
        else a
        for a in data
    )
