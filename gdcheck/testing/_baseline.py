r"""Trajectory baselines: record a cross-check run, and say whether a later run moved.

A baseline holds, per step ``t = 0 … K``, the reference's weights :math:`w_t`, cost
:math:`C(w_t)` and handwritten gradient :math:`g_t`, and each backend's scaled gradient error
against it (the shadow check). It is keyed by the model, the configuration (learning rate,
steps, a digest of the data) and the dtype, and records the library versions and platform it
was made under. Files are written by :mod:`gdcheck._baseline_store`.

**When has a trajectory moved?** Two correct runs of the same code differ only by rounding,
and :mod:`gdcheck.tolerance` bounds that: the run's drift tolerance :math:`\tau_d` (relative to
:math:`\|w_t\|_\infty`) and gradient tolerance :math:`\tau_g`. A step has moved when

.. math::

    \|w_t - w^{b}_t\|_\infty > \tau_d \|w^{b}_t\|_\infty
    \quad\text{or}\quad
    |C_t - C^{b}_t| > \tau_g |C^{b}_t| + \|g^{b}_t\|_1\, \tau_d \|w^{b}_t\|_\infty
    + \tfrac12 \lambda_{\max} p\, (\tau_d \|w^{b}_t\|_\infty)^2,

the cost bound being the cost's own rounding (a mean of ``m`` non-negative terms, the form of
:math:`\tau_g`) plus what the allowed weight drift changes it by, to second order. No constant
is invented here: both tolerances are the run's own (``result.runs[...].tolerance``, so a
user's ``tolerance=`` override applies too), and the baseline's metadata says which were used.

**Other versions or platform.** A BLAS or library upgrade reorders sums; that is rounding, but
it can exceed a bound derived for one environment. When the environment differs and every
step stays within :data:`ENVIRONMENT_FACTOR` × the tolerance, the difference is reported as
"recorded under other versions/platform", distinct from "trajectory changed". The factor only
chooses the wording: either way the trajectory differs beyond tolerance and the check fails.

Example::

    >>> import gdcheck
    >>> from gdcheck import baseline
    >>> X, y = gdcheck.data.tutorial(seed=0)
    >>> model = gdcheck.models.linear_regression()
    >>> run = gdcheck.crosscheck(model, X, y, steps=50, backends=("numpy",))
    >>> snap = baseline.snapshot(run, model, X, y)
    >>> baseline.compare(snap, snap).status
    'match'
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import hashlib
import json
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from .._types import Model, NDArray
from ..errors import GdcheckError
from ..trajectory._result import CrossCheckResult

SCHEMA_VERSION = 1
ENVIRONMENT_FACTOR = 100.0
"""How far beyond the same-environment tolerance a difference may go and still be attributed
to other library versions or another platform (wording only; it fails either way)."""

_REFERENCE_ENVIRONMENT = ("gdcheck", "python", "numpy", "blas", "platform", "machine")
"""What the reference (NumPy, handwritten) trajectory can depend on."""

_SHOWN_ENTRIES = 6


class BaselineMismatch(GdcheckError, AssertionError):
    """A trajectory differs from its recorded baseline, or the baseline is missing or unreadable."""

    __module__ = "gdcheck.testing"


@dataclass
class Snapshot:
    """One recorded run: per-step arrays and the metadata that keys and explains them."""

    arrays: dict[str, NDArray]  # weights (K+1, p), losses (K+1,), grads (K+1, p), error.<backend>
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> dict[str, Any]:
        return self.meta["key"]

    @property
    def digest(self) -> str:
        """Short hash of the key: model, configuration and dtype."""
        return key_digest(self.key)


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


def data_digest(X: Any, y: Any) -> dict[str, Any]:
    """Shapes and a SHA-256 of the data as float64, so changed data is a changed configuration."""
    h = hashlib.sha256()
    shapes = []
    for a in (X, y):
        arr = np.ascontiguousarray(np.asarray(a, dtype=np.float64))
        shapes.append(list(arr.shape))
        h.update(str(arr.shape).encode())
        h.update(arr.tobytes())
    return {"X_shape": shapes[0], "y_shape": shapes[1], "sha256": h.hexdigest()[:16]}


def model_key(model: Model) -> dict[str, Any]:
    """The model's name and, for a dataclass model, its JSON-representable fields."""
    params: dict[str, Any] = {}
    if dataclasses.is_dataclass(model):
        for f in dataclasses.fields(model):
            value = getattr(model, f.name)
            if f.name != "name" and isinstance(value, (bool, int, float, str, type(None))):
                params[f.name] = value
    return {"name": model.name, "params": params}


