"""Loading a user's data file (CSV or ``.npy``) into the tutorial's layout, refusing bad input.

Every refusal is an :class:`~gdcheck.errors.InputError` of one line: the file, where (line and
column for CSV), what is wrong, and the fix. Nothing else escapes: no ``UnicodeDecodeError``,
``csv.Error`` or ``pickle`` code run, and no wait on a FIFO.

Files are read one row per example and returned transposed: ``X`` is (n, m), features ×
examples, and ``y`` is (1, m).
"""

from __future__ import annotations

import codecs
import csv
import io
import os
import re
import stat
from pathlib import Path
from typing import Any

import numpy as np

from .._types import NDArray
from ..errors import InputError
from ..validation import check_range
from ._npy import load_npy

__all__ = ["load"]

DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab"}
"""The separators a CSV may use; the header row's most frequent one is used (ties: the first)."""

_INTEGER = re.compile(r"-?[0-9]+")
_DECIMAL_COMMA = re.compile(r"\s*[-+]?[0-9]*,[0-9]+\s*")
_LINE_BREAK = re.compile(r"\r\n|\r|\n")

Loaded = tuple[NDArray, NDArray, list[str]]


def load(
    path: str | Path,
    target: str | int | None = None,
    *,
    header: bool = True,
    dtype: Any = "float64",
) -> Loaded:
    """Load a CSV file or a 2-D ``.npy`` file as ``X`` (n, m), ``y`` (1, m) and feature names,
    in ``dtype`` (``"float64"`` or ``"float32"``: the run's, so that big data are converted
    once, here, and not copied again later).

    CSV: UTF-8 (a byte-order mark is dropped), separated by commas, semicolons or tabs, with a
    header row naming the columns; ``target`` is a column name or index. With ``header=False``
    (``--no-header``) every row is data, the columns are named ``x0, x1, …`` and ``target``
    defaults to the last column.

    ``.npy``: rows are examples and ``target`` is a column index (default: the last). The file
    is memory-mapped read-only: when it holds ``dtype`` and the target is the first or last
    column, ``X`` and ``y`` are read-only views of the map and ``load`` reads only its header.
    Otherwise X is converted block by block and the map's pages are handed back as they are
    read (:mod:`gdcheck._buffers`), so the file is never held twice.
    """
    path = Path(path)
    _check_regular_file(path)
    suffix = path.suffix.lower()
    try:
        dtype = np.dtype(dtype).name  # "float32", np.float32 and np.dtype("float32") alike
    except TypeError:
        dtype = repr(dtype)
    if dtype not in ("float64", "float32"):
        raise InputError(f"dtype={dtype}: load data as 'float64' or 'float32'.")
    if suffix == ".csv":
        X, y, names = _load_csv(path, target, header=header)
        check_range(X.T, dtype, f"{path} (example, feature; the target left out)")
        check_range(y, dtype, f"{path}'s target (1, example)")
        return X.astype(dtype, copy=False), y.astype(dtype, copy=False), names
    if suffix == ".npy":
        return load_npy(path, target, np.dtype(dtype))
    raise InputError(f"data file {str(path)!r} has suffix {suffix!r}; gdcheck reads .csv and .npy.")


