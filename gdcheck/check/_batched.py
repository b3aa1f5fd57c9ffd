r"""Many values of a user's loss in a few calls: ``F(P) = (L(P_1), …, L(P_k))``.

The Taylor test needs the loss at ~27 points ``p ± h v`` of one line. One at a time in NumPy,
each is a full pass over the data (``X @ w`` reads all of ``X`` for one matrix-vector
product). Through ``torch.func.vmap`` a chunk of rows is one call, and the products become
matrix-matrix products: ``X @ [w_1 … w_k]`` reads ``X`` once for the whole chunk.

A vmap call has a fixed cost (a few ms on a loaded 2-core machine: torch wakes its threads
for each operation), so batching pays only where one pass over the data costs more: from
:data:`BATCH_FROM` data elements (measured: 1e5 elements, equal; 3e5, NumPy row by row 2×
faster; 1e6, batched 3× faster; 1e7, 2–3× faster; ``benchmarks/NOTES.md``). One call takes
the whole ladder (27 rows, fewer calls is faster than smaller ones), up to :data:`CHUNK`
rows and :data:`CHUNK_BYTES` of the largest data dimension's intermediates.

:func:`batched_loss` returns None when torch is not installed or the data are small, and the
batched evaluator
raises :class:`NotBatchable` when torch or ``vmap`` cannot run the loss (NumPy-only
functions, Python control flow on values, integer data mixed with floats): the caller then
evaluates row by row in NumPy, which is the reference behaviour.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from .. import backends as backend_registry
from .._types import NDArray
from ..backends._problem import unflatten_with
from ..params import ParamLayout

BATCH_FROM = 1_000_000
"""Data elements from which the loss is evaluated batched (below, NumPy row by row is faster)."""
CHUNK = 32
"""Rows per vmap call, at most."""
CHUNK_BYTES = 256 * 2**20
"""... and rows × (largest data dimension) × 8 bytes at most: a residual per row and example."""


class NotBatchable(Exception):
    """torch or ``vmap`` cannot evaluate this loss; evaluate it row by row instead."""


def batched_loss(
    loss: Callable[..., Any], layout: ParamLayout, data64: tuple
) -> Callable[[NDArray], tuple[NDArray, NDArray]] | None:
    """``F(P) -> (values, eps)``: the loss at each row of the flat float64 ``P`` (k, N).

    ``eps`` is the machine epsilon of the dtype each value came back in (float64's at least),
    as the NumPy path reports it. None: torch is not installed, or the data are small.
    """
    arrays = [d for d in data64 if isinstance(d, np.ndarray)]
    if sum(a.size for a in arrays) < BATCH_FROM:
        return None
    torch_backend = backend_registry._REGISTRY["torch"]
    if not torch_backend.is_available():
        return None
    longest = max(d for a in arrays for d in a.shape)
    rows_per_call = int(max(1, min(CHUNK, CHUNK_BYTES // (8 * longest))))
    import torch

    from ..backends._torch_vmap import with_vector_products

    with warnings.catch_warnings():  # read-only data: torch warns, the loss only reads it
        warnings.filterwarnings("ignore", message=".*not writable.*")
        data = torch_backend.convert(data64)

    def value(flat: Any) -> Any:
        out = loss(unflatten_with(layout, flat), *data)
        if not isinstance(out, torch.Tensor) or out.numel() != 1:
            raise NotBatchable("the loss did not return a scalar torch tensor")
        return out.reshape(())

    batched = with_vector_products(torch.func.vmap(value))
    eps64 = float(np.finfo(np.float64).eps)

    def evaluate(rows: NDArray) -> tuple[NDArray, NDArray]:
        values = np.empty(len(rows))
        eps = eps64
        for start in range(0, len(rows), rows_per_call):
            chunk = torch.from_numpy(
                np.ascontiguousarray(rows[start : start + rows_per_call], np.float64)
            )
            try:
                with torch.no_grad(), np.errstate(all="ignore"):
                    out = batched(chunk)
            except NotBatchable:
                raise
            except Exception as exc:  # an operation torch or vmap cannot run batched
                raise NotBatchable(f"{type(exc).__name__}: {exc}") from exc
            if not out.dtype.is_floating_point:
                raise NotBatchable(f"the loss returned {out.dtype}, not a floating value")
            eps = max(eps, float(torch.finfo(out.dtype).eps))
            values[start : start + len(chunk)] = out.detach().to(torch.float64).numpy()
        return values, np.full(len(rows), eps)

    return evaluate


def row_by_row(
    f: Callable[[NDArray], tuple[float, float]],
) -> Callable[[NDArray], tuple[NDArray, NDArray]]:
    """The same interface over a one-point evaluator ``f(flat) -> (value, eps)``."""

    def evaluate(rows: NDArray) -> tuple[NDArray, NDArray]:
        pairs = [f(row) for row in rows]
        return np.array([v for v, _ in pairs]), np.array([e for _, e in pairs])

    return evaluate
