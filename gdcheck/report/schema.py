"""The report's schema version, what report.json holds, and loading a saved report safely.

report.json holds what a run found, nothing that changes from run to run: the date and the
timings (``created``, ``seconds``, each backend's ``shadow.seconds`` and
``trajectory.seconds``) live in ``timings.json`` beside it (:func:`split_timings`), and
:func:`load_report` puts them back when they are there (:func:`merge_timings`).

:func:`load_report` refuses, with one :class:`~gdcheck.errors.InputError` line, anything that
is not a report it can render: a missing or unreadable path, a FIFO or a directory, a file over
:data:`MAX_REPORT_BYTES`, text that is not JSON or not UTF-8, JSON nested deeper than
:data:`MAX_DEPTH`, another schema version, a report without its sections. NaN and ±Infinity
literals (and numbers too large for a float, such as 1e400) are read as ``null``, as gdcheck
writes non-finite values.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from ..errors import InputError

SCHEMA_VERSION = 2
"""Bumped whenever a key is renamed or removed; renderers accept exactly the versions in
:data:`SUPPORTED`."""

SUPPORTED = (2,)
"""Version 2 (the one engine for every model): config names the params, optimizer and update
instead of n_features; findings carry entry labels; backends carry the update check. The
timings may sit in timings.json instead (they are read from either place). Each backend's
``info`` records its ``device`` (``cpu``, ``cuda:0 NVIDIA H200``) and float32
``matmul_precision`` (JAX's setting; torch's ``get_float32_matmul_precision()`` and
``allow_tf32``): strings, so runs on a GPU need no new version. ``config.record_every`` and
``recording`` (``record_every``, ``recorded``, ``steps``: the recorded steps, null when every
step was; ``every_step_checked``; ``note``) say which steps a ``record_every`` run checked;
``series.steps`` are true step numbers. Added keys: an older report lacks them."""
REQUIRED_KEYS = ("schema_version", "config", "verdict", "backends", "series")
SECTIONS = ("config", "verdict", "backends", "series")
"""The required keys whose value is an object."""
TIMINGS_NAME = "timings.json"
TIMED_SECTIONS = ("shadow", "trajectory")
"""Each backend's sections whose ``seconds`` go to timings.json (with the top-level
``created`` and ``seconds``)."""
MAX_REPORT_BYTES = 256 << 20
"""A report of a million parameters is about 40 MB; anything much larger is not a report."""
MAX_DEPTH = 32
"""A report nests about 6 levels deep."""


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a ``report.json`` (and its timings.json); refuse what is not a gdcheck report."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.exists():
        raise InputError(f"no report at {str(path)!r}; pass the report.json that gdcheck wrote.")
    data = parse_report(_read(path), str(path))
    timings = path.parent / TIMINGS_NAME
    extra = None
    if timings.is_file() and timings.stat().st_size <= MAX_REPORT_BYTES:
        try:
            extra = _parse(timings.read_bytes(), str(timings))
        except (InputError, OSError):
            extra = None  # timings are not findings: a broken file only loses the times
    return merge_timings(data, extra)


def parse_report(text: str | bytes, where: str = "report.json") -> dict[str, Any]:
    """The report in ``text`` (a report.json's contents), checked as :func:`load_report` does."""
    data = _parse(text, where)
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(f"{where} is not a gdcheck report (no schema_version).")
    version = data["schema_version"]
    if isinstance(version, bool) or version not in SUPPORTED:
        raise InputError(
            f"{where} has schema_version {version!r}; this gdcheck reads schema version(s) "
            f"{', '.join(map(str, SUPPORTED))}. Re-run the check with this version to regenerate it."
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise InputError(
            f"{where} is missing {', '.join(missing)}; it is not a complete gdcheck report."
        )
    wrong = [k for k in SECTIONS if not isinstance(data[k], dict)]
    if wrong:
        raise InputError(
            f"{where}: {', '.join(wrong)} must be JSON object(s), got "
            f"{', '.join(type(data[k]).__name__ for k in wrong)}; it is not a complete gdcheck "
            "report. Regenerate it."
        )
    return data


def _read(path: Path) -> bytes:
    if not path.is_file():
        what = "a directory" if path.is_dir() else "not a regular file (a FIFO or a device?)"
        raise InputError(f"{path} is {what}; pass the report.json that gdcheck wrote.")
    try:
        size = path.stat().st_size
        if size > MAX_REPORT_BYTES:
            raise InputError(
                f"{path} is {size:,} bytes, more than a gdcheck report can be "
                f"({MAX_REPORT_BYTES:,} bytes); pass the report.json that gdcheck wrote."
            )
        with path.open("rb") as fh:
            return fh.read(MAX_REPORT_BYTES + 1)
    except OSError as exc:
        raise InputError(
            f"cannot read {path} ({exc.strerror or exc}); check the path and its permissions."
        ) from None


def _parse(text: str | bytes, where: str) -> Any:
    if len(text) > MAX_REPORT_BYTES:
        raise InputError(f"{where} is larger than a gdcheck report can be; it is not one.")
    try:
        if isinstance(text, bytes):
            text = text.decode("utf-8")
        data = json.loads(text, parse_constant=lambda _: None, parse_float=_float)
    except UnicodeDecodeError as exc:
        raise InputError(f"{where} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
    except json.JSONDecodeError as exc:
        raise InputError(
            f"{where} is not valid JSON ({exc.msg} at line {exc.lineno}, column {exc.colno}); "
            "was it truncated? Regenerate it."
        ) from None
    except RecursionError:
        raise InputError(_too_deep(where)) from None
    except ValueError as exc:  # an integer of more than 4,300 digits, say
        raise InputError(f"{where} holds a value Python cannot read ({exc}).") from None
    if _depth(data) > MAX_DEPTH:
        raise InputError(_too_deep(where))
    return data


def _float(text: str) -> float | None:
    value = float(text)
    return value if math.isfinite(value) else None


def _too_deep(where: str) -> str:
    return (
        f"{where} is nested more than {MAX_DEPTH} levels deep; a gdcheck report nests about 6, "
        "so this is not one."
    )


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value``, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            if depth > MAX_DEPTH:
                return depth
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


def split_timings(report: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """``report`` without the date and timings, and those as the timings.json dict.

    >>> split_timings({"created": "2025", "seconds": 1.0, "backends": {}})
    ({'backends': {}}, {'tool': {'name': 'gdcheck'}, 'created': '2025', 'seconds': 1.0, \
'backends': {}})
    """
    stable = {k: v for k, v in report.items() if k not in ("created", "seconds")}
    timings: dict[str, Any] = {"tool": {"name": "gdcheck"}}
    if isinstance(report.get("tool"), dict) and "version" in report["tool"]:
        timings["tool"]["version"] = report["tool"]["version"]
    timings.update({k: report[k] for k in ("created", "seconds") if k in report})
    timings["backends"] = {}
    backends = report.get("backends")
    if isinstance(backends, dict):
        stable["backends"] = {}
        for name, backend in backends.items():
            stable["backends"][name], timings["backends"][name] = _split_backend(backend)
    return stable, timings


def _split_backend(backend: Any) -> tuple[Any, dict[str, Any]]:
    if not isinstance(backend, dict):
        return backend, {}
    kept, seconds = dict(backend), {}
    for section in TIMED_SECTIONS:
        part = backend.get(section)
        if isinstance(part, dict) and "seconds" in part:
            kept[section] = {k: v for k, v in part.items() if k != "seconds"}
            seconds[section] = part["seconds"]
    return kept, seconds


def merge_timings(report: dict[str, Any], timings: dict[str, Any] | None) -> dict[str, Any]:
    """``report`` with the date and timings of ``timings`` (a timings.json dict) put back;
    a timing neither holds is NaN (shown as unknown), so every renderer finds its keys."""
    timings = timings if isinstance(timings, dict) else {}
    merged = dict(report)
    for key, unknown in (("created", ""), ("seconds", math.nan)):
        merged[key] = report.get(key, timings.get(key, unknown))
    known = timings.get("backends") if isinstance(timings.get("backends"), dict) else {}
    if isinstance(report.get("backends"), dict):
        merged["backends"] = {}
        for name, backend in report["backends"].items():
            merged["backends"][name] = _merge_backend(backend, known.get(name))
    return merged


def _merge_backend(backend: Any, seconds: Any) -> Any:
    if not isinstance(backend, dict):
        return backend
    seconds = seconds if isinstance(seconds, dict) else {}
    merged = dict(backend)
    for section in TIMED_SECTIONS:
        part = backend.get(section)
        if isinstance(part, dict) and "seconds" not in part:
            value = seconds.get(section)
            ok = isinstance(value, int | float) and not isinstance(value, bool)
            merged[section] = {**part, "seconds": float(value) if ok else math.nan}
    return merged


def for_renderers(report: dict[str, Any]) -> dict[str, Any]:
    """The report every file is rendered from: without date and timings (NaN, shown as
    unknown, where a renderer still reads them), so the files are the same from run to run."""
    stable, _ = split_timings(report)
    return merge_timings(stable, None)
