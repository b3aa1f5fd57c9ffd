"""Data-parallel cross-check figures: every model of the series, W = 2, 3, 4, unequal shards.

Per (model, W): the worst per-step data-parallel gradient error against the single-process
one (relative to the gradient's term size), the workers' spread, the wall time of each engine,
and, for the tutorial's model, a plain DDP loop of the same steps (same spawn, same workers,
no recording, no checks) as the peer: the check's overhead is the difference.

    python benchmarks/distributed.py                       # everything (several minutes)
    python benchmarks/distributed.py --models linear_regression --workers 2 3 4 --steps 20
"""

from __future__ import annotations

import argparse
import datetime
import json
import time

import numpy as np

import gdcheck
from gdcheck.distributed import crosscheck_parallel

MODELS = {
    "linear_regression": (gdcheck.models.linear_regression, 0.1),
    "ridge": (lambda: gdcheck.models.ridge(alpha=0.1), 0.1),
    "logistic_regression": (gdcheck.models.logistic_regression, 0.5),
    "softmax_regression": (gdcheck.models.softmax_regression, 0.5),
    "mlp": (lambda: gdcheck.models.mlp(hidden=16), 0.5),
}


def _plain_worker(rank: int, port: int, W: int, steps: int, X: np.ndarray, y: np.ndarray) -> None:
    import torch
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel

    torch.set_num_threads(1)
    store = dist.TCPStore("127.0.0.1", port, is_master=False)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=W)
    shard = np.array_split(np.arange(X.shape[1]), W)[rank]
    Xs, ys = torch.from_numpy(X[:, shard].copy()), torch.from_numpy(y[:, shard].copy())
    w = torch.nn.Parameter(torch.zeros(X.shape[0], 1, dtype=torch.float64))
    module = torch.nn.ParameterList([w])
    ddp = DistributedDataParallel(module)
    opt = torch.optim.SGD([w], lr=0.1)
    scale = W * len(shard) / X.shape[1]
    for _ in range(steps):
        opt.zero_grad()
        loss = ((ddp.module[0].T @ Xs - ys) ** 2).mean() * scale
        loss.backward()
        opt.step()
    dist.destroy_process_group()


def plain_ddp(W: int, steps: int, X: np.ndarray, y: np.ndarray) -> float:
    """Seconds for a plain DDP loop: spawn, train, join."""
    import torch.distributed as dist
    import torch.multiprocessing as mp

    t0 = time.perf_counter()
    store = dist.TCPStore(
        "127.0.0.1",
        0,
        world_size=None,
        is_master=True,
        wait_for_workers=False,
        timeout=datetime.timedelta(seconds=120),
    )
    mp.start_processes(
        _plain_worker, args=(store.port, W, steps, X, y), nprocs=W, start_method="spawn"
    )
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--models", nargs="*", default=list(MODELS))
    ap.add_argument("--workers", nargs="*", type=int, default=[2, 3, 4])
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--m", type=int, default=301)
    args = ap.parse_args()
    rows = []
    for name in args.models:
        factory, lr = MODELS[name]
        if name in ("linear_regression", "ridge"):
            X, y = gdcheck.data.tutorial(seed=0)
            data = (X[:, : args.m], y[:, : args.m])
        else:
            data = gdcheck.data.synthetic(name, seed=0, m=args.m)
        for W in args.workers:
            res = crosscheck_parallel(factory(), *data, workers=W, lr=lr, steps=args.steps)
            row = {
                "model": name,
                "W": W,
                "shards": list(res.shard_sizes),
                "passed": res.passed,
                "max_grad_error": res.worst(res.grad_error),
                "max_spread": res.worst(res.spread),
                "seconds": {k: round(v, 3) for k, v in res.seconds.items()},
            }
            if name == "linear_regression":
                model = factory()
                row["plain_ddp_seconds"] = round(plain_ddp(W, args.steps, *model.prepare(*data)), 3)
            rows.append(row)
            print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
