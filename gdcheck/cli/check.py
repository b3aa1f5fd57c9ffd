"""``gdcheck check FILE.py``: check the handwritten gradient (and update) a file defines.

The file defines ``loss(params, *data)``, ``grad(params, *data)``, ``data`` (a tuple), and
``params`` or ``init(*data)``; optionally ``dtype``, and ``LAYOUT`` / ``ORDER`` for a flat,
unrolled parameter vector (``check_gradient(layout=, order=)``). That is a one-point check
(:func:`gdcheck.check_gradient`). With ``--steps K`` and an ``init``, the file's model —
``gdcheck.Model(name=<file stem>, loss, grad, init, update)``, with the optional ``update``,
``optimizer`` (a :mod:`gdcheck.optim` object) and ``lr`` — is cross-checked along K steps
(:func:`gdcheck.crosscheck`). Examples: ``gdcheck/examples/linear_regression_check.py``,
``gdcheck/examples/logistic_check.py``. Exit codes: 0 right, 1 wrong, 2 bad input.

The file runs in a child process (:mod:`gdcheck.cli._sandbox`) under a time limit,
``--timeout`` (default :data:`DEFAULT_TIMEOUT` s): a file that hangs, exits or crashes ends in
exit 2 with one line, never in a hang or a pass.
"""

from __future__ import annotations

import argparse
import math
import os
import runpy
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._common import EXIT_MISMATCH, EXIT_OK
from ._crosscheck import crosscheck_and_report
from ._options import (
    add_backend_options,
    add_device_options,
    add_quiet_option,
    add_record_option,
)
from ._sandbox import run_in_child

REQUIRED = ("loss", "grad", "params", "data")
"""What a file must define; ``init(*data)`` may stand in for ``params``."""
DEFAULT_LR = 0.01
DEFAULT_TIMEOUT = 120.0
"""Seconds ``gdcheck check`` lets the file's code run (loading it and the whole check)."""
CONVENTION = (
    "it must define loss(params, *data), grad(params, *data), data (a tuple) and params or "
    "init(*data). See gdcheck/examples/linear_regression_check.py and "
    "gdcheck/examples/logistic_check.py."
)


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check the loss and handwritten gradient (and update) a Python file defines",
        description="Check a handwritten gradient against JAX and PyTorch autodiff and "
        "autodiff-free witnesses. FILE.py defines loss(params, *data), grad(params, *data), "
        "data (a tuple), and params (the point to check) or init(*data); optionally dtype. "
        "With --steps K the file must define init(*data), and may define update(params, grads, "
        "state, lr) -> (params, state), optimizer (a gdcheck.optim object, what the update "
        "computes) and lr: the model is trained for K steps beside JAX and PyTorch and every "
        "step is cross-checked, as gdcheck demo does. Examples: "
        "gdcheck/examples/linear_regression_check.py (one point), "
        "gdcheck/examples/logistic_check.py (dict params and init: try --steps 200).",
    )
    p.add_argument("file", help="a .py file defining loss, grad, data, and params or init")
    add_backend_options(p, dtype_default=None)
    p.add_argument(
        "--witnesses",
        default="auto",
        choices=("auto", "directions", "entries", "none"),
        help="autodiff-free witnesses of the one-point check (default auto)",
    )
    p.add_argument(
        "--seed", type=int, default=0, help="seed of the one-point check's extra points (default 0)"
    )
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help="cross-check K steps of training from init instead of one point "
        "(default: none, the one-point check)",
    )
    p.add_argument(
        "--lr",
        type=float,
        default=None,
        help=f"with --steps: the learning rate (default: the file's lr, else {DEFAULT_LR})",
    )
    p.add_argument(
        "--out",
        default=None,
        help="with --steps: write the report to this directory (default: none written)",
    )
    add_record_option(p, when="with --steps: ")
    add_device_options(p, when="with --steps: ")
    p.add_argument(
        "--timeout",
        type=_timeout,
        default=DEFAULT_TIMEOUT,
        metavar="SECONDS",
        help="stop the check, with exit code 2, if FILE (its module body, loss, grad or update) "
        f"has not finished after SECONDS (default {DEFAULT_TIMEOUT:g})",
    )
    add_quiet_option(p)


def _timeout(text: str) -> float:
    """``--timeout``: seconds, a finite number > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a number of seconds; write e.g. --timeout 300"
        ) from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: the time limit must be a finite number of seconds > 0; write e.g. "
            "--timeout 300"
        )
    return value


def load_definitions(path: str) -> dict[str, Any]:
    """Run the user's file and return its namespace, or explain what is missing or broken."""
    file = Path(path)
    if not file.exists():
        raise InputError(f"{path!r} does not exist; pass a .py file: {CONVENTION}")
    if file.suffix != ".py":
        raise InputError(f"{path!r} is not a .py file; gdcheck check runs a Python file.")
    try:
        namespace = runpy.run_path(str(file), run_name="__gdcheck__")
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
        raise InputError(
            f"{path} ended the process (exit code {code}) before the check finished: nothing was "
            f"checked (it called exit({exc.code!r}) while being loaded). Remove the call."
        ) from None
    except Exception as exc:
        raise InputError(f"{path} failed to run: {type(exc).__name__}: {exc}") from None
    has = set(namespace) | ({"params"} if "init" in namespace else set())  # init gives params
    missing = [name for name in REQUIRED if name not in has]
    if missing:
        raise InputError(f"{path} does not define {', '.join(missing)}; {CONVENTION}")
    if not isinstance(namespace["data"], (tuple, list)):
        raise InputError(
            f"{path}: data must be a tuple of arrays, got {type(namespace['data']).__name__}; "
            "write data = (X, y)."
        )
    for name in ("loss", "grad", "init", "update"):
        if name in namespace and namespace[name] is not None and not callable(namespace[name]):
            raise InputError(
                f"{path}: {name} must be a function, got {type(namespace[name]).__name__}."
            )
    return namespace