def _check_regular_file(path: Path) -> None:
    """Refuse a missing path, a directory, a FIFO or a device before anything opens it."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise InputError(
            f"data file {str(path)!r} does not exist; check the path (relative to {os.getcwd()})."
        ) from None
    except OSError as exc:  # a folder on the way that cannot be searched, a link loop, …
        raise InputError(
            f"data file {str(path)!r} cannot be reached ({exc.strerror or exc}); check the path "
            "and the permissions of the folders on it."
        ) from None
    if stat.S_ISDIR(mode):
        raise InputError(f"data path {str(path)!r} is a directory; pass a .csv or .npy file.")
    if not stat.S_ISREG(mode):
        kind = "a named pipe (FIFO)" if stat.S_ISFIFO(mode) else "not a regular file"
        raise InputError(
            f"data path {str(path)!r} is {kind}; gdcheck reads only regular files and does not "
            "wait on pipes or devices. Save the data to a .csv or .npy file and pass that."
        )


def _read_bytes(path: Path) -> bytes:
    """The file's bytes; opened non-blocking and checked again, so a FIFO swapped in cannot hang."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except PermissionError:
        raise InputError(
            f"{path}: cannot be read (permission denied); make it readable (chmod u+r "
            f"{path.name}) or pass a copy you can read."
        ) from None
    except OSError as exc:
        raise InputError(f"{path}: cannot be read ({exc.strerror or exc}).") from None
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise InputError(f"{path}: not a regular file; pass a .csv or .npy file.")
        try:
            return fh.read()
        except OSError as exc:
            raise InputError(f"{path}: reading failed ({exc.strerror or exc}).") from None


def _decode(path: Path, data: bytes) -> str:
    """UTF-8 text without its byte-order mark, or a message naming the first bad byte."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise InputError(
            f"{path}: the file is UTF-16 text (it starts with a UTF-16 byte-order mark); save it "
            "as UTF-8 (in Excel: 'CSV UTF-8'; or iconv -f utf-16 -t utf-8)."
        )
    data = data.removeprefix(codecs.BOM_UTF8)
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        before = _LINE_BREAK.split(data[: exc.start].decode("utf-8"))
        raise InputError(
            f"{path}, line {len(before)}, column {len(before[-1]) + 1}: byte "
            f"0x{data[exc.start]:02x} is not UTF-8 text; save the file as UTF-8 (in Excel: "
            "'CSV UTF-8'; or iconv -f latin1 -t utf-8)."
        ) from None


def _sniff(text: str) -> str:
    """The separator: the one the first non-blank line holds most of (ties: comma first)."""
    first = next((line for line in io.StringIO(text, newline="") if line.strip()), "")
    return max(DELIMITERS, key=first.count)


def _rows(path: Path, text: str, delimiter: str) -> list[tuple[int, list[str]]]:
    """Non-blank rows, each with the file line it starts on."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    rows: list[tuple[int, list[str]]] = []
    line = 1
    try:
        for row in reader:
            if any(cell.strip() for cell in row):
                rows.append((line, row))
            line = reader.line_num + 1
    except csv.Error as exc:
        raise _csv_error(path, text, line, exc) from None
    return rows


def _csv_error(path: Path, text: str, line: int, exc: csv.Error) -> InputError:
    if "field limit" not in str(exc):
        return InputError(f"{path}, line {line}: not readable as CSV ({exc}).")
    limit = csv.field_size_limit()
    physical = next(
        (s for i, s in enumerate(io.StringIO(text, newline=""), start=1) if i == line), ""
    )
    column = _open_quote(physical)
    if column is None:
        return InputError(
            f"{path}, line {line}: a field is longer than {limit} characters, csv's limit; "
            "split or shorten it."
        )
    return InputError(
        f"{path}, line {line}, column {column}: the quoted field that opens there runs past "
        f"csv's limit of {limit} characters; close its quote (\") or remove the stray one."
    )


def _open_quote(line: str) -> int | None:
    """The 1-based column of the quote still open at the end of ``line``, if one is."""
    opened = None
    for col, char in enumerate(line, start=1):
        if char == '"':
            opened = col if opened is None else None
    return opened


def _is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def _preview(cell: str) -> str:
    return repr(cell if len(cell) <= 40 else cell[:40] + "…")


