"""check_gradient on large data (issue 9, item 4): what runs, what is skipped, and that the
verdicts stay those of the full check.

On data of at least ``LARGE_DATA`` elements the random-direction witness is central
differences along the Taylor line (no complex step), and ``taylor="auto"`` skips the Taylor
test of a check that passes. The threshold is lowered here so that the tests stay small.
Speed is measured by ``benchmarks/check_speed.py``, never asserted here.
"""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

import gdcheck
from gdcheck.check import _api, _batched
from gdcheck.check._witnesses import ladder_differences
from gdcheck.errors import InputError

needs_torch = pytest.mark.skipif(
    importlib.util.find_spec("torch") is None, reason="torch is not installed"
)


def loss(w, X, y):
    xp = gdcheck.namespace(w)
    return xp.mean((X @ w - y) ** 2)


def grad(w, X, y):
    return (2 / X.shape[0]) * (X.T @ (X @ w - y))


def grad_off(w, X, y):  # a planted mistake: the 2 of the square forgotten
    return (1 / X.shape[0]) * (X.T @ (X @ w - y))


@pytest.fixture
def large(monkeypatch: pytest.MonkeyPatch) -> tuple:
    """(w, X, y): 20 parameters (witnesses along random directions), 2,520 data elements,
    counted as large."""
    monkeypatch.setattr(_api, "LARGE_DATA", 1_000)
    monkeypatch.setattr(_batched, "BATCH_FROM", 1_000)
    rng = np.random.default_rng(3)
    X = rng.standard_normal((120, 20))
    return rng.standard_normal(20), X, X @ rng.standard_normal(20) + rng.standard_normal(120)


@needs_torch
def test_a_passing_check_on_large_data_skips_the_taylor_test_and_says_so(large) -> None:
    res = gdcheck.check_gradient(loss, grad, *large, backends="torch")
    assert res.passed and res.taylor == []
    assert any("the Taylor test was not run: the check passed" in n for n in res.notes)
    cs, fd = res.witnesses
    assert not cs.witness.ran and "data this large" in cs.witness.skipped
    assert fd.witness.ran and fd.agrees_with_yours


@needs_torch
def test_the_witness_line_evaluates_your_loss_four_times_in_numpy(large) -> None:
    """p ± h·v and p ± 2h·v: central differences never read L(p), and on large data each value
    is a pass over the data."""
    at: list[np.ndarray] = []

    def counted(w, X, y):
        if isinstance(w, np.ndarray):
            at.append(np.array(w))
        return loss(w, X, y)

    w = large[0]
    res = gdcheck.check_gradient(counted, grad, *large, backends="torch")
    assert res.passed and res.witnesses[1].witness.ran
    assert len(at) == 4 and not any(np.array_equal(a, w) for a in at)
    steps = sorted({round(float(np.abs(a - w).max()), 12) for a in at})
    assert len(steps) == 2 and steps[1] == pytest.approx(2 * steps[0])  # h and 2h, both signs


@needs_torch
def test_a_failing_check_on_large_data_still_runs_the_taylor_test(large) -> None:
    res = gdcheck.check_gradient(loss, grad_off, *large, backends="torch")
    assert not res.passed
    assert res.taylor and res.taylor[0] is not None and res.taylor[0].looks_right is False
    assert res.diagnosis is not None and res.diagnosis.kind == "scaled"
    fd = res.witnesses[1]
    assert fd.witness.ran and not fd.agrees_with_yours  # the witness sees the mistake too


@needs_torch
def test_taylor_true_on_large_data_reads_the_witness_from_the_same_ladder(large) -> None:
    calls = {"numpy": 0, "torch": 0}

    def counted(w, X, y):
        calls["numpy" if isinstance(w, np.ndarray) else "torch"] += 1
        return loss(w, X, y)

    res = gdcheck.check_gradient(counted, grad, *large, backends="torch", taylor=True)
    assert res.passed and res.taylor[0].looks_right is True
    assert len(res.taylor[0].hs) == 13 and res.witnesses[1].agrees_with_yours
    # autodiff's call and one batched call for the whole ladder: no separate witness line
    assert calls == {"numpy": 0, "torch": 2}
    off = gdcheck.check_gradient(loss, grad, *large, backends="torch", taylor=False)
    assert off.taylor == [] and not any("Taylor test was not run" in n for n in off.notes)


@needs_torch
def test_small_data_keeps_the_full_check(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 5))
    y = X @ rng.standard_normal(5)
    res = gdcheck.check_gradient(loss, grad, rng.standard_normal(5), X, y, backends="torch")
    assert res.passed and res.taylor and res.taylor[0].looks_right is True
    assert all(w.witness.ran for w in res.witnesses)  # the complex step runs on small data


