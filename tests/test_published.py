"""The catalogue of published handwritten gradients: correct code passes, every planted
mistake fails with the kind named in the catalogue (float64 and float32), and the Taylor test
agrees."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.examples.published import CASES, REG, C, D, X, Y, svm_grad_naive, svm_loss

BACKENDS = ("torch",)
MISTAKES = [(c, m) for c in CASES for m in c.mistakes]
NAMED_SHARE = 1.0
"""Measured 33 of 33 named (100 %): the naive SVM's forgotten correct-class term is seen example
by example, and the Coursera port's undivided data term per matrix of its ``layout=``."""


def test_the_catalogue_is_large():
    assert len(CASES) >= 12
    assert all(2 <= len(c.mistakes) <= 4 for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_correct_code_passes_with_a_second_order_taylor_test(case):
    res = gdcheck.check_gradient(
        case.loss, case.grad, case.params, *case.data, backends=BACKENDS, **case.kwargs
    )
    assert res.passed, str(res)
    assert res.diagnosis is None
    assert res.taylor[0] is not None and abs(res.taylor[0].order - 2) < 0.1, str(res.taylor[0])
    assert "Taylor test at the given point" in str(res)


@pytest.mark.parametrize("case,mistake", MISTAKES, ids=[f"{c.name}-{m.name}" for c, m in MISTAKES])
def test_each_mistake_fails_with_its_kind(case, mistake):
    res = gdcheck.check_gradient(
        case.loss, mistake.grad, case.params, *case.data, backends=BACKENDS, **case.kwargs
    )
    assert not res.passed
    assert res.diagnosis.kind == mistake.kind, str(res)
    for t in res.taylor:
        if t is not None and t.order is not None:
            assert abs(t.order - 1) < 0.1, str(t)


def _float32(params):
    if isinstance(params, dict):
        return {k: np.asarray(v, np.float32) for k, v in params.items()}
    return np.asarray(params, np.float32)


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_in_float32_correct_code_passes_and_every_mistake_keeps_its_kind(case):
    """The same catalogue in float32: no false alarm, no miss, no other name (a float32
    gradient's rounding must not make a permutation or a factor unrecognisable)."""
    p = _float32(case.params)
    ok = gdcheck.check_gradient(
        case.loss, case.grad, p, *case.data, backends=BACKENDS, taylor=False, **case.kwargs
    )
    assert ok.passed and ok.dtype == "float32", str(ok)
    for mistake in case.mistakes:
        res = gdcheck.check_gradient(
            case.loss, mistake.grad, p, *case.data, backends=BACKENDS, taylor=False, **case.kwargs
        )
        assert not res.passed, f"{mistake.name}: {res}"
        assert res.diagnosis.kind == mistake.kind, f"{mistake.name}: {res}"


def test_most_mistakes_are_named():
    named = sum(1 for _, m in MISTAKES if m.kind != "unexplained")
    assert named / len(MISTAKES) >= NAMED_SHARE


MESSAGES = [
    ("softmax_gibs", "as_published_no_reg", "params: yours = autodiff's − 0.1·params"),
    ("softmax_vectorized", "sum_not_mean", "yours = m × autodiff's (40) − 3.9·params"),
    ("softmax_vectorized", "dscores_y_minus_1_forgotten", "dscores[range(N), y] -= 1"),
    ("svm_vectorized", "transposed_unrolled", "order='F'"),
    ("coursera_nn", "unrolled_row_major", "exactly autodiff's entries in another order"),
    ("coursera_nn", "unrolled_row_major", "unrolled in order 'C' (row-major"),
    ("coursera_nn", "delta_not_divided", "the data term is m × its right value"),
    ("coursera_nn", "delta_not_divided", "0.025·Theta1 (its bias column left out)"),
    ("coursera_nn", "bias_column_regularised", "Theta1[0, 0]"),
    ("svm_naive", "correct_class_term_forgotten", "one example's worth per column"),
    ("svm_naive", "correct_class_term_forgotten", "lives in column y[i] only"),
    ("softmax_overflow", "no_max_subtraction", "subtract the row max"),
    ("twolayer_net", "b1_keepdims", "shape (1, 6); expected (6,) (the values are right"),
]


@pytest.mark.parametrize("case_name,mistake_name,fragment", MESSAGES)
def test_messages_name_the_mistake(case_name, mistake_name, fragment):
    case = next(c for c in CASES if c.name == case_name)
    mistake = next(m for m in case.mistakes if m.name == mistake_name)
    res = gdcheck.check_gradient(
        case.loss, mistake.grad, case.params, *case.data, backends=BACKENDS, **case.kwargs
    )
    assert fragment in res.diagnosis.message, res.diagnosis.message


def _svm_with_bias_loss(p, X, y, reg):
    xp = gdcheck.namespace(p)
    S = X @ p["W"] + p["b"]
    Yh = xp.astype(y[:, None] == xp.arange(S.shape[1])[None, :], S.dtype)
    correct = xp.sum(S * Yh, axis=1, keepdims=True)
    margins = xp.maximum(S - correct + 1.0, 0.0) * (1 - Yh)
    return xp.sum(margins) / X.shape[0] + reg * xp.sum(p["W"] * p["W"])


def _svm_with_bias_grad(p, X, y, reg, correct_term=True):
    """svm_loss_naive's loop (ACCIPD/py-cs231) with a bias b beside W, dict params."""
    dW, db = np.zeros(p["W"].shape), np.zeros(p["b"].shape)
    for i in range(X.shape[0]):
        s = X[i] @ p["W"] + p["b"]
        for j in range(dW.shape[1]):
            if j != y[i] and s[j] - s[y[i]] + 1 > 0:
                dW[:, j] += X[i]
                db[j] += 1
                if correct_term:
                    dW[:, y[i]] -= X[i]
                    db[y[i]] -= 1
    return {"W": dW / X.shape[0] + 2 * reg * p["W"], "b": db / X.shape[0]}


def test_the_forgotten_correct_class_term_is_named_with_dict_params_too():
    rng = np.random.default_rng(5)
    p = {"W": rng.standard_normal((D, C)) * 0.5, "b": rng.standard_normal(C) * 0.1}
    ok = gdcheck.check_gradient(_svm_with_bias_loss, _svm_with_bias_grad, p, X, Y, REG)
    assert ok.passed, str(ok)

    def forgot(p, X, y, reg):
        return _svm_with_bias_grad(p, X, y, reg, correct_term=False)

    res = gdcheck.check_gradient(_svm_with_bias_loss, forgot, p, X, Y, REG, backends=BACKENDS)
    assert not res.passed and res.diagnosis.kind == "structured", str(res)
    assert "W, b: one example's worth per column" in res.diagnosis.message
    assert "a in entry y[i] of b" in res.diagnosis.message


def test_a_difference_of_no_per_example_form_stays_unexplained():
    """A wrong gradient whose single-example differences do not live in column y[i] alone."""
    rng = np.random.default_rng(6)
    W = rng.standard_normal((D, C)) * 0.5

    def noisy(W, X, y, reg):  # each example's term leaks into the next class column
        g = svm_grad_naive(W, X, y, reg)
        return g + np.roll(g - 2 * reg * W, 1, axis=1) * 0.3 + 0.01 * np.sin(W)

    res = gdcheck.check_gradient(svm_loss, noisy, W, X, Y, REG, backends=BACKENDS)
    assert not res.passed and res.diagnosis.kind == "unexplained", str(res)
    assert "one example's worth" not in res.diagnosis.message
