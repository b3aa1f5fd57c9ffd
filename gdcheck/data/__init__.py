"""Data: the tutorial's, seeded; CSV and ``.npy`` files; datasets that ship with a package."""

from ._tutorial import load as load
from ._tutorial import tutorial as tutorial

__all__ = ["load", "tutorial"]
