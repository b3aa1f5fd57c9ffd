"""The report's schema version, and loading a saved report with a clear message when it is not one."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError

SCHEMA_VERSION = 2
"""Bumped whenever a key is renamed or removed; renderers accept exactly the versions in
:data:`SUPPORTED`."""

SUPPORTED = (2,)
"""Version 2 (the one engine for every model): config names the params, optimizer and update
instead of n_features; findings carry entry labels; backends carry the update check."""
REQUIRED_KEYS = ("schema_version", "config", "verdict", "backends", "series")


def load_report(path: str | Path) -> dict[str, Any]:
    """Read a ``report.json``; refuse files that are not gdcheck reports or of another schema."""
    path = Path(path)
    if path.is_dir():
        path = path / "report.json"
    if not path.exists():
        raise InputError(f"no report at {str(path)!r}; pass the report.json that gdcheck wrote.")
    try:
        data = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not valid JSON ({exc}).") from None
    if not isinstance(data, dict) or "schema_version" not in data:
        raise InputError(f"{path} is not a gdcheck report (no schema_version).")
    version = data["schema_version"]
    if version not in SUPPORTED:
        raise InputError(
            f"{path} has schema_version {version!r}; this gdcheck reads schema version(s) "
            f"{', '.join(map(str, SUPPORTED))}. Re-run the check with this version to regenerate it."
        )
    missing = [k for k in REQUIRED_KEYS if k not in data]
    if missing:
        raise InputError(
            f"{path} is missing {', '.join(missing)}; it is not a complete gdcheck report."
        )
    return data
