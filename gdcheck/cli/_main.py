"""The ``gdcheck`` command line. Exit codes: 0 all agree, 1 a disagreement, 2 bad usage or input.

Each subcommand lives in its own module under :mod:`gdcheck.cli` with ``register(sub)``
and ``run(args)``. Only the standard library is imported at start-up; numpy and the backends
load when a command runs, so ``gdcheck --help`` is fast.

Whatever happens, the command ends with an exit code and at most one ``gdcheck:`` line on
stderr, never a traceback: a bad input is exit 2; Ctrl-C is exit 130 and SIGTERM exit 143
(:data:`EXIT_INTERRUPTED`, :data:`EXIT_TERMINATED`); an error nothing else explained is
exit 2 with its type and the line that raised it (``GDCHECK_TRACEBACK=1`` shows the traceback).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import os
import signal
import sys
import threading
import traceback
from collections.abc import Iterator, Sequence
from typing import Any

from ._common import COMMANDS, EXIT_USAGE

EXIT_INTERRUPTED = 128 + signal.SIGINT  # 130, as a shell reports Ctrl-C
EXIT_TERMINATED = 128 + signal.SIGTERM  # 143
FORCED_EXIT_AFTER = 3.0
"""Seconds after Ctrl-C/SIGTERM before the process exits by force, in case the exception was
swallowed (raised inside a callback that ignores exceptions, such as a gc callback)."""
TRACEBACK_ENV = "GDCHECK_TRACEBACK"
"""Set to 1 to let an unexpected error's traceback through (for bug reports)."""


class Terminated(BaseException):
    """SIGTERM arrived: unwinds like KeyboardInterrupt (``finally`` blocks run, temporaries
    are removed), and ``main`` exits 143."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # one line, exit 2, as for every bad input
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"gdcheck: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="gdcheck",
        description="Cross-check handwritten gradients against JAX and PyTorch autodiff, "
        "step by step.",
        epilog="Exit codes: 0 everything agrees, 1 a disagreement was found, 2 bad usage or "
        "input; 130 interrupted (Ctrl-C), 143 terminated (SIGTERM).",
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
    """Run ``gdcheck ARGV``; return its exit code (``--help``/``--version`` exit 0 as argparse
    does, with SystemExit)."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        if not exc.code:  # --help, --version: argparse's own exit
            raise
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    if args.command is None:
        parser.print_help()
        return EXIT_USAGE
    from ..errors import GdcheckError

    stopping = threading.Event()
    try:
        with _signals_raise(stopping):
            _check_common(args)
            return int(_module(args.command).run(args))
    except GdcheckError as exc:
        return _fail(exc.reason)
    except KeyboardInterrupt:
        return _fail(f"{STOPPED[signal.SIGINT][2]}; nothing more was written", EXIT_INTERRUPTED)
    except Terminated:
        return _fail(f"{STOPPED[signal.SIGTERM][2]}; nothing more was written", EXIT_TERMINATED)
    except RecursionError:
        return _fail("the input is nested too deeply to read (RecursionError); flatten it.")
    except MemoryError:
        return _fail("out of memory; use smaller data or fewer --steps.")
    except Exception as exc:
        if os.environ.get(TRACEBACK_ENV) == "1":
            raise
        return _fail(_unexpected(exc))
    finally:
        stopping.set()  # main is returning: no forced exit


def _fail(message: str, code: int = EXIT_USAGE) -> int:
    print(f"gdcheck: error: {message}", file=sys.stderr)
    return code


def _unexpected(exc: Exception) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    return (
        f"unexpected {type(exc).__name__}: {exc}{where}. This is likely a gdcheck bug; rerun "
        f"with {TRACEBACK_ENV}=1 for the traceback and report it."
    )


def _check_common(args: argparse.Namespace) -> None:
    """Options several subcommands share, refused with one message before any work."""
    from ..validation import check_seed

    if getattr(args, "seed", None) is not None:
        check_seed(args.seed)


STOPPED = {
    signal.SIGINT: (KeyboardInterrupt, EXIT_INTERRUPTED, "interrupted (Ctrl-C)"),
    signal.SIGTERM: (Terminated, EXIT_TERMINATED, "terminated (SIGTERM)"),
}


@contextlib.contextmanager
def _signals_raise(stopping: threading.Event) -> Iterator[None]:
    """While a command runs, SIGINT raises KeyboardInterrupt and SIGTERM :class:`Terminated`
    (main thread only), and a forced exit follows :data:`FORCED_EXIT_AFTER` s later unless
    ``stopping`` is set first. A SIGINT ignored at start (a background job) stays ignored."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        exception, code, what = STOPPED[signal.Signals(signum)]
        threading.Thread(
            target=_force_exit, args=(stopping, code, what), name="gdcheck-exit", daemon=True
        ).start()
        raise exception

    # A signal that lands inside a callback Python runs for itself (JAX's garbage-collection
    # callback, say) raises there, and Python only prints "Exception ignored in …" with a
    # traceback: keep that quiet; the forced exit above still ends the run with one line.
    quiet_unraisable = sys.unraisablehook

    def unraisable(info: Any) -> None:
        if not isinstance(info.exc_value, (KeyboardInterrupt, Terminated)):
            quiet_unraisable(info)

    sys.unraisablehook = unraisable
    previous = {}
    for signum in STOPPED:
        if signal.getsignal(signum) is not signal.SIG_IGN:
            previous[signum] = signal.signal(signum, handler)
    try:
        yield
    finally:
        for signum, old in previous.items():
            signal.signal(signum, old)
        sys.unraisablehook = quiet_unraisable


def _force_exit(stopping: threading.Event, code: int, what: str) -> None:
    """Exit with ``code`` if main has not returned in time (waiting for a report's renames)."""
    if stopping.wait(FORCED_EXIT_AFTER):
        return
    from ..report.files import REPLACING

    with REPLACING:
        if stopping.is_set():
            return
        sys.stderr.write(f"gdcheck: error: {what}; nothing more was written\n")
        sys.stderr.flush()
        os._exit(code)


def entry() -> None:
    """The ``gdcheck`` command and ``python -m gdcheck``: :func:`main`, then exit with its code.

    After a signal stopped the command (130, 143), the streams are flushed and the process
    ends with ``os._exit``, skipping the interpreter's teardown: JAX's and torch's threads,
    interrupted mid-computation, can crash it (a SIGTERM'd demo printed its one line and then
    exited -11, a segfault, once in a clean-clone CI run), and by then everything the command
    writes is finished or undone (reports are replaced whole, workers stopped)."""
    code = main()
    if code in (EXIT_INTERRUPTED, EXIT_TERMINATED):
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(Exception):
                stream.flush()
        os._exit(code)
    sys.exit(code)


if __name__ == "__main__":
    entry()
