"""Build the JSON report (a plain dict) from a :class:`~gdcheck.CrossCheckResult`."""

from __future__ import annotations

import datetime as _dt
import math
import platform
import sys
import warnings
from dataclasses import asdict
from typing import Any

import numpy as np

from .. import __version__
from .._taylor_figure import taylor_record
from .._words import ordinal
from .schema import SCHEMA_VERSION

MAX_POINTS = 1000
"""Per-step series longer than this are stored in buckets of ``stride`` steps: errors and
drift as each bucket's maximum (so no spike is hidden), the loss at each bucket's first step."""


def num(x: Any) -> float | None:
    """A JSON-safe float: NaN and ±Inf become ``None``."""
    x = float(x)
    return x if math.isfinite(x) else None


def nums(a: Any, digits: int | None = None) -> list[float | None]:
    values = np.asarray(a, dtype=np.float64).ravel()
    if digits is not None:
        return [None if not math.isfinite(v) else float(f"{v:.{digits}g}") for v in values.tolist()]
    return [num(v) for v in values.tolist()]


def _buckets(n: int) -> int:
    """Steps per bucket: 10,001 points (steps 0 … 10,000) give 1,001 buckets of 10."""
    return max(1, math.ceil((n - 1) / MAX_POINTS))


def _bucket_max(values: np.ndarray, stride: int) -> np.ndarray:
    n = len(values)
    padded = np.full(math.ceil(n / stride) * stride, np.nan)
    padded[:n] = values
    with warnings.catch_warnings():  # an all-NaN bucket (after divergence) stays NaN
        warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmax(padded.reshape(-1, stride), axis=1)


def environment() -> dict[str, Any]:
    """Versions and platform: what a rounding-level difference may depend on."""
    from ..backends.numpy_backend import _blas_name

    env: dict[str, Any] = {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "machine": platform.machine(),
        "numpy": np.__version__,
        "blas": _blas_name(),
    }
    for name in ("jax", "optax", "torch"):
        module = sys.modules.get(name)
        env[name] = getattr(module, "__version__", None) if module else None
    return env


