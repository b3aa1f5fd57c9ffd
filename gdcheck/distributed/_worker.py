r"""One PyTorch DDP worker: the model's loss on its shard, ``DistributedDataParallel``, gloo.

The params are wrapped as an ``nn.Module`` with one ``nn.Parameter`` per param (the user's
names); ``forward(*shard)`` is the model's own loss on the worker's shard.

**The rescaling.** DDP *averages* the gradients over the W workers (it all-reduces the sum and
divides by W). Worker :math:`i`'s loss is the mean over its own :math:`m_i` examples,
:math:`C_i`, so plain DDP would give :math:`\frac1W\sum_i \nabla C_i`: the global gradient
only when the shards are equal. Each worker therefore back-propagates
:math:`s_i\,C_i` with :math:`s_i = W m_i/m`, so that

.. math:: \frac1W \sum_i s_i \nabla C_i = \sum_i \frac{m_i}{m}\nabla C_i = \nabla C .

Each step a worker records its weights :math:`w_t` and its all-reduced gradient (``p.grad``
after ``backward``), then steps the ``torch.optim`` twin of the claimed optimizer. A progress
word per worker (step, phase) lets the launcher say which worker hung and where.

The same :func:`worker` runs two ways:

* on one machine, spawned by :func:`gdcheck.distributed.crosscheck_parallel`
  (``torch.multiprocessing``, the workers meet at a ``TCPStore`` on loopback);
* under ``torchrun``, one process per rank, on one machine or several
  (:mod:`gdcheck.distributed.torchrun`: ``prepare_torchrun`` writes the spec,
  ``python -m gdcheck.distributed.torchrun DIR`` runs a rank, joining by ``env://``, and
  ``collect_torchrun`` judges the ranks' records as ``crosscheck_parallel`` does).

Either way rank :math:`r` writes ``DIR/rank{r}.npz``. A shard of a memory-mapped ``.npy``
travels as its path and offset (:mod:`._mapped`): the file must be at the same path on every
node.
"""

from __future__ import annotations

import datetime
import os
import pickle
import resource
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from ._mapped import open_shard

SPEC = "spec.pkl"
COMPUTE, ALLREDUCE, DONE = 1, 2, 3
"""The phases a worker's progress word records."""


def write_spec(directory: str | Path, spec: dict[str, Any]) -> Path:
    """Pickle ``spec`` (with cloudpickle where installed: models are often closures).

    ``spec["shards"]`` (one tuple per rank) goes to one file per rank, ``shard{r}.pkl``, so
    that a worker unpickles its own shard only (a :class:`~._mapped.Mapped` reference, for a
    memory-mapped ``.npy``, or the shard's bytes)."""
    spec = dict(spec)
    for rank, shard in enumerate(spec.pop("shards", ())):
        with open(Path(directory) / f"shard{rank}.pkl", "wb") as fh:
            pickle.dump(tuple(shard), fh, protocol=pickle.HIGHEST_PROTOCOL)
    return dump(spec, Path(directory) / SPEC)


def dump(obj: Any, path: Path) -> Path:
    """Pickle ``obj`` to ``path``, with cloudpickle where installed (models are often
    closures; ``pickle.load`` reads the file back)."""
    try:
        import cloudpickle as dumper  # type: ignore[import-not-found]
    except ImportError:  # pragma: no cover - plain pickle needs module-level model functions
        dumper = pickle  # type: ignore[assignment]
    with open(path, "wb") as fh:
        dumper.dump(obj, fh)
    return path


def read_spec(directory: str | Path) -> dict[str, Any]:
    with open(Path(directory) / SPEC, "rb") as fh:
        return pickle.load(fh)


def read_shard(directory: str | Path, rank: int, spec: dict[str, Any]) -> tuple:
    """Worker ``rank``'s data, ready for the model's loss (see :mod:`._mapped`)."""
    with open(Path(directory) / f"shard{rank}.pkl", "rb") as fh:
        shard = pickle.load(fh)
    return open_shard(shard, spec["prepare_in_worker"], spec["model"], spec["dtype"])


def peak_rss_mb() -> float:
    """This process's peak resident set size so far, MB: ``VmHWM``. (Linux's ``ru_maxrss``
    keeps the parent's peak across fork and exec, so a worker spawned by a big process would
    report the parent's.)"""
    return _status_mb("VmHWM") or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_parts_mb() -> tuple[float, float]:
    """``(anonymous, file-backed)`` resident memory now, MB: a memory-mapped shard's pages are
    file-backed (the page cache, shared with every process that maps the same file)."""
    return _status_mb("RssAnon"), _status_mb("RssFile")