def make_key(result: CrossCheckResult, model: Model, X: Any, y: Any) -> dict[str, Any]:
    cfg = result.config
    return {
        "model": model_key(model),
        "dtype": cfg.dtype,
        "lr": cfg.lr,
        "steps": cfg.steps,
        "data": data_digest(X, y),
    }


def environment(result: CrossCheckResult) -> dict[str, Any]:
    """Library versions and platform of this run (see :func:`gdcheck.report.build.environment`)."""
    from ..report.build import environment as _env

    env = {k: v for k, v in _env().items() if k in _REFERENCE_ENVIRONMENT}
    env["gdcheck"] = __version__
    for name, run in result.runs.items():
        info = run.info
        env[f"backend.{name}"] = (
            f"{info.library} {info.version} on {info.device}, {info.matmul_precision}"
        )
    return env


def snapshot(
    result: CrossCheckResult, model: Model, X: Any, y: Any, *, test: str | None = None
) -> Snapshot:
    """What a baseline stores for ``result`` (the run of ``model`` on ``X``, ``y``)."""
    ref = result.reference
    grads = ref.grads if ref.grads is not None else np.full_like(ref.weights, np.nan)
    arrays: dict[str, NDArray] = {
        "weights": np.asarray(ref.weights),
        "losses": np.asarray(ref.losses),
        "grads": np.asarray(grads),
    }
    for name, run in result.runs.items():
        arrays[f"error.{name}"] = np.asarray(run.errors.rel, dtype=np.float64)
    tol = _tolerance(result)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "key": make_key(result, model, X, y),
        "test": test,
        "backends": list(result.runs),
        "diverged_at": ref.diverged_at,
        "tolerance": {
            "drift": tol.drift,
            "gradient": tol.grad,
            "source": tol.derivation.get("source", "derived"),
            "rule": "moved at step t when ‖w_t − w_t^b‖∞ > drift·‖w_t^b‖∞, or "
            "|C_t − C_t^b| > gradient·|C_t^b| + ‖g_t^b‖₁·drift·‖w_t^b‖∞ + ½λmax·p·(drift·‖w_t^b‖∞)²",
            "environment_factor": ENVIRONMENT_FACTOR,
        },
        "lambda_max": None if result.eigenvalues is None else float(np.max(result.eigenvalues)),
        "environment": environment(result),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return Snapshot(arrays, meta)


def _tolerance(result: CrossCheckResult) -> Any:
    """The run's full-precision tolerance (the same for every backend of one run)."""
    runs = result.runs
    run = runs.get("numpy") or next(iter(runs.values()))
    return run.tolerance


def same_recording(a: Snapshot, b: Snapshot) -> bool:
    """True when ``b`` would store exactly what ``a`` stores (no need to rewrite the files)."""
    if a.key != b.key or a.meta["environment"] != b.meta["environment"]:
        return False
    if set(a.arrays) != set(b.arrays):
        return False
    return all(
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
        for x, y in ((a.arrays[k], b.arrays[k]) for k in a.arrays)
    )


@dataclass(frozen=True)
class Comparison:
    """How a run compares with its baseline.

    ``status``: ``match``; ``changed`` (the trajectory moved beyond tolerance); ``environment``
    (it moved, but only as far as other versions/platform explain). ``lines`` say where, which
    entries and by how much.
    """

    status: str
    first_step: int | None
    entries: tuple[int, ...]
    max_drift: float
    tolerance: float
    config_changes: dict[str, tuple[Any, Any]]
    environment_changes: dict[str, tuple[Any, Any]]
    lines: tuple[str, ...]

    @property
    def passed(self) -> bool:
        return self.status == "match" and not self.config_changes

    @property
    def message(self) -> str:
        return "\n".join(self.lines)


