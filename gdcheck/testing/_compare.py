"""Compare a run with its recorded baseline, step by step, against the run's own tolerance.

The rule is in :mod:`gdcheck.testing._baseline`'s docstring; this module applies it and words
the result: the first step that moved, the entry as the params name it, and how far.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..params import ParamLayout
from ._baseline import (
    _REFERENCE_ENVIRONMENT,
    _SHOWN_ENTRIES,
    ENVIRONMENT_FACTOR,
    SCHEMA_VERSION,
    Snapshot,
)


@dataclass(frozen=True)
class Comparison:
    """How a run compares with its baseline.

    ``status``: ``match``; ``changed`` (the trajectory, or the gradient at the recorded
    weights, moved beyond tolerance); ``environment`` (it moved, but only as far as other
    versions/platform explain). ``first_step`` is the first step the trajectory moved (or,
    when only the gradient did, the step it changed at); ``entries`` the flat indices there
    and ``labels`` their names (``W1[2, 0]``); ``tolerance`` the drift tolerance at the step of
    the largest move against its tolerance (``excess`` × it is that move); ``lines`` say where,
    which entries and by how much.
    """

    status: str
    first_step: int | None
    entries: tuple[int, ...]
    max_drift: float
    tolerance: float
    config_changes: dict[str, tuple[Any, Any]]
    environment_changes: dict[str, tuple[Any, Any]]
    lines: tuple[str, ...]
    labels: tuple[str, ...] = ()
    excess: float = 0.0

    @property
    def passed(self) -> bool:
        return self.status == "match" and not self.config_changes

    @property
    def message(self) -> str:
        return "\n".join(self.lines)


def compare(stored: Snapshot, current: Snapshot, drift_tol: float | None = None) -> Comparison:
    """Compare ``current`` with the ``stored`` baseline over the steps both have.

    The tolerances are the current run's, per step (see the module docstring); ``drift_tol``
    replaces the per-step drift tolerance by one constant.
    """
    config = _changes(_flat(stored.key), _flat(current.key))
    env = _environment_changes(stored.meta["environment"], current.meta["environment"])
    tol = current.meta["tolerance"]
    tau_c = float(tol.get("cost", tol["gradient"]))
    schema = stored.meta.get("schema_version")
    if schema != SCHEMA_VERSION:
        line = (
            f"the baseline was recorded in format {schema} (an older gdcheck); this gdcheck "
            f"records format {SCHEMA_VERSION}: re-record it."
        )
        return Comparison("changed", 0, (), math.inf, 0.0, config, env, (line,))
    layout_line = _layout_change(stored, current)
    if layout_line:
        return Comparison("changed", 0, (), math.inf, 0.0, config, env, (layout_line,))

    wb = stored.arrays["weights"].astype(np.float64)
    w = current.arrays["weights"].astype(np.float64)
    n = min(len(wb), len(w))
    wb, w = wb[:n], w[:n]
    cb = stored.arrays["losses"][:n].astype(np.float64)
    c = current.arrays["losses"][:n].astype(np.float64)
    gb = stored.arrays["grads"][:n].astype(np.float64)
    g = current.arrays["grads"][:n].astype(np.float64)
    if drift_tol is None:
        tau = current.arrays["drift_tolerance"][:n].astype(np.float64)
    else:
        tau = np.full(n, float(drift_tol))
    gtol = current.arrays["grad_tolerance"][:n].astype(np.float64)
    lam = current.meta.get("lambda_max") or 0.0
    label = _labeler(current)

    norm = np.abs(wb).max(axis=1, initial=0.0)
    norm = np.where(norm > 0, norm, 1.0)  # w_0 = 0: compare absolutely there
    with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
        diff = np.abs(w - wb)
        drift = _nan_aware(diff.max(axis=1, initial=0.0), w, wb) / norm
        allowed_dw = tau * norm
        loss_tol = (
            tau_c * np.abs(cb)
            + np.abs(gb).sum(axis=1) * allowed_dw
            + 0.5 * lam * w.shape[1] * allowed_dw**2
        )
        loss_diff = np.abs(c - cb)
        loss_diff = np.where(np.isnan(c) != np.isnan(cb), np.inf, np.nan_to_num(loss_diff, nan=0.0))
        # the gradient, where both runs stand at exactly the same weights
        same = np.all(w == wb, axis=1)
        gdiff = _nan_aware(np.abs(g - gb), g, gb)
        moved_g_entry = same[:, None] & (gdiff > gtol)
        excess_w = _ratio(drift, tau)
        excess_c = _ratio(loss_diff, loss_tol)
        excess_g = np.where(same[:, None], _ratio(gdiff, gtol), 0.0).max(axis=1, initial=0.0)
    moved_w = drift > tau
    moved_c = loss_diff > loss_tol
    moved_t = moved_w | moved_c
    moved_g = moved_g_entry.any(axis=1)
    finite = drift[np.isfinite(drift)]
    max_drift = float(finite.max()) if finite.size else (math.inf if n else 0.0)
    excess = np.maximum(np.maximum(excess_w, excess_c), excess_g)
    worst = int(np.argmax(excess)) if n else 0
    worst_excess = float(excess[worst]) if n else 0.0
    tol_at = float(tau[worst]) if n else 0.0
    if not (moved_t.any() or moved_g.any()):
        lines = (
            f"the trajectory matches the baseline at all {n} shared steps (relative drift "
            f"≤ {float(np.max(tau, initial=0.0)):.3g}, the run's largest per-step tolerance).",
        )
        return Comparison(
            "match", None, (), max_drift, tol_at, config, env, lines, (), worst_excess
        )

    status = "environment" if bool(env) and worst_excess <= ENVIRONMENT_FACTOR else "changed"
    kg = int(np.flatnonzero(moved_g)[0]) if moved_g.any() else None
    g_entries = () if kg is None else tuple(int(i) for i in np.flatnonzero(moved_g_entry[kg]))
    g_line = None if kg is None else _gradient_line(kg, g_entries, g[kg], gb[kg], label)
    if not moved_t.any():
        assert kg is not None and g_line is not None
        lines = (
            f"first moved at step {kg} of {n - 1}: {g_line}, while the weights and the cost "
            f"stayed within tolerance (an update that normalises its step, as Adam does, hides "
            f"a constant factor in the gradient).",
        )
        labels = tuple(label(i) for i in g_entries)
        return Comparison(
            status, kg, g_entries, max_drift, tol_at, config, env, lines, labels, worst_excess
        )

    k = int(np.flatnonzero(moved_t)[0])
    entries = tuple(
        int(i) for i in np.flatnonzero(_nan_aware(diff[k], w[k], wb[k]) > allowed_dw[k])
    )
    lines = [
        _first_move_line(
            k,
            n,
            entries,
            w[k],
            wb[k],
            drift[k],
            tau[k],
            c[k],
            cb[k],
            loss_tol[k],
            moved_w[k],
            label,
        )
    ]
    big = int(np.nanargmax(np.where(np.isfinite(drift), drift, np.inf)))
    lines.append(
        f"largest move: relative drift {drift[big]:.3g} at step {big} (tolerance "
        f"{tau[big]:.3g}); final weights {_vec(wb[-1])} → {_vec(w[-1])}; final cost "
        f"{cb[-1]:.10g} → {c[-1]:.10g}."
    )
    if g_line is not None:
        lines.append(g_line + ".")
    elif same[0] and n:
        if "lr" in config:
            lines.append(
                "the handwritten gradient at w_0 is unchanged: the learning rate moved the trajectory."
            )
        else:
            lines.append(
                "the handwritten gradient at w_0 is unchanged, so the update (or the gradient "
                "away from w_0) changed."
            )
    errors = _error_lines(stored, current)
    if errors:
        lines.append(errors)
    labels = tuple(label(i) for i in entries)
    return Comparison(
        status, k, entries, max_drift, tol_at, config, env, tuple(lines), labels, worst_excess
    )


def _ratio(a: NDArray, tol: NDArray) -> NDArray:
    """``a / tol``, with 0/0 read as 0 and x/0 as ∞ (a step whose tolerance is 0: ``w_0``)."""
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(tol > 0, a / np.where(tol > 0, tol, 1.0), np.where(a > 0, np.inf, 0.0))
    return np.nan_to_num(out, nan=0.0, posinf=np.inf)


def _labeler(snap: Snapshot) -> Any:
    layout = snap.layout
    if layout is None:
        return lambda i: f"w[{i}]"
    return layout.label


def _layout_change(stored: Snapshot, current: Snapshot) -> str | None:
    a, b = stored.layout, current.layout
    pa, pb = stored.arrays["weights"].shape[1:], current.arrays["weights"].shape[1:]
    if a is not None and b is not None and (a.names, a.shapes) != (b.names, b.shapes):
        return f"the parameters changed: recorded {_describe_layout(a)}; now {_describe_layout(b)}."
    if pa != pb:
        return f"the parameters changed shape: {pa[0]} entries recorded, {pb[0]} now."
    return None


def _describe_layout(layout: ParamLayout) -> str:
    return ", ".join(f"{n} {tuple(s)}" for n, s in zip(layout.names, layout.shapes, strict=True))


def _nan_aware(diff: NDArray, a: NDArray, b: NDArray) -> NDArray:
    """``diff`` with NaN where both are NaN read as 0, and NaN against a number as ∞."""
    both = np.isnan(a) & np.isnan(b)
    one = np.isnan(a) != np.isnan(b)
    if diff.ndim == 1 and a.ndim == 2:
        both, one = both.all(axis=1), one.any(axis=1)
    return np.where(one, np.inf, np.where(both, 0.0, diff))


def _more(entries: tuple[int, ...]) -> str:
    extra = len(entries) - _SHOWN_ENTRIES
    return f" and {extra} more entries" if extra > 0 else ""


def _first_move_line(
    k: int,
    n: int,
    entries: tuple[int, ...],
    w: NDArray,
    wb: NDArray,
    drift: float,
    tau: float,
    c: float,
    cb: float,
    ctol: float,
    weights_moved: bool,
    label: Any,
) -> str:
    if weights_moved:
        shown = ", ".join(
            f"{label(i)} {wb[i]:.10g} → {w[i]:.10g} (Δ {w[i] - wb[i]:+.3g})"
            for i in entries[:_SHOWN_ENTRIES]
        )
        return (
            f"first moved at step {k} of {n - 1}: {shown}{_more(entries)}; relative drift "
            f"{drift:.3g} > tolerance {tau:.3g} at that step (cost {cb:.10g} → {c:.10g})."
        )
    return (
        f"first moved at step {k} of {n - 1}: the cost {cb:.10g} → {c:.10g} (Δ {c - cb:+.3g}, "
        f"tolerance {ctol:.3g}) while the weights stayed within tolerance: the cost code changed."
    )


def _gradient_line(k: int, entries: tuple[int, ...], g: NDArray, gb: NDArray, label: Any) -> str:
    """The handwritten gradient's changed entries at ``w_k``, where both runs had the same weights."""
    parts = []
    for i in entries[:_SHOWN_ENTRIES]:
        ratio = f" (×{g[i] / gb[i]:.4g})" if gb[i] != 0 and np.isfinite(g[i] / gb[i]) else ""
        parts.append(f"{label(i)} {gb[i]:.10g} → {g[i]:.10g}{ratio}")
    where = "w_0" if k == 0 else f"w_{k} (the recorded weights)"
    return f"the handwritten gradient at {where} changed: " + ", ".join(parts) + _more(entries)


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
