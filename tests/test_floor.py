"""The trajectory's rounding floor: measured from the floor backend's own shadow rows, and on
tiny data from eight perturbations (see :mod:`gdcheck.trajectory._floor`)."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck import backends
from gdcheck.check._perturb import FLOOR_SAMPLES, TINY_FLOOR_SAMPLES
from gdcheck.trajectory import _floor
from tests.conftest import backend_param


class _Counting:
    """A backend whose ``shadow`` calls are counted (row counts kept), all else passed on."""

    def __init__(self, inner) -> None:
        self.inner, self.rows = inner, []

    def shadow(self, problem, weights, *rest):
        self.rows.append(len(weights))
        return self.inner.shadow(problem, weights, *rest)

    def __getattr__(self, name):
        return getattr(self.inner, name)


def _run(backend: str, m: int, steps: int = 60):
    X, y = gdcheck.data.tutorial(seed=0)
    X, y = np.tile(X, (1, m // X.shape[1])), np.tile(y, (1, m // y.shape[1]))
    model = gdcheck.models.linear_regression()
    return gdcheck.crosscheck(model, X, y, lr=0.01, steps=steps, backends=("numpy", backend))


@pytest.mark.parametrize("backend", [backend_param(n) for n in ("jax", "torch")])
def test_the_floor_from_the_shadows_rows_equals_the_floor_measured_alone(backend) -> None:
    run = _run(backend, 5000)  # 10,000 elements: more than tiny, two perturbations
    weights = run.reference.weights
    alone = _Counting(backends.get(backend))
    measured = _floor.measure_floor(run.problem, alone, weights)
    reused = _Counting(backends.get(backend))
    base = backends.get(backend).shadow(run.problem, weights).grads
    from_rows = _floor.measure_floor(run.problem, reused, weights, base=base)
    np.testing.assert_array_equal(from_rows, measured)
    assert len(alone.rows) == 1 + FLOOR_SAMPLES and len(reused.rows) == FLOOR_SAMPLES
    assert measured.shape == weights.shape and (measured > 0).any()


@pytest.mark.parametrize("backend", [backend_param(n) for n in ("jax", "torch")])
def test_crosscheck_evaluates_the_floor_backends_shadow_once(backend, monkeypatch) -> None:
    counting = _Counting(backends.get(backend))
    real_get = backends.get
    monkeypatch.setattr(
        backends, "get", lambda name: counting if name == backend else real_get(name)
    )
    monkeypatch.setattr(
        backends,
        "resolve",
        lambda requested: ([real_get("numpy"), counting], []),
    )
    run = _run(backend, 5000)
    assert run.passed, run.summary()
    # all 61 rows once (the shadow check), then the sampled steps once per perturbation
    assert counting.rows == [61] + [len(_floor.sample_steps(61))] * FLOOR_SAMPLES


@pytest.mark.parametrize("backend", [backend_param(n) for n in ("jax", "torch")])
def test_tiny_data_takes_eight_perturbations(backend) -> None:
    run = _run(backend, 500, steps=5)  # 1,000 elements: tiny
    counting = _Counting(backends.get(backend))
    _floor.measure_floor(run.problem, counting, run.reference.weights)
    assert len(counting.rows) == 1 + TINY_FLOOR_SAMPLES


@pytest.mark.parametrize(("m", "expected"), [(100, "tiny"), (3000, "not tiny")])
def test_check_gradients_floor_takes_eight_perturbations_on_tiny_data(m, expected, monkeypatch):
    from gdcheck.check import _point

    per_floor: list[int] = []  # gradients evaluated by each rounding_floor call
    real_floor, real_gradients = _point.PointChecker.rounding_floor, _point.PointChecker.gradients

    inside = [False]

    def floor(self, *args, **kwargs):
        per_floor.append(0)
        inside[0] = True
        try:
            return real_floor(self, *args, **kwargs)
        finally:
            inside[0] = False

    def gradients(self, *args, **kwargs):
        if inside[0]:
            per_floor[-1] += 1
        return real_gradients(self, *args, **kwargs)

    monkeypatch.setattr(_point.PointChecker, "rounding_floor", floor)
    monkeypatch.setattr(_point.PointChecker, "gradients", gradients)
    rng = np.random.default_rng(0)
    X, y = rng.standard_normal((2, m)), rng.standard_normal((1, m))
    model = gdcheck.models.linear_regression()
    Xb, yb = model.prepare(X, y)  # (3, m) and (1, m): 4m elements
    w = np.linalg.lstsq(Xb.T, yb.T, rcond=None)[0]  # the optimum: the gradient is rounding
    res = gdcheck.check_gradient(model.loss, model.grad, w, Xb, yb)
    assert res.passed, str(res)
    want = TINY_FLOOR_SAMPLES if expected == "tiny" else FLOOR_SAMPLES
    assert per_floor and all(n == want for n in per_floor), per_floor
    # data the loss closes over: their size is unknown, so not taken for tiny
    per_floor.clear()
    res = gdcheck.check_gradient(
        lambda w: model.loss(w, Xb, yb), lambda w: model.grad(w, Xb, yb), w
    )
    assert res.passed and per_floor and all(n == FLOOR_SAMPLES for n in per_floor), per_floor


@pytest.mark.parametrize("backend", [backend_param(n) for n in ("jax", "torch")])
def test_above_small_data_every_perturbation_goes_in_one_call(backend) -> None:
    """Above SMALL_DATA elements only the weights are perturbed, so the data are the same for
    every perturbation: their rows go to the backend in one batched call, and the floor is
    the one the calls per perturbation give."""
    from gdcheck.check._perturb import SMALL_DATA

    m = SMALL_DATA // 2 + 500  # X (1, m), y (1, m) and the ones row: 1.5 × SMALL_DATA elements
    run = _run(backend, m, steps=40)
    weights = run.reference.weights
    counting = _Counting(backends.get(backend))
    measured = _floor.measure_floor(run.problem, counting, weights)
    sampled = len(_floor.sample_steps(len(weights)))
    assert counting.rows == [sampled, FLOOR_SAMPLES * sampled]  # base, then all perturbations
    inner = backends.get(backend)
    at = weights[_floor.sample_steps(len(weights))]
    base = inner.shadow(run.problem, at).grads.astype(np.float64)
    per_call = np.zeros_like(base)
    for bumped, data in _floor._perturbations(run.problem, at.astype(np.float64), 0):
        assert data is None  # the data as they are
        moved = inner.shadow(run.problem, bumped.astype(run.problem.dtype)).grads
        per_call = np.maximum(per_call, np.abs(moved.astype(np.float64) - base))
    np.testing.assert_array_equal(measured[_floor.sample_steps(len(weights))], per_call)
    assert (measured > 0).any()
