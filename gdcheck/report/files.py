"""Write a report directory: ``report.json`` first, then every format rendered from it.

gdcheck overwrites only files it wrote: each format carries a mark (the JSON's ``tool.name``,
the Markdown's heading, a comment in SVG and HTML, a PNG text chunk), checked before anything
is written.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import InputError
from .html import render_html
from .markdown import render_markdown
from .plots import report_plots
from .svg import MARKER, render_svg

PLOT_KEYS = ("gradient-error", "drift", "loss")
PNG_MARK = b"tEXtSoftware\x00gdcheck"


def save_report(
    report: dict[str, Any], directory: Path, *, screenshot: bool = False
) -> dict[str, Path]:
    """Write report.json and every format rendered from it into ``directory`` (created if
    needed); return the paths by format."""
    check_output_dir(directory, screenshot=screenshot)
    directory.mkdir(parents=True, exist_ok=True)
    written = {"json": directory / "report.json"}
    written["json"].write_text(json.dumps(report, indent=1, allow_nan=False) + "\n")
    return {**written, **render_files(report, directory, screenshot=screenshot)}


def check_output_dir(directory: Path, *, screenshot: bool = False) -> None:
    """Refuse, before any work, a report directory that cannot be written or holds files that
    gdcheck did not write (they are never overwritten)."""
    for parent in [directory, *directory.parents]:
        if parent.exists():
            if not parent.is_dir():
                raise InputError(
                    f"{str(parent)!r} is a file, so {str(directory)!r} cannot be a report "
                    "directory; choose another output directory."
                )
            break
    if directory.is_dir():
        _refuse_foreign([directory / "report.json", *_targets(directory, screenshot)])


def render_files(
    report: dict[str, Any], directory: Path, *, screenshot: bool = False
) -> dict[str, Path]:
    """Render report.md, report.html and ``plot-*.svg`` (and report.png with ``screenshot``,
    which needs Chromium) from ``report`` into ``directory``."""
    _refuse_foreign(_targets(directory, screenshot))
    written: dict[str, Path] = {}
    links: dict[str, str] = {}
    plots = report_plots(report)
    for plot in plots:
        path = directory / f"plot-{plot.key}.svg"
        path.write_text(render_svg(plot, standalone=True))
        written[f"plot-{plot.key}"] = path
        links[plot.title] = path.name
    for key in PLOT_KEYS:  # a plot this report no longer has (e.g. one backend only)
        stale = directory / f"plot-{key}.svg"
        if f"plot-{key}" not in written and stale.exists():
            stale.unlink()
    written["markdown"] = directory / "report.md"
    written["markdown"].write_text(render_markdown(report, links))
    written["html"] = directory / "report.html"
    written["html"].write_text(render_html(report))
    if screenshot:
        from .browser import screenshot as take

        written["png"] = directory / "report.png"
        take(written["html"], written["png"], mark=PNG_MARK)
    return written


def _targets(directory: Path, screenshot: bool) -> list[Path]:
    names = ["report.md", "report.html", *(f"plot-{k}.svg" for k in PLOT_KEYS)]
    return [directory / n for n in [*names, *(["report.png"] if screenshot else [])]]


def ours(path: Path) -> bool:
    """Whether ``path`` is absent or carries gdcheck's mark for its format."""
    if not path.exists():
        return True
    if not path.is_file():
        return False
    head = path.read_bytes()[:4096]
    if path.suffix == ".json":
        try:
            return json.loads(path.read_text()).get("tool", {}).get("name") == "gdcheck"
        except (json.JSONDecodeError, UnicodeDecodeError, AttributeError):
            return False
    if path.suffix == ".md":
        return head.startswith(b"# gdcheck report")
    if path.suffix == ".png":
        return PNG_MARK in head
    return MARKER.encode() in head


def _refuse_foreign(paths: list[Path]) -> None:
    """Refuse, before writing anything, to overwrite a file gdcheck did not write."""
    foreign = [p for p in paths if not ours(p)]
    if foreign:
        names = ", ".join(str(p) for p in foreign)
        what = "exists and was not written by gdcheck; refusing to overwrite it"
        if len(foreign) > 1:
            what = "exist and were not written by gdcheck; refusing to overwrite them"
        raise InputError(f"{names} {what}. Choose another output directory.")
