"""``gdcheck demo``: the tutorial's run (lr 0.01, 10,000 iterations, its data), cross-checked."""

from __future__ import annotations

import argparse
from typing import Any

from ._crosscheck import add_run_options, crosscheck_and_report


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="the tutorial's linear regression, cross-checked",
        description="Run the tutorial's gradient descent (lr 0.01, 10,000 iterations, its data) "
        "beside JAX and PyTorch, print its costs, the tables and the verdict, and write the report.",
    )
    add_run_options(p, lr=0.01, steps=10_000, out="reports/tutorial")
    p.add_argument("--seed", type=int, default=0, help="seed of the tutorial's data (default 0)")


def run(args: argparse.Namespace) -> int:
    from .. import data

    X, y = data.tutorial(seed=args.seed)
    return crosscheck_and_report(args, X, y, print_costs=True)
