"""The lesson's building blocks: prose, preformatted text, tables, sections, the lesson.

Plain frozen dataclasses with no behaviour, so that every renderer (:mod:`gdcheck.report.terminal`
for the terminal, :mod:`gdcheck.explain._html` for the page) and every section builder can import
them without importing each other.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "Block",
    "Figure",
    "Lesson",
    "Pre",
    "Section",
    "Table",
    "Text",
    "aligned",
    "display_width",
]


@dataclass(frozen=True)
class Text:
    """A paragraph of prose."""

    text: str


@dataclass(frozen=True)
class Pre:
    """Preformatted text shown verbatim: formulas, a jaxpr, a graph.

    ``columns``, when given, are the cells ``text`` was aligned from (by display width, see
    :func:`aligned`): the page lays them out as a grid, so that a glyph a monospace font lacks
    (and borrows, narrower or wider, from another font) cannot shift a column.
    """

    text: str
    columns: tuple[tuple[str, ...], ...] = ()


def display_width(text: str) -> int:
    """Terminal cells ``text`` takes: combining marks take none, wide (East Asian) glyphs two."""
    return sum(
        0 if unicodedata.combining(c) else 2 if unicodedata.east_asian_width(c) in "WF" else 1
        for c in text
    )


def aligned(rows: tuple[tuple[str, ...], ...], gap: int = 3) -> Pre:
    """A :class:`Pre` whose columns start at the same display column on every row."""
    widths = [
        max((display_width(r[i]) for r in rows if len(r) > i + 1), default=0)
        for i in range(max(len(r) for r in rows))
    ]
    lines = []
    for row in rows:
        cells = [
            cell + " " * (widths[i] - display_width(cell) + gap) if i < len(row) - 1 else cell
            for i, cell in enumerate(row)
        ]
        lines.append("".join(cells).rstrip())
    return Pre("\n".join(lines), tuple(rows))


@dataclass(frozen=True)
class Table:
    """A table of strings: a header, rows of the same width, and an optional title."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""


@dataclass(frozen=True)
class Figure:
    """A picture: an inline SVG and its caption (the page shows it; the terminal, its tables)."""

    svg: str
    caption: str


Block = Text | Pre | Table | Figure


@dataclass(frozen=True)
class Section:
    """A titled run of blocks."""

    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Lesson:
    """The lesson: titled sections, and the numbers they state as ``facts`` (for tests and pages)."""

    title: str
    sections: tuple[Section, ...]
    facts: dict[str, Any] = field(default_factory=dict)
