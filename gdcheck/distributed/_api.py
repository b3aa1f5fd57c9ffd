r"""``crosscheck_parallel``: the model trained data-parallel over W workers, checked every step
against the single-process full-batch run.

Three data-parallel engines, each compared with the handwritten gradient on *all* the data at
the engine's own weights (so a difference is the data-parallel arithmetic, not drift), and
with the single-process trajectory:

1. ``reference`` — the handwritten ``model.grad`` per shard, combined by shard size
   :math:`\sum_i (m_i/m) g_i` or by the model's own ``reduce`` (:mod:`._reference`);
2. ``torch_ddp`` — ``DistributedDataParallel`` over W gloo processes (:mod:`._worker`);
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
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends as registry
from .._types import NDArray, Trajectory
from ..errors import InputError, InputTypeError
from ..models._model import Model
from ..trajectory._engine import _eigenvalues, _n_examples, _optimizer, _problem
from ..trajectory._floor import gradient_tolerance, measure_floor
from ..trajectory._tolerance import drift_tolerances
from ..validation import check_dtype, check_lr, check_steps
from . import _findings as judge
from ._jax_sharded import run_jax
from ._mapped import worker_sources
from ._reference import Reduce, run_reference, single_process
from ._result import ParallelFinding, ParallelResult
from ._shards import Shards, examples_axis, split
from ._torch_ddp import run_ddp
from ._worker import write_spec

ENGINES = {"torch": "torch_ddp", "jax": "jax_sharded"}
FAULTS = (
    "stale_worker",
    "from_step",
    "skip_allreduce_worker",
    "die_worker",
    "hang_worker",
    "at_step",
)


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
    """
    if not isinstance(model, Model):
        raise InputTypeError(
            f"crosscheck_parallel: model must be a gdcheck.Model, got {type(model).__name__}."
        )
    lr, steps, dtype = check_lr(lr), check_steps(steps), check_dtype(dtype)
    optimizer = _optimizer(optimizer)
    reduce = reduce if reduce is not None else model.info.get("reduce")
    if reduce is not None and not callable(reduce):
        raise InputTypeError(
            "crosscheck_parallel: reduce must be reduce(shard_grads, shard_sizes)."
        )
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InputError(f"crosscheck_parallel: timeout={timeout!r}; pass a number of seconds > 0.")
    chosen = _engines(backends, faults)
    problem = _problem(model, data, dtype, optimizer, lr)
    shards = split(problem.data, examples_axis(model), workers)
    faults = _faults(faults, shards.world_size)
    eps = float(np.finfo(dtype).eps)

    t0 = time.perf_counter()
    sp_w, sp_g = single_process(problem, steps)
    seconds = {"single_process": time.perf_counter() - t0}
    valid = (
        int(np.argmax(~np.isfinite(sp_g).all(axis=1))) if not np.isfinite(sp_g).all() else steps + 1
    )
    numpy_backend = registry.get(registry.REFERENCE)
    floor = np.zeros_like(sp_g, np.float64)
    floor[:valid] = measure_floor(problem, numpy_backend, sp_w[:valid])
    floor[valid:] = floor[max(valid - 1, 0)]
    n_terms, sizes = _n_examples(problem.data), problem.layout.sizes
    term = np.maximum(np.abs(sp_g).max(axis=1), floor.max(axis=1) / eps)
    sp_run = Trajectory(sp_w, np.zeros(steps + 1), sp_g)
    tol_sp = gradient_tolerance(sp_g, floor, sizes, n_terms, eps)
    drift_tol = drift_tolerances(problem, sp_run, valid, tol_sp, _eigenvalues(problem), eps)
    result = ParallelResult(
        model.name, shards.world_size, shards.sizes, steps, lr, dtype, {}, {}, {}, {}, seconds
    )

    def judge_engine(engine: str, weights: list[NDArray], grads: list[NDArray]) -> None:
        _judge(result, problem, shards, engine, weights, grads, floor, term, drift_tol, sp_w, eps)

    t0 = time.perf_counter()
    ref = run_reference(problem, shards, steps, reduce)
    seconds["reference"] = time.perf_counter() - t0
    result.engines["reference"] = {
        "library": "numpy",
        "version": np.__version__,
        "gradient": "handwritten model.grad on each shard",
        "reduce": "the model's reduce (under test)" if reduce else "Σ_i (m_i/m) g_i",
        "update": "handwritten model.update" if model.update else f"gdcheck.optim.{optimizer.name}",
    }
    _judge(
        result,
        problem,
        shards,
        "reference",
        [ref.weights],
        [ref.combined],
        floor,
        term,
        drift_tol,
        sp_w,
        eps,
        full=[ref.full],
        shard_grads=ref.shard_grads,
    )

    with tempfile.TemporaryDirectory(prefix="gdcheck-dp-") as tmp:
        directory = Path(tmp)
        sources, prepare_in_worker = worker_sources(model, tuple(data), shards, dtype)
        spec = _spec(problem, shards, steps, faults, timeout)
        write_spec(directory, {**spec, "shards": sources, "prepare_in_worker": prepare_in_worker})
        if prepare_in_worker:
            result.notes.append(
                "each worker memory-maps its own shard of the .npy and prepares it itself."
            )
        if "torch" in chosen:
            import torch

            ddp = run_ddp(directory, shards.world_size, timeout)
            seconds["torch_ddp"], seconds["torch_ddp_loop"] = ddp.seconds, ddp.loop_seconds
            seconds.update({f"torch_ddp_{k}": v for k, v in ddp.phases.items()})
            result.peak_rss_mb["torch_ddp"] = ddp.peak_rss_mb
            result.peak_rss_mb["torch_ddp_before_data"] = ddp.base_rss_mb
            result.peak_rss_mb["torch_ddp_anon_at_end"] = [a for a, _ in ddp.rss_parts_mb]
            result.peak_rss_mb["torch_ddp_file_at_end"] = [f for _, f in ddp.rss_parts_mb]
            result.engines["torch_ddp"] = {
                "library": "torch",
                "version": torch.__version__,
                "all-reduce": "DistributedDataParallel, gloo, loss × W·m_i/m (DDP averages)",
                "launch": "torch.multiprocessing (spawn); the same worker runs under torchrun",
                "update": optimizer.torch_config,
            }
            if ddp.failure is not None:
                result.findings.append(judge.failure_finding("torch_ddp", ddp.failure))
            else:
                judge_engine("torch_ddp", ddp.weights, ddp.grads)
        if "jax" in chosen:
            jx = run_jax(directory, shards.world_size, timeout)
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
                "update": optimizer.optax_config,
            }
            if jx.failure is not None:
                result.findings.append(
                    ParallelFinding("engine_failed", "jax_sharded", 0, (), jx.failure)
                )
            else:
                assert jx.weights is not None and jx.grads is not None
                judge_engine("jax_sharded", list(jx.weights), [jx.grads] * len(jx.weights))
    if faults and "torch" in chosen:
        result.notes.append(f"planted faults {faults} apply to the torch_ddp workers only.")
    return result


