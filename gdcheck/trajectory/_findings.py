"""Every disagreement, divergence and explained difference of a cross-check, in words.

Findings say where (the check, the backend pair, the first step, the parameter entry as the
params name it: ``W1[2, 0]``) and what, and blame the right code: a gradient finding only
when the shadow gradient check fails, an update finding only when the library's optimizer fed
*your own* weights and gradients disagrees with your update.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends as backend_registry
from .._types import NDArray
from ..backends._device import FIX, REDUCED_REL_MAX, recheck_at_highest, reduced_precision
from ..check._diagnosis import PRECISION_MARGIN, Diagnosis, diagnose
from ._metrics import weight_drift
from ._result import BackendRun, CrossCheckResult, Finding

KINK_CHECKS = 16
"""Failing steps examined for a kink (a convention difference at a non-differentiable point)."""
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
        mine = _gradient(result, name, run, pair, floor_backend)
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
    return _step(result, int(grown[0]) + 1) if grown.size else None


def _steps_word(result: CrossCheckResult) -> str:
    return "steps" if result.reference.steps_at is None else "recorded steps"


def _step(result: CrossCheckResult, row: int) -> int:
    """The true step of row ``row`` (they differ with ``record_every`` > 1)."""
    return int(result.recorded_steps[row])


# -- gradient -------------------------------------------------------------------------------
def _gradient(
    result: CrossCheckResult, name: str, run: BackendRun, pair: str, floor_backend: Any
) -> list[Finding]:
    ref, layout = result.reference, result.layout
    assert ref.grads is not None and layout is not None
    ratio = run.errors.ratio
    over = np.flatnonzero(~(ratio <= 1.0))
    bad = np.flatnonzero(~(ratio <= PRECISION_MARGIN))  # beyond what rounding explains
    out: list[Finding] = []
    rounding = np.setdiff1d(over, bad)
    if rounding.size:  # as check_gradient: within PRECISION_MARGIN × the tolerance is rounding
        k = int(rounding[np.argmax(ratio[rounding])])
        entry = int(run.errors.worst_entry[k])
        out.append(
            Finding(
                "precision",
                name,
                _step(result, k),
                (entry,),
                f"{pair}: at {rounding.size} step(s) the gradient differs by up to "
                f"{ratio[k]:.3g}× its tolerance (worst at step {_step(result, k)}, "
                f"{layout.label(entry)}: "
                f"{abs(float(ref.grads[k][entry]) - float(run.shadow_grads[k][entry])):.3g}), "
                f"within the {PRECISION_MARGIN:g}× that rounding explains: reported, not failed.",
                fatal=False,
                labels=(layout.label(entry),),
            )
        )
    if bad.size:
        kinks, bad = _split_kinks(result, name, run, bad)
        if kinks:
            k = kinks[0]
            entries = _wrong_entries(ref.grads[k], run.shadow_grads[k], run.grad_tolerance[k])
            labels = tuple(layout.label(i) for i in entries[:8])
            out.append(
                Finding(
                    "kink",
                    name,
                    _step(result, k),
                    tuple(entries[:8]),
                    f"{pair}: at {len(kinks)} step(s) (first {_step(result, k)}) the handwritten "
                    "gradient and "
                    f"{name}'s differ at {', '.join(labels)}"
                    + (" …" if len(entries) > 8 else "")
                    + " only at that point: at nearby points on both sides they agree. The "
                    "point is a kink (a non-differentiable point, e.g. ReLU at exactly 0), where "
                    "each picks another subgradient (autodiff's maximum gives ½ at a tie, a mask "
                    "z > 0 gives 0): a convention difference, not a mistake.",
                    fatal=False,
                    labels=labels,
                )
            )
    if bad.size:
        explained, bad = _split_precision(result, name, run, pair, bad)
        out += explained
    if bad.size:
        k = int(bad[0])
        entry = int(run.errors.worst_entry[k])
        label = layout.label(entry)
        g, r = ref.grads[k][entry], run.shadow_grads[k][entry]
        diagnosis = _diagnose(result, run, bad)
        out.append(
            Finding(
                "gradient",
                name,
                _step(result, k),
                (entry,),
                f"{pair}: gradient differs at {bad.size} of {ratio.size} {_steps_word(result)}, "
                f"first at step {_step(result, k)}, "
                f"entry {label}: handwritten {g:.10g} vs {name} {r:.10g} (difference "
                f"{abs(float(g) - float(r)):.3g} > its tolerance {run.grad_tolerance[k][entry]:.3g})."
                + (f" Looks like {diagnosis.kind}: {diagnosis.message}" if diagnosis else ""),
                diagnosis=diagnosis,
                labels=(label,),
            )
        )
    return out


def _split_precision(
    result: CrossCheckResult, name: str, run: BackendRun, pair: str, bad: NDArray
) -> tuple[list[Finding], NDArray]:
    """The failing steps a reduced matmul precision explains (all of them, or none), and the
    rest: the backend ran float32 on a GPU below ``highest`` (never on a CPU or in float64),
    every failing step differs by at most ``REDUCED_REL_MAX`` relative, and rerun at
    ``highest`` the backend agrees with the handwritten gradient at every step re-checked. A
    wrong gradient fails the last: full-precision autodiff still disagrees with it."""
    why = reduced_precision(run.info)
    rel = run.errors.rel[bad]
    if why is None or not (rel <= REDUCED_REL_MAX).all():
        return [], bad
    ref, layout = result.reference, result.layout
    assert ref.grads is not None and layout is not None
    worst = int(bad[np.argmax(rel)])
    backend = backend_registry.get(name)
    checked = recheck_at_highest(
        backend, run.info, result.problem, ref, run.grad_tolerance, bad, worst
    )
    if checked is None or not (checked <= PRECISION_MARGIN).all():
        return [], bad
    label = layout.label(int(run.errors.worst_entry[worst]))
    text = (
        f"{pair}: the gradient differs at {bad.size} of {run.errors.ratio.size} steps by up to "
        f"{float(rel.max()):.2g} relative (worst at step {_step(result, worst)}, {label}: "
        f"{float(run.errors.ratio[worst]):.3g}× its full-{run.info.dtype} tolerance), the size "
        f"a reduced-precision matmul explains; rerun at matmul precision highest, {name} agrees "
        f"with the handwritten gradient at every step re-checked ({checked.size}, up to "
        f"{float(checked.max()):.2g}× the tolerance). {why}; {FIX}."
    )
    entry = (int(run.errors.worst_entry[worst]),)
    at = _step(result, worst)
    return [Finding("precision", name, at, entry, text, fatal=False, labels=(label,))], bad[:0]


def _wrong_entries(g: NDArray, r: NDArray, tol: NDArray) -> list[int]:
    return [int(i) for i in np.flatnonzero(~(np.abs(g.astype(np.float64) - r) <= tol))]


def _split_kinks(
    result: CrossCheckResult, name: str, run: BackendRun, bad: NDArray
) -> tuple[list[int], NDArray]:
    """The failing steps that are kinks (checked: the first :data:`KINK_CHECKS`), and the rest."""
    problem = result.problem
    backend = backend_registry.get(name)
    reference = backend_registry.get(REF)
    rng = np.random.default_rng(0)
    kinks = [
        int(k)
        for k in bad[:KINK_CHECKS]
        if _is_kink(problem, backend, reference, result, run, int(k), rng)
    ]
    rest = np.array([k for k in bad if int(k) not in set(kinks)], dtype=int)
    return kinks, rest


def _is_kink(
    problem: Any,
    backend: Any,
    reference: Any,
    result: CrossCheckResult,
    run: BackendRun,
    k: int,
    rng: np.random.Generator,
) -> bool:
    """Yours and autodiff's agree a step ``h = √ε·max(1, ‖w‖∞)`` away on both sides, along a
    random direction, though not at ``w_k`` itself: the difference lives on a set of measure
    zero, which for a piecewise-smooth loss is a kink (one-sided derivatives differ there)."""
    w = result.reference.weights[k].astype(np.float64)
    if not np.isfinite(w).all():
        return False
    eps = float(np.finfo(problem.dtype).eps)
    v = rng.standard_normal(w.size)
    h = np.sqrt(eps) * max(1.0, float(np.abs(w).max(initial=0.0)))
    points = np.stack([w + h * v, w - h * v]).astype(problem.dtype)
    try:
        r = backend.shadow(problem, points).grads.astype(np.float64)
        g = reference.shadow(problem, points).grads.astype(np.float64)
    except Exception:
        return False
    tol = run.grad_tolerance[k]
    return bool(np.all(np.abs(g - r) <= tol))


def _diagnose(result: CrossCheckResult, run: BackendRun, bad: NDArray) -> Diagnosis | None:
    """What the handwritten gradient's mistake looks like, at up to three failing steps."""
    ref, layout = result.reference, result.layout
    assert ref.grads is not None and layout is not None
    dims = sorted({d for a in result.problem.data if isinstance(a, np.ndarray) for d in a.shape})
    picks = sorted({int(bad[0]), int(bad[len(bad) // 2]), int(bad[-1])})
    found = []
    for k in picks:
        g = ref.grads[k].astype(np.float64)
        r = run.shadow_grads[k].astype(np.float64)
        d = diagnose(layout, g, r, run.grad_tolerance[k], data_dims=dims)
        if d is not None:
            found.append(d)
    if not found:
        return None
    lead = found[0]
    lead.points_checked = len(picks)
    lead.points_agreeing = sum(1 for d in found if lead.same_as(d))
    return lead


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
    t = _step(result, k)
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
    step = _step(result, k)
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
