"""One rank of the DDP check under ``torchrun``: ``python -m gdcheck.distributed.torchrun DIR``.

Three steps, the middle one on every node::

    # 1. once, in Python: write DIR (gdcheck.distributed.prepare_torchrun prints these commands)
    job = gdcheck.distributed.prepare_torchrun(model, X, y, directory="DIR", workers=4, steps=20)

    # 2a. one machine, W ranks (a free port on localhost):
    torchrun --standalone --nproc-per-node 4 -m gdcheck.distributed.torchrun DIR
    # 2b. N machines, P ranks each (N x P = W), on node R = 0..N-1; HOST:PORT is node 0's
    #     address and a free port there; DIR on a filesystem every node sees, or copied to each:
    torchrun --nnodes 2 --nproc-per-node 2 --node-rank R --rdzv-backend c10d \\
        --rdzv-endpoint HOST:PORT -m gdcheck.distributed.torchrun DIR

    # 3. with every rank{r}.npz and rank{r}.json in DIR (copy them from each node if DIR is
    #    not shared), in Python: the same ParallelResult as crosscheck_parallel's
    res = gdcheck.distributed.collect_torchrun("DIR")

A rank reads ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` from
the environment ``torchrun`` sets, refuses a ``WORLD_SIZE`` other than the prepared one, joins
the gloo process group by ``init_method="env://"`` and runs the one-machine path's worker
(:func:`gdcheck.distributed._worker.worker`): it writes ``DIR/rank{RANK}.npz``, the same record,
then ``DIR/rank{RANK}.json`` (its host, local rank, torch version and the preparation's token).
Bad input — no torchrun environment, another world size, a directory not prepared — is one
line on stderr and exit status 2.
"""

from __future__ import annotations

import json
import os
import platform
import socket
import sys
from pathlib import Path

from ..errors import InputError
from ._torchrun import read_meta
from ._worker import exit_now, worker

ENVIRONMENT = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")
"""What torchrun sets for each rank, and this module reads."""
USAGE = "usage: torchrun ... -m gdcheck.distributed.torchrun DIR"


def main(argv: list[str] | None = None) -> int:
    """Run this rank (see the module docstring); 0 when its record is written, 2 on bad input."""
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        if len(args) != 1 or args[0].startswith("-"):
            raise InputError(
                f"{USAGE} (DIR written by gdcheck.distributed.prepare_torchrun); got {args}."
            )
        directory = Path(args[0])
        rank, local_rank = _environment(directory)
    except InputError as exc:
        print(f"gdcheck: error: {exc.reason}", file=sys.stderr)
        return 2
    worker(rank, str(directory), None)
    import torch

    info = {
        "rank": rank,
        "local_rank": local_rank,
        "world_size": int(os.environ["WORLD_SIZE"]),
        "host": socket.gethostname(),
        "master": f"{os.environ['MASTER_ADDR']}:{os.environ['MASTER_PORT']}",
        "torch": torch.__version__,
        "python": platform.python_version(),
        "token": read_meta(directory, "gdcheck.distributed.torchrun")["token"],
    }
    (directory / f"rank{rank}.json").write_text(json.dumps(info, indent=1))
    return 0


def _environment(directory: Path) -> tuple[int, int]:
    """``(RANK, LOCAL_RANK)``, checked against the prepared world size."""
    missing = [k for k in ENVIRONMENT if not os.environ.get(k)]
    if missing:
        try:
            W = str(read_meta(directory, "gdcheck.distributed.torchrun")["world_size"])
        except InputError:
            W = "W"
        raise InputError(
            f"run this under torchrun: torchrun --standalone --nproc-per-node {W} -m "
            f"gdcheck.distributed.torchrun {directory} ({', '.join(missing)} not set; "
            "gdcheck.distributed.prepare_torchrun prints the multi-node command too)."
        )
    meta = read_meta(directory, "gdcheck.distributed.torchrun")
    try:
        rank, world, local = (int(os.environ[k]) for k in ("RANK", "WORLD_SIZE", "LOCAL_RANK"))
    except ValueError as exc:
        raise InputError(
            f"gdcheck.distributed.torchrun: RANK, WORLD_SIZE and LOCAL_RANK must be integers "
            f"({exc}); start this module with torchrun, which sets them."
        ) from exc
    W = int(meta["world_size"])
    if world != W:
        sizes = ", ".join(map(str, meta["shard_sizes"]))
        raise InputError(
            f"gdcheck.distributed.torchrun: WORLD_SIZE={world}, but {directory} was prepared "
            f"for {W} ranks (shards of {sizes}); launch {W} ranks in all (--nproc-per-node "
            f"{W}, or --nnodes N --nproc-per-node P with N x P = {W}), or prepare again with "
            f"workers={world}."
        )
    if not 0 <= rank < W:
        raise InputError(
            f"gdcheck.distributed.torchrun: RANK={rank}, but the ranks are 0..{W - 1}."
        )
    return rank, local


if __name__ == "__main__":
    exit_now(main())  # no interpreter teardown after the records: see exit_now
