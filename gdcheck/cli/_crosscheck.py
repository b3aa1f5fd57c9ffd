"""Options and output shared by ``gdcheck demo``, ``gdcheck run`` and ``gdcheck check --steps``.

Only the standard library at import time: the model table and the option text are needed by
``gdcheck --help``; numpy, the models and the backends load when a command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any, NamedTuple

from ._common import EXIT_MISMATCH, EXIT_OK

EXIT_NOT_CHECKED = 3
"""Exit code when nothing was compared: only the NumPy reference ran (no jax, no torch)."""

EXIT_CODES = (
    "Exit codes: 0 every backend agrees with the handwritten reference; 1 a disagreement was "
    "found (or, with --require-converged, the run has not converged); 2 bad usage or bad "
    "input; 3 nothing was compared: only the NumPy reference ran (install jax/torch: pip "
    "install 'gdcheck[all]')."
)
"""The epilog of ``gdcheck demo`` and ``gdcheck run``."""


def learning_rate(text: str) -> float | str:
    """``--lr``: a number > 0, or ``auto`` (2/(λmin+λmax) of the model's Hessian)."""
    if text.strip().lower() == "auto":
        return "auto"
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a learning rate; pass a number > 0 such as 0.01, or auto"
        ) from None
    if not value > 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r}: the learning rate must be a finite number > 0")
    return value


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
        f"learning rate η, a number or 'auto' (2/(λmin+λmax) of the model's Hessian, the best "
        f"fixed step on a quadratic cost; linear_regression and ridge only) (default, per "
        f"--model: {lrs})",
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


def add_run_options(
    p: argparse.ArgumentParser, *, steps_field: str, out: str, standardize: str = "off"
) -> None:
    """``--lr`` … ``-q``; ``--lr``/``--steps`` default to None: :func:`resolve_defaults` fills them.

    ``standardize`` describes the default of ``--standardize`` (None in ``args``: decided by
    the command)."""
    lr_help, steps_help = defaults_text(steps_field)
    p.add_argument("--lr", type=learning_rate, default=None, help=lr_help)
    p.add_argument("--steps", type=int, default=None, help=steps_help)
    p.add_argument(
        "--standardize",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="standardise each feature, (x − mean)/std over the examples, before the run "
        "(the target is left alone); the report gives the means, the scales and, for "
        f"linear_regression and ridge, the weights in original units (default {standardize})",
    )
    p.add_argument(
        "--require-converged",
        action="store_true",
        help="exit 1 when the run has not converged (relative distance to the optimum, or the "
        "gradient norm's decrease, above 1e-6 in float64, 1e-4 in float32), even if every "
        "backend agrees (default off: convergence is reported, agreement sets the exit code)",
    )
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
    add_device_options(p)
    add_record_option(p)
    p.add_argument("--out", default=None, help=f"report directory (default {out})")
    p.add_argument(
        "--no-save", action="store_true", help="print only; write no report (default: write it)"
    )
    p.add_argument(
        "--workers",
        type=_workers,
        default=None,
        metavar="W",
        help="also cross-check data-parallel training over W workers (torch DDP over gloo on "
        "loopback, JAX sharded over W CPU devices) against the single-process run "
        "(default: off)",
    )
    p.add_argument(
        "--force",
        action="store_true",
        help="replace a report of another run in --out (default: a report of the same run is "
        "refreshed; one of another run is kept, and this one goes beside it in OUT-2, OUT-3, …)",
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


def add_device_options(p: argparse.ArgumentParser) -> None:
    """``--device`` and ``--matmul-precision``: where JAX and PyTorch run, and how precisely."""
    p.add_argument(
        "--device",
        type=_device,
        default="cpu",
        help="where JAX and PyTorch run: cpu, cuda or cuda:N (NumPy, the reference, stays on "
        "the CPU); a GPU a chosen library cannot see is refused, exit 2 (default cpu)",
    )
    p.add_argument(
        "--matmul-precision",
        choices=("default", "high", "highest"),
        default=None,
        help="JAX's and torch's float32 matmul precision for the run, restored afterwards: "
        "default (each library's own: reduced on a GPU for JAX, highest for torch), high "
        "(TF32 allowed), highest (full float32) (default: as the libraries are set)",
    )


def _device(text: str) -> str:
    from ..backends._device import parse_device
    from ..errors import InputError

    try:
        return parse_device(text)
    except InputError as exc:
        raise argparse.ArgumentTypeError(exc.reason.replace("device=", "", 1)) from None


def add_record_option(p: argparse.ArgumentParser, *, when: str = "") -> None:
    """``--record-every K``: keep (and check) only every K-th step's row, and the last."""
    p.add_argument(
        "--record-every",
        type=_record_every,
        default=1,
        metavar="K",
        help=f"{when}keep each backend's weights only at steps 0, K, 2K, … and the last, and run "
        "the shadow checks and the trajectory comparison there: memory about steps/K rows "
        "instead of steps+1; a mistake visible only at the steps in between is missed, and "
        "the report says which steps were checked (1 ≤ K ≤ --steps; default 1, every step)",
    )


def _record_every(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a whole number of steps; pass K ≥ 1, such as 100"
        ) from None
    if value < 1:
        raise argparse.ArgumentTypeError(
            f"{value}: K must be at least 1 (1 records every step), e.g. --record-every 100"
        )
    return value


def add_quiet_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        help="print only the verdict: agreement, then convergence (default: tables and notes)",
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
    from ..report.text import quiet_text

    screenshot = getattr(args, "screenshot", False)
    save = args.out is not None and not getattr(args, "no_save", False)
    standardize = bool(getattr(args, "standardize", False))
    layout = getattr(args, "layout", None)
    notes = list(notes or [])
    if save:  # refuse an unusable --out before the work, not after it
        check_output_dir(Path(args.out), screenshot=screenshot)
    if args.lr == "auto":
        args.lr, why = _auto_lr(model, data, optimizer, standardize, layout)
        notes.append(why)
        if not args.quiet:
            terminal.print_lines([why, ""])
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
            standardize=standardize,
            layout=layout,
            workers=getattr(args, "workers", None),
            device=getattr(args, "device", "cpu"),
            matmul_precision=getattr(args, "matmul_precision", None),
            record_every=getattr(args, "record_every", 1),
        )
    result.notes.extend(notes)
    report = result.to_dict()
    if args.quiet:
        print(quiet_text(report))
    else:
        if print_costs:
            costs = result.cost_checkpoints(2000)  # the tutorial prints every 2,000
            terminal.print_lines([f"Cost at iteration {k} is {cost}" for k, cost in costs] + [""])
        terminal.print_report(report)  # rich tables; plain text without rich
    if save:
        out, why = report_directory(Path(args.out), report, force=getattr(args, "force", False))
        written = save_report(report, out, screenshot=screenshot, force=True)
        if why:
            print(why, file=sys.stderr)
        if not args.quiet:
            print("\n" + report_line(written))
    return exit_code(result, require_converged=getattr(args, "require_converged", False))


