r"""The witnesses of one point, run on a background thread and compared with yours and autodiff's.

:class:`WitnessRunner` is the part of :class:`~gdcheck.check._point.PointChecker` that starts
the autodiff-free witnesses (:mod:`._witnesses`) as soon as the loss and data are known, then
scales each one's distance from your gradient and from every autodiff gradient by the
tolerance along its directions,

.. math:: e = \max_k \frac{|v_k\cdot g - d_k|}{|v_k|\cdot\tau + \hat\delta_k},

(``d_k`` the witness's derivative along ``v_k``, ``δ̂_k`` its own error estimate): ``e ≤ 1``
agrees. When autodiff backends disagree, the best witness picks the reference.
"""

from __future__ import annotations

from concurrent.futures import Future
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._types import NDArray
from ._witnesses import WitnessResult, central_differences, complex_step, directions

WITNESS_DIRECTIONS = 2
"""Random directions for central differences when the complex step cannot run."""
COMPLEX_DIRECTIONS = 1
"""Random directions for the complex step, which central differences then follow."""
FEW_ENTRIES = 16
"""With at most this many parameter entries, witnesses run per entry by default."""


@dataclass
class WitnessCheck:
    """One witness: its directional derivatives and how far yours and autodiff's are from them."""

    witness: WitnessResult
    yours_error: float = float("nan")
    """max over directions of |g·v − d| / (|v|·τ + the witness's own error estimate); ≤ 1 agrees."""
    autodiff_error: dict[str, float] = field(default_factory=dict)

    @property
    def agrees_with_yours(self) -> bool:
        return self.witness.ran and self.yours_error <= 1.0


class WitnessRunner:
    """Witness orchestration for :class:`~gdcheck.check._point.PointChecker` (a mixin)."""

    layout: Any
    notes: list[str]
    reference_name: str
    _pool: Any

    def numpy_loss(self) -> Any:  # provided by PointChecker
        raise NotImplementedError

    # -- witnesses ------------------------------------------------------------------------
    def start_witnesses(
        self, tree: dict[str, NDArray], mode: str, rng: np.random.Generator
    ) -> Future[tuple[NDArray, list[WitnessResult]]]:
        """Run the witnesses in the background: they need the loss and the data only."""
        if mode == "auto":
            mode = "entries" if self.layout.size <= FEW_ENTRIES else "directions"
        flat = self.layout.flatten(tree).astype(np.float64)
        dirs = directions(flat.size, mode, WITNESS_DIRECTIONS, rng)
        return self._pool.submit(self._witness_estimates, flat, dirs, mode)

    def _witness_estimates(
        self, flat: NDArray, dirs: NDArray, mode: str
    ) -> tuple[NDArray, list[WitnessResult]]:
        f = self.numpy_loss()
        try:
            f0 = np.asarray(f(flat))
        except Exception as exc:
            reason = f"the loss failed under numpy ({type(exc).__name__}: {exc})"
            return dirs, [
                WitnessResult(n, mode, skipped=reason)
                for n in ("complex step", "finite differences")
            ]
        if f0.size != 1:
            reason = f"the loss returned shape {f0.shape} under numpy, not a scalar"
            return dirs, [
                WitnessResult(n, mode, skipped=reason)
                for n in ("complex step", "finite differences")
            ]
        f0_real = float(f0.real)
        # Along random directions the complex step takes one (for large data its complex
        # arithmetic costs several real evaluations) and central differences follow it there,
        # two evaluations with the complex step as truncation estimate; without the complex
        # step they take WITNESS_DIRECTIONS directions with Richardson's estimate.
        cs_dirs = dirs[:COMPLEX_DIRECTIONS] if mode == "directions" else dirs
        cs = complex_step(f, flat, cs_dirs, mode)
        try:
            if cs.ran and mode == "directions":
                fd = central_differences(f, flat, cs_dirs, mode, f0_real, cs.derivatives)
            else:
                fd = central_differences(f, flat, dirs, mode, f0_real)
        except Exception as exc:  # the loss fails a step away from the point
            fd = WitnessResult(
                "finite differences",
                mode,
                skipped=(
                    f"the loss failed a small step away from the point ({type(exc).__name__}: {exc})"
                ),
            )
        if cs.ran and fd.ran and mode == "entries":
            gap = np.abs(cs.derivatives - fd.derivatives)
            if np.any(gap > 10 * fd.error_estimate + 1e-8 * np.abs(fd.derivatives)):
                cs = WitnessResult(
                    "complex step",
                    mode,
                    skipped=(
                        "it disagrees with central differences: the loss likely compares or takes "
                        "abs/max of complex values, where the complex step does not apply"
                    ),
                )
        return dirs, [cs, fd]

    def witness(
        self, point: Any, estimates: tuple[NDArray, list[WitnessResult]]
    ) -> list[WitnessCheck]:
        """Compare yours and each autodiff gradient with the witnesses' derivatives."""
        dirs, results = estimates
        checks = []
        for w in results:
            check = WitnessCheck(w)
            if w.ran:
                used = dirs[: len(w.derivatives)]
                tol_dir = np.maximum(np.abs(used) @ point.tolerance + w.error_estimate, 1e-300)
                if point.yours is not None:
                    check.yours_error = float(
                        np.max(np.abs(used @ point.yours - w.derivatives) / tol_dir)
                    )
                for name, g in point.autodiff.items():
                    check.autodiff_error[name] = float(
                        np.max(np.abs(used @ g - w.derivatives) / tol_dir)
                    )
            checks.append(check)
        self._arbitrate(checks)
        return checks

    def _arbitrate(self, checks: list[WitnessCheck]) -> None:
        """When autodiff backends disagree, take the one the best witness sides with."""
        if not any(n.startswith("autodiff backends disagree") for n in self.notes):
            return
        if any(
            n.startswith(f"the {c.witness.name} witness sides with")
            for c in checks
            for n in self.notes
        ):
            return
        best = next((c for c in checks if c.witness.ran), None)
        if best is None or not best.autodiff_error:
            return
        winner = min(best.autodiff_error, key=best.autodiff_error.get)
        self.notes.append(
            f"the {best.witness.name} witness sides with {winner} (scaled errors: "
            + ", ".join(f"{n} {e:.3g}" for n, e in best.autodiff_error.items())
            + ")."
        )
        self.reference_name = winner
