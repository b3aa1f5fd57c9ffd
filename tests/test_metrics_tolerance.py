"""Metrics (ULPs, scaled errors, drift) and the derived tolerances."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gdcheck.trajectory._metrics import gradient_errors, ulp_distance, weight_drift
from gdcheck.trajectory._tolerance import amplification, drift_tolerance, gradient_tolerance


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_ulp_distance_counts_floats_between(dtype):
    one = dtype(1.0)
    nxt = np.nextafter(one, dtype(2))
    assert ulp_distance(np.array([one]), np.array([nxt]))[0] == 1
    assert ulp_distance(np.array([one]), np.array([np.nextafter(nxt, dtype(2))]))[0] == 2
    assert ulp_distance(np.array([dtype(0.0)]), np.array([dtype(-0.0)]))[0] == 0
    tiny = np.nextafter(dtype(0), dtype(1))
    assert ulp_distance(np.array([-tiny]), np.array([tiny]))[0] == 2
    assert ulp_distance(np.array([one]), np.array([dtype(np.nan)]))[0] == np.inf


def test_gradient_errors_use_the_term_scale_as_floor():
    ref = np.array([[1e-15, -2e-15]])
    grads = ref + np.array([[1e-16, 0.0]])
    scale = np.array([[10.0, 10.0]])
    e = gradient_errors(grads, ref, scale)
    assert e.abs[0] == pytest.approx(1e-16)
    assert e.rel[0] == pytest.approx(1e-17)  # against S = 10, not against 2e-15
    assert e.worst_entry[0] == 0
    assert e.ulp[0] == pytest.approx(1e-16 / np.spacing(10.0))


def test_weight_drift_is_relative_to_the_reference():
    ref = np.array([[0.0, 0.0], [2.0, -4.0]])
    w = np.array([[1e-3, 0.0], [2.0, -4.004]])
    d = weight_drift(w, ref)
    assert d[0] == pytest.approx(1e-3)  # w_0 = 0: absolute
    assert d[1] == pytest.approx(1e-3)


def test_gradient_tolerance_is_c_eps_sqrt_n():
    assert gradient_tolerance("float64", 500) == pytest.approx(64 * 2.0**-52 * math.sqrt(500))
    assert gradient_tolerance("float32", 100) == pytest.approx(64 * 2.0**-23 * 10)
    # wider with a reduced-precision matmul
    assert gradient_tolerance("float32", 100, eps=2.0**-10) > gradient_tolerance("float32", 100)


def test_tolerances_separate_rounding_from_a_one_percent_error():
    for dtype in ("float32", "float64"):
        assert gradient_tolerance(dtype, 10_000) < 0.01 / 10  # a 1 % error is 10× over


def test_amplification_is_the_geometric_sum():
    lam = np.array([0.1, 2.0])
    rho = 1 - 0.01 * 0.1
    assert amplification(0.01, lam, 100) == pytest.approx((1 - rho**100) / (1 - rho))
    assert amplification(0.01, None, 100) == 100
    assert amplification(2.0, lam, 100) == 100  # unstable: bounded by the step count
    assert amplification(0.01, lam, 0) == 1


def test_drift_tolerance_grows_with_steps_then_saturates():
    lam = np.array([0.13, 2.6])
    short = drift_tolerance("float64", 3e-13, 0.01, lam, 10, 10.0, 5.0)
    long = drift_tolerance("float64", 3e-13, 0.01, lam, 10_000, 10.0, 5.0)
    longer = drift_tolerance("float64", 3e-13, 0.01, lam, 100_000, 10.0, 5.0)
    assert short < long
    assert longer == pytest.approx(long, rel=1e-3)
