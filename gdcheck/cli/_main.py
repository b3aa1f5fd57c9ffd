"""The ``gdcheck`` command line. Exit codes: 0 all agree, 1 a disagreement, 2 bad usage or input.

Each subcommand lives in its own module under :mod:`gdcheck.cli` with ``register(sub)``
and ``run(args)``. Only the standard library is imported at start-up; numpy and the backends
load when a command runs, so ``gdcheck --help`` is fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence
from typing import Any

from ._common import COMMANDS, EXIT_USAGE


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as for every bad input
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"gdcheck: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gdcheck",
        description="Cross-check handwritten gradients against JAX and PyTorch autodiff, "
        "step by step.",
        epilog="Exit codes: 0 everything agrees, 1 a disagreement was found, 2 bad usage or input.",
    )
    parser.add_argument("--version", action="version", version=f"gdcheck {_version()}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    for name in COMMANDS:
        _module(name).register(sub)
    return parser


def _module(name: str) -> Any:
    return importlib.import_module(f"gdcheck.cli.{name}")


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
    from ..errors import GdcheckError

    try:
        return int(_module(args.command).run(args))
    except GdcheckError as exc:
        print(f"gdcheck: error: {exc.reason}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("gdcheck: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
