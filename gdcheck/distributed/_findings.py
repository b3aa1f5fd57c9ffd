r"""Judge the data-parallel gradients and weights, and name the mistake.

A data-parallel gradient :math:`c_t` passes at step ``t`` when every entry is within the
tolerance :math:`\tau_{t,i}` of the single-process one :math:`g_t` (the same per-entry bound as
the engine's, from the measured rounding floor, :func:`gdcheck.trajectory._floor.gradient_tolerance`).
When it is not, the known data-parallel mistakes are tried, each a candidate gradient built
from the shard gradients :math:`g_{t,i}` and sizes :math:`m_i`:

=====================  ==========================================================================
kind                   :math:`c_t` equals
=====================  ==========================================================================
``sum_not_mean``       :math:`W g_t` or :math:`\sum_i g_{t,i}`: summed across workers where a mean is meant
``unweighted_mean``    :math:`\frac1W \sum_i g_{t,i}` with unequal :math:`m_i`: weighting by shard size is missing
``missing_allreduce``  one shard's :math:`g_{t,k}`, or its DDP-scaled :math:`(W m_k/m)\, g_{t,k}`
``scaled``             :math:`r\, g_t` for another constant :math:`r`
``wrong_reduce``       none of these
=====================  ==========================================================================

Workers must hold the same weights at every step; the first step where one worker leaves
the others is a ``worker_drift`` finding that names the worker (the one farthest from the
median of the workers, or from the single-process run when W = 2).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._types import NDArray
from ..trajectory._metrics import weight_drift
from ._result import ParallelFinding

MAX_ENTRIES = 5
"""Entries named in a finding's message."""


def worst_entries(diff: NDArray, tol: NDArray, label: Callable[[int], str]) -> tuple[str, ...]:
    """Labels of the failing entries, worst (in units of the tolerance) first."""
    ratio = diff / tol
    bad = np.flatnonzero(ratio > 1)
    order = bad[np.argsort(-ratio[bad])]
    return tuple(label(int(i)) for i in order[:MAX_ENTRIES])


def explain(
    c: NDArray, g: NDArray, shard_grads: NDArray, sizes: tuple[int, ...], tol: NDArray
) -> tuple[str, str]:
    """``(kind, explanation)`` of a combined gradient ``c`` that is not the global ``g``."""
    W, m = len(sizes), sum(sizes)

    def near(candidate: NDArray) -> bool:
        slack = 4 * tol + 1e-9 * np.abs(candidate).max(initial=0.0)
        return bool(np.all(np.abs(c - candidate) <= slack))

    shards = ", ".join(f"shard {i}: {s}" for i, s in enumerate(sizes))
    if W > 1 and (near(W * g) or near(shard_grads.sum(axis=0))):
        return "sum_not_mean", (
            f"it is W = {W} times too large: the shard gradients were summed across workers "
            f"where a mean is meant; weight each by m_i/m (sizes {shards})."
        )
    if len(set(sizes)) > 1 and near(shard_grads.mean(axis=0)):
        return "unweighted_mean", (
            f"it is the plain mean of the shard means, but the shards are unequal ({shards}, "
            f"m = {m}); weight shard i's gradient by m_i/m, not 1/W."
        )
    for k in range(W):
        for factor, how in ((1.0, ""), (W * sizes[k] / m, f" scaled by W·m_{k}/m")):
            if near(factor * shard_grads[k]):
                return "missing_allreduce", (
                    f"it equals shard {k}'s own gradient{how} ({sizes[k]} of {m} examples): the "
                    "all-reduce across workers is missing."
                )
    denom = float(g @ g)
    if denom > 0:
        r = float(c @ g) / denom
        if abs(r - 1) > 1e-6 and near(r * g):
            return "scaled", f"it is {r:.6g} × the global gradient (a constant factor)."
    return "wrong_reduce", "it matches none of the known data-parallel mistakes."


