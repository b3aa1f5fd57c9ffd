r"""Buffers for big data: aligned arrays, and copies that hand back a file map's pages as they go.

A memory-mapped ``X`` (``np.load(path, mmap_mode="r")``, or the CLI's ``.npy``) costs nothing
until it is read; reading a page makes it resident in this process, and it then counts in the
process's RSS until it is unmapped, although the kernel's page cache holds it anyway and may
drop it at will. A cross-check copies ``X`` once (the tutorial's ``prepare`` prepends the ones
row), so without care it holds two copies of ``X``: the map's pages and the copy.

:func:`copy_in_blocks` copies along the source's outermost axis in memory (its largest
stride), so each block's bytes lie in one span that later blocks do not touch, and after each
block it hands that span's whole pages back with ``madvise(MADV_DONTNEED)`` when the source
is a view of a map opened read-only (``mode="r"``). On such a map this changes nothing a
reader can see: a later read maps the page again from the page cache or the file. Maps opened
writable (``"r+"``) or copy-on-write (``"c"``, whose private changes DONTNEED would discard)
are never touched. The copy then holds one ``X`` in memory, not two.
"""

from __future__ import annotations

import mmap
from collections.abc import Callable
from typing import Any

import numpy as np

from ._types import NDArray

ALIGN = 64
"""Bytes: JAX aliases a NumPy buffer (no copy) only when it is C-contiguous and this aligned."""

BLOCK_BYTES = 16 * 2**20
"""Bytes of the source copied (and handed back) at a time."""


def aligned_empty(shape: tuple[int, ...], dtype: Any, align: int = ALIGN) -> NDArray:
    """An uninitialised C-contiguous array whose data start on an ``align``-byte boundary."""
    dt = np.dtype(dtype)
    nbytes = int(np.prod(shape)) * dt.itemsize
    buf = np.empty(nbytes + align, dtype=np.uint8)
    offset = (-buf.ctypes.data) % align
    return buf[offset : offset + nbytes].view(dt).reshape(shape)


def source_blocks(a: NDArray, block_bytes: int = BLOCK_BYTES) -> list[tuple[slice, ...]]:
    """Indices cutting ``a`` (ndim ≥ 1) into blocks of about ``block_bytes`` along its outermost
    axis in memory, the one of largest stride among those longer than 1 (the rows of a C-ordered
    array, the columns of a transposed one): each block's bytes then lie in a span no other
    block reaches into, of about ``block_bytes`` (a strided view's span, not its elements).
    Where one index along that axis holds more than ``block_bytes`` (a 2-D array of few long
    rows), each index is cut along the other axis as well."""
    longer = [i for i in range(a.ndim) if a.shape[i] > 1] or [0]
    axis = max(longer, key=lambda i: abs(a.strides[i]))
    # an index's bytes in memory, its elements' or its stride's: one column of a row-major
    # file is 4 bytes an index but spans a whole row, and its blocks are counted by the span
    per_index = max((a.size // max(1, a.shape[axis])) * a.itemsize, abs(a.strides[axis]))
    lead = (slice(None),) * axis
    if per_index <= block_bytes or a.ndim != 2:
        step = max(1, block_bytes // max(1, per_index))
        return [(*lead, slice(s, s + step)) for s in range(0, a.shape[axis], step)]
    inner, step = 1 - axis, max(1, block_bytes // a.itemsize)
    blocks = []
    for s in range(a.shape[axis]):
        for t in range(0, a.shape[inner], step):
            outer, cut = slice(s, s + 1), slice(t, t + step)
            blocks.append((outer, cut) if axis == 0 else (cut, outer))
    return blocks


def whole_index(block: tuple[slice, ...], at: Any) -> tuple[int, ...]:
    """The index in the whole array of position ``at`` inside ``a[block]``, ``block`` one of
    :func:`source_blocks`' indices (slices of the leading axes; the rest whole)."""
    starts = [s.start or 0 for s in block] + [0] * (len(at) - len(block))
    return tuple(int(v) + o for v, o in zip(at, starts, strict=True))


def copy_in_blocks(
    dst: NDArray,
    src: NDArray,
    block_bytes: int = BLOCK_BYTES,
    each: Callable[[tuple[slice, ...], NDArray], None] | None = None,
) -> None:
    """``dst[...] = src`` (same shape; cast as ``np.copyto(casting="unsafe")``) block by block
    (:func:`source_blocks`), handing back the pages of a read-only file map as each block is
    copied; ``each(index, dst[index])`` runs after each block (a finiteness check, say)."""
    if src.ndim == 0 or src.size == 0:
        np.copyto(dst, src, casting="unsafe")
        return
    mapped = read_only_map(src)
    for index in source_blocks(src, block_bytes):
        np.copyto(dst[index], src[index], casting="unsafe")
        if mapped is not None:
            release_pages(mapped, src[index])
        if each is not None:
            each(index, dst[index])
    if mapped is not None:  # a page read again at a block's edge maps its whole large folio
        release_pages(mapped, src)  # back, behind the edge too: drop those once, at the end


def hand_back(view: NDArray) -> int:
    """:func:`release_pages` of ``view`` when it is a view of a read-only file map (else 0):
    for a reader that is done with a block (a standardisation, say) but is not a copy."""
    mapped = read_only_map(view)
    return 0 if mapped is None else release_pages(mapped, view)


def read_only_map(a: Any) -> tuple[mmap.mmap, int] | None:
    """The ``mmap`` behind ``a`` and the address of its first byte, when ``a`` is a view of a
    :class:`numpy.memmap` opened ``mode="r"`` whose pages can be handed back; else None."""
    if not isinstance(a, np.ndarray):
        return None
    top = a
    while isinstance(top.base, np.ndarray):  # up to the array that holds the mmap itself
        top = top.base
    mm = getattr(top, "_mmap", None)
    if not isinstance(top, np.memmap) or top.mode != "r" or not isinstance(mm, mmap.mmap):
        return None
    if not hasattr(mm, "madvise") or not hasattr(mmap, "MADV_DONTNEED"):
        return None  # not Linux/Unix: nothing to hand back
    # np.memmap maps from the allocation boundary below its offset (numpy's memmap.__new__)
    return mm, top.ctypes.data - int(top.offset) % mmap.ALLOCATIONGRANULARITY


def release_pages(mapped: tuple[mmap.mmap, int], view: NDArray) -> int:
    """Hand back every page ``view``'s byte span touches (``madvise(MADV_DONTNEED)``) to the
    read-only map ``mapped`` (:func:`read_only_map`); returns the bytes handed back (0 when the
    kernel refuses: the pages then simply stay). A page it shares with a block not read yet is
    mapped again from the page cache when that block is read."""
    mm, base = mapped
    lo = hi = view.ctypes.data - base
    for extent, stride in zip(view.shape, view.strides, strict=True):
        reach = (extent - 1) * stride
        lo, hi = lo + min(0, reach), hi + max(0, reach)
    page = mmap.PAGESIZE
    # the pages at the span's edges too: kept, each block edge left one page mapped, and with
    # it its large folio (2 MB an edge here, on a kernel that maps page-cache folios whole)
    start = max(0, lo // page * page)
    stop = min(len(mm), -(-(hi + view.itemsize) // page) * page)
    if stop <= start:
        return 0
    try:
        mm.madvise(mmap.MADV_DONTNEED, start, stop - start)
    except (OSError, ValueError):
        return 0
    return stop - start
