"""``gdcheck run``: a model of the series on your data (CSV or ``.npy``) or a bundled dataset.

Files are read one row per example (:func:`gdcheck.data.load` gives ``X`` (n, m), ``y`` (1, m))
and laid out for the model: ``linear_regression`` and ``ridge`` take them as they come (the
tutorial's layout), ``logistic_regression``, ``softmax_regression`` and ``mlp`` take rows,
``X`` (m, n) and ``y`` (m,). ``--dataset`` loads scikit-learn's bundled data in raw units, in
the model's layout (:func:`gdcheck.data.dataset_for_model` with ``standardize=False``), and
the engine standardises them (``--standardize``, the default with ``--dataset``;
``--no-standardize`` runs the raw measurements), recording means and scales in the report.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .._words import counted
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

ROWS_MODELS = ("logistic_regression", "softmax_regression", "mlp")
DATASET_MODELS = {
    "diabetes": "linear_regression",
    "breast_cancer": "logistic_regression",
    "iris": "softmax_regression",
    "digits": "softmax_regression",
}
"""``--dataset`` → the model ``run`` uses when ``--model`` is not given (the first that fits)."""
DATASET_NAMES = tuple(DATASET_MODELS)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "run",
        help="a model on your data (CSV or .npy) or on a bundled dataset",
        description="Cross-check a handwritten model on your data or a bundled dataset. CSV: a "
        "header row, one row per example, --target names the target column. .npy: a 2-D array, "
        "one row per example, --target is a column index (default: the last). --dataset: "
        "scikit-learn's bundled data (no download), features standardised unless --no-standardize; "
        "diabetes fits "
        "linear_regression and ridge, breast_cancer logistic_regression, iris and digits "
        "softmax_regression and mlp.",
        epilog=EXIT_CODES,
    )
    add_model_option(
        p,
        default=None,
        shown="linear_regression with --data; with --dataset the first model it fits: "
        + ", ".join(f"{d} {m}" for d, m in DATASET_MODELS.items()),
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--data",
        default=None,
        metavar="FILE",
        help="a .csv (with header) or .npy file (no default)",
    )
    source.add_argument(
        "--dataset",
        default=None,
        choices=DATASET_NAMES,
        help="a dataset bundled with scikit-learn, standardised unless --no-standardize (no "
        "default; needs pip install 'gdcheck[datasets]')",
    )
    p.add_argument(
        "--target",
        default=None,
        help="with --data: the target column, a CSV header name or an index (default: the last)",
    )
    add_run_options(
        p,
        steps_field="run_steps",
        out="reports/<model>-<dataset or data file stem>",
        standardize="on with --dataset, off with --data",
    )


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError

    if args.model is None:
        args.model = "linear_regression" if args.dataset is None else DATASET_MODELS[args.dataset]
    resolve_defaults(args, "run_steps")
    if args.dataset is not None and args.target is not None:
        raise InputError(
            f"--target {args.target!r} is for --data files; --dataset {args.dataset} has its own "
            "target. Drop --target."
        )
    if args.standardize is None:
        args.standardize = args.dataset is not None
    if args.dataset is not None:
        X, y, notes = _dataset(args.dataset, args.model, args.standardize)
        stem = args.dataset
    else:
        X, y, notes = _file(args.data, args.target, args.model, args.dtype)
        stem = Path(args.data).stem
    if args.out is None:
        args.out = str(Path("reports") / f"{args.model}-{stem}")
    optimizer = build_optimizer(args.optimizer)
    model, optimizer_notes = textbook_model(build_model(args.model), optimizer, args.optimizer)
    if optimizer_notes and not args.quiet:
        print("\n".join(optimizer_notes) + "\n")
    return crosscheck_and_report(
        args, model, X, y, print_costs=False, notes=notes + optimizer_notes, optimizer=optimizer
    )


def _dataset(name: str, model: str, standardize: bool) -> tuple[Any, Any, list[str]]:
    from .. import data

    ds = data.dataset_for_model(name, model, standardize=False)  # raw: the engine standardises
    notes = [f"dataset {name}: {note}" for note in ds.notes]
    if standardize:
        notes = [n for n in notes if "features raw" not in n]
        notes.append(
            f"dataset {name}: features standardised by gdcheck (--standardize): (x − mean)/std "
            "per feature over the examples (ddof=0); means and scales are in the analysis."
        )
    return ds.X, ds.y, notes


def _file(
    path: str, target: str | None, model: str, dtype: str = "float64"
) -> tuple[Any, Any, list[str]]:
    from .. import data

    X, y, names = data.load(path, target, dtype=dtype)  # X (n, m), y (1, m), the run's dtype
    where = f"data: {path}, {counted(X.shape[1], 'example')}; target: {target or 'the last column'}"
    if model in ROWS_MODELS:
        features = ", ".join(names)
        note = f"{where}; laid out as rows, X ({X.shape[1]}, {X.shape[0]}) and y (m,): {features}."
        return X.T, y.reshape(-1), [note]
    weights = ", ".join(f"w[{i}] {name}" for i, name in enumerate(names, start=1))
    return X, y, [f"{where}; w[0] is the intercept, {weights}."]
