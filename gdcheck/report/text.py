"""Plain-text rendering of a report dict: the tables ``summary()`` and the CLI print."""

from __future__ import annotations

from typing import Any

SHOWN_ENTRIES = 6
"""A vector longer than this is abbreviated in tables (report.json keeps every entry)."""


def apart(a: float, b: float, at_least: int = 6) -> tuple[str, str]:
    """``a`` and ``b`` with enough significant digits (``at_least`` or more) to tell them
    apart: lr 0.7687 against the bound 0.768688 reads as ``0.7687`` and ``0.768688``."""
    for digits in range(at_least, 18):
        sa, sb = f"{a:.{digits}g}", f"{b:.{digits}g}"
        if (sa != sb) == (a != b):
            return sa, sb
    return f"{a!r}", f"{b!r}"


def fmt(x: Any, spec: str = ".3g") -> str:
    """A number (— for a missing one); vectors go through :func:`short` or :func:`fmt_full`."""
    if x is None:
        return "—"
    return format(x, spec)


def config_summary(c: dict[str, Any]) -> str:
    """``optimizer sgd (handwritten update), params w (2, 1): 2 entries, m = 500``."""
    params = c.get("params") or {}
    shapes = ", ".join(f"{n} {tuple(s)}" for n, s in params.items())
    return (
        f"optimizer {c.get('optimizer', 'sgd')} ({c.get('update', 'handwritten')} update), "
        f"params {shapes or '?'}: {c.get('n_params', '?')} entries, N = {c.get('n_examples', '?')}"
    )


def short(x: Any) -> str:
    """A vector for the terminal: 4 significant digits, at most :data:`SHOWN_ENTRIES` entries."""
    if isinstance(x, list):
        cells = [fmt(v, ".4g") for v in x]
        if len(cells) > SHOWN_ENTRIES:
            cells = [*cells[:3], "…", *cells[-2:]]
            return "[" + ", ".join(cells) + f"] ({len(x)} entries)"
        return "[" + ", ".join(cells) + "]"
    return fmt(x)


def _seconds(*parts: Any) -> str:
    """The time column: the sum of the parts that were measured (— when none was)."""
    import math

    known = [float(p) for p in parts if p is not None and math.isfinite(float(p))]
    return f"{sum(known):.2f}" if known else "—"


