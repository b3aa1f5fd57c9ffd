"""The lesson: what autodiff computes for a handwritten gradient (jaxpr, torch graph, lr bound)."""

from ._html import render_html as render_html
from ._html import write_html as write_html
from ._lesson import Lesson as Lesson
from ._lesson import LessonConfig as LessonConfig
from ._lesson import lesson as lesson

__all__ = ["Lesson", "LessonConfig", "lesson", "render_html", "write_html"]
