"""Markdown rendering of a report dict (``report.md``)."""

from __future__ import annotations

from typing import Any

from .tables import weight_rows, weights_title
from .text import analysis_lines, backend_rows, config_summary, convergence_text, fmt, method_rows


def md_table(header: list[str], rows: list[list[str]]) -> str:
    esc = lambda s: str(s).replace("|", "\\|")  # noqa: E731
    lines = ["| " + " | ".join(map(esc, header)) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(map(esc, r)) + " |" for r in rows]
    return "\n".join(lines)


def render_markdown(report: dict[str, Any], plots: dict[str, str] | None = None) -> str:
    """``plots`` maps a plot's title to a file name written beside report.md."""
    c = report["config"]
    v = report["verdict"]
    out = [
        f"# gdcheck report — {c['model']}",
        "",
        f"**{v['text']}**",
        "",
        *([f"**{convergence_text(report)}**", ""] if convergence_text(report) else []),
        f"lr = {c['lr']:g}, steps = {c['steps']:,}, dtype = {c['dtype']}, "
        f"{config_summary(c)}, "
        f"backends: {', '.join(c['backends'])}.",
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
            f"- **{f['kind']}** ({f['backend']}, step {f['step']}): {f['message']}"
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
        out += ["## Analysis", "", *[f"- {line}" for line in lines], ""]
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
        out += [f"![{title}]({name})" for title, name in plots.items()]
        out.append("")
    env = report["environment"]
    out += [
        "## Environment",
        "",
        md_table(["package", "version"], [[k, str(v)] for k, v in env.items()]),
        "",
    ]
    if report.get("notes"):
        out += ["## Notes", "", *[f"- {n}" for n in report["notes"]], ""]
    s = report["series"]
    out += [
        f"Per-step series in report.json: {len(s['steps'])} points"
        + (
            f", each the maximum over {s['stride']} steps (loss: the bucket's first step)."
            if s["stride"] > 1
            else "."
        ),
        "",
    ]
    return "\n".join(out)
