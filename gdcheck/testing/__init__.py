"""Testing: the pytest plugin (hooks, fixtures) and trajectory baselines.

Loaded lazily, like :mod:`gdcheck` itself: the plugin's hooks (:mod:`gdcheck.testing._hooks`)
are imported by every pytest session and must not import NumPy.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "BaselineMismatch": "_baseline",
    "CrossCheckFailed": "_plugin",
    "compare": "_compare",
    "snapshot": "_baseline",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'gdcheck.testing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    globals()[name] = value
    return value
