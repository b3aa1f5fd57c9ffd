"""Beyond one machine: data-parallel training (PyTorch DDP, ``jax.sharding``), cross-checked
step by step against the single-process full-batch run (:mod:`._api`)."""

from ._api import crosscheck_parallel as crosscheck_parallel
from ._result import ParallelFinding as ParallelFinding
from ._result import ParallelResult as ParallelResult
from ._shards import combine as combine
from ._shards import split as split
from ._worker import write_spec as write_spec

__all__ = [
    "ParallelFinding",
    "ParallelResult",
    "combine",
    "crosscheck_parallel",
    "split",
    "write_spec",
]
