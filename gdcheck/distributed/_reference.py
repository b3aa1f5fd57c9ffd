r"""The handwritten data-parallel run, and the single-process run it is measured against.

At every step :math:`t` the handwritten gradient ``model.grad`` runs on each shard,
:math:`g_{t,i} = \nabla C_i(w_t)`, and the shard gradients are combined:

.. math:: c_t = \mathrm{reduce}(g_{t,1}, \dots, g_{t,W};\ m_1, \dots, m_W),
          \qquad \text{default } c_t = \sum_i \frac{m_i}{m}\, g_{t,i},

then the handwritten update (``model.update``, else the optimizer's textbook rule) steps with
:math:`c_t`. A model's own ``reduce`` is the thing under test. Beside it, at the same
:math:`w_t`, the single-process full-batch gradient :math:`\nabla C(w_t)` (``model.grad`` on
all the data): :math:`c_t` must equal it to rounding. The single-process trajectory (the
handwritten run on all the data, one process) is what every data-parallel weight is compared to.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..backends._problem import Problem
from ..errors import InputError
from ._shards import Shards, combine

Reduce = Callable[[list, list], Any]
"""``reduce(shard_grads, shard_sizes) -> grads``: shard gradients in the params' structure."""


@dataclass(frozen=True)
class ReferenceRun:
    """The handwritten data-parallel trajectory, ``K+1`` steps, flat rows."""

    weights: NDArray  # (K+1, p): w_t of the data-parallel handwritten run
    combined: NDArray  # (K+1, p): c_t, the reduced gradient at w_t
    full: NDArray  # (K+1, p): the single-process full-batch gradient at the same w_t
    shard_grads: NDArray  # (K+1, W, p): g_{t,i}
    seconds: float


def run_reference(
    problem: Problem, shards: Shards, steps: int, reduce: Reduce | None
) -> ReferenceRun:
    """Run the handwritten data-parallel training (see the module docstring)."""
    t0 = time.perf_counter()
    model, p, W = problem.model, problem.layout.size, shards.world_size
    update = model.update if model.update is not None else problem.optimizer.update
    weights = np.full((steps + 1, p), np.nan, problem.dtype)
    combined = np.full_like(weights, np.nan)
    full = np.full_like(weights, np.nan)
    per_shard = np.full((steps + 1, W, p), np.nan, problem.dtype)
    w, state = problem.w0.copy(), None
    for t in range(steps + 1):
        params = problem.user(w)
        weights[t] = w
        grads = [model.grad(problem.user(w), *shard) for shard in shards.data]
        per_shard[t] = np.stack([problem.flat(g) for g in grads])
        full[t] = problem.flat(model.grad(problem.user(w), *problem.data))
        if reduce is None:
            combined[t] = combine(list(per_shard[t]), list(shards.sizes))
        else:
            combined[t] = _call_reduce(reduce, grads, shards, problem, t)
        if not np.all(np.isfinite(combined[t])) or t == steps:
            break
        params, state = update(params, problem.user(combined[t]), state, problem.lr)
        w = problem.flat(params)
    return ReferenceRun(weights, combined, full, per_shard, time.perf_counter() - t0)


def _call_reduce(reduce: Reduce, grads: list, shards: Shards, problem: Problem, t: int) -> NDArray:
    try:
        out = reduce(grads, list(shards.sizes))
        return problem.flat(out)
    except Exception as exc:
        raise InputError(
            f"crosscheck_parallel at step {t}: reduce(shard_grads, shard_sizes) raised "
            f"{type(exc).__name__}: {exc}. It receives a list of W={shards.world_size} "
            "gradients in the params' structure and the list of shard sizes, and must return "
            "one gradient in the params' structure."
        ) from exc


def single_process(problem: Problem, steps: int) -> tuple[NDArray, NDArray]:
    """The handwritten full-batch trajectory in one process: ``(weights, grads)``, (K+1, p)."""
    from .. import backends

    run = backends.get(backends.REFERENCE).trajectory(problem, steps)
    assert run.grads is not None
    return np.asarray(run.weights), np.asarray(run.grads)
