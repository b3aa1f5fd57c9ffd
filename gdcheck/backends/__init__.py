"""Backends: adapters behind the :class:`~gdcheck._types.Backend` protocol.

The engine asks this registry for backends by name and never imports a library itself.
Heavy libraries are imported inside each adapter's methods, on first use.
"""

from __future__ import annotations

from .._types import Backend
from ..errors import BackendUnavailable
from .jax_backend import JaxBackend
from .numpy_backend import NumpyBackend
from .torch_backend import TorchBackend

REFERENCE = "numpy"
_REGISTRY: dict[str, Backend] = {b.name: b for b in (NumpyBackend(), JaxBackend(), TorchBackend())}
NAMES: tuple[str, ...] = tuple(_REGISTRY)


def get(name: str) -> Backend:
    """The backend called ``name``; raises :class:`BackendUnavailable` with an install hint."""
    backend = _REGISTRY[name]
    if not backend.is_available():
        raise BackendUnavailable(
            f"backend {name!r} is not installed; install it with: {backend.install_hint}"
        )
    return backend


def resolve(requested: tuple[str, ...] | None) -> tuple[list[Backend], list[str]]:
    """Backends to run, and notes about the ones skipped.

    Asked for by name, a missing backend is an error. With ``requested=None`` (all), missing
    ones are skipped with a note saying how to install them, and the others still run.
    """
    if requested is not None:
        return [get(n) for n in requested], []
    found, notes = [], []
    for name, backend in _REGISTRY.items():
        if backend.is_available():
            found.append(backend)
        else:
            notes.append(f"backend {name!r} skipped: not installed ({backend.install_hint})")
    return found, notes


__all__ = ["NAMES", "REFERENCE", "get", "resolve"]
