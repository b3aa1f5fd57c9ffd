"""Issue 9, "Fast and big": no pass over X the maths does not need, no copy a backend does not
need, refusal of a run that would not fit, and the ``workers=`` hand-off.

Speed and memory figures are measured by ``benchmarks/run.py``, never asserted here.
"""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest

import gdcheck
from gdcheck.backends import _common, _memory
from gdcheck.errors import InputError
from gdcheck.models import _linear
from gdcheck.trajectory import _setup, _tolerance


def _data(n: int = 5, m: int = 400, dtype: str = "float32", seed: int = 0) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.random((n, m)).astype(dtype)
    y = (rng.standard_normal(n) @ X + 5).astype(dtype)[None, :]
    return X, y


def test_prepare_keeps_float32_aligned_and_contiguous() -> None:
    X, y = _data()
    Xb, _ = _linear.prepare(X, y)
    assert Xb.dtype == np.float32 and Xb.shape == (6, 400)
    assert _common.aliasable(Xb)
    np.testing.assert_array_equal(Xb[0], 1)
    np.testing.assert_array_equal(Xb[1:], X)


def test_prepare_finds_nan_block_by_block(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_linear, "GRAM_BLOCK_BYTES", 8 * 5 * 7)  # 7 columns a block
    X, y = _data()
    X[2, 123] = np.nan
    with pytest.raises(
        InputError, match=r"X contains 1 NaN value\(s\), the first at index \(2, 123\)"
    ):
        _linear.prepare(X, y)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_blocked_gram_matches_the_full_product(monkeypatch: pytest.MonkeyPatch, dtype: str) -> None:
    monkeypatch.setattr(_linear, "GRAM_BLOCK_BYTES", 8 * 6 * 33)  # 33 columns a block
    Xb, yb = _linear.prepare(*_data(dtype=dtype))
    X64 = Xb.astype(np.float64)
    np.testing.assert_allclose(_linear.hessian(Xb, yb), (2 / 400) * X64 @ X64.T, rtol=1e-13)
    w, *_ = np.linalg.lstsq(X64.T, yb.astype(np.float64).T, rcond=None)
    np.testing.assert_allclose(_linear.optimum(Xb, yb), w, rtol=1e-8)


def test_gram_is_shared_by_hessian_and_optimum_and_not_stale() -> None:
    Xb, _ = _linear.prepare(*_data(dtype="float64"))
    assert _linear.gram(Xb) is _linear.gram(Xb)
    before = _linear.gram(Xb).copy()
    Xb[1, 0] += 1.0  # a column the fingerprint samples
    assert not np.allclose(_linear.gram(Xb), before)


def test_engine_data_reach_jax_without_a_copy() -> None:
    pytest.importorskip("jax")
    from gdcheck.backends.jax_backend import _device_data

    problem = _setup.build_problem(
        gdcheck.models.linear_regression(), _data(), "float32", _setup.resolve_optimizer(None), 0.1
    )
    X = problem.data[0]
    assert _device_data(problem.data, "float32")[0].unsafe_buffer_pointer() == X.ctypes.data


def test_aligned_astype_copies_only_when_it_must() -> None:
    a = _common.aligned_empty((3, 5), np.float64)
    assert _common.aligned_astype(a, np.float64) is a
    b = _common.aligned_astype(np.arange(15.0).reshape(3, 5)[:, ::2], np.float32)
    assert b.dtype == np.float32 and _common.aliasable(b)
    np.testing.assert_array_equal(b, np.arange(15.0).reshape(3, 5)[:, ::2])


def test_power_iteration_above_the_threshold(monkeypatch: pytest.MonkeyPatch) -> None:
    X, y = _data(dtype="float64")
    exact = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), X, y, lr=0.05, steps=20, backends="numpy"
    )
    monkeypatch.setattr(_tolerance, "POWER_ITERATION_ABOVE", 3)
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), X, y, lr=0.05, steps=20, backends="numpy"
    )
    assert run.passed
    assert run.eigenvalues[0] == 0.0
    np.testing.assert_allclose(run.eigenvalues[-1], exact.eigenvalues.max(), rtol=1e-5)
    assert any("power iterations" in n and "λmin is taken as 0" in n for n in run.notes)
    assert any("eigvalsh" in n for n in exact.notes)


def test_a_run_that_would_not_fit_is_refused_up_front(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_memory, "available_bytes", lambda: 50 * 2**20)
    X, y = _data(dtype="float64")
    with pytest.raises(InputError) as info:
        gdcheck.crosscheck(
            gdcheck.models.linear_regression(), X, y, lr=0.05, steps=2_000_000, backends="numpy"
        )
    text = str(info.value)
    assert "would keep about" in text and "is available" in text
    assert "fewer steps (--steps, steps=; about" in text and "--backends" in text
    assert "--dtype float32" not in text  # float32 needs 0.33 GiB: not offered, it does not fit
    monkeypatch.setattr(_memory, "available_bytes", lambda: 440 * 2**20)
    with pytest.raises(InputError, match=r"or --dtype float32 \(dtype='float32'; about 0.33 GiB\)"):
        gdcheck.crosscheck(
            gdcheck.models.linear_regression(), X, y, lr=0.05, steps=2_000_000, backends="numpy"
        )


def test_memory_estimate_grows_with_steps_params_and_backends() -> None:
    small = _memory.estimate_bytes(10, 100, "float64", 2, True)
    assert _memory.estimate_bytes(10, 1000, "float64", 2, True) > small
    assert _memory.estimate_bytes(10, 100, "float64", 3, True) > small
    assert _memory.estimate_bytes(10, 100, "float32", 2, True) < small


