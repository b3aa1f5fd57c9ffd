"""Plain-text rendering of a report dict: the tables ``summary()`` and the CLI print."""

from __future__ import annotations

from typing import Any

SHOWN_ENTRIES = 6
"""A vector longer than this is abbreviated in tables (report.json keeps every entry)."""


def fmt(x: Any, spec: str = ".3g") -> str:
    if x is None:
        return "—"
    if isinstance(x, list):
        if len(x) > SHOWN_ENTRIES:
            head = ", ".join(fmt(v, ".10g") for v in x[:3])
            tail = ", ".join(fmt(v, ".10g") for v in x[-2:])
            return f"[{head}, …, {tail}] ({len(x)} entries)"
        return "[" + ", ".join(fmt(v, ".10g") for v in x) + "]"
    return format(x, spec)


def config_summary(c: dict[str, Any]) -> str:
    """``optimizer sgd (handwritten update), params w (2, 1): 2 entries, m = 500``."""
    params = c.get("params") or {}
    shapes = ", ".join(f"{n} {tuple(s)}" for n, s in params.items())
    return (
        f"optimizer {c.get('optimizer', 'sgd')} ({c.get('update', 'handwritten')} update), "
        f"params {shapes or '?'}: {c.get('n_params', '?')} entries, N = {c.get('n_examples', '?')}"
    )


def backend_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-backend table (shared by text, Markdown and HTML)."""
    header = [
        "backend",
        "max grad error (scaled)",
        "tolerance",
        "ULPs",
        "final weights",
        "final drift",
        "|w − w*|∞",
        "time (s)",
    ]
    rows = []
    for name, b in report["backends"].items():
        s, t = b["shadow"], b["trajectory"]
        reference = name == report["reference"]["backend"]
        rows.append(
            [
                name + (" (reference)" if reference else ""),
                "0 (the reference)"
                if reference
                else f"{fmt(s['max_rel_error'])} at step {s['worst_step']}, {s.get('worst_entry_label', s['worst_entry'])}",
                fmt(b["tolerance"]["gradient"]),
                "—" if reference else fmt(s["max_ulp"], ".2g"),
                fmt(t["final_weights"]),
                "—" if reference else fmt(t["final_drift"]),
                fmt(t["distance_to_least_squares"]),
                f"{s['seconds'] + t['seconds']:.2f}",
            ]
        )
    return header, rows


def method_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """How each backend computed: gradient, update, device, dtype, matmul precision."""
    header = ["backend", "gradient", "update", "device", "dtype", "matmul precision"]
    rows = [
        [
            n,
            b["info"]["gradient"],
            b["info"]["update"],
            b["info"]["device"],
            b["info"]["dtype"],
            b["info"]["matmul_precision"],
        ]
        for n, b in report["backends"].items()
    ]
    return header, rows


def table(header: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip()  # noqa: E731
    return "\n".join([line(header), line(["─" * w for w in widths]), *map(line, rows)])


def analysis_lines(report: dict[str, Any]) -> list[str]:
    a = report["analysis"]
    lines = []
    if a.get("hessian_eigenvalues"):
        lines.append(
            f"Hessian (2/m)XXᵀ eigenvalues: {fmt(a['hessian_eigenvalues'])}; "
            f"stable for lr < 2/λmax = {fmt(a['lr_bound'], '.4g')}."
        )
    if a.get("least_squares"):
        lines.append(f"Closed-form optimum w*: {fmt(a['least_squares'])}")
    return lines


def render_text(report: dict[str, Any]) -> str:
    c = report["config"]
    head = (
        f"gdcheck {report['tool']['version']} — {c['model']}: lr={c['lr']:g}, steps={c['steps']:,}, "
        f"dtype={c['dtype']}, {config_summary(c)}"
    )
    header, rows = backend_rows(report)
    parts = [
        head,
        "",
        table(header, rows),
        "",
        table(*method_rows(report)),
        "",
        *analysis_lines(report),
    ]
    parts += [f"Note: {n}" for n in report.get("notes", [])]
    parts += ["", report["verdict"]["text"]]
    return "\n".join(parts)
