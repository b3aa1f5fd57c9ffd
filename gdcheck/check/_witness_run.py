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
from typing import TYPE_CHECKING, Any

import numpy as np

from .._types import NDArray
from ..backends._common import read_only
from ..errors import InputError
from ._kink import NOT_APPLICABLE, Kink, find_kink
from ._ladder import Ladder
from ._witnesses import (
    WitnessResult,
    axes,
    central_differences,
    complex_step,
    directions,
    ladder_differences,
)

if TYPE_CHECKING:
    from ._deferred import Deferred

WITNESS_DIRECTIONS = 2
"""Random directions for central differences when the complex step cannot run."""
COMPLEX_DIRECTIONS = 1
"""Random directions for the complex step, which central differences then follow."""
FEW_ENTRIES = 16
"""With at most this many parameter entries, witnesses run per entry by default."""
MAX_WITNESS_ENTRIES = 2_000
"""Without autodiff, witnesses per entry are the reference up to this many entries (one loss
evaluation per entry, or two), unless ``witnesses="entries"`` asks for them whatever the size."""
NO_BACKEND = "no autodiff backend is installed (pip install 'gdcheck[jax]' or 'gdcheck[torch]')"


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


def effective_mode(mode: str, entries: int) -> str:
    """``witnesses=`` as run: ``"auto"`` is per entry up to :data:`FEW_ENTRIES`, else along
    random directions."""
    if mode == "auto":
        return "entries" if entries <= FEW_ENTRIES else "directions"
    return mode


def doubted(checks: list[WitnessCheck], reference: str) -> bool:
    """Whether a witness that ran is farther than its tolerance from ``reference``'s gradient."""
    return any(c.witness.ran and c.autodiff_error.get(reference, 0.0) > 1.0 for c in checks)


LARGE_DATA_COMPLEX_STEP = (
    "not run on data this large: its complex copy of the data costs more than the rest of "
    "the check; the witness there is central differences along a random line"
)


class FromLadder:
    """The random-direction witnesses read from the Taylor test's ladder, when it is done.

    Central differences along its direction ``v`` (:func:`~._witnesses.ladder_differences`);
    the complex step is not run (:data:`LARGE_DATA_COMPLEX_STEP`). Same ``result()`` as the
    future of :meth:`WitnessRunner.start_witnesses`: ``(directions, [complex step, central
    differences])``.
    """

    def __init__(self, ladder: Future[Ladder] | Deferred) -> None:
        self.ladder = ladder

    def result(self) -> tuple[NDArray, list[WitnessResult]]:
        mode = "directions"
        cs = WitnessResult("complex step", mode, skipped=LARGE_DATA_COMPLEX_STEP)
        try:
            steps = self.ladder.result()
        except Exception as exc:
            cause = exc.__cause__ or exc  # the loss's own error, not gdcheck's wrapping of it
            reason = (
                f"the loss failed under NumPy along the witness's line ({type(cause).__name__}: "
                f"{cause}); write it with xp = gdcheck.namespace(params) so it runs on NumPy arrays"
            )
            return np.zeros((0, 0)), [cs, WitnessResult("finite differences", mode, skipped=reason)]
        fd = ladder_differences(steps.hs, steps.plus, steps.minus, steps.f0, mode)
        return steps.v[None, :], [cs, fd]


