"""Data-parallel cross-check: shards, the handwritten reduce, DDP and jax.sharding, faults.

Process start-up dominates (each DDP launch imports torch._dynamo in every worker), so the
launches are few: one clean run with both engines, one run with two planted worker faults,
one dying worker, one hanging worker. The mistakes planted through ``reduce`` run in-process.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

import gdcheck
from gdcheck.distributed import crosscheck_parallel, split
from gdcheck.errors import InputError

pytest.importorskip("torch")

# (model factory, data, lr) for the in-process reference checks, every model of the series
SERIES = [
    ("linear_regression", gdcheck.models.linear_regression, 0.1),
    ("ridge", lambda: gdcheck.models.ridge(alpha=0.1), 0.1),
    ("logistic_regression", gdcheck.models.logistic_regression, 0.5),
    ("softmax_regression", gdcheck.models.softmax_regression, 0.5),
    ("mlp", lambda: gdcheck.models.mlp(hidden=8), 0.5),
]


def _sum(gs: list, sizes: list) -> np.ndarray:
    return sum(gs)


def _plain_mean(gs: list, sizes: list) -> np.ndarray:
    return sum(gs) / len(gs)


def _first_shard(gs: list, sizes: list) -> np.ndarray:
    return gs[0]


def _half(gs: list, sizes: list) -> np.ndarray:
    m = sum(sizes)
    return sum(g * (s / m) for g, s in zip(gs, sizes, strict=True)) * 0.5


# (name, reduce, kind, text the message must contain); W = 3 over 101 examples: 34, 34, 33
PLANTED_REDUCE = [
    ("sum", _sum, "sum_not_mean", "summed across workers where a mean is meant"),
    ("plain mean", _plain_mean, "unweighted_mean", "shard 0: 34, shard 1: 34, shard 2: 33"),
    ("one shard", _first_shard, "missing_allreduce", "shard 0's own gradient"),
    ("half", _half, "scaled", "0.5 ×"),
]


def _tutorial(m: int = 101) -> tuple[np.ndarray, np.ndarray]:
    X, y = gdcheck.data.tutorial(seed=0)
    return X[:, :m], y[:, :m]


def _children() -> list[str]:
    """Live processes whose parent is this one (the workers must all be gone), as command
    lines; multiprocessing's own resource tracker (it ends with this process) is not counted."""
    me, out = os.getpid(), []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    fields = fh.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == me and fields[0] != "Z":
                with open(f"/proc/{entry}/cmdline", "rb") as fh:
                    cmd = fh.read().replace(b"\0", b" ").decode(errors="replace")
                if "resource_tracker" not in cmd:
                    out.append(cmd)
    return out


def test_split_unequal_along_the_layouts_examples_axis() -> None:
    X, y = _tutorial()
    model = gdcheck.models.linear_regression()
    shards = split(model.prepare(X, y), -1, 3)
    assert shards.sizes == (34, 34, 33)
    assert shards.data[2][0].shape == (2, 33) and shards.data[2][1].shape == (1, 33)
    np.testing.assert_array_equal(shards.data[1][0], model.prepare(X, y)[0][:, 34:68])
    Xr, yr = gdcheck.data.synthetic("logistic_regression", seed=0, m=10)
    rows = split((Xr, yr), 0, 4)
    assert rows.sizes == (3, 3, 2, 2) and rows.data[3][0].shape == (2, 2)
    with pytest.raises(InputError, match=r"workers=11 for 10 examples; pass 1 <= workers <= 10"):
        split((Xr, yr), 0, 11)


@pytest.mark.parametrize("name, factory, lr", SERIES)
@pytest.mark.parametrize("workers", [2, 3, 4])
def test_reference_combination_matches_single_process(name, factory, lr, workers) -> None:
    data = (
        _tutorial()
        if name in ("linear_regression", "ridge")
        else gdcheck.data.synthetic(name, seed=0, m=61)
    )
    res = crosscheck_parallel(factory(), *data, workers=workers, lr=lr, steps=8, backends=())
    assert res.passed, res.summary()
    assert len(set(res.shard_sizes)) == 2  # unequal shards
    assert res.grad_error["reference"].max() <= 1e-12
    assert res.weight_drift["reference"].max() <= 1e-12