def compare(stored: Snapshot, current: Snapshot, drift_tol: float | None = None) -> Comparison:
    """Compare ``current`` with the ``stored`` baseline over the steps both have.

    ``drift_tol`` defaults to the current run's drift tolerance (see the module docstring).
    """
    tol = current.meta["tolerance"]
    tau_d = float(tol["drift"] if drift_tol is None else drift_tol)
    tau_g = float(tol["gradient"])
    lam = current.meta.get("lambda_max") or 0.0
    wb, w = (
        stored.arrays["weights"].astype(np.float64),
        current.arrays["weights"].astype(np.float64),
    )
    cb, c = stored.arrays["losses"].astype(np.float64), current.arrays["losses"].astype(np.float64)
    gb = stored.arrays["grads"].astype(np.float64)
    n = min(len(wb), len(w))
    config = _changes(_flat(stored.key), _flat(current.key))
    env = _environment_changes(stored.meta["environment"], current.meta["environment"])
    if wb.shape[1:] != w.shape[1:]:
        line = f"the parameters changed shape: {wb.shape[1]} entries recorded, {w.shape[1]} now."
        return Comparison("changed", 0, (), math.inf, tau_d, config, env, (line,))

    wb, w, cb, c, gb = wb[:n], w[:n], cb[:n], c[:n], gb[:n]
    norm = np.abs(wb).max(axis=1)
    norm = np.where(norm > 0, norm, 1.0)  # w_0 = 0: compare absolutely there
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(w - wb)
        drift = _nan_aware(diff.max(axis=1), w, wb) / norm
        allowed_dw = tau_d * norm
        loss_tol = (
            tau_g * np.abs(cb)
            + np.abs(gb).sum(axis=1) * allowed_dw
            + 0.5 * lam * w.shape[1] * allowed_dw**2
        )
        loss_diff = np.abs(c - cb)
        loss_diff = np.where(np.isnan(c) != np.isnan(cb), np.inf, np.nan_to_num(loss_diff, nan=0.0))
        loss_excess = loss_diff / np.where(loss_tol > 0, loss_tol, np.finfo(float).tiny)
    moved_w = drift > tau_d
    moved_c = loss_diff > loss_tol
    moved = moved_w | moved_c
    finite = drift[np.isfinite(drift)]
    max_drift = float(finite.max()) if finite.size else (math.inf if n else 0.0)
    if not moved.any():
        lines = (
            f"the trajectory matches the baseline at all {n} shared steps (relative drift ≤ {tau_d:.3g}).",
        )
        return Comparison("match", None, (), max_drift, tau_d, config, env, lines)

    k = int(np.flatnonzero(moved)[0])
    entries = tuple(
        int(i) for i in np.flatnonzero(_nan_aware(diff[k], w[k], wb[k]) > allowed_dw[k])
    )
    worst_excess = max(
        float(np.nanmax(np.where(np.isfinite(drift), drift, np.inf))) / tau_d
        if tau_d > 0
        else math.inf,
        float(np.max(loss_excess)),
    )
    within_env = bool(env) and worst_excess <= ENVIRONMENT_FACTOR
    status = "environment" if within_env else "changed"
    lines = [
        _first_move_line(
            k, n, entries, w[k], wb[k], drift[k], tau_d, c[k], cb[k], loss_tol[k], moved_w[k]
        )
    ]
    worst = int(np.nanargmax(np.where(np.isfinite(drift), drift, np.inf)))
    lines.append(
        f"largest move: relative drift {drift[worst]:.3g} at step {worst}; final weights "
        f"{_vec(wb[-1])} → {_vec(w[-1])}; final cost {cb[-1]:.10g} → {c[-1]:.10g}."
    )
    g0 = _gradient_at_start(stored, current, tau_g, lr_changed="lr" in config)
    if g0:
        lines.append(g0)
    errors = _error_lines(stored, current)
    if errors:
        lines.append(errors)
    return Comparison(status, k, entries, max_drift, tau_d, config, env, tuple(lines))


def _nan_aware(diff: NDArray, a: NDArray, b: NDArray) -> NDArray:
    """``diff`` with NaN where both are NaN read as 0, and NaN against a number as ∞."""
    both = np.isnan(a) & np.isnan(b)
    one = np.isnan(a) != np.isnan(b)
    if diff.ndim == 1 and a.ndim == 2:
        both, one = both.all(axis=1), one.any(axis=1)
    return np.where(one, np.inf, np.where(both, 0.0, diff))


