"""One test body, every backend: each agrees with the handwritten reference on its own."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import backend_param

import gdcheck
from gdcheck import backends as registry
from gdcheck._types import Backend
from gdcheck.trajectory._setup import build_problem

MODEL = gdcheck.models.linear_regression()
PARAMS = [backend_param(n) for n in registry.NAMES]
AUTODIFF = [backend_param(n) for n in registry.NAMES if n != registry.REFERENCE]
OPTIMIZERS = {
    "sgd": gdcheck.optim.sgd(),
    "momentum": gdcheck.optim.momentum(beta=0.9),
    "adam": gdcheck.optim.adam(),
}


def problem(dtype, lr=0.05, optimizer=None, model=MODEL):
    """The tutorial (seed 3, m = 64) as the engine hands it to every backend."""
    X, y = gdcheck.data.tutorial(seed=3, m=64)
    return build_problem(model, (X, y), dtype, optimizer or gdcheck.optim.sgd(), lr)


def reference(prob, steps):
    return registry.get("numpy").trajectory(prob, steps)


def test_the_problem_is_the_prepared_tutorial():
    prob = problem("float32")
    Xb, yb = prob.data
    assert Xb.shape == (2, 64) and yb.shape == (1, 64)
    assert Xb.dtype == yb.dtype == np.float32 and prob.w0.dtype == np.float32
    np.testing.assert_array_equal(Xb[0], 1.0)  # the ones row, prepended once
    assert prob.layout.size == 2 and not prob.w0.any()


@pytest.mark.parametrize("name", PARAMS)
def test_backend_follows_the_protocol(name):
    backend = registry.get(name)
    assert isinstance(backend, Backend)
    info = backend.info("float64")
    assert info.name == name and info.dtype == "float64" and info.matmul_precision


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", PARAMS)
def test_shadow_matches_the_handwritten_gradient(name, dtype):
    prob = problem(dtype)
    ref = reference(prob, 40)
    shadow = registry.get(name).shadow(prob, ref.weights)
    assert shadow.grads.dtype == np.dtype(dtype)  # the dtype survives the backend
    assert shadow.grads.shape == ref.grads.shape
    tol = 1e-12 if dtype == "float64" else 1e-5
    scale = np.abs(ref.grads).max()
    np.testing.assert_allclose(shadow.grads, ref.grads, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(shadow.losses, ref.losses, rtol=tol)


@pytest.mark.parametrize("name", PARAMS)
def test_trajectory_matches_the_reference(name):
    prob = problem("float64")
    ref = reference(prob, 300)
    traj = registry.get(name).trajectory(prob, 300)
    assert traj.weights.shape == (301, 2) and traj.diverged_at is None
    np.testing.assert_allclose(traj.weights, ref.weights, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", PARAMS)
def test_trajectory_reports_divergence(name):
    traj = registry.get(name).trajectory(problem("float64", lr=100.0), 400)
    assert traj.diverged_at is not None and 0 < traj.diverged_at < 400
    assert np.isfinite(traj.weights[: traj.diverged_at]).all()


@pytest.mark.parametrize("opt", list(OPTIMIZERS))
@pytest.mark.parametrize("name", PARAMS)
def test_update_shadow_reproduces_the_textbook_update(name, opt):
    optimizer = OPTIMIZERS[opt]
    # no handwritten update: the reference walks the optimizer's own textbook rule
    prob = problem("float64", optimizer=optimizer, model=dataclasses.replace(MODEL, update=None))
    ref = reference(prob, 40)
    assert ref.diverged_at is None
    predicted = registry.get(name).update_shadow(prob, ref.weights, ref.grads)
    expected, state = [], None
    for w, g in zip(ref.weights[:-1], ref.grads[:-1], strict=True):  # fed the same w_k, g_k
        params, state = optimizer.update(prob.user(w), prob.user(g), state, prob.lr)
        expected.append(prob.flat(params))
    assert predicted.dtype == np.float64 and predicted.shape == (40, 2)
    np.testing.assert_allclose(predicted, np.array(expected), rtol=1e-12, atol=0)
    # and those are the steps the reference took
    np.testing.assert_allclose(predicted, ref.weights[1:], rtol=1e-12, atol=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_jax_update_without_state_is_the_scan_bit_for_bit(dtype):
    """Plain SGD keeps no optax state, so JAX checks its rows in one ``vmap`` (cheaper to
    compile than a ``lax.scan``); momentum with β = 0 carries a state and takes the scan. The
    two rules are the same arithmetic (b = g, p - ηb): the two programs must agree exactly."""
    pytest.importorskip("jax")
    model = dataclasses.replace(gdcheck.models.logistic_regression(), update=None)
    X, y = gdcheck.data.synthetic("logistic_regression")
    out = {}
    for name, optimizer in (("sgd", gdcheck.optim.sgd()), ("scan", gdcheck.optim.momentum(0.0))):
        prob = build_problem(model, (X, y), dtype, optimizer, 0.5)
        ref = reference(prob, 30)
        out[name] = registry.get("jax").update_shadow(prob, ref.weights, ref.grads)
    assert out["sgd"].shape == (30, 3) and out["sgd"].dtype == np.dtype(dtype)
    np.testing.assert_array_equal(out["sgd"], out["scan"])


def logistic_problem():
    model = gdcheck.models.logistic_regression()
    X, y = gdcheck.data.synthetic("logistic_regression")
    return build_problem(model, (X, y), "float64", gdcheck.optim.sgd(), 0.5)


@pytest.mark.parametrize("name", AUTODIFF)
def test_shadow_of_a_dict_params_model_matches_its_handwritten_gradient(name):
    prob = logistic_problem()
    assert prob.layout.is_dict and prob.layout.names == ("w", "b")
    ref = reference(prob, 40)
    assert ref.diverged_at is None and np.abs(ref.weights[-1]).max() > 0.1  # it moved
    shadow = registry.get(name).shadow(prob, ref.weights)
    assert shadow.grads.shape == (41, 3) and shadow.grads.dtype == np.float64
    scale = np.abs(ref.grads).max()
    np.testing.assert_allclose(shadow.grads, ref.grads, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(shadow.losses, ref.losses, rtol=1e-12)
    # each row, unflattened, is the handwritten gradient in the user's structure
    handwritten = prob.model.grad(prob.user(ref.weights[-1]), *prob.data)
    np.testing.assert_allclose(prob.flat(handwritten), shadow.grads[-1], rtol=0, atol=1e-12 * scale)


def test_jax_updates_through_optax():
    pytest.importorskip("optax")
    jax = registry.get("jax")
    for opt in OPTIMIZERS.values():
        assert jax.info("float64", opt).update == opt.optax_config
    assert jax.info("float64", gdcheck.optim.sgd()).update == "optax.sgd(learning_rate=lr)"


def test_torch_updates_through_torch_optim():
    pytest.importorskip("torch")
    torch = registry.get("torch")
    for opt in OPTIMIZERS.values():
        assert torch.info("float64", opt).update == opt.torch_config
    assert torch.info("float64", gdcheck.optim.sgd()).update == "torch.optim.SGD(params, lr=lr)"
