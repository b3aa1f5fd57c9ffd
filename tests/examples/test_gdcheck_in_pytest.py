"""gdcheck in your test suite — the README's example, run as part of gdcheck's own tests.

pytest tests/examples                               # check gradients, compare trajectories
pytest tests/examples --gdcheck-update-baselines    # record the trajectories (then commit them)
"""

import numpy as np
import pytest

import gdcheck


def loss(w, X, y):
    """C(w) = (1/m) Σ (wᵀX − y)², written once for NumPy, JAX and PyTorch."""
    xp = gdcheck.namespace(w)
    return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]


def grad(w, X, y):
    """The handwritten gradient ∂C/∂w = (2/m) X (wᵀX − y)ᵀ."""
    return (2 / X.shape[1]) * X @ (w.T @ X - y).T


@pytest.fixture
def data():
    X, y = gdcheck.data.tutorial(seed=0)
    return np.vstack([np.ones((1, X.shape[1])), X]), y  # a ones row: w[0] is the intercept


def test_my_gradient(data):
    # On failure pytest shows gdcheck's diagnosis: kind, factor or entries, backend pair.
    gdcheck.assert_gradient(loss, grad, np.array([[1.0], [2.0]]), *data)


def test_a_missing_two_is_named(data):
    def missing_two(w, X, y):
        return grad(w, X, y) / 2

    with pytest.raises(gdcheck.GradientMismatch, match=r"scaled .*factor 0\.5"):
        gdcheck.assert_gradient(loss, missing_two, np.array([[1.0], [2.0]]), *data)


@pytest.mark.gdcheck(backends=("numpy", "torch"), steps=200)
def test_training_agrees_with_autodiff(gd_crosscheck):
    X, y = gdcheck.data.tutorial(seed=0)
    # Fails with the findings (step, entries, backend pair) if any backend disagrees.
    run = gd_crosscheck(gdcheck.models.linear_regression(), X, y, lr=0.01)
    assert run.config.steps == 200


@pytest.mark.gdcheck(backends=("numpy",), steps=500)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_trajectory_is_unchanged(gd_baseline, dtype):
    # Compared step by step with baselines/test_gdcheck_in_pytest/<test>/*.npz; fails, naming
    # the first step that moved, the entries and by how much, if a change moves the trajectory.
    X, y = gdcheck.data.tutorial(seed=0)
    gd_baseline(gdcheck.models.linear_regression(), X, y, lr=0.01, dtype=dtype)
