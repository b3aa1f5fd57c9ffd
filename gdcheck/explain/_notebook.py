"""Jupyter renderers: a :class:`~gdcheck.check.GradientCheck` and a lesson as HTML fragments.

The lead wires them as ``GradientCheck._repr_html_`` (:func:`gradient_check_html`) and
``Lesson._repr_html_`` (:func:`lesson_html`); plain ``repr`` stays the one-line summary. A
fragment carries its own styles, scoped under one class, so it cannot restyle the notebook.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ._blocks import Lesson as LessonBlocks
from ._html import CSS, render_body

__all__ = ["Lesson", "lesson_html"]


def _scoped(css: str, scope: str) -> str:
    """Prefix every selector of ``css`` with ``scope`` (``body``/``main`` become the scope)."""
    out = []
    for selectors, rules in re.findall(r"([^{}@]+)\{([^{}]*)\}", css):
        if selectors.strip().startswith(("@", "from", "to")):
            continue
        scoped = ", ".join(
            scope if s.strip() in ("body", "main") else f"{scope} {s.strip()}"
            for s in selectors.split(",")
        )
        out.append(f"{scoped} {{{rules}}}")
    return "\n".join(out)


def lesson_html(lesson: LessonBlocks) -> str:
    """The lesson as a notebook fragment: the page's body and styles, scoped to ``.gdcheck-lesson``."""
    screen = CSS.split("@media print")[0]
    return (
        f'<div class="gdcheck-lesson"><style>{_scoped(screen, ".gdcheck-lesson")}</style>'
        + "\n".join(render_body(lesson))
        + "</div>"
    )


@dataclass(frozen=True)
class Lesson(LessonBlocks):
    """The lesson as :func:`gdcheck.explain.lesson` returns it: a notebook shows it as its page."""

    def _repr_html_(self) -> str:
        return lesson_html(self)
