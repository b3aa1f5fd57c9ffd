"""Zero false alarms: 500 generated correct gradients must all pass.

Shapes, scales from 1e-3 to 1e3, float32 and float64, at random points and at the optimum.
"""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gdcheck
from gdcheck.examples import losses as L

SCALES = [1e-3, 1e-2, 1e-1, 1.0, 10.0, 1e2, 1e3]


@st.composite
def correct_cases(draw, dtype):
    kind = draw(st.sampled_from(["mse", "mse_optimum", "logistic", "softmax", "mlp", "bilinear"]))
    scale = draw(st.sampled_from(SCALES))
    pscale = draw(st.sampled_from(SCALES))
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    m = draw(st.integers(1, 300))
    if kind.startswith("mse"):
        n = draw(st.integers(1, 6))
        X = np.vstack([np.ones((1, m)), scale * rng.standard_normal((n, m))])
        y = scale * rng.standard_normal((1, m)) + scale
        w = pscale * rng.standard_normal((n + 1, 1))
        if kind == "mse_optimum":
            w, *_ = np.linalg.lstsq(X.T, y.T, rcond=None)
        return L.mse_loss, L.mse_grad, w, (X, y), dtype
    if kind == "logistic":
        d = draw(st.integers(1, 5))
        X = scale * rng.standard_normal((m, d))
        p = {"w": rng.standard_normal(d) / max(scale, 1.0), "b": np.array(rng.standard_normal())}
        return L.logistic_loss, L.logistic_grad, p, (X, (rng.random(m) < 0.5).astype(float)), dtype
    if kind == "softmax":
        d, k = draw(st.integers(1, 4)), draw(st.integers(2, 4))
        X = scale * rng.standard_normal((m, d))
        p = {"W": rng.standard_normal((d, k)) / max(scale, 1.0), "b": rng.standard_normal(k)}
        return L.softmax_loss, L.softmax_grad, p, (X, np.eye(k)[rng.integers(0, k, m)]), dtype
    if kind == "mlp":
        d, h = draw(st.integers(1, 3)), draw(st.integers(1, 4))
        X = scale * rng.standard_normal((m, d))
        p = {
            "W1": rng.standard_normal((d, h)) / max(scale, 1.0),
            "b1": rng.standard_normal(h),
            "W2": pscale * rng.standard_normal(h),
            "b2": np.array(pscale * rng.standard_normal()),
        }
        return L.mlp_loss, L.mlp_grad, p, (X, pscale * rng.standard_normal(m)), dtype
    k = draw(st.integers(1, 3))
    x, z = scale * rng.standard_normal((m, k)), rng.standard_normal((m, k))
    return (
        L.bilinear_loss,
        L.bilinear_grad,
        pscale * rng.standard_normal((k, k)),
        (x, z, scale * pscale * rng.standard_normal(m)),
        dtype,
    )


SETTINGS = settings(
    max_examples=250,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


# 250 + 250 = 500 cases, split in two tests so that pytest-xdist runs them side by side.
@SETTINGS
@given(correct_cases("float32"))
def test_no_false_alarm_float32(case):
    _check(case)


@SETTINGS
@given(correct_cases("float64"))
def test_no_false_alarm_float64(case):
    _check(case)


def _check(case):
    loss, grad, params, data, dtype = case
    res = gdcheck.check_gradient(loss, grad, params, *data, dtype=dtype)
    assert res.passed, str(res)
