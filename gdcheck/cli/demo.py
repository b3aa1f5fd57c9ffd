"""``gdcheck demo``: a model of the series on its seeded demo data, cross-checked.

The default is the tutorial's run, exactly: linear regression, lr 0.01, 10,000 iterations, its
data, its "Cost at iteration …" lines, the report in ``reports/tutorial/``. ``--model NAME``
runs another model on ``gdcheck.data.synthetic(NAME, seed)``, with its defaults from
:data:`~gdcheck.cli._options.MODEL_DEFAULTS`, the report in ``reports/demo-<model>/``.
"""

from __future__ import annotations

import argparse
from typing import Any

from ._crosscheck import (
    build_model,
    build_optimizer,
    crosscheck_and_report,
    textbook_model,
)
from ._options import (
    EXIT_CODES,
    add_model_option,
    add_run_options,
    resolve_defaults,
)

TUTORIAL = "linear_regression"
TUTORIAL_OUT = "reports/tutorial"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "demo",
        help="a model of the series on its demo data, cross-checked (default: the tutorial's)",
        description="Run a handwritten model's gradient descent beside JAX and PyTorch on seeded "
        "demo data (gdcheck.data.synthetic), print the tables and the verdict, and write the "
        "report. The default, --model linear_regression, is the tutorial's run exactly (lr 0.01, "
        "10,000 iterations, its data and its 'Cost at iteration' lines).",
        epilog=EXIT_CODES,
    )
    add_model_option(p)
    add_run_options(
        p, steps_field="demo_steps", out=f"{TUTORIAL_OUT} for the tutorial, reports/demo-<model>"
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the demo data (default 0)")


def run(args: argparse.Namespace) -> int:
    from .. import data

    resolve_defaults(args, "demo_steps")
    if args.out is None:
        args.out = TUTORIAL_OUT if args.model == TUTORIAL else f"reports/demo-{args.model}"
    optimizer = build_optimizer(args.optimizer)
    model, notes = textbook_model(build_model(args.model), optimizer, args.optimizer)
    if args.model != TUTORIAL:
        notes.append(f"data: gdcheck.data.synthetic({args.model!r}, seed={args.seed}).")
    if notes and not args.quiet:
        print("\n".join(notes) + "\n")
    X, y = data.synthetic(args.model, args.seed)
    return crosscheck_and_report(
        args,
        model,
        X,
        y,
        print_costs=args.model == TUTORIAL,
        notes=notes,
        optimizer=optimizer,
    )
