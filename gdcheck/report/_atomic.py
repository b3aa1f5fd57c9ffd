"""The primitives of an all-or-nothing write (see :mod:`gdcheck.report.files`): temporaries in
the report's own directory, fsynced, renamed into place with SIGINT and SIGTERM held back, and
an OSError turned into a message that says what was kept.
"""

from __future__ import annotations

import contextlib
import errno
import os
import signal
import tempfile
from pathlib import Path
from typing import Any

from ..errors import InputError

_FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)


@contextlib.contextmanager
def _signals_held() -> Any:
    """Hold SIGINT and SIGTERM back (they are delivered on exit), where the OS allows."""
    held = {signal.SIGINT, signal.SIGTERM}
    try:
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, held)
    except (AttributeError, OSError, ValueError):
        yield
        return
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _replace_all(
    directory: Path, temps: dict[str, Path], written: dict[str, Path], order: list[str]
) -> None:
    for done, key in enumerate(order):
        try:
            os.replace(temps[key], written[key])
        except OSError as exc:
            _discard(temps[k] for k in order[done:])
            moved = ", ".join(written[k].name for k in order[:done]) or "none"
            raise InputError(
                f"could not move {written[key]} into place ({exc.strerror or exc}); already "
                f"replaced: {moved}. Run `gdcheck report {directory}` to re-render them."
            ) from None
    _fsync_dir(directory)


def _new_temp(final: Path) -> Path:
    """An empty temporary file beside ``final``, with the mode a plain open would give."""
    fd, name = tempfile.mkstemp(dir=final.parent, prefix=f".{final.stem}-", suffix=final.suffix)
    try:
        os.fchmod(fd, 0o666 & ~_umask())
    finally:
        os.close(fd)
    return Path(name)


def _write_all(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` and fsync it (the one place bytes reach the disk)."""
    with path.open("wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _fsync_file(path: Path) -> None:
    with path.open("rb") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(directory: Path) -> None:
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):  # some filesystems do not fsync directories
            os.fsync(fd)
    finally:
        os.close(fd)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _discard(paths: Any) -> None:
    for path in paths:
        with contextlib.suppress(OSError):
            os.unlink(path)


def _write_error(exc: OSError, directory: Path, path: Path) -> InputError:
    kept = "nothing was replaced; any earlier report there is unchanged"
    if exc.errno in _FULL_DISK:
        return InputError(
            f"no space left on the disk while writing {path}; {kept}. Free some space, or --out "
            "a directory on another disk."
        )
    if exc.errno in _NO_WRITE:
        return InputError(
            f"cannot write {path} ({exc.strerror}); {kept}. Choose a writable --out, or fix the "
            "directory's permissions."
        )
    return InputError(f"could not write {path} ({exc.strerror or exc}); {kept}.")