def _first_move_line(
    k: int,
    n: int,
    entries: tuple[int, ...],
    w: NDArray,
    wb: NDArray,
    drift: float,
    tau_d: float,
    c: float,
    cb: float,
    ctol: float,
    weights_moved: bool,
) -> str:
    if weights_moved:
        shown = ", ".join(
            f"w[{i}] {wb[i]:.10g} → {w[i]:.10g} (Δ {w[i] - wb[i]:+.3g})"
            for i in entries[:_SHOWN_ENTRIES]
        )
        more = (
            f" and {len(entries) - _SHOWN_ENTRIES} more entries"
            if len(entries) > _SHOWN_ENTRIES
            else ""
        )
        return (
            f"first moved at step {k} of {n - 1}: {shown}{more}; relative drift {drift:.3g} > "
            f"tolerance {tau_d:.3g} (cost {cb:.10g} → {c:.10g})."
        )
    return (
        f"first moved at step {k} of {n - 1}: the cost {cb:.10g} → {c:.10g} (Δ {c - cb:+.3g}, "
        f"tolerance {ctol:.3g}) while the weights stayed within tolerance: the cost code changed."
    )


def _gradient_at_start(
    stored: Snapshot, current: Snapshot, tau_g: float, lr_changed: bool = False
) -> str | None:
    """At ``w_0`` (identical in both runs) compare the handwritten gradients directly."""
    gb, g = (
        stored.arrays["grads"][0].astype(np.float64),
        current.arrays["grads"][0].astype(np.float64),
    )
    if gb.shape != g.shape or not (np.isfinite(gb).all() and np.isfinite(g).all()):
        return None
    wb, w = stored.arrays["weights"][0], current.arrays["weights"][0]
    if not np.array_equal(wb, w):
        return None
    scale = max(float(np.abs(gb).max()), np.finfo(float).tiny)
    bad = np.flatnonzero(np.abs(g - gb) > tau_g * scale)
    if not bad.size:
        if lr_changed:
            return "the handwritten gradient at w_0 is unchanged: the learning rate moved the trajectory."
        return (
            "the handwritten gradient at w_0 is unchanged, so the update (or the gradient away "
            "from w_0) changed."
        )
    parts = []
    for i in bad[:_SHOWN_ENTRIES]:
        ratio = f" (×{g[i] / gb[i]:.4g})" if gb[i] != 0 else ""
        parts.append(f"w[{i}] {gb[i]:.10g} → {g[i]:.10g}{ratio}")
    return "the handwritten gradient at w_0 changed: " + ", ".join(parts) + "."


def _error_lines(stored: Snapshot, current: Snapshot) -> str | None:
    parts = []
    for name in current.meta.get("backends", []):
        key = f"error.{name}"
        if key in stored.arrays and key in current.arrays and name != "numpy":
            before, now = (
                np.nanmax(stored.arrays[key], initial=0.0),
                np.nanmax(current.arrays[key], initial=0.0),
            )
            parts.append(f"{name} {before:.3g} → {now:.3g}")
    return (
        ("largest scaled gradient error against autodiff: " + ", ".join(parts) + ".")
        if parts
        else None
    )


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    return {k: (a.get(k), b.get(k)) for k in sorted(set(a) | set(b)) if a.get(k) != b.get(k)}


def _environment_changes(a: dict[str, Any], b: dict[str, Any]) -> dict[str, tuple[Any, Any]]:
    """Differences in what the reference trajectory depends on, and in backends both ran."""
    keys = [k for k in a if k in _REFERENCE_ENVIRONMENT or (k.startswith("backend.") and k in b)]
    keys += [k for k in _REFERENCE_ENVIRONMENT if k in b and k not in a]
    return {k: (a.get(k), b.get(k)) for k in dict.fromkeys(keys) if a.get(k) != b.get(k)}


def describe_changes(changes: dict[str, tuple[Any, Any]]) -> str:
    return ", ".join(f"{k} {_short(old)} → {_short(new)}" for k, (old, new) in changes.items())


def _short(v: Any) -> str:
    return "(none)" if v is None else str(v)


def _vec(a: NDArray) -> str:
    shown = ", ".join(f"{x:.6g}" for x in a[:_SHOWN_ENTRIES])
    return f"[{shown}{', …' if len(a) > _SHOWN_ENTRIES else ''}]"
