"""The readable ``str()`` of a :class:`~gdcheck.check.GradientCheck`: where, what, and what it looks like."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..params import entry_label

MAX_ROWS = 8
SHOWN_ELSEWHERE = "the table shows the first random point"


def render_check(
    res: Any,
) -> str:  # a gdcheck.GradientCheck (no import: _result imports this module)
    layout = res.layout
    status = "PASSED" if res.passed else "FAILED"
    lines = [
        f"gdcheck: gradient check {status} ({res.dtype}, {len(layout.names)} parameter(s), "
        f"{layout.size} entries; reference: {res.reference_name}"
        f"{' autodiff' if res.reference_name in res.autodiff else ' (no autodiff)'}; "
        f"{res.points_checked} point(s))"
    ]
    d = res.diagnosis
    if d is not None:
        sure = (
            f" Seen at {d.points_agreeing} of {d.points_checked} points checked."
            if d.points_checked > 1
            else ""
        )
        lines.append(f"  diagnosis: {d.kind} — {d.message}{sure}")
    kink = getattr(res, "kink", None)
    if kink is not None:
        lines.append(f"  kink at the given point: {kink}.")
    # the table shows the given (kink) point unless a random point shows the mismatch
    at_kink = kink is not None and not any(n.startswith(SHOWN_ELSEWHERE) for n in res.notes)
    kink_rows = False
    if res.yours is not None:
        rows = []
        for name in layout.names:
            err = res.abs_error[name]
            tol = res.tolerance[name]
            over = np.where(np.isfinite(err), err / np.maximum(tol, 1e-300), np.inf)
            for flat in np.argsort(-over, axis=None)[:MAX_ROWS]:
                idx = tuple(int(i) for i in np.unravel_index(flat, err.shape)) if err.shape else ()
                rows.append((float(over.flat[flat]), name, idx))
        rows.sort(key=lambda r: -r[0])
        shown = [r for r in rows if r[0] > 1][:MAX_ROWS] or rows[:1]
        if shown:
            worst_pair = f"yours vs {res.reference_name}"
            lines.append(
                f"  where ({worst_pair}):"
                if not res.passed
                else f"  largest difference ({worst_pair}):"
            )
            header = f"    {'entry':<16} {'yours':>14} {res.reference_name:>14} {'|diff|':>10} {'tolerance':>10}"
            lines.append(header)
            for _, name, idx in shown:
                y = res.yours[name][idx] if idx else res.yours[name].reshape(())
                r = res.reference[name][idx] if idx else res.reference[name].reshape(())
                e = res.abs_error[name][idx] if idx else res.abs_error[name].reshape(())
                t = res.tolerance[name][idx] if idx else res.tolerance[name].reshape(())
                flag = "  ✗" if e > t else ""
                if flag and at_kink and entry_label(name, idx) in kink.labels:
                    flag, kink_rows = "  kink", True
                lines.append(
                    f"    {entry_label(name, idx):<16} {float(y):>14.7g} "
                    f"{float(r):>14.7g} {float(e):>10.3g} {float(t):>10.3g}{flag}"
                )
        lines.append(
            f"  max relative error {res.max_rel_error:.3g} (max abs {res.max_abs_error:.3g}); "
            f"tolerance: rtol {res.rtol:.3g} + atol "
            + ", ".join(f"{n} {a:.3g}" for n, a in res.atol.items())
            + (
                ""
                if res.floor_measured
                else " (the rounding floor was not needed: agreement within rtol and the backends' spread)"
            )
            + (
                "; the rows marked kink are the kink's: any subgradient is right there"
                if kink_rows
                else ""
            )
        )
    refs = []
    for name in res.autodiff:
        refs.append(name + (" (reference)" if name == res.reference_name else ""))
    for name, why in res.failures.items():
        refs.append(f"{name}: {why}")
    for name, why in res.skipped.items():
        refs.append(f"{name}: skipped, {why}")
    lines.append("  autodiff: " + "; ".join(refs))
    for w in res.witnesses:
        if not w.witness.ran:
            said = w.witness.skipped or ""
            how = "" if said.startswith("not applicable") else "skipped — "
            lines.append(f"  witness {w.witness.name}: {how}{said}")
            continue
        count = len(w.witness.derivatives)
        where = (
            f"{count} random direction{'s' if count != 1 else ''}"
            if w.witness.mode == "directions"
            else f"every entry ({count})"
        )
        verdict = "agrees with yours" if w.agrees_with_yours else "disagrees with yours"
        if res.yours is None:
            verdict = "ran"
        ad = ", ".join(f"{n} {e:.2g}×" for n, e in w.autodiff_error.items())
        lines.append(
            f"  witness {w.witness.name} ({where}): {verdict}"
            + (f" ({w.yours_error:.2g}× tolerance)" if res.yours is not None else "")
            + (f"; autodiff's distance from it: {ad} tolerance" if ad else "")
        )
    for i, t in enumerate(res.taylor):
        if t is not None:
            where = "given point" if i == 0 else f"random point {i}"
            said = str(t).removeprefix("Taylor test: ")
            lines.append(f"  Taylor test at the {where} (a second opinion, no tolerance): {said}")
    lines += [f"  note: {n}" for n in res.notes]
    return "\n".join(lines)
