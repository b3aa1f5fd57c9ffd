"""``gdcheck report PATH``: re-render a saved report.json (Markdown, HTML, plots) and print it.

Exit code: the saved verdict's (0 passed, 1 not), or 2 when PATH is not a readable report
(malformed, truncated, nested too deeply, too large: one line, never a traceback). Plots that
cannot be drawn as saved (a value such as 1.7e308 a log axis cannot place) leave the other
files written and say "could not draw the plots: …" on stderr.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import EXIT_MISMATCH, EXIT_OK


def register(sub: Any) -> None:
    p = sub.add_parser(
        "report",
        help="re-render a saved report (Markdown, HTML, plots)",
        description="Re-render report.md, report.html and the plot-*.svg files beside a saved "
        "report.json, from the JSON alone, and print its summary. Exit code: 0 if the saved "
        "verdict passed, 1 if not, 2 if PATH is not a report this version can read.",
    )
    p.add_argument("path", help="a report.json, or the directory that holds it")
    p.add_argument(
        "--screenshot",
        action="store_true",
        help="also write report.png, a screenshot of report.html (needs Chromium; default off)",
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", help="print only the verdict (default: everything)"
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..report import terminal
    from ..report.files import plot_problem, render_files
    from ..report.schema import load_report
    from ..report.text import quiet_text, render_text

    path = Path(args.path)
    report = load_report(path)
    json_path = path / "report.json" if path.is_dir() else path
    passed = report["verdict"].get("passed") if isinstance(report["verdict"], dict) else None
    if not isinstance(passed, bool):
        raise InputError(f"{json_path} has no verdict.passed (true or false); regenerate it.")
    try:
        render_text(report)  # a malformed report fails here, before anything is printed
        problem = plot_problem(report)
        written = render_files(report, json_path.parent, screenshot=args.screenshot)
    except (KeyError, TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as exc:
        if isinstance(exc, InputError):
            raise
        raise InputError(
            f"{json_path} is incomplete or malformed ({type(exc).__name__}: {exc}); "
            "regenerate it with the gdcheck version that reads it."
        ) from None
    if args.quiet:
        print(quiet_text(report))
    else:
        terminal.print_report(report)  # the same renderer as demo and run (rich when present)
    if problem is not None:
        print(f"gdcheck: {problem}", file=sys.stderr)
    if not args.quiet:
        print(f"\nRendered: {', '.join(str(p) for p in written.values())}")
    return EXIT_OK if passed else EXIT_MISMATCH
