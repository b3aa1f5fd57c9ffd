"""Helpers shared by the adapters (no library imports here)."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import numpy as np

from .._types import NDArray

_STEPS: ContextVar[Callable[[int], None] | None] = ContextVar("gdcheck_steps", default=None)


@contextlib.contextmanager
def steps_reported_to(callback: Callable[[int], None] | None) -> Iterator[None]:
    """Within the block, :func:`report_steps` calls ``callback(done)`` (the engine's progress)."""
    token = _STEPS.set(callback)
    try:
        yield
    finally:
        _STEPS.reset(token)


def report_steps(done: int) -> None:
    """Tell the running stage's progress how many of its steps are done (no-op without one)."""
    callback = _STEPS.get()
    if callback is not None:
        callback(done)


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
