r"""The DDP check under ``torchrun``: prepare a directory, run the ranks, collect and judge.

:func:`prepare_torchrun` writes into ``DIR`` what every rank needs — the spec
``crosscheck_parallel``'s workers read (the model by cloudpickle, the optimizer, :math:`w_0`,
the shard sizes), one ``shard{r}.pkl`` per rank (its examples, or a :class:`~._mapped.Mapped`
reference into a memory-mapped ``.npy``), and, for the judging, the model, the data (again by
reference when memory-mapped) and the options. Each rank, started by ``torchrun`` as
``python -m gdcheck.distributed.torchrun DIR`` (:mod:`gdcheck.distributed.torchrun`), runs the
same :func:`._worker.worker` as the one-machine path and writes ``rank{r}.npz``.
:func:`collect_torchrun` reads the ranks' records and judges them exactly as
:func:`~gdcheck.distributed.crosscheck_parallel` judges its spawned workers: the same
single-process run, handwritten reference and findings, the same
:class:`~gdcheck.distributed.ParallelResult`.

Example::

    >>> import gdcheck
    >>> X, y = gdcheck.data.tutorial(seed=0)
    >>> job = gdcheck.distributed.prepare_torchrun(
    ...     gdcheck.models.linear_regression(), X, y, directory="run", workers=4, steps=20)
    >>> print(job.one_machine)                                         # doctest: +SKIP
    torchrun --standalone --nproc-per-node 4 -m gdcheck.distributed.torchrun /home/me/run
    >>> print(job.several_machines(2, endpoint="node0:29500", node_rank=1))  # doctest: +SKIP
    torchrun --nnodes 2 --nproc-per-node 2 --node-rank 1 --rdzv-backend c10d ...
    >>> res = gdcheck.distributed.collect_torchrun("run")              # doctest: +SKIP
"""

from __future__ import annotations

import json
import pickle
import re
import secrets
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError
from ..models._model import Model
from ._api import MAPPED_NOTE, judge_ddp, write_worker_spec
from ._baseline import check_options, check_timeout, setup, start_check
from ._mapped import Mapped, describe
from ._reference import Reduce
from ._result import ParallelResult
from ._torch_ddp import DDPRun, read_records
from ._worker import COMPUTE, DONE, dump, read_progress

META = "torchrun.json"
"""World size, shard sizes and the preparation's token: all a rank reads before the spec."""
CHECK = "check.pkl"
"""The model, the data (by reference when memory-mapped) and the options, for the judging."""
MODULE = "gdcheck.distributed.torchrun"
_OURS = re.compile(r"(rank\d+\.(npz|json)|progress\d+|shard\d+\.pkl)")


