r"""One point of a gradient check: autodiff references, the rounding floor, tolerances, witnesses.

:class:`PointChecker` holds what stays fixed across the points that
:func:`gdcheck.check_gradient` looks at (the loss, the data each backend converted once, the
tolerance settings) and compares a handwritten gradient with autodiff at one point:

.. math:: |g_i - r_i| \le \tau_r |r_i| + \tau_a^{(i)}, \qquad
          \tau_r = 16\,\epsilon\sqrt{N}, \qquad
          \tau_a^{(i)} = 64\,\max(\nu_i,\ 0.01\max_{j \in p}\nu_j)

with ``ν`` the rounding floor measured by :meth:`PointChecker.rounding_floor`. Where the floor
is measured the point is also probed for a kink (:mod:`._kink`); at one, the floor comes from
a point beside it whose perturbations cross no kink, and the kink's entries stay out of the
point's diagnosis. The witnesses run on a background thread (:meth:`PointChecker.start_witnesses`).
"""

from __future__ import annotations

import functools
import importlib
import math
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._types import NDArray
from ..array_api import operation_hint
from ..errors import InputError
from ..params import ParamLayout
from ._background import BackgroundWork
from ._diagnosis import Diagnosis, diagnose
from ._kink import Kink, find_kink, floor_point, may_be_kink, without_kink
from ._ladder import LossEvaluator
from ._on_demand import consulted, held_back_note
from ._perturb import floor_plan, perturbed_data
from ._witness_run import WitnessRunner

POOL_WORKERS = 1
"""Background threads of a check: one. Its work (the backends' data, autodiff, the Taylor
ladder or the witnesses) runs in order beside yours; two threads beside your NumPy made
torch's and OpenBLAS's own thread pools contend for 2 cores (warm check at (1e4, 1e3):
64–72 ms with two, 45 ms with one; ``benchmarks/NOTES.md``)."""
RTOL_SAFETY = 16.0
ATOL_SAFETY = 64.0
FLOOR_SHARE = 0.01
"""An entry's floor is at least this share of its parameter's largest: a lucky small sample
cannot make the tolerance of one entry absurdly tight."""
NAMESPACE_HINT = (
    "write the loss against the array-API namespace: xp = gdcheck.namespace(params), then "
    "xp.sum, xp.exp, … instead of np.sum, np.exp, … so that it runs under every backend"
)


@dataclass
class PointCheck:
    """The comparison at one point."""

    params: dict[str, NDArray]
    yours: NDArray | None  # flat, float64
    reference: NDArray  # flat
    tolerance: NDArray  # flat, per entry
    abs_error: NDArray
    rel_error: float
    diagnosis: Diagnosis | None
    autodiff: dict[str, NDArray] = field(default_factory=dict)
    atol: dict[str, float] = field(default_factory=dict)
    floor_measured: bool = True
    kink: Kink | None = None
    """Where the loss is not differentiable at this point (:mod:`._kink`), or None."""


