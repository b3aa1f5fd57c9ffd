r"""What a cross-check will hold in memory, estimated before it starts, and a refusal when it
would not fit.

A cross-check of K steps and p parameters keeps, per step and entry, the reference's weights
and gradients (``s`` bytes each, the dtype's size) and the measured rounding floor and term
scale (float64); each of the B autodiff backends adds its shadow gradients, its own
trajectory and its update-shadow weights (``s`` each) and its tolerances and ratios (about
six float64 arrays, two of them temporaries while the errors are computed):

.. math:: M \approx (K+1)\,p\,\big(2s + 16 + B\,(3s + 48)\big) + M_{\text{data}} + M_{\text{work}}

``M_data`` is the data the backends share (one buffer: JAX and PyTorch alias the engine's
aligned NumPy arrays), counted already; ``M_work`` the batched shadow evaluations'
working set (:func:`~gdcheck.backends._common.chunk_size`'s 64 MiB budget per backend) and a
(p, p) Hessian where the model has one and p ≤ 2,000.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..errors import InputError

SAFETY = 1.25
"""Estimated bytes are multiplied by this before comparing with the memory available."""
WORK_BYTES = 64 * 2**20


def estimate_bytes(p: int, steps: int, dtype: str, n_backends: int, hessian: bool) -> int:
    """Bytes the per-step records and working sets of one cross-check need (module docstring)."""
    s = np.dtype(dtype).itemsize
    per_entry = 2 * s + 16 + n_backends * (3 * s + 48)
    work = WORK_BYTES * (1 + n_backends) + (8 * 3 * p * p if hessian and p <= 2_000 else 0)
    return int((steps + 1) * p * per_entry + work)


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


def check_memory(problem: Any, steps: int, n_backends: int, available: int | None = None) -> int:
    """Refuse (:class:`~gdcheck.errors.InputError`) a run whose estimate exceeds the memory
    available, saying what to change; returns the estimate in bytes."""
    p = problem.layout.size
    need = estimate_bytes(p, steps, problem.dtype, n_backends, problem.model.hessian is not None)
    have = available_bytes() if available is None else available
    if have is None or need * SAFETY <= have:
        return need
    per_step = need / max(1, steps + 1)
    fits = max(0, int(have / SAFETY / per_step) - 1)
    smaller = ""
    if problem.dtype == "float64":
        half = estimate_bytes(p, steps, "float32", n_backends, problem.model.hessian is not None)
        smaller = f", or dtype='float32' (about {_gb(half)})"
    raise InputError(
        f"this cross-check would keep about {_gb(need)} in memory ({steps + 1} steps × {p} "
        f"parameters × {n_backends + 1} backends' per-step records, in {problem.dtype}) and "
        f"{_gb(have)} is available. Pass fewer steps (about {fits} fit){smaller}, or fewer "
        "backends (backends=...)."
    )


def _gb(n: float) -> str:
    return f"{n / 2**30:.2f} GiB" if n >= 2**28 else f"{n / 2**20:.0f} MiB"
