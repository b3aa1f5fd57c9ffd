"""What a user's ``grad`` returns, checked: called on copies and read-only data, then matched
against the parameters' structure (None, wrong types, missing or extra keys → ``wrong_shape``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from .._types import NDArray
from ..backends._common import read_only
from ..errors import InputError
from ..params import ParamLayout
from ._diagnosis import Diagnosis
from ._layout import UnrolledLayout


def call_grad(
    grad: Callable[..., Any],
    layout: ParamLayout,
    tree: dict[str, NDArray],
    data: tuple,
) -> tuple[dict[str, NDArray] | None, Diagnosis | None]:
    """Run your grad and check the structure of what it returns."""
    try:
        out = grad(layout.to_user({k: v.copy() for k, v in tree.items()}), *read_only(data))
    except Exception as exc:
        raise InputError(f"your grad raised {type(exc).__name__}: {exc}") from exc
    if (
        isinstance(out, tuple)
        and len(out) == 2
        and np.ndim(out[0]) == 0
        and not (layout.is_dict and isinstance(out[0], Mapping))
        and not isinstance(out[0], (str, bytes))
        and _as_array(out[0]) is not None
    ):
        out = out[1]  # grad returned (loss, grad), as CS231n's and Coursera's functions do
    return structure_of(out, layout, tree)


def _as_array(value: Any) -> NDArray | None:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    try:
        arr = np.asarray(value)
    except Exception:
        return None
    if arr.dtype == object or np.iscomplexobj(arr):
        return None
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        return None
    return arr.astype(np.float64)


def structure_of(
    out: Any, layout: ParamLayout, tree: dict[str, NDArray]
) -> tuple[dict[str, NDArray] | None, Diagnosis | None]:
    expected = ", ".join(f"{n}: {s}" for n, s in zip(layout.names, layout.shapes, strict=True))
    if isinstance(layout, UnrolledLayout) and out is not None:
        return _unrolled(out, layout)
    if out is None:
        return None, Diagnosis(
            "wrong_shape",
            "your grad returned None; it must return "
            + (
                "a dict {" + expected + "}"
                if layout.is_dict
                else f"an array of shape {getattr(layout, 'user_shape', layout.shapes[0])}"
            )
            + " (a missing return statement?).",
        )
    if layout.is_dict:
        if not isinstance(out, Mapping):
            return None, Diagnosis(
                "wrong_shape",
                f"your grad returned {type(out).__name__}; params is a "
                f"dict, so it must return a dict with the same keys {{{expected}}}.",
            )
        missing = [k for k in layout.names if k not in out]
        extra = [k for k in out if k not in layout.names]
        if missing or extra:
            parts = ([f"missing {missing}"] if missing else []) + (
                [f"extra {extra}"] if extra else []
            )
            return None, Diagnosis(
                "wrong_shape",
                f"your grad's dict has {' and '.join(parts)} keys; "
                f"expected exactly {list(layout.names)}.",
                entries={k: [] for k in missing + extra},
            )
        items = {k: out[k] for k in layout.names}
    else:
        items = {layout.names[0]: out}
    result: dict[str, NDArray] = {}
    for name, value in items.items():
        arr = _as_array(value)
        shape = tree[name].shape
        if arr is None:
            return None, Diagnosis(
                "wrong_shape",
                f"your grad returned {type(value).__name__} for "
                f"{name}; expected a numeric array of shape {shape}.",
                entries={name: []},
            )
        result[name] = arr
    return result, None


def _unrolled(
    out: Any, layout: UnrolledLayout
) -> tuple[dict[str, NDArray] | None, Diagnosis | None]:
    """A flat vector like the params, split into the layout's matrices."""
    arr = _as_array(out)
    if arr is None or arr.shape != layout.user_shape:
        got = type(out).__name__ if arr is None else f"shape {arr.shape}"
        return None, Diagnosis(
            "wrong_shape",
            f"your grad returned {got}; params is one flat vector of shape "
            f"{layout.user_shape} ({layout.describe()}), so the grad must return a vector of "
            "that shape, unrolled the same way.",
            entries={n: [] for n in layout.names},
        )
    return layout.from_user(arr), None