def _status_mb(key: str) -> float:
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith(key + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def progress_path(directory: str | Path, rank: int) -> Path:
    return Path(directory) / f"progress{rank}"


def read_progress(directory: str | Path, rank: int) -> tuple[int, int]:
    """``(step, phase)`` last written by worker ``rank``; ``(-1, 0)`` if it never started."""
    try:
        raw = progress_path(directory, rank).read_bytes()
        step, phase = np.frombuffer(raw[:16], np.int64)
        return int(step), int(phase)
    except (OSError, ValueError):
        return -1, 0


def worker(rank: int, directory: str, store_port: int | None) -> None:
    """Worker ``rank``'s whole run; writes ``directory/rank{rank}.npz``.

    ``stamps`` in the record (``time.time()``): entry, torch imported, process group joined,
    shard read, loop start (DDP built), loop end; the launcher subtracts its own spawn time.
    ``rss_mb``: peak RSS before the shard is read, at the end, and the anonymous and
    file-backed parts at the end.
    """
    entered = time.time()
    import torch
    import torch.distributed as dist

    torch.set_num_threads(1)
    imported = time.time()
    spec = read_spec(directory)
    W, timeout = spec["world_size"], datetime.timedelta(seconds=spec["timeout"])
    fd = os.open(progress_path(directory, rank), os.O_RDWR | os.O_CREAT, 0o644)

    def mark(step: int, phase: int) -> None:
        os.pwrite(fd, np.array([step, phase], np.int64).tobytes(), 0)

    mark(-1, COMPUTE)
    if store_port is None:  # under torchrun: MASTER_ADDR, MASTER_PORT from the environment
        dist.init_process_group(
            "gloo", init_method="env://", rank=rank, world_size=W, timeout=timeout
        )
    else:
        store = dist.TCPStore("127.0.0.1", store_port, is_master=False, timeout=timeout)
        dist.init_process_group("gloo", store=store, rank=rank, world_size=W, timeout=timeout)
    joined = time.time()
    try:
        base_rss = peak_rss_mb()
        data = read_shard(directory, rank, spec)
        read = time.time()
        out = _train(rank, spec, mark, data)
        out["stamps"] = np.array([entered, imported, joined, read, *out.pop("stamps")])
        out["rss_mb"] = np.array([base_rss, peak_rss_mb(), *rss_parts_mb()])
        np.savez(Path(directory) / f"rank{rank}.npz", **out)
        mark(spec["steps"], DONE)
        dist.barrier()  # no rank leaves the group while a peer may still be talking to it
    finally:
        dist.destroy_process_group()
        os.close(fd)


def exit_now(code: int) -> None:
    """Flush stdout and stderr, then end the process with ``code`` at once (``os._exit``).

    A worker's records are written and closed by then. Skipping the interpreter's teardown
    skips torch's C++ destructors of the gloo process group, which, run at exit, can abort the
    process ("terminate called without an active exception", SIGABRT; pytorch/pytorch#179291
    describes gloo work objects torn down during finalization) after the work is done.
    """
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os._exit(code)


def spawned_worker(rank: int, directory: str, store_port: int) -> None:
    """:func:`worker` as ``torch.multiprocessing`` spawns it: exits 0 by :func:`exit_now`."""
    worker(rank, directory, store_port)
    exit_now(0)


def _train(rank: int, spec: dict[str, Any], mark: Any, data: tuple) -> dict[str, Any]:
    import torch
    from torch.nn.parallel import DistributedDataParallel

    model, layout, faults = spec["model"], spec["layout"], spec["faults"]
    steps, W, m = spec["steps"], spec["world_size"], sum(spec["sizes"])
    shard = tuple(
        torch.from_numpy(np.ascontiguousarray(d)) if isinstance(d, np.ndarray) else d for d in data
    )
    scale = W * spec["sizes"][rank] / m

    class Params(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            start = 0
            self.p = torch.nn.ParameterDict()
            for name, shape, size in zip(layout.names, layout.shapes, layout.sizes, strict=True):
                value = np.array(spec["w0"][start : start + size]).reshape(shape)
                self.p[name] = torch.nn.Parameter(torch.from_numpy(value))
                start += size

        def user(self) -> Any:
            return layout.to_user({n: self.p[n] for n in layout.names})

        def forward(self, *data: Any) -> Any:
            return model.loss(self.user(), *data)

    module = Params()
    ddp = DistributedDataParallel(module)
    leaves = [module.p[n] for n in layout.names]
    opt = spec["optimizer"].torch(leaves, spec["lr"])
    p = layout.size
    weights = np.full((steps + 1, p), np.nan, spec["dtype"])
    grads = np.full_like(weights, np.nan)
    stale = faults.get("stale_worker") == rank
    from_step = int(faults.get("from_step", 0))
    skip = faults.get("skip_allreduce_worker") == rank
    built = time.time()
    t0 = time.perf_counter()
    for k in range(steps + 1):
        mark(k, COMPUTE)
        _planted_failure(faults, rank, k)
        local = None
        if skip:  # the planted missing all-reduce: this worker keeps its own shard's gradient
            local = torch.autograd.grad(module(*shard), leaves)
        opt.zero_grad(set_to_none=False)
        value = ddp(*shard) * scale
        mark(k, ALLREDUCE)
        value.backward()  # DDP all-reduces (averages) the gradients here
        if local is not None:
            with torch.no_grad():
                for leaf, g in zip(leaves, local, strict=True):
                    leaf.grad.copy_(g)
        weights[k] = np.concatenate([leaf.detach().numpy().ravel() for leaf in leaves])
        grads[k] = np.concatenate([leaf.grad.numpy().ravel() for leaf in leaves])
        if k < steps and not (stale and k >= from_step):
            opt.step()
    seconds = time.perf_counter() - t0
    stamps = [built, built + seconds]  # loop start (DDP built), loop end
    return {"weights": weights, "grads": grads, "seconds": seconds, "stamps": stamps}


def _planted_failure(faults: dict[str, Any], rank: int, k: int) -> None:
    """The robustness faults: a worker that dies (exits 3) or hangs, at ``at_step``."""
    at = int(faults.get("at_step", 0))
    if k != at:
        return
    if faults.get("die_worker") == rank:
        os._exit(3)
    if faults.get("hang_worker") == rank:
        time.sleep(3600)
