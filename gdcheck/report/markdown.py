"""Markdown rendering of a report dict (``report.md``)."""

from __future__ import annotations

from typing import Any

from .tables import weight_rows, weights_title
from .text import analysis_lines, backend_rows, config_summary, convergence_text, fmt, method_rows

_MARKUP = str.maketrans(
    {c: "\\" + c for c in "\\`*_[]|~"} | {"<": "&lt;", ">": "&gt;", "&": "&amp;"}
)


def md(text: Any) -> str:
    """Text from the report (model, parameter and feature names, notes, messages — some of
    it the user's) with Markdown and HTML markup escaped, so it reads as written and a CSV
    header such as ``<b>x</b>`` or ``[link](…)`` cannot inject markup."""
    return str(text).translate(_MARKUP).replace("\n", " ")


def md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(map(md, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(md, r)) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], plots: dict[str, str] | None = None) -> str:
    """``plots`` maps a plot's title to a file name written beside report.md."""
    c = report["config"]
    v = report["verdict"]
    out = [
        f"# gdcheck report — {md(c['model'])}",
        "",
        f"**{md(v['text'])}**",
        "",
        *([f"**{md(convergence_text(report))}**", ""] if convergence_text(report) else []),
        f"lr = {c['lr']:g}, steps = {c['steps']:,}, dtype = {c['dtype']}, "
        f"{md(config_summary(c))}, "
        f"backends: {md(', '.join(c['backends']))}.",
        "",
        "## Backends",
        "",
        md_table(*backend_rows(report)),
        "",
        f"## {weights_title(report)}",
        "",
        md_table(*weight_rows(report)),
        "",
    ]
    findings = v.get("findings") or []
    if findings:
        out += ["## Findings", ""]
        out += [
            f"- **{md(f['kind'])}** ({md(f['backend'])}, step {f['step']}): {md(f['message'])}"
            for f in findings
        ]
        out.append("")
    out += [
        "## Cost (reference)",
        "",
        md_table(
            ["iteration", "cost"],
            [[str(k), fmt(cst, ".10g")] for k, cst in report["reference"]["cost_checkpoints"]],
        ),
        "",
    ]
    lines = analysis_lines(report)
    if lines:
        out += ["## Analysis", "", *[f"- {md(line)}" for line in lines], ""]
    out += ["## How each backend computed", "", md_table(*method_rows(report)), ""]
    out += [
        "## Drift (independent trajectories)",
        "",
        md_table(
            ["backend", "max drift", "final drift", "drift tolerance", "diverged at"],
            [
                [
                    n,
                    fmt(b["trajectory"]["max_drift"]),
                    fmt(b["trajectory"]["final_drift"]),
                    fmt(b["tolerance"]["drift"]),
                    fmt(b["trajectory"]["diverged_at"], "d"),
                ]
                for n, b in report["backends"].items()
            ],
        ),
        "",
    ]
    if plots:
        out += ["## Plots", ""]
        out += [f"![{md(title)}]({name})" for title, name in plots.items()]
        out.append("")
    env = report["environment"]
    out += [
        "## Environment",
        "",
        md_table(["package", "version"], [[k, str(v)] for k, v in env.items()]),
        "",
    ]
    if report.get("notes"):
        out += ["## Notes", "", *[f"- {md(n)}" for n in report["notes"]], ""]
    s = report["series"]
    every = s.get("record_every") or 1
    out += [
        f"Per-step series in report.json: {len(s['steps'])} points"
        + (f" (the steps recorded, every {every}th: --record-every {every})" if every > 1 else "")
        + (
            f", each the maximum over {s['stride']} {'recorded ' if every > 1 else ''}steps "
            "(loss: the bucket's first step)."
            if s["stride"] > 1
            else "."
        ),
        "",
    ]
    return "\n".join(out)
