"""The report's Taylor test at the starting weights: order 2 for the handwritten gradients of
the series, order 1 for a planted mistake, drawn in report.html, and skipped (with the reason)
above the size where it would cost more than the run."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gdcheck
from gdcheck.data import synthetic
from gdcheck.report.build import build_report
from gdcheck.report.html import render_html
from gdcheck.trajectory import _taylor_start

MODELS = {
    "linear_regression": gdcheck.models.linear_regression,
    "ridge": lambda: gdcheck.models.ridge(alpha=0.5),
    "logistic_regression": gdcheck.models.logistic_regression,
    "softmax_regression": gdcheck.models.softmax_regression,
}
"""The MLP is apart: at its demo start one ReLU pre-activation sits 1.5e-7 from 0, closer
than the smallest step, so every step crosses that kink; the report reads the test at a
nearby point instead (test_an_mlp_start_at_a_kink_is_read_nearby_and_says_so)."""


def _report(model, data, steps=3):
    run = gdcheck.crosscheck(model, *data, lr=0.05, steps=steps, backends=["numpy"])
    return run, build_report(run)


@pytest.mark.parametrize("name", list(MODELS))
def test_every_model_of_the_series_is_second_order_at_its_start(name):
    data = synthetic("linear_regression" if name == "ridge" else name)
    _, report = _report(MODELS[name](), data)
    taylor = report["analysis"]["taylor"]
    assert taylor["order"] is not None and abs(taylor["order"] - 2) < 0.1, taylor["note"]
    assert taylor["looks_right"] is True
    assert len(taylor["hs"]) == len(taylor["remainders"]) >= 3
    html = render_html(report)
    assert 'data-plot="taylor"' in html and "<polyline" in html.split('data-plot="taylor"')[1]
    assert "Taylor test of the handwritten gradient at w₀" in html


def test_an_mlp_start_at_a_kink_is_read_nearby_and_says_so():
    _, report = _report(gdcheck.models.mlp(hidden=8), synthetic("mlp"))
    taylor = report["analysis"]["taylor"]
    assert taylor["order"] is not None and abs(taylor["order"] - 2) < 0.1, taylor["note"]
    assert "sits at a kink" in taylor["note"], taylor["note"]
    assert 'data-plot="taylor"' in render_html(report)


def test_a_planted_mistake_is_first_order_and_says_so():
    # A ridge penalty's factor (planted.ridge_penalty_missing_2) is invisible at w0 = 0, where
    # the penalty's gradient is 0: the test reads the start, so plant a data-term mistake.
    base = gdcheck.models.linear_regression()
    model = dataclasses.replace(base, grad=lambda w, X, y: 0.5 * base.grad(w, X, y))
    _, report = _report(model, synthetic("linear_regression"))
    taylor = report["analysis"]["taylor"]
    assert taylor["order"] is not None and abs(taylor["order"] - 1) < 0.1, taylor["note"]
    assert taylor["looks_right"] is False


def test_large_data_skip_the_test_and_say_why(monkeypatch):
    monkeypatch.setattr(_taylor_start, "TAYLOR_LIMIT", 10)
    X, y = synthetic("linear_regression")
    _, report = _report(gdcheck.models.linear_regression(), (X, y))
    taylor = report["analysis"]["taylor"]
    assert taylor["order"] is None and taylor["hs"] == []
    assert taylor["note"].startswith("not run: the data have more than 10 entries")
    assert 'data-plot="taylor"' not in render_html(report)


def test_the_test_reads_the_starting_weights_not_the_last():
    X, y = synthetic("linear_regression")
    run, _ = _report(gdcheck.models.linear_regression(), (X, y), steps=50)
    w0 = run.problem.w0
    assert np.array_equal(run.reference.weights[0], w0)
    assert run.taylor is run.taylor  # computed once, then kept


def test_a_checks_notebook_view_draws_its_taylor_test():
    X = np.random.default_rng(0).standard_normal((2, 50))
    y = X.sum(0, keepdims=True)

    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]

    def grad(w, X, y):
        return (2 / X.shape[1]) * X @ (w.T @ X - y).T

    right = gdcheck.check_gradient(loss, grad, np.ones((2, 1)), X, y)._repr_html_()
    assert 'data-plot="taylor"' in right and "order 2.00" in right
    wrong = gdcheck.check_gradient(loss, lambda *a: 0.5 * grad(*a), np.ones((2, 1)), X, y)
    assert "order 1.00" in wrong._repr_html_()
    untested = gdcheck.check_gradient(loss, grad, np.ones((2, 1)), X, y, taylor=False)
    assert 'data-plot="taylor"' not in untested._repr_html_()
