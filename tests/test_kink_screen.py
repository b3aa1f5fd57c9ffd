"""The kink probe's screen (:func:`gdcheck.check._kink.looks_smooth`): five loss values read a
smooth loss as smooth, a kink at the point (or on the screen's line) as not smooth, and anything
it cannot read (a loss that raises, one computed in float32) as not smooth, so that the four
autodiff gradients of :func:`find_kink` decide. And check_gradient skips those gradients only
where the screen says smooth."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.check import _point
from gdcheck.check._kink import looks_smooth
from gdcheck.examples.published import svm_grad_vectorized, svm_loss

RNG = np.random.default_rng(5)
M, N = 20_000, 30
X = RNG.standard_normal((M, N))
BETA = RNG.standard_normal(N)
Y = X @ BETA + 0.1 * RNG.standard_normal(M)


def squared(w):
    return np.mean((X @ w - Y) ** 2)


def one_kinked_term(w):
    """The squared loss plus ``|r_0|``: one term of the mean of 2e4 has a kink, at r_0 = 0."""
    r = X @ w - Y
    return np.mean(r**2) + abs(r[0]) / M


EPS64 = float(np.finfo(np.float64).eps)


def rows(loss, eps=EPS64):
    """``loss`` of one flat point as ``looks_smooth`` calls it: a loss per row, and ε."""
    return lambda points: (np.array([float(loss(p)) for p in points]), np.full(len(points), eps))


@pytest.fixture(scope="module")
def layout():
    from gdcheck.params import parse_params

    return parse_params(np.zeros(N), "float64")[0]


@pytest.mark.parametrize("at", ["random", "optimum"])
def test_a_squared_loss_reads_smooth_far_from_and_at_its_optimum(layout, at):
    w = RNG.standard_normal(N) if at == "random" else np.linalg.lstsq(X, Y, rcond=None)[0]
    assert all(looks_smooth(rows(squared), layout, w, seed) for seed in range(10))


def test_one_kinked_term_of_twenty_thousand_at_its_kink_is_not_smooth(layout):
    w = RNG.standard_normal(N)
    w[0] += (Y[0] - X[0] @ w) / X[0, 0]  # example 0 fitted exactly: r_0 = 0
    assert abs(X[0] @ w - Y[0]) < 1e-13
    assert not any(looks_smooth(rows(one_kinked_term), layout, w, seed) for seed in range(10))
    w[0] += 1e-2  # r_0 now far from 0: smooth along every line the screen draws
    assert all(looks_smooth(rows(one_kinked_term), layout, w, seed) for seed in range(10))


def test_a_relu_at_zero_is_not_smooth(layout):
    def relu_loss(w):
        return np.sum(np.maximum(w, 0.0) ** 1) + 0.5 * np.sum(w**2)

    w = RNG.standard_normal(N)
    w[3] = 0.0
    assert not looks_smooth(rows(relu_loss), layout, w, 0)
    w[3] = 0.5
    assert looks_smooth(rows(relu_loss), layout, w, 0)


def test_what_the_screen_cannot_read_goes_to_the_probe(layout):
    w = RNG.standard_normal(N)

    def raises(w):
        raise TypeError("only torch tensors")

    def float32_loss(w):
        return np.mean((X.astype(np.float32) @ w.astype(np.float32) - Y.astype(np.float32)) ** 2)

    assert not looks_smooth(rows(raises), layout, w, 0)
    assert not looks_smooth(rows(lambda w: np.full(2, squared(w))), layout, w, 0)  # not a scalar
    assert not looks_smooth(rows(lambda w: np.nan), layout, w, 0)
    assert not looks_smooth(rows(float32_loss), layout, w, 0)
    # a float32 loss that happens to round to a smooth-looking line is still not read
    assert looks_smooth(rows(squared), layout, w, 0)
    assert not looks_smooth(rows(squared, eps=float(np.finfo(np.float32).eps)), layout, w, 0)


def test_check_gradient_skips_the_probe_only_where_the_screen_says_smooth(monkeypatch):
    calls = []
    real = _point.find_kink
    monkeypatch.setattr(_point, "find_kink", lambda *a, **k: calls.append(1) or real(*a, **k))

    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.mean((X @ w - y) ** 2)

    def grad(w, X, y):
        return (2 / X.shape[0]) * (X.T @ (X @ w - y))

    # y = Xβ + 1e-4 noise, checked at β: the residual is 1e5 times smaller than Xβ, so each
    # side's rounding of Xw − y is far above rtol (whatever the processor's BLAS) and the
    # floor is measured; the point is smooth
    n, m = 400, 4000
    rng = np.random.default_rng(1000)
    Xb = rng.standard_normal((m, n))
    beta = rng.standard_normal(n)
    yb = Xb @ beta + 1e-4 * rng.standard_normal(m)
    res = gdcheck.check_gradient(loss, grad, beta, Xb, yb, backends=("torch",))
    assert res.passed and res.floor_measured and res.kink is None, str(res)
    assert calls == []

    seeded = np.random.default_rng(167)  # test_kink_check's point: 34 margins exactly 0
    Xs = seeded.integers(-1, 2, (40, 5)).astype(float)
    W = seeded.integers(-1, 2, (5, 4)).astype(float)
    ys = seeded.integers(0, 4, 40)
    Xs[:, 4] = 0.0
    res = gdcheck.check_gradient(svm_loss, svm_grad_vectorized, W, Xs, ys, 0.1, backends=("torch",))
    assert res.kink is not None and calls, (
        "a point with margins exactly 0 went without the kink probe"
    )


def test_a_kink_small_beside_the_loss_is_still_probed_when_the_floor_jumped():
    """An independent review's case: least absolute deviations with example 0 fitted exactly
    (|r_0| = 0 is a kink) and the other residuals ~1e5, so the kink is far below the five
    losses' rounding; a gradient that drops the last partial mini-batch (50 of 100,050
    examples, 5e-4 relative) passed with the floor's jump as its tolerance. The floor saw the
    jump (5e-5 against rounding of 1e-15), so the probe runs, finds the kink, and the nearby
    smooth points fail the gradient."""
    rng = np.random.default_rng(0)
    m, n, batch = 100_050, 10, 1000
    Xl = rng.integers(1, 6, (m, n)).astype(float)
    Xl[0] = 5.0
    w = rng.integers(1, 4, n).astype(float)
    yl = Xl @ w - 1e5 * (1 + rng.random(m))
    yl[0] = Xl[0] @ w

    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.mean(xp.abs(X @ w - y))

    def drops_the_last_batch(w, X, y):
        g = np.zeros_like(w)
        for b in range(len(y) // batch):
            Xb, yb = X[b * batch : (b + 1) * batch], y[b * batch : (b + 1) * batch]
            g += Xb.T @ np.sign(Xb @ w - yb)
        return g / len(y)

    res = gdcheck.check_gradient(loss, drops_the_last_batch, w, Xl, yl, backends=("torch",))
    assert res.kink is not None and not res.passed, str(res)
