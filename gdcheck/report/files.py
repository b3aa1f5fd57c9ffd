"""Write a report directory: ``report.json`` and every format rendered from it, all or nothing.

A report is never lost or half-written:

- every file is written to a temporary file in the same directory, fsynced, and only when the
  whole set is written are they all ``os.replace``-d into place (``report.json`` last); if any
  write fails (a full disk, say), the temporaries are removed and the earlier set is untouched;
- gdcheck overwrites only files it wrote: each format carries a mark (the JSON's ``tool.name``,
  the Markdown's heading, a comment in SVG and HTML, a PNG text chunk), checked before anything
  is written; a symbolic link pointing out of the directory is refused, never written through;
- :func:`check_output_dir` refuses, before a run, a directory that cannot be written, lacks
  room for the report, or already holds a report (unless ``force``);
- the renames happen with SIGINT and SIGTERM held back, so Ctrl-C cannot leave half a set;
- what changes from run to run — the date and the timings (``created``, ``seconds``, each
  backend's ``shadow.seconds`` and ``trajectory.seconds``) — goes to ``timings.json`` beside
  ``report.json`` and is left out of it and of everything rendered, so the same seed and
  configuration give byte-identical report.json, report.md, report.html and plots;
- a plot that cannot be drawn (a value beyond what a log axis can place, say 1.7e308) does
  not lose the report: the unplottable points are left out (:func:`plot_problem` says why).
"""

from __future__ import annotations

import errno
import json
import math
import os
import shutil
import tempfile
import threading
import traceback
from pathlib import Path
from typing import Any

from ..errors import InputError
from ._atomic import (
    _discard,
    _fsync_file,
    _new_temp,
    _replace_all,
    _signals_held,
    _write_all,
    _write_error,
)
from .html import render_html
from .markdown import render_markdown
from .plots import report_plots
from .schema import TIMINGS_NAME, for_renderers, split_timings
from .svg import MARKER, render_svg

PLOT_KEYS = ("gradient-error", "drift", "loss")
PLOTTABLE = (1e-300, 1e300)
"""The magnitudes a log axis can place; points outside are dropped when a plot fails."""
PNG_MARK = b"tEXtSoftware\x00gdcheck"
SCREENSHOT_BYTES = 1 << 20
"""Room kept for report.png (the tutorial's is 0.36 MB)."""

REPLACING = threading.Lock()
"""Held while a report set is renamed into place: a forced exit waits for it (see
:mod:`gdcheck.cli._main`)."""

_BYTES_PER_POINT = 160  # JSON + HTML + SVG per stored step and backend (tutorial: ~140)
_BASE_BYTES = 64 << 10
_MAX_POINTS = 1001  # the series keep at most about this many steps
_FULL_DISK = (errno.ENOSPC, errno.EDQUOT, errno.EFBIG)
_NO_WRITE = (errno.EACCES, errno.EPERM, errno.EROFS)


def estimate_report_bytes(
    *, steps: int = 10_000, backends: int = 3, screenshot: bool = False
) -> int:
    """About how many bytes a report set takes on disk (over-estimated about twofold).

    >>> estimate_report_bytes() < 1 << 20
    True
    """
    points = min(max(steps, 0) + 1, _MAX_POINTS)
    size = _BASE_BYTES + 2 * _BYTES_PER_POINT * points * max(backends, 1)
    return size + (SCREENSHOT_BYTES if screenshot else 0)


def save_report(
    report: dict[str, Any], directory: Path, *, screenshot: bool = False, force: bool = True
) -> dict[str, Path]:
    """Write report.json and every format rendered from it into ``directory`` (created if
    needed), all or nothing; return the paths by format.

    An existing report there is replaced only with ``force`` (the default for now; the CLI's
    ``--force``)."""
    check_output_dir(directory, screenshot=screenshot, force=force, needed=0)
    stable, timings = split_timings(report)
    files = {
        "timings": (directory / TIMINGS_NAME, _json_bytes(timings)),
        "json": (directory / "report.json", _json_bytes(stable)),
    }
    files.update(_rendered(stable, directory))
    return _write_set(directory, files, screenshot=screenshot)


def render_files(
    report: dict[str, Any], directory: Path, *, screenshot: bool = False
) -> dict[str, Path]:
    """Render report.md, report.html and ``plot-*.svg`` (and report.png with ``screenshot``,
    which needs Chromium) from ``report`` into ``directory``, all or nothing."""
    _refuse_links(directory, _targets(directory, screenshot))
    _refuse_foreign(_targets(directory, screenshot))
    return _write_set(directory, _rendered(report, directory), screenshot=screenshot)


