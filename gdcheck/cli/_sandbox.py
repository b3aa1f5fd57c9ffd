"""Run a command's work in a child process, so that a user's file cannot hang or end gdcheck.

``gdcheck check FILE.py`` runs the user's code: a module body, a loss or a gradient that never
returns, calls ``sys.exit``/``os._exit``, or crashes the interpreter (a segfault in an
extension). :func:`run_in_child` runs ``module.function(args)`` in a fresh interpreter
(multiprocessing's ``spawn`` context: no state shared with this one), waits at most
``timeout`` seconds, and turns every way the child can end into an exit code or one
:class:`~gdcheck.errors.InputError` line:

- it returned: its printed text is printed here, byte for byte, and its exit code returned;
- it raised a gdcheck error: the same one-line message;
- it ran out of time, ended itself or was killed: a message naming what happened and how to
  change it — never a pass, since nothing was checked;
- Ctrl-C (SIGINT) or SIGTERM here: the child is stopped at once and the interruption goes on up
  (``gdcheck.cli.main`` exits 130 or 143). The child ignores SIGINT itself (a terminal sends
  Ctrl-C to the whole process group) and ends on its own if this process disappears, so no
  orphan is left behind.

Only the standard library is imported here.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import multiprocessing
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Iterator
from typing import Any

from ..errors import GdcheckError, InputError

EXIT_GRACE = 5.0
"""Seconds a child that has sent its result may take to exit before it is stopped."""
STOP_GRACE = 1.0
"""Seconds between SIGTERM and SIGKILL when a child is stopped."""
_POLL = 0.2
_ORPHAN_POLL = 0.5


class _Stream(io.StringIO):
    """Captured output that answers ``isatty()`` as this process's stream would, so the
    child's rich tables look exactly as they would here."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


def run_in_child(
    module: str, function: str, args: Any, *, label: str, timeout: float, what: str
) -> int:
    """``module.function(args)`` in a spawned child; its exit code, its output printed here.

    ``label`` names the user's file in messages; ``what`` is the option that sets ``timeout``
    (``--timeout``). Raises :class:`InputError` for a timeout, a child that ended or died
    early, or an error the child raised.
    """
    ctx = multiprocessing.get_context("spawn")
    receive, send = ctx.Pipe(duplex=False)
    ttys = (_is_tty(sys.stdout), _is_tty(sys.stderr))
    proc = ctx.Process(
        target=_child,
        args=(send, module, function, args, os.getpid(), ttys),
        name=f"gdcheck-{function}",
        daemon=True,  # multiprocessing stops it too if this interpreter exits
    )
    with _sigint_ignored():  # inherited by the child: Ctrl-C is this process's to handle
        proc.start()
    send.close()
    message: tuple[Any, ...] | None = None
    try:
        message = _wait(receive, timeout)
    except TimeoutError:
        _stop(proc, at_once=True)
        raise InputError(
            f"{label} did not finish within the time limit, {what} {timeout:g} s (a module "
            "body, loss, grad or update that never returns?); it was stopped and nothing was "
            f"checked. If it is only slow, raise the limit: {what} SECONDS."
        ) from None
    finally:
        _stop(proc, at_once=message is None)
        receive.close()
    if message is None:
        raise InputError(_ended(label, proc.exitcode))
    kind, payload, out, err = message
    _print(out, err)
    if kind == "done":
        return int(payload)
    if kind == "exit":
        raise InputError(_ended(label, payload))
    raise InputError(str(payload))


def _wait(receive: Any, timeout: float) -> tuple[Any, ...] | None:
    """The child's one message, or None if it ended without one; TimeoutError past
    ``timeout``. Polls in short slices, so that SIGINT/SIGTERM are handled at once."""
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError
        if receive.poll(min(left, _POLL)):
            try:
                return receive.recv()
            except (EOFError, OSError):  # it ended (closing the pipe) without a word
                return None


def _stop(proc: Any, *, at_once: bool) -> None:
    """Let the child exit (briefly), else SIGTERM, else SIGKILL; always reap it."""
    if proc.exitcode is None:
        proc.join(0.0 if at_once else EXIT_GRACE)
    if proc.exitcode is None:
        with contextlib.suppress(OSError):
            proc.terminate()
        proc.join(STOP_GRACE)
    if proc.exitcode is None:
        with contextlib.suppress(OSError):
            proc.kill()
        proc.join()


def _ended(label: str, code: Any) -> str:
    """Why there is no result: the process ended (exit code) or was killed (signal)."""
    if isinstance(code, int) and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        how = f"was killed by {name} (signal {-code})"
        if -code == signal.SIGSEGV:
            how += ", a crash in compiled code,"
        elif -code == signal.SIGKILL:
            how += ", perhaps by the system for lack of memory,"
        return f"{label} {how} before the check finished: nothing was checked."
    shown = 0 if code is None else code
    return (
        f"{label} ended the process (exit code {shown}) before the check finished: nothing was "
        "checked. Remove the sys.exit/os._exit call (or the code that ends the process) from "
        "the file."
    )


def _print(out: str, err: str) -> None:
    if out:
        sys.stdout.write(out)
        sys.stdout.flush()
    if err:
        sys.stderr.write(err)
        sys.stderr.flush()


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


# --- in the child ------------------------------------------------------------------------------


def _child(
    send: Any, module: str, function: str, args: Any, parent: int, ttys: tuple[bool, bool]
) -> None:
    """The child's body: run ``module.function(args)`` with captured output, send one message."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _watch_parent(parent)
    out = _Stream(ttys[0])
    err = _Stream(ttys[1]) if not ttys[1] else None  # a terminal's stderr stays live (progress)
    real_out, real_err = sys.stdout, sys.stderr
    sys.stdout = out
    if err is not None:
        sys.stderr = err
    try:
        code = getattr(importlib.import_module(module), function)(args)
        message: tuple[Any, ...] = ("done", int(code))
    except GdcheckError as exc:
        message = ("error", exc.reason)
    except SystemExit as exc:
        message = ("exit", exc.code if isinstance(exc.code, int) else 1)
    except BaseException as exc:
        message = ("error", _unexpected(args, exc))
    finally:
        sys.stdout, sys.stderr = real_out, real_err
    send.send((*message, out.getvalue(), "" if err is None else err.getvalue()))
    send.close()


def _unexpected(args: Any, exc: BaseException) -> str:
    """One line for an exception nothing else explained, with where it was raised."""
    frames = traceback.extract_tb(exc.__traceback__)
    where = f" at {frames[-1].filename}:{frames[-1].lineno}" if frames else ""
    kind = type(exc).__name__
    if isinstance(exc, RecursionError):
        kind = "RecursionError (recursion too deep)"
    elif isinstance(exc, MemoryError):
        kind = "MemoryError (out of memory)"
    return (
        f"{getattr(args, 'file', 'the file')}: the check stopped on {kind}: {exc}{where}. "
        "Run the file with python to see the traceback (if the line is in gdcheck, please "
        "report it)."
    )


def _watch_parent(parent: int) -> None:
    """End this child if the process that started it is gone (killed with SIGKILL, say)."""

    def watch() -> None:
        while True:
            time.sleep(_ORPHAN_POLL)
            if os.getppid() != parent:
                os._exit(3)

    threading.Thread(target=watch, name="gdcheck-orphan-watch", daemon=True).start()
