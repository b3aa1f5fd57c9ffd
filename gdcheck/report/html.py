"""``report.html``: one self-contained page rendered from the report dict (no script, no network).

Order: the verdict and its findings, the plots (inline SVG), final weights against least
squares, the per-backend tables, the environment. The page reflows at phone width: plots scale
to the width, wide tables scroll inside their own box. Every style is scoped under ``.gdr``,
so the same fragment can sit in a Jupyter notebook (:meth:`CrossCheckResult._repr_html_`).
"""

from __future__ import annotations

from html import escape
from typing import Any

from .._taylor_figure import taylor_figure
from .plots import report_plots
from .svg import MARKER, render_svg
from .tables import cost_rows, drift_rows, version_rows, weight_rows, weights_title
from .text import (
    analysis_lines,
    backend_rows,
    config_summary,
    convergence_text,
    method_rows,
    verdict_state,
)

BADGES = {"pass": "PASS", "fail": "FAIL", "unchecked": "NOT CHECKED"}

CSS = """
.gdr{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;line-height:1.45;
 color:#1b1b1b;background:#fff;max-width:56rem;margin:0 auto;padding:1rem 1.2rem 2rem;
 overflow-wrap:break-word}
.gdr h1{font-size:1.45rem;margin:.2rem 0 .8rem}
.gdr h2{font-size:1.12rem;margin:1.8rem 0 .5rem;padding-bottom:.2rem;border-bottom:1px solid #ddd}
.gdr .verdict{padding:.75rem 1rem;border-radius:6px;border-left:6px solid;margin:.5rem 0}
.gdr .pass{background:#e8f5ec;border-color:#1e7b45}
.gdr .fail{background:#fdeceb;border-color:#b3261e}
.gdr .badge{display:inline-block;font-weight:700;letter-spacing:.04em;margin-right:.4rem}
.gdr .unchecked{background:#fff8e1;border-color:#8a6d00}
.gdr .converged{background:#eef6fb;border-color:#2b6f9e}
.gdr .slow{background:#fff8e1;border-color:#8a6d00}
.gdr .pass .badge{color:#1e7b45}.gdr .fail .badge{color:#b3261e}
.gdr .unchecked .badge,.gdr .slow .badge{color:#6b5400}.gdr .converged .badge{color:#2b6f9e}
.gdr .meta,.gdr figcaption,.gdr .small{color:#555;font-size:.88rem}
.gdr figure{margin:1.2rem 0}
.gdr figure svg{display:block;width:100%;max-width:42rem;height:auto;border:1px solid #eee;
 border-radius:4px}
.gdr figcaption{max-width:42rem}
.gdr .scroll{overflow-x:auto;-webkit-overflow-scrolling:touch;margin:.4rem 0}
.gdr table{border-collapse:collapse;font-size:.9rem}
.gdr caption{text-align:left;color:#555;font-size:.88rem;padding:.2rem 0}
.gdr th,.gdr td{padding:.3rem .6rem;border-bottom:1px solid #e6e6e6;text-align:left;vertical-align:top}
.gdr th{background:#f6f6f6;font-weight:600;min-width:4.5em}
.gdr td{font-variant-numeric:tabular-nums}
.gdr .finding{margin:.5rem 0;padding:.5rem .8rem;border-left:4px solid #b3261e;background:#fff7f6}
.gdr .finding.explained{border-color:#8a6d00;background:#fffbea}
.gdr .kind{font-weight:700}
.gdr ul{padding-left:1.2rem}
@media (max-width:600px){.gdr{padding:.6rem .6rem 1.5rem}.gdr h1{font-size:1.2rem}
 .gdr table{font-size:.8rem}.gdr th,.gdr td{padding:.25rem .4rem}}
"""


def _table(header: list[str], rows: list[list[str]], caption: str = "") -> str:
    cap = f"<caption>{escape(caption)}</caption>" if caption else ""
    head = "".join(f'<th scope="col">{escape(h)}</th>' for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<div class="scroll"><table>{cap}<thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table></div>"
    )


def _section(key: str, title: str, *content: str) -> str:
    return f'<section data-section="{key}"><h2>{escape(title)}</h2>{"".join(content)}</section>'


def _verdict(report: dict[str, Any]) -> str:
    """Both verdicts: agreement (PASS, FAIL, NOT CHECKED), then convergence."""
    v = report["verdict"]
    state = verdict_state(report)
    c = report["config"]
    meta = (
        f"{c.get('model', 'model')}: lr = {c.get('lr')}, steps = {c.get('steps')}, "
        f"dtype = {c.get('dtype')}, {config_summary(c)}; "
        f"backends: {', '.join(c.get('backends', []))}."
    )
    tool = report.get("tool") or {}
    made = f"gdcheck {tool.get('version', '?')}, {report.get('created', '')}"
    boxes = [_box(state, BADGES[state], str(v.get("text", "")), "agreement")]
    conv = convergence_text(report)
    if conv:
        word = "CONVERGED" if conv.startswith("CONVERGED") else "NOT CONVERGED"
        boxes.append(
            _box("converged" if word == "CONVERGED" else "slow", word, conv, "convergence")
        )
    return (
        f'<section data-section="verdict">{"".join(boxes)}'
        f'<p class="meta">{escape(meta)}<br>{escape(made)}</p></section>'
    )


def _box(state: str, word: str, text: str, key: str) -> str:
    if text.startswith(word):  # the verdict text names it already: "PASS — …"
        text = text[len(word) :]
    return (
        f'<div class="verdict {state}" data-verdict="{key}"><span class="badge">{word}</span>'
        f"{escape(text)}</div>"
    )


