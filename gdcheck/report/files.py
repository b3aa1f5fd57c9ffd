"""Write a report directory: ``report.json`` first, then every format rendered from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from .markdown import render_markdown


def save_report(report: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Write report.json and report.md into ``directory`` (created if needed); return the paths."""
    if directory.exists() and not directory.is_dir():
        raise InputError(f"{str(directory)!r} exists and is not a directory; choose another --out.")
    directory.mkdir(parents=True, exist_ok=True)
    _refuse_foreign(directory / "report.json")
    written = {"json": directory / "report.json"}
    written["json"].write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return {**written, **render_files(report, directory)}


def render_files(report: dict[str, Any], directory: Path) -> dict[str, Path]:
    """Render the formats derived from ``report`` (the JSON) into ``directory``."""
    md = directory / "report.md"
    md.write_text(render_markdown(report))
    return {"markdown": md}


def _refuse_foreign(path: Path) -> None:
    """Never overwrite a ``report.json`` that gdcheck did not write."""
    if not path.exists():
        return
    try:
        ours = json.loads(path.read_text()).get("tool", {}).get("name") == "gdcheck"
    except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
        ours = False
    if not ours:
        raise InputError(
            f"{path} exists and was not written by gdcheck; refusing to overwrite it. "
            "Choose another output directory (--out)."
        )
