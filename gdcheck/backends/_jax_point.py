"""JAX's gradient of a user's loss at one point (:func:`gdcheck.check_gradient`): one compiled
``value_and_grad``, kept per loss and structure, the data passed as arguments; a loss that
cannot be traced runs eagerly. The trajectory checks are :mod:`.jax_backend`'s."""

from __future__ import annotations

from typing import Any

import numpy as np

from .._types import NDArray
from ._common import aligned_astype


def loss_and_grad_jax(loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple) -> Any:
    """``(loss, {name: gradient})`` of a user's loss by ``jax.value_and_grad``, in float64.

    ``data`` comes from :meth:`~.jax_backend.JaxBackend.convert`. One ``jax.jit`` of the whole
    ``value_and_grad``, the data passed as arguments: a first call at a new shape compiles one
    XLA program instead of dispatching (and compiling) each primitive on its own, which is
    what the user waits for in a one-point check (see ``benchmarks/NOTES.md``). The compiled
    function is kept per (loss, structure), so a second check of the same loss at the same
    shapes is one call. A loss that cannot be traced (Python control flow on values) runs
    eagerly, op by op, as before.
    """
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        order = list(tree)  # JAX hands a dict back with sorted keys: restore the user's order
        params = {k: jnp.asarray(v, jnp.float64) for k, v in tree.items()}
        try:
            fn = _compiled_value_and_grad(loss, to_user, tuple(order))
            value, grads = fn(params, *data)
        except jax.errors.JAXTypeError:
            value, grads = _eager_value_and_grad(loss, to_user, order, params, data)
        return np.asarray(value), {k: np.asarray(g, np.float64) for k, g in grads.items()}


_COMPILED: dict[Any, Any] = {}
_COMPILED_MAX = 16


def _compiled_value_and_grad(loss: Any, to_user: Any, order: tuple[str, ...]) -> Any:
    import jax

    try:
        # A bound method compares its instance by identity, and each check builds its own
        # layout: key on the (frozen, value-compared) layout itself, or every call recompiles.
        # The trace bakes in what the loss closes over: the cells' contents and the defaults
        # are part of the key (a module-level value that changes between checks is not: pass
        # it as data).
        owner = getattr(to_user, "__self__", None)
        cells = tuple(_cell_token(c) for c in getattr(loss, "__closure__", None) or ())
        defaults = tuple(_token(d) for d in getattr(loss, "__defaults__", None) or ())
        key = (loss, cells, defaults, getattr(to_user, "__func__", to_user), owner, order)
        hash(key)
    except TypeError:
        key = None
    if key is not None and key in _COMPILED:
        return _COMPILED[key]

    def value(t: Any, *data: Any) -> Any:
        return loss(to_user({k: t[k] for k in order}), *data)

    fn = jax.jit(jax.value_and_grad(value))
    if key is not None:
        if len(_COMPILED) >= _COMPILED_MAX:
            _COMPILED.pop(next(iter(_COMPILED)))
        _COMPILED[key] = fn
    return fn


def _cell_token(cell: Any) -> Any:
    try:
        return _token(cell.cell_contents)
    except ValueError:  # a cell not yet bound
        return ("empty",)


def _token(value: Any) -> Any:
    """A value's cache token: itself when hashable (a number, a string), else its id (an array
    changed in place between checks is not seen: pass it as data)."""
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))
    return value


def _eager_value_and_grad(loss: Any, to_user: Any, order: list, params: dict, data: tuple) -> Any:
    import jax

    return jax.value_and_grad(lambda t: loss(to_user({k: t[k] for k in order}), *data))(params)


def to_jax_array(value: Any, dtype: Any = np.float64, device: Any = None) -> Any:
    """A JAX array (floating arrays in ``dtype``) sharing memory with ``value`` where possible;
    anything but a NumPy array as it is. ``device``: None for JAX's default.

    JAX can alias a NumPy buffer only when it is C-contiguous and 64-byte aligned; NumPy's large
    allocations are 16-byte aligned, so such data is first copied once into an aligned buffer
    (a plain memcpy, about 3× cheaper than JAX's own conversion), cast on the way when its
    dtype is not ``dtype``: one copy, never two.
    """
    import jax

    if not isinstance(value, np.ndarray):
        return value
    target = dtype if np.issubdtype(value.dtype, np.floating) else value.dtype
    return jax.device_put(aligned_astype(value, target), device, may_alias=True)