def _diagnosis_text(d: dict[str, Any]) -> str:
    """A diagnosis as words: its kind, factor and entries, and how many points show it."""
    parts = [str(d.get("kind", ""))]
    if d.get("factor_name") or d.get("factor") is not None:
        parts.append(f"factor {d.get('factor_name') or d.get('factor'):}")
    entries = d.get("entries") or {}
    where = [
        f"all of {name}"
        if not idx
        else ", ".join(f"{name}[{', '.join(map(str, i))}]" for i in idx[:6])
        for name, idx in entries.items()
    ]
    if where:
        parts.append("entries " + "; ".join(where))
    checked, agreeing = d.get("points_checked"), d.get("points_agreeing")
    if checked:
        parts.append(f"seen at {agreeing} of {checked} step(s) examined")
    return " — ".join(p for p in parts if p)


def _plain(value: Any) -> str:
    """A finding's extra field (e.g. a diagnosis) as words: ``kind: scaled; factor: 0.5``."""
    if isinstance(value, dict):
        return "; ".join(f"{k}: {_plain(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_plain(v) for v in value)
    return "—" if value is None else str(value)


def _findings(report: dict[str, Any]) -> str:
    findings = report["verdict"].get("findings") or []
    if not findings:
        return ""
    known = {"kind", "backend", "step", "entries", "labels", "message", "fatal"}
    items = []
    for f in findings:
        explained = f.get("fatal") is False
        where = [
            f"backend {f['backend']}" if f.get("backend") else "",
            f"step {f['step']}" if f.get("step") is not None else "",
            ", ".join(f.get("labels") or [f"w[{e}]" for e in f.get("entries") or []]),
        ]
        head = " · ".join(x for x in where if x)
        extra = "".join(
            f"<li>{escape(str(k))}: "
            f"{escape(_diagnosis_text(v) if k == 'diagnosis' and isinstance(v, dict) else _plain(v))}</li>"
            for k, v in f.items()
            if k not in known and v not in (None, "", [], {})
        )
        items.append(
            f'<div class="finding{" explained" if explained else ""}">'
            f'<span class="kind">{escape(str(f.get("kind", "finding")))}</span>'
            f"{' (explained, not a failure)' if explained else ''} "
            f'<span class="small">{escape(head)}</span><br>{escape(str(f.get("message", "")))}'
            f"{'<ul>' + extra + '</ul>' if extra else ''}</div>"
        )
    return _section("diagnosis", "Diagnosis", *items)


def _plots(report: dict[str, Any]) -> str:
    figures = [
        f'<figure data-plot="{p.key}">{render_svg(p)}<figcaption>{escape(p.caption)}</figcaption>'
        "</figure>"
        for p in report_plots(report)
    ]
    return _section("plots", "Per step", *figures)


def render_fragment(report: dict[str, Any]) -> str:
    """The report as a ``<div class="gdr">`` with its own scoped ``<style>`` (for notebooks)."""
    parts = [
        f"<style>{CSS}</style>",
        '<div class="gdr">',
        f"<h1>gdcheck report — {escape(str(report['config'].get('model', '')))}</h1>",
        _verdict(report),
        _findings(report),
        _plots(report),
        _section(
            "weights",
            weights_title(report),
            _table(*weight_rows(report), caption="Each backend's own trajectory, last step."),
        ),
        _section("backends", "Backends", _table(*backend_rows(report))),
    ]
    header, rows = cost_rows(report)
    if rows:
        parts.append(_section("cost", "Cost (reference)", _table(header, rows)))
    lines = analysis_lines(report) if report.get("analysis") else []
    if lines:
        items = "".join(f"<li>{escape(line)}</li>" for line in lines)
        figure = taylor_figure((report.get("analysis") or {}).get("taylor"))
        parts.append(_section("analysis", "Analysis", f"<ul>{items}</ul>", figure))
    parts.append(_section("drift", "Drift (independent trajectories)", _table(*drift_rows(report))))
    parts.append(
        _section(
            "environment",
            "Environment",
            _table(*version_rows(report), caption=_versions_caption(report)),
            _table(*method_rows(report), caption="How each backend computed."),
        )
    )
    notes = report.get("notes") or []
    if notes:
        items = "".join(f"<li>{escape(str(n))}</li>" for n in notes)
        parts.append(_section("notes", "Notes", f"<ul>{items}</ul>"))
    parts.append(
        '<p class="small">Rendered from report.json (the source of truth), schema version '
        f"{escape(str(report.get('schema_version')))}; re-render with "
        "<code>gdcheck report report.json</code>.</p></div>"
    )
    return "\n".join(p for p in parts if p)


def _versions_caption(report: dict[str, Any]) -> str:
    env = report.get("environment") or {}
    missing = [k for k, v in env.items() if v is None]
    if not missing:
        return "Versions."
    return f"Versions ({', '.join(missing)}: not loaded by this run)."


def render_html(report: dict[str, Any]) -> str:
    """The whole ``report.html`` page."""
    title = f"gdcheck {BADGES[verdict_state(report)]} — {report['config'].get('model', '')}"
    return (
        f'<!DOCTYPE html>\n{MARKER}\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f'<meta name="generator" content="gdcheck"><title>{escape(title)}</title></head>'
        f'<body style="margin:0;background:#fff">\n{render_fragment(report)}\n</body></html>\n'
    )
