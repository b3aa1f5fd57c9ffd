"""A catalogue of deliberately wrong gradients: every one must be flagged, ≥ 90 % with the right kind.

Each row: (id, loss, wrong grad, params, data, expected kind, expected factor or entries).
Cases use the tutorial's (n, m) layout and row-major (m, d) layouts alike.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.examples import losses as L

RNG = np.random.default_rng(42)

# tutorial data, ones row prepended: X (2, 500), y (1, 500)
_X, _Y = gdcheck.data.tutorial(seed=0)
LIN_X = np.vstack([np.ones((1, 500)), _X])
LIN = (LIN_X, _Y)
W0 = np.zeros((2, 1))
W1 = np.array([[1.0], [-2.0]])
M = 500

# logistic regression, row-major
LOG_X = RNG.standard_normal((200, 3))
LOG_Y = (RNG.random(200) < 0.5).astype(float)
LOG_P = {"w": RNG.standard_normal(3) * 0.3, "b": np.array(0.2)}

# softmax regression: 4 features, 3 classes
SM_X = RNG.standard_normal((150, 4))
SM_Y = np.eye(3)[RNG.integers(0, 3, 150)]
SM_P = {"W": RNG.standard_normal((4, 3)) * 0.3, "b": RNG.standard_normal(3) * 0.1}

# a tanh network
NN_X = RNG.standard_normal((60, 3))
NN_T = RNG.standard_normal(60)
NN_P = {
    "W1": RNG.standard_normal((3, 5)) * 0.5,
    "b1": RNG.standard_normal(5) * 0.1,
    "W2": RNG.standard_normal(5) * 0.5,
    "b2": np.array(0.1),
}

# a bilinear form with a square matrix
BL_x, BL_z = RNG.standard_normal((80, 3)), RNG.standard_normal((80, 3))
BL_t = RNG.standard_normal(80)
BL_W = RNG.standard_normal((3, 3))


def _lin(fn):
    def g(w, X, y):
        m = X.shape[1]
        r = w.T @ X - y
        return fn(w, X, y, m, r)

    return g


def _with(base, **changes):
    def g(p, *data):
        out = base(p, *data)
        for key, f in changes.items():
            out[key] = f(out[key], p, *data)
        return out

    return g


def _softmax_probs(p, X):
    Z = X @ p["W"] + p["b"]
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    return P / P.sum(axis=1, keepdims=True)


CATALOGUE = [
    # --- the tutorial's cost ---------------------------------------------------------------
    (
        "missing_2",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: (1 / m) * X @ r.T),
        W0,
        LIN,
        "scaled",
        0.5,
    ),
    (
        "half_convention",
        lambda w, X, y: L.mse_loss(w, X, y) / 2,
        _lin(lambda w, X, y, m, r: (2 / m) * X @ r.T),
        W1,
        LIN,
        "scaled",
        2.0,
    ),
    (
        "sum_not_mean",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: 2 * X @ r.T),
        W0,
        LIN,
        "scaled",
        float(M),
    ),
    (
        "sign_flip",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: (2 / m) * X @ (y - w.T @ X).T),
        W1,
        LIN,
        "sign_flipped",
        None,
    ),
    (
        "transposed_result",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: (2 / m) * r @ X.T),
        W0,
        LIN,
        "transposed",
        None,
    ),
    (
        "intercept_dropped",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: np.vstack([[0.0], (2 / m) * X[1:] @ r.T])),
        W1,
        LIN,
        "wrong_entries",
        {"params": [(0, 0)]},
    ),
    (
        "intercept_misscaled",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: ((2 / m) * X @ r.T) * np.array([[0.5], [1.0]])),
        W0,
        LIN,
        "wrong_entries",
        {"params": [(0, 0)]},
    ),
    (
        "per_example",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: (2 / m) * X * r),
        W0,
        LIN,
        "wrong_shape",
        None,
    ),
    (
        "divides_by_n",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: (2 / X.shape[0]) * X @ r.T),
        W1,
        LIN,
        "scaled",
        M / 2,
    ),
    (
        "residual_not_times_x",
        L.mse_loss,
        _lin(lambda w, X, y, m, r: np.full((X.shape[0], 1), (2 / m) * r.sum())),
        W1,
        LIN,
        "wrong_entries",
        {"params": [(1, 0)]},
    ),
    # --- logistic regression (row-major) -----------------------------------------------------
    (
        "logistic_sign",
        L.logistic_loss,
        _with(L.logistic_grad, w=lambda g, p, X, y: -g, b=lambda g, p, X, y: -g),
        LOG_P,
        (LOG_X, LOG_Y),
        "sign_flipped",
        None,
    ),
    (
        "logistic_sum",
        L.logistic_loss,
        _with(
            L.logistic_grad,
            w=lambda g, p, X, y: g * X.shape[0],
            b=lambda g, p, X, y: g * X.shape[0],
        ),
        LOG_P,
        (LOG_X, LOG_Y),
        "scaled",
        200.0,
    ),
    (
        "logistic_bias_forgotten",
        L.logistic_loss,
        _with(L.logistic_grad, b=lambda g, p, X, y: 0.0 * g),
        LOG_P,
        (LOG_X, LOG_Y),
        "wrong_entries",
        {"b": [()]},
    ),
    (
        "logistic_linear_residual",
        L.logistic_loss,
        lambda p, X, y: {
            "w": X.T @ (X @ p["w"] + p["b"] - y) / len(y),
            "b": np.mean(X @ p["w"] + p["b"] - y),
        },
        LOG_P,
        (LOG_X, LOG_Y),
        "unexplained",
        None,
    ),
    # --- softmax regression ------------------------------------------------------------------
    (
        "softmax_transposed",
        L.softmax_loss,
        _with(L.softmax_grad, W=lambda g, p, X, Y: g.T),
        SM_P,
        (SM_X, SM_Y),
        "transposed",
        None,
    ),
    (
        "softmax_sum",
        L.softmax_loss,
        _with(L.softmax_grad, W=lambda g, p, X, Y: g * 150, b=lambda g, p, X, Y: g * 150),
        SM_P,
        (SM_X, SM_Y),
        "scaled",
        150.0,
    ),
    (
        "softmax_sign",
        L.softmax_loss,
        _with(L.softmax_grad, W=lambda g, p, X, Y: -g, b=lambda g, p, X, Y: -g),
        SM_P,
        (SM_X, SM_Y),
        "sign_flipped",
        None,
    ),
    (
        "softmax_forgot_labels",
        L.softmax_loss,
        lambda p, X, Y: {
            "W": X.T @ _softmax_probs(p, X) / len(X),
            "b": _softmax_probs(p, X).mean(0),
        },
        SM_P,
        (SM_X, SM_Y),
        "structured",  # issue 11: the difference is (1/m)·Xᵀ·Y, the correct-class term
        None,
    ),
    # --- a network and a square matrix -------------------------------------------------------
    (
        "mlp_b2_missing_2",
        L.mlp_loss,
        _with(L.mlp_grad, b2=lambda g, p, X, t: g / 2),
        NN_P,
        (NN_X, NN_T),
        "wrong_entries",
        {"b2": [()]},
    ),
    (
        "mlp_wrong_tanh_derivative",
        L.mlp_loss,
        lambda p, X, t: _mlp_wrong_derivative(p, X, t),
        NN_P,
        (NN_X, NN_T),
        "wrong_entries",
        None,
    ),
    (
        "bilinear_transposed",
        L.bilinear_loss,
        lambda W, x, z, t: L.bilinear_grad(W, x, z, t).T,
        BL_W,
        (BL_x, BL_z, BL_t),
        "transposed",
        None,
    ),
]


def _mlp_wrong_derivative(p, X, t):
    """tanh'(u) written as 1 − tanh(u) instead of 1 − tanh(u)²: W1 and b1 are wrong."""
    m = X.shape[0]
    H = np.tanh(X @ p["W1"] + p["b1"])
    r = 2 * (H @ p["W2"] + p["b2"] - t) / m
    dH = np.outer(r, p["W2"]) * (1 - H)
    return {"W1": X.T @ dH, "b1": dH.sum(axis=0), "W2": H.T @ r, "b2": r.sum()}


