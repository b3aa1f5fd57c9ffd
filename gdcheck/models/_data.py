"""The models' data, read once: real-valued, finite, and a file map's pages handed back.

Shared by the tutorial's ``prepare`` (X with a ones row prepended, :mod:`._linear`) and the
rows models' (:func:`~._logistic.check_rows_data`). An array that must be copied — a view of a
memory-mapped file (the CLI's ``.npy``: X its leading columns, y its last), a strided view,
another dtype — is copied block by block into one aligned C-contiguous buffer, which the
backends then share (:mod:`gdcheck._buffers`), its finiteness checked block by block on the
way: a check over the whole source at once (``np.sum``, ``np.isfinite``) would make every page
of a file map resident beside the copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .. import _buffers
from .._buffers import ALIGN, aligned_empty, copy_in_blocks, whole_index
from .._types import NDArray
from ..errors import InputError
from ..validation import as_float_array, check_finite

BLOCK_BYTES = _buffers.BLOCK_BYTES
"""Bytes of the source copied and checked at a time (a test shrinks it to make many blocks)."""


def floating(X: Any, name: str = "X") -> NDArray:
    """``X`` as a NumPy array of real numbers, not copied (a torch tensor's NumPy view; bool,
    integer and float arrays as they are): :func:`finite_copy` reads it block by block into
    float32 or float64. Other inputs go through ``as_float_array``, which says what is wrong
    with them."""
    if hasattr(X, "detach"):
        X = X.detach().cpu().numpy()
    if isinstance(X, np.ndarray) and X.dtype.kind in "biuf":
        return X
    return as_float_array(X, name)


def shared_as_is(a: NDArray, dtype: Any) -> bool:
    """Whether ``a`` can be used without a copy: in memory (not a file map), C-contiguous,
    aligned as JAX needs to alias it (:data:`~gdcheck._buffers.ALIGN`), already ``dtype``."""
    return (
        a.dtype == dtype
        and a.flags.c_contiguous
        and a.ctypes.data % ALIGN == 0
        and not isinstance(_top(a), np.memmap)
    )


def in_dtype(a: NDArray, dtype: Any, name: str, where: Callable[[tuple], str] = str) -> NDArray:
    """``a`` itself when :func:`shared_as_is`, its finiteness checked in one pass; else its
    :func:`finite_copy` into a new aligned buffer of ``dtype``."""
    if shared_as_is(a, dtype):
        check, refuse = _finiteness(name, where)
        check((slice(None),) * a.ndim, a)
        refuse()
        return a
    out = aligned_empty(a.shape, dtype)
    finite_copy(out, a, name, where)
    return out


def finite_copy(
    dst: NDArray,
    src: NDArray,
    name: str,
    where: Callable[[tuple], str] = str,
    block_bytes: int | None = None,
) -> None:
    """``dst[...] = src`` block by block (:func:`~gdcheck._buffers.copy_in_blocks`), refusing
    NaN and Inf in the copy as :func:`~gdcheck.validation.check_finite` does: how many, and the
    first in row-major order, at ``where(index)`` (the index itself by default); blocks of
    ``block_bytes`` (:data:`BLOCK_BYTES` when None)."""
    if src.ndim == 0:  # nothing to cut into blocks
        np.copyto(dst, src, casting="unsafe")
        check_finite(dst, name)
        return
    check, refuse = _finiteness(name, where)
    copy_in_blocks(dst, src, BLOCK_BYTES if block_bytes is None else block_bytes, check)
    refuse()


def _finiteness(
    name: str, where: Callable[[tuple], str]
) -> tuple[Callable[[tuple[slice, ...], NDArray], None], Callable[[], None]]:
    """``(check, refuse)``: ``check(index, block)`` counts the NaN and Inf of each block (one
    pass, no mask, when its float64 sum is finite); ``refuse()`` then raises if there were any."""
    bad, first, kinds = 0, None, {"NaN": False, "Inf": False}

    def check(index: tuple[slice, ...], block: NDArray) -> None:
        nonlocal bad, first
        with np.errstate(over="ignore", invalid="ignore"):
            if np.isfinite(np.sum(block, dtype=np.float64)):
                return
        finite = np.isfinite(block)
        if not finite.all():
            bad += int(finite.size - finite.sum())
            kinds["NaN"] |= bool(np.isnan(block).any())
            kinds["Inf"] |= bool(np.isinf(block).any())
            here = whole_index(index, np.argwhere(~finite)[0])
            first = here if first is None else min(first, here)

    def refuse() -> None:
        if bad:
            raise InputError(
                f"{name} contains {bad} {' and '.join(k for k, v in kinds.items() if v)} "
                f"value(s), the first at index {where(first)}; remove or impute them before "
                "checking gradients."
            )

    return check, refuse


def _top(a: NDArray) -> NDArray:
    """The array that owns ``a``'s memory (a :class:`numpy.memmap` for a view of a file)."""
    while isinstance(a.base, np.ndarray):
        a = a.base
    return a
