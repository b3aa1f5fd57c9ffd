"""The peer of ``distributed.py``'s overhead figure: a plain DDP loop, the tutorial's model.

Same spawn, same gloo store on loopback, same shards and the same K+1 gradients and K
updates as the check's workers; no records, no progress words, no checks. Each worker stamps
the same phases as the check's (:func:`gdcheck.distributed._torch_ddp.phases`).
"""

from __future__ import annotations

import datetime
import tempfile
import time
from pathlib import Path

import numpy as np

from gdcheck.distributed._torch_ddp import phases


def _plain_worker(
    rank: int, port: int, W: int, steps: int, X: np.ndarray, y: np.ndarray, out: str
) -> None:
    entered = time.time()
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    imported = time.time()
    store = dist.TCPStore("127.0.0.1", port, is_master=False)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=W)
    joined = time.time()
    shard = np.array_split(np.arange(X.shape[1]), W)[rank]
    Xs, ys = torch.from_numpy(X[:, shard].copy()), torch.from_numpy(y[:, shard].copy())
    read = time.time()

    class Linear(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.w = torch.nn.Parameter(torch.zeros(X.shape[0], 1, dtype=torch.float64))

        def forward(self, X: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
            return ((self.w.T @ X - y) ** 2).mean()

    module = Linear()
    ddp = DistributedDataParallel(module)  # its forward must run: it arms the all-reduce
    opt = torch.optim.SGD(module.parameters(), lr=0.1)
    scale = W * len(shard) / X.shape[1]
    built = time.time()
    for k in range(steps + 1):  # as the check: K+1 gradients, K updates
        opt.zero_grad()
        loss = ddp(Xs, ys) * scale
        loss.backward()
        if k < steps:
            opt.step()
    done = time.time()
    np.save(Path(out) / f"plain{rank}.npy", [entered, imported, joined, read, built, done])
    np.save(Path(out) / f"w{rank}.npy", module.w.detach().numpy())
    dist.destroy_process_group()


def plain_ddp(W: int, steps: int, X: np.ndarray, y: np.ndarray) -> dict[str, float]:
    """A plain DDP loop's phases (as the check's, :func:`gdcheck.distributed._torch_ddp.phases`)."""
    import torch.distributed as dist
    import torch.multiprocessing as mp

    with tempfile.TemporaryDirectory() as out:
        t0, launched = time.perf_counter(), time.time()
        store = dist.TCPStore(
            "127.0.0.1",
            0,
            world_size=None,
            is_master=True,
            wait_for_workers=False,
            timeout=datetime.timedelta(seconds=120),
        )
        mp.start_processes(
            _plain_worker, args=(store.port, W, steps, X, y, out), nprocs=W, start_method="spawn"
        )
        wall = time.perf_counter() - t0
        stamps = np.max([np.load(Path(out) / f"plain{r}.npy") for r in range(W)], axis=0)
        w = [np.load(Path(out) / f"w{r}.npy") for r in range(W)]
    if not all(np.array_equal(w[0], wr) for wr in w[1:]):  # the shards differ: no all-reduce
        raise SystemExit("plain DDP: the workers' weights differ, the all-reduce did not run")
    return {**phases(stamps - launched, wall), "wall": wall}
