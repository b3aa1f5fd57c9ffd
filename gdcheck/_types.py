"""Type aliases and protocols shared by the engine, models and backends (one place for types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

Array = Any
"""An array of any array-API library: NumPy, JAX or PyTorch."""

NDArray = npt.NDArray[np.floating]
DTypeName = Literal["float32", "float64"]
DTYPES: tuple[DTypeName, ...] = ("float32", "float64")


@dataclass(frozen=True)
class BackendInfo:
    """What a backend ran with: the facts that explain a rounding-level difference."""

    name: str
    library: str
    version: str
    device: str
    dtype: str
    matmul_precision: str
    gradient: str
    update: str
    effective_eps: float
    notes: tuple[str, ...] = ()


@dataclass
class Trajectory:
    """One backend's own training run: flat weights ``w_0 … w_K`` and the loss at each."""

    weights: NDArray  # (K+1, p)
    losses: NDArray  # (K+1,)
    grads: NDArray | None = None  # (K+1, p) where the backend records them (the reference)
    diverged_at: int | None = None
    seconds: float = 0.0
    error: str | None = None
    """Why the backend stopped early (it raised), or None."""
    steps_at: NDArray | None = None
    """``crosscheck(record_every=K)``: the step index of each row (0, K, 2K, …, the last);
    None when every step is a row (row k is step k). ``diverged_at`` is always a step."""
    after: NDArray | None = None
    """The reference with K > 1: ``w_{t+1}`` after each recorded ``t`` below the last, (R−1, p)."""
    state: dict[str, NDArray] | None = None
    """The reference with K > 1: the claimed optimizer's textbook state (``gdcheck.optim``) fed
    the reference's gradients, at each recorded ``t``: ``{"step": (R,), slot: (R, p)}``."""


@dataclass
class Shadow:
    """A backend's loss and gradient evaluated at given (the reference's) weights."""

    losses: NDArray  # (K,)
    grads: NDArray  # (K, p)
    seconds: float = 0.0


@runtime_checkable
class Backend(Protocol):
    """An adapter around one array library. The engine only ever talks to this protocol.

    ``problem`` is a :class:`gdcheck.backends.Problem`: the model, its prepared data, the
    params' layout, the dtype, the optimizer and the learning rate. Weights are flat rows in
    the layout's order; every method returns NumPy arrays in the problem's dtype.
    """

    name: str
    install_hint: str

    def is_available(self) -> bool: ...
    def info(self, dtype: DTypeName, optimizer: Any = None) -> BackendInfo: ...
    def shadow(self, problem: Any, weights: NDArray, data: tuple | None = None) -> Shadow:
        """Loss and gradient at each row of ``weights`` (on ``data`` instead, when given)."""
        ...

    def trajectory(self, problem: Any, steps: int, record_every: int = 1) -> Trajectory:
        """The backend's own run: its gradient and its library's optimizer, from ``init``;
        rows at steps 0, K, 2K, … and the last (K = ``record_every``)."""
        ...

    def update_shadow(
        self, problem: Any, weights: NDArray, grads: NDArray, state: dict | None = None
    ) -> NDArray:
        """``w_{k+1}`` by the library's optimizer from ``w_k`` and the reference's ``g_k``
        (consecutive rows); with ``state`` (a :attr:`Trajectory.state`), one step from each
        row, the library's optimizer state set from it."""
        ...


@dataclass(frozen=True)
class Tolerance:
    """Allowed differences, as data.

    ``grad``: largest scaled gradient error ``max_i |g_i − r_i| / ‖S‖∞`` (S: size of the
    terms that make up the gradient). ``drift``: largest relative weight drift
    ``‖w_b − w_ref‖∞ / ‖w_ref‖∞`` between independent trajectories.
    """

    grad: float
    drift: float
    derivation: dict[str, Any] = field(default_factory=dict, compare=False)


@runtime_checkable
class Autodiff(Protocol):
    """A backend that differentiates a user's loss: ``(loss value, {name: gradient})`` in float64.

    ``convert`` turns the data into the backend's arrays once per check; ``loss_and_grad``
    takes what it returned.
    """

    name: str
    install_hint: str

    def is_available(self) -> bool: ...
    def convert(self, data: tuple) -> tuple: ...
    def loss_and_grad(
        self, loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple
    ) -> tuple[NDArray, dict[str, NDArray]]: ...
