r"""Small inline SVG line charts (no plotting library, no network): the lesson's figures and the
Taylor-test picture of a report or a check (a leaf module: it imports nothing of gdcheck).

A chart maps :math:`(x, y)` to the plot box linearly, or in :math:`\log_{10}` on an axis marked
``log``; a series is a polyline with a dot at each point (dashed when its name says it is a
reference line: ``slope …`` or ``2/lr …``). Points that are not finite, or not positive on a log axis, are left out.
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence

__all__ = ["COLOURS", "line_chart"]

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")

Series = dict[str, Sequence[tuple[float, float]]]


def _ok(v: float, log: bool) -> bool:
    return math.isfinite(v) and (v > 0 or not log)


def _ticks(lo: float, hi: float, log: bool) -> list[float]:
    """Tick positions in axis units: whole decades on a log axis, about five steps otherwise."""
    if log:
        a, b = math.floor(lo), math.ceil(hi)
        step = max(1, math.ceil((b - a) / 6))
        return [float(k) for k in range(a, b + 1, step)]
    span = hi - lo or 1.0
    raw = span / 5
    mag = 10 ** math.floor(math.log10(raw))
    step = min((m * mag for m in (1, 2, 5, 10) if m * mag >= raw), default=mag)
    first = math.ceil(lo / step) * step
    return [first + k * step for k in range(int((hi - first) / step) + 1)]


def _label(v: float, log: bool) -> str:
    return f"1e{int(v)}" if log else f"{v:g}"


def line_chart(
    series: Series,
    *,
    xlabel: str,
    ylabel: str,
    logx: bool = False,
    logy: bool = False,
    title: str = "",
    width: int = 640,
    height: int = 300,
) -> str:
    """One chart as an ``<svg>`` string; ``series`` maps a legend name to its points."""
    left, right, top, bottom = 70, 170, 16, 44

    def tx(v: float, log: bool) -> float:
        return math.log10(v) if log else v

    pts = {
        k: [(tx(x, logx), tx(y, logy)) for x, y in v if _ok(x, logx) and _ok(y, logy)]
        for k, v in series.items()
    }
    xs = [p[0] for v in pts.values() for p in v]
    ys = [p[1] for v in pts.values() for p in v]
    if not xs:
        return ""
    x0, x1 = min(xs), max(xs)
    y0, y1 = min(ys), max(ys)
    if logy:
        y0, y1 = math.floor(y0), math.ceil(y1)
    if y1 == y0:
        y0, y1 = y0 - 1, y1 + 1
    if x1 == x0:
        x0, x1 = x0 - 1, x1 + 1

    def X(v: float) -> float:
        return left + (width - left - right) * (v - x0) / (x1 - x0)

    def Y(v: float) -> float:
        return top + (height - top - bottom) * (y1 - v) / (y1 - y0)

    e = html.escape
    out = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{e(title or ylabel)}" font-family="system-ui, sans-serif" font-size="12">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" '
        'stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#888"/>',
    ]
    for v in _ticks(y0, y1, logy):
        if y0 - 1e-9 <= v <= y1 + 1e-9:
            out.append(
                f'<line x1="{left}" y1="{Y(v):.1f}" x2="{width - right}" y2="{Y(v):.1f}" '
                f'stroke="#eee"/><text x="{left - 6}" y="{Y(v) + 4:.1f}" text-anchor="end">'
                f"{_label(v, logy)}</text>"
            )
    for v in _ticks(x0, x1, logx):
        if x0 - 1e-9 <= v <= x1 + 1e-9:
            out.append(
                f'<text x="{X(v):.1f}" y="{height - bottom + 16}" text-anchor="middle">'
                f"{_label(v, logx)}</text>"
            )
    out.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 8}" text-anchor="middle">'
        f"{e(xlabel)}</text>"
        f'<text transform="translate(14 {(top + height - bottom) / 2:.0f}) rotate(-90)" '
        f'text-anchor="middle">{e(ylabel)}</text>'
    )
    for i, (name, p) in enumerate(pts.items()):
        colour = COLOURS[i % len(COLOURS)]
        dash = ' stroke-dasharray="5 4"' if name.startswith(("slope", "2/lr")) else ""
        coords = " ".join(f"{X(a):.1f},{Y(b):.1f}" for a, b in p)
        out.append(
            f'<polyline class="series" data-name="{e(name)}" fill="none" stroke="{colour}" '
            f'stroke-width="2"{dash} points="{coords}"/>'
        )
        if not dash:
            out += [
                f'<circle cx="{X(a):.1f}" cy="{Y(b):.1f}" r="2.5" fill="{colour}"/>' for a, b in p
            ]
        out.append(
            f'<text x="{width - right + 8}" y="{top + 14 + 18 * i}" fill="{colour}">{e(name)}</text>'
        )
    out.append("</svg>")
    return "".join(out)
