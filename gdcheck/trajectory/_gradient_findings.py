"""The gradient check's findings: differences rounding explains (``precision``), kinks
(autodiff's subgradient convention at a non-differentiable point), a reduced matmul precision
shown by a rerun at ``highest``, and what is left: a wrong handwritten gradient, with the
mistake it looks like (:func:`~gdcheck.check._diagnosis.diagnose`)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import backends as backend_registry
from .._types import NDArray
from ..backends._device import FIX, REDUCED_REL_MAX, recheck_at_highest, reduced_precision
from ..check._diagnosis import PRECISION_MARGIN, Diagnosis, diagnose
from ._result import BackendRun, CrossCheckResult, Finding

KINK_CHECKS = 16
"""Failing steps examined for a kink (a convention difference at a non-differentiable point)."""

REF = backend_registry.REFERENCE


def _steps_word(result: CrossCheckResult) -> str:
    return "steps" if result.reference.steps_at is None else "recorded steps"


def step_of(result: CrossCheckResult, row: int) -> int:
    """The true step of row ``row`` (they differ with ``record_every`` > 1)."""
    return int(result.recorded_steps[row])


def gradient_findings(
    result: CrossCheckResult, name: str, run: BackendRun, pair: str, floor_backend: Any
) -> list[Finding]:
    """The shadow gradient check's findings for backend ``name`` against the reference."""
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
                step_of(result, k),
                (entry,),
                f"{pair}: at {rounding.size} step(s) the gradient differs by up to "
                f"{ratio[k]:.3g}× its tolerance (worst at step {step_of(result, k)}, "
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
                    step_of(result, k),
                    tuple(entries[:8]),
                    f"{pair}: at {len(kinks)} step(s) (first {step_of(result, k)}) the handwritten "
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
                step_of(result, k),
                (entry,),
                f"{pair}: gradient differs at {bad.size} of {ratio.size} {_steps_word(result)}, "
                f"first at step {step_of(result, k)}, "
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
        f"{float(rel.max()):.2g} relative (worst at step {step_of(result, worst)}, {label}: "
        f"{float(run.errors.ratio[worst]):.3g}× its full-{run.info.dtype} tolerance), the size "
        f"a reduced-precision matmul explains; rerun at matmul precision highest, {name} agrees "
        f"with the handwritten gradient at every step re-checked ({checked.size}, up to "
        f"{float(checked.max()):.2g}× the tolerance). {why}; {FIX}."
    )
    entry = (int(run.errors.worst_entry[worst]),)
    at = step_of(result, worst)
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
