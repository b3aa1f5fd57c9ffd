"""Helpers shared by the adapters (no library imports here)."""

from __future__ import annotations

import importlib.util

import numpy as np

from .._types import NDArray


def installed(module: str) -> bool:
    """Whether ``module`` can be imported, without importing it."""
    return importlib.util.find_spec(module) is not None


def first_nonfinite(losses: NDArray, weights: NDArray) -> int | None:
    """The first step whose cost or weights are not finite (a diverged run), or None."""
    bad = ~np.isfinite(losses) | ~np.isfinite(weights).all(axis=1)
    return int(np.argmax(bad)) if bad.any() else None


def chunk_size(n_items: int, floats_per_item: int, budget_bytes: int = 64 * 2**20) -> int:
    """How many shadow evaluations to batch so one batch stays under ``budget_bytes``."""
    return max(1, min(n_items, budget_bytes // max(1, 8 * floats_per_item)))
