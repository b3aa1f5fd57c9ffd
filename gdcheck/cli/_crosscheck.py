"""Options and output shared by ``gdcheck demo``, ``gdcheck run`` and ``gdcheck check --steps``.

Only the standard library at import time: the model table and the option text are needed by
``gdcheck --help``; numpy, the models and the backends load when a command runs.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any, NamedTuple

from ._common import EXIT_MISMATCH, EXIT_OK


class Defaults(NamedTuple):
    """A model's default learning rate and steps, for ``demo`` and for ``run``."""

    lr: float
    demo_steps: int
    run_steps: int


MODEL_DEFAULTS: dict[str, Defaults] = {
    # the tutorial's own: lr 0.01, 10,000 iterations (run keeps its 1,000 of before)
    "linear_regression": Defaults(0.01, 10_000, 1_000),
    # λmax of the demo's Hessian + 2α ≈ 2.65: stable below 0.75; 1,000 steps reach the optimum
    "ridge": Defaults(0.1, 1_000, 1_000),
    # the log-loss Hessian is at most (1/4)·λmax(XᵀX/m): lr 0.5 is well inside the bound
    "logistic_regression": Defaults(0.5, 500, 500),
    "softmax_regression": Defaults(0.5, 500, 500),
    # spiral data: loss 1.10 → 0.09 in 500 steps (0.07 in 1,000, for twice the wait: 57 s
    # against 30 s on a loaded 2-core machine, about 6 s warm in-process for 1,000 unloaded)
    "mlp": Defaults(1.0, 500, 500),
}
"""Model name → its defaults: one table for ``demo`` and ``run`` (``--lr``/``--steps`` override)."""

MODEL_NAMES: tuple[str, ...] = tuple(MODEL_DEFAULTS)

OPTIMIZERS: dict[str, tuple[str, dict[str, Any]]] = {
    "sgd": ("sgd", {}),
    "momentum": ("momentum", {"beta": 0.9}),
    "nesterov": ("momentum", {"beta": 0.9, "nesterov": True}),
    "adam": ("adam", {"b1": 0.9, "b2": 0.999, "eps": 1e-8}),
    "adamw": ("adamw", {"b1": 0.9, "b2": 0.999, "eps": 1e-8, "weight_decay": 0.01}),
}
"""``--optimizer`` name → the :mod:`gdcheck.optim` factory and its arguments."""


def optimizer_call(name: str) -> str:
    """``--optimizer NAME`` as the Python call it stands for: ``gdcheck.optim.momentum(beta=0.9)``."""
    factory, kwargs = OPTIMIZERS[name]
    return f"gdcheck.optim.{factory}({', '.join(f'{k}={v!r}' for k, v in kwargs.items())})"


def defaults_text(steps_field: str) -> tuple[str, str]:
    """The ``--lr`` and ``--steps`` help texts: the default of every model, from the table."""
    lrs = ", ".join(f"{name} {d.lr:g}" for name, d in MODEL_DEFAULTS.items())
    steps = ", ".join(f"{name} {getattr(d, steps_field):,}" for name, d in MODEL_DEFAULTS.items())
    return (
        f"learning rate η (default, per --model: {lrs})",
        f"number of updates K (default, per --model: {steps})",
    )


def add_model_option(
    p: argparse.ArgumentParser, *, default: str | None = "linear_regression", shown: str = ""
) -> None:
    """``--model NAME``, one of :data:`MODEL_NAMES`; ``shown`` describes a default of None."""
    p.add_argument(
        "--model",
        default=default,
        choices=MODEL_NAMES,
        metavar="NAME",
        help=f"the handwritten model, from gdcheck.models: {', '.join(MODEL_NAMES)} "
        f"(default {shown or default})",
    )


def add_run_options(p: argparse.ArgumentParser, *, steps_field: str, out: str) -> None:
    """``--lr`` … ``-q``; ``--lr``/``--steps`` default to None: :func:`resolve_defaults` fills them."""
    lr_help, steps_help = defaults_text(steps_field)
    p.add_argument("--lr", type=float, default=None, help=lr_help)
    p.add_argument("--steps", type=int, default=None, help=steps_help)
    p.add_argument(
        "--optimizer",
        default="sgd",
        choices=tuple(OPTIMIZERS),
        help="the update rule the libraries run (optax / torch.optim twins): "
        + "; ".join(f"{k} = {optimizer_call(k)}" for k in OPTIMIZERS)
        + ". Other than sgd, the reference runs the rule as gdcheck.optim writes it (its "
        "textbook rule), not a model's own gradient-descent update (default sgd)",
    )
    add_backend_options(p)
    p.add_argument("--out", default=None, help=f"report directory (default {out})")
    p.add_argument(
        "--no-save", action="store_true", help="print only; write no report (default: write it)"
    )
    p.add_argument(
        "--screenshot",
        action="store_true",
        help="also write report.png, a screenshot of report.html (needs Chromium; default off)",
    )
    add_quiet_option(p)


