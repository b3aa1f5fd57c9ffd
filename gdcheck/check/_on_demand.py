r"""A second autodiff backend that runs only when it is needed: JAX beside PyTorch.

PyTorch answers at once on a new shape (eager autograd: no compilation) and reads NumPy data
without a copy. JAX, the second opinion, costs a compilation at every new shape (~0.15 s) and
an aligned copy of the data (another X in memory; 0.2 s for 80 MB). So, by default (no
``backends=`` given) with both installed, :class:`OnDemand` holds JAX back, and
:func:`consulted` runs it

* when the data are small (at most :data:`BOTH_UP_TO` elements): the result then lists both
  backends' gradients, as it always has;
* when no eager backend produced a gradient (PyTorch is missing or cannot run the loss);
* when asked for by name (``only="jax"``);
* from the moment :func:`release` is called (a caller that wants the second opinion after
  all: the witnesses or your gradient disagree with PyTorch).

Above that size the autodiff-free witnesses (complex step, central differences) are the
independent second opinion on PyTorch, and the result says that JAX was not consulted.
Asking for ``backends=("jax",)`` or ``("jax", "torch")`` runs JAX as always.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BOTH_UP_TO = 1_000_000
"""Data elements up to which JAX runs beside PyTorch by default."""


class OnDemand:
    """``backend`` behind the same methods; its data are converted on its first call."""

    on_demand = True

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        self.name = backend.name
        self._source: tuple | None = None
        self._native: tuple | None = None

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.backend, attr)

    def convert(self, data: tuple) -> tuple:
        """The data unchanged: the real conversion waits for :meth:`loss_and_grad`."""
        return data

    def loss_and_grad(self, loss: Any, tree: dict, to_user: Any, data: tuple) -> Any:
        if data is not self._source:
            self._source, self._native = data, self.backend.convert(data)
        return self.backend.loss_and_grad(loss, tree, to_user, self._native)


def consulted(backend: Any, data64: tuple, answered: dict, only: str | None) -> bool:
    """Whether ``backend`` runs now (always, unless it is :class:`OnDemand`; see the module)."""
    if not getattr(backend, "on_demand", False) or only == backend.name or not answered:
        return True
    return sum(a.size for a in data64 if isinstance(a, np.ndarray)) <= BOTH_UP_TO


def release(backends: list[Any]) -> bool:
    """Let every held-back backend run from now on; True if one was held back."""
    held = [b for b in backends if getattr(b, "on_demand", False)]
    for b in held:
        b.on_demand = False
    return bool(held)


def held_back_note(backend: Any, data64: tuple, answered: dict) -> str:
    """The note that says why ``backend`` did not run, and how to ask for it."""
    size = sum(a.size for a in data64 if isinstance(a, np.ndarray))
    return (
        f"{backend.name} was not consulted: {', '.join(answered)} answered, and for data this "
        f"large "
        f"({size:,} elements > {BOTH_UP_TO:,}) the witnesses are the second opinion; pass "
        f"backends=({', '.join(repr(n) for n in (*answered, backend.name))}) for both"
    )