@dataclass(frozen=True)
class TorchrunJob:
    """A prepared ``DIR``: the commands that run it, on one machine or several."""

    directory: Path
    world_size: int
    shard_sizes: tuple[int, ...]

    @property
    def one_machine(self) -> str:
        """All W ranks on this machine (``--standalone``: a free port on localhost)."""
        return f"torchrun --standalone --nproc-per-node {self.world_size} -m {MODULE} {self._dir}"

    def several_machines(
        self, nnodes: int | None = None, endpoint: str = "HOST:PORT", node_rank: int | str = "R"
    ) -> str:
        """The command for node ``node_rank`` of ``nnodes`` (placeholders where not given);
        ``endpoint`` is node 0's address and a free port, the same on every node."""
        W = self.world_size
        if nnodes is None:
            nodes, per = "N", "P"
        elif isinstance(nnodes, bool) or not isinstance(nnodes, int) or nnodes < 1 or W % nnodes:
            raise InputError(
                f"TorchrunJob.several_machines: nnodes={nnodes!r} does not divide the "
                f"{W} ranks prepared; pass a divisor of {W} (each node runs {W}/nnodes ranks)."
            )
        else:
            nodes, per = str(nnodes), str(W // nnodes)
        return (
            f"torchrun --nnodes {nodes} --nproc-per-node {per} --node-rank {node_rank} "
            f"--rdzv-backend c10d --rdzv-endpoint {endpoint} -m {MODULE} {self._dir}"
        )

    @property
    def collect(self) -> str:
        return f"gdcheck.distributed.collect_torchrun({str(self.directory)!r})"

    @property
    def _dir(self) -> str:
        return shlex.quote(str(self.directory))

    def __str__(self) -> str:
        sizes = ", ".join(map(str, self.shard_sizes))
        return "\n".join(
            [
                f"{self.world_size} ranks prepared in {self.directory} (shards of {sizes}).",
                "On one machine:",
                f"  {self.one_machine}",
                f"On N machines, N x P = {self.world_size}, on node R = 0..N-1 (HOST:PORT: node "
                "0's address and a free port; DIR on a filesystem every node sees, or copied to "
                "each node, and a memory-mapped .npy at the same path on every node):",
                f"  {self.several_machines()}",
                "Then, with every rank's rank{r}.npz and rank{r}.json gathered in DIR:",
                f"  {self.collect}",
            ]
        )


def prepare_torchrun(
    model: Model,
    *data: Any,
    directory: str | Path,
    workers: int,
    lr: float = 0.01,
    steps: int = 100,
    optimizer: Any = None,
    dtype: str = "float64",
    reduce: Reduce | None = None,
    faults: Mapping[str, int] | None = None,
    timeout: float = 300.0,
) -> TorchrunJob:
    """Write what every ``torchrun`` rank needs into ``directory``; return the commands.

    The arguments are :func:`~gdcheck.distributed.crosscheck_parallel`'s (``workers`` is the
    world size W, the number of ranks over all nodes); ``timeout`` is gloo's, per
    collective. Records of an earlier run in ``directory`` are removed. ``print(job)`` shows the
    one-machine and the multi-node commands, then the call that judges the records.
    """
    if not isinstance(directory, str | Path) or not str(directory):
        raise InputTypeError(
            f"prepare_torchrun: directory must be a path (str or pathlib.Path), got "
            f"{type(directory).__name__}."
        )
    options = check_options("prepare_torchrun", model, lr, steps, optimizer, dtype, reduce)
    check_timeout("prepare_torchrun", timeout)
    problem, shards, faults = setup(model, data, options, workers, faults)
    where = Path(directory).resolve()
    try:
        where.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(
            f"prepare_torchrun: cannot create directory {str(where)!r}: {exc}"
        ) from exc
    for old in where.iterdir():
        if _OURS.fullmatch(old.name):
            old.unlink()
    mapped = write_worker_spec(where, problem, shards, options.steps, data, faults, timeout)
    raw = tuple(describe(d) or d for d in data)
    dump({"options": options, "data": raw, "faults": faults, "mapped": mapped}, where / CHECK)
    meta = {
        "world_size": shards.world_size,
        "shard_sizes": list(shards.sizes),
        "steps": options.steps,
        "model": model.name,
        "token": secrets.token_hex(8),
    }
    (where / META).write_text(json.dumps(meta, indent=1))
    return TorchrunJob(where, shards.world_size, shards.sizes)


def read_meta(directory: str | Path, who: str) -> dict[str, Any]:
    """``DIR/torchrun.json``, or a message saying how to write it."""
    path = Path(directory) / META
    try:
        meta = json.loads(path.read_text())
        int(meta["world_size"])
        return meta
    except (OSError, ValueError, KeyError, TypeError) as exc:
        why = "not found" if isinstance(exc, FileNotFoundError) else f"unreadable ({exc})"
        raise InputError(
            f"{who}: {str(path)!r} {why}: {str(directory)!r} is not a directory prepared by "
            "gdcheck.distributed.prepare_torchrun(model, *data, directory=DIR, workers=W)."
        ) from exc


def collect_torchrun(directory: str | Path) -> ParallelResult:
    """Judge the ranks' records in ``directory`` as ``crosscheck_parallel`` judges its workers.

    Every rank's ``rank{r}.npz`` and ``rank{r}.json`` must be in ``directory`` (on several
    machines without a shared filesystem, copy them from each node). The single-process run
    and the handwritten reference run here, in this process.
    """
    where = Path(directory)
    meta = read_meta(where, "collect_torchrun")
    W = int(meta["world_size"])
    done = [r for r in range(W) if (where / f"rank{r}.npz").is_file()]
    if len(done) < W:
        raise InputError(_missing(where, W, done))
    info = [_rank_info(where, r, meta["token"]) for r in range(W)]
    try:
        with open(where / CHECK, "rb") as fh:
            saved = pickle.load(fh)
    except (OSError, pickle.UnpicklingError, EOFError) as exc:
        raise InputError(
            f"collect_torchrun: {str(where / CHECK)!r} is missing or unreadable ({exc}); "
            "prepare_torchrun writes it with the model and the data: prepare and run again."
        ) from exc
    options = saved["options"]
    data = tuple(d.open() if isinstance(d, Mapped) else d for d in saved["data"])
    problem, shards, faults = setup(options.model, data, options, W, saved["faults"])
    if list(shards.sizes) != list(meta["shard_sizes"]):
        raise InputError(
            f"collect_torchrun: the data now split into shards of {list(shards.sizes)}, but "
            f"{str(where)!r} was prepared with {meta['shard_sizes']}: a memory-mapped .npy "
            "changed since prepare_torchrun; prepare and run again."
        )
    check = start_check(problem, shards, options)
    if saved["mapped"]:
        check.result.notes.append(MAPPED_NOTE)
    ddp = DDPRun()
    stamps = read_records(ddp, where, W)
    ddp.seconds = float(np.max(stamps[:, -1] - stamps[:, 0]))
    steps = np.diff(stamps, axis=1).max(axis=0)  # per phase, the slowest rank (its own clock)
    names = ("import", "init", "data", "build", "loop")
    ddp.phases = dict(zip(names, map(float, steps), strict=True))
    hosts = sorted({i["host"] for i in info})
    judge_ddp(
        check,
        ddp,
        f"torchrun (env://), {W} ranks on {len(hosts)} host{'s' * (len(hosts) > 1)}: "
        + ", ".join(hosts),
    )
    versions = sorted({i["torch"] for i in info})
    check.result.engines["torch_ddp"]["version"] = ", ".join(versions)
    if faults:
        check.result.notes.append(f"planted faults {faults} apply to the torch_ddp workers only.")
    return check.result


def _missing(where: Path, W: int, done: list[int]) -> str:
    lost = [r for r in range(W) if r not in done]
    names = {COMPUTE: "computing", 2: "in the all-reduce", DONE: "done"}
    seen = []
    for r in lost:
        step, phase = read_progress(where, r)
        seen.append(
            f"rank {r}: last at step {step}, {names.get(phase, 'starting')}"
            if phase
            else f"rank {r}: no trace here"
        )
    reported = ", ".join(map(str, done)) or "none"
    return (
        f"collect_torchrun: {len(lost)} of the {W} ranks did not report (no "
        f"{', '.join(f'rank{r}.npz' for r in lost)} in {str(where)!r}; {'; '.join(seen)}); "
        f"ranks that reported: {reported}. On several machines copy every node's rank*.npz and "
        "rank*.json into this directory; if a rank failed, torchrun's output names its error: "
        "fix it and run the torchrun command again."
    )


def _rank_info(where: Path, r: int, token: str) -> dict[str, Any]:
    try:
        info = json.loads((where / f"rank{r}.json").read_text())
    except (OSError, ValueError) as exc:
        raise InputError(
            f"collect_torchrun: rank {r}'s rank{r}.npz is in {str(where)!r} but its "
            f"rank{r}.json is not ({exc}); copy both files from the node that ran rank {r}."
        ) from exc
    if info.get("token") != token:
        raise InputError(
            f"collect_torchrun: rank {r}'s record in {str(where)!r} comes from another "
            "preparation of this directory (prepare_torchrun was called again since); run the "
            "torchrun command again."
        )
    return info
