"""Every disagreement, divergence and explained difference of a cross-check, in words.

Findings say where (the check, the backend pair, the first step, the parameter entry as the
params name it: ``W1[2, 0]``) and what, and blame the right code: a gradient finding only
when the shadow gradient check fails, an update finding only when the library's optimizer fed
*your own* weights and gradients disagrees with your update. The gradient check's findings
are :mod:`._gradient_findings`'s.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends as backend_registry
from ._gradient_findings import gradient_findings, step_of
from ._metrics import weight_drift
from ._result import BackendRun, CrossCheckResult, Finding

SENSITIVITY_SHARE = 0.1
"""Drift beyond its bound is sensitivity, not a mistake, when the libraries' own runs are at
least this share as far from each other as from the reference."""

REF = backend_registry.REFERENCE


def findings(result: CrossCheckResult, floor_backend: Any) -> list[Finding]:
    found: list[Finding] = _divergence(result)
    for name, run in result.runs.items():
        if name == REF:
            continue
        pair = f"{name} vs {REF} (reference)"
        mine = gradient_findings(result, name, run, pair, floor_backend)
        mine += _update(result, name, run, pair)
        kink = next((f for f in mine if f.kind == "kink"), None)
        mine += _drift(result, name, run, pair, blamed=any(f.fatal for f in mine), kink=kink)
        found += mine
    return found


# -- divergence -----------------------------------------------------------------------------
def _divergence(result: CrossCheckResult) -> list[Finding]:
    ref = result.reference
    if ref.diverged_at is not None:
        return [
            Finding(
                "diverged",
                REF,
                ref.diverged_at,
                (),
                result.divergence_message(ref.diverged_at) + _who_went_first(result),
            )
        ]
    growing = _growing_beyond_bound(result)
    if growing is not None:
        return [Finding("diverged", REF, growing, (), result.growth_message(growing))]
    return []


def _who_went_first(result: CrossCheckResult) -> str:
    """`` First non-finite: numpy at step 63, jax at step 63, … (numpy and jax first).``"""
    at = {
        name: run.trajectory.diverged_at
        for name, run in result.runs.items()
        if run.trajectory.diverged_at is not None
    }
    if not at:
        return ""
    first = min(at.values())
    leaders = [n for n, k in at.items() if k == first]
    never = [n for n in result.runs if n not in at]
    return (
        " First non-finite loss or weights: "
        + ", ".join(f"{n} at step {k}" for n, k in at.items())
        + (f"; {', '.join(never)} stayed finite" if never else "")
        + f" ({' and '.join(leaders)} first)."
    )


def _growing_beyond_bound(result: CrossCheckResult) -> int | None:
    """The first step whose loss exceeds the starting loss, when lr is past the stable bound."""
    bound = result.lr_bound
    losses = result.reference.losses
    if bound is None or result.config.lr <= bound or len(losses) < 2:
        return None
    grown = np.flatnonzero(losses[1:] > losses[0])
    return step_of(result, int(grown[0]) + 1) if grown.size else None


# -- update ---------------------------------------------------------------------------------
def _update(result: CrossCheckResult, name: str, run: BackendRun, pair: str) -> list[Finding]:
    if run.update_ratio is None or result.config.update != "handwritten":
        return []
    ratio = run.update_ratio
    worst = np.where(np.isnan(ratio), 0.0, ratio).max(axis=1, initial=0.0)
    bad = np.flatnonzero(worst > 1.0)
    if not bad.size:
        return []
    layout, ref = result.layout, result.reference
    assert layout is not None and run.update_predicted is not None
    k = int(bad[0])
    entry = int(np.nanargmax(ratio[k]))
    label = layout.label(entry)
    nxt = ref.weights[k + 1] if ref.after is None else ref.after[k]
    w0, yours, theirs = (
        float(ref.weights[k][entry]),
        float(nxt[entry]),
        float(run.update_predicted[k][entry]),
    )
    t = step_of(result, k)
    step_yours, step_theirs = yours - w0, theirs - w0
    factor = (
        f" Your step is {step_yours / step_theirs:.6g} × theirs there."
        if step_theirs != 0 and np.isfinite(step_yours / step_theirs)
        else ""
    )
    opt = result.problem.optimizer
    config = run.info.update
    return [
        Finding(
            "update",
            name,
            t,
            (entry,),
            f"{pair}: the handwritten update is not {opt.name} ({opt.rule}): {config}, fed your "
            f"own weights and gradients, differs from it at {bad.size} of {len(worst)} "
            f"{'' if ref.after is None else 'recorded '}updates, first at step {t} → {t + 1}, "
            f"entry {label}: yours {yours:.10g} vs {name}'s "
            f"{theirs:.10g} (from w = {w0:.10g}).{factor} The gradient is not to blame: this "
            "check uses your own gradient.",
            labels=(label,),
        )
    ]


# -- drift ----------------------------------------------------------------------------------
def _drift(
    result: CrossCheckResult,
    name: str,
    run: BackendRun,
    pair: str,
    blamed: bool,
    kink: Finding | None = None,
) -> list[Finding]:
    ref = result.reference
    traj = run.trajectory
    out: list[Finding] = []
    if traj.diverged_at is not None and ref.diverged_at is None:
        out.append(
            Finding(
                "diverged",
                name,
                traj.diverged_at,
                (),
                f"{name}: its own trajectory diverged at step {traj.diverged_at} while the "
                "reference's did not.",
            )
        )
    both = np.isfinite(run.drift)
    over = np.flatnonzero(both & (run.drift > run.drift_tolerance))
    if not over.size:
        return out
    layout = result.layout
    assert layout is not None
    k = int(over[0])
    moved = np.abs(traj.weights[k] - ref.weights[k])
    entries = tuple(int(i) for i in np.flatnonzero(moved == moved.max()))[:8]
    labels = tuple(layout.label(i) for i in entries)
    step = step_of(result, k)
    text = (
        f"{pair}: weights drift apart from step {step} (relative drift {run.drift[k]:.3g} > "
        f"tolerance {run.drift_tolerance[k]:.3g}, largest at {', '.join(labels)}); final drift "
        f"{run.final_drift:.3g}."
    )

    def drifted(kind: str, why: str, fatal: bool = True) -> list[Finding]:
        out.append(Finding(kind, name, step, entries, f"{text} {why}", fatal=fatal, labels=labels))
        return out

    if blamed:
        return drifted("trajectory", "A consequence of the mistake above.")
    if kink is not None and kink.step < step:
        return drifted(
            "kink",
            f"A consequence of the kink at step {kink.step}: the two runs took different "
            "subgradients there, so they legitimately follow different paths.",
            fatal=False,
        )
    spread = _library_spread(result, name, k)
    if spread is not None and spread >= SENSITIVITY_SHARE * run.drift[k]:
        return drifted(
            "sensitivity",
            f"The libraries' own runs are {spread:.3g} apart there too, with gradient and update "
            "right at every step: this run amplifies rounding (its trajectory is sensitive to "
            "the last bits), it is not a mistake.",
            fatal=False,
        )
    return drifted(
        "trajectory",
        "The gradient and the update agree at every step, so the runs differ in something "
        "else: state that is not reset, data that change between steps, or randomness.",
    )


def _library_spread(result: CrossCheckResult, name: str, k: int) -> float | None:
    """The largest relative drift between this library's run and another library's at step k."""
    mine = result.runs[name].trajectory.weights
    spreads = [
        float(weight_drift(run.trajectory.weights[k : k + 1], mine[k : k + 1])[0])
        for other, run in result.runs.items()
        if other not in (name, REF)
    ]
    return max(spreads) if spreads else None
