r"""The single-process run every data-parallel engine is judged against, and the judging.

:func:`start_check` runs the handwritten full-batch trajectory in one process, measures its
rounding floor :math:`\nu_t` and derives the per-entry gradient tolerances and the weights'
drift tolerances (those of :func:`gdcheck.crosscheck`), then runs and judges the handwritten
data-parallel reference (:mod:`._reference`). :meth:`Check.judge` then judges any engine's
per-worker weights and gradients against it (:mod:`._findings` names the mistakes). Used by
:func:`~gdcheck.distributed.crosscheck_parallel` and by
:func:`~gdcheck.distributed.collect_torchrun` alike, so both give the same result.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import backends as registry
from .._types import NDArray, Trajectory
from ..backends._memory import check_data_fits
from ..errors import InputError, InputTypeError
from ..models._model import Model
from ..trajectory._floor import gradient_tolerance, measure_floor
from ..trajectory._metrics import weight_drift
from ..trajectory._setup import build_problem, n_examples, resolve_optimizer
from ..trajectory._tolerance import drift_tolerances, eigenvalues
from ..validation import check_dtype, check_lr, check_ranges, check_steps
from . import _findings as judge
from ._reference import Reduce, run_reference, single_process
from ._result import ParallelResult
from ._shards import Shards, examples_axis, split

FAULTS = (
    "stale_worker",
    "from_step",
    "skip_allreduce_worker",
    "die_worker",
    "hang_worker",
    "at_step",
)
"""The planted faults a DDP worker knows (:func:`._worker._planted_failure`, ``_train``)."""


@dataclass(frozen=True)
class Options:
    """The checked options of a data-parallel run."""

    model: Model
    lr: float
    steps: int
    optimizer: Any
    dtype: str
    reduce: Reduce | None


@dataclass
class Check:
    """The single-process run and its tolerances, which every engine is judged against."""

    options: Options
    problem: Any
    shards: Shards
    floor: NDArray
    term: NDArray
    drift_tol: NDArray
    sp_w: NDArray
    eps: float
    result: ParallelResult

    def judge(self, engine: str, weights: list[NDArray], grads: list[NDArray], **kw: Any) -> None:
        _judge(
            self.result,
            self.problem,
            self.shards,
            engine,
            weights,
            grads,
            self.floor,
            self.term,
            self.drift_tol,
            self.sp_w,
            self.eps,
            **kw,
        )


def check_options(
    who: str,
    model: Model,
    lr: float,
    steps: int,
    optimizer: Any,
    dtype: str,
    reduce: Reduce | None,
) -> Options:
    """The options checked (``who`` names the public call in the messages)."""
    if not isinstance(model, Model):
        raise InputTypeError(f"{who}: model must be a gdcheck.Model, got {type(model).__name__}.")
    lr, steps, dtype = check_lr(lr), check_steps(steps), check_dtype(dtype)
    reduce = reduce if reduce is not None else model.info.get("reduce")
    if reduce is not None and not callable(reduce):
        raise InputTypeError(f"{who}: reduce must be reduce(shard_grads, shard_sizes).")
    return Options(model, lr, steps, resolve_optimizer(optimizer), dtype, reduce)


def check_timeout(who: str, timeout: Any) -> None:
    if isinstance(timeout, bool) or not isinstance(timeout, int | float) or not timeout > 0:
        raise InputError(f"{who}: timeout={timeout!r}; pass a number of seconds > 0.")


def setup(
    model: Model, data: tuple, options: Options, workers: int, faults: Mapping[str, int] | None
) -> tuple[Any, Shards, dict[str, int]]:
    """The prepared problem, its W shards, and the checked faults."""
    check_ranges(data, options.dtype)  # before a cast to dtype turns them into Inf
    check_data_fits(data, options.dtype, copies_all=model.prepare is not None)  # before the copy
    problem = build_problem(model, data, options.dtype, options.optimizer, options.lr)
    shards = split(problem.data, examples_axis(model), workers)
    return problem, shards, _faults(faults, shards.world_size)


def start_check(problem: Any, shards: Shards, options: Options) -> Check:
    """The single-process run, its rounding floor and tolerances, then the handwritten
    data-parallel reference, judged."""
    model, steps, dtype = options.model, options.steps, options.dtype
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
    n_terms, sizes = n_examples(problem.data), problem.layout.sizes
    term = np.maximum(np.abs(sp_g).max(axis=1), floor.max(axis=1) / eps)
    sp_run = Trajectory(sp_w, np.zeros(steps + 1), sp_g)
    tol_sp = gradient_tolerance(sp_g, floor, sizes, n_terms, eps)
    drift_tol = drift_tolerances(problem, sp_run, valid, tol_sp, eigenvalues(problem), eps)
    result = ParallelResult(
        model.name,
        shards.world_size,
        shards.sizes,
        steps,
        options.lr,
        dtype,
        {},
        {},
        {},
        {},
        seconds,
    )
    check = Check(options, problem, shards, floor, term, drift_tol, sp_w, eps, result)

    reduce = options.reduce
    t0 = time.perf_counter()
    ref = run_reference(problem, shards, steps, reduce)
    seconds["reference"] = time.perf_counter() - t0
    result.engines["reference"] = {
        "library": "numpy",
        "version": np.__version__,
        "gradient": "handwritten model.grad on each shard",
        "reduce": "the model's reduce (under test)" if reduce else "Σ_i (m_i/m) g_i",
        "update": "handwritten model.update"
        if model.update
        else f"gdcheck.optim.{options.optimizer.name}",
    }
    check.judge(
        "reference", [ref.weights], [ref.combined], full=[ref.full], shard_grads=ref.shard_grads
    )
    return check


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
    n_terms, label = n_examples(problem.data), problem.layout.label
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
    drift = weight_drift(weights[0], sp_w)
    if not found and not drifts:
        event = judge.weights_finding(engine, drift, drift_tol)
        if event is not None:
            result.findings.append(event)
    result.grad_error[engine] = np.max(errors, axis=0)
    result.spread[engine] = spread
    result.weight_drift[engine] = drift


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
