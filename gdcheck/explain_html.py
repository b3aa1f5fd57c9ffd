"""``gdcheck explain --html``: the lesson as one self-contained page (inline CSS and SVG, no network)."""

from __future__ import annotations

import html
import math
from pathlib import Path

from .errors import InputError
from .explain import Lesson, Pre, Table, Text

__all__ = ["render_html", "write_html"]

_CSS = """
body { font: 16px/1.55 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a;
       background: #fbfbfa; margin: 0; }
main { max-width: 62rem; margin: 0 auto; padding: 2rem 1.25rem 4rem; }
h1 { font-size: 1.55rem; margin: 0 0 1.5rem; }
h2 { font-size: 1.2rem; margin: 2.5rem 0 .75rem; border-bottom: 1px solid #d8dcdf;
     padding-bottom: .3rem; }
p { max-width: 48rem; }
pre { background: #f1f3f4; border: 1px solid #e0e3e6; border-radius: 4px; padding: .75rem 1rem;
      overflow-x: auto; font: 14px/1.45 ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; }
table { border-collapse: collapse; margin: .5rem 0 1.25rem; font-size: 14px; }
caption { text-align: left; font-weight: 600; padding-bottom: .35rem; }
th, td { text-align: left; padding: .3rem .7rem; border-bottom: 1px solid #e3e6e8;
         vertical-align: top; }
th { border-bottom: 2px solid #b9bfc4; }
td { font-variant-numeric: tabular-nums; }
figure { margin: 1rem 0 1.5rem; }
figcaption { font-size: 14px; color: #4a535c; }
footer { margin-top: 3rem; font-size: 13px; color: #6a737c; }
"""

_COLOURS = ("#1f77b4", "#2ca02c", "#d62728", "#9467bd")


def render_html(lesson: Lesson) -> str:
    """The whole page as a string."""
    e = html.escape
    body = [f"<h1>{e(lesson.title)}</h1>"]
    for section in lesson.sections:
        body.append(f"<section>\n<h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Text):
                body.append(f"<p>{e(block.text)}</p>")
            elif isinstance(block, Pre):
                body.append(f"<pre>{e(block.text)}</pre>")
            elif isinstance(block, Table):
                body.append(_table(block))
        if section.title.startswith("5.") and lesson.facts.get("runs"):
            body.append(_cost_charts(lesson))
        body.append("</section>")
    body.append(
        "<footer>Written by <code>gdcheck explain --html</code>: the terminal lesson as a page; "
        "every number on it was computed when the page was written.</footer>"
    )
    return (
        '<!doctype html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        f"<title>{e(lesson.title)}</title>\n<style>{_CSS}</style>\n</head>\n<body>\n<main>\n"
        + "\n".join(body)
        + "\n</main>\n</body>\n</html>\n"
    )


def write_html(lesson: Lesson, path: Path) -> Path:
    """Write the page to ``path`` (a directory gets ``explain.html`` inside it)."""
    if path.is_dir():
        path = path / "explain.html"
    if not path.parent.exists():
        raise InputError(
            f"cannot write {str(path)!r}: the folder {str(path.parent)!r} does not exist."
        )
    try:
        path.write_text(render_html(lesson), encoding="utf-8")
    except OSError as exc:
        raise InputError(f"cannot write {str(path)!r}: {exc.strerror or exc}.") from None
    return path


def _table(table: Table) -> str:
    e = html.escape
    rows = ["<table>"]
    if table.title:
        rows.append(f"<caption>{e(table.title)}</caption>")
    rows.append("<thead><tr>" + "".join(f"<th>{e(h)}</th>" for h in table.header) + "</tr></thead>")
    rows.append("<tbody>")
    rows += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in table.rows]
    rows.append("</tbody></table>")
    return "\n".join(rows)


def _cost_charts(lesson: Lesson) -> str:
    """Two charts: the excess cost of the converging rates, and the cost of the diverging ones."""
    runs = lesson.facts["runs"]
    floor = lesson.facts.get("least_squares_cost", 0.0)
    colours = {lr: _COLOURS[i % len(_COLOURS)] for i, lr in enumerate(runs)}
    calm = {lr: r["curve"] for lr, r in runs.items() if r["predicted"]["converges"]}
    wild = {lr: r["curve"] for lr, r in runs.items() if not r["predicted"]["converges"]}
    parts = []
    if calm:
        excess = {lr: [None if v is None else v - floor for v in c] for lr, c in calm.items()}
        parts.append(
            _chart(
                excess,
                colours,
                "C(w) − C(w*), log scale: after the first steps each line falls by the slowest "
                "(1 − lr·λ)² per step.",
            )
        )
    if wild:
        parts.append(
            _chart(
                wild, colours, "C(w), log scale: growing until it overflows, where the line ends."
            )
        )
    return "\n".join(parts)


def _chart(curves: dict[float, list[float | None]], colours: dict[float, str], caption: str) -> str:
    """One SVG line chart of ``log10(value)`` against the step, one line per learning rate."""
    width, height, left, right, top, bottom = 720, 260, 64, 110, 14, 40
    steps = max(len(c) for c in curves.values()) - 1
    logs = [
        math.log10(v)
        for c in curves.values()
        for v in c
        if v is not None and v > 0 and math.isfinite(v)
    ]
    if not logs:
        return ""
    lo, hi = math.floor(min(logs)), math.ceil(max(logs))
    span = max(hi - lo, 1)

    def x(k: float) -> float:
        return left + (width - left - right) * k / max(steps, 1)

    def y(v: float) -> float:
        return top + (height - top - bottom) * (hi - v) / span

    parts = [
        f'<svg viewBox="0 0 {width} {height}" width="{width}" height="{height}" role="img" '
        f'aria-label="{html.escape(caption)}" font-family="system-ui, sans-serif" font-size="12">',
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="#888"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="#888"/>',
    ]
    tick = max(1, math.ceil(span / 6))
    for v in range(hi, lo - 1, -tick):
        parts.append(
            f'<text x="{left - 6}" y="{y(v) + 4:.1f}" text-anchor="end">1e{v}</text>'
            f'<line x1="{left}" y1="{y(v):.1f}" x2="{width - right}" y2="{y(v):.1f}" stroke="#eee"/>'
        )
    for k in range(0, steps + 1, max(1, steps // 5)):
        parts.append(
            f'<text x="{x(k):.1f}" y="{height - bottom + 16}" text-anchor="middle">{k}</text>'
        )
    parts.append(
        f'<text x="{(left + width - right) / 2:.0f}" y="{height - 6}" text-anchor="middle">step</text>'
    )
    for i, (lr, curve) in enumerate(curves.items()):
        colour = colours[lr]
        points = [
            f"{x(k):.1f},{y(math.log10(v)):.1f}"
            for k, v in enumerate(curve)
            if v is not None and v > 0 and math.isfinite(v)
        ]
        parts.append(
            f'<polyline fill="none" stroke="{colour}" stroke-width="2" points="{" ".join(points)}"/>'
        )
        parts.append(
            f'<text x="{width - right + 8}" y="{top + 16 + 18 * i}" fill="{colour}">lr = {lr:g}</text>'
        )
    parts.append("</svg>")
    return f"<figure>{''.join(parts)}<figcaption>{html.escape(caption)}</figcaption></figure>"