def test_taylor_takes_true_false_or_auto() -> None:
    with pytest.raises(InputError, match="taylor='yes'; use True, False or 'auto'"):
        gdcheck.check_gradient(loss, grad, np.zeros(2), np.ones((3, 2)), np.ones(3), taylor="yes")
    with pytest.raises(InputError, match="taylor=2; use True, False or 'auto'"):
        gdcheck.check_gradient(loss, grad, np.zeros(2), np.ones((3, 2)), np.ones(3), taylor=2)


@pytest.mark.parametrize("on", [1, np.True_])
def test_a_truthy_taylor_means_true(on) -> None:
    rng = np.random.default_rng(6)
    X = rng.standard_normal((30, 3))
    res = gdcheck.check_gradient(loss, grad, rng.standard_normal(3), X, X[:, 0], taylor=on)
    assert len(res.taylor) == 1 and res.taylor[0] is not None


def test_ladder_differences_pick_the_step_with_the_smallest_error_estimate() -> None:
    def f(t):  # L(p + t v) along a line: a cubic, so each D_h is off by h² / 6 · f'''
        return 1.0 + 2.0 * t + 0.5 * t**2 + t**3

    hs = 0.5 / 2.0 ** np.arange(20)
    res = ladder_differences(hs, f(hs), f(-hs), f(0.0))
    assert res.ran and len(res.derivatives) == 1
    assert abs(res.derivatives[0] - 2.0) <= res.error_estimate[0] < 1e-8
    broken = ladder_differences(hs[:3], np.array([np.nan, 1.0, np.inf]), f(-hs[:3]), f(0.0))
    assert not broken.ran and "not finite" in broken.skipped
    # without the centre's value (the witness's short ladder) the same step is picked
    uncentred = ladder_differences(hs, f(hs), f(-hs), float("nan"))
    assert uncentred.ran and uncentred.derivatives[0] == res.derivatives[0]


@needs_torch
def test_vector_products_batch_a_unit_row_product_without_changing_it() -> None:
    """``w.T @ X`` with w (n, 1) under vmap: rewritten as a vector product, same values."""
    import torch

    from gdcheck.backends._torch_vmap import with_vector_products

    rng = np.random.default_rng(5)
    X = torch.from_numpy(rng.standard_normal((7, 50)))
    y = torch.from_numpy(rng.standard_normal((1, 50)))
    W = torch.from_numpy(rng.standard_normal((4, 7, 1)))

    def cost(w):
        return (((w.mT @ X) - y) ** 2).sum() + (X.mT @ w).sum()  # a unit row, a unit column

    plain = torch.func.vmap(torch.func.grad_and_value(cost))
    rewritten = with_vector_products(plain)
    (g1, v1), (g2, v2) = plain(W), rewritten(W)
    torch.testing.assert_close(g2, g1, rtol=1e-13, atol=1e-12)
    torch.testing.assert_close(v2, v1, rtol=1e-13, atol=1e-12)
    rows = torch.stack([torch.func.grad(cost)(w) for w in W])
    torch.testing.assert_close(g2, rows, rtol=1e-13, atol=1e-12)


@needs_torch
def test_non_finite_large_data_is_refused_though_the_work_has_started(large) -> None:
    w, X, y = large
    X = X.copy()
    X[7, 3] = np.nan
    with pytest.raises(InputError, match=r"data\[0\] contains 1 NaN value\(s\), the first at"):
        gdcheck.check_gradient(loss, grad, w, X, y, backends="torch")


@needs_torch
def test_a_loss_that_fails_on_the_witness_line_is_reported_not_raised(large) -> None:
    calls = {"numpy": 0, "torch": 0}

    def flaky(w, X, y):  # autodiff's call succeeds; NumPy's witness calls fail
        calls["numpy" if isinstance(w, np.ndarray) else "torch"] += 1
        if isinstance(w, np.ndarray):
            raise ValueError("no NumPy here")
        return loss(w, X, y)

    res = gdcheck.check_gradient(flaky, grad, *large, backends="torch")
    # the witness line stops at its first failure; torch: autodiff, then the Taylor ladder
    assert res.passed and calls == {"numpy": 1, "torch": 2}
    fd = res.witnesses[1]
    assert not fd.witness.ran
    assert "the loss failed under NumPy along the witness's line (ValueError: no NumPy here)" in (
        fd.witness.skipped
    )
    # no witness could run, so the Taylor test (through torch) is the second opinion after all
    assert res.taylor and res.taylor[0] is not None and res.taylor[0].looks_right is True
    assert not any("Taylor test was not run" in n for n in res.notes)


@needs_torch
def test_a_loss_that_writes_into_its_data_leaves_the_users_arrays_alone(large) -> None:
    w, X, y = large

    def writes(w, X, y):  # an in-place edit of the data, under NumPy only
        if isinstance(X, np.ndarray):
            X *= 1.0001
        return loss(w, X, y)

    given = X.copy()
    res = gdcheck.check_gradient(writes, grad, w, given, y, backends="torch")
    np.testing.assert_array_equal(given, X)  # untouched
    assert res.passed, str(res)
    assert "read-only" in res.witnesses[1].witness.skipped
