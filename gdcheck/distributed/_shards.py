r"""Split a model's prepared data into W shards along the examples axis, and combine gradients.

With :math:`m` examples over :math:`W` workers, shard :math:`i` holds :math:`m_i` consecutive
examples, :math:`m_i = \lceil m/W \rceil` for the first :math:`m \bmod W` shards and
:math:`\lfloor m/W \rfloor` for the rest (``numpy.array_split``), so shards are unequal when
:math:`W \nmid m`. For a cost that is a mean over examples plus a term of the weights alone,

.. math::

    C(w) = \frac{1}{m}\sum_{j=1}^{m} \ell_j(w) + R(w)
         = \sum_{i=1}^{W} \frac{m_i}{m}\, C_i(w), \qquad
    C_i(w) = \frac{1}{m_i}\sum_{j \in i} \ell_j(w) + R(w),

since :math:`\sum_i m_i/m = 1`; hence the global gradient is the shard gradients weighted by
shard size, :math:`\nabla C = \sum_i (m_i/m)\,\nabla C_i` (:func:`combine`). The plain mean of
shard means, :math:`\frac1W\sum_i \nabla C_i`, equals it only when the shards are equal.

The examples axis follows the model's layout (``model.info["layout"]``): the last axis for the
columns layout of ``linear_regression`` and ``ridge`` (``X`` (n+1, m), ``y`` (1, m)), the
first for the rows models. An array without an axis of length ``m`` there is replicated.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from .._words import counted
from ..errors import InputError, InputTypeError


def examples_axis(model: Any) -> int:
    """``-1`` for a columns layout (features × examples), ``0`` otherwise (rows).

    ``model.info["layout"]`` says which: ``"columns …"`` or ``"features x examples"`` (the
    tutorial's and ridge's wording) are columns; anything else, or none, is rows.
    """
    layout = str(getattr(model, "info", {}).get("layout", "rows")).lower()
    columns = layout.startswith("columns") or "features x examples" in layout
    return -1 if columns or "features × examples" in layout else 0


@dataclass(frozen=True)
class Shards:
    """The prepared data cut into ``W`` pieces: ``data[i]`` is worker ``i``'s tuple (views of
    the data, no copies)."""

    axis: int
    m: int
    sizes: tuple[int, ...]
    starts: tuple[int, ...]
    data: tuple[tuple, ...]
    split: tuple[bool, ...]
    """Per data argument: True where it was cut along the examples axis (else replicated)."""

    @property
    def world_size(self) -> int:
        return len(self.sizes)

    @property
    def weights(self) -> NDArray:
        """:math:`m_i / m`, float64."""
        return np.asarray(self.sizes, np.float64) / self.m


def n_examples(data: tuple, axis: int) -> int:
    """``m``: the length of the examples axis of the first array argument."""
    for d in data:
        if isinstance(d, np.ndarray) and d.ndim:
            return int(d.shape[axis])
    raise InputError(
        "crosscheck_parallel: none of the data arguments is an array; pass the examples as "
        "NumPy arrays so that they can be split over workers."
    )


def split(data: tuple, axis: int, workers: int) -> Shards:
    """Cut ``data`` (after ``model.prepare``) into ``workers`` shards along ``axis``."""
    if isinstance(workers, bool) or not isinstance(workers, int | np.integer):
        raise InputTypeError(
            f"crosscheck_parallel: workers must be an int (the world size W), got "
            f"{type(workers).__name__}."
        )
    workers = int(workers)
    m = n_examples(data, axis)
    if not 1 <= workers <= m:
        raise InputError(
            f"crosscheck_parallel: workers={workers} for {counted(m, 'example')}; pass 1 <= workers <= {m} "
            "(every worker needs at least one example)."
        )
    cut = tuple(isinstance(d, np.ndarray) and d.ndim > 0 and d.shape[axis] == m for d in data)
    bounds = np.cumsum([0] + [len(a) for a in np.array_split(np.arange(m), workers)])
    shards = []
    for i in range(workers):
        lo, hi = int(bounds[i]), int(bounds[i + 1])
        shards.append(
            tuple(_cut(d, axis, lo, hi) if c else d for d, c in zip(data, cut, strict=True))
        )
    sizes = tuple(int(b - a) for a, b in itertools.pairwise(bounds))
    return Shards(axis, m, sizes, tuple(int(b) for b in bounds[:-1]), tuple(shards), cut)


def _cut(a: NDArray, axis: int, lo: int, hi: int) -> NDArray:
    """Examples ``lo:hi`` along ``axis``: a view, no copy (a memory map stays one)."""
    index = [slice(None)] * a.ndim
    index[axis] = slice(lo, hi)
    return a[tuple(index)]


def combine(shard_grads: list[NDArray], sizes: list[int]) -> NDArray:
    r"""The correct combination, :math:`\sum_i (m_i/m)\, g_i`, of flat shard gradients."""
    m = float(sum(sizes))
    out = np.zeros_like(np.asarray(shard_grads[0], np.float64))
    for g, mi in zip(shard_grads, sizes, strict=True):
        out = out + (mi / m) * np.asarray(g, np.float64)
    return out.astype(np.asarray(shard_grads[0]).dtype)