def add_backend_options(
    p: argparse.ArgumentParser, *, dtype_default: str | None = "float64"
) -> None:
    shown = dtype_default or "the file's dtype, else float64"
    p.add_argument(
        "--dtype",
        default=dtype_default,
        choices=("float64", "float32"),
        help=f"the dtype every backend runs in (default {shown})",
    )
    p.add_argument(
        "--backends",
        default=None,
        help="comma-separated, from numpy,jax,torch (default: every installed one)",
    )


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-q", "--quiet", action="store_true", help="print only the verdict (default: everything)"
    )


def resolve_defaults(args: argparse.Namespace, steps_field: str) -> None:
    """Fill ``args.lr`` and ``args.steps`` from :data:`MODEL_DEFAULTS` where not given."""
    defaults = MODEL_DEFAULTS[args.model]
    if args.lr is None:
        args.lr = defaults.lr
    if args.steps is None:
        args.steps = getattr(defaults, steps_field)


def build_model(name: str) -> Any:
    """The :mod:`gdcheck.models` factory called with its defaults."""
    from .. import models

    return getattr(models, name)()


def build_optimizer(name: str) -> Any:
    """The :mod:`gdcheck.optim` object ``--optimizer NAME`` stands for (see :data:`OPTIMIZERS`)."""
    from .. import optim
    from ..errors import InputError

    if name not in OPTIMIZERS:  # argparse's choices catch it first; this is for callers
        raise InputError(f"--optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}.")
    factory, kwargs = OPTIMIZERS[name]
    return getattr(optim, factory)(**kwargs)


def textbook_model(model: Any, optimizer: Any, option: str) -> tuple[Any, list[str]]:
    """The model the CLI runs with ``--optimizer``, and a note saying which rule the reference ran.

    A model's handwritten update is gradient descent; with any other optimizer the reference
    runs the optimizer's textbook rule from :mod:`gdcheck.optim` instead (the model's
    ``update`` dropped), and the note says so.
    """
    import dataclasses

    if optimizer.name == "sgd" and not optimizer.hyper:
        return model, []
    had_update = model.update is not None
    model = dataclasses.replace(model, update=None)
    whose = (
        f"{model.name}'s handwritten update (plain gradient descent) is not used"
        if had_update
        else f"{model.name} has no handwritten update"
    )
    return model, [
        f"--optimizer {option}: {whose}; the reference runs gdcheck.optim's textbook rule "
        f"{optimizer.rule} ({optimizer_call(option)}) on the handwritten gradient."
    ]


def crosscheck_and_report(
    args: argparse.Namespace,
    model: Any,
    *data: Any,
    print_costs: bool,
    notes: list[str] | None = None,
    optimizer: Any = None,
) -> int:
    """Run the cross-check, print costs, tables and verdict, save the report; return the exit code.

    ``args`` carries ``lr``, ``steps``, ``dtype``, ``backends``, ``quiet`` and ``out`` (None or
    ``--no-save``: no report written).
    """
    from .. import crosscheck
    from ..report import terminal
    from ..report.files import check_output_dir, save_report

    screenshot = getattr(args, "screenshot", False)
    save = args.out is not None and not getattr(args, "no_save", False)
    if save:  # refuse an unusable --out before the work, not after it
        check_output_dir(Path(args.out), screenshot=screenshot)
    with terminal.progress_bar(args.quiet) as progress:  # drawn only on a terminal, after ~1 s
        result = crosscheck(
            model,
            *data,
            lr=args.lr,
            steps=args.steps,
            optimizer=optimizer,
            backends=args.backends,
            dtype=args.dtype or "float64",
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
    if save:
        written = save_report(report, Path(args.out), screenshot=screenshot)
        if not args.quiet:
            print(f"\nReport: {', '.join(str(p) for p in written.values())}")
    return EXIT_OK if result.passed else EXIT_MISMATCH
