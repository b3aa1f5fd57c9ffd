"""Adam's constants rounded to float32: allowed exactly as much as they change a step.

A handwritten Adam in NumPy computes 1 − β₂ᵗ from the Python float 0.999; optax forms it from
its float32 β₂ (0.99900001287…), and the cancellation turns that 1.3e-8 into a 1.3e-5 relative
change of v̂ at t = 1, 6.4e-6 of the step: a right update was flagged at step 0 at 1.76× the
update tolerance. The allowance (gdcheck.optim.Optimizer.step_rounding) is that change, bounded
per step count, so a wrong Adam is still named in float32."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gdcheck
from gdcheck import optim
from gdcheck.examples import updates

X, Y = gdcheck.data.tutorial()
RIGHT = [("adam", updates.adam), ("adamw", updates.adamw)]
ADAM_MISTAKES = [
    m
    for m in updates.MISTAKES
    if m.factory in ("adam", "adamw") and m.name != "adam_eps_inside_sqrt"
]
"""eps = 1e-8 inside the square root changes a step by < 3e-5 relative: a float64 finding
(tests/test_optim.py), below what float32 can tell from rounding."""


def _run(update, opt, dtype, lr=0.05, steps=60):
    model = dataclasses.replace(gdcheck.models.linear_regression(), update=update)
    return gdcheck.crosscheck(model, X, Y, lr=lr, steps=steps, dtype=dtype, optimizer=opt)


@pytest.mark.parametrize("name,update", RIGHT, ids=[n for n, _ in RIGHT])
def test_a_right_handwritten_adam_passes_in_float32(name, update):
    run = _run(update, getattr(optim, name)(), "float32")
    assert run.passed, [f.message for f in run.findings]


@pytest.mark.parametrize("mistake", ADAM_MISTAKES, ids=lambda m: m.name)
def test_a_wrong_adam_is_still_an_update_finding_in_float32(mistake):
    claimed = getattr(optim, mistake.factory)(**mistake.kwargs)
    steps = mistake.first_step + 5
    run = _run(mistake.update, claimed, "float32", lr=mistake.lr, steps=steps)
    update = [f for f in run.findings if f.kind == "update" and f.fatal]
    assert update, (mistake.name, [f.message for f in run.findings])


def test_the_allowance_is_the_rounding_of_the_betas():
    adam = optim.adam()
    t = np.array([1, 10, 100, 1000, 100000])
    rho = adam.step_rounding(t, "float32")
    b2 = 0.999
    u = abs(float(np.float32(b2)) - b2)
    # at t = 1: ½ (2u/(1 − β₂) + u/(1 − β₂)) from β₂, plus β₁'s smaller share
    assert 1.5 * u / (1 - b2) <= rho[0] <= 1.5 * u / (1 - b2) + 1e-6
    assert np.all(np.diff(rho) <= 0) and rho[-1] > 0
    assert not adam.step_rounding(t, "float64").any()  # Python floats are float64: nothing
    assert not optim.sgd().step_rounding(t, "float32").any()
    assert not optim.momentum(beta=0.9).step_rounding(t, "float32").any()
