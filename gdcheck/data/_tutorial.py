"""Data: the tutorial's data set, seeded, and loaders for a user's CSV or ``.npy`` file.

All loaders return the tutorial's layout: ``X`` is (n, m), features × examples, and ``y`` is
(1, m). Files on disk are read the usual way round (one row per example) and transposed.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .._types import NDArray
from ..errors import InputError

__all__ = ["load", "tutorial"]


def tutorial(seed: int = 0, m: int = 500) -> tuple[NDArray, NDArray]:
    """The tutorial's data: ``x ~ U(0, 1)`` of shape (1, m) and ``y = 3x + 5 + 0.1·N(0, 1)``.

    The intercept 5 is the published script's; it exercises the intercept entry ``w[0]``.

    >>> X, y = tutorial(seed=0)
    >>> X.shape, y.shape
    ((1, 500), (1, 500))
    """
    rng = np.random.default_rng(seed)
    x = rng.random((1, m))
    y = 3.0 * x + 5.0 + 0.1 * rng.standard_normal((1, m))
    return x, y


def load(path: str | Path, target: str | int | None = None) -> tuple[NDArray, NDArray, list[str]]:
    """Load a CSV (header row; ``target`` names the target column) or a 2-D ``.npy`` file.

    For ``.npy`` the rows are examples and ``target`` is a column index (default: the last).
    Returns ``X`` (n, m), ``y`` (1, m) and the feature names.
    """
    path = Path(path)
    if not path.exists():
        raise InputError(f"data file {str(path)!r} does not exist.")
    if path.is_dir():
        raise InputError(f"data path {str(path)!r} is a directory; pass a .csv or .npy file.")
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return _load_csv(path, target)
    if suffix == ".npy":
        return _load_npy(path, target)
    raise InputError(f"data file {str(path)!r} has suffix {suffix!r}; gdcheck reads .csv and .npy.")


def _load_csv(path: Path, target: str | int | None) -> tuple[NDArray, NDArray, list[str]]:
    with path.open(newline="") as fh:
        rows = [row for row in csv.reader(fh) if row and any(cell.strip() for cell in row)]
    if not rows:
        raise InputError(f"{path}: the file is empty; expected a header row and data rows.")
    header = [h.strip() for h in rows[0]]
    if target is None:
        raise InputError(f"{path}: name the target column with --target; columns are {header}.")
    if str(target) in header:
        t = header.index(str(target))
    elif isinstance(target, int) or str(target).lstrip("-").isdigit():
        t = int(target)
        if not -len(header) <= t < len(header):
            raise InputError(f"{path}: no column {t}; the file has {len(header)} columns {header}.")
        t %= len(header)
    else:
        raise InputError(f"{path}: no column named {target!r}; columns are {header}.")
    body = rows[1:]
    if not body:
        raise InputError(f"{path}: only a header row; expected data rows below it.")
    values = np.empty((len(body), len(header)))
    for i, row in enumerate(body, start=2):
        if len(row) != len(header):
            raise InputError(
                f"{path}, line {i}: {len(row)} fields, but the header has {len(header)}."
            )
        for j, cell in enumerate(row):
            try:
                values[i - 2, j] = float(cell)
            except ValueError:
                raise InputError(
                    f"{path}, line {i}, column {header[j]!r}: {cell!r} is not a number."
                ) from None
    names = [h for j, h in enumerate(header) if j != t]
    if not names:
        raise InputError(f"{path}: only the target column {header[t]!r}; add at least one feature.")
    X = np.delete(values, t, axis=1).T
    return X, values[:, t].reshape(1, -1), names


def _load_npy(path: Path, target: str | int | None) -> tuple[NDArray, NDArray, list[str]]:
    try:
        arr = np.load(path, allow_pickle=False)
    except Exception as exc:
        raise InputError(f"{path}: could not be read as a .npy array ({exc}).") from None
    if arr.ndim != 2 or arr.shape[1] < 2:
        raise InputError(
            f"{path}: array of shape {arr.shape}; expected 2-D (examples, columns) with at least "
            "one feature column and the target column."
        )
    if not np.issubdtype(arr.dtype, np.number):
        raise InputError(f"{path}: dtype {arr.dtype}; expected numbers.")
    try:
        t = -1 if target is None else int(target)
    except ValueError:
        raise InputError(
            f"{path}: a .npy file has no column names; give --target as a column index, "
            f"0 to {arr.shape[1] - 1} (default: the last)."
        ) from None
    if not -arr.shape[1] <= t < arr.shape[1]:
        raise InputError(f"{path}: no column {t}; the array has {arr.shape[1]} columns.")
    t %= arr.shape[1]
    names = [f"x{j}" for j in range(arr.shape[1]) if j != t]
    X = np.delete(arr, t, axis=1).astype(np.float64).T
    return X, arr[:, t].astype(np.float64).reshape(1, -1), names
