"""``ParallelResult``: what a data-parallel cross-check found, per engine and per step.

Engines: ``reference`` (the handwritten gradient per shard, combined by the model's ``reduce``
or by shard size), ``torch_ddp`` (``DistributedDataParallel`` over W processes, gloo) and
``jax_sharded`` (``jax.sharding`` over W devices). Every per-step figure is measured against
the single-process full-batch run (the handwritten gradient on all the data):

* ``grad_error[engine][t]`` — the data-parallel gradient's largest entry error at step ``t``,
  divided by the gradient's term size :math:`\\max(\\|g\\|_\\infty, \\|\\nu\\|_\\infty/\\epsilon)`
  (a relative error that stays meaningful at the optimum, where :math:`g \\to 0`);
* ``spread[engine][t]`` — the largest difference between two workers' weights at step ``t``,
  relative to :math:`\\|w_t\\|_\\infty` (0.0: bit for bit);
* ``weight_drift[engine][t]`` — the data-parallel weights against the single-process ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

SCHEMA = "gdcheck.distributed/1"

FAILING = frozenset(
    {
        "sum_not_mean",
        "unweighted_mean",
        "missing_allreduce",
        "scaled",
        "wrong_reduce",
        "gradient",
        "worker_drift",
        "weights",
        "worker_died",
        "worker_timeout",
        "engine_failed",
    }
)
"""Finding kinds that fail a run (every kind, at present: explained ones would be listed apart)."""


@dataclass(frozen=True)
class ParallelFinding:
    """One mistake: its kind, the first step it shows, the entries, the worker, and the text."""

    kind: str
    engine: str
    step: int
    entries: tuple[str, ...]
    message: str
    worker: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "engine": self.engine,
            "step": self.step,
            "entries": list(self.entries),
            "worker": self.worker,
            "message": self.message,
        }


@dataclass
class ParallelResult:
    """A data-parallel cross-check (see the module docstring for the figures)."""

    model: str
    world_size: int
    shard_sizes: tuple[int, ...]
    steps: int
    lr: float
    dtype: str
    engines: dict[str, dict[str, str]]
    grad_error: dict[str, np.ndarray]
    spread: dict[str, np.ndarray]
    weight_drift: dict[str, np.ndarray]
    seconds: dict[str, float]
    findings: list[ParallelFinding] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    peak_rss_mb: dict[str, list[float]] = field(default_factory=dict)
    """Per engine, each process's peak RSS in MB (``torch_ddp``: one per worker;
    ``jax_sharded``: its one process, which holds every device's shard)."""

    @property
    def passed(self) -> bool:
        return not any(f.kind in FAILING for f in self.findings)

    def worst(self, table: dict[str, np.ndarray]) -> dict[str, float]:
        return {k: float(np.nanmax(v, initial=0.0)) for k, v in table.items()}

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (plain types only)."""
        return {
            "schema": SCHEMA,
            "model": self.model,
            "passed": self.passed,
            "world_size": self.world_size,
            "shard_sizes": list(self.shard_sizes),
            "steps": self.steps,
            "lr": self.lr,
            "dtype": self.dtype,
            "engines": self.engines,
            "grad_error": {k: _floats(v) for k, v in self.grad_error.items()},
            "spread": {k: _floats(v) for k, v in self.spread.items()},
            "weight_drift": {k: _floats(v) for k, v in self.weight_drift.items()},
            "max_grad_error": self.worst(self.grad_error),
            "max_spread": self.worst(self.spread),
            "seconds": dict(self.seconds),
            "peak_rss_mb": {k: list(v) for k, v in self.peak_rss_mb.items()},
            "findings": [f.to_dict() for f in self.findings],
            "notes": list(self.notes),
        }

    def summary(self) -> str:
        """A plain-text table: one row per engine, then the findings."""
        sizes = ", ".join(map(str, self.shard_sizes))
        lines = [
            f"{self.model}: W={self.world_size} workers, shards of {sizes} examples, "
            f"{self.steps} steps, {self.dtype}: {'PASSED' if self.passed else 'FAILED'}",
            f"{'engine':<12} {'max grad error':>15} {'max spread':>11} {'max drift':>10} {'s':>7}",
        ]
        ge, sp, dr = (
            self.worst(self.grad_error),
            self.worst(self.spread),
            self.worst(self.weight_drift),
        )
        for name in self.engines:
            lines.append(
                f"{name:<12} {ge.get(name, float('nan')):>15.3g} {sp.get(name, float('nan')):>11.3g} "
                f"{dr.get(name, float('nan')):>10.3g} {self.seconds.get(name, float('nan')):>7.2f}"
            )
        lines += [f"- [{f.kind}] {f.message}" for f in self.findings]
        lines += [f"note: {n}" for n in self.notes]
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.summary()


def _floats(a: np.ndarray) -> list[float | None]:
    return [None if not np.isfinite(x) else float(x) for x in np.asarray(a, np.float64).ravel()]