def test_shadow_chunk_stays_a_fraction_of_big_data() -> None:
    X = np.zeros((101, 100_000), np.float32)
    per = 101 + _common.INTERMEDIATES * 100_000 + X.size // 1024  # floats a batched weight holds
    budget = max(X.nbytes, _common.SHADOW_FLOOR)
    assert _common.shadow_chunk(500, 101, (X,)) == budget // (4 * per)  # float32: 4 bytes each
    wide = X.astype(np.float64)  # twice the bytes a float, and twice the data (under 64 MiB)
    assert _common.shadow_chunk(500, 101, (wide,)) == min(_common.SHADOW_BUDGET, wide.nbytes) // (
        8 * per
    )
    assert _common.shadow_chunk(10_001, 2, (np.zeros((2, 500)), np.zeros((1, 500)))) >= 256


def test_shadow_batches_grow_with_data_above_a_gigabyte() -> None:
    """At 4 GB a 64 MiB batch held 3 weights, and each batched call costs several passes over
    X whatever its size: above 1.34 GB a batch may take 5 % of the data (10 weights here)."""
    X = np.broadcast_to(np.zeros((), np.float32), (1001, 1_000_000))  # 4 GB, none allocated
    y = np.broadcast_to(np.zeros((), np.float32), (1, 1_000_000))
    data_bytes = X.nbytes + y.nbytes
    assert _common.shadow_budget(data_bytes) == int(_common.SHADOW_BIG_SHARE * data_bytes)
    assert _common.shadow_budget(X.nbytes // 4) == _common.SHADOW_BUDGET  # 1 GB: as before
    per = 1001 + _common.INTERMEDIATES * 1_000_000 + (X.size + y.size) // 1024
    assert _common.shadow_chunk(201, 1001, (X, y)) == int(0.05 * data_bytes) // (4 * per) == 10
    # and the memory estimate counts the bigger batches, one per backend and the reference
    more = _memory.estimate_bytes(1001, 100, "float32", 2, True, data_bytes=data_bytes)
    less = _memory.estimate_bytes(1001, 100, "float32", 2, True)
    assert more - less == 3 * (_common.shadow_budget(data_bytes) - _memory.WORK_BYTES)


class _FakeParallel:
    """What the engine reads of a ParallelResult: its findings and its summary figures."""

    def __init__(self, findings: list) -> None:
        self.findings = findings
        self.world_size, self.shard_sizes, self.engines = 2, (250, 250), ("torch_ddp",)
        self.passed, self.grad_error, self.spread = False, {}, {}

    def worst(self, series: dict) -> dict:
        return {"torch_ddp": 0.0}

    def to_dict(self) -> dict:
        return {"world_size": self.world_size, "passed": self.passed}


def test_workers_attach_the_parallel_result(monkeypatch: pytest.MonkeyPatch) -> None:
    from gdcheck.distributed._result import FAILING, ParallelFinding

    seen = {}
    bad = ParallelFinding(next(iter(FAILING)), "torch_ddp", 3, (), "worker 1 is stale")
    fine = ParallelFinding("precision-only", "torch_ddp", 0, (), "nothing wrong")

    def fake(model: object, *data: object, **kwargs: object) -> _FakeParallel:
        seen.update(kwargs)
        return _FakeParallel([bad, fine])

    module = types.ModuleType("gdcheck.distributed")
    module.crosscheck_parallel = fake  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "gdcheck.distributed", module)
    X, y = _data(dtype="float64")
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), X, y, lr=0.05, steps=5, backends="numpy", workers=2
    )
    assert isinstance(run.parallel, _FakeParallel)
    assert seen["workers"] == 2 and seen["steps"] == 5 and seen["dtype"] == "float64"
    parallel = [f for f in run.findings if f.kind == "parallel"]
    assert len(parallel) == 1 and parallel[0].step == 3 and "stale" in parallel[0].message
    assert not run.passed
    assert any(n.startswith("data-parallel check, W = 2 workers") for n in run.notes)


def test_workers_without_the_distributed_module(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "gdcheck.distributed", None)
    X, y = _data(dtype="float64")
    with pytest.raises(InputError, match=r"needs gdcheck\.distributed"):
        gdcheck.crosscheck(
            gdcheck.models.linear_regression(), X, y, lr=0.05, steps=5, backends="numpy", workers=2
        )


@pytest.mark.parametrize("workers", [0, -1, 1.5, True])
def test_workers_must_be_a_whole_number(workers: object) -> None:
    X, y = _data(dtype="float64")
    with pytest.raises(InputError, match="workers="):
        gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, steps=2, workers=workers)


def test_compiled_jax_gradient_and_its_eager_fallback() -> None:
    pytest.importorskip("jax")
    from gdcheck.backends.jax_backend import JaxBackend

    backend = JaxBackend()
    X, y = _data(dtype="float64")
    data = backend.convert((X, y))

    def loss(t: dict, X: object, y: object) -> object:
        xp = gdcheck.namespace(t["w"])
        return xp.mean((t["w"] @ X - y) ** 2)

    def branchy(t: dict, X: object, y: object) -> object:  # Python control flow on the data
        return loss(t, X, y) * (2.0 if float(X[0, 0]) > 0 else 1.0)

    w = {"w": np.full((1, 5), 0.1)}
    value, grads = backend.loss_and_grad(loss, w, lambda t: t, data)
    r = (w["w"] @ X - y)[0]
    np.testing.assert_allclose(value, np.mean(r**2), rtol=1e-12)
    np.testing.assert_allclose(grads["w"], (2 / 400) * (X @ r)[None, :], rtol=1e-10)
    value2, grads2 = backend.loss_and_grad(branchy, w, lambda t: t, data)
    np.testing.assert_allclose(value2, 2 * value, rtol=1e-12)
    np.testing.assert_allclose(grads2["w"], 2 * grads["w"], rtol=1e-12)