def run(args: argparse.Namespace) -> int:
    """Check ``args.file`` in a child process under ``args.timeout`` (see the module docstring)."""
    _check_file(args.file)
    if args.steps is not None and args.steps < 0:
        raise InputError(f"--steps must be >= 0, got {args.steps}; e.g. --steps 200.")
    if args.lr is not None:
        from ..validation import check_lr

        check_lr(args.lr, "--lr")
    if args.steps is None:
        _refuse_cross_check_flags(args)
    timeout = getattr(args, "timeout", DEFAULT_TIMEOUT)
    return run_in_child(
        __name__, "run_here", args, label=args.file, timeout=timeout, what="--timeout"
    )


CPU_ONLY = (
    "compares your gradient with float64 autodiff on the CPU, where it changes nothing (float64 "
    "has no reduced matmul; a GPU would only add transfers)"
)
"""Why ``--device`` and ``--matmul-precision`` do nothing for the one-point check."""


def _refuse_cross_check_flags(args: argparse.Namespace) -> None:
    """Refuse, in one wording, a flag of the cross-check of ``--steps K`` given without
    ``--steps``: said, not ignored."""
    device = getattr(args, "device", "cpu")
    precision = getattr(args, "matmul_precision", None)
    every = getattr(args, "record_every", 1)
    given = [
        (f"--record-every {every}", "which steps it records", None, every != 1),
        (f"--device {device}", "where JAX and PyTorch train", CPU_ONLY, device != "cpu"),
        (
            f"--matmul-precision {precision}",
            "JAX's and torch's float32 matmul precision",
            CPU_ONLY,
            precision is not None,
        ),
        (f"--lr {args.lr}", "the learning rate", None, args.lr is not None),
        (f"--out {args.out}", "the report directory", None, args.out is not None),
    ]
    for flag, what, one_point, set_ in given:
        if set_:
            raise InputError(
                f"{flag} applies to the cross-check of --steps K ({what}); the one-point check "
                f"{one_point or 'trains nothing and prints its result'}. Add --steps (e.g. "
                f"--steps 200), or drop {flag.split()[0]}."
            )


def _check_file(path: str) -> None:
    """Refuse, before starting a child, a FILE that is not a readable .py file."""
    file = Path(path)
    if not file.exists():
        raise InputError(f"{path!r} does not exist; pass a .py file: {CONVENTION}")
    if file.suffix != ".py":
        raise InputError(f"{path!r} is not a .py file; gdcheck check runs a Python file.")
    if not file.is_file():
        what = "a directory" if file.is_dir() else "not a regular file (a FIFO or a device?)"
        raise InputError(f"{path!r} is {what}; pass a .py file: {CONVENTION}")
    if not os.access(file, os.R_OK):
        raise InputError(f"{path!r} cannot be read (permission denied); fix its permissions.")


def run_here(args: argparse.Namespace) -> int:
    """The check itself, in this process: what :func:`run` runs in the child."""
    ns = load_definitions(args.file)
    if args.steps is not None:
        return _trajectory(args, ns)
    from ..check._api import check_gradient

    params = ns["params"] if "params" in ns else _init(args.file, ns)
    result = check_gradient(
        ns["loss"],
        ns["grad"],
        params,
        *ns["data"],
        backends=args.backends,
        dtype=args.dtype or ns.get("dtype"),
        witnesses=args.witnesses,
        seed=args.seed,
        layout=ns.get("LAYOUT"),
        order=ns.get("ORDER"),
    )
    text = str(result)
    print(text.splitlines()[0] if args.quiet else text)
    return EXIT_OK if result.passed else EXIT_MISMATCH


def _init(path: str, ns: dict[str, Any]) -> Any:
    from ..errors import GdcheckError

    try:
        return ns["init"](*ns["data"])
    except GdcheckError:
        raise
    except Exception as exc:
        raise InputError(
            f"{path}: init(*data) raised {type(exc).__name__}: {exc}; it must return the params "
            "at step 0 (an array or a dict of arrays)."
        ) from None


def _trajectory(args: argparse.Namespace, ns: dict[str, Any]) -> int:
    """``--steps K``: the file's model cross-checked along K steps, reported as demo does."""
    from ..models import Model

    if "init" not in ns:
        raise InputError(
            f"{args.file}: --steps {args.steps} trains from init(*data), which the file does not "
            "define; add def init(*data): return <params at step 0>, or drop --steps for the "
            "one-point check at params."
        )
    model = Model(
        name=Path(args.file).stem,
        loss=ns["loss"],
        grad=ns["grad"],
        init=ns["init"],
        update=ns.get("update"),
    )
    if args.lr is None:
        args.lr = ns.get("lr", DEFAULT_LR)
    if args.dtype is None:
        args.dtype = ns.get("dtype", "float64")
    return crosscheck_and_report(
        args,
        model,
        *ns["data"],
        print_costs=False,
        notes=[f"model: {args.file}, cross-checked for {args.steps} steps from its init."],
        optimizer=ns.get("optimizer"),
    )
