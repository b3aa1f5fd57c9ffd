"""gdcheck: cross-check handwritten gradients against autodiff, step by step, and name the mistake.

>>> import gdcheck
>>> X, y = gdcheck.data.tutorial(seed=0)
>>> run = gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, steps=100, backends=("numpy",))
>>> run.passed
True

The public names load on first use (PEP 562), so importing a submodule — the pytest plugin's
hooks, the command line — costs no NumPy until something needs it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

_EXPORTS: dict[str, str] = {
    "BackendUnavailable": "errors",
    "CrossCheckResult": "trajectory",
    "GdcheckError": "errors",
    "GradientCheck": "check",
    "Model": "models",
    "TaylorTest": "check",
    "GradientMismatch": "errors",
    "InputError": "errors",
    "Tolerance": "_types",
    "assert_gradient": "check",
    "check_gradient": "check",
    "crosscheck": "trajectory",
    "namespace": "array_api",
    "taylor_test": "check",
}
_SUBMODULES = ("data", "distributed", "explain", "models", "optim", "testing")

__all__ = [
    "BackendUnavailable",
    "CrossCheckResult",
    "GdcheckError",
    "GradientCheck",
    "GradientMismatch",
    "InputError",
    "Model",
    "TaylorTest",
    "Tolerance",
    "__version__",
    "assert_gradient",
    "check_gradient",
    "crosscheck",
    "data",
    "distributed",
    "explain",
    "models",
    "namespace",
    "optim",
    "taylor_test",
    "testing",
]
assert set(__all__) == {"__version__", *_EXPORTS, *_SUBMODULES}

if TYPE_CHECKING:
    from . import data, distributed, explain, models, optim, testing
    from ._types import Tolerance
    from .array_api import namespace
    from .check._api import assert_gradient, check_gradient
    from .check._result import GradientCheck
    from .errors import BackendUnavailable, GdcheckError, GradientMismatch, InputError
    from .trajectory._engine import crosscheck
    from .trajectory._result import CrossCheckResult


def __getattr__(name: str) -> Any:
    if name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    elif name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    else:
        raise AttributeError(f"module 'gdcheck' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
