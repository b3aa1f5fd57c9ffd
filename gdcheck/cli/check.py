"""``gdcheck check FILE.py``: check the handwritten gradient a file defines.

The file defines ``loss(params, *data)``, ``grad(params, *data)``, ``params`` and ``data`` (a
tuple), and optionally ``dtype``; see ``gdcheck/examples/linear_regression_check.py``.
Exit codes: 0 right, 1 wrong, 2 bad input.
"""

from __future__ import annotations

import argparse
import runpy
from pathlib import Path
from typing import Any

from ._common import EXIT_MISMATCH, EXIT_OK

REQUIRED = ("loss", "grad", "params", "data")


def register(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check the loss and handwritten gradient a Python file defines",
        description="Check a handwritten gradient against JAX and PyTorch autodiff and "
        "autodiff-free witnesses. FILE.py defines loss(params, *data), grad(params, *data), "
        "params and data (a tuple); optionally dtype. Example: "
        "gdcheck/examples/linear_regression_check.py",
    )
    p.add_argument("file", help="a .py file defining loss, grad, params and data")
    p.add_argument(
        "--dtype",
        choices=("float64", "float32"),
        default=None,
        help="the dtype your gradient runs in (default: the file's dtype or params')",
    )
    p.add_argument("--backends", default=None, help="comma-separated, from jax,torch")
    p.add_argument("--witnesses", default="auto", choices=("auto", "directions", "entries", "none"))
    p.add_argument("--seed", type=int, default=0)


def load_definitions(path: str) -> dict[str, Any]:
    """Run the user's file and return its namespace, or explain what is missing or broken."""
    from ..errors import InputError

    file = Path(path)
    if not file.exists():
        raise InputError(
            f"{path!r} does not exist; pass a .py file defining {', '.join(REQUIRED)}."
        )
    if file.suffix != ".py":
        raise InputError(f"{path!r} is not a .py file; gdcheck check runs a Python file.")
    try:
        namespace = runpy.run_path(str(file), run_name="__gdcheck__")
    except SystemExit as exc:
        raise InputError(f"{path} called exit({exc.code}) while being loaded.") from None
    except Exception as exc:
        raise InputError(f"{path} failed to run: {type(exc).__name__}: {exc}") from None
    missing = [name for name in REQUIRED if name not in namespace]
    if missing:
        raise InputError(
            f"{path} does not define {', '.join(missing)}; it must define loss(params, *data), "
            "grad(params, *data), params and data (a tuple). See "
            "gdcheck/examples/linear_regression_check.py."
        )
    if not isinstance(namespace["data"], (tuple, list)):
        raise InputError(
            f"{path}: data must be a tuple of arrays, got {type(namespace['data']).__name__}; "
            "write data = (X, y)."
        )
    return namespace


def run(args: argparse.Namespace) -> int:
    from ..check._api import check_gradient

    ns = load_definitions(args.file)
    result = check_gradient(
        ns["loss"],
        ns["grad"],
        ns["params"],
        *ns["data"],
        backends=args.backends,
        dtype=args.dtype or ns.get("dtype"),
        witnesses=args.witnesses,
        seed=args.seed,
    )
    print(result)
    return EXIT_OK if result.passed else EXIT_MISMATCH
