"""Beyond one machine: data-parallel training (PyTorch DDP, ``jax.sharding``), cross-checked
step by step against the single-process full-batch run (:mod:`._api`); the DDP workers on one
machine or, under ``torchrun``, on several (:mod:`._torchrun`, :mod:`.torchrun`)."""

from ._api import crosscheck_parallel as crosscheck_parallel
from ._result import ParallelFinding as ParallelFinding
from ._result import ParallelResult as ParallelResult
from ._shards import combine as combine
from ._shards import split as split
from ._torchrun import TorchrunJob as TorchrunJob
from ._torchrun import collect_torchrun as collect_torchrun
from ._torchrun import prepare_torchrun as prepare_torchrun
from ._worker import write_spec as write_spec

__all__ = [
    "ParallelFinding",
    "ParallelResult",
    "TorchrunJob",
    "collect_torchrun",
    "combine",
    "crosscheck_parallel",
    "prepare_torchrun",
    "split",
    "write_spec",
]
