"""The ``gdcheck`` command line. Exit codes: 0 all agree, 1 a disagreement, 2 bad usage or input.

Only the standard library is imported at start-up; numpy and the backends load per command,
so ``gdcheck --help`` is fast.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE, EXIT_INTERNAL = 0, 1, 2, 3


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as for every bad input
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"gdcheck: error: {message}\n")


def _add_run_options(p: argparse.ArgumentParser, *, lr: float, steps: int, out: str | None) -> None:
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
    p.add_argument("-q", "--quiet", action="store_true", help="print only the verdict")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gdcheck",
        description="Cross-check handwritten gradients against JAX and PyTorch autodiff, step by step.",
        epilog="Exit codes: 0 everything agrees, 1 a disagreement was found, 2 bad usage or input.",
    )
    parser.add_argument("--version", action="version", version=f"gdcheck {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    demo = sub.add_parser(
        "demo",
        help="the tutorial's linear regression, cross-checked",
        description="Run the tutorial's gradient descent (lr 0.01, 10,000 "
        "iterations, its data) beside JAX and PyTorch and write the report.",
    )
    _add_run_options(demo, lr=0.01, steps=10_000, out="reports/tutorial")
    demo.add_argument("--seed", type=int, default=0, help="seed of the tutorial's data (default 0)")

    run = sub.add_parser(
        "run",
        help="the same checks on your data (CSV or .npy)",
        description="Cross-check linear regression on your data. CSV: a header "
        "row, one row per example; .npy: a 2-D array, one row per example.",
    )
    run.add_argument("--data", required=True, help="a .csv (with header) or .npy file")
    run.add_argument(
        "--target",
        default=None,
        help="target column: a CSV header name, or a column index (.npy: default last)",
    )
    _add_run_options(run, lr=0.01, steps=1000, out=None)
    return parser


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("gdcheck")
    except PackageNotFoundError:
        return "unknown"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from .errors import GdcheckError

    try:
        return _COMMANDS[args.command](args)
    except GdcheckError as exc:
        print(f"gdcheck: error: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gdcheck: interrupted", file=sys.stderr)
        return 130


def _cmd_demo(args: argparse.Namespace) -> int:
    from . import data

    X, y = data.tutorial(seed=args.seed)
    return _crosscheck_and_report(args, X, y, print_costs=True)


def _cmd_run(args: argparse.Namespace) -> int:
    from . import data

    X, y, _names = data.load(args.data, args.target)
    if args.out is None:
        args.out = str(Path("reports") / Path(args.data).stem)
    return _crosscheck_and_report(args, X, y, print_costs=False)


def _crosscheck_and_report(args: argparse.Namespace, X: Any, y: Any, *, print_costs: bool) -> int:
    from . import crosscheck, models

    result = crosscheck(
        models.linear_regression(),
        X,
        y,
        lr=args.lr,
        steps=args.steps,
        backends=args.backends,
        dtype=args.dtype,
    )
    report = result.to_dict()
    if not args.quiet:
        if print_costs:
            for k, cost in result.cost_checkpoints(2000):
                print(f"Cost at iteration {k} is {cost}")
            print()
        from .report.text import render_text

        print(render_text(report))
    else:
        print(report["verdict"]["text"])
    if not args.no_save:
        from .report.files import save_report

        written = save_report(report, Path(args.out))
        print(f"\nReport: {', '.join(str(p) for p in written.values())}")
    return EXIT_OK if result.passed else EXIT_MISMATCH


_COMMANDS = {"demo": _cmd_demo, "run": _cmd_run}


if __name__ == "__main__":
    sys.exit(main())
