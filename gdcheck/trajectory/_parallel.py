"""``crosscheck(..., workers=W)``: run the data-parallel check after the usual ones and attach
its result (:mod:`gdcheck.distributed`), its fatal findings and a note every format shows."""

from __future__ import annotations

from ..errors import InputError
from ..models._model import Model
from ._result import CrossCheckResult, Finding


def attach_parallel(
    result: CrossCheckResult,
    model: Model,
    data: tuple,
    workers: int,
    requested: tuple[str, ...] | None,
) -> None:
    """Run :func:`gdcheck.distributed.crosscheck_parallel` and attach it to ``result``."""
    try:
        from ..distributed import crosscheck_parallel
    except ImportError as exc:
        raise InputError(
            f"workers={workers}: the data-parallel check needs gdcheck.distributed, which could "
            f"not be imported ({exc}); run without workers, or install the full gdcheck."
        ) from exc
    cfg = result.config
    parallel_backends = None
    if requested is not None:
        parallel_backends = tuple(b for b in requested if b in ("torch", "jax")) or None
    parallel = crosscheck_parallel(
        model,
        *data,
        workers=workers,
        lr=cfg.lr,
        steps=cfg.steps,
        optimizer=result.problem.optimizer,
        dtype=cfg.dtype,
        backends=parallel_backends,
    )
    result.parallel = parallel
    worst = parallel.worst(parallel.grad_error)
    spread = parallel.worst(parallel.spread)
    result.notes.append(
        f"data-parallel check, W = {parallel.world_size} workers, shards of "
        f"{', '.join(map(str, parallel.shard_sizes))} examples: "
        + "; ".join(
            f"{name} max gradient error {worst.get(name, float('nan')):.3g} against the "
            f"single-process run, workers' spread {spread.get(name, float('nan')):.3g}"
            for name in parallel.engines
        )
        + f" — {'PASSED' if parallel.passed else 'FAILED'} (report.json: parallel)."
    )
    from ..distributed._result import FAILING

    result.findings.extend(
        Finding("parallel", f.engine, int(f.step), (), f"{f.kind}: {f.message}")
        for f in parallel.findings
        if f.kind in FAILING
    )
