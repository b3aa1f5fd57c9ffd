"""Small pieces of wording shared by the reports and the notes."""

from __future__ import annotations


def ordinal(k: int) -> str:
    """``1st``, ``2nd``, ``3rd``, ``4th``, ``11th``, ``21st``, ``1,000th``: "every k-th step"."""
    suffix = "th" if k % 100 in (11, 12, 13) else {1: "st", 2: "nd", 3: "rd"}.get(k % 10, "th")
    return f"{k:,}{suffix}"


def counted(n: int, noun: str) -> str:
    """``1 example``, ``2 examples``, ``1,000 examples``: a count and its noun, plural but for one
    (``noun`` is the singular; an ``s`` is added)."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")
