"""Property tests: random shapes and data agree across backends in float64."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

import gdcheck
from gdcheck.models import linear_regression


@st.composite
def problems(draw):
    n = draw(st.integers(1, 6))
    m = draw(st.integers(1, 80))
    seed = draw(st.integers(0, 2**31 - 1))
    scale = draw(st.sampled_from([1e-3, 1.0, 1e3]))
    rng = np.random.default_rng(seed)
    X = scale * rng.standard_normal((n, m))
    y = rng.standard_normal((1, m)) * scale + draw(st.floats(-10, 10))
    return X, y


# Found by hypothesis: one example, whose residual halves each step; the floor's random-sign
# perturbations of w, X and y cancelled in both of its two samples (now eight on tiny data).
ONE_EXAMPLE = (
    np.array([[0.345584192064786], [0.8216181435011584], [0.33043707618338714]]),
    np.array([[1.696842768395639]]),
)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(problems(), st.integers(0, 25))
@example(ONE_EXAMPLE, 12)
def test_random_problems_agree_across_backends(problem, steps):
    X, y = problem
    Xb, _ = linear_regression().prepare(X, y)
    lam_max = np.linalg.eigvalsh(linear_regression().hessian(Xb)).max()
    lr = 0.5 / lam_max  # inside the stable region
    run = gdcheck.crosscheck(linear_regression(), X, y, lr=lr, steps=steps, dtype="float64")
    assert run.passed, run.summary()
    ref = run.final_weights["numpy"]
    for w in run.final_weights.values():
        np.testing.assert_allclose(w, ref, rtol=1e-9, atol=1e-9 * max(1.0, np.abs(ref).max()))
