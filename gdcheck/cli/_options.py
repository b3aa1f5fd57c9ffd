"""The command-line options shared by ``gdcheck demo``, ``gdcheck run`` and ``gdcheck check
--steps``, and each model's defaults.

Only the standard library at import time: the model table and the option text are needed by
``gdcheck --help``.
"""

from __future__ import annotations

import argparse
from typing import Any, NamedTuple

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


def add_device_options(p: argparse.ArgumentParser, *, when: str = "") -> None:
    """``--device`` and ``--matmul-precision``: where JAX and PyTorch run, and how precisely
    (``when``: the help's prefix where they apply to one mode of the command only)."""
    p.add_argument(
        "--device",
        type=_device,
        default="cpu",
        help=f"{when}where JAX and PyTorch run: cpu, cuda or cuda:N (gpu, gpu:N alike; NumPy, the "
        "reference, stays on the CPU); a GPU a chosen library cannot see is refused, exit 2 "
        "(default cpu)",
    )
    p.add_argument(
        "--matmul-precision",
        choices=("default", "high", "highest"),
        default=None,
        help=f"{when}JAX's and torch's float32 matmul precision for the run, restored afterwards: "
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
