"""The convergence verdict, κ(H), standardisation, ``--lr auto`` and layouts (issue 12)."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.errors import InputError
from gdcheck.trajectory._convergence import best_lr, contraction
from gdcheck.trajectory._prepare import user_data

# (steps, converged, steps still needed (None: converged)): the tutorial's data, lr 0.01.
TUTORIAL_CASES = [(100, False, 8_789), (10_000, True, None)]

# lr against the stable bound 2/λmax of the tutorial's Hessian (λmax = 2.60184): 0.768688.
BOUND_CASES = [
    (0.7686, "0.7686", "0.768688"),  # 6 digits tell them apart
    (0.76868, "0.76868", "0.768688"),
]


@pytest.fixture(scope="module")
def tutorial():
    return gdcheck.data.tutorial(seed=0)


@pytest.mark.parametrize(("steps", "converged", "needed"), TUTORIAL_CASES)
def test_tutorial_convergence(tutorial, steps, converged, needed):
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), *tutorial, steps=steps, backends="numpy"
    )
    c = run.convergence
    assert c.converged is converged
    assert c.rho == pytest.approx(1 - 0.01 * 0.12768894, rel=1e-6)
    assert c.steps_needed == needed
    if converged:
        assert c.text.startswith("CONVERGED — after 10,000 steps")
    else:
        assert c.text.startswith("NOT CONVERGED after 100 steps")
        assert "about 8,789 more steps are needed" in c.text


def test_contraction_and_best_step():
    lam = np.array([0.5, 2.0])
    assert contraction(0.1, lam) == pytest.approx(0.95)
    lr, low, top = best_lr(lam)
    assert lr == pytest.approx(2 / 2.5) and (low, top) == (0.5, 2.0)
    assert contraction(lr, lam) == pytest.approx((4 - 1) / (4 + 1))


def test_oscillation_at_the_bound(tutorial):
    model = gdcheck.models.linear_regression()
    bound = gdcheck.crosscheck(model, *tutorial, steps=1, backends="numpy").lr_bound
    run = gdcheck.crosscheck(model, *tutorial, lr=bound * (1 - 1e-5), steps=300, backends="numpy")
    c = run.convergence
    assert not c.converged and c.oscillating and c.rho == pytest.approx(1, abs=1e-4)
    assert "oscillation at the bound" in c.text and "--lr auto" in c.text


def test_a_diverged_run_does_not_converge(tutorial):
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), *tutorial, lr=1.0, steps=900, backends="numpy"
    )
    c = run.convergence
    assert c.diverged and not c.converged and c.rho == pytest.approx(1.60184, rel=1e-5)
    assert "exceeds 1" in c.text


def test_the_best_step_at_the_bound_is_not_told_to_use_lr_auto():
    """Features far from zero make κ huge, so 2/(λmin+λmax) itself sits at 2/λmax: the verdict
    says why and what helps (standardising), not "--lr auto" to a run that already used it."""
    rng = np.random.default_rng(3)
    X = 50 + rng.random((3, 400))
    y = (rng.standard_normal(3) @ X + 2)[None, :]
    model = gdcheck.models.linear_regression()
    eig = gdcheck.crosscheck(model, X, y, steps=1, backends="numpy").eigenvalues
    lr, low, top = best_lr(eig)
    run = gdcheck.crosscheck(model, X, y, lr=lr, steps=50, backends="numpy")
    c = run.convergence
    assert not c.converged and c.oscillating
    assert "already the best fixed step" in c.text and "--lr auto" not in c.text
    assert f"κ = λmax/λmin = {top / low:.3g}" in c.text and "--standardize" in c.text


def test_a_collinear_feature_is_a_flat_direction_not_a_divergence():
    """eigvalsh of a singular X Xᵀ gives λmin ≈ ±1e-16 λmax; |1 − ηλ| > 1 there is rounding,
    not divergence: ρ is 1 (no step moves along it) and the run converges."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 200))
    X = np.vstack([x, x, rng.standard_normal((1, 200))])
    y = (X.sum(0) + 1)[None]
    model = gdcheck.models.linear_regression()
    eig = gdcheck.crosscheck(model, X, y, steps=1, backends="numpy").eigenvalues
    # the rounding this test is about: λmin is ±1e-16 λmax, its sign the processor's BLAS's
    assert abs(eig.min()) <= 1e-12 * eig.max()
    c = gdcheck.crosscheck(model, X, y, lr=best_lr(eig)[0], steps=20, backends="numpy").convergence
    assert c.converged and not c.diverged and c.rho == 1
    assert "flat direction" in c.text and "diverges" not in c.text


