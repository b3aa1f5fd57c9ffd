"""The tutorial's run cross-checked: the issue's figures, and wrong models that must fail."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gdcheck
from gdcheck.models import _linear

X, Y = gdcheck.data.tutorial(seed=0)
TUTORIAL = gdcheck.models.linear_regression()


def _variant(**fields):
    return dataclasses.replace(TUTORIAL, **fields)


# Wrong models that must fail, each a realistic slip in the tutorial's code.
MISSING_TWO = _variant(grad=lambda w, X, y: _linear.gradient(w, X, y) / 2)
"""Drops the 2 of (2/m): the classic slip when the cost has no ½."""


def _no_intercept(w, X, y):
    g = _linear.gradient(w, X, y)
    g[0] = 0.0
    return g


NO_INTERCEPT = _variant(grad=_no_intercept)
"""Forgets the intercept's gradient entry."""
SIGN_FLIPPED = _variant(grad=lambda w, X, y: -_linear.gradient(w, X, y))
"""(y − ŷ) instead of (ŷ − y)."""
SIGNED_UPDATE = _variant(update=lambda w, g, state, lr: (w + lr * g, state))
"""A right gradient with a wrong update: w + lr·g."""
NOISY_GRADIENT = _variant(
    grad=lambda w, X, y: _linear.gradient(w, X, y) * np.array([[1.0], [1.01]])
)
"""1 % error in the slope entry only."""


def test_float64_tutorial_figures(tutorial64):
    run = tutorial64
    assert run.passed, run.summary()
    assert set(run.runs) == {"numpy", "jax", "torch"}
    ref = run.final_weights["numpy"]
    assert ref.shape == (2, 1)  # the params' own structure
    for name, w in run.final_weights.items():
        assert np.abs(w - ref).max() / np.abs(ref).max() <= 1e-12, name
        assert run.distance_to_optimum(name) <= 1e-4
    for name, backend_run in run.runs.items():
        assert backend_run.errors.rel.max() <= 1e-12, name
        assert backend_run.errors.rel.size == 10_001


def test_float32_passes_and_reports_its_drift(tutorial32):
    run = tutorial32
    assert run.passed, run.summary()
    report = run.to_dict()
    for name in ("jax", "torch"):
        traj = report["backends"][name]["trajectory"]
        assert traj["max_drift"] is not None
        assert report["backends"][name]["info"]["dtype"] == "float32"
    assert "drift" in run.summary() or "final drift" in run.summary()


def test_tutorial_costs_match_the_tutorials_loop(tutorial64):
    """Cost at iteration k is computed at w_k, before that iteration's update."""
    model = gdcheck.models.linear_regression()
    Xb, y = model.prepare(X, y=Y)
    w = model.init(Xb, y)
    costs = {}
    for it in range(2001):
        if it % 2000 == 0:
            costs[it] = float(model.loss(w, Xb, y))
        w, _ = model.update(w, model.grad(w, Xb, y), None, 0.01)
    checkpoints = dict(tutorial64.cost_checkpoints(2000))
    assert checkpoints[0] == costs[0]
    assert checkpoints[2000] == costs[2000]
    assert sorted(checkpoints) == [0, 2000, 4000, 6000, 8000, 10000]


def test_not_converged_after_1000_but_after_10000(tutorial64):
    short = gdcheck.crosscheck(TUTORIAL, X, Y, steps=1000, backends=("numpy",))
    assert short.distance_to_optimum("numpy") > 1e-2
    assert tutorial64.distance_to_optimum("numpy") < 1e-4


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_missing_factor_two_is_a_gradient_finding(dtype):
    run = gdcheck.crosscheck(MISSING_TWO, X, Y, steps=50, dtype=dtype)
    assert not run.passed
    found = {(f.kind, f.backend) for f in run.findings}
    assert ("gradient", "jax") in found and ("gradient", "torch") in found
    first = next(f for f in run.findings if f.kind == "gradient")
    assert first.step == 0
    assert "vs numpy (reference)" in first.message and "first at step 0" in first.message


def test_one_percent_error_in_one_entry_fails():
    run = gdcheck.crosscheck(NOISY_GRADIENT, X, Y, steps=20, backends=("numpy", "torch"))
    assert not run.passed
    f = next(f for f in run.findings if f.kind == "gradient")
    assert f.entries == (1,)
    assert f.labels == ("w[1, 0]",) and "entry w[1, 0]" in f.message


def test_wrong_update_is_an_update_finding_never_the_gradients():
    run = gdcheck.crosscheck(SIGNED_UPDATE, X, Y, steps=30, backends=("numpy", "torch"))
    kinds = {f.kind for f in run.findings}
    assert "update" in kinds
    # the gradient at the reference's own w_t is still right: the shadow check passes
    assert "gradient" not in kinds
    assert run.at_fault == "update"
    update = next(f for f in run.findings if f.kind == "update")
    assert update.step == 0 and "first at step 0 → 1" in update.message
    assert "The gradient is not to blame" in update.message
    assert (
        "the handwritten update is wrong (the gradient is right)"
        in run.to_dict()["verdict"]["text"]
    )


def test_zero_steps_is_one_evaluation():
    run = gdcheck.crosscheck(TUTORIAL, X, Y, steps=0, backends=("numpy", "torch"))
    assert run.passed
    assert run.runs["torch"].errors.rel.size == 1


def test_user_tolerance_override_is_used_and_can_fail():
    strict = gdcheck.Tolerance(grad=0.0, drift=0.0)
    run = gdcheck.crosscheck(
        TUTORIAL,
        X,
        Y,
        steps=200,
        backends=("numpy", "jax"),
        tolerance={"float64": strict},
    )
    assert run.runs["jax"].tolerance.grad == 0.0
    assert not run.passed  # rounding-level differences exceed a zero tolerance
    loose = gdcheck.crosscheck(
        MISSING_TWO,
        X,
        Y,
        steps=5,
        backends=("numpy", "jax"),
        tolerance=gdcheck.Tolerance(grad=1.0, drift=1.0),
    )
    assert loose.passed


def test_jax_x64_is_scoped_to_the_call():
    jnp = pytest.importorskip("jax.numpy")
    gdcheck.crosscheck(TUTORIAL, X, Y, steps=3, backends=("numpy", "jax"))
    assert jnp.asarray(np.ones(2)).dtype == jnp.float32


def test_summary_names_backends_and_verdict(tutorial64):
    text = tutorial64.summary()
    for word in (
        "numpy (reference)",
        "jax",
        "torch",
        "optax.sgd",
        "torch.optim.SGD",
        "PASS",
        "2/λmax",
    ):
        assert word in text


@pytest.mark.parametrize(
    ("model", "kind", "detail"),
    [
        (MISSING_TWO, "scaled", 0.5),
        (NO_INTERCEPT, "wrong_entries", {"w": [(0, 0)]}),
        (SIGN_FLIPPED, "sign_flipped", None),
    ],
    ids=["missing_two", "no_intercept", "sign"],
)
def test_gradient_findings_carry_a_diagnosis(model, kind, detail):
    run = gdcheck.crosscheck(model, X, Y, steps=40, backends=("numpy", "torch"))
    assert run.diagnosis is not None and run.diagnosis.kind == kind
    if kind == "scaled":
        assert run.diagnosis.factor == pytest.approx(detail)
    if kind == "wrong_entries":
        assert run.diagnosis.entries == detail
    finding = next(f for f in run.findings if f.kind == "gradient")
    assert f"Looks like {kind}" in finding.message
    report = run.to_dict()
    assert report["verdict"]["findings"][0]["diagnosis"]["kind"] == kind