def _judge(
    result: ParallelResult,
    problem: Any,
    shards: Shards,
    engine: str,
    weights: list[NDArray],
    grads: list[NDArray],
    floor: NDArray,
    term: NDArray,
    drift_tol: NDArray,
    sp_w: NDArray,
    eps: float,
    full: list[NDArray] | None = None,
    shard_grads: NDArray | None = None,
) -> None:
    """Per worker: the gradient against the full-batch one at its weights; then the workers'
    spread, and the weights against the single-process run."""
    numpy_backend = registry.get(registry.REFERENCE)
    n_terms, label = _n_examples(problem.data), problem.layout.label
    errors, found = [], []
    full_first: NDArray | None = None
    spread = judge.spread_per_step(weights)
    drifts = judge.drift_findings(engine, weights, sp_w, drift_tol, spread)
    until = min((d.step for d in drifts), default=None)
    for r, (w, g) in enumerate(zip(weights, grads, strict=True)):
        if full is not None:
            f = full[r]
        elif full_first is not None and np.array_equal(w, weights[0], equal_nan=True):
            f = full_first  # the same weights as worker 0: the same full-batch gradient
        else:
            f = numpy_backend.shadow(problem, np.nan_to_num(w)).grads
        if r == 0:
            full_first = f
        tol = gradient_tolerance(f, floor, problem.layout.sizes, n_terms, eps)
        errors.append(np.abs(g.astype(np.float64) - f).max(axis=1, initial=0.0) / term)

        def at(t: int, w: NDArray = w) -> NDArray:
            if shard_grads is not None:
                return shard_grads[t].astype(np.float64)
            user = problem.user(w[t])
            return np.stack([problem.flat(problem.model.grad(user, *s)) for s in shards.data])

        worker = None if engine == "reference" else r
        found += judge.gradient_findings(engine, worker, g, f, tol, at, shards.sizes, label, until)
    # every worker has the same mistake (an all-reduced gradient): one finding says it
    if engine != "reference" and len({f.kind for f in found}) == 1 and not drifts:
        found = found[:1]
    result.findings += found + drifts
    drift = _relative(weights[0], sp_w)
    if not found and not drifts:
        event = judge.weights_finding(engine, drift, drift_tol)
        if event is not None:
            result.findings.append(event)
    result.grad_error[engine] = np.max(errors, axis=0)
    result.spread[engine] = spread
    result.weight_drift[engine] = drift


def _relative(w: NDArray, ref: NDArray) -> NDArray:
    scale = np.abs(ref.astype(np.float64)).max(axis=1, initial=0.0)
    diff = np.abs(w.astype(np.float64) - ref).max(axis=1, initial=0.0)
    return diff / np.where(scale > 0, scale, 1.0)


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


def _faults(faults: Mapping[str, int] | None, W: int) -> dict[str, int]:
    out = dict(faults or {})
    for key, value in out.items():
        if key not in FAULTS:
            raise InputError(
                f"crosscheck_parallel: unknown fault {key!r}; the faults are {list(FAULTS)}."
            )
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise InputError(f"crosscheck_parallel: faults[{key!r}]={value!r}; pass an int >= 0.")
        if key.endswith("_worker") and value >= W:
            raise InputError(
                f"crosscheck_parallel: faults[{key!r}]={value} but the workers are 0..{W - 1}."
            )
    return out


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
