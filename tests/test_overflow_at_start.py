"""Data that overflow before the first step: refused with the cause, not a stage's symptom.

Found by a hostile review: a float32 target of 1e20 (its square overflows float32) ended in
"the loss failed under jax (ValueError: need at least one array to concatenate)" with the
array-API hint, about the built-in model; a float64 feature of 1e300 ended in "unexpected
LinAlgError: Eigenvalues did not converge … likely a gdcheck bug".
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.cli import main
from gdcheck.errors import InputError


def _data(seed=0):
    rng = np.random.default_rng(seed)
    return rng.random((3, 200)), rng.random((1, 200))


def test_a_loss_that_overflows_float32_at_step_0_names_the_data_and_the_fix():
    X, y = _data()
    with pytest.raises(InputError) as info:
        gdcheck.crosscheck(
            gdcheck.models.linear_regression(), X, y * 1e20, lr=0.1, steps=5, dtype="float32"
        )
    text = str(info.value)
    assert "the loss is inf at step 0" in text and "in float32" in text
    assert "largest |data| is 1e+20" in text[:300] or "largest |data| is 9." in text
    assert "run in float64 (--dtype float64)" in text and "concatenate" not in text
    # the same data in float64: the loss is finite and the run goes on
    assert gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y * 1e20, lr=0.1, steps=2)


def test_a_users_loss_that_is_nan_at_init_is_not_blamed_on_the_data():
    X, y = _data()

    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.mean(xp.log(w[0] * 0.0) * 0.0 + (X.T @ w - y[0]) ** 2)  # log 0 · 0 = NaN

    def grad(w, X, y):
        return 2 * X @ (X.T @ w - y[0]) / X.shape[1]

    model = gdcheck.Model("nan_at_init", loss, grad, init=lambda X, y: np.zeros(3))
    with pytest.raises(InputError, match=r"the loss is nan at step 0 .* check init's params"):
        gdcheck.crosscheck(model, X, y, lr=0.1, steps=3)


def test_a_hessian_that_overflows_is_refused_with_the_fix_not_a_linalg_error():
    X, y = _data()
    X[1] = 1e300  # its square overflows float64
    with pytest.raises(InputError) as info:
        gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, lr=0.1, steps=3)
    text = str(info.value)
    assert "Hessian at these data is not finite in float64" in text and "1e+300" in text
    assert "--standardize" in text


def test_the_cli_exits_2_with_the_cause(tmp_path, capsys):
    table = np.random.default_rng(0).random((200, 4))
    table[:, -1] *= 1e20
    np.save(tmp_path / "y1e20.npy", table)
    argv = ["run", "--data", str(tmp_path / "y1e20.npy"), "--dtype", "float32", "--steps", "5"]
    assert main([*argv, "--no-save", "-q"]) == 2
    err = capsys.readouterr().err
    assert "the loss is inf at step 0" in err and "Traceback" not in err


def test_standardising_a_feature_whose_spread_overflows_is_refused():
    X, y = _data()
    X[1] = np.linspace(-1e300, 1e300, X.shape[1])  # its squares exceed float64's range
    model = gdcheck.models.linear_regression()
    with pytest.raises(InputError, match=r"feature 1's mean or spread overflows float64"):
        gdcheck.crosscheck(model, X, y, lr=0.1, steps=2, standardize=True)


def test_features_that_overflow_say_so_once_without_numpy_warnings():
    """X at 1e30: in float32 the gradient's X (ŷ − y)ᵀ overflows at step 0 (refused with the
    cause); in float64 the run diverges by step 3 and the report's distances to w* are inf.
    Neither leaks a NumPy RuntimeWarning (the suite turns warnings into errors)."""
    X, y = _data()
    model = gdcheck.models.linear_regression()
    with pytest.raises(InputError, match="the loss is inf at step 0"):
        gdcheck.crosscheck(model, X * 1e30, y * 1e30, lr=0.1, steps=5, dtype="float32")
    run = gdcheck.crosscheck(model, X * 1e30, y * 1e30, lr=0.1, steps=5, backends=("numpy",))
    assert not run.passed and run.reference.diverged_at is not None
    assert run.convergence.diverged and "diverges at step" in run.convergence.text