def run_case(case):
    _, loss, grad, params, data, *_ = case
    return gdcheck.check_gradient(loss, grad, params, *data)


@pytest.mark.parametrize("case", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_every_wrong_gradient_is_flagged(case):
    res = run_case(case)
    assert not res.passed, str(res)
    assert res.diagnosis is not None
    assert "gdcheck: gradient check FAILED" in str(res)


def test_catalogue_is_large_and_at_least_90_percent_get_the_right_kind():
    assert len(CATALOGUE) >= 15
    right = []
    for case in CATALOGUE:
        res = run_case(case)
        expected_kind, detail = case[5], case[6]
        ok = res.diagnosis.kind == expected_kind
        if ok and expected_kind == "scaled":
            ok = res.diagnosis.factor == pytest.approx(detail, rel=1e-6)
        if ok and expected_kind == "wrong_entries" and detail is not None:
            ok = res.diagnosis.entries == detail
        right.append(ok)
    wrong = [c[0] for c, ok in zip(CATALOGUE, right, strict=True) if not ok]
    assert sum(right) / len(right) >= 0.9, f"wrong kind for {wrong}"


@pytest.mark.parametrize("case", CATALOGUE, ids=[c[0] for c in CATALOGUE])
def test_kind_and_detail(case):
    res = run_case(case)
    kind, detail = case[5], case[6]
    assert res.diagnosis.kind == kind, str(res)
    if kind == "scaled":
        assert res.diagnosis.factor == pytest.approx(detail, rel=1e-6)
    if kind == "wrong_entries" and detail is not None:
        assert res.diagnosis.entries == detail


CORRECT = [
    ("mse", L.mse_loss, L.mse_grad, W1, LIN),
    ("logistic", L.logistic_loss, L.logistic_grad, LOG_P, (LOG_X, LOG_Y)),
    ("softmax", L.softmax_loss, L.softmax_grad, SM_P, (SM_X, SM_Y)),
    ("mlp", L.mlp_loss, L.mlp_grad, NN_P, (NN_X, NN_T)),
    ("bilinear", L.bilinear_loss, L.bilinear_grad, BL_W, (BL_x, BL_z, BL_t)),
]


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case", CORRECT, ids=[c[0] for c in CORRECT])
def test_the_correct_gradients_pass(case, dtype):
    _, loss, grad, params, data = case
    res = gdcheck.check_gradient(loss, grad, params, *data, dtype=dtype)
    assert res.passed, str(res)
    assert res.diagnosis is None
