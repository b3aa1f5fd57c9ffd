"""Batched loss evaluation (the Taylor test's ladder in a few vmap calls) and JAX on demand."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.check import _batched, _on_demand, taylor_test
from gdcheck.examples import losses as L
from gdcheck.params import parse_params

pytest.importorskip("torch")

RNG = np.random.default_rng(5)
X = RNG.standard_normal((60, 4))
Y = (RNG.random(60) < 0.5).astype(float)
P = {"w": RNG.standard_normal(4), "b": np.array(0.3)}
G = L.logistic_grad(P, X, Y)


def numpy_only(p, X, y):  # np.* on the data: fine under NumPy, not under torch
    return float(np.mean(np.log1p(np.exp(-(2 * y - 1) * (X @ p["w"] + p["b"])))))


@pytest.fixture
def batch_everything(monkeypatch):
    """Batch even these small data (the threshold is for speed, not for correctness)."""
    monkeypatch.setattr(_batched, "BATCH_FROM", 0)


def test_batched_values_match_numpy_row_by_row(batch_everything):
    layout, tree = parse_params(P, "float64")
    rows = layout.flatten(tree)[None] + RNG.standard_normal((40, 5))  # more rows than CHUNK
    evaluate = _batched.batched_loss(L.logistic_loss, layout, (X, Y))
    values, eps = evaluate(rows)
    expected = [L.logistic_loss(layout.to_user(layout.unflatten(r)), X, Y) for r in rows]
    np.testing.assert_allclose(values, expected, rtol=1e-13)
    assert np.all(eps == np.finfo(np.float64).eps)


def test_small_data_are_not_batched():
    layout, _ = parse_params(P, "float64")
    assert _batched.batched_loss(L.logistic_loss, layout, (X, Y)) is None


CASES = [  # (id, gradient, expected order)
    ("right", G, 2.0),
    ("w_doubled", {**G, "w": 2 * G["w"]}, 1.0),
    ("b_off_1pct", {**G, "b": G["b"] * 1.01}, 1.0),  # small: extra halvings, batched ahead
]


@pytest.mark.parametrize("name,grad,order", CASES, ids=[c[0] for c in CASES])
def test_the_batched_taylor_test_reads_what_the_numpy_one_reads(name, grad, order, monkeypatch):
    numpy = taylor_test(L.logistic_loss, grad, P, X, Y)
    monkeypatch.setattr(_batched, "BATCH_FROM", 0)
    batched = taylor_test(L.logistic_loss, grad, P, X, Y)
    assert abs(batched.order - order) < 0.1, str(batched)
    assert batched.order == pytest.approx(numpy.order, abs=0.02)
    np.testing.assert_array_equal(batched.hs, numpy.hs)  # the same ladder, extra steps too
    assert batched.usable == numpy.usable


def quadratic(w, X):
    xp = gdcheck.namespace(w)
    return xp.sum((X @ w) ** 2) / 2


@pytest.mark.parametrize("offset", [-1e-3, -1e-4])
def test_extra_halvings_evaluated_ahead_are_the_ones_asked_for(offset, batch_everything):
    """A small mistake: R turns from h² to h late, past the ladder; the batch runs ahead, and
    the steps kept are those that one step at a time would have taken."""
    from gdcheck.check import _taylor

    # its own generator: drawn from the module's RNG the data depended on which tests ran
    # before in the same worker (pytest-xdist), and so did the rounding compared below
    Xq, w = np.random.default_rng(11).standard_normal((30, 5)), np.ones(5)
    g = Xq.T @ (Xq @ w) + offset
    ahead = taylor_test(quadratic, g, w, Xq)
    _taylor.AHEAD, saved = 1, _taylor.AHEAD
    try:
        one_by_one = taylor_test(quadratic, g, w, Xq)
    finally:
        _taylor.AHEAD = saved
    assert len(ahead.hs) > 13  # the test did halve further
    np.testing.assert_array_equal(ahead.hs, one_by_one.hs)
    # torch's products round differently for 8 columns than for 2: the remainders agree to a
    # few ε|L| (each is L(w + hv) - L(w) - h gᵀv, three values of size |L| subtracted)
    atol = 8 * np.finfo(float).eps * abs(float(quadratic(w, Xq)))
    np.testing.assert_allclose(ahead.remainders, one_by_one.remainders, rtol=1e-3, atol=atol)
    assert ahead.order == pytest.approx(one_by_one.order, abs=0.02)


def test_a_loss_torch_cannot_run_falls_back_to_numpy(batch_everything):
    t = taylor_test(numpy_only, G, P, X, Y)
    assert abs(t.order - 2) < 0.1, str(t)
    wrong = taylor_test(numpy_only, {**G, "w": 2 * G["w"]}, P, X, Y)
    assert abs(wrong.order - 1) < 0.1, str(wrong)


def test_jax_is_held_back_on_large_data_and_says_so(monkeypatch):
    pytest.importorskip("jax")
    monkeypatch.setattr(_on_demand, "BOTH_UP_TO", 10)  # these data count as large
    res = gdcheck.check_gradient(L.logistic_loss, L.logistic_grad, P, X, Y)
    assert res.passed, str(res)
    assert set(res.autodiff) == {"torch"}
    assert any(n.startswith("jax was not consulted: torch answered") for n in res.notes)
    assert "backends=('torch', 'jax')" in " ".join(res.notes)
    asked = gdcheck.check_gradient(
        L.logistic_loss, L.logistic_grad, P, X, Y, backends=("torch", "jax")
    )
    assert set(asked.autodiff) == {"jax", "torch"}
    assert not any("not consulted" in n for n in asked.notes)
    only_jax = gdcheck.check_gradient(L.logistic_loss, L.logistic_grad, P, X, Y, backends="jax")
    assert set(only_jax.autodiff) == {"jax"}


def test_a_released_backend_runs_from_then_on(monkeypatch):
    pytest.importorskip("jax")
    from gdcheck import backends

    monkeypatch.setattr(_on_demand, "BOTH_UP_TO", 10)
    torch, jax = backends.get("torch"), _on_demand.OnDemand(backends.get("jax"))
    assert not _on_demand.consulted(jax, (X, Y), {"torch": G}, None)
    assert _on_demand.release([torch, jax]) and not _on_demand.release([torch, jax])
    assert _on_demand.consulted(jax, (X, Y), {"torch": G}, None)


def test_jax_answers_when_torch_cannot(monkeypatch):
    pytest.importorskip("jax")
    from gdcheck.backends import torch_backend

    def broken(*args, **kwargs):
        raise RuntimeError("no torch today")

    monkeypatch.setattr(_on_demand, "BOTH_UP_TO", 10)
    monkeypatch.setattr(torch_backend.TorchBackend, "loss_and_grad", broken)
    res = gdcheck.check_gradient(L.logistic_loss, L.logistic_grad, P, X, Y)
    assert res.passed, str(res)
    assert res.reference_name == "jax" and set(res.autodiff) == {"jax"}
    assert "no torch today" in res.failures["torch"]


def test_small_data_still_get_both_backends():
    pytest.importorskip("jax")
    res = gdcheck.check_gradient(L.logistic_loss, L.logistic_grad, P, X, Y)
    assert set(res.autodiff) == {"jax", "torch"}
    assert not any("not consulted" in n for n in res.notes)


def test_the_compiled_jax_gradient_is_reused_and_sees_what_the_loss_closes_over():
    """One compile per (loss, layout, closure): a second check of the same loss reuses it
    (each check builds its own, equal, layout), and a closure over another value does not."""
    import numpy as np

    import gdcheck
    from gdcheck.backends import _jax_point

    pytest.importorskip("jax")
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((3, 40)), rng.standard_normal((1, 40))

    def make(scale):
        def loss(w, X, y):
            xp = gdcheck.namespace(w)
            return scale * xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]

        return loss

    def grad(w, X, y):
        return (2 / X.shape[1]) * X @ (w.T @ X - y).T

    loss = make(1.0)
    _jax_point._COMPILED.clear()
    for _ in range(3):
        assert gdcheck.check_gradient(loss, grad, np.ones((3, 1)), X, y, backends=("jax",)).passed
    assert len(_jax_point._COMPILED) == 1
    doubled = gdcheck.check_gradient(make(2.0), grad, np.ones((3, 1)), X, y, backends=("jax",))
    assert not doubled.passed and doubled.diagnosis.factor == pytest.approx(0.5)


def test_jax_is_consulted_when_a_witness_doubts_torch(monkeypatch):
    """On large data JAX is held back; a witness that disagrees with torch brings it in, and
    the witnesses then side with JAX against a (simulated) wrong torch gradient."""
    import numpy as np

    import gdcheck
    from gdcheck.backends.torch_backend import TorchBackend
    from gdcheck.check import _on_demand

    pytest.importorskip("jax")
    monkeypatch.setattr(_on_demand, "BOTH_UP_TO", 0)  # these data count as large
    honest = TorchBackend.loss_and_grad

    def off_by_half(self, *args, **kwargs):
        value, grads = honest(self, *args, **kwargs)
        return value, {k: 1.5 * g for k, g in grads.items()}

    monkeypatch.setattr(TorchBackend, "loss_and_grad", off_by_half)
    rng = np.random.default_rng(1)
    X, y = rng.standard_normal((3, 40)), rng.standard_normal((1, 40))

    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]

    def grad(w, X, y):
        return (2 / X.shape[1]) * X @ (w.T @ X - y).T

    res = gdcheck.check_gradient(loss, grad, np.ones((3, 1)), X, y)
    assert any("every autodiff backend was consulted" in n for n in res.notes), res.notes
    assert not any("was not consulted" in n for n in res.notes)
    assert set(res.autodiff) == {"jax", "torch"} and res.reference_name == "jax"
    assert res.passed, str(res)
