"""``gdcheck run``: the tutorial's checks on a user's data (CSV with a header, or ``.npy``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._crosscheck import add_run_options, crosscheck_and_report


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="the same checks on your data (CSV or .npy)",
        description="Cross-check linear regression on your data. CSV: a header row, one row per "
        "example, --target names the target column. .npy: a 2-D array, one row per example, "
        "--target is a column index (default: the last).",
    )
    p.add_argument("--data", required=True, help="a .csv (with header) or .npy file")
    p.add_argument("--target", default=None, help="target column: CSV header name or index")
    add_run_options(p, lr=0.01, steps=1000, out="reports/<data file name>")


def run(args: argparse.Namespace) -> int:
    from .. import data

    X, y, names = data.load(args.data, args.target)
    if args.out is None:
        args.out = str(Path("reports") / Path(args.data).stem)
    target = args.target if args.target is not None else "the last column"
    weights = ", ".join(f"w[{i}] {name}" for i, name in enumerate(names, start=1))
    note = (
        f"data: {args.data}, {X.shape[1]} examples; target: {target}; w[0] is the intercept, "
        f"{weights}."
    )
    return crosscheck_and_report(args, X, y, print_costs=False, notes=[note])