def _workers(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of workers; pass 2, 3, …"
        ) from None
    if not 1 <= value <= 64:
        raise argparse.ArgumentTypeError(f"{value} workers: pass a whole number from 1 to 64")
    return value


def report_directory(out: Path, report: dict[str, Any], *, force: bool) -> tuple[Path, str]:
    """Where to write: ``out``, unless it holds the report of another run and not ``force``.

    A report of the same run (the same configuration: model, data layout, lr, steps, dtype,
    backends, optimizer) is refreshed in place — re-running is how a report is regenerated.
    A report of another run is never replaced without ``--force``: the new one goes beside it,
    in the first free ``OUT-2``, ``OUT-3``, …, and the reason is printed.
    """
    from ..errors import InputError
    from ..report.schema import load_report

    existing = out / "report.json"
    if force or not existing.is_file():
        return out, ""
    try:
        old = load_report(existing)
    except InputError:
        old = {}
    if old.get("config") == report.get("config"):
        return out, ""
    for k in range(2, 1000):
        beside = out.with_name(f"{out.name}-{k}")
        if not (beside / "report.json").exists():
            return beside, (
                f"gdcheck: {out} holds the report of another run "
                f"({_config_words(old.get('config') or {})}); this run's report goes beside it "
                f"in {beside} (use --force to replace it)."
            )
    raise InputError(f"{out}-2 … {out}-999 all hold reports; choose another --out or use --force.")


def _config_words(config: dict[str, Any]) -> str:
    keys = ("model", "lr", "steps", "dtype", "optimizer")
    return ", ".join(f"{k} {config[k]}" for k in keys if k in config) or "unreadable"


def report_line(written: dict[str, Path]) -> str:
    """``Report: OUT/report.html (also report.md, report.json, …, in OUT)``: the page to open
    first, then the other files by name."""
    html = written.get("html")
    if html is None:
        return f"Report: {', '.join(str(p) for p in written.values())}"
    others = [p.name for k, p in written.items() if k != "html"]
    return f"Report: {html} (also {', '.join(others)}, in {html.parent})"


def exit_code(result: Any, *, require_converged: bool = False) -> int:
    """1 on a disagreement; 3 when nothing was compared; 1 with ``require_converged`` on a run
    that has not converged; else 0."""
    if not result.passed:
        return EXIT_MISMATCH
    if not result.compared:
        return EXIT_NOT_CHECKED
    if require_converged and not result.convergence.converged:
        return EXIT_MISMATCH
    return EXIT_OK


def _auto_lr(
    model: Any, data: tuple, optimizer: Any, standardize: bool, layout: str | None
) -> tuple[float, str]:
    """``--lr auto`` for plain gradient descent on a model with a Hessian; refused otherwise."""
    from ..errors import InputError
    from ..trajectory._convergence import lr_from_data

    if optimizer is not None and (optimizer.name != "sgd" or optimizer.hyper):
        raise InputError(
            f"--lr auto picks the best fixed step of plain gradient descent, 2/(λmin+λmax); "
            f"with --optimizer {optimizer.name} pass --lr VALUE."
        )
    return lr_from_data(model, *data, standardize=standardize, layout=layout)
