"""What every backend runs: one model on its prepared data, in one dtype, with one optimizer.

Weights travel between the engine and the backends as flat rows (the layout's order, see
:class:`gdcheck.params.ParamLayout`); the model's functions always receive the structure the
user's ``init`` returned (an array, or a dict of arrays).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import DTypeName, NDArray
from ..params import ParamLayout


@dataclass(frozen=True)
class Problem:
    model: Any  # gdcheck.Model
    data: tuple  # as the model's prepare returned it; floating arrays in ``dtype``
    layout: ParamLayout
    dtype: DTypeName
    optimizer: Any  # gdcheck.optim.Optimizer: what the libraries run
    lr: float
    w0: NDArray  # flat, in ``dtype``

    def user(self, flat: NDArray) -> Any:
        """The flat row as the user's structure (NumPy)."""
        return self.layout.to_user(self.layout.unflatten(np.asarray(flat)))

    def flat(self, params: Any) -> NDArray:
        """The user's structure (any library's arrays) as one flat NumPy row in ``dtype``."""
        tree = params if self.layout.is_dict else {self.layout.names[0]: params}
        parts = [np.asarray(_numpy(tree[n]), dtype=self.dtype).ravel() for n in self.layout.names]
        return np.concatenate(parts) if parts else np.zeros(0, self.dtype)


def unflatten_with(layout: ParamLayout, flat: Any) -> Any:
    """The user's structure from a flat row of any array library (slicing and reshape only)."""
    out, start = {}, 0
    for name, shape, size in zip(layout.names, layout.shapes, layout.sizes, strict=True):
        out[name] = flat[start : start + size].reshape(shape)
        start += size
    return layout.to_user(out)


def flatten_with(layout: ParamLayout, params: Any, concat: Callable[[list], Any]) -> Any:
    """One flat row of the user's structure, in the structure's own library."""
    tree = params if layout.is_dict else {layout.names[0]: params}
    return concat([tree[n].reshape(-1) for n in layout.names])


def _numpy(value: Any) -> Any:
    if hasattr(value, "detach"):
        return value.detach().cpu().numpy()
    return value
