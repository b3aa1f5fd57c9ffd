"""A :class:`GradientCheck` as an HTML fragment, for notebooks (``_repr_html_``)."""

from __future__ import annotations

import html
from typing import Any

import numpy as np

from .._taylor_figure import taylor_figure, taylor_record

__all__ = ["gradient_check_html"]

_CHECK_CSS = """
.gdcheck-check { font: 14px/1.45 system-ui, sans-serif; }
.gdcheck-check table { border-collapse: collapse; margin: .3rem 0; }
.gdcheck-check th, .gdcheck-check td { text-align: left; padding: .2rem .6rem;
  border-bottom: 1px solid #e3e6e8; font-variant-numeric: tabular-nums; }
.gdcheck-check .pass { color: #1a7f37; font-weight: 600; }
.gdcheck-check .fail { color: #cf222e; font-weight: 600; }
"""


def _largest(arrays: dict[str, Any]) -> dict[str, float]:
    return {k: float(np.max(np.abs(np.asarray(v)), initial=0.0)) for k, v in arrays.items()}


def gradient_check_html(check: Any) -> str:
    """A check as a fragment: the verdict, the diagnosis, and per parameter the largest error
    against its tolerance, then each witness, then the Taylor test at the given point."""
    e = html.escape
    verdict = "passed" if check.passed else "FAILED"
    diagnosis = getattr(check, "diagnosis", None)
    head = (
        f'<p><span class="{"pass" if check.passed else "fail"}">gradient check {verdict}</span>'
        f" — {e(str(check.dtype))}, against {e(str(check.reference_name))}; largest relative "
        f"error {check.max_rel_error:.3g}; {check.seconds:.2f} s.</p>"
    )
    if diagnosis is not None:
        head += f"<p><b>{e(diagnosis.kind)}</b>: {e(diagnosis.message)}</p>"
    if getattr(check, "kink", None) is not None:
        head += f"<p><b>kink</b> at the given point: {e(str(check.kink))}.</p>"
    errors, tolerance = _largest(check.abs_error), _largest(check.tolerance)
    rows = "".join(
        f"<tr><td>{e(name)}</td><td>{errors[name]:.3e}</td><td>{tolerance.get(name, float('nan')):.3e}</td>"
        f"<td>{'yes' if errors[name] <= tolerance.get(name, float('inf')) else 'no'}</td></tr>"
        for name in errors
    )
    table = (
        "<table><thead><tr><th>parameter</th><th>largest |error|</th><th>tolerance</th>"
        f"<th>within</th></tr></thead><tbody>{rows}</tbody></table>"
    )
    extra = []
    for w in getattr(check, "witnesses", []) or []:
        name = getattr(getattr(w, "witness", None), "name", type(w).__name__)
        skipped = getattr(getattr(w, "witness", None), "skipped", None)
        if skipped:
            extra.append(f"<li>witness {e(str(name))}: {e(str(skipped))}</li>")
            continue
        extra.append(
            f"<li>witness {e(str(name))}: {getattr(w, 'yours_error', float('nan')):.3g} "
            "(≤ 1 agrees)</li>"
        )
    for backend, why in (getattr(check, "failures", {}) or {}).items():
        extra.append(f"<li>{e(backend)} failed: {e(why)}</li>")
    for backend, why in (getattr(check, "skipped", {}) or {}).items():
        extra.append(f"<li>{e(backend)} skipped: {e(why)}</li>")
    extra += [f"<li>{e(n)}</li>" for n in getattr(check, "notes", []) or []]
    notes = f"<ul>{''.join(extra)}</ul>" if extra else ""
    picture = _taylor_picture(getattr(check, "taylor", None) or [])
    return (
        f'<div class="gdcheck-check"><style>{_CHECK_CSS}</style>{head}{table}{notes}{picture}</div>'
    )


def _taylor_picture(tests: list[Any]) -> str:
    """The Taylor test that shows the verdict: the first one that finds the gradient wrong
    (a mistake may be invisible at the given point), else the given point's."""
    ran = [(i, t) for i, t in enumerate(tests) if t is not None]
    if not ran:
        return ""
    i, t = next(((i, t) for i, t in ran if t.looks_right is False), ran[0])
    return taylor_figure(
        taylor_record(t), where="the given point" if i == 0 else f"nearby point {i}"
    )
