"""Baseline files: ``STEM.npz`` (per-step arrays + ``meta.json``) beside ``STEM.json`` (a readable copy).

The ``.npz`` is the baseline: a zip of ``.npy`` arrays plus the metadata as a ``meta.json``
entry, so one file holds everything and one :func:`os.replace` publishes it. The ``.json``
beside it is the same metadata for people and code review; it is never read back.

Writes are atomic and safe under pytest-xdist: each file is written to a uniquely named
temporary file in the *same* directory and moved into place with :func:`os.replace`, so a
reader sees the old file or the new one, never half of either, and two writers racing on one
baseline leave one whole recording. The ``.npz`` is byte-for-byte reproducible (fixed zip
timestamps), so re-recording an unchanged run leaves no diff.
"""

from __future__ import annotations

import functools
import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from ._baseline import BaselineMismatch, Snapshot

_EPOCH = (1980, 1, 1, 0, 0, 0)
META = "meta.json"


def stem_for(snap: Snapshot, name: str | None = None) -> str:
    """``<model>-<dtype>[-<name>]-<digest of model, configuration and dtype>``."""
    key = snap.key
    parts = [key["model"]["name"], key["dtype"]]
    if name:
        parts.append(name)
    parts.append(snap.digest)
    return "-".join(_safe(p) for p in parts)


def _safe(text: str) -> str:
    return "".join(c if c.isalnum() or c in "._[]" else "_" for c in str(text))


def _npz_bytes(arrays: dict[str, np.ndarray], meta_text: str) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        info = zipfile.ZipInfo(META, date_time=_EPOCH)
        info.compress_type = zipfile.ZIP_DEFLATED
        zf.writestr(info, meta_text)
        for name in sorted(arrays):
            info = zipfile.ZipInfo(name + ".npy", date_time=_EPOCH)
            info.compress_type = zipfile.ZIP_DEFLATED
            with zf.open(info, "w", force_zip64=True) as fh:
                np.lib.format.write_array(
                    fh, np.ascontiguousarray(arrays[name]), allow_pickle=False
                )
    return buf.getvalue()


@functools.cache
def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def atomic_write(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file in the same directory + ``os.replace``."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes it 0600; a baseline is an ordinary file
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write(directory: Path, stem: str, snap: Snapshot) -> Path:
    """Write ``snap`` as ``directory/stem.npz`` (+ the ``.json`` copy); returns the ``.npz`` path."""
    directory.mkdir(parents=True, exist_ok=True)
    text = json.dumps(snap.meta, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
    npz = directory / f"{stem}.npz"
    atomic_write(npz, _npz_bytes(snap.arrays, text))
    atomic_write(npz.with_suffix(".json"), text.encode())
    return npz


def read(path: Path) -> Snapshot:
    """Load the baseline ``path`` (``.npz``, or its ``.json`` copy's name); refuse a damaged file."""
    npz = path.with_suffix(".npz")
    try:
        with zipfile.ZipFile(npz) as zf:
            meta = json.loads(zf.read(META).decode())
        with np.load(npz, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files if k != META}
    except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
        raise BaselineMismatch(
            f"baseline {npz} could not be read ({exc}); delete it and re-record."
        ) from None
    return Snapshot(arrays, meta)


def candidates(directory: Path) -> list[Path]:
    """Every baseline in ``directory`` (one test's baselines)."""
    return sorted(directory.glob("*.npz")) if directory.is_dir() else []


def remove(path: Path) -> None:
    path.with_suffix(".npz").unlink(missing_ok=True)
    path.with_suffix(".json").unlink(missing_ok=True)
