"""Reading a 2-D ``.npy`` safely: its header first (no pickle, no structured or complex
dtype, no truncated file), then the array memory-mapped read-only, converted to the run's dtype
block by block (:mod:`gdcheck._buffers`) only where it is not that dtype already."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .._buffers import copy_in_blocks
from .._types import NDArray
from ..backends._memory import check_conversion_fits
from ..errors import InputError
from ..validation import check_range


def load_npy(
    path: Path, target: str | int | None, dtype: np.dtype
) -> tuple[NDArray, NDArray, list[str]]:
    """``X`` (n, m), ``y`` (1, m) in ``dtype`` and the feature names from a 2-D ``.npy`` of one
    row per example, ``target`` a column index (default: the last); see
    :func:`gdcheck.data.load`."""
    shape = _npy_header(path)
    if len(shape) != 2 or shape[1] < 2:
        raise InputError(
            f"{path}: array of shape {shape}; expected 2-D (examples, columns) with at least "
            "one feature column and the target column."
        )
    if shape[0] == 0:
        raise InputError(f"{path}: array of shape {shape} has no rows; expected one per example.")
    try:
        arr = np.load(path, mmap_mode="r", allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise InputError(f"{path}: could not be read as a .npy array ({exc}).") from None
    check_range(arr, dtype.name, str(path))  # index (row, column) of the file
    k = shape[1]
    try:
        t = -1 if target is None else int(target)
    except ValueError:
        raise InputError(
            f"{path}: a .npy file has no column names; give --target as a column index, "
            f"0 to {k - 1} (default: the last)."
        ) from None
    if not -k <= t < k:
        raise InputError(f"{path}: no column {t}; the array has {k} columns.")
    t %= k
    names = [f"x{j}" for j in range(k) if j != t]
    if t in (0, k - 1):  # a view of the map: nothing read yet
        features = np.asarray(arr[:, 1:] if t == 0 else arr[:, :-1])
        if features.dtype != dtype:  # converted once, block by block, the map's pages handed back
            _conversion_fits(path, features.shape, arr.dtype, dtype)
            converted = np.empty(features.shape, dtype)
            copy_in_blocks(converted, features)
            features = converted
    else:  # the columns either side of the target, in dtype, block by block
        _conversion_fits(path, (shape[0], k - 1), arr.dtype, dtype)
        features = np.empty((shape[0], k - 1), dtype)
        copy_in_blocks(features[:, :t], arr[:, :t])
        copy_in_blocks(features[:, t:], arr[:, t + 1 :])
    y = np.asarray(arr[:, t]).astype(dtype, copy=False).reshape(1, -1)
    return features.T, y, names


def _conversion_fits(path: Path, shape: tuple[int, ...], stored: np.dtype, dtype: np.dtype) -> None:
    """Refuse up front a feature copy that would not fit (the file itself stays mapped). In
    the file's own float dtype there is no conversion, but the cross-check still holds one
    copy of the features: that way is offered only when that copy fits."""
    other = None
    if stored.name in ("float32", "float64") and stored != dtype:
        other = (
            f"run in the file's dtype (--dtype {stored.name})",
            int(np.prod(shape)) * stored.itemsize,
        )
    check_conversion_fits(f"{path}: the features", shape, dtype, other)


def _npy_header(path: Path) -> tuple[int, ...]:
    """The array's shape from its header alone, refusing what gdcheck will not read."""
    fmt = np.lib.format
    try:
        with path.open("rb") as fh:
            head = fh.read(6)
            fh.seek(0)
            if head[:1] == b"\x80":
                raise InputError(
                    f"{path}: the file is a Python pickle, not a .npy array; gdcheck does not "
                    "unpickle files (unpickling runs code). Save the array with np.save."
                )
            if head.startswith(b"PK"):
                raise InputError(
                    f"{path}: the file is an .npz archive (several arrays), not a .npy array; "
                    "np.save the one array you want to a .npy file."
                )
            version = fmt.read_magic(fh)
            if version == (1, 0):
                shape, _, dtype = fmt.read_array_header_1_0(fh)
            elif version == (2, 0):
                shape, _, dtype = fmt.read_array_header_2_0(fh)
            else:
                raise InputError(
                    f"{path}: .npy format version {version[0]}.{version[1]} (structured fields); "
                    "save a plain 2-D numeric array with np.save."
                )
            offset = fh.tell()
    except InputError:
        raise
    except PermissionError:
        raise InputError(
            f"{path}: cannot be read (permission denied); make it readable (chmod u+r "
            f"{path.name}) or pass a copy you can read."
        ) from None
    except (OSError, ValueError, SyntaxError) as exc:
        raise InputError(
            f"{path}: not a .npy file ({exc}); save the array with np.save(path, array)."
        ) from None
    _check_npy_dtype(path, dtype)
    needed = offset + int(np.prod(shape)) * dtype.itemsize
    size = path.stat().st_size
    if size < needed:
        raise InputError(
            f"{path}: the file is truncated: its header promises {shape} {dtype} values "
            f"({needed} bytes) but it holds {size}; save it again with np.save."
        )
    return tuple(int(s) for s in shape)


def _check_npy_dtype(path: Path, dtype: np.dtype) -> None:
    if dtype.hasobject:
        raise InputError(
            f"{path}: dtype {dtype} holds Python objects, which only unpickling can read, and "
            "unpickling runs code; gdcheck refuses it. Save numbers: np.save(path, a.astype(float))."
        )
    if dtype.names is not None:
        raise InputError(
            f"{path}: a structured array (fields {', '.join(dtype.names)}); save a plain 2-D "
            "numeric array, e.g. np.column_stack of the fields."
        )
    if np.issubdtype(dtype, np.complexfloating):
        raise InputError(
            f"{path}: dtype {dtype} is complex; gdcheck's models take real data and will not drop "
            "the imaginary part silently. Save a.real (or a.imag) if that is what you mean."
        )
    if not np.issubdtype(dtype, np.number):
        raise InputError(f"{path}: dtype {dtype}; expected real numbers (integers or floats).")
