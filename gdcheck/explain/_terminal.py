"""The lesson in the terminal: rich headings and tables, or plain text without rich.

Figures (SVG plots) are for the page (``gdcheck explain --html``); the terminal names each
one and where to see it.
"""

from __future__ import annotations

import sys
import textwrap
from typing import IO, Any

from ..report.terminal import TEXT_WIDTH, _emit, _table, console, rich_available
from ..report.text import table
from ._blocks import Figure, Lesson, Pre, Table, Text

__all__ = ["lesson_text", "print_lesson"]


def _figure_line(block: Figure) -> str:
    return f"[figure] {block.caption} (drawn in the page: gdcheck explain --html)"


def lesson_text(lesson: Lesson, width: int = TEXT_WIDTH) -> str:
    """The lesson as plain text (no rich)."""
    parts = [lesson.title, "═" * min(width, len(lesson.title))]
    for section in lesson.sections:
        parts += ["", section.title, "─" * min(width, len(section.title))]
        for block in section.blocks:
            if isinstance(block, Text):
                parts.append(textwrap.fill(block.text, width))
            elif isinstance(block, Pre):
                parts.append(textwrap.indent(block.text, "  "))
            elif isinstance(block, Table):
                if block.title:
                    parts.append(block.title)
                parts.append(table(list(block.header), [list(r) for r in block.rows]))
            elif isinstance(block, Figure):
                parts.append(textwrap.fill(_figure_line(block), width))
            parts.append("")
    return "\n".join(parts).rstrip() + "\n"


def print_lesson(lesson: Lesson, file: IO[str] | None = None) -> None:
    """Print the lesson: rich headings and tables, or plain text without rich."""
    if not rich_available():
        print(lesson_text(lesson), end="", file=file if file is not None else sys.stdout)
        return
    from rich.text import Text as RichText

    out = console(file)
    width = min(out.width, TEXT_WIDTH)
    items: list[Any] = [RichText(lesson.title, style="bold")]
    for section in lesson.sections:
        items += ["", RichText(section.title, style="bold cyan")]
        for block in section.blocks:
            if isinstance(block, Text):
                items.append((RichText(block.text), {"width": width}))
            elif isinstance(block, Pre):
                pre = RichText(textwrap.indent(block.text, "  "), style="green")
                items.append((pre, {"soft_wrap": True}))
            elif isinstance(block, Table):
                items.append(_table(block.header, block.rows, block.title))
            elif isinstance(block, Figure):
                items.append((RichText(_figure_line(block), style="dim"), {"width": width}))
            items.append("")
    _emit(out, items)
