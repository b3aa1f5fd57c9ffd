r"""What a cross-check will hold in memory, estimated before it starts, and a refusal when it
would not fit.

A cross-check of K steps and p parameters keeps, per step and entry, the reference's weights
and gradients (``s`` bytes each, the dtype's size) and the measured rounding floor and term
scale (float64); each of the B autodiff backends adds its shadow gradients, its own
trajectory and its update-shadow weights (``s`` each) and its tolerances and ratios (about
six float64 arrays, two of them temporaries while the errors are computed):

.. math:: M \approx R\,p\,\big(2s + 16 + B\,(3s + 48) + [k > 1]\,3s\big)
          + M_{\text{data}} + M_{\text{work}}

``R`` the rows kept: every step, :math:`R = K+1`, or with ``record_every=k`` the steps 0, k,
2k, … and the last, :math:`R = \lceil K/k \rceil + 1` (:func:`recorded_steps`); with k > 1 the
reference also keeps, per row, ``w_{t+1}`` and up to two optimizer slots (``3s``).

``M_data`` is the data the backends share (one buffer: JAX and PyTorch alias the engine's
aligned NumPy arrays), refused on its own before it is copied (:func:`check_data_fits`) and
already counted in what is available by then; ``M_work`` the batched shadow evaluations'
working set (:func:`~gdcheck.backends._common.shadow_budget` per backend: 64 MiB, 5 % of
the data above 1.34 GB) and a (p, p) Hessian where the model has one and p ≤ 2,000.
"""

from __future__ import annotations

import functools
import os
from typing import Any

import numpy as np

from .._types import NDArray
from ..errors import InputError
from ._common import aliasable, nbytes_of, shadow_budget

SAFETY = 1.25
"""Estimated bytes are multiplied by this before comparing with the memory available."""
WORK_BYTES = 64 * 2**20


def recorded_steps(steps: int, record_every: int = 1) -> NDArray:
    """The steps a run keeps a row for: 0, k, 2k, … and the last (``steps``), ascending.

    >>> recorded_steps(10, 4).tolist()
    [0, 4, 8, 10]
    """
    out = np.arange(0, steps + 1, max(1, record_every))
    return out if out[-1] == steps else np.append(out, steps)


def recorded_count(steps: int, record_every: int = 1) -> int:
    """``len(recorded_steps(steps, record_every))`` without making the array: an estimate
    for a billion steps must not itself hold a billion integers."""
    every = max(1, record_every)
    return steps // every + 1 + (1 if steps % every else 0)


def estimate_bytes(
    p: int,
    steps: int,
    dtype: str,
    n_backends: int,
    hessian: bool,
    record_every: int = 1,
    data_bytes: int = 0,
) -> int:
    """Bytes the per-step records and working sets of one cross-check need (module docstring);
    ``data_bytes``: the data's, which size the shadow's batches above 1.34 GB."""
    s = np.dtype(dtype).itemsize
    per_entry = 2 * s + 16 + n_backends * (3 * s + 48) + (3 * s if record_every > 1 else 0)
    rows = recorded_count(steps, record_every)
    return int(rows * p * per_entry + _work(p, n_backends, hessian, data_bytes))


def _work(p: int, n_backends: int, hessian: bool, data_bytes: int = 0) -> int:
    """``M_work``: the batched shadow evaluations' budgets and a (p, p) Hessian where formed."""
    batch = max(WORK_BYTES, shadow_budget(data_bytes))
    return batch * (1 + n_backends) + (8 * 3 * p * p if hessian and p <= 2_000 else 0)


def release_freed_memory() -> bool:
    """Hand back to the OS what the C allocator holds freed (glibc ``malloc_trim(0)``); False
    where there is no such call (not glibc), and nothing is done.

    A compiled JAX call on the CPU allocates its scratch (Eigen's packing buffers of the
    ``dot``, the call's temporaries) from the calling threads' malloc arenas; freed, they stay
    resident, about 100-160 MB after a few calls at (1001, 1e5) whatever the size of X, and
    later stages stack on top of that. Trimming once per stage costs about a millisecond.
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> Any:
    """glibc's ``malloc_trim``, looked up once; None where the C library has none."""
    try:
        import ctypes

        fn = getattr(ctypes.CDLL(None), "malloc_trim", None)
        if fn is not None:
            fn.argtypes, fn.restype = [ctypes.c_size_t], ctypes.c_int
        return fn
    except (OSError, AttributeError, TypeError):
        return None