def build_report(result: Any) -> dict[str, Any]:
    cfg = result.config
    ref = result.reference
    n = len(ref.losses)
    stride = _buckets(n)
    at = result.recorded_steps
    steps = [int(t) for t in at[::stride]]
    every = int(getattr(cfg, "record_every", 1))
    series: dict[str, Any] = {"stride": stride, "steps": steps}
    if every > 1:  # a point is a recorded step; a bucket of `stride` points spans stride·K steps
        series["record_every"] = every
    backends: dict[str, Any] = {}
    for name, run in result.runs.items():
        e = run.errors
        traj = run.trajectory
        worst = int(np.nanargmax(e.ratio)) if e.ratio.size and np.isfinite(e.ratio).any() else 0
        finite_drift = run.drift[np.isfinite(run.drift)]
        backends[name] = {
            "info": asdict(run.info),
            "tolerance": {
                "gradient": run.tolerance.grad,
                "drift": run.tolerance.drift,
                "gradient_with_precision": run.tolerance_precision.grad,
                "drift_with_precision": run.tolerance_precision.drift,
                "source": run.tolerance.derivation.get("source", "derived"),
            },
            "shadow": {
                "max_abs_error": num(e.abs.max()) if e.abs.size else 0.0,
                "max_rel_error": num(e.rel.max()) if e.rel.size else 0.0,
                "max_ulp": num(e.ulp.max()) if e.ulp.size else 0.0,
                "worst_step": int(at[worst]) if len(at) > worst else worst,
                "worst_entry": int(e.worst_entry[worst]) if e.worst_entry.size else 0,
                "worst_entry_label": result.layout.label(int(e.worst_entry[worst]))
                if e.worst_entry.size and result.layout is not None
                else None,
                "max_error_over_tolerance": num(e.ratio.max()) if e.ratio.size else 0.0,
                "steps_checked": int(e.ratio.size),
                "steps_over_tolerance": int((~(e.ratio <= 1.0)).sum()),
                "seconds": run.shadow_seconds,
            },
            "update": None
            if run.update_ratio is None
            else {
                "max_error_over_tolerance": num(np.nanmax(run.update_ratio, initial=0.0)),
                "steps_checked": len(run.update_ratio),
                "steps_over_tolerance": int(
                    (np.nan_to_num(run.update_ratio).max(axis=1, initial=0.0) > 1).sum()
                ),
            },
            "trajectory": {
                "final_weights": nums(run.final_weights),
                "final_loss": num(traj.losses[np.isfinite(traj.losses)][-1])
                if np.isfinite(traj.losses).any()
                else None,
                "final_drift": num(run.final_drift),
                "max_drift": num(finite_drift.max()) if finite_drift.size else None,
                "diverged_at": traj.diverged_at,
                "distance_to_least_squares": result.distance_to_optimum(name),
                "seconds": traj.seconds,
            },
        }
        series[name] = {
            "gradient_rel_error": nums(_bucket_max(e.rel, stride), 4),
            "gradient_abs_error": nums(_bucket_max(e.abs, stride), 4),
            "gradient_ulp": nums(_bucket_max(e.ulp, stride), 4),
            "drift": nums(_bucket_max(run.drift, stride), 4),
            "loss": nums(traj.losses[::stride], 10),
        }
    findings = [asdict(f) for f in result.findings]
    convergence = result.convergence
    report = {
        "schema_version": SCHEMA_VERSION,
        "tool": {"name": "gdcheck", "version": __version__},
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "config": config_dict(cfg),
        "verdict": {
            "passed": result.passed,
            "compared": result.compared,
            "text": verdict_text(result),
            "findings": findings,
            "convergence": convergence.to_dict(),
        },
        "notes": list(result.notes),
        "environment": environment(),
        "reference": {
            "backend": "numpy",
            "gradient": result.problem.model.description or "handwritten model.grad"
            if result.problem is not None
            else "handwritten model.grad",
            "cost_checkpoints": [[k, c] for k, c in result.cost_checkpoints()],
            "final_weights": nums(result.runs["numpy"].final_weights)
            if "numpy" in result.runs
            else nums(ref.weights[-1]),
            "diverged_at": ref.diverged_at,
        },
        "analysis": {
            "hessian_eigenvalues": None if result.eigenvalues is None else nums(result.eigenvalues),
            "lr_bound": result.lr_bound,
            "condition_number": result.condition_number,
            "best_lr": result.best_lr,
            "conditioning": conditioning_text(result),
            "least_squares": None if result.optimum is None else nums(result.optimum),
            "scaling": None if result.scaling is None else result.scaling.to_dict(),
            "original_units": _original_units(result),
            "taylor": taylor_dict(getattr(result, "taylor", None)),
        },
        "backends": backends,
        "parallel": parallel.to_dict() if (parallel := getattr(result, "parallel", None)) else None,
        "series": series,
        "recording": recording_dict(result, at, every),
        "seconds": result.seconds,
    }
    return json_safe(report)


def config_dict(cfg: Any) -> dict[str, Any]:
    """The run's configuration; ``record_every`` only when it is not 1, so that a report of
    every step reads as it always has (and is the same run as one written before K existed)."""
    config = asdict(cfg)
    if config.get("record_every", 1) == 1:
        config.pop("record_every", None)
    return config


def recording_dict(result: Any, at: np.ndarray, every: int) -> dict[str, Any]:
    """Which steps were recorded and checked: every one (``steps`` None), or with
    ``record_every`` k the list 0, k, 2k, … and the last, and the note that says what a
    mistake visible only between them does (it is missed)."""
    sparse = every > 1
    note = next((x for x in result.notes if x.startswith(f"record_every={every}:")), None)
    return {
        "record_every": every,
        "recorded": len(at),
        "steps": [int(t) for t in at] if sparse else None,
        "every_step_checked": not sparse,
        "note": note if sparse else None,
    }


def json_safe(value: Any) -> Any:
    """The report with every non-finite float (a diverged run's NaN and ±Inf) as ``None``."""
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    if isinstance(value, float | np.floating):
        return num(value)
    if isinstance(value, np.integer):
        return int(value)
    return value


def taylor_dict(test: Any) -> dict[str, Any] | None:
    """The starting point's Taylor test (steps, remainders, order, note), or why it did not run."""
    if test is None:
        return None
    if isinstance(test, str):
        return {"order": None, "looks_right": None, "note": test, "hs": [], "remainders": []}
    return taylor_record(test)


def _original_units(result: Any) -> dict[str, Any] | None:
    """Final weights mapped back to the raw features (standardised linear models only)."""
    out = {name: result.weights_in_original_units(name) for name in result.runs}
    kept = {n: nums(w) for n, w in out.items() if w is not None}
    if result.optimum is not None and kept and result.scaling is not None:
        kept["least squares w*"] = nums(result.scaling.to_original(result.optimum))
    return kept or None


