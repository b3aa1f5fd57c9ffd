r"""Difference metrics between a gradient (or trajectory) and the reference.

Three views of one difference, per step:

* **max absolute error** :math:`\max_i |g_i - r_i|` — in the gradient's own units;
* **norm-relative error with a floor** :math:`\max_i |g_i - r_i| / \max(\|r\|_\infty, \|S\|_\infty)`,
  where ``S`` is the size of the terms summed into the gradient. Near the optimum
  :math:`\|r\|_\infty \approx 10^{-15}` and a plain relative error is noise divided by noise;
  the floor measures the difference against what rounding can produce instead;
* **ULPs at the gradient's scale** :math:`\max_i |g_i - r_i| / \mathrm{ulp}(\max(\|r\|_\infty, \|S\|_\infty))`
  — the difference counted in units of the last place of the numbers being summed. Unlike an
  ``rtol`` it reads the same at every magnitude and in every dtype: "2 ULPs" is last-bit
  rounding, "1e6 ULPs" is not. (The raw float-to-float distance, :func:`ulp_distance`, is
  meaningless for a gradient near zero — 1e-17 and 1e-16 are 1e15 floats apart — so it is
  used only where values are not near zero.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .._types import NDArray

_INT = {np.dtype(np.float32): np.int32, np.dtype(np.float64): np.int64}


def ulp_distance(a: NDArray, b: NDArray) -> NDArray:
    """Number of representable floats between ``a`` and ``b`` (same float dtype), elementwise.

    Maps each float's bit pattern to an integer that is monotone in the float's value, so
    the integer difference counts the floats in between; ``+0`` and ``-0`` are 0 apart.
    NaN gives the largest distance.
    """
    dtype = np.result_type(a, b)
    a = np.asarray(a, dtype)
    b = np.asarray(b, dtype)
    itype = _INT[dtype]
    ia = a.view(itype).astype(np.int64)
    ib = b.view(itype).astype(np.int64)
    lowest = np.iinfo(itype).min
    ia = np.where(ia < 0, lowest - ia, ia)
    ib = np.where(ib < 0, lowest - ib, ib)
    # The difference fits in uint64; modular subtraction of the larger minus the smaller is exact.
    hi, lo = np.maximum(ia, ib).astype(np.uint64), np.minimum(ia, ib).astype(np.uint64)
    dist = (hi - lo).astype(np.float64)
    return np.where(np.isnan(a) | np.isnan(b), np.inf, dist)


@dataclass
class GradientErrors:
    """Per-step gradient errors of one backend against the reference (arrays of length K+1)."""

    abs: NDArray
    rel: NDArray  # max|g − r| / max(‖r‖∞, ‖S‖∞), S = ν/ε the term size
    ulp: NDArray
    worst_entry: NDArray  # index of the entry with the largest error relative to its tolerance
    floor: NDArray  # max(‖r‖∞, ‖S‖∞) per step: what ``rel`` divides by
    ratio: NDArray  # max_i |g_i − r_i| / τ_i: ≤ 1 passes (τ per entry, see trajectory._floor)


def gradient_errors(
    grads: NDArray, ref: NDArray, scale: NDArray, tol: NDArray | None = None
) -> GradientErrors:
    """Errors of ``grads`` (K+1, p) against ``ref`` (K+1, p).

    ``scale`` (K+1, p) is the term size S; ``tol`` (K+1, p) the per-entry tolerance (None:
    every entry's tolerance is the step's floor, so ``ratio`` is ``rel``).
    """
    diff = np.abs(grads.astype(np.float64) - ref.astype(np.float64))
    floor = np.maximum(np.abs(ref).max(axis=1, initial=0.0), np.abs(scale).max(axis=1, initial=0.0))
    floor = np.where(floor > 0, floor, np.finfo(np.float64).tiny)
    if tol is None:
        tol = np.broadcast_to(floor[:, None], diff.shape)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_entry = np.where(np.isnan(diff), np.inf, diff / tol)
    worst = per_entry.argmax(axis=1) if per_entry.size else np.zeros(len(diff), int)
    return GradientErrors(
        abs=diff.max(axis=1, initial=0.0),
        rel=diff.max(axis=1, initial=0.0) / floor,
        ulp=diff.max(axis=1, initial=0.0)
        / np.spacing(floor.astype(grads.dtype)).astype(np.float64),
        worst_entry=worst,
        floor=floor,
        ratio=per_entry.max(axis=1, initial=0.0),
    )


def weight_drift(weights: NDArray, ref: NDArray) -> NDArray:
    r"""Relative drift per step :math:`\|w_t - w^{ref}_t\|_\infty / \max(\|w^{ref}_t\|_\infty, \text{tiny})`."""
    diff = np.abs(weights.astype(np.float64) - ref.astype(np.float64)).max(axis=1, initial=0.0)
    norm = np.abs(ref.astype(np.float64)).max(axis=1, initial=0.0)
    # w_0 = 0: an absolute difference there is what we can report.
    return diff / np.where(norm > 0, norm, 1.0)
