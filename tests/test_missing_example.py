"""A gradient that leaves one example out is named, with the example and the normaliser.

The mistake of an off-by-one loop (``range(N - 1)``), a slice (``X[:-1]``, ``X[1:]``) or a
dropped last mini-batch. A hostile review found it reported as "unexplained — wrong on every
entry" at n = 1,000, m = 10,000. Judged on published gradients (``gdcheck.examples.published``:
the CS231n naive SVM loop of ACCIPD/py-cs231, the from-scratch logistic regression of
Tanmay-Pardhi/ML-algos-from-scratch, the tutorial's linear regression), with the mistake
planted as it is written in loops and slices.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.examples import published as P

RNG = np.random.default_rng(5)


def _logreg():
    X = RNG.standard_normal((300, 5))
    y = (RNG.random(300) < 0.5).astype(float)
    return {"weights": RNG.standard_normal(5), "bias": np.array(0.3)}, X, y


def test_the_svm_loop_to_n_minus_1_is_named_with_the_last_example():
    X = RNG.standard_normal((60, 7))
    y = RNG.integers(0, 4, 60)
    W = 0.1 * RNG.standard_normal((7, 4))
    res = gdcheck.check_gradient(
        P.svm_loss, lambda W, X, y, reg: P.svm_grad_naive(W, X, y, reg, to_last=False), W, X, y, 0.0
    )
    d = res.diagnosis
    assert not res.passed and d.kind == "structured"
    assert "leaves out example 59 (the last of 60)" in d.message
    assert "still divided by N" in d.message and "range(N - 1)" in d.message


@pytest.mark.parametrize(
    ("cut", "example", "normaliser"),
    [
        (slice(None, -1), "example 299 (the last of 300)", "divided by N − 1"),
        (slice(1, None), "example 0 (the first of 300)", "divided by N − 1"),
    ],
    ids=["X[:-1]", "X[1:]"],
)
def test_a_sliced_logistic_regression_is_named(cut, example, normaliser):
    p, X, y = _logreg()
    res = gdcheck.check_gradient(
        P.logreg_loss, lambda p, X, y: P.logreg_grad(p, X[cut], y[cut]), p, X, y
    )
    assert res.diagnosis.kind == "structured"
    assert example in res.diagnosis.message and normaliser in res.diagnosis.message
    assert res.diagnosis.points_agreeing == res.diagnosis.points_checked == 3


def test_the_tutorials_columns_layout_is_read_along_its_last_axis():
    X, y = gdcheck.models.linear_regression().prepare(*gdcheck.data.tutorial(seed=0))
    w = RNG.standard_normal((X.shape[0], 1))
    res = gdcheck.check_gradient(
        P.tutorial_loss, lambda w, X, y: P.tutorial_grad(w, X[:, :-1], y[:, :-1]), w, X, y
    )
    assert "leaves out example 499 (the last of 500)" in res.diagnosis.message


def test_a_summed_loss_without_one_example_says_summed():
    X = RNG.standard_normal((40, 3))
    y = RNG.standard_normal(40)
    w = RNG.standard_normal(3)

    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.sum((X @ w - y) ** 2)

    res = gdcheck.check_gradient(
        loss, lambda w, X, y: 2 * X[:-1].T @ (X[:-1] @ w - y[:-1]), w, X, y
    )
    assert "leaves out example 39" in res.diagnosis.message and "(summed)" in res.diagnosis.message


def test_what_is_not_one_example_left_out_is_not_called_so():
    p, X, y = _logreg()
    right = gdcheck.check_gradient(P.logreg_loss, P.logreg_grad, p, X, y)
    assert right.passed and right.diagnosis is None
    two = gdcheck.check_gradient(
        P.logreg_loss, lambda p, X, y: P.logreg_grad(p, X[:-2], y[:-2]), p, X, y
    )
    assert "leaves out example" not in two.diagnosis.message  # two examples: another mistake
    X2 = RNG.standard_normal((60, 7))
    y2 = RNG.integers(0, 4, 60)
    W = 0.1 * RNG.standard_normal((7, 4))
    with_reg = gdcheck.check_gradient(
        P.svm_loss,
        lambda W, X, y, reg: P.svm_grad_naive(W, X, y, reg, to_last=False),
        W,
        X2,
        y2,
        0.5,
    )
    # the penalty is in every one-example gradient: no fit, so no guess
    assert not with_reg.passed and "leaves out example" not in with_reg.diagnosis.message
