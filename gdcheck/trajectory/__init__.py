"""Every step: the engine (shadow and independent checks), drift, and the result object."""

from ._engine import crosscheck as crosscheck
from ._result import BackendRun as BackendRun
from ._result import CrossCheckResult as CrossCheckResult
from ._result import Finding as Finding

__all__ = ["BackendRun", "CrossCheckResult", "Finding", "crosscheck"]
