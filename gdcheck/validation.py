"""Checks on what a user passes in, each with a message that says what was wrong and how to fix it."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ._buffers import hand_back, source_blocks, whole_index
from ._types import DTYPES, DTypeName, NDArray
from ._words import counted
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


def cast_data(value: Any, dtype: str) -> Any:
    """Data as NumPy: floating arrays (and torch tensors, lists) in ``dtype``, without a copy
    when they already are; integer arrays stay integer; anything else is passed through."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (list, tuple)) or hasattr(value, "__array__"):
        arr = np.asarray(value)
        return arr.astype(dtype, copy=False) if np.issubdtype(arr.dtype, np.floating) else arr
    return value


def check_range(value: Any, dtype: str, name: str) -> None:
    """Refuse finite floating data that ``dtype`` cannot hold (float64 beyond float32's
    ±3.4e38): the cast would make them Inf, and "contains Inf" would blame data that has none.

    Only where ``dtype`` is narrower than the data's; block by block (a file map's pages
    handed back), NaN and Inf left to :func:`check_finite`."""
    if hasattr(value, "detach"):  # a torch tensor: its NumPy view
        value = value.detach().cpu().numpy()
    if not isinstance(value, np.ndarray) or not np.issubdtype(value.dtype, np.floating):
        return
    limit = float(np.finfo(dtype).max)
    if value.size == 0 or float(np.finfo(value.dtype).max) <= limit:
        return
    blocks = source_blocks(value) if value.ndim else [()]
    for index in blocks:
        block = value[index]
        with np.errstate(invalid="ignore"):
            over = np.isfinite(block) & (np.abs(block) > limit)
        hand_back(block)
        if not over.any():
            continue
        at = np.argwhere(over)[0]
        where, first = whole_index(index, at), float(block[tuple(at)])
        raise InputError(
            f"{name} holds values beyond {dtype}'s range (±{limit:.3g}), the first {first:.3g} "
            f"at index {where}: in {dtype} they would become Inf. Run in float64 "
            "(dtype='float64', --dtype float64), or rescale the data."
        )


def check_ranges(data: tuple, dtype: str) -> None:
    """:func:`check_range` of each of ``data``, named ``data[i]``."""
    for i, d in enumerate(data):
        check_range(d, dtype, f"data[{i}]")


def check_finite(arr: NDArray, name: str) -> None:
    """Refuse NaN or Inf, naming how many and where the first one is.

    One pass without a temporary first: a finite sum (float64 accumulation) means every entry
    is finite; only a sum that is not (a NaN, an Inf, or an overflow) builds the mask."""
    with np.errstate(over="ignore", invalid="ignore"):
        if np.isfinite(np.sum(arr, dtype=np.float64)):
            return
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
            f"X has {counted(m, 'example')} (columns, shape {X.shape}) but y has {y.shape[1]} (shape {y.shape}); "
            "they must have the same number of examples m."
        )
    if m == 0:
        raise InputError("X and y have no examples (m = 0); pass at least one column.")
    check_finite(X, "X")
    check_finite(y, "y")
    return X, y


def check_lr(lr: Any, name: str = "lr") -> float:
    """A learning rate: a real number (not a bool or a string), finite and > 0."""
    if isinstance(lr, bool) or not isinstance(lr, numbers.Real):
        hint = f"; the tutorial uses {name}=0.01"
        if isinstance(lr, bool):
            hint = f" (True/False is not a learning rate){hint}"
        elif isinstance(lr, str):
            hint = f"; pass the number, {name}={lr.strip()}, not the text {lr!r}"
        raise InputTypeError(f"{name} must be a number, got {type(lr).__name__} {lr!r}{hint}.")
    lr = float(lr)
    if not math.isfinite(lr) or lr <= 0:
        raise InputError(
            f"{name} must be a finite number > 0, got {lr}; the tutorial uses {name}=0.01."
        )
    return lr


MEMORY_FRACTION = 0.5
"""A run may plan to store trajectories in at most this share of the machine's memory."""


def memory_bytes() -> int:
    """This machine's physical memory in bytes (16 GiB where the OS does not say)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE")) * int(os.sysconf("SC_PHYS_PAGES"))
    except (ValueError, OSError, AttributeError):
        return 16 << 30


def trajectory_bytes(steps: int, n_params: int = 1, backends: int = 1, itemsize: int = 8) -> int:
    """Bytes the weight trajectories take: (steps + 1) × params floats per backend."""
    return (int(steps) + 1) * max(int(n_params), 1) * max(int(backends), 1) * int(itemsize)


def check_steps(steps: Any, n_params: int = 1, backends: int = 1, itemsize: int = 8) -> int:
    """A number of steps: an integer >= 0 whose trajectories fit in memory.

    The trajectory keeps every step's weights: (steps + 1) × ``n_params`` floats of
    ``itemsize`` bytes per backend, which must fit in :data:`MEMORY_FRACTION` of the memory.
    """
    integral_float = isinstance(steps, float) and math.isfinite(steps) and steps.is_integer()
    if isinstance(steps, bool) or not (isinstance(steps, numbers.Integral) or integral_float):
        raise InputTypeError(f"steps must be an integer, got {type(steps).__name__} {steps!r}.")
    if steps < 0:
        raise InputError(f"steps must be >= 0, got {steps:g}; the tutorial uses steps=10000.")
    need = trajectory_bytes(int(steps), n_params, backends, itemsize)
    room = int(memory_bytes() * MEMORY_FRACTION)
    if need > room:
        per_step = trajectory_bytes(0, n_params, backends, itemsize)
        raise InputError(
            f"steps={int(steps):,} would need at least {_size(need)} of memory: the trajectory stores "
            f"(steps+1) × params floats per backend ({int(steps) + 1:,} × {max(n_params, 1):,} × "
            f"{itemsize} bytes × {max(backends, 1)} backend(s)), and this machine has "
            f"{_size(memory_bytes())}. Pass steps <= {room // per_step - 1:,}, or check fewer "
            "steps (the drift shows within a few thousand)."
        )
    if integral_float:
        raise InputTypeError(
            f"steps must be an integer, got float {steps!r}; write steps={int(steps)}."
        )
    return int(steps)


def check_seed(seed: Any, name: str = "seed") -> int:
    """A random seed: an integer >= 0 (NumPy's generators refuse negative ones)."""
    if isinstance(seed, bool) or not isinstance(seed, numbers.Integral):
        raise InputTypeError(f"{name} must be an integer, got {type(seed).__name__} {seed!r}.")
    if seed < 0:
        raise InputError(f"{name} must be a non-negative integer, got {seed!r}.")
    return int(seed)


def _size(n: int) -> str:
    """``n`` bytes in words: ``8.0 TB``."""
    value = float(n)
    for unit in ("bytes", "kB", "MB", "GB", "TB", "PB"):
        if value < 1000 or unit == "PB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{n} bytes"


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
