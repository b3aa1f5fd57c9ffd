"""Shared fixtures: the tutorial's data and a cached float64/float32 tutorial run."""

from __future__ import annotations

import functools

import pytest

import gdcheck

BACKENDS = ("numpy", "jax", "torch")


def backend_param(name: str):  # one test body, many backends
    mods = {"jax": "jax", "torch": "torch"}
    marks = []
    if name in mods:
        import importlib.util

        if importlib.util.find_spec(mods[name]) is None:
            marks.append(pytest.mark.skip(reason=f"{name} not installed"))
    return pytest.param(name, marks=marks, id=name)


@functools.cache
def tutorial_run(dtype: str) -> gdcheck.CrossCheckResult:
    X, y = gdcheck.data.tutorial(seed=0)
    return gdcheck.crosscheck(
        gdcheck.models.linear_regression(), X, y, lr=0.01, steps=10_000, dtype=dtype
    )


@pytest.fixture(scope="session")
def tutorial64() -> gdcheck.CrossCheckResult:
    return tutorial_run("float64")


@pytest.fixture(scope="session")
def tutorial32() -> gdcheck.CrossCheckResult:
    return tutorial_run("float32")
