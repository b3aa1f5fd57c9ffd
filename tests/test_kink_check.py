"""Kinks are not optima: at a point where SVM margins are exactly 0 the kink is reported by entry,
the tolerance is not inflated by it, the witnesses are not applicable, and the verdict and the
diagnosis come from nearby smooth points. Smooth points never report a kink. Also: the
per-entry NumPy-only reference's 2,000-entry cap is said, with what to do."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.backends import get as get_backend
from gdcheck.check._kink import NOT_APPLICABLE
from gdcheck.check._point import PointChecker
from gdcheck.check._witness_run import MAX_WITNESS_ENTRIES
from gdcheck.examples import losses as L
from gdcheck.examples.published import CASES, svm_grad_naive, svm_grad_vectorized, svm_loss
from gdcheck.params import parse_params
from gdcheck.validation import cast_data

N, D, C, REG = 40, 5, 4, 0.1
_rng = np.random.default_rng(167)  # a seed whose integer point has 34 margins exactly 0
X = _rng.integers(-1, 2, (N, D)).astype(float)
X[:, 4] = 0.0  # feature 4 is never used: row W[4, :] only has the penalty, and no kink
W_KINK = _rng.integers(-1, 2, (D, C)).astype(float)
Y = _rng.integers(0, C, N)
W_SMOOTH = W_KINK + 0.05 * np.random.default_rng(1).standard_normal((D, C))
DTYPES = ("float64", "float32")


def margins(W):
    S = X @ W
    m = S - S[np.arange(N), Y][:, None] + 1.0
    m[np.arange(N), Y] = -1.0
    return m


def fifty_times(W, X, y, reg):
    return 50.0 * svm_grad_vectorized(W, X, y, reg)


def half_at_ties(W, X, y, reg):
    """The SVM gradient with autodiff's own convention at a tie (½), so that it agrees at once."""
    n = X.shape[0]
    S = X @ W
    m = S - S[np.arange(n), y][:, None] + 1
    ind = (m > 0) + 0.5 * (m == 0)
    ind[np.arange(n), y] = 0
    ind[np.arange(n), y] = -ind.sum(axis=1)
    return X.T @ ind / n + 2 * reg * W


def check(grad, W, dtype="float64", **kw):
    return gdcheck.check_gradient(svm_loss, grad, W.astype(dtype), X, Y, REG, **kw)


def test_the_constructed_point_has_many_margins_exactly_zero():
    assert int((margins(W_KINK) == 0).sum()) == 34
    assert not (margins(W_SMOOTH) == 0).any()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grad", [svm_grad_vectorized, svm_grad_naive, half_at_ties])
def test_the_correct_gradient_passes_at_a_kink_and_the_kink_is_reported(grad, dtype):
    res = check(grad, W_KINK, dtype)
    assert res.passed, str(res)
    assert res.diagnosis is None
    assert res.kink is not None
    # the jumping entries are named as the params name them; feature 4's row never jumps
    assert res.kink.labels and all(label.startswith("params[") for label in res.kink.labels)
    assert not any(label.startswith("params[4,") for label in res.kink.labels)
    assert "params[0, 0]" in res.kink.labels
    text = str(res)
    assert "kink at the given point: the loss is not differentiable here" in text
    assert "params[0, 0]" in text
    assert "optimum" not in text


@pytest.mark.parametrize("dtype", DTYPES)
def test_subgradient_convention_differences_are_marked_kink_not_failed(dtype):
    res = check(svm_grad_vectorized, W_KINK, dtype)
    err, tol = res.abs_error["params"], res.tolerance["params"]
    assert (err > tol).any()  # yours (0 at a tie) and torch's (½) really differ there
    text = str(res)
    assert "  kink" in text and "✗" not in text


@pytest.mark.parametrize("dtype", DTYPES)
def test_fifty_times_too_large_fails_with_the_factor_from_the_smooth_points(dtype):
    res = check(fifty_times, W_KINK, dtype)
    assert not res.passed
    assert res.diagnosis.kind == "scaled", str(res)
    assert res.diagnosis.factor == pytest.approx(50.0, rel=1e-6)
    assert res.diagnosis.points_agreeing == res.diagnosis.points_checked == res.points_checked - 1
    assert res.kink is not None
    assert "your gradient is 50 × autodiff's" in str(res)


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_tolerance_at_the_kink_is_not_inflated(dtype):
    at_kink = check(svm_grad_vectorized, W_KINK, dtype)
    assert at_kink.floor_measured and at_kink.kink is not None and at_kink.kink.floor_beside
    smooth = check(fifty_times, W_SMOOTH, dtype)  # fails at the given point: floor measured
    assert smooth.kink is None and smooth.floor_measured
    kink_tol = float(at_kink.tolerance["params"].max())
    smooth_tol = float(smooth.tolerance["params"].max())
    assert kink_tol <= 10 * smooth_tol, (kink_tol, smooth_tol)
    # the jumps (~0.3) stayed out of it: it still resolves a 1 % error in a 0.1 entry
    assert kink_tol < 1e-3 * at_kink.kink.jump


