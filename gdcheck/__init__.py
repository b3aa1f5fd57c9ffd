"""gdcheck: cross-check handwritten gradients against autodiff, step by step, and name the mistake.

>>> import gdcheck
>>> X, y = gdcheck.data.tutorial(seed=0)
>>> run = gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, steps=100, backends=("numpy",))
>>> run.passed
True
"""

__version__ = "0.1.0"

from . import data, models
from ._types import Tolerance
from .check import GradientCheck, assert_gradient, check_gradient
from .crosscheck import crosscheck
from .errors import BackendUnavailable, GdcheckError, GradientMismatch, InputError
from .namespace import namespace
from .result import CrossCheckResult

__all__ = [
    "BackendUnavailable",
    "CrossCheckResult",
    "GdcheckError",
    "GradientCheck",
    "GradientMismatch",
    "InputError",
    "Tolerance",
    "__version__",
    "assert_gradient",
    "check_gradient",
    "crosscheck",
    "data",
    "models",
    "namespace",
]