class WitnessRunner:
    """Witness orchestration for :class:`~gdcheck.check._point.PointChecker` (a mixin)."""

    layout: Any
    loss: Any
    data64: tuple
    failures: dict[str, str]
    notes: list[str]
    reference_name: str
    _pool: Any
    witness_mode: str = "auto"

    dtype: str

    def _reference_at(self, flat: NDArray) -> NDArray | None:  # provided by PointChecker
        raise NotImplementedError

    def probe_kink(self, point: Any) -> Kink | None:
        """The kink at a point whose floor was not measured (autodiff agreed with yours at once)
        but where a witness disagrees with autodiff: four reference gradients, or twelve."""
        if not point.autodiff:
            return None
        flat = self.layout.flatten(point.params)
        rng = np.random.default_rng(len(self.notes) + 11)
        return find_kink(self._reference_at, self.layout, flat, point.reference, self.dtype, rng)

    # -- without autodiff -----------------------------------------------------------------
    def numpy_loss(self) -> Any:
        """The loss as a function of the flat float64 parameters, run on the NumPy data."""
        data = read_only(self.data64)

        def f(flat: NDArray) -> Any:
            value = self.loss(self.layout.to_user(self.layout.unflatten(flat)), *data)
            if value is None:
                raise TypeError("the loss returned None")
            return (
                np.asarray(value).reshape(()) if np.asarray(value).size == 1 else np.asarray(value)
            )

        return f

    def witness_reference(self, tree: dict[str, NDArray]) -> tuple[NDArray, NDArray]:
        """Without a working autodiff backend: the complex step (or central differences) per
        entry, one loss evaluation per entry, capped at :data:`MAX_WITNESS_ENTRIES` unless
        ``witnesses="entries"`` lifts the cap (the cap is said in the error or in a note)."""
        reasons = "; ".join(self.failures.values()) or NO_BACKEND
        flat = self.layout.flatten(tree)
        fix = (
            "write the loss with gdcheck.namespace so that jax or torch can differentiate it"
            if self.failures
            else "install jax or torch (pip install 'gdcheck[torch]')"
        )
        if flat.size > MAX_WITNESS_ENTRIES and self.witness_mode != "entries":
            raise InputError(
                f"no autodiff backend could differentiate the loss: {reasons}. Without autodiff "
                "the reference is the complex step (or central differences) per entry, one loss "
                f"evaluation per entry, capped at {MAX_WITNESS_ENTRIES:,} entries; these params "
                f"have {flat.size:,}. To check them: {fix} (one gradient evaluation), or pass "
                "witnesses='entries' to run the per-entry reference anyway "
                f"({flat.size:,} loss evaluations a point)."
            )
        f = self.numpy_loss()
        try:
            np.asarray(f(flat))
        except Exception as exc:
            raise InputError(
                f"no autodiff backend could differentiate the loss, and it fails under numpy too "
                f"({type(exc).__name__}: {exc}): {reasons}"
            ) from None
        dirs = axes(flat.size)
        witness = complex_step(f, flat, dirs, "entries")
        if not witness.ran:
            witness = central_differences(f, flat, dirs, "entries")
        if self.reference_name != witness.name:
            self.notes.append(
                f"no autodiff backend could differentiate the loss (see above), so the "
                f"{witness.name} witness (per entry, no autodiff) is the reference"
            )
            if flat.size > MAX_WITNESS_ENTRIES:
                self.notes.append(
                    f"the per-entry reference ran over {flat.size:,} entries, above its "
                    f"{MAX_WITNESS_ENTRIES:,}-entry cap, because witnesses='entries' asked for "
                    f"it ({flat.size:,} loss evaluations a point): {fix} to have it from one "
                    "gradient evaluation"
                )
        self.reference_name = witness.name
        return witness.derivatives, witness.error_estimate

    # -- witnesses ------------------------------------------------------------------------
    def start_witnesses(
        self,
        tree: dict[str, NDArray],
        mode: str,
        rng: np.random.Generator,
        ladder: Future[Ladder] | Deferred | None = None,
    ) -> Future[tuple[NDArray, list[WitnessResult]]] | FromLadder:
        """Run the witnesses in the background: they need the loss and the data only.

        With ``ladder`` (the Taylor test's, started on large data) random-direction witnesses
        are its central differences instead (:class:`FromLadder`): no extra pass over the data.
        """
        self.witness_mode = mode
        mode = effective_mode(mode, self.layout.size)
        flat = self.layout.flatten(tree).astype(np.float64)
        # drawn with or without a ladder, so that the random stream stays the same
        dirs = directions(flat.size, mode, WITNESS_DIRECTIONS, rng)
        if ladder is not None and mode == "directions":
            return FromLadder(ladder)
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
        if point.kink is None and not point.floor_measured and doubted(checks, self.reference_name):
            point.kink = self.probe_kink(point)  # autodiff agreed at once: is the loss smooth here?
        if point.kink is not None:  # every witness steps across the kink
            return [
                WitnessCheck(
                    WitnessResult(w.name, w.mode, w.derivatives, w.error_estimate, NOT_APPLICABLE)
                )
                if w.ran
                else WitnessCheck(w)
                for w in results
            ]
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