@pytest.mark.parametrize(("lr", "lr_text", "bound_text"), BOUND_CASES)
def test_verdict_numbers_show_the_comparison(tutorial, lr, lr_text, bound_text):
    model = gdcheck.models.linear_regression()
    run = gdcheck.crosscheck(model, *tutorial, lr=lr, steps=5, backends="numpy")
    message = run.divergence_message(5)
    assert f"lr < 2/λmax = {bound_text}" in message and f"lr = {lr_text}." in message


def test_no_backend_ran_is_not_checked(tutorial):
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), *tutorial, steps=5, backends="numpy"
    )
    assert run.passed and not run.compared
    text = run.to_dict()["verdict"]["text"]
    assert text.startswith("NOT CHECKED — only the NumPy reference ran")
    assert "pip install 'gdcheck[all]'" in text


def test_logistic_convergence_uses_the_gradient_norm():
    X, y = gdcheck.data.synthetic("logistic_regression", 0)
    run = gdcheck.crosscheck(
        gdcheck.models.logistic_regression(), X, y, lr=0.5, steps=50, backends="numpy"
    )
    c = run.convergence
    assert "gradient norm" in c.measure and c.rho is not None and c.rho < 1
    assert run.condition_number is None


# --- standardisation and layouts ---------------------------------------------------------------


def _diabetes_raw():
    ds = gdcheck.data.dataset_for_model("diabetes", "linear_regression", standardize=False)
    return ds.X, ds.y


def test_raw_diabetes_recommends_standardising():
    X, y = _diabetes_raw()
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), X, y, lr=1e-5, steps=5, backends="numpy"
    )
    assert run.condition_number > 1e7
    text = run.to_dict()["analysis"]["conditioning"]
    assert "κ(H) = λmax/λmin = 5.237e+07" in text and "--standardize" in text


def test_standardized_diabetes_converges_and_maps_back():
    X, y = _diabetes_raw()
    model = gdcheck.models.linear_regression()
    arrays, _ = user_data(model, (X, y), standardize=True)
    Z = arrays[0]
    np.testing.assert_allclose(Z.mean(axis=1), 0, atol=1e-12)
    np.testing.assert_allclose(Z.std(axis=1), 1, rtol=1e-12)
    assert arrays[1] is y  # the target is left alone
    run = gdcheck.crosscheck(
        model, X, y, lr=0.247968, steps=4_000, standardize=True, backends="numpy"
    )
    assert run.condition_number == pytest.approx(470.08, rel=1e-4)
    assert run.convergence.converged and run.convergence.reached_at < 3_000
    A = np.vstack([np.ones((1, X.shape[1])), X]).T
    w_raw = np.linalg.lstsq(A, y.ravel(), rcond=None)[0]
    np.testing.assert_allclose(run.weights_in_original_units().ravel(), w_raw, rtol=1e-6)
    assert run.to_dict()["analysis"]["scaling"]["means"] == pytest.approx(X.mean(axis=1))


def test_rows_layout_for_a_columns_model(tutorial):
    X, y = tutorial
    model = gdcheck.models.linear_regression()
    a = gdcheck.crosscheck(model, X, y, steps=20, backends="numpy")
    b = gdcheck.crosscheck(model, X.T, y.ravel(), steps=20, backends="numpy", layout="rows")
    np.testing.assert_array_equal(a.reference.weights, b.reference.weights)
    assert b.scaling.transposed and not a.scaling.transposed


def test_rows_given_to_a_columns_model_gets_the_hint(tutorial):
    X, y = tutorial
    X3 = np.vstack([X, X**2, X**3])  # (3, 500): the rows layout is (500, 3)
    with pytest.raises(InputError, match=r"Pass X\.T .*or layout='rows'"):
        gdcheck.crosscheck(gdcheck.models.linear_regression(), X3.T, y, steps=2)


def test_unknown_layout_is_refused(tutorial):
    with pytest.raises(InputError, match="layout='diagonal'"):
        gdcheck.crosscheck(gdcheck.models.linear_regression(), *tutorial, layout="diagonal")
