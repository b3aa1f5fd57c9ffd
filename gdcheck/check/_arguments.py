"""check_gradient's arguments: data by keyword, and the values of ``dtype``, ``taylor``,
``rtol`` and ``atol`` checked or inferred (each refusal says what to pass instead)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from ..errors import InputError, InputTypeError


def by_keyword(
    loss: Callable[..., Any], grad: Callable[..., Any], data: tuple, named: dict[str, Any]
) -> tuple[Callable[..., Any], Callable[..., Any], tuple]:
    """Positional wrappers for data passed by keyword: ``f(p, *data, **named)``."""
    npos, keys = len(data), tuple(named)

    def wrap(fn: Callable[..., Any]) -> Callable[..., Any]:
        if not callable(fn):
            return fn

        def positional(p: Any, *d: Any) -> Any:
            return fn(p, *d[:npos], **dict(zip(keys, d[npos:], strict=True)))

        return positional

    return wrap(loss), wrap(grad), tuple(data) + tuple(named.values())


def taylor_mode(taylor: Any) -> bool | str:
    """``taylor=`` as True, False or ``"auto"`` (a NumPy bool or 0/1 as the bool it means)."""
    if isinstance(taylor, str) and taylor == "auto":
        return "auto"
    if isinstance(taylor, (bool, np.bool_)) or (isinstance(taylor, int) and taylor in (0, 1)):
        return bool(taylor)
    raise InputError(f"taylor={taylor!r}; use True, False or 'auto'.")


def infer_dtype(params: Any) -> str:
    leaves = params.values() if isinstance(params, Mapping) else [params]
    dtypes = {str(getattr(leaf, "dtype", "float64")).replace("torch.", "") for leaf in leaves}
    if dtypes & {"float16", "bfloat16"}:
        raise InputError(
            f"params are {', '.join(sorted(dtypes & {'float16', 'bfloat16'}))}; gdcheck checks "
            "float32 and float64 gradients: cast them, or pass dtype='float32'."
        )
    return "float32" if dtypes == {"float32"} else "float64"


def check_tolerance_value(name: str, value: Any) -> None:
    values = value.values() if isinstance(value, Mapping) else [value]
    for v in values:
        if v is None:
            continue
        if isinstance(v, bool) or not isinstance(v, (int, float, np.floating, np.integer)):
            raise InputTypeError(f"{name} must be a number or {{dtype: number}}, got {v!r}.")
        if not math.isfinite(float(v)) or float(v) < 0:
            raise InputError(f"{name} must be a finite number >= 0, got {v}.")
