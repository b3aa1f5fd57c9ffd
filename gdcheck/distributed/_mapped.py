r"""What each worker reads: its own shard, memory-mapped from the user's ``.npy`` when it can.

A data argument that is a file memory map (``np.load(path, mmap_mode="r")``, or a view of one)
travels to a worker as a :class:`Mapped` reference — the file, the byte offset of the shard's
first element, its shape, strides and dtype — never as bytes. The worker maps the file and
reads only the pages of its own examples: for X (n, m) in C order split along the examples,
shard :math:`i` touches :math:`n` runs of :math:`m_i` elements, about :math:`m_i/m` of the file.

The worker then runs ``model.prepare`` on its raw shard itself (the tutorial's prepends the
ones row: a copy of the worker's shard only). That is valid when preparing commutes with
cutting, :math:`\mathrm{prepare}(X_{[:, i]}) = \mathrm{prepare}(X)_{[:, i]}`; it is checked on
the first and last examples of every shard, and where it fails (a prepare that standardises
over all the examples, say) each worker gets its prepared shard as bytes instead.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._buffers import hand_back, source_blocks
from .._types import NDArray
from ..backends._common import aligned_astype
from ..errors import InputError
from ._shards import Shards, split


@dataclass(frozen=True)
class Mapped:
    """A view of a file memory map, by reference: ``open()`` maps the file read-only."""

    filename: str
    offset: int
    shape: tuple[int, ...]
    strides: tuple[int, ...]
    dtype: str

    def open(self) -> np.ndarray:
        whole = np.memmap(self.filename, np.uint8, mode="r")  # maps; reads nothing yet
        return np.ndarray(self.shape, self.dtype, whole, self.offset, self.strides)


def describe(a: Any) -> Mapped | None:
    """``a`` as a :class:`Mapped` reference, or ``None`` if it is not a view of a file map."""
    if not isinstance(a, np.ndarray) or not a.size:
        return None
    top = a
    while isinstance(top.base, np.ndarray):  # up to the array that holds the mmap itself
        top = top.base
    if not isinstance(top, np.memmap) or not getattr(top, "filename", None):
        return None
    offset = int(top.offset) + (a.ctypes.data - top.ctypes.data)
    return Mapped(str(top.filename), offset, tuple(a.shape), tuple(a.strides), a.dtype.str)


def worker_sources(
    model: Any, raw: tuple, prepared: Shards, dtype: str
) -> tuple[list[tuple], bool]:
    """Per rank, what the worker reads, and whether it must run ``model.prepare`` itself.

    ``([Mapped or small array, ...] per rank, True)`` when some raw argument is a file map
    and preparing commutes with cutting; else ``(prepared shards, False)``.
    """
    fallback = [tuple(s) for s in prepared.data], False
    if not any(describe(a) is not None for a in raw):
        return fallback
    try:
        cut = split(raw, prepared.axis, prepared.world_size)
    except InputError:
        return fallback
    if cut.sizes != prepared.sizes:
        return fallback
    for i in range(prepared.world_size):
        ends = sorted({0, prepared.sizes[i] - 1})
        try:
            window = prepare_shard(model, _take(cut.data[i], cut.split, ends, cut.axis), dtype)
        except Exception:  # a prepare that needs more examples than a window: bytes instead
            return fallback
        want = _take(prepared.data[i], prepared.split, ends, prepared.axis)
        if len(window) != len(want) or not all(
            _same(a, b) for a, b in zip(window, want, strict=True)
        ):
            return fallback
    return [tuple(describe(d) or d for d in shard) for shard in cut.data], True


def open_shard(shard: tuple, prepare: bool, model: Any, dtype: str) -> tuple:
    """A worker's data: its references opened, then prepared (when asked) and cast."""
    data = tuple(d.open() if isinstance(d, Mapped) else d for d in shard)
    return prepare_shard(model, data, dtype) if prepare else data


def prepare_shard(model: Any, data: tuple, dtype: str) -> tuple:
    """``model.prepare`` on one shard, the floating arrays then cast to ``dtype`` (as the
    engine prepares all the data)."""
    if model.prepare is not None:
        out = model.prepare(*data)
        data = out if isinstance(out, tuple) else (out,)
    return tuple(
        aligned_astype(np.asarray(d), dtype)
        if isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.floating)
        else d
        for d in data
    )


def _take(data: tuple, cut: tuple[bool, ...], index: list[int], axis: int) -> tuple:
    return tuple(_examples(d, index, axis) if c else d for d, c in zip(data, cut, strict=True))


def _examples(a: NDArray, index: list[int], axis: int) -> NDArray:
    """The examples ``index`` along ``axis`` of ``a``, read block by block
    (:func:`~gdcheck._buffers.source_blocks`), each block's pages of a read-only file map
    handed back once read. The kernel maps a large folio around each read, so two examples
    from every row of a row-major X mapped most of the file; and ``np.take`` first copies a
    non-contiguous array whole (a shard cut along the columns)."""
    ax, idx = axis % a.ndim, np.asarray(index)
    if idx.size and not (idx.min() >= 0 and idx.max() < a.shape[ax]):
        raise IndexError(f"examples {index} out of range for {a.shape[ax]} along axis {axis}")
    out = np.empty((*a.shape[:ax], len(idx), *a.shape[ax + 1 :]), a.dtype)
    for block in source_blocks(a):
        block = (*block, *(slice(None),) * (a.ndim - len(block)))
        lo, hi, _ = block[ax].indices(a.shape[ax])
        keep = np.flatnonzero((idx >= lo) & (idx < hi))
        if keep.size:
            out[(*block[:ax], keep, *block[ax + 1 :])] = a[
                (*block[:ax], idx[keep], *block[ax + 1 :])
            ]
        hand_back(a[block])
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return bool(np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True))
    return a is b or a == b
