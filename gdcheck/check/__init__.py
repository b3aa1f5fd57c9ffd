"""One point: :func:`check_gradient` — tolerance from the rounding floor, witnesses, diagnosis."""

from ._api import assert_gradient as assert_gradient
from ._api import check_gradient as check_gradient
from ._diagnosis import Diagnosis as Diagnosis
from ._result import GradientCheck as GradientCheck
from ._taylor import TaylorTest as TaylorTest
from ._taylor import taylor_test as taylor_test

__all__ = [
    "Diagnosis",
    "GradientCheck",
    "TaylorTest",
    "assert_gradient",
    "check_gradient",
    "taylor_test",
]
