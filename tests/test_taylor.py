"""The Taylor test: order 2 for a right gradient, 1 for a wrong one, none at a kink or at rounding."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.check import TaylorTest, taylor_test
from gdcheck.examples import losses as L

RNG = np.random.default_rng(3)
X = RNG.standard_normal((50, 4))
Y = (RNG.random(50) < 0.5).astype(float)
P = {"w": RNG.standard_normal(4), "b": np.array(0.3)}
G = L.logistic_grad(P, X, Y)
SIGN = 2 * Y - 1


def hinge(w, X, y):
    xp = gdcheck.namespace(w)
    return xp.mean(xp.maximum(0, 1 - y * (X @ w)))


def hinge_grad(w, X, y):
    return -(X * (y * ((1 - y * (X @ w)) > 0))[:, None]).mean(0)


CASES = [  # (id, grad value, expected order or None, fragment of the note)
    ("right", G, 2.0, "second order"),
    ("w_doubled", {**G, "w": 2 * G["w"]}, 1.0, "first order"),
    ("b_off_1pct", {**G, "b": G["b"] * 1.01}, 1.0, "wrong along v"),
    ("float32", {k: np.asarray(v, np.float32) for k, v in G.items()}, 2.0, "second order"),
]


@pytest.mark.parametrize("name,grad,order,fragment", CASES, ids=[c[0] for c in CASES])
def test_orders(name, grad, order, fragment):
    t = taylor_test(L.logistic_loss, grad, P, X, Y)
    assert isinstance(t, TaylorTest)
    assert abs(t.order - order) < 0.1, str(t)
    assert fragment in t.note
    assert t.usable is not None and t.usable[1] - t.usable[0] >= 2
    assert np.all(np.diff(t.hs) < 0)


def test_a_kink_at_the_point_leaves_no_order():
    w = RNG.standard_normal(4)
    w = w / (SIGN[0] * X[0] @ w)  # example 0 sits exactly on the hinge
    t = taylor_test(hinge, hinge_grad(w, X, SIGN), w, X, SIGN)
    assert t.order is None and t.usable is None
    assert "a kink at p along v" in t.note


def test_a_piecewise_linear_loss_with_the_right_gradient_has_no_usable_range():
    w = RNG.standard_normal(4)
    t = taylor_test(hinge, hinge_grad(w, X, SIGN), w, X, SIGN)
    assert t.order is None
    assert "at the rounding level at every step" in t.note
    wrong = taylor_test(hinge, 1.1 * hinge_grad(w, X, SIGN), w, X, SIGN)
    assert abs(wrong.order - 1) < 0.1


def test_bad_inputs_are_explained():
    with pytest.raises(ValueError, match="must be a dict with the params' keys"):
        taylor_test(L.logistic_loss, np.zeros(4), P, X, Y)
    with pytest.raises(ValueError, match="halvings"):
        taylor_test(L.logistic_loss, G, P, X, Y, halvings=1)
