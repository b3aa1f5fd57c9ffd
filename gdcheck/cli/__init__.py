"""The ``gdcheck`` command line: one module per subcommand (``register(sub)``, ``run(args)``)."""

from ._main import build_parser as build_parser
from ._main import entry as entry
from ._main import main as main

__all__ = ["build_parser", "entry", "main"]