class PointChecker(BackgroundWork, WitnessRunner):
    """What stays fixed across points: the loss, data, backends and tolerance settings."""

    def __init__(
        self,
        loss: Callable[..., Any],
        layout: ParamLayout,
        data64: tuple,
        autodiff: list[Any],
        dtype: str,
        rtol: Any,
        atol: Any,
    ) -> None:
        self.loss, self.layout, self.data64, self.autodiff = loss, layout, data64, autodiff
        self.dtype, self.rtol_override, self.atol_override = dtype, rtol, atol
        self.failures: dict[str, str] = {}
        # Each backend's copy of the data, started at once in the background: JAX copies
        # NumPy buffers (they are not 64-byte aligned), which overlaps with the other work.
        for backend in autodiff:  # import here, not half-way on a background thread
            importlib.import_module(backend.name)
        self._pool = ThreadPoolExecutor(max_workers=POOL_WORKERS, thread_name_prefix="gdcheck")
        self.converted: dict[str, Future[tuple]] = {
            b.name: self._pool.submit(b.convert, data64) for b in autodiff
        }
        self.floor_measured = False
        self.notes: list[str] = []
        self.reference_name = ""
        self.last_rtol = 0.0
        self.last_atol: dict[str, float] = {}
        self.data_dims = [d for a in data64 if isinstance(a, np.ndarray) for d in a.shape]
        self.n_terms = max(self.data_dims, default=1)  # N of rtol: the largest data dimension
        self.given: NDArray | None = None  # the first point compared, probed for a kink

    # -- autodiff -------------------------------------------------------------------------
    def gradients(
        self, tree: dict[str, NDArray], data: tuple | None = None, only: str | None = None
    ) -> dict[str, NDArray]:
        """Flat float64 autodiff gradients per working backend (or only one) at ``tree``.

        A backend held back for speed (:mod:`._on_demand`: JAX beside PyTorch on large data)
        runs only where :func:`~._on_demand.consulted` says it is needed.
        """
        out = {}
        tree64 = {k: v.astype(np.float64) for k, v in tree.items()}
        for backend in self.autodiff:
            if backend.name in self.failures or (only is not None and backend.name != only):
                continue
            if not consulted(backend, self.data64, out, only):
                note = held_back_note(backend, self.data64, out)
                if note not in self.notes:
                    self.notes.append(note)
                continue
            try:
                if data is None:
                    native = self.converted[backend.name].result()
                else:
                    native = backend.convert(data)
                value, grads = backend.loss_and_grad(self.loss, tree64, self.layout.to_user, native)
            except Exception as exc:
                first_line = (
                    str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
                )
                hint = operation_hint(exc) or NAMESPACE_HINT
                if backend.name == "torch" and "dtype" in first_line:
                    hint = (
                        "torch does not mix integer and floating tensors in one operation; "
                        "pass floating data (e.g. X.astype(float))"
                    )
                self.failures[backend.name] = (
                    f"the loss failed under {backend.name}: {type(exc).__name__}: {first_line}. "
                    f"Hint: {hint}"
                )
                continue
            if np.asarray(value).size != 1:
                raise InputError(
                    f"the loss returned an array of shape {np.asarray(value).shape} under "
                    f"{backend.name}; it must return a scalar (reduce with xp.sum or xp.mean)."
                )
            if not np.isfinite(np.asarray(value, dtype=np.float64)).all():
                raise InputError(
                    f"the loss is {float(np.asarray(value))} at these params (under "
                    f"{backend.name}); gradients are checked where the loss is finite: check "
                    "the loss at this point or choose another."
                )
            out[backend.name] = self.layout.flatten(grads)
        return out

    # -- tolerance ------------------------------------------------------------------------
    def rounding_floor(
        self, tree: dict[str, NDArray], base: NDArray, rng: np.random.Generator
    ) -> NDArray:
        """ν: the reference gradient's response to relative ε-perturbations (random signs).

        Per entry, the largest of :func:`~._perturb.floor_samples` perturbations: one sample can come out
        small by chance, and each entry keeps its own floor (a large entry's rounding must
        not hide a mistake in a small one, such as the intercept).
        """
        eps = float(np.finfo(self.dtype).eps)
        flat = self.layout.flatten(tree)
        samples, small = floor_plan(self.data64)
        floor = np.zeros_like(base)
        for _ in range(samples):
            bumped = self.layout.unflatten(flat * (1 + eps * rng.choice((-1.0, 1.0), flat.size)))
            # the data as converted once; perturbed too when small
            data = perturbed_data(self.data64, eps, rng) if small else None
            moved = self.gradients(bumped, data, only=self.reference_name).get(self.reference_name)
            if moved is not None:
                floor = np.maximum(floor, np.abs(moved - base))
        return floor

    def tolerances(self, reference: NDArray, floor: NDArray, spread: NDArray) -> NDArray:
        eps = float(np.finfo(self.dtype).eps)
        rtol = _override(self.rtol_override, self.dtype)
        atol_fixed = _override(self.atol_override, self.dtype)
        self.last_rtol = RTOL_SAFETY * eps * math.sqrt(self.n_terms) if rtol is None else rtol
        per_entry = np.empty_like(reference)
        self.last_atol = {}
        noise = np.maximum(floor, spread)
        start = 0
        for name, size in zip(self.layout.names, self.layout.sizes, strict=True):
            sl = slice(start, start + size)
            start += size
            if atol_fixed is None:
                scale = float(np.abs(reference[sl]).max(initial=0.0))
                share = FLOOR_SHARE * float(noise[sl].max(initial=0.0))
                atol = np.maximum(
                    ATOL_SAFETY * np.maximum(noise[sl], share), max(eps * scale, 1e-300)
                )
            else:
                atol = np.full(size, atol_fixed)
            self.last_atol[name] = float(atol.max(initial=0.0))
            per_entry[sl] = atol
        return per_entry + self.last_rtol * np.abs(reference)

    # -- one point ------------------------------------------------------------------------
    def compare(
        self,
        tree: dict[str, NDArray],
        yours: dict[str, NDArray] | None,
        structure: Diagnosis | None,
    ) -> PointCheck:
        given, grads = self._is_given(tree), self._prefetched_or_new(tree)
        if grads:
            names = list(grads)
            self.reference_name = self.reference_name if self.reference_name in grads else names[0]
            ref = grads[self.reference_name]
            if not np.isfinite(ref).all():
                bad = self.layout.label(int(np.flatnonzero(~np.isfinite(ref))[0]))
                raise InputError(
                    f"the {self.reference_name} autodiff gradient is NaN or Inf at these params "
                    f"(first at {bad}): the loss or its derivative is not finite here; check the "
                    "loss at this point or choose another."
                )
            floor = None  # measured only when the tighter test without it does not settle it
        else:
            ref, floor = self.witness_reference(tree)
            names = []
        tol, disagreeing = self._judge(
            grads, names, ref, np.zeros_like(ref) if floor is None else floor
        )
        settled = (
            not disagreeing
            and structure is None
            and yours is not None
            and all(yours[n].shape == tree[n].shape for n in self.layout.names)
            and bool(np.all(np.abs(self.layout.flatten(yours) - ref) <= tol))
        )
        kink = None
        if floor is None and not settled:
            rng = np.random.default_rng(len(self.notes) + 7)
            floor = self.rounding_floor(tree, ref, rng)
            if grads and given:
                kink, floor = self._kink(tree, ref, floor, rng)
            tol, disagreeing = self._judge(grads, names, ref, floor, kink)
        self.floor_measured = floor is not None
        note = f"autodiff backends disagree: {', '.join(disagreeing)} vs {self.reference_name}"
        if disagreeing and not any(n.startswith(note) for n in self.notes):
            self.notes.append(note + ".")
        extras = {
            "autodiff": grads,
            "atol": dict(self.last_atol),
            "floor_measured": self.floor_measured,
            "kink": kink,
        }
        if structure is None and yours is not None:
            structure = self._shapes(yours, tree, ref, tol)
        if structure is not None or yours is None:
            nan = np.full_like(ref, np.nan)
            return PointCheck(tree, None, ref, tol, nan, float("inf"), structure, **extras)
        g = self.layout.flatten(yours)
        err = np.abs(g - ref)
        rel = float(err.max(initial=0.0)) / max(float(np.abs(ref).max(initial=0.0)), 1e-300)
        diagnosis = diagnose(
            self.layout,
            *without_kink(kink, g, ref, tol),
            self.data_dims,
            params=self.layout.flatten(tree),
            data=self.data64,
            ref=self.ref_label,
        )
        return PointCheck(tree, g, ref, tol, err, rel, diagnosis, **extras)

    def _kink(
        self, tree: dict[str, NDArray], ref: NDArray, floor: NDArray, rng: np.random.Generator
    ) -> tuple[Kink | None, NDArray]:
        """The kink at ``tree`` (:func:`._kink.find_kink`, four reference gradients, where
        :func:`._kink.may_be_kink`) and the rounding floor to use: at a kink, the floor
        measured beside it (:func:`._kink.floor_point`), since the floor at the kink measures
        the jumps."""
        flat = self.layout.flatten(tree)
        seed = len(self.notes) + 13
        if not may_be_kink(self._loss_rows, self.layout, flat, floor, ref, self.dtype, seed):
            return None, floor
        kink = find_kink(self._reference_at, self.layout, flat, ref, self.dtype, rng, floor)
        if kink is None:
            return None, floor
        beside = floor_point(self.layout, flat, self.dtype, rng)
        base = self._reference_at(beside)
        if base is None:
            return kink, floor
        kink.floor_beside = True
        return kink, self.rounding_floor(self.layout.unflatten(beside), base, rng)

    @functools.cached_property
    def _loss_rows(self) -> LossEvaluator:
        """The kink screen's losses at rows of points, with their dtype's ε: one batched torch
        pass on large data (one read of the data for every row), else NumPy's, row by row;
        made on first use, once per check."""
        return LossEvaluator(self.loss, self.layout, self.data64)

    def _is_given(self, tree: dict[str, NDArray]) -> bool:
        """Is ``tree`` the first point compared? Only it is probed for a kink: the random
        nearby points are smooth with probability 1."""
        flat = self.layout.flatten(tree)
        self.given = flat if self.given is None else self.given
        return bool(np.array_equal(flat, self.given))

    def _reference_at(self, flat: NDArray) -> NDArray | None:
        """The reference autodiff gradient at flat params, or None where it cannot be had."""
        try:
            grads = self.gradients(self.layout.unflatten(flat), only=self.reference_name)
        except InputError:  # the loss is not finite there
            return None
        return grads.get(self.reference_name)

    @property
    def ref_label(self) -> str:
        """How messages name the reference: autodiff's, or the witness that stands in for it."""
        if self.reference_name in ("complex step", "finite differences"):
            return (
                f"the {self.reference_name}' estimate"
                if self.reference_name.endswith("s")
                else f"the {self.reference_name}'s estimate"
            )
        return "autodiff's"

    def _judge(
        self,
        grads: dict[str, NDArray],
        names: list[str],
        ref: NDArray,
        floor: NDArray,
        kink: Kink | None = None,
    ) -> tuple[NDArray, list[str]]:
        """Per-entry tolerance, and the backends that disagree with the reference beyond it.

        Backends that agree widen the tolerance by their spread (another sample of rounding);
        one that does not is a disagreement for the witnesses to settle. At a kink's entries
        backends may follow different subgradient conventions: neither counts there.
        """
        tol = self.tolerances(ref, floor, np.zeros_like(ref))
        smooth = np.ones(ref.shape, bool) if kink is None else ~kink.mask
        disagreeing = [n for n in names if np.any((np.abs(grads[n] - ref) > tol) & smooth)]
        spread = np.zeros_like(ref)
        for other in names:
            if other not in disagreeing:
                spread = np.maximum(spread, np.where(smooth, np.abs(grads[other] - ref), 0.0))
        return self.tolerances(ref, floor, spread), disagreeing

    def _shapes(
        self, yours: dict[str, NDArray], tree: dict[str, NDArray], ref: NDArray, tol: NDArray
    ) -> Diagnosis | None:
        ref_tree = self.layout.unflatten(ref)
        tol_tree = self.layout.unflatten(tol)
        for name in self.layout.names:
            got, want = yours[name].shape, tree[name].shape
            if got == want:
                continue
            r = ref_tree[name]
            if got == want[::-1] and np.all(np.abs(yours[name] - r.T) <= tol_tree[name].T):
                return Diagnosis(
                    "transposed",
                    f"your gradient of {name} has shape {got}, the "
                    f"transpose of {want}, with the right values: return its transpose "
                    "(.T).",
                    entries={name: []},
                )
            same = yours[name].size == r.size and np.all(
                np.abs(yours[name].reshape(want) - r) <= tol_tree[name]
            )
            behind = ""
            if yours[name].size == r.size and not same:  # a second mistake behind the first
                fixed = {
                    n: (v.reshape(tree[n].shape) if v.size == tree[n].size else v)
                    for n, v in yours.items()
                }
                if all(fixed[n].shape == tree[n].shape for n in self.layout.names):
                    second = diagnose(
                        self.layout,
                        self.layout.flatten(fixed),
                        ref,
                        tol,
                        self.data_dims,
                        params=self.layout.flatten(tree),
                        data=self.data64,
                        ref=self.ref_label,
                    )
                    if second is not None:
                        behind = (
                            f" Once reshaped, a second mistake: {second.kind} — {second.message}"
                        )
            return Diagnosis(
                "wrong_shape",
                f"your gradient of {name} has shape {got}; expected "
                f"{want}"
                + (" (the values are right once reshaped)" if same else "")
                + "."
                + behind,
                entries={name: []},
            )
        return None


def _override(value: Any, dtype: str) -> float | None:
    if value is None:
        return None
    if isinstance(value, Mapping):
        return None if value.get(dtype) is None else float(value[dtype])
    return float(value)
