r"""The data-parallel mistakes planted by the tests and by ``benchmarks/distributed.py``.

Each is run on the tutorial's model, the first ``m = 101`` examples of its data, and must be
flagged with its ``kind`` and a message containing ``text``. Two ways to plant one:

* a handwritten ``reduce(shard_grads, shard_sizes)`` (W = 3: shards of 34, 34, 33), run
  in-process by the reference engine; the correct one is :math:`\sum_i (m_i/m) g_i`;
* faults in the DDP workers (W = 4, one launch for both):
  ``skip_allreduce_worker`` (that worker keeps its own shard's gradient) and
  ``stale_worker`` / ``from_step`` (that worker stops applying its updates).

Example::

    >>> import gdcheck
    >>> from gdcheck.distributed._planted import PLANTED_REDUCE, planted_data
    >>> label, reduce, kind, text = PLANTED_REDUCE[0]
    >>> res = gdcheck.distributed.crosscheck_parallel(
    ...     gdcheck.models.linear_regression(), *planted_data(), workers=3, steps=5,
    ...     reduce=reduce, backends=())
    >>> res.findings[0].kind
    'sum_not_mean'
"""

from __future__ import annotations

from typing import Any

import numpy as np

PLANTED_M = 101
"""Examples of the tutorial's data the planted runs use (W = 3: 34, 34, 33; W = 4: 26, 25,
25, 25)."""


def planted_data(m: int = PLANTED_M) -> tuple[np.ndarray, np.ndarray]:
    """The tutorial's data (seed 0), its first ``m`` examples."""
    from ..data import tutorial

    X, y = tutorial(seed=0)
    return X[:, :m], y[:, :m]


def sum_across_workers(gs: list, sizes: list) -> Any:
    r""":math:`\sum_i g_i`: a sum where a mean is meant (W times too large)."""
    return sum(gs)


def plain_mean(gs: list, sizes: list) -> Any:
    r""":math:`\frac1W\sum_i g_i`: right only when the shards are equal."""
    return sum(gs) / len(gs)


def first_shard(gs: list, sizes: list) -> Any:
    """:math:`g_0`: no all-reduce at all."""
    return gs[0]


def half(gs: list, sizes: list) -> Any:
    r""":math:`\frac12\sum_i (m_i/m) g_i`: a constant factor (a missing 2)."""
    m = sum(sizes)
    return sum(g * (s / m) for g, s in zip(gs, sizes, strict=True)) * 0.5


PLANTED_REDUCE = [
    ("sum across workers", sum_across_workers, "sum_not_mean", "summed across workers where a mean is meant"),
    ("plain mean of unequal shards", plain_mean, "unweighted_mean", "shard 0: 34, shard 1: 34, shard 2: 33"),
    ("one shard's gradient", first_shard, "missing_allreduce", "shard 0's own gradient"),
    ("half the gradient", half, "scaled", "0.5 ×"),
]  # fmt: skip
"""``(label, reduce, kind, text)``, W = 3."""

PLANTED_FAULTS = {"stale_worker": 1, "from_step": 3, "skip_allreduce_worker": 3}
"""Both DDP faults, W = 4, one launch."""

FAULT_FINDINGS = [
    ("worker 3 skips the all-reduce", "missing_allreduce", 3, 0, "shard 3's own gradient"),
    ("worker 3 then drifts", "worker_drift", 3, 1, "worker 3's weights leave the other workers' at step 1"),
    ("worker 1 stops stepping at step 3", "worker_drift", 1, 4, "worker 1's weights leave the other workers' at step 4"),
]  # fmt: skip
"""``(label, kind, worker, step, text)``: the findings :data:`PLANTED_FAULTS` must give."""