@pytest.mark.parametrize("label, reduce, kind, text", PLANTED_REDUCE)
def test_planted_reduce_mistakes_are_named(label, reduce, kind, text) -> None:
    res = crosscheck_parallel(
        gdcheck.models.linear_regression(),
        *_tutorial(),
        workers=3,
        steps=5,
        reduce=reduce,
        backends=(),
    )
    assert not res.passed
    first = res.findings[0]
    assert (first.kind, first.step, first.engine) == (kind, 0, "reference")
    assert text in first.message and "w[" in first.message


def test_bad_fault_and_backend_messages() -> None:
    model, data = gdcheck.models.linear_regression(), _tutorial()
    with pytest.raises(InputError, match=r"faults\['stale_worker'\]=5 but the workers are 0..2"):
        crosscheck_parallel(model, *data, workers=3, faults={"stale_worker": 5})
    with pytest.raises(InputError, match="unknown fault 'slow_worker'"):
        crosscheck_parallel(model, *data, workers=3, faults={"slow_worker": 1})
    with pytest.raises(InputError, match="faults are planted in the torch DDP workers"):
        crosscheck_parallel(model, *data, workers=3, faults={"stale_worker": 1}, backends="jax")


def test_ddp_and_jax_agree_with_single_process_every_step() -> None:
    pytest.importorskip("jax")
    res = crosscheck_parallel(
        gdcheck.models.linear_regression(), *_tutorial(), workers=3, steps=10, timeout=100
    )
    assert res.passed, res.summary()
    assert set(res.engines) == {"reference", "torch_ddp", "jax_sharded"}
    assert res.shard_sizes == (34, 34, 33) and res.world_size == 3
    for engine in ("torch_ddp", "jax_sharded"):
        assert len(res.grad_error[engine]) == 11
        assert res.grad_error[engine].max() <= 1e-12
        assert res.spread[engine].max() == 0.0  # the workers agree bit for bit
    assert "NOT FOUND" not in res.engines["jax_sharded"]["all-reduce"]
    report = json.loads(json.dumps(res.to_dict()))
    assert report["passed"] and report["shard_sizes"] == [34, 34, 33]
    assert report["engines"]["torch_ddp"]["version"].startswith("2.")
    assert _children() == []


def test_ddp_worker_faults_are_named_with_worker_and_step() -> None:
    res = crosscheck_parallel(
        gdcheck.models.linear_regression(),
        *_tutorial(),
        workers=4,
        steps=8,
        backends="torch",
        faults={"stale_worker": 1, "from_step": 3, "skip_allreduce_worker": 3},
        timeout=100,
    )
    assert not res.passed
    got = {(f.kind, f.worker, f.step) for f in res.findings}
    assert ("missing_allreduce", 3, 0) in got
    assert ("worker_drift", 3, 1) in got
    assert ("worker_drift", 1, 4) in got
    drift = next(f for f in res.findings if f.kind == "worker_drift" and f.worker == 1)
    assert "worker 1's weights leave the other workers' at step 4" in drift.message
    assert res.spread["torch_ddp"][0] == 0.0 and res.spread["torch_ddp"][1] > 0
    assert _children() == []


@pytest.mark.parametrize(
    "faults, kind, text",
    [
        (
            {"die_worker": 1, "at_step": 2},
            "worker_died",
            "DDP worker 1 died at step 2 (exit code 3)",
        ),
        (
            {"hang_worker": 2, "at_step": 2},
            "worker_timeout",
            "DDP worker 2 stopped at step 2 before reaching the all-reduce",
        ),
    ],
)
def test_dead_or_hung_worker_is_reported_and_nothing_is_left(faults, kind, text) -> None:
    res = crosscheck_parallel(
        gdcheck.models.linear_regression(),
        *_tutorial(),
        workers=3,
        steps=6,
        backends="torch",
        faults=faults,
        timeout=30,
    )
    assert not res.passed
    assert [f.kind for f in res.findings] == [kind]
    assert text in res.findings[0].message
    assert res.findings[0].worker == next(v for k, v in faults.items() if k.endswith("worker"))
    assert _children() == []