def gradient_findings(
    engine: str,
    worker: int | None,
    combined: NDArray,
    full: NDArray,
    tol: NDArray,
    shard_grads_at: Callable[[int], NDArray],
    sizes: tuple[int, ...],
    label: Callable[[int], str],
    until: int | None = None,
) -> list[ParallelFinding]:
    """The first step (before ``until``) where ``combined`` leaves ``full``, explained."""
    diff = np.abs(combined.astype(np.float64) - full.astype(np.float64))
    bad = np.flatnonzero(np.any(~(diff <= tol), axis=1))
    if until is not None:
        bad = bad[bad < until]
    if not len(bad):
        return []
    t = int(bad[0])
    kind, why = explain(combined[t], full[t], shard_grads_at(t), sizes, tol[t])
    entries = worst_entries(diff[t], tol[t], label)
    count = f" ({len(bad)} of {len(combined)} steps)" if until is None else ""
    who = f"worker {worker}'s" if worker is not None else "the combined"
    where = "reduce(shard_grads, shard_sizes)" if engine == "reference" else engine
    return [
        ParallelFinding(
            kind,
            engine,
            t,
            entries,
            f"{where}: {who} gradient differs from the single-process full-batch gradient "
            f"from step {t}{count}, at {', '.join(entries)}: {why}",
            worker,
        )
    ]


def spread_per_step(weights: list[NDArray]) -> NDArray:
    """Largest |w^(r)_t − w^(0)_t| over workers r and entries, relative to ‖w^(0)_t‖∞."""
    others = [weight_drift(w, weights[0]) for w in weights[1:]]  # same scale: ‖w^(0)_t‖∞
    return np.max(others, axis=0) if others else np.zeros(len(weights[0]))


def drift_findings(
    engine: str, weights: list[NDArray], single: NDArray, tol: NDArray, spread: NDArray
) -> list[ParallelFinding]:
    """``worker_drift``: per worker, the first step where it leaves the others' weights.

    With W >= 3 each worker is measured from the median of the workers (so every drifting
    worker is named, at its own step); with W = 2 the one farther from the single-process run
    at the first step where the two part.
    """
    over = np.flatnonzero(~(spread <= tol))
    if not len(over):
        return []
    stack = np.stack([w.astype(np.float64) for w in weights])  # (W, K+1, p)
    if len(weights) > 2:
        centre = np.median(stack, axis=0)
        scale = np.abs(centre).max(axis=1, initial=0.0)
        dev = np.abs(stack - centre).max(axis=2) / np.where(scale > 0, scale, 1.0)
        starts = {}
        for r in range(len(weights)):
            bad = np.flatnonzero(~(dev[r] <= tol))
            if len(bad):
                starts[r] = int(bad[0])
        if not starts:  # no majority (e.g. two pairs): name the farthest at the first step
            starts = {int(np.argmax(dev[:, over[0]])): int(over[0])}
    else:
        t = int(over[0])
        starts = {int(np.argmax(np.abs(stack[:, t] - single[t]).max(axis=1))): t}
    return [
        ParallelFinding(
            "worker_drift",
            engine,
            t,
            (),
            f"{engine}: worker {r}'s weights leave the other workers' at step {t} (spread "
            f"{spread[t]:.3g} relative, tolerance {tol[t]:.3g}), after the update of step "
            f"{t - 1}: every worker must apply the same all-reduced update; look for a worker "
            "that skipped its optimizer step or its all-reduce.",
            r,
        )
        for r, t in sorted(starts.items(), key=lambda kv: (kv[1], kv[0]))
    ]


def weights_finding(engine: str, drift: NDArray, tol: NDArray) -> ParallelFinding | None:
    """``weights``: the data-parallel trajectory leaves the single-process one."""
    over = np.flatnonzero(~(drift <= tol))
    if not len(over):
        return None
    t = int(over[0])
    return ParallelFinding(
        "weights",
        engine,
        t,
        (),
        f"{engine}: the data-parallel weights leave the single-process full-batch trajectory "
        f"at step {t} (drift {drift[t]:.3g} relative, tolerance {tol[t]:.3g}) although each "
        "step's gradient agreed: the update differs.",
    )


def failure_finding(engine: str, failure: Any) -> ParallelFinding:
    kind, step, worker, message = failure
    return ParallelFinding(kind, engine, step, (), message, worker)
