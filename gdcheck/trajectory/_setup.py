"""What the engine hands every backend: the :class:`~gdcheck.backends._problem.Problem` (the
model's prepared data, ``init``'s params, the gradient's structure checked at step 0) and the
optimizer the handwritten update claims."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._types import NDArray
from ..backends._common import aligned_astype
from ..backends._problem import Problem
from ..check._grad_output import call_grad
from ..errors import InputError, InputTypeError
from ..models._model import Model
from ..params import parse_params
from ..validation import check_finite


def resolve_optimizer(optimizer: Any) -> Any:
    from .. import optim

    if optimizer is None:
        return optim.sgd()
    if not isinstance(optimizer, optim.Optimizer):
        named = isinstance(optimizer, str) and hasattr(optim, optimizer.strip().lower())
        raise InputTypeError(
            "optimizer must come from gdcheck.optim (sgd(), momentum(beta), adam(b1, b2, eps), "
            f"adamw(b1, b2, eps, weight_decay)); got {optimizer!r}."
            + (f" Did you mean gdcheck.optim.{optimizer.strip().lower()}()?" if named else "")
        )
    return optimizer


def build_problem(model: Model, data: tuple, dtype: str, optimizer: Any, lr: float) -> Problem:
    """Prepare the data, take ``init``'s params, and check the gradient's structure at step 0."""
    for field_name in ("loss", "grad", "init"):
        if not callable(getattr(model, field_name)):
            raise InputTypeError(f"model {model.name!r}: {field_name} must be a function.")
    if model.prepare is not None:
        prepared = model.prepare(*data)
        if not isinstance(prepared, tuple):
            prepared = (prepared,)
    else:
        prepared = tuple(_as_data(d, i) for i, d in enumerate(data))
    # Floating data in ``dtype``, C-contiguous and 64-byte aligned (JAX then shares the buffer,
    # torch.from_numpy always does): as prepared when they already are, else one blocked copy.
    prepared = tuple(
        aligned_astype(d, dtype)
        if isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.floating)
        else d
        for d in prepared
    )
    for i, d in enumerate(prepared):
        if isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.floating):
            _check_finite_blocked(d, f"data[{i}]")
    try:
        params = model.init(*prepared)
    except Exception as exc:
        raise InputError(f"model {model.name!r}: init raised {type(exc).__name__}: {exc}") from exc
    layout, tree = parse_params(params, dtype, single="w")
    with np.errstate(all="ignore"):  # only its structure is read here; the values at step 0
        # are the reference's, whose non-finite loss or gradient the engine explains
        _, structure = call_grad(model.grad, layout, tree, prepared)
    if structure is not None:
        raise InputError(f"model {model.name!r} at step 0: {structure.message}")
    w0 = layout.flatten(tree).astype(dtype)
    return Problem(model, prepared, layout, dtype, optimizer, lr, w0)  # type: ignore[arg-type]


def _check_finite_blocked(a: NDArray, name: str, block_bytes: int = 64 * 2**20) -> None:
    """:func:`~gdcheck.validation.check_finite`, without a mask of the whole array (big data)."""
    if a.ndim == 0 or a.size == 0:
        check_finite(a, name)
        return
    rows = max(1, block_bytes // max(1, a.itemsize * (a.size // max(1, a.shape[0]))))
    for start in range(0, a.shape[0], rows):
        if not np.isfinite(a[start : start + rows]).all():
            check_finite(a, name)  # the message, with the count and the first index


def _as_data(value: Any, i: int) -> Any:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, (np.ndarray, list, tuple)):
        arr = np.asarray(value)
        if arr.dtype == object or np.iscomplexobj(arr):
            raise InputTypeError(f"data[{i}] is not a real numeric array (dtype {arr.dtype}).")
        return arr
    return value


def n_examples(data: tuple) -> int:
    """N of the tolerance: the number of terms summed, taken as the largest data dimension."""
    return max((d for a in data if isinstance(a, np.ndarray) for d in a.shape), default=1)
