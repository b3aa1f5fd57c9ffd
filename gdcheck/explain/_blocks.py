"""The lesson's building blocks: prose, preformatted text, tables, sections, the lesson.

Plain frozen dataclasses with no behaviour, so that every renderer (:mod:`gdcheck.report.terminal`
for the terminal, :mod:`gdcheck.explain._html` for the page) and every section builder can import
them without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = ["Block", "Lesson", "Pre", "Section", "Table", "Text"]


@dataclass(frozen=True)
class Text:
    """A paragraph of prose."""

    text: str


@dataclass(frozen=True)
class Pre:
    """Preformatted text shown verbatim: formulas, a jaxpr, a graph."""

    text: str


@dataclass(frozen=True)
class Table:
    """A table of strings: a header, rows of the same width, and an optional title."""

    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""


Block = Text | Pre | Table


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
