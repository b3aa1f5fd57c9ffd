"""Terminal output: rich tables and a progress bar, with a plain-text fallback.

- Results print as rich tables when rich is installed (``pip install 'gdcheck[report]'``),
  else as the plain-text tables of :mod:`gdcheck.report.text`.
- No colour (no ANSI escapes at all) when ``NO_COLOR`` is set or the output is not a terminal.
  Piped output keeps the tables whole: it is not wrapped to 80 columns.
- The progress bar (on stderr) appears only once a run has taken about a second, shows the check
  and backend running and the steps per second, and vanishes when done. It is off when stdout or
  stderr is not a terminal, or with ``--quiet``.

rich is imported only here, and only when something is printed.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import sys
import time
from collections.abc import Iterator
from typing import IO, Any

PIPE_WIDTH = 1000
"""Width of rich output that is not a terminal: tables stay whole, as in the plain-text tables
(prose is wrapped to :data:`TEXT_WIDTH` anyway). ``COLUMNS`` is not consulted: a shell's
exported width says nothing about a file or a pipe."""

TEXT_WIDTH = 92
"""Prose is wrapped to this width, or to the terminal's if narrower."""

CELL_WIDTH = 30
"""Widest table cell before it wraps, so a 30-feature run's tables fit a wide terminal."""

DELAY = 1.0
"""Seconds a run must last before its progress bar is drawn."""


def rich_available() -> bool:
    return importlib.util.find_spec("rich") is not None


def _is_terminal(file: IO[str]) -> bool:
    try:
        return bool(file.isatty())
    except (AttributeError, ValueError):
        return False


def console(file: IO[str] | None = None) -> Any:
    """A rich ``Console`` on ``file`` (default stdout): colour only on a terminal without NO_COLOR."""
    from rich.console import Console

    file = file if file is not None else sys.stdout
    terminal = _is_terminal(file)
    plain = bool(os.environ.get("NO_COLOR")) or not terminal
    return Console(
        file=file,
        color_system=None if plain else "auto",
        force_terminal=terminal,
        width=None if terminal else PIPE_WIDTH,
        highlight=False,
        emoji=False,
    )


def _emit(out: Any, items: list[Any]) -> None:
    """Print ``items`` on the console ``out``, without the spaces rich pads lines with."""
    with out.capture() as captured:
        for item in items:
            if isinstance(item, tuple):
                out.print(item[0], **item[1])
            else:
                out.print(item)
    text = "\n".join(line.rstrip() for line in captured.get().split("\n"))
    out.file.write(text)
    out.file.flush()


# --- tables ------------------------------------------------------------------------------------


def _table(header: Any, rows: Any, title: str = "") -> Any:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(
        title=Text(title, style="bold") if title else None,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        header_style="bold",
    )
    for name in header:
        table.add_column(Text(str(name)), overflow="fold", max_width=CELL_WIDTH)
    for row in rows:
        table.add_row(*(Text(str(cell)) for cell in row))
    return table


STYLES = {
    "pass": "bold green",
    "fail": "bold red",
    "unchecked": "bold yellow",
    "converged": "green",
    "slow": "yellow",
}
"""Verdict styles: agreement (pass, fail, unchecked: nothing compared), convergence."""


def print_report(report: dict[str, Any], file: IO[str] | None = None) -> None:
    """The tables and verdicts of a cross-check report (``result.to_dict()``).

    One structure, :func:`gdcheck.report.text.blocks`, rendered with rich when it is
    installed and as :func:`~gdcheck.report.text.render_text` otherwise: ``demo``, ``run``,
    ``report`` and ``summary()`` show the same tables and sentences."""
    from .text import blocks, render_text

    if not rich_available():
        print(render_text(report), file=file if file is not None else sys.stdout)
        return
    from rich.text import Text

    out = console(file)
    width = min(out.width, TEXT_WIDTH)
    items: list[Any] = []
    for kind, item in blocks(report):
        if kind == "table":
            items.append(_table(item[1], item[2], title=item[0]))
        elif kind == "blank":
            items.append("")
        elif kind == "heading":
            items.append((Text(item, style="bold"), {"width": width}))
        elif kind == "verdict":
            items.append((Text(item[1], style=STYLES.get(item[0], "bold")), {"width": width}))
        else:
            style = "yellow" if kind == "note" else ""
            items.append((Text(item, style=style), {"width": width}))
    _emit(out, items)


def print_lines(lines: list[str], file: IO[str] | None = None) -> None:
    """Plain lines (no markup is interpreted), through rich when it is installed."""
    if not rich_available():
        for line in lines:
            print(line, file=file if file is not None else sys.stdout)
        return
    from rich.text import Text

    _emit(console(file), [(Text(line), {"soft_wrap": True}) for line in lines])


# --- progress ----------------------------------------------------------------------------------


class StepProgress:
    """The ``progress`` of :func:`gdcheck.crosscheck`, drawn as a rich bar on stderr.

    ``progress(stage, backend)`` starts a stage; ``progress.advance(done, total)`` moves it.
    Nothing is drawn until the run has lasted ``delay`` seconds.
    """

    def __init__(self, file: IO[str] | None = None, delay: float = DELAY) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            SpinnerColumn,
            TextColumn,
            TimeElapsedColumn,
        )

        self._bar = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            _rate_column(),
            TimeElapsedColumn(),
            console=console(file if file is not None else sys.stderr),
            transient=True,
        )
        self._task = self._bar.add_task("starting", total=None)
        self._delay = delay
        self._t0 = time.monotonic()
        self._shown = False
        self._last = 0.0

    def __call__(self, stage: str, backend: str) -> None:
        self._bar.reset(self._task, total=None, completed=0, description=f"{stage} · {backend}")
        self._show_if_slow(time.monotonic())

    def advance(self, done: int, total: int) -> None:
        now = time.monotonic()
        if done < total and now - self._last < 0.05:  # a few updates a second are plenty
            return
        self._last = now
        self._bar.update(self._task, completed=done, total=total)
        self._show_if_slow(now)

    @property
    def shown(self) -> bool:
        return self._shown

    def _show_if_slow(self, now: float) -> None:
        if not self._shown and now - self._t0 >= self._delay:
            self._bar.start()
            self._shown = True

    def close(self) -> None:
        if self._shown:
            self._bar.stop()


def _rate_column() -> Any:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class StepsPerSecond(ProgressColumn):
        def render(self, task: Any) -> Text:
            speed = task.speed
            return Text("" if speed is None else f"{speed:,.0f} steps/s")

    return StepsPerSecond()


def progress_enabled(quiet: bool = False) -> bool:
    """A bar is drawn only for a person watching: both streams a terminal, not ``--quiet``."""
    return (
        not quiet
        and rich_available()
        and _is_terminal(sys.stdout)
        and _is_terminal(sys.stderr)
        and os.environ.get("TERM") != "dumb"
    )


@contextlib.contextmanager
def progress_bar(quiet: bool = False) -> Iterator[StepProgress | None]:
    """A :class:`StepProgress` for ``crosscheck(progress=…)``, or None where no bar is wanted."""
    if not progress_enabled(quiet):
        yield None
        return
    bar = StepProgress()
    try:
        yield bar
    finally:
        bar.close()