def plot_problem(report: dict[str, Any]) -> str | None:
    """Why the report's plots cannot be drawn as they stand, in one line, or None if they can
    (then the files hold every point; otherwise the unplottable points are left out)."""
    try:
        for plot in report_plots(report):
            render_svg(plot, standalone=True)
    except Exception as exc:  # the plot code's own failure, whatever it is
        frames = traceback.extract_tb(exc.__traceback__)
        where = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
        lo, hi = PLOTTABLE
        return (
            f"could not draw the plots: {type(exc).__name__}: {exc}{where}; the points beyond "
            f"{lo:g} … {hi:g} (and steps that are not whole numbers) are left out of them."
        )
    return None


def drawable(report: dict[str, Any]) -> dict[str, Any]:
    """``report`` with what a log axis cannot place left out of what the plots read: series
    values beyond :data:`PLOTTABLE` become gaps (None), steps must be whole numbers, and a
    tolerance beyond it draws no rule (and shows as unknown in report.html's table; report.md,
    which draws no plot, keeps it)."""
    lo, hi = PLOTTABLE

    def value(v: Any) -> Any:
        ok = isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
        return v if ok and (v == 0 or lo <= abs(v) <= hi) else None

    def step(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool) and 0 <= v <= hi

    out = dict(report)
    series = report.get("series")
    if isinstance(series, dict):
        out["series"] = {
            k: (
                [v for v in s if step(v)]
                if k == "steps" and isinstance(s, list)
                else {
                    n: [value(v) for v in vs] if isinstance(vs, list) else vs for n, vs in s.items()
                }
                if isinstance(s, dict)
                else s
            )
            for k, s in series.items()
        }
        if isinstance(series.get("stride"), int | float) and not step(series["stride"]):
            out["series"]["stride"] = 1
    config = report.get("config")
    if isinstance(config, dict) and "steps" in config and not step(config["steps"]):
        out["config"] = {**config, "steps": None}
    if isinstance(report.get("backends"), dict):
        out["backends"] = {
            name: {**b, "tolerance": {k: value(v) for k, v in b["tolerance"].items()}}
            if isinstance(b, dict) and isinstance(b.get("tolerance"), dict)
            else b
            for name, b in report["backends"].items()
        }
    return out


def check_output_dir(
    directory: Path, *, screenshot: bool = False, force: bool = True, needed: int | None = None
) -> None:
    """Refuse, before any work, a report directory that cannot be written, has less free space
    than ``needed`` bytes (default: :func:`estimate_report_bytes`; 0 skips the check), holds
    files gdcheck did not write or links out of it, or (without ``force``) holds a report."""
    base = _nearest_existing(directory)
    if base == directory and not directory.is_dir():
        raise InputError(
            f"{str(directory)!r} is a file, so it cannot be a report directory; choose another "
            "output directory."
        )
    if directory.is_dir():
        targets = [directory / "report.json", directory / TIMINGS_NAME]
        targets += _targets(directory, screenshot)
        _refuse_links(directory, targets)
        _refuse_foreign(targets)
        held = [p.name for p in targets if p.exists()]
        if held and not force:
            raise InputError(
                f"{directory} already holds a gdcheck report ({', '.join(held)}); use --force, "
                "or --out another directory."
            )
    _check_writable(base, directory)
    if needed is None:
        needed = estimate_report_bytes(screenshot=screenshot)
    _check_space(base, needed)


def _nearest_existing(directory: Path) -> Path:
    """``directory`` or the nearest ancestor that exists (refusing one that is a file)."""
    for parent in [directory, *directory.parents]:
        if parent.exists():
            if parent != directory and not parent.is_dir():
                raise InputError(
                    f"{str(parent)!r} is a file, so {str(directory)!r} cannot be a report "
                    "directory; choose another output directory."
                )
            return parent
    return Path(".")


def _check_writable(base: Path, directory: Path) -> None:
    """Create and remove a probe file in ``base``: the only test that root and read-only
    mounts answer truthfully."""
    try:
        fd, probe = tempfile.mkstemp(dir=base, prefix=".gdcheck-probe-")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        why = "" if base == directory else f" (where {directory} would be created)"
        raise InputError(
            f"cannot write in {base}{why} ({exc.strerror or exc}); choose a writable --out, or "
            "fix the directory's permissions."
        ) from None


