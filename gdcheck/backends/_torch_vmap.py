r"""Batched evaluation through ``torch.func.vmap`` that reads shared data once per batch.

Under ``vmap``, torch lowers a product whose batched operand is a matrix with one row or one
column — the tutorial's :math:`w^\top X` with ``w`` of shape (n, 1), or :math:`X w` — to
``bmm`` against an expanded ``X``: one product per batched weight. Written with a vector
instead (``w[:, 0]``), the same product lowers to one matrix-matrix product over the whole
batch, :math:`W^\top X`, which reads ``X`` once (measured at (1001, 2e4) float32, 16
weights: 101 ms through ``bmm``, 33 ms as one product; ``benchmarks/NOTES.md``).

:class:`VectorProducts` is a ``TorchFunctionMode`` that makes that rewrite inside the
function it wraps: :math:`A B` with :math:`A` (1, k) becomes :math:`(a B)` with a leading
unit axis, and with :math:`B` (k, 1) becomes :math:`(A b)` with a trailing one. The dot
products are the same; only their summation order may differ, within rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

_MATMULS = frozenset({torch.matmul, torch.Tensor.matmul, torch.Tensor.__matmul__, torch.mm})


class VectorProducts(TorchFunctionMode):
    """Matrix products with a unit row or column, computed as matrix-vector products."""

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func in _MATMULS and not kwargs and len(args) == 2 and _tensors(*args):
            a, b = args
            if a.ndim == 2 and b.ndim == 2 and a.shape[0] == 1:
                return torch.matmul(a[0], b).unsqueeze(0)
            if a.ndim == 2 and b.ndim == 2 and b.shape[1] == 1:
                return torch.matmul(a, b[:, 0]).unsqueeze(1)
        return func(*args, **(kwargs or {}))


def with_vector_products(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn`` run inside :class:`VectorProducts`."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with VectorProducts():
            return fn(*args, **kwargs)

    return wrapped


def _tensors(a: Any, b: Any) -> bool:
    return isinstance(a, torch.Tensor) and isinstance(b, torch.Tensor)