SPREAD_ADVICE = 10.0
"""Feature scales differing by more than this factor, with κ(H) ≥ :data:`KAPPA_ADVICE`, get the
advice to standardise."""
KAPPA_ADVICE = 1e3


def conditioning_text(result: Any) -> str | None:
    """κ(H), the feature scales, and — when the scales make the bound tiny — the fix."""
    kappa = result.condition_number
    scaling = result.scaling
    if kappa is None:
        return None
    text = f"κ(H) = λmax/λmin = {kappa:.4g}"
    if scaling is not None and scaling.standardized:
        return text + " (features standardised)."
    if scaling is not None and scaling.spread >= SPREAD_ADVICE and kappa >= KAPPA_ADVICE:
        lo, hi = min(scaling.scales), max(scaling.scales)
        return (
            f"{text}. The features' scales differ {scaling.spread:.3g}-fold (σ from {lo:.3g} "
            f"to {hi:.3g}), which makes the Hessian ill-conditioned and the stable step tiny; "
            "standardise them: gdcheck run --standardize (or crosscheck(..., standardize=True))."
        )
    return text + "."


CONSEQUENCE = "A consequence of"
"""Findings whose message says this follow from another finding: counted, not repeated."""


def _headline(findings: list[Any]) -> list[str]:
    """One sentence per distinct finding: backends that found the same thing (kind, step,
    entries) are named together, and consequences of another finding are left to the list."""
    groups: dict[tuple, list[Any]] = {}
    for f in findings:
        if CONSEQUENCE in f.message:
            continue
        groups.setdefault((f.kind, f.step, tuple(f.labels or f.entries)), []).append(f)
    lines = []
    for same in groups.values():
        first, others = same[0], [f.backend for f in same[1:]]
        lines.append(first.message + (f" ({', '.join(others)}: the same)" if others else ""))
    return lines


def _recorded_where(at: np.ndarray, every: int) -> str:
    """Where a ``record_every`` > 1 run was checked: the recorded points, not every step."""
    points = (
        ", ".join(f"w_{int(t)}" for t in at)
        if len(at) <= 3
        else (f"w_0, w_{int(at[1])}, … w_{int(at[-1])}")
    )
    return (
        f"at each of the {len(at):,} recorded points {points} (every {ordinal(every)} of the "
        f"{int(at[-1]) + 1:,} points w_0 … w_{int(at[-1])}, and the last; the steps between "
        "them were not checked)"
    )


def verdict_text(result: Any) -> str:
    cfg = result.config
    fatal = [f for f in result.findings if f.fatal]
    if fatal:
        blame = {
            "gradient": "the handwritten gradient is wrong",
            "update": "the handwritten update is wrong (the gradient is right)",
            "both": "the handwritten gradient and update are both wrong",
        }.get(result.at_fault or "", "")
        lines = _headline(fatal)
        follow = sum(1 for f in fatal if CONSEQUENCE in f.message)
        return (
            f"FAIL — {len(lines)} finding(s)"
            + (f"; {blame}" if blame else "")
            + ": "
            + " ".join(lines)
            + (f" (+{follow} drift finding(s) that follow from it.)" if follow else "")
        )
    others = [n for n in result.runs if n != "numpy"]
    n = len(result.reference.losses)
    where = (
        "at the one point w_0"
        if n == 1
        else f"at every one of the {n:,} points w_0 … w_{n - 1} ({n - 1:,} updates)"
    )
    if getattr(cfg, "record_every", 1) > 1:
        where = _recorded_where(result.recorded_steps, cfg.record_every)
    if not others:
        text = (
            f"NOT CHECKED — only the NumPy reference ran (no autodiff backend ran): its "
            f"{n - 1:,}-update run finished without diverging, but nothing was compared "
            f"({cfg.dtype}); install jax/torch: pip install 'gdcheck[all]'."
        )
    else:
        verb, own = (
            ("agrees", "its own trajectory stays")
            if len(others) == 1
            else ("agree", "their own trajectories stay")
        )
        text = (
            f"PASS — {', '.join(others)} {verb} with the handwritten gradient and update {where} "
            f"(shadow checks), and {own} within tolerance of the reference ({cfg.dtype})."
        )
    explained = _headline([f for f in result.findings if not f.fatal])
    return text + (" Explained, not failures: " + " ".join(explained) if explained else "")
