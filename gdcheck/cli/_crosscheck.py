"""Options and output shared by ``gdcheck demo`` and ``gdcheck run``."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import EXIT_MISMATCH, EXIT_OK


def add_run_options(p: argparse.ArgumentParser, *, lr: float, steps: int, out: str | None) -> None:
    p.add_argument("--lr", type=float, default=lr, help=f"learning rate (default {lr})")
    p.add_argument(
        "--steps", type=int, default=steps, help=f"gradient-descent updates (default {steps})"
    )
    p.add_argument("--dtype", default="float64", choices=("float64", "float32"))
    p.add_argument(
        "--backends",
        default=None,
        help="comma-separated, from numpy,jax,torch (default: every installed one)",
    )
    p.add_argument("--out", default=out, help=f"report directory (default {out})")
    p.add_argument("--no-save", action="store_true", help="print only; write no report")
    p.add_argument(
        "--screenshot",
        action="store_true",
        help="also write report.png, a screenshot of report.html (needs Chromium)",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict")


def crosscheck_and_report(
    args: argparse.Namespace, X: Any, y: Any, *, print_costs: bool, notes: list[str] | None = None
) -> int:
    """Run the cross-check, print costs, tables and verdict, save the report; return the exit code."""
    from .. import crosscheck, models
    from ..report import terminal
    from ..report.files import check_output_dir, save_report

    if not args.no_save:  # refuse an unusable --out before the work, not after it
        check_output_dir(Path(args.out), screenshot=getattr(args, "screenshot", False))
    with terminal.progress_bar(args.quiet) as progress:  # drawn only on a terminal, after ~1 s
        result = crosscheck(
            models.linear_regression(),
            X,
            y,
            lr=args.lr,
            steps=args.steps,
            backends=args.backends,
            dtype=args.dtype,
            progress=progress,
        )
    result.notes.extend(notes or [])
    report = result.to_dict()
    if args.quiet:
        print(report["verdict"]["text"])
    else:
        if print_costs:
            costs = result.cost_checkpoints(2000)  # the tutorial prints every 2,000
            terminal.print_lines([f"Cost at iteration {k} is {cost}" for k, cost in costs] + [""])
        terminal.print_report(report)  # rich tables; plain text without rich
    if not args.no_save:
        written = save_report(report, Path(args.out), screenshot=args.screenshot)
        print(f"\nReport: {', '.join(str(p) for p in written.values())}")
    return EXIT_OK if result.passed else EXIT_MISMATCH
