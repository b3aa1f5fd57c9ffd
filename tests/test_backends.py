"""One test body, every backend: each agrees with the handwritten reference on its own."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import backend_param

import gdcheck
from gdcheck import backends as registry
from gdcheck._types import Backend

MODEL = gdcheck.models.linear_regression()
PARAMS = [backend_param(n) for n in registry.NAMES]


def data(dtype):
    X, y = gdcheck.data.tutorial(seed=3, m=64)
    Xb, yb = MODEL.prepare(X, y)
    return Xb.astype(dtype), yb.astype(dtype)


@pytest.mark.parametrize("name", PARAMS)
def test_backend_follows_the_protocol(name):
    backend = registry.get(name)
    assert isinstance(backend, Backend)
    info = backend.info("float64")
    assert info.name == name and info.dtype == "float64" and info.matmul_precision


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", PARAMS)
def test_shadow_matches_the_handwritten_gradient(name, dtype):
    Xb, yb = data(dtype)
    ref = registry.get("numpy").trajectory(MODEL, Xb, yb, MODEL.init_params(Xb), 0.05, 40)
    shadow = registry.get(name).shadow(MODEL, Xb, yb, ref.weights)
    assert shadow.grads.dtype == np.dtype(dtype)  # the dtype survives the backend
    assert shadow.grads.shape == ref.grads.shape
    tol = 1e-12 if dtype == "float64" else 1e-5
    scale = np.abs(ref.grads).max()
    np.testing.assert_allclose(shadow.grads, ref.grads, rtol=0, atol=tol * scale)
    np.testing.assert_allclose(shadow.losses, ref.losses, rtol=tol)


@pytest.mark.parametrize("name", PARAMS)
def test_trajectory_matches_the_reference(name):
    Xb, yb = data("float64")
    ref = registry.get("numpy").trajectory(MODEL, Xb, yb, MODEL.init_params(Xb), 0.05, 300)
    traj = registry.get(name).trajectory(MODEL, Xb, yb, MODEL.init_params(Xb), 0.05, 300)
    assert traj.weights.shape == (301, 2) and traj.diverged_at is None
    np.testing.assert_allclose(traj.weights, ref.weights, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", PARAMS)
def test_trajectory_reports_divergence(name):
    Xb, yb = data("float64")
    traj = registry.get(name).trajectory(MODEL, Xb, yb, MODEL.init_params(Xb), 100.0, 400)
    assert traj.diverged_at is not None and 0 < traj.diverged_at < 400
    assert np.isfinite(traj.weights[: traj.diverged_at]).all()


def test_jax_updates_through_optax():
    pytest.importorskip("optax")
    assert registry.get("jax").info("float64").update == "optax.sgd"
