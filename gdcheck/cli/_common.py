"""Subcommands of the ``gdcheck`` CLI: one module each, with ``register(sub)`` and ``run(args)``."""

EXIT_OK, EXIT_MISMATCH, EXIT_USAGE = 0, 1, 2

COMMANDS: tuple[str, ...] = ("demo", "run", "check", "report", "explain")
"""Module names under :mod:`gdcheck.cli`, in the order ``gdcheck --help`` lists them."""