@pytest.mark.parametrize("grad", [fifty_times, svm_grad_vectorized, half_at_ties])
def test_the_witnesses_at_a_kink_are_not_applicable(grad):
    res = check(grad, W_KINK)
    assert res.witnesses
    for w in res.witnesses:
        assert not w.witness.ran and w.witness.skipped == NOT_APPLICABLE
        assert not w.agrees_with_yours
    text = str(res)
    assert "not applicable (kink)" in text and "agrees with yours" not in text
    assert "is the loss smooth here?" not in text
    assert "not applicable (kink)" in res._repr_html_()


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("grad", [svm_grad_vectorized, fifty_times])
def test_a_smooth_point_reports_no_kink(grad, dtype):
    res = check(grad, W_SMOOTH, dtype)
    assert res.kink is None
    assert res.passed == (grad is svm_grad_vectorized)
    assert "kink at the given point" not in str(res)


def _probe(loss, params, data, dtype):
    """The point of ``check_gradient`` with the rounding floor, and so the kink probe, forced."""
    layout, tree = parse_params(params, dtype)
    data64 = tuple(cast_data(cast_data(d, dtype), "float64") for d in data)
    ctx = PointChecker(loss, layout, data64, [get_backend("torch")], dtype, None, None)
    ctx.close_pool()
    return ctx.compare(tree, None, None)


XT, YT = gdcheck.data.tutorial(seed=0, m=100)
XB = np.vstack([np.ones((1, 100)), XT])
W_OPT = np.linalg.lstsq(XB.T, YT.ravel(), rcond=None)[0].reshape(2, 1)
SMOOTH_POINTS = [(c.name, c.loss, c.params, c.data) for c in CASES] + [
    ("tutorial_zeros", L.mse_loss, np.zeros((2, 1)), (XB, YT)),
    ("tutorial_optimum", L.mse_loss, W_OPT, (XB, YT)),
    ("svm_smooth", svm_loss, W_SMOOTH, (X, Y, REG)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,loss,params,data", SMOOTH_POINTS, ids=[p[0] for p in SMOOTH_POINTS])
def test_no_smooth_case_of_the_catalogue_is_called_a_kink(name, loss, params, data, dtype):
    point = _probe(loss, params, data, dtype)
    assert point.floor_measured
    assert point.kink is None, f"{name}: {point.kink}"


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_probe_finds_the_kink_of_the_constructed_point(dtype):
    point = _probe(svm_loss, W_KINK, (X, Y, REG), dtype)
    assert point.kink is not None and point.kink.floor_beside
    assert set(point.kink.entries) == {"params"}
    assert all(idx[0] != 4 for idx in point.kink.entries["params"])


# --- the per-entry NumPy-only reference's cap -------------------------------------------------
M = 20
XC = np.random.default_rng(3).standard_normal((MAX_WITNESS_ENTRIES + 100, M))
YC = np.random.default_rng(4).standard_normal((1, M))
WC = np.random.default_rng(5).standard_normal((MAX_WITNESS_ENTRIES + 100, 1)) * 0.1


def numpy_only_loss(w, X, y):  # np.* on torch tensors fails: no autodiff backend can run it
    return np.mean(np.square(w.T @ X - y))


def test_above_the_cap_the_error_says_the_cap_and_what_to_do():
    with pytest.raises(ValueError) as err:
        gdcheck.check_gradient(numpy_only_loss, L.mse_grad, WC, XC, YC)
    message = str(err.value)
    assert f"capped at {MAX_WITNESS_ENTRIES:,} entries" in message
    assert f"these params have {MAX_WITNESS_ENTRIES + 100:,}" in message
    # jax and torch are installed here but cannot run np.* on their arrays: the fix is the loss
    assert "write the loss with gdcheck.namespace so that jax or torch can" in message
    assert "witnesses='entries'" in message


def test_without_any_backend_the_cap_says_install_jax_or_torch(monkeypatch):
    monkeypatch.setattr("gdcheck.check._api._autodiff_backends", lambda *a, **k: ([], {}))
    with pytest.raises(ValueError) as err:
        gdcheck.check_gradient(numpy_only_loss, L.mse_grad, WC, XC, YC)
    assert "install jax or torch (pip install 'gdcheck[torch]')" in str(err.value)
    assert f"capped at {MAX_WITNESS_ENTRIES:,} entries" in str(err.value)


def test_witnesses_entries_lifts_the_cap_and_the_note_says_so(monkeypatch):
    # the same path at a small cap: 2,000 entries would take 2,000 loss evaluations a point
    monkeypatch.setattr("gdcheck.check._witness_run.MAX_WITNESS_ENTRIES", 40)
    w, x = WC[:60], XC[:60]
    with pytest.raises(ValueError, match="capped at 40 entries; these params have 60"):
        gdcheck.check_gradient(numpy_only_loss, L.mse_grad, w, x, YC)
    res = gdcheck.check_gradient(
        numpy_only_loss, L.mse_grad, w, x, YC, witnesses="entries", taylor=False
    )
    assert res.reference_name == "complex step"
    assert res.passed, str(res)
    note = next(n for n in res.notes if "cap" in n)
    assert "ran over 60 entries, above its 40-entry cap, because witnesses='entries'" in note
    assert "gdcheck.namespace" in note and "one gradient evaluation" in note
    wrong = gdcheck.check_gradient(
        numpy_only_loss,
        lambda w, X, y: 2 * L.mse_grad(w, X, y),
        w,
        x,
        YC,
        witnesses="entries",
        taylor=False,
    )
    assert not wrong.passed and wrong.diagnosis.kind == "scaled"
