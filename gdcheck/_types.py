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


@runtime_checkable
class Model(Protocol):
    """A differentiable model with a handwritten gradient and update.

    ``cost`` is written once against the array-API namespace of its arguments, so every
    autodiff backend differentiates the very same function; ``gradient`` and ``update`` are
    the handwritten NumPy code under test.
    """

    name: str

    def prepare(self, X: Any, y: Any) -> tuple[NDArray, NDArray]: ...
    def init_params(self, X: NDArray) -> NDArray: ...
    def cost(self, w: Array, X: Array, y: Array) -> Array: ...
    def gradient(self, w: NDArray, X: NDArray, y: NDArray) -> NDArray: ...
    def update(self, w: NDArray, grad: NDArray, lr: float) -> NDArray: ...
    def term_scale(self, w: NDArray, X: NDArray, y: NDArray) -> NDArray: ...
    def n_terms(self, X: NDArray) -> int: ...
    def optimum(self, X: NDArray, y: NDArray) -> NDArray | None: ...
    def hessian(self, X: NDArray) -> NDArray | None: ...


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
    """One backend's own gradient descent: weights ``w_0 … w_K`` and the cost at each."""

    weights: NDArray  # (K+1, p)
    losses: NDArray  # (K+1,)
    grads: NDArray | None = None  # (K+1, p) where the backend records them
    diverged_at: int | None = None
    seconds: float = 0.0


@dataclass
class Shadow:
    """A backend's cost and gradient evaluated at the reference's own weights."""

    losses: NDArray  # (K+1,)
    grads: NDArray  # (K+1, p)
    seconds: float = 0.0


@runtime_checkable
class Backend(Protocol):
    """An adapter around one array library. The engine only ever talks to this protocol."""

    name: str
    install_hint: str

    def is_available(self) -> bool: ...
    def info(self, dtype: DTypeName) -> BackendInfo: ...
    def shadow(self, model: Model, X: NDArray, y: NDArray, weights: NDArray) -> Shadow: ...
    def trajectory(
        self, model: Model, X: NDArray, y: NDArray, w0: NDArray, lr: float, steps: int
    ) -> Trajectory: ...


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
