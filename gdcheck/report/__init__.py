"""Reports: ``report.json`` is the source of truth; text, Markdown and HTML are rendered from it."""

from .schema import SCHEMA_VERSION, load_report

__all__ = ["SCHEMA_VERSION", "load_report"]
