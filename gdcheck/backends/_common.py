"""Helpers shared by the adapters (no library imports here)."""

from __future__ import annotations

import contextlib
import importlib.util
from collections.abc import Callable, Iterator
from contextvars import ContextVar

import numpy as np

from .._buffers import ALIGN as ALIGN
from .._buffers import aligned_empty as aligned_empty
from .._buffers import copy_in_blocks
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


def diverged_step(
    losses: NDArray, weights: NDArray, at: NDArray, broke: int | None, sparse: bool
) -> int | None:
    """The step a run diverged at, or None: the first non-finite row (its index is its step
    when every step is recorded); with only some steps recorded, that row's step or the step
    the loop stopped at (``broke``), whichever came first."""
    row = first_nonfinite(losses, weights)
    if not sparse:
        return row
    steps = [s for s in (None if row is None else int(at[row]), broke) if s is not None]
    return min(steps) if steps else None


def chunk_size(
    n_items: int, floats_per_item: int, budget_bytes: int = 64 * 2**20, itemsize: int = 8
) -> int:
    """How many shadow evaluations to batch so one batch stays under ``budget_bytes``
    (``itemsize`` bytes a float)."""
    return max(1, min(n_items, budget_bytes // max(1, itemsize * floats_per_item)))


SHADOW_BUDGET = 64 * 2**20
SHADOW_DATA_SHARE = 1.0
SHADOW_FLOOR = 16 * 2**20
SHADOW_BIG_SHARE = 0.05
"""Above 1.34 GB of data a batch may hold this share of the data's bytes (more than 64 MiB).
A batched call has a fixed cost of several passes over the data whatever the batch (XLA's CPU
``dot`` at (1001, 1e6) float32: 1.6-1.9 s for 3 to 16 weights; torch 1.0-1.7 s), so a batch of
3 weights made each row cost 2-3 passes; at 5 % (200 MB at 4 GB) the batch is 10 weights."""
INTERMEDIATES = 4
"""Floats a batched loss keeps per weight and example (ŷ, residual, square, their cotangents)."""


def shadow_chunk(n_weights: int, p: int, data: tuple) -> int:
    r"""Weights per batched shadow evaluation.

    One batch of ``B`` weights holds about :math:`B\,(p + c\,d_{\max} + F/1024)` floats of
    intermediates (:math:`d_{\max}` the data's largest dimension — the examples: a loss keeps a
    few vectors of one value per example per weight, ``c`` = :data:`INTERMEDIATES` —, ``F``
    the data's floats), kept under :func:`shadow_budget`: batching reads the data once per
    batch instead of once per weight (a batched ``(B, n) @ (n, m)`` product), but its
    intermediates must not become a second copy of big data. The floats are counted in the
    data's own width (4 bytes for float32).
    """
    arrays = [d for d in data if hasattr(d, "shape")]
    floats = sum(int(np.prod(np.shape(d))) for d in arrays)
    largest = max((int(s) for d in arrays for s in np.shape(d)), default=1)
    per_item = p + INTERMEDIATES * largest + floats // 1024
    return chunk_size(n_weights, per_item, shadow_budget(nbytes_of(data)), _float_itemsize(arrays))


def nbytes_of(data: tuple) -> int:
    """Bytes of the arrays (NumPy, JAX or torch) among ``data``; 8 a value where the dtype has
    no size."""
    return sum(
        int(np.prod(np.shape(d))) * getattr(getattr(d, "dtype", None), "itemsize", 8)
        for d in data
        if hasattr(d, "shape")
    )


def shadow_budget(data_bytes: int) -> int:
    """Bytes one batched shadow evaluation may hold, for data of ``data_bytes``: the data's own
    size between 16 and 64 MiB, and :data:`SHADOW_BIG_SHARE` of it above 1.34 GB."""
    small = min(SHADOW_BUDGET, max(SHADOW_DATA_SHARE * data_bytes, SHADOW_FLOOR))
    return int(max(small, SHADOW_BIG_SHARE * data_bytes))


def _float_itemsize(arrays: list) -> int:
    """Bytes of the widest floating dtype among ``arrays`` (8 when none is floating): the
    intermediates are floats of the data's dtype, so float32 data batches twice the weights."""
    sizes = [
        int(d.dtype.itemsize)
        for d in arrays
        if hasattr(d, "dtype") and str(d.dtype).startswith(("float", "torch.float"))
    ]
    return max(sizes, default=8)


def aliasable(a: NDArray) -> bool:
    """Whether JAX can use ``a``'s buffer as it is (C-contiguous, :data:`ALIGN`-byte aligned)."""
    return bool(a.flags.c_contiguous) and a.ctypes.data % ALIGN == 0


def aligned_astype(a: NDArray, dtype: object, block_bytes: int = 64 * 2**20) -> NDArray:
    """``a`` in ``dtype``, C-contiguous and aligned: ``a`` itself when it already is, else one
    copy written in blocks (no temporary of ``a``'s full size; a read-only file map's pages
    are handed back as they are copied, :func:`~gdcheck._buffers.copy_in_blocks`)."""
    dt = np.dtype(dtype)  # type: ignore[call-overload]
    if a.dtype == dt and aliasable(a):
        return a
    out = aligned_empty(a.shape, dt)
    copy_in_blocks(out, a, block_bytes)
    return out


def read_only(data: tuple) -> tuple:
    """Views of the data that the user's code cannot write to: the backends and the witness
    thread share these buffers, so a grad that modified its data in place would corrupt the
    check."""
    views = []
    for a in data:
        if isinstance(a, np.ndarray):
            a = a.view()
            a.flags.writeable = False
        views.append(a)
    return tuple(views)