def backend_rows(
    report: dict[str, Any], *, terminal: bool = False
) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the per-backend table (shared by text, Markdown and HTML).

    ``terminal``: final weights abbreviated (:func:`short`); otherwise the column is left out,
    since the report's weight table lists every entry in full."""
    header = [
        "backend",
        "max grad error (scaled)",
        "tolerance",
        "ULPs",
        *(["final weights"] if terminal else []),
        "final drift",
        "|w − w*|∞",
        "time (s)",
    ]
    rows = []
    for name, b in report["backends"].items():
        s, t = b["shadow"], b["trajectory"]
        reference = name == report["reference"]["backend"]
        where = s.get("worst_entry_label") or f"w[{s['worst_entry']}]"
        rows.append(
            [
                name + (" (reference)" if reference else ""),
                "0 (the reference)"
                if reference
                else f"{fmt(s['max_rel_error'])} at step {s['worst_step']}, {where}",
                fmt(b["tolerance"]["gradient"]),
                "—" if reference else fmt(s["max_ulp"], ".2g"),
                *([short(t["final_weights"])] if terminal else []),
                "—" if reference else fmt(t["final_drift"]),
                fmt(t["distance_to_least_squares"]),
                _seconds(s.get("seconds"), t.get("seconds")),
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


def analysis_lines(report: dict[str, Any], *, terminal: bool = False) -> list[str]:
    """Conditioning, feature scales, the optimum, weights in original units (as sentences)."""
    a = report.get("analysis") or {}
    vec = short if terminal else fmt_full
    lines = []
    if a.get("hessian_eigenvalues"):
        lines.append(f"Hessian eigenvalues: {vec(a['hessian_eigenvalues'])}" + _bounds(a))
    if a.get("conditioning"):
        lines.append(f"Conditioning: {a['conditioning']}")
    scaling = a.get("scaling")
    if scaling:
        what = "standardised from means" if scaling.get("standardized") else "as given: means"
        lines.append(
            f"Features: {len(scaling['scales'])}, {what} {vec(scaling['means'])} and scales σ "
            f"{vec(scaling['scales'])}."
        )
        if scaling.get("transposed"):
            lines.append(
                f"Layout: X given as {scaling['given_layout']}, transposed to the model's "
                f"{scaling['model_layout']} layout."
            )
    if a.get("least_squares"):
        units = " (standardised units)" if scaling and scaling.get("standardized") else ""
        lines.append(f"Closed-form optimum w*{units}: {vec(a['least_squares'])}")
    for name, w in (a.get("original_units") or {}).items():
        lines.append(f"In original units, {name}: {vec(w)}")
    if a.get("taylor"):
        lines.append(taylor_line(a["taylor"]))
    return lines


def taylor_line(t: dict[str, Any]) -> str:
    """The starting point's Taylor test as a sentence: the order, and what it means."""
    order = "no order" if t.get("order") is None else f"order {t['order']:.2f}"
    return (
        f"Taylor test of the handwritten gradient at w₀ (tolerance-free: R(h) = |C(w₀+hv) − "
        f"C(w₀) − h·g·v| falls 4× per halving of h when g is right, 2× when wrong): {order} — "
        f"{t.get('note', '')}"
    )


def _bounds(a: dict[str, Any]) -> str:
    if a.get("lr_bound") is None:
        return "."
    if a.get("best_lr") is None:
        return f"; stable for lr < 2/λmax = {a['lr_bound']:.6g}."
    bound, best = apart(a["lr_bound"], a["best_lr"])
    return f"; stable for lr < 2/λmax = {bound}; best fixed step 2/(λmin+λmax) = {best}."


def fmt_full(x: Any) -> str:
    """Every entry of a vector (the report's rendering; the terminal abbreviates)."""
    if isinstance(x, list):
        return "[" + ", ".join(fmt(v, ".10g") for v in x) + "]"
    return fmt(x)


def verdict_state(report: dict[str, Any]) -> str:
    """``"pass"``, ``"fail"`` or ``"unchecked"`` (nothing was compared)."""
    v = report["verdict"]
    if v.get("passed") is not True:
        return "fail"
    return "unchecked" if v.get("compared") is False else "pass"


def convergence_text(report: dict[str, Any]) -> str | None:
    conv = report["verdict"].get("convergence")
    return conv.get("text") if isinstance(conv, dict) else None


def heading(report: dict[str, Any]) -> str:
    c = report["config"]
    return (
        f"gdcheck {report['tool']['version']} — {c['model']}: lr={c['lr']:.6g}, "
        f"steps={c['steps']:,}, dtype={c['dtype']}, {config_summary(c)}"
    )


def blocks(report: dict[str, Any]) -> list[tuple[str, Any]]:
    """What the terminal shows, in order, for either renderer (rich or plain text):
    ``("heading", str)``, ``("table", (title, header, rows))``, ``("line", str)``,
    ``("note", str)``, ``("verdict", (state, text))``, ``("blank", None)``."""
    out: list[tuple[str, Any]] = [("heading", heading(report)), ("blank", None)]
    out.append(
        ("table", ("Each backend against the handwritten reference",
                   *backend_rows(report, terminal=True)))
    )  # fmt: skip
    out.append(("blank", None))
    out.append(("table", ("How each backend computed", *method_rows(report))))
    out.append(("blank", None))
    out += [("line", line) for line in analysis_lines(report, terminal=True)]
    out += [("note", f"Note: {n}") for n in report.get("notes", [])]
    out.append(("blank", None))
    out.append(("verdict", (verdict_state(report), report["verdict"]["text"])))
    conv = convergence_text(report)
    if conv:
        out.append(("verdict", ("converged" if conv.startswith("CONVERGED") else "slow", conv)))
    return out


def quiet_text(report: dict[str, Any]) -> str:
    """``-q``: the verdicts alone (agreement, then convergence)."""
    conv = convergence_text(report)
    return report["verdict"]["text"] + (f"\n{conv}" if conv else "")


def render_text(report: dict[str, Any], width: int = 92) -> str:
    """The plain-text rendering of :func:`blocks` (``summary()``; the CLI without rich).

    Tables are kept whole; prose is wrapped to ``width``."""
    import textwrap

    parts: list[str] = []
    for kind, item in blocks(report):
        if kind == "table":
            title, header, rows = item
            parts += [title, table(header, rows)]
        elif kind == "blank":
            parts.append("")
        elif kind == "verdict":
            parts.append(textwrap.fill(item[1], width))
        elif kind == "heading":
            parts.append(textwrap.fill(item, width, subsequent_indent="  "))
        else:
            parts.append(textwrap.fill(item, width, subsequent_indent="  "))
    return "\n".join(parts)
