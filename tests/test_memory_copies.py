"""No temporary copy of X that the maths does not need: XLA's compiled programs, the float64
blocks of the Gram matrix and the feature moments, the benchmark's own data.

Peak RSS is measured by ``benchmarks/run.py`` (``crosscheck_peak_mb``), never asserted here:
these tests pin the mechanisms that keep it down.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import gdcheck
from gdcheck.backends import _memory
from gdcheck.models import _linear
from gdcheck.trajectory import _prepare, _setup


def build_problem(n: int = 200, m: int = 3000, dtype: str = "float32") -> object:
    rng = np.random.default_rng(0)
    X = rng.random((n, m)).astype(dtype)
    y = (rng.standard_normal(n) @ X + 5).astype(dtype)[None, :]
    model = gdcheck.models.linear_regression()
    return _setup.build_problem(model, (X, y), dtype, _setup.resolve_optimizer(None), 0.1)


def test_compiled_shadow_makes_no_copy_of_the_data() -> None:
    """The batched value-and-grad reads X in place: XLA's scratch is a few per-example vectors
    per weight (B × m), not a transposed X (the +0.8 × X once suspected at (1001, 1e5))."""
    jax = pytest.importorskip("jax")
    from gdcheck.backends.jax_backend import JaxBackend, _device_data

    problem = build_problem()
    X = problem.data[0]
    batch = 4
    with jax.enable_x64(False):
        dj = _device_data(problem.data, "float32")
        fn = JaxBackend()._batched(problem, len(dj))
        w = jax.numpy.zeros((batch, problem.layout.size), jax.numpy.float32)
        compiled = fn.lower(w, *dj).compile()
    temp = compiled.memory_analysis().temp_size_in_bytes
    assert temp <= 8 * batch * X.shape[1] * X.itemsize < X.nbytes / 2


def test_release_freed_memory_is_safe_to_call() -> None:
    assert _memory.release_freed_memory() in (True, False)
    assert _memory.release_freed_memory() in (True, False)  # cached lookup


def test_gram_converts_every_block_into_one_buffer(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(_linear, "GRAM_BLOCK_BYTES", 8 * 6 * 33)  # 33 columns a block
    X = np.random.default_rng(1).random((6, 400)).astype(np.float32)
    pointers, covered = set(), []
    for cols, block in _linear._float64_blocks(X):
        assert block.dtype == np.float64 and block.shape == (6, cols.stop - cols.start)
        np.testing.assert_array_equal(block, X[:, cols])
        pointers.add(block.ctypes.data)
        covered.extend(range(cols.start, cols.stop))
    assert len(pointers) == 1 and covered == list(range(400))


@pytest.mark.parametrize("axis", [0, 1])
def test_blocked_moments_match_numpy(monkeypatch: pytest.MonkeyPatch, axis: int) -> None:
    rng = np.random.default_rng(2)
    shape = (7, 5000) if axis == 1 else (5000, 7)
    scale = np.arange(1, 8.0).reshape((-1, 1) if axis == 1 else (1, -1))
    X = (rng.random(shape) * scale + 3).astype(np.float32)
    means, scales = _prepare._moments(X, axis)  # small: NumPy on one float64 copy
    X64 = X.astype(np.float64)
    np.testing.assert_array_equal(means, X64.mean(axis=axis))
    np.testing.assert_array_equal(scales, X64.std(axis=axis))
    whole = _prepare._standardized(X, means, scales, axis, np.float32)
    monkeypatch.setattr(_prepare, "MOMENTS_BLOCK_BYTES", 8 * 7 * 333)
    assert len(list(_prepare._example_blocks(X, axis))) == 16
    blocked = _prepare._moments(X, axis)
    np.testing.assert_allclose(blocked[0], means, rtol=1e-14)
    np.testing.assert_allclose(blocked[1], scales, rtol=1e-14)
    np.testing.assert_array_equal(_prepare._standardized(X, means, scales, axis, np.float32), whole)


def test_benchmark_data_are_the_unblocked_numbers() -> None:
    """``benchmarks/_case.data`` fills X and y in blocks: the same numbers as one draw."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    try:
        import _case
    finally:
        sys.path.pop(0)
    for dtype in ("float32", "float64"):
        X, y, _ = _case.data(6, 3001, dtype, False)
        rng = np.random.default_rng(0)
        beta = rng.standard_normal(5)
        X0 = rng.random((5, 3001), dtype=np.float32).astype(dtype, copy=False)
        y0 = (beta @ X0 + 5 + 0.1 * rng.standard_normal(3001)).astype(dtype)[None, :]
        np.testing.assert_array_equal(X, X0)
        np.testing.assert_allclose(y, y0, rtol=1e-6 if dtype == "float32" else 1e-15)
