"""Checks on what a user passes in, each with a message that says what was wrong and how to fix it."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._types import DTYPES, DTypeName, NDArray
from .errors import InputError, InputTypeError


def as_float_array(value: Any, name: str) -> NDArray:
    """Convert array-likes (NumPy, lists, JAX, torch) to a float64 NumPy array or explain why not."""
    if value is None:
        raise InputTypeError(f"{name} is None; pass a numeric array.")
    if hasattr(value, "detach"):  # torch tensor: no import of torch needed
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception as exc:  # ragged lists and the like
        raise InputTypeError(f"{name} could not be read as an array ({exc}).") from None
    if arr.dtype == object or not (
        np.issubdtype(arr.dtype, np.number) or np.issubdtype(arr.dtype, np.bool_)
    ):
        raise InputTypeError(
            f"{name} has dtype {arr.dtype}; expected numbers. Convert it with np.asarray(..., float)."
        )
    if np.iscomplexobj(arr):
        raise InputTypeError(f"{name} is complex; gdcheck's models take real data.")
    return arr.astype(np.float64, copy=False)


def check_finite(arr: NDArray, name: str) -> None:
    """Refuse NaN or Inf, naming how many and where the first one is."""
    bad = ~np.isfinite(arr)
    if bad.any():
        where = tuple(int(i) for i in np.argwhere(bad)[0])
        kinds = " and ".join(
            k
            for k, present in (("NaN", np.isnan(arr).any()), ("Inf", np.isinf(arr).any()))
            if present
        )
        raise InputError(
            f"{name} contains {int(bad.sum())} {kinds} value(s), the first at index {where}; "
            "remove or impute them before checking gradients."
        )


def check_tutorial_data(X: Any, y: Any) -> tuple[NDArray, NDArray]:
    """Validate data in the tutorial's convention: ``X`` is (n, m), features × examples; ``y`` is (1, m).

    A ``y`` of shape (m, 1) or (m,) is refused: the tutorial's ``y_hat − y`` would silently
    broadcast (1, m) against it to an (m, m) matrix and every number after that is wrong.
    """
    X = as_float_array(X, "X")
    y = as_float_array(y, "y")
    if X.ndim == 1:
        raise InputError(
            f"X has shape {X.shape}; expected (n, m): one row per feature, one column per example. "
            f"For a single feature pass X.reshape(1, -1), shape (1, {X.shape[0]})."
        )
    if X.ndim != 2:
        raise InputError(
            f"X has {X.ndim} dimensions, shape {X.shape}; expected a 2-D (n, m) array."
        )
    m = X.shape[1]
    if y.ndim == 2 and y.shape[0] == 1:
        pass
    elif y.ndim == 2 and y.shape[1] == 1 and y.shape[0] > 1:
        raise InputError(
            f"y has shape {y.shape}; expected (1, {y.shape[0]}): one row of targets, one column per "
            f"example. With {y.shape}, y_hat − y silently broadcasts to ({y.shape[0]}, {y.shape[0]}) "
            "and the cost and gradient are wrong. Pass y.T or y.reshape(1, -1)."
        )
    elif y.ndim == 1:
        raise InputError(
            f"y has shape {y.shape}; expected (1, {y.shape[0]}): one row of targets, one column per "
            f"example. Pass y.reshape(1, -1)."
        )
    else:
        raise InputError(
            f"y has shape {y.shape}; expected (1, m) with m = {m}, the number of examples."
        )
    if y.shape[1] != m:
        raise InputError(
            f"X has {m} examples (columns, shape {X.shape}) but y has {y.shape[1]} (shape {y.shape}); "
            "they must have the same number of examples m."
        )
    if m == 0:
        raise InputError("X and y have no examples (m = 0); pass at least one column.")
    check_finite(X, "X")
    check_finite(y, "y")
    return X, y


def check_lr(lr: Any) -> float:
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        raise InputTypeError(f"lr must be a number, got {type(lr).__name__} {lr!r}.")
    lr = float(lr)
    if not math.isfinite(lr) or lr <= 0:
        raise InputError(f"lr must be a finite number > 0, got {lr}; the tutorial uses lr=0.01.")
    return lr


def check_steps(steps: Any) -> int:
    if isinstance(steps, bool) or not isinstance(steps, numbers.Integral):
        raise InputTypeError(f"steps must be an integer, got {type(steps).__name__} {steps!r}.")
    if steps < 0:
        raise InputError(f"steps must be >= 0, got {steps}; the tutorial uses steps=10000.")
    return int(steps)


def check_dtype(dtype: Any) -> DTypeName:
    try:  # "float32", np.float32, np.dtype("f4"), torch/jax dtypes with a .name …
        name = np.dtype(dtype).name if not isinstance(dtype, str) else dtype
    except TypeError:
        name = str(getattr(dtype, "name", dtype)).replace("torch.", "")
    name = {"f4": "float32", "f8": "float64", "single": "float32", "double": "float64"}.get(
        str(name), str(name)
    )
    if name not in DTYPES:
        raise InputError(f"dtype {dtype!r} is not supported; use one of {', '.join(DTYPES)}.")
    return name  # type: ignore[return-value]


def check_backend_names(backends: Any, known: Sequence[str]) -> tuple[str, ...]:
    if isinstance(backends, str):
        backends = tuple(b.strip() for b in backends.split(",") if b.strip())
    try:
        names = tuple(backends)
    except TypeError:
        raise InputTypeError(
            f"backends must be a sequence of names such as ('numpy', 'jax', 'torch'), got {backends!r}."
        ) from None
    if not names:
        raise InputError(f"backends is empty; choose from {', '.join(known)}.")
    for name in names:
        if name not in known:
            raise InputError(f"unknown backend {name!r}; choose from {', '.join(known)}.")
    return tuple(dict.fromkeys(names))
