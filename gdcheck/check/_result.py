"""What :func:`~gdcheck.check_gradient` returns: :class:`GradientCheck`, its verdict, errors
and diagnosis, and how it prints (``str()``) and shows in a notebook."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .._types import NDArray
from ..params import ParamLayout
from ._diagnosis import Diagnosis
from ._kink import Kink
from ._report import render_check
from ._taylor import TaylorTest
from ._witness_run import WitnessCheck

__all__ = ["GradientCheck"]


@dataclass
class GradientCheck:
    """What :func:`check_gradient` found. ``passed`` is the verdict; ``str()`` explains it."""

    passed: bool
    dtype: str
    layout: ParamLayout
    yours: dict[str, NDArray] | None
    reference: dict[str, NDArray]
    reference_name: str
    autodiff: dict[str, dict[str, NDArray]]
    failures: dict[str, str]
    skipped: dict[str, str]
    abs_error: dict[str, NDArray]
    tolerance: dict[str, NDArray]
    rtol: float
    atol: dict[str, float]
    witnesses: list[WitnessCheck]
    diagnosis: Diagnosis | None
    points_checked: int
    notes: list[str]
    seconds: float
    taylor: list[TaylorTest | None] = field(default_factory=list)
    """The Taylor test of your gradient at each point checked (a second opinion beside the
    tolerance: order ≈ 2 right, ≈ 1 wrong); None where it could not run."""
    floor_measured: bool = True
    """False when your gradient already agreed within ``rtol`` and the backends' spread, so the
    rounding floor (which could only widen the tolerance) was not measured."""
    kink: Kink | None = None
    """Where the loss is not differentiable at the given point (``kink.labels``: ``W[3, 1]``, …),
    or None: that point is then not judged, nearby smooth points are (gdcheck/check/_kink.py)."""

    @property
    def max_abs_error(self) -> float:
        return max(
            (float(e.max(initial=0.0)) for e in self.abs_error.values()), default=float("nan")
        )

    @property
    def max_rel_error(self) -> float:
        r"""Norm-relative error with a floor: :math:`\max_p \|g_p - r_p\|_\infty / \max(\|r_p\|_\infty, \tau_a^{(p)})`."""
        if not self.abs_error or self.yours is None:
            return float("inf")  # nothing comparable came back (None, a wrong shape, …)
        worst = 0.0
        for name, err in self.abs_error.items():
            if not np.isfinite(err).all():
                return float("inf")
            floor = max(
                float(np.abs(self.reference[name]).max(initial=0.0)), self.atol[name], 1e-300
            )
            worst = max(worst, float(err.max(initial=0.0)) / floor)
        return worst

    @property
    def errors(self) -> dict[str, NDArray]:
        """Absolute error per parameter and entry (same shapes as the parameters)."""
        return self.abs_error

    def __str__(self) -> str:
        return render_check(self)

    def _repr_html_(self) -> str:
        """A notebook shows the verdict, the diagnosis and the errors per parameter."""
        from ._html import gradient_check_html

        return gradient_check_html(self)

    def __repr__(self) -> str:
        kind = self.diagnosis.kind if self.diagnosis else None
        return (
            f"GradientCheck(passed={self.passed}, dtype={self.dtype!r}, "
            f"max_rel_error={self.max_rel_error:.3g}, diagnosis={kind!r})"
        )
