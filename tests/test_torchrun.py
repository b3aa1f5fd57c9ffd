"""The DDP check under ``torchrun``: prepare, ``torchrun --standalone`` in a subprocess, collect.

Each torchrun launch imports torch in every rank (seconds on two cores), so there are two: a
clean W = 2 run on a memory-mapped ``.npy``, compared with ``crosscheck_parallel``'s for the
same model and data, and the planted worker faults of :mod:`gdcheck.distributed._planted`
(W = 4). The bad-input cases stop before torch is imported.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import gdcheck
from gdcheck.distributed import collect_torchrun, crosscheck_parallel, prepare_torchrun
from gdcheck.distributed._planted import FAULT_FINDINGS, PLANTED_FAULTS, planted_data
from gdcheck.errors import InputError

pytest.importorskip("torch")

TIMEOUT_S = 150
TORCHRUN_ENV = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")


def _torchrun() -> list[str]:
    """The ``torchrun`` console script beside this Python, else ``python -m torch.distributed.run``."""
    script = Path(sys.executable).with_name("torchrun")
    return [str(script)] if script.exists() else [sys.executable, "-m", "torch.distributed.run"]


def _run(args: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """``args`` in a new session, killed with its children at :data:`TIMEOUT_S`."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", **(env or {})}
    proc = subprocess.Popen(
        args,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        pytest.fail(f"{' '.join(args)} did not finish in {TIMEOUT_S} s:\n{err[-3000:]}")
    return subprocess.CompletedProcess(args, proc.returncode, out, err)


def _launch(job: gdcheck.distributed.TorchrunJob) -> None:
    args = [*_torchrun(), "--standalone", "--nproc-per-node", str(job.world_size)]
    res = _run([*args, "-m", "gdcheck.distributed.torchrun", str(job.directory)])
    assert res.returncode == 0, res.stderr[-3000:]


def _bare_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k not in TORCHRUN_ENV}


def test_torchrun_agrees_with_crosscheck_parallel(tmp_path) -> None:
    X, y = planted_data()
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    model, kw = gdcheck.models.linear_regression(), {"steps": 4, "lr": 0.1}
    job = prepare_torchrun(model, Xm, y, directory=tmp_path / "run", workers=2, **kw)
    assert job.one_machine == (
        f"torchrun --standalone --nproc-per-node 2 -m gdcheck.distributed.torchrun {job.directory}"
    )
    _launch(job)
    res = collect_torchrun(job.directory)
    want = crosscheck_parallel(model, Xm, y, workers=2, backends="torch", **kw)
    assert res.passed and want.passed, res.summary()
    assert res.shard_sizes == want.shard_sizes == (51, 50) and res.dtype == "float64"
    assert res.grad_error["torch_ddp"].max() <= 1e-12 and res.spread["torch_ddp"].max() == 0.0
    for table in ("grad_error", "spread", "weight_drift"):
        for engine in ("reference", "torch_ddp"):  # the same workers: the same records
            np.testing.assert_array_equal(getattr(res, table)[engine], getattr(want, table)[engine])
    assert res.engines["torch_ddp"]["launch"].startswith("torchrun (env://), 2 ranks on 1 host")
    assert res.notes == want.notes and any("memory-maps its own shard" in n for n in res.notes)
    assert len(res.peak_rss_mb["torch_ddp"]) == 2

    # a rank whose record did not come back is named, with the ranks that did
    lost = tmp_path / "lost"
    shutil.copytree(job.directory, lost)
    (lost / "rank1.npz").unlink()
    with pytest.raises(InputError, match=r"1 of the 2 ranks did not report \(no rank1\.npz") as e:
        collect_torchrun(lost)
    assert "ranks that reported: 0." in str(e.value) and "rank 1: last at step 4" in str(e.value)


def test_planted_worker_faults_are_named_as_on_one_machine(tmp_path) -> None:
    job = prepare_torchrun(
        gdcheck.models.linear_regression(),
        *planted_data(),
        directory=tmp_path,
        workers=4,
        steps=8,
        faults=PLANTED_FAULTS,
    )
    _launch(job)
    res = collect_torchrun(tmp_path)
    assert not res.passed
    for _, kind, worker, step, text in FAULT_FINDINGS:
        found = [f for f in res.findings if (f.kind, f.worker) == (kind, worker)]
        assert found and found[0].step == step and text in found[0].message, res.summary()


def test_module_outside_torchrun_exits_2_with_the_command(tmp_path) -> None:
    job = prepare_torchrun(
        gdcheck.models.linear_regression(), *planted_data(), directory=tmp_path, workers=3, steps=2
    )
    module = [sys.executable, "-m", "gdcheck.distributed.torchrun", str(tmp_path)]
    res = _run(module, env=_bare_env())
    assert res.returncode == 2 and res.stdout == ""
    assert res.stderr.startswith(f"gdcheck: error: run this under torchrun: {job.one_machine} (")
    assert len(res.stderr.splitlines()) == 1 and "Traceback" not in res.stderr
    fake = {"RANK": "0", "WORLD_SIZE": "2", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}
    res = _run(module, env={**_bare_env(), **fake, "MASTER_PORT": "1"})
    assert res.returncode == 2 and len(res.stderr.splitlines()) == 1
    assert (
        "WORLD_SIZE=2, but" in res.stderr
        and "prepared for 3 ranks (shards of 34, 34, 33)" in res.stderr
    )


def test_commands_and_bad_input_messages(tmp_path) -> None:
    model, data = gdcheck.models.linear_regression(), planted_data()
    job = prepare_torchrun(model, *data, directory=tmp_path, workers=4, steps=2)
    assert job.several_machines(2, endpoint="node0:29500", node_rank=1) == (
        "torchrun --nnodes 2 --nproc-per-node 2 --node-rank 1 --rdzv-backend c10d "
        f"--rdzv-endpoint node0:29500 -m gdcheck.distributed.torchrun {tmp_path}"
    )
    assert "--nnodes N --nproc-per-node P --node-rank R" in str(job) and job.collect in str(job)
    with pytest.raises(InputError, match="nnodes=3 does not divide the 4 ranks prepared"):
        job.several_machines(3)
    with pytest.raises(InputError, match=r"4 ranks did not report .*ranks that reported: none"):
        collect_torchrun(tmp_path)
    with pytest.raises(InputError, match="is not a directory prepared by"):
        collect_torchrun(tmp_path / "nowhere")
    with pytest.raises(InputError, match=r"faults\['stale_worker'\]=9 but the workers are 0..3"):
        prepare_torchrun(model, *data, directory=tmp_path, workers=4, faults={"stale_worker": 9})
