"""check_gradient on large data (issue 9, item 4): what runs, what is skipped, and that the
verdicts stay those of the full check.

On data of at least ``LARGE_DATA`` elements the random-direction witness is central
differences along the Taylor line (no complex step), and ``taylor="auto"`` skips the Taylor
test of a check that passes. The threshold is lowered here so that the tests stay small.
Speed is measured by ``benchmarks/check_speed.py``, never asserted here.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.backends._torch_vmap import with_vector_products
from gdcheck.check import _api, _batched
from gdcheck.check._witnesses import ladder_differences
from gdcheck.errors import InputError

torch = pytest.importorskip("torch")


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


def test_a_passing_check_on_large_data_skips_the_taylor_test_and_says_so(large) -> None:
    res = gdcheck.check_gradient(loss, grad, *large, backends="torch")
    assert res.passed and res.taylor == []
    assert any("the Taylor test was not run: the check passed" in n for n in res.notes)
    cs, fd = res.witnesses
    assert not cs.witness.ran and "data this large" in cs.witness.skipped
    assert fd.witness.ran and fd.agrees_with_yours


def test_a_failing_check_on_large_data_still_runs_the_taylor_test(large) -> None:
    res = gdcheck.check_gradient(loss, grad_off, *large, backends="torch")
    assert not res.passed
    assert res.taylor and res.taylor[0] is not None and res.taylor[0].looks_right is False
    assert res.diagnosis is not None and res.diagnosis.kind == "scaled"
    fd = res.witnesses[1]
    assert fd.witness.ran and not fd.agrees_with_yours  # the witness sees the mistake too


def test_taylor_true_on_large_data_reads_the_witness_from_the_same_ladder(large) -> None:
    res = gdcheck.check_gradient(loss, grad, *large, backends="torch", taylor=True)
    assert res.passed and res.taylor[0].looks_right is True
    assert len(res.taylor[0].hs) == 13 and res.witnesses[1].agrees_with_yours
    small = gdcheck.check_gradient(loss, grad, *large, backends="torch", taylor=False)
    assert small.taylor == [] and not any("Taylor test was not run" in n for n in small.notes)


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


def test_ladder_differences_pick_the_step_with_the_smallest_error_estimate() -> None:
    def f(t):  # L(p + t v) along a line: a cubic, so each D_h is off by h² / 6 · f'''
        return 1.0 + 2.0 * t + 0.5 * t**2 + t**3

    hs = 0.5 / 2.0 ** np.arange(20)
    res = ladder_differences(hs, f(hs), f(-hs), f(0.0))
    assert res.ran and len(res.derivatives) == 1
    assert abs(res.derivatives[0] - 2.0) <= res.error_estimate[0] < 1e-8
    broken = ladder_differences(hs[:3], np.array([np.nan, 1.0, np.inf]), f(-hs[:3]), f(0.0))
    assert not broken.ran and "not finite" in broken.skipped


def test_vector_products_batch_a_unit_row_product_without_changing_it() -> None:
    """``w.T @ X`` with w (n, 1) under vmap: rewritten as a vector product, same values."""
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


def test_non_finite_large_data_is_refused_though_the_work_has_started(large) -> None:
    w, X, y = large
    X = X.copy()
    X[7, 3] = np.nan
    with pytest.raises(InputError, match=r"data\[0\] contains 1 NaN value\(s\), the first at"):
        gdcheck.check_gradient(loss, grad, w, X, y, backends="torch")


def test_a_loss_that_fails_on_the_witness_line_is_reported_not_raised(large) -> None:
    calls = {"n": 0}

    def flaky(w, X, y):  # autodiff's call succeeds; NumPy's witness calls fail
        calls["n"] += 1
        if isinstance(w, np.ndarray):
            raise ValueError("no NumPy here")
        return loss(w, X, y)

    res = gdcheck.check_gradient(flaky, grad, *large, backends="torch")
    assert res.passed and calls["n"] >= 1
    fd = res.witnesses[1]
    assert (
        not fd.witness.ran
        and "the loss failed along the Taylor test's ladder" in fd.witness.skipped
    )
