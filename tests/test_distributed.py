"""Data-parallel cross-check: shards, the handwritten reduce, DDP and jax.sharding, faults.

Process start-up dominates (each DDP launch imports torch._dynamo in every worker), so the
launches are few: one clean run with both engines on a memory-mapped ``.npy``, one run with
two planted worker faults, one dying worker, one hanging worker. The mistakes planted through
``reduce`` (the benchmark's own, :mod:`gdcheck.distributed._planted`) run in-process.
"""

from __future__ import annotations

import dataclasses
import json
import os

import numpy as np
import pytest

import gdcheck
from gdcheck.distributed import crosscheck_parallel, split
from gdcheck.distributed._mapped import Mapped, worker_sources
from gdcheck.distributed._planted import FAULT_FINDINGS, PLANTED_FAULTS, PLANTED_REDUCE
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


def test_workers_get_references_to_their_own_shard_of_a_memmap(tmp_path) -> None:
    X, y = _tutorial()
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    model = gdcheck.models.linear_regression()
    shards = split(model.prepare(X, y), -1, 3)
    sources, prepare = worker_sources(model, (Xm, y), shards, "float64")
    assert prepare
    for (ref, y_shard), lo, mi in zip(sources, shards.starts, shards.sizes, strict=True):
        assert isinstance(ref, Mapped) and ref.shape == (1, mi)  # the raw X, before the ones row
        np.testing.assert_array_equal(ref.open(), X[:, lo : lo + mi])
        assert y_shard.shape == (1, mi)
    # a prepare that uses every example (centring) cannot run per shard: bytes instead
    centred = dataclasses.replace(model, prepare=lambda X, y: model.prepare(X - X.mean(), y))
    sources, prepare = worker_sources(
        centred, (Xm, y), split(centred.prepare(X, y), -1, 3), "float64"
    )
    assert not prepare and not any(isinstance(d, Mapped) for s in sources for d in s)


def test_ddp_and_jax_agree_with_single_process_every_step(tmp_path) -> None:
    pytest.importorskip("jax")
    X, y = _tutorial()
    np.save(tmp_path / "X.npy", X)
    Xm = np.load(tmp_path / "X.npy", mmap_mode="r")
    res = crosscheck_parallel(
        gdcheck.models.linear_regression(), Xm, y, workers=3, steps=10, timeout=100
    )
    assert res.passed, res.summary()
    assert set(res.engines) == {"reference", "torch_ddp", "jax_sharded"}
    assert res.shard_sizes == (34, 34, 33) and res.world_size == 3
    assert any("memory-maps its own shard" in n for n in res.notes)
    for engine in ("torch_ddp", "jax_sharded"):
        assert len(res.grad_error[engine]) == 11
        assert res.grad_error[engine].max() <= 1e-12
        assert res.spread[engine].max() == 0.0  # the workers agree bit for bit
    assert "NOT FOUND" not in res.engines["jax_sharded"]["all-reduce"]
    assert len(res.peak_rss_mb["torch_ddp"]) == 3 and min(res.peak_rss_mb["torch_ddp"]) > 0
    startup, loop = res.seconds["torch_ddp_startup"], res.seconds["torch_ddp_loop"]
    assert 0 < startup < res.seconds["torch_ddp"] and 0 < loop < res.seconds["torch_ddp"]
    report = json.loads(json.dumps(res.to_dict()))
    assert report["passed"] and report["shard_sizes"] == [34, 34, 33]
    assert report["engines"]["torch_ddp"]["version"].startswith("2.")
    assert _children() == []


def test_jax_with_equal_shards_differentiates_the_models_own_loss() -> None:
    pytest.importorskip("jax")
    res = crosscheck_parallel(
        gdcheck.models.linear_regression(), *_tutorial(100), workers=2, steps=5, backends="jax"
    )
    assert res.passed, res.summary()
    assert res.shard_sizes == (50, 50)
    assert res.engines["jax_sharded"]["unequal shards"].startswith("none")
    assert res.grad_error["jax_sharded"].max() <= 1e-12 and res.spread["jax_sharded"].max() == 0


def test_ddp_worker_faults_are_named_with_worker_and_step() -> None:
    res = crosscheck_parallel(
        gdcheck.models.linear_regression(),
        *_tutorial(),
        workers=4,
        steps=8,
        backends="torch",
        faults=PLANTED_FAULTS,
        timeout=100,
    )
    assert not res.passed
    for _, kind, worker, step, text in FAULT_FINDINGS:
        found = [f for f in res.findings if (f.kind, f.worker) == (kind, worker)]
        assert found and found[0].step == step and text in found[0].message, res.summary()
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
