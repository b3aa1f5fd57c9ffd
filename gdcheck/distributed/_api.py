r"""``crosscheck_parallel``: the model trained data-parallel over W workers, checked every step
against the single-process full-batch run.

Three data-parallel engines, each compared with the handwritten gradient on *all* the data at
the engine's own weights (so a difference is the data-parallel arithmetic, not drift), and
with the single-process trajectory:

1. ``reference`` — the handwritten ``model.grad`` per shard, combined by shard size
   :math:`\sum_i (m_i/m) g_i` or by the model's own ``reduce`` (:mod:`._reference`);
2. ``torch_ddp`` — ``DistributedDataParallel`` over W gloo processes (:mod:`._worker`),
   spawned here; the same workers under ``torchrun`` on several machines: :mod:`._torchrun`;
3. ``jax_sharded`` — the data over W devices with ``jax.sharding`` (:mod:`._jax_sharded`).

Data memory-mapped from a ``.npy`` (``np.load(path, mmap_mode="r")``) reach each worker as a
reference to its own shard, which it maps and prepares itself (:mod:`._mapped`): no worker
reads another's examples. This process still prepares all the data once, for the
single-process run the workers are measured against.

Example::

    >>> import gdcheck
    >>> X, y = gdcheck.data.tutorial(seed=0)
    >>> res = gdcheck.distributed.crosscheck_parallel(
    ...     gdcheck.models.linear_regression(), X, y, workers=3, steps=20)  # doctest: +SKIP
    >>> res.passed, res.shard_sizes                                       # doctest: +SKIP
    (True, (167, 167, 166))
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends as registry
from ..errors import InputError
from ..models._model import Model
from . import _findings as judge
from ._baseline import Check, check_options, check_timeout, setup, start_check
from ._jax_sharded import run_jax
from ._mapped import worker_sources
from ._reference import Reduce
from ._result import ParallelFinding, ParallelResult
from ._shards import Shards
from ._torch_ddp import DDPRun, run_ddp
from ._worker import write_spec

ENGINES = {"torch": "torch_ddp", "jax": "jax_sharded"}


def crosscheck_parallel(
    model: Model,
    *data: Any,
    workers: int,
    lr: float = 0.01,
    steps: int = 100,
    optimizer: Any = None,
    dtype: str = "float64",
    reduce: Reduce | None = None,
    faults: Mapping[str, int] | None = None,
    timeout: float = 120.0,
    backends: Sequence[str] | str | None = None,
) -> ParallelResult:
    """Train ``model`` data-parallel over ``workers`` shards and check every step.

    Args:
      model: a :class:`gdcheck.Model` whose loss is a mean over examples (plus, optionally, a
        term of the weights alone, as ridge's and the MLP's L2).
      *data: the model's data in its own layout; split after ``model.prepare`` along the
        examples axis (last for the columns layout, first for rows), unequal when W ∤ m.
      workers: the world size W.
      lr, steps, optimizer, dtype: as :func:`gdcheck.crosscheck`.
      reduce: ``reduce(shard_grads, shard_sizes) -> grads``, the handwritten combination under
        test (default: ``model.info["reduce"]``, else :math:`\\sum_i (m_i/m) g_i`).
      faults: planted worker faults for the DDP run: ``{"stale_worker": k, "from_step": s}``
        (worker k stops applying updates from step s), ``{"skip_allreduce_worker": k}`` (worker
        k keeps its own shard's gradient), ``{"die_worker": k, "at_step": s}``,
        ``{"hang_worker": k, "at_step": s}``.
      timeout: seconds each engine may take (start-up included); a worker that dies or hangs
        is reported and every process is stopped.
      backends: ``"torch"`` and/or ``"jax"``; ``None`` runs the installed ones.

    The DDP workers run on this machine; for several machines see
    :func:`gdcheck.distributed.prepare_torchrun` (the same workers under ``torchrun``).
    """
    options = check_options("crosscheck_parallel", model, lr, steps, optimizer, dtype, reduce)
    check_timeout("crosscheck_parallel", timeout)
    chosen = _engines(backends, faults)
    problem, shards, faults = setup(model, data, options, workers, faults)
    check = start_check(problem, shards, options)

    with tempfile.TemporaryDirectory(prefix="gdcheck-dp-") as tmp:
        directory = Path(tmp)
        if write_worker_spec(directory, problem, shards, options.steps, data, faults, timeout):
            check.result.notes.append(MAPPED_NOTE)
        if "torch" in chosen:
            ddp = run_ddp(directory, shards.world_size, timeout)
            judge_ddp(check, ddp, "torch.multiprocessing (spawn) on this machine")
        if "jax" in chosen:
            _judge_jax(check, run_jax(directory, shards.world_size, timeout))
    if faults and "torch" in chosen:
        check.result.notes.append(f"planted faults {faults} apply to the torch_ddp workers only.")
    return check.result


def write_worker_spec(
    directory: Path,
    problem: Any,
    shards: Shards,
    steps: int,
    raw: tuple,
    faults: dict[str, int],
    timeout: float,
) -> bool:
    """What every worker reads, into ``directory`` (:func:`._worker.write_spec`); True when
    each worker memory-maps its own shard of a ``.npy`` and prepares it itself."""
    sources, prepare_in_worker = worker_sources(problem.model, raw, shards, problem.dtype)
    spec = _spec(problem, shards, steps, faults, timeout)
    write_spec(directory, {**spec, "shards": sources, "prepare_in_worker": prepare_in_worker})
    return prepare_in_worker


MAPPED_NOTE = "each worker memory-maps its own shard of the .npy and prepares it itself."


def judge_ddp(check: Check, ddp: DDPRun, launch: str) -> None:
    """The DDP workers' records (or their failure) into the result."""
    import torch

    result, seconds = check.result, check.result.seconds
    seconds["torch_ddp"], seconds["torch_ddp_loop"] = ddp.seconds, ddp.loop_seconds
    seconds.update({f"torch_ddp_{k}": v for k, v in ddp.phases.items()})
    if ddp.peak_rss_mb:
        result.peak_rss_mb["torch_ddp"] = ddp.peak_rss_mb
        result.peak_rss_mb["torch_ddp_before_data"] = ddp.base_rss_mb
        result.peak_rss_mb["torch_ddp_anon_at_end"] = [a for a, _ in ddp.rss_parts_mb]
        result.peak_rss_mb["torch_ddp_file_at_end"] = [f for _, f in ddp.rss_parts_mb]
    result.engines["torch_ddp"] = {
        "library": "torch",
        "version": torch.__version__,
        "all-reduce": "DistributedDataParallel, gloo, loss × W·m_i/m (DDP averages)",
        "launch": launch,
        "update": check.options.optimizer.torch_config,
    }
    if ddp.failure is not None:
        result.findings.append(judge.failure_finding("torch_ddp", ddp.failure))
    else:
        check.judge("torch_ddp", ddp.weights, ddp.grads)


def _judge_jax(check: Check, jx: Any) -> None:
    result, seconds, shards = check.result, check.result.seconds, check.shards
    seconds["jax_sharded"], seconds["jax_sharded_loop"] = jx.seconds, jx.loop_seconds
    result.peak_rss_mb["jax_sharded"] = [jx.peak_rss_mb]
    result.peak_rss_mb["jax_sharded_anon_file_at_end"] = list(jx.rss_parts_mb)
    result.engines["jax_sharded"] = {
        "library": "jax",
        "version": jx.version,
        "all-reduce": "XLA's, from jit(value_and_grad) over NamedSharding(Mesh(W))"
        + ("" if jx.allreduce or jx.failure else " (NOT FOUND in the compiled HLO)"),
        "unequal shards": "padded with zero-weight examples; loss Σ_j ω_j C(w; x_j)"
        if len(set(shards.sizes)) > 1
        else "none: the model's loss on the whole sharded data",
        "update": check.options.optimizer.optax_config,
    }
    if jx.failure is not None:
        result.findings.append(ParallelFinding("engine_failed", "jax_sharded", 0, (), jx.failure))
    else:
        assert jx.weights is not None and jx.grads is not None
        check.judge("jax_sharded", list(jx.weights), [jx.grads] * len(jx.weights))


def _engines(backends: Sequence[str] | str | None, faults: Any) -> tuple[str, ...]:
    if backends is None:
        names = tuple(n for n in ENGINES if registry._REGISTRY[n].is_available())
    else:
        names = (backends,) if isinstance(backends, str) else tuple(backends)
        unknown = [n for n in names if n not in ENGINES]
        if unknown:
            raise InputError(
                f"crosscheck_parallel: unknown backends {unknown}; the data-parallel engines "
                f"are {list(ENGINES)} (the handwritten reference always runs)."
            )
        for n in names:
            registry.get(n)  # BackendUnavailable with an install hint
    if faults and "torch" not in names:
        raise InputError(
            "crosscheck_parallel: faults are planted in the torch DDP workers; add 'torch' to "
            "backends= (or drop faults=)."
        )
    return names


def _spec(problem: Any, shards: Shards, steps: int, faults: dict, timeout: float) -> dict:
    return {
        "model": problem.model,
        "layout": problem.layout,
        "optimizer": problem.optimizer,
        "lr": problem.lr,
        "steps": steps,
        "dtype": problem.dtype,
        "w0": np.asarray(problem.w0),
        "world_size": shards.world_size,
        "sizes": list(shards.sizes),
        "axis": shards.axis,
        "cut": list(shards.split),
        "replicated": tuple(
            None if c else d for d, c in zip(problem.data, shards.split, strict=True)
        ),
        "faults": faults,
        "timeout": float(timeout),
    }