def _check_space(base: Path, needed: int) -> None:
    if needed <= 0:
        return
    try:
        free = shutil.disk_usage(base).free
    except OSError:
        return  # unknown: the writes themselves will tell
    if free < needed:
        raise InputError(
            f"only {_size(free)} free on the disk that holds {base}, and the report needs about "
            f"{_size(needed)}; free some space, or --out a directory on another disk."
        )


def _size(n: int) -> str:
    if n < 1000:
        return f"{n} bytes"
    value, unit = float(n), "bytes"
    for unit in ("kB", "MB", "GB"):  # noqa: B007 - the last unit is the one printed
        value /= 1000
        if value < 1000:
            break
    return f"{value:.1f} {unit}"


def _json_bytes(report: dict[str, Any]) -> bytes:
    return (json.dumps(report, indent=1, allow_nan=False) + "\n").encode()


def _plot_files(
    report: dict[str, Any], directory: Path
) -> tuple[dict[str, tuple[Path, bytes]], dict[str, str]]:
    """Each plot as a standalone SVG file (key -> (path, bytes)), and its title -> file name."""
    files: dict[str, tuple[Path, bytes]] = {}
    links: dict[str, str] = {}
    for plot in report_plots(report):
        path = directory / f"plot-{plot.key}.svg"
        files[f"plot-{plot.key}"] = (path, render_svg(plot, standalone=True).encode())
        links[plot.title] = path.name
    return files, links


def _rendered(report: dict[str, Any], directory: Path) -> dict[str, tuple[Path, bytes]]:
    """Every derived format, rendered in memory: key -> (final path, bytes)."""
    report = for_renderers(report)
    plotted = report
    try:  # the plots drawn once; where they cannot be (plot_problem says why), what can be
        files, links = _plot_files(report, directory)
    except Exception:
        plotted = drawable(report)
        files, links = _plot_files(plotted, directory)
    files["markdown"] = (directory / "report.md", render_markdown(report, links).encode())
    files["html"] = (directory / "report.html", render_html(plotted).encode())
    return files


def _write_set(
    directory: Path, files: dict[str, tuple[Path, bytes]], *, screenshot: bool
) -> dict[str, Path]:
    """Write every file to a temporary beside it, then rename them all into place; on any
    failure remove the temporaries and leave the directory as it was."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _write_error(exc, directory, directory) from None
    _check_space(directory, sum(len(data) for _, data in files.values()))
    temps: dict[str, Path] = {}
    current = directory
    try:
        for key, (final, data) in files.items():
            current = final
            temps[key] = _new_temp(final)
            _write_all(temps[key], data)
        if screenshot:
            from .browser import screenshot as take

            current = directory / "report.png"
            temps["png"] = _new_temp(current)
            take(temps["html"], temps["png"], mark=PNG_MARK)
            _fsync_file(temps["png"])
    except OSError as exc:
        _discard(temps.values())
        raise _write_error(exc, directory, current) from None
    except BaseException:
        _discard(temps.values())
        raise
    written = {key: final for key, (final, _) in files.items()}
    if screenshot:
        written["png"] = directory / "report.png"
    order = sorted(temps, key=lambda k: k == "json")  # the source of truth moves last
    with REPLACING, _signals_held():  # Ctrl-C or SIGTERM waits until the set is in place
        _replace_all(directory, temps, written, order)
    for key in PLOT_KEYS:  # a plot this report no longer has (e.g. one backend only)
        stale = directory / f"plot-{key}.svg"
        if f"plot-{key}" not in written and stale.exists():
            stale.unlink()
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
    with path.open("rb") as fh:
        head = fh.read(4096)
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


def _refuse_links(directory: Path, paths: list[Path]) -> None:
    """Refuse a report file that is a symbolic link to somewhere outside ``directory``."""
    inside = directory.resolve()
    for path in paths:
        if path.is_symlink():
            target = path.resolve()
            if not target.is_relative_to(inside):
                raise InputError(
                    f"{path} is a symbolic link to {target}, outside the report directory "
                    f"{directory}; gdcheck does not write through links. Remove the link, or "
                    "choose another output directory."
                )


def _refuse_foreign(paths: list[Path]) -> None:
    """Refuse, before writing anything, to overwrite a file gdcheck did not write."""
    foreign = [p for p in paths if not ours(p)]
    if foreign:
        names = ", ".join(str(p) for p in foreign)
        what = "exists and was not written by gdcheck; refusing to overwrite it"
        if len(foreign) > 1:
            what = "exist and were not written by gdcheck; refusing to overwrite them"
        raise InputError(f"{names} {what}. Choose another output directory.")
