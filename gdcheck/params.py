"""Parameters as the user passes them — one array or a dict of arrays — and their flat view.

Checks, witnesses and the diagnosis work on one flat float64 vector; the user's functions
always receive the structure the user gave (an array, or a dict with the same keys).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ._types import NDArray
from .errors import InputError, InputTypeError
from .validation import as_float_array

SINGLE = "params"
"""The name a single (non-dict) parameter array goes by in messages."""


@dataclass(frozen=True)
class ParamLayout:
    """Names and shapes of the parameters, and whether the user passed a dict."""

    names: tuple[str, ...]
    shapes: tuple[tuple[int, ...], ...]
    is_dict: bool

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(int(np.prod(s, dtype=np.int64)) for s in self.shapes)

    @property
    def size(self) -> int:
        return sum(self.sizes)

    def flatten(self, tree: Mapping[str, NDArray]) -> NDArray:
        """Concatenate the parameters (in name order) into one float64 vector."""
        if not self.names:
            return np.zeros(0)
        return np.concatenate([np.asarray(tree[n], np.float64).ravel() for n in self.names])

    def unflatten(self, vec: NDArray) -> dict[str, NDArray]:
        out, start = {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            out[name] = vec[start : start + size].reshape(shape)
            start += size
        return out

    def to_user(self, tree: Mapping[str, Any]) -> Any:
        """The structure the user's functions expect: the dict, or the single array."""
        return dict(tree) if self.is_dict else tree[self.names[0]]

    def locate(self, flat_index: int) -> tuple[str, tuple[int, ...]]:
        """``(parameter name, entry index)`` of a flat index."""
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            if flat_index < size:
                return name, tuple(
                    int(i) for i in np.unravel_index(flat_index, shape)
                ) if shape else ()
            flat_index -= size
        raise IndexError(flat_index)

    def label(self, flat_index: int) -> str:
        """``w[0, 1]``-style label of a flat index."""
        return entry_label(*self.locate(flat_index))


def entry_label(name: str, idx: tuple[int, ...]) -> str:
    """``w[0, 1]`` for entry (0, 1) of ``w``; a 0-d parameter is just its name."""
    return f"{name}[{', '.join(map(str, idx))}]" if idx else name


def parse_params(
    params: Any, dtype: str, single: str = SINGLE
) -> tuple[ParamLayout, dict[str, NDArray]]:
    """Validate ``params`` (array or dict of arrays, 0-d allowed) and cast them to ``dtype``.

    A single array goes by the name ``single`` in messages and entry labels.
    """
    if isinstance(params, Mapping):
        if not params:
            raise InputError("params is an empty dict; pass at least one parameter array.")
        bad = [k for k in params if not isinstance(k, str)]
        if bad:
            raise InputTypeError(f"params keys must be strings, got {bad[0]!r}.")
        tree = {k: as_float_array(v, f"params[{k!r}]").astype(dtype) for k, v in params.items()}
        is_dict = True
    else:
        tree = {single: as_float_array(params, "params").astype(dtype)}
        is_dict = False
    for name, arr in tree.items():
        if not np.isfinite(arr).all():
            raise InputError(f"{name} contains NaN or Inf; gradients are checked at finite points.")
    if sum(a.size for a in tree.values()) == 0:
        raise InputError("params have no entries (size 0); pass at least one parameter value.")
    names = tuple(tree)
    return ParamLayout(names, tuple(tree[n].shape for n in names), is_dict), tree