def available_bytes() -> int | None:
    """Memory available to a new allocation (``MemAvailable`` of ``/proc/meminfo``), or None."""
    try:
        with open("/proc/meminfo") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES")) * int(os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_memory(
    problem: Any,
    steps: int,
    n_backends: int,
    available: int | None = None,
    record_every: int = 1,
) -> int:
    """Refuse (:class:`~gdcheck.errors.InputError`) a run whose estimate exceeds the memory
    available, saying what to change; returns the estimate in bytes."""
    p, dtype, hessian = problem.layout.size, problem.dtype, problem.model.hessian is not None
    data = nbytes_of(problem.data)
    need = estimate_bytes(p, steps, dtype, n_backends, hessian, record_every, data)
    have = available_bytes() if available is None else available
    if have is None or need * SAFETY <= have:
        return need
    rows = recorded_count(steps, record_every)
    work = _work(p, n_backends, hessian, data)
    per_row = max(1.0, (need - work) / rows)
    fits_rows = max(0, int((have / SAFETY - work) / per_row))
    fits = max(0, (fits_rows - 1) * record_every)
    smaller = ""
    if dtype == "float64":
        half = estimate_bytes(p, steps, "float32", n_backends, hessian, record_every, data // 2)
        if half * SAFETY <= have:  # offered only where it fits
            smaller = f", or --dtype float32 (dtype='float32'; about {_gb(half)})"
    every = ""
    k = _record_every_that_fits(p, steps, dtype, n_backends, hessian, have, record_every, data)
    if k is not None:  # the records are what does not fit: keep fewer of them
        every = (
            f"keep every k-th step's row: --record-every {k} (crosscheck(record_every={k}), "
            f"about {_gb(estimate_bytes(p, steps, dtype, n_backends, hessian, k, data))}), or "
        )
    raise InputError(
        f"this cross-check would keep about {_gb(need)} in memory ({rows} recorded steps × {p} "
        f"parameters × {n_backends + 1} backends' per-step records, in {dtype}) and "
        f"{_gb(have)} is available. To fit, {every}pass fewer steps (--steps, steps=; about "
        f"{fits} fit){smaller}, or fewer backends (--backends, backends=)."
    )


def check_data_fits(data: tuple, dtype: str, copies_all: bool) -> int:
    """Refuse, before any copy is made, data whose prepared copy would not fit in memory;
    returns the bytes of that copy.

    The engine holds the data once, in ``dtype``, C-contiguous and aligned
    (:func:`~gdcheck.backends._common.aligned_astype`): an array that already is that is
    shared, any other is copied, and a model with its own ``prepare`` (``copies_all``: the
    built-in ones prepend the ones row) copies every array. A memory-mapped file's pages are
    handed back as they are copied, so only the copy counts."""
    arrays = [
        (i, a) for i, a in enumerate(data) if isinstance(a, np.ndarray) and a.dtype.kind in "biuf"
    ]
    itemsize = np.dtype(dtype).itemsize
    copied = [
        (i, a)
        for i, a in arrays
        if copies_all or (a.dtype.kind == "f" and not (a.dtype == dtype and aliasable(a)))
    ]
    need = sum(a.size * itemsize for _, a in copied)
    have = available_bytes()
    if have is None or need * SAFETY <= have:
        return need
    biggest_i, biggest = max(copied, key=lambda ia: ia[1].size)
    fixes = ["use fewer examples or features (a slice of the file, say)"]
    if dtype == "float64" and need / 2 * SAFETY <= have:
        fixes.append(f"run in float32 (--dtype float32, dtype='float32'; about {_gb(need / 2)})")
    raise InputError(
        f"the data would not fit in memory: the cross-check holds them once in {dtype} "
        f"(data[{biggest_i}] {biggest.shape} alone is {_gb(biggest.size * itemsize)}), about "
        f"{_gb(need)} in all, and {_gb(have)} is available. To fit, {' or '.join(fixes)}."
    )


def check_conversion_fits(
    what: str, shape: tuple[int, ...], dtype: np.dtype, other: tuple[str, int] | None = None
) -> None:
    """Refuse a conversion of ``what`` (``shape``) to ``dtype`` whose copy would not fit in
    memory, before it is allocated (a loader's float32 file read as float64, say). ``other``:
    another way (its words, the bytes it needs), offered only if it fits."""
    need = int(np.prod(shape)) * dtype.itemsize
    have = available_bytes()
    if have is None or need * SAFETY <= have:
        return
    fixes = [] if other is None or other[1] * SAFETY > have else [other[0]]
    raise InputError(
        f"{what} would not fit in memory: its {shape} values in {dtype} are about {_gb(need)}, "
        f"and {_gb(have)} is available. To fit, {' or '.join([*fixes, 'use fewer rows or columns'])}."
    )


def _record_every_that_fits(
    p: int,
    steps: int,
    dtype: str,
    n_backends: int,
    hessian: bool,
    have: int,
    now: int,
    data_bytes: int = 0,
) -> int | None:
    """The smallest ``record_every`` above ``now`` whose estimate fits (None: none does, the
    working sets alone are too big), by doubling then bisection on :func:`estimate_bytes`."""

    def fits(k: int) -> bool:
        return estimate_bytes(p, steps, dtype, n_backends, hessian, k, data_bytes) * SAFETY <= have

    if steps < 2 or not fits(steps):
        return None
    lo, hi = now, now + 1  # lo does not fit; find the first hi that does
    while not fits(hi):
        lo, hi = hi, min(steps, 2 * hi)
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (lo, mid) if fits(mid) else (mid, hi)
    return hi


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"