def _load_csv(path: Path, target: str | int | None, *, header: bool) -> Loaded:
    text = _decode(path, _read_bytes(path))
    delimiter = _sniff(text)
    rows = _rows(path, text, delimiter)
    if not rows:
        raise InputError(f"{path}: the file is empty; expected a header row and data rows.")
    first_line, first = rows[0]
    if header:
        names = _header(path, first_line, first)
        body = rows[1:]
    else:
        names = [f"x{j}" for j in range(len(first))]
        body = rows
    t = _target_index(path, names, target, header=header)
    if not body:
        raise InputError(f"{path}: only a header row; expected data rows below it.")
    values = np.empty((len(body), len(names)))
    what = "the header" if header else "the first row"
    for r, (line, row) in enumerate(body):
        if len(row) != len(names):
            raise InputError(
                f"{path}, line {line}: {len(row)} fields, but {what} has {len(names)}; look on "
                f"that line for a missing or extra {DELIMITERS[delimiter]} (a value holding one "
                "must be quoted)."
            )
        for j, cell in enumerate(row):
            values[r, j] = _number(path, line, names[j], cell, delimiter)
    features = [h for j, h in enumerate(names) if j != t]
    if not features:
        raise InputError(f"{path}: only the target column {names[t]!r}; add at least one feature.")
    return np.delete(values, t, axis=1).T, values[:, t].reshape(1, -1), features


def _header(path: Path, line: int, row: list[str]) -> list[str]:
    names = [h.strip() for h in row]
    if all(_is_number(h) for h in names if h) and any(names):
        shown = ", ".join(names[:3]) + (", …" if len(names) > 3 else "")
        raise InputError(
            f"{path}, line {line}: the first row ({shown}) is all numbers, so it looks like data, "
            "not a header; pass --no-header (load(path, header=False)) to name the columns x0, "
            "x1, …, or add a header row."
        )
    for j, name in enumerate(names, start=1):
        if not name:
            raise InputError(
                f"{path}, line {line}, column {j}: the header cell is empty; name every column "
                "(an unnamed first column is often a pandas index: save with index=False)."
            )
    seen: dict[str, list[int]] = {}
    for j, name in enumerate(names, start=1):
        seen.setdefault(name, []).append(j)
    dups = {name: cols for name, cols in seen.items() if len(cols) > 1}
    if dups:
        listed = "; ".join(
            f"{name!r} (columns {', '.join(map(str, cols))})" for name, cols in dups.items()
        )
        raise InputError(
            f"{path}, line {line}: column names appear more than once: {listed}; rename them so "
            "each is unique."
        )
    return names


def _target_index(path: Path, names: list[str], target: str | int | None, *, header: bool) -> int:
    if target is None:
        if not header:
            return len(names) - 1
        raise InputError(f"{path}: name the target column with --target; columns are {names}.")
    if str(target) in names:
        return names.index(str(target))
    if isinstance(target, int) or _INTEGER.fullmatch(str(target)):
        t = int(target)
        if not -len(names) <= t < len(names):
            raise InputError(f"{path}: no column {t}; the file has {len(names)} columns {names}.")
        return t % len(names)
    hint = ""
    if len(names) == 1:
        hint = f" (one column: gdcheck separates by {', '.join(map(repr, DELIMITERS))})"
    raise InputError(f"{path}: no column named {target!r}; columns are {names}{hint}.")


def _number(path: Path, line: int, name: str, cell: str, delimiter: str) -> float:
    where = f"{path}, line {line}, column {name!r}"
    if not cell.strip():
        raise InputError(f"{where}: the cell is empty; fill it in or remove the row.")
    try:
        value = float(cell)
    except ValueError:
        if delimiter != "," and _DECIMAL_COMMA.fullmatch(cell):
            raise InputError(
                f"{where}: {_preview(cell)} has a decimal comma; write it with a point "
                f"({cell.strip().replace(',', '.')}), or export with '.' as the decimal separator."
            ) from None
        raise InputError(
            f"{where}: {_preview(cell)} is not a number; every cell below the header must be one "
            "(encode categories as numbers first)."
        ) from None
    if not np.isfinite(value):
        raise InputError(
            f"{where}: {_preview(cell)} is not a finite number; remove or impute missing and "
            "infinite values."
        )
    return value
