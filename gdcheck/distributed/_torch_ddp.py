"""Launch the W PyTorch DDP workers on this machine (``torch.multiprocessing``, spawn), with a
deadline; collect their records, or say which worker died or hung and where.

The workers meet at a ``TCPStore`` the launcher itself holds on ``127.0.0.1`` (port 0: the OS
picks a free one, and it stays bound, so no other process can take it in between). Gloo's own
timeout is the check's ``timeout`` too, so a worker blocked in an all-reduce ends by itself even
if the launcher is killed. At the deadline, or when one worker fails, every worker still alive
gets SIGTERM, then SIGKILL after a grace period: no process outlives the call.
(What each worker computes: :mod:`._worker`; the same workers on several machines, under
``torchrun``: :mod:`gdcheck.distributed.torchrun`.)
"""

from __future__ import annotations

import datetime
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._worker import ALLREDUCE, COMPUTE, DONE, read_progress, spawned_worker

GRACE_S = 2.0
"""Seconds a worker gets between SIGTERM and SIGKILL."""


@dataclass
class DDPRun:
    """The workers' records: ``weights[r]``, ``grads[r]`` (K+1, p) per rank, or a failure."""

    weights: list[np.ndarray] = field(default_factory=list)
    grads: list[np.ndarray] = field(default_factory=list)
    seconds: float = 0.0
    """Wall time of the launch, start-up included."""
    loop_seconds: float = 0.0
    """The slowest worker's training loop alone (K+1 gradients, K updates)."""
    phases: dict[str, float] = field(default_factory=dict)
    """Seconds from the launch, slowest worker: ``spawn`` (to the worker's entry), ``import``
    (torch), ``init`` (``init_process_group``), ``data`` (its shard read), ``build`` (DDP),
    ``loop``, ``shutdown`` (record, leave the group, exit, join)."""
    peak_rss_mb: list[float] = field(default_factory=list)
    """Each worker's peak RSS, MB."""
    base_rss_mb: list[float] = field(default_factory=list)
    """Each worker's peak RSS before it read its shard (torch and gloo alone), MB."""
    rss_parts_mb: list[tuple[float, float]] = field(default_factory=list)
    """Each worker's anonymous and file-backed (mapped shard) resident MB after its loop."""
    failure: tuple[str, int, int | None, str] | None = None
    """``(kind, step, worker, message)`` when a worker died or hung."""


def run_ddp(directory: Path, world_size: int, timeout: float) -> DDPRun:
    """Spawn ``world_size`` workers on the spec in ``directory``; wait at most ``timeout`` s."""
    import torch.distributed as dist
    import torch.multiprocessing as mp

    t0, launched = time.perf_counter(), time.time()
    store = dist.TCPStore(
        "127.0.0.1",
        0,
        world_size=None,
        is_master=True,
        timeout=datetime.timedelta(seconds=timeout),
        wait_for_workers=False,
    )
    ctx = mp.start_processes(
        spawned_worker,
        args=(str(directory), store.port),
        nprocs=world_size,
        join=False,
        start_method="spawn",
    )
    deadline = t0 + timeout
    run = DDPRun()
    try:
        while True:
            try:
                if ctx.join(timeout=0.2, grace_period=GRACE_S):
                    break
            except Exception as exc:  # a worker exited non-zero; torch has stopped the others
                run.failure = _died(directory, world_size, exc)
                break
            if time.perf_counter() > deadline:
                run.failure = _hung(directory, world_size, timeout)
                break
    finally:
        _stop(ctx.processes)
        del store
    run.seconds = time.perf_counter() - t0
    if run.failure is None:
        stamps = read_records(run, directory, world_size)
        run.phases = phases(np.max(stamps, axis=0) - launched, run.seconds)
    return run


def read_records(run: DDPRun, directory: Path, world_size: int) -> np.ndarray:
    """Every rank's ``rank{r}.npz`` (written by :func:`._worker.worker`) into ``run``; returns
    the ranks' ``stamps`` (``time.time()``, one row per rank)."""
    stamps = []
    for r in range(world_size):
        with np.load(directory / f"rank{r}.npz") as rec:
            run.weights.append(rec["weights"])
            run.grads.append(rec["grads"])
            run.loop_seconds = max(run.loop_seconds, float(rec["seconds"]))
            stamps.append(rec["stamps"])
            run.base_rss_mb.append(float(rec["rss_mb"][0]))
            run.peak_rss_mb.append(float(rec["rss_mb"][1]))
            run.rss_parts_mb.append((float(rec["rss_mb"][2]), float(rec["rss_mb"][3])))
    return np.array(stamps)


def phases(stamps: np.ndarray, wall: float) -> dict[str, float]:
    """Durations from the slowest worker's stamps (seconds since the launch, see ``DDPRun``)."""
    names = ("spawn", "import", "init", "data", "build", "loop")
    edges = np.concatenate([[0.0], stamps])
    out = {n: float(b - a) for n, a, b in zip(names, edges[:-1], edges[1:], strict=True)}
    out["shutdown"] = float(wall - stamps[-1])
    out["startup"] = float(stamps[-2])
    return out


def _stop(processes: list) -> None:
    """SIGTERM every live worker, then SIGKILL what is left after :data:`GRACE_S`; reap all."""
    for proc in processes:
        if proc.is_alive():
            proc.terminate()
    end = time.perf_counter() + GRACE_S
    for proc in processes:
        proc.join(max(0.0, end - time.perf_counter()))
    for proc in processes:
        if proc.is_alive():
            proc.kill()
        proc.join(5.0)


def _died(directory: Path, world_size: int, exc: BaseException) -> tuple[str, int, int | None, str]:
    rank = getattr(exc, "error_index", None)
    code = getattr(exc, "exit_code", None)
    step = read_progress(directory, rank)[0] if rank is not None else -1
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    when = f"at step {step}" if step >= 0 else "during start-up (before step 0)"
    what = f"exit code {code}" if code is not None else first
    return (
        "worker_died",
        max(step, 0),
        rank,
        f"DDP worker {rank} died {when} ({what}); the other "
        f"{world_size - 1} workers were stopped and no result is compared. Run that worker's "
        "step alone (the model's loss on its shard) to see the error.",
    )


def _hung(directory: Path, world_size: int, timeout: float) -> tuple[str, int, int | None, str]:
    marks = [read_progress(directory, r) for r in range(world_size)]
    waiting = [r for r, (_, phase) in enumerate(marks) if phase in (ALLREDUCE, DONE)]
    stuck = [r for r, (_, phase) in enumerate(marks) if phase not in (ALLREDUCE, DONE)]
    if not stuck:  # everybody is inside the all-reduce: blame the lowest step
        stuck = [min(range(world_size), key=lambda r: marks[r][0])]
    rank = stuck[0]
    step = marks[rank][0]
    where = "before reaching the all-reduce" if marks[rank][1] == COMPUTE else "in the all-reduce"
    others = ", ".join(f"{r} (step {marks[r][0]})" for r in waiting) or "none"
    return (
        "worker_timeout",
        max(step, 0),
        rank,
        f"DDP worker {rank} stopped at step {step} {where} and did not finish within "
        f"timeout={timeout:g} s; workers waiting in the all-reduce: {others}. All workers were "
        "stopped (SIGTERM, then SIGKILL). Raise timeout= if the run is only slow.",
    )
