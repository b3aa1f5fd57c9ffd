r"""Witnesses that use no autodiff at all: central finite differences and the complex step.

Both estimate directional derivatives :math:`\nabla L(p)\cdot v` from loss values alone, in
float64, along a few random unit directions ``v`` (cheap: two or three loss evaluations
each) or along every coordinate (one per entry) when asked or when the parameters are few.

* **Central differences** :math:`D_h = (L(p + hv) - L(p - hv)) / 2h` with
  :math:`h = \epsilon^{1/3}\max(1, \|p\|_\infty)`, balancing truncation :math:`O(h^2)` against
  rounding :math:`O(\epsilon |L| / h)`. Error estimate: :math:`2\epsilon\,\max|L| / h` plus
  the truncation, twice the distance to the complex step where that ran along the same
  direction, else ten times Richardson's :math:`|D_h - D_{2h}|/3` (two more evaluations).
* **Central differences from the Taylor test's ladder** (:func:`ladder_differences`): on
  large data the ladder :math:`L(p \pm h_k v)`, :math:`h_k = h_0/2^k`, that the Taylor test
  evaluates anyway gives :math:`D_{h_k}` along its direction at no extra pass over the data;
  the step with the smallest error estimate (Richardson's, as above, plus rounding) is taken.
* **Complex step** :math:`\operatorname{Im} L(p + i h v) / h` with :math:`h = 10^{-30}`: no
  subtraction, so exact to rounding for real-analytic losses (MSE, logistic, softmax). It
  needs a loss that accepts complex input; otherwise it is skipped and the reason recorded.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np

from .._types import NDArray

EPS = float(np.finfo(np.float64).eps)
COMPLEX_STEP = 1e-30


@dataclass
class WitnessResult:
    """Directional derivatives of one witness, or the reason it was skipped."""

    name: str
    mode: str  # "directions" or "entries"
    derivatives: NDArray = field(default_factory=lambda: np.zeros(0))  # (k,)
    error_estimate: NDArray = field(default_factory=lambda: np.zeros(0))  # (k,)
    skipped: str | None = None

    @property
    def ran(self) -> bool:
        return self.skipped is None


def directions(size: int, mode: str, count: int, rng: np.random.Generator) -> NDArray:
    """Unit directions: ``count`` random ones, or the coordinate axes for ``mode="entries"``."""
    if mode == "entries":
        return np.eye(size)
    v = rng.standard_normal((count, size))
    return v / np.linalg.norm(v, axis=1, keepdims=True)


class axes:  # lower case: it reads as the sequence it is, like range
    """The coordinate axes ``e_0 … e_{n-1}`` one at a time: per-entry witnesses over many
    entries without the ``n × n`` identity matrix in memory."""

    def __init__(self, size: int) -> None:
        self.size = size

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[NDArray]:
        for i in range(self.size):
            e = np.zeros(self.size)
            e[i] = 1.0
            yield e


def central_step(p: NDArray) -> float:
    r""":math:`h = \epsilon^{1/3}\max(1, \|p\|_\infty)`: truncation against rounding."""
    return EPS ** (1 / 3) * max(1.0, float(np.abs(p).max(initial=0.0)))


def central_differences(
    f: Callable[[NDArray], float],
    p: NDArray,
    dirs: NDArray | axes,
    mode: str,
    f0: float | None = None,
    exact: NDArray | None = None,
) -> WitnessResult:
    """Central differences of ``f`` (a float64 loss of the flat parameters) along ``dirs``.

    ``f0``, the loss at ``p``, saves an evaluation when the caller has it. ``exact``, the
    complex step's derivatives along the first ``len(exact)`` directions, replaces Richardson's
    estimate of the truncation error there (two evaluations a direction instead of four).
    """
    h = central_step(p)
    f0 = abs(float(f(p) if f0 is None else f0))
    d, est = np.empty(len(dirs)), np.empty(len(dirs))
    for k, v in enumerate(dirs):
        fp, fm = f(p + h * v), f(p - h * v)
        d[k] = (fp - fm) / (2 * h)
        biggest = max(f0, abs(fp), abs(fm))
        if exact is not None and k < len(exact):
            truncation = 2 * abs(d[k] - exact[k])
        else:  # ten times Richardson's estimate: it is itself only an estimate
            fp2, fm2 = f(p + 2 * h * v), f(p - 2 * h * v)
            truncation = 10 * abs(d[k] - (fp2 - fm2) / (4 * h)) / 3
            biggest = max(biggest, abs(fp2), abs(fm2))
        est[k] = truncation + 2 * EPS * biggest / h
    return WitnessResult("finite differences", mode, d, est)


def ladder_differences(
    hs: NDArray, plus: NDArray, minus: NDArray, f0: float, mode: str = "directions"
) -> WitnessResult:
    r"""Central differences along the ladder's direction, from its values alone (``f0``, the
    loss at the centre, only sizes the rounding term; NaN when the ladder did not evaluate it).

    :math:`D_k = (L(p + h_k v) - L(p - h_k v)) / 2h_k` with error estimate
    :math:`\tfrac{10}{3}|D_k - D_{k-1}| + 2\epsilon\max|L|/h_k` (``h_{k-1} = 2h_k``:
    Richardson's estimate of the truncation, ten times); the ``k`` with the smallest estimate.
    """
    with np.errstate(all="ignore"):
        d = (plus - minus) / (2 * hs)
        biggest = np.fmax(np.maximum(np.abs(plus), np.abs(minus)), abs(f0))  # f0 may be NaN
        est = np.full(len(hs), np.inf)
        est[1:] = 10 * np.abs(d[1:] - d[:-1]) / 3 + 2 * EPS * biggest[1:] / hs[1:]
    est[~np.isfinite(est) | ~np.isfinite(d)] = np.inf
    if not np.isfinite(est).any():
        return WitnessResult(
            "finite differences",
            mode,
            skipped="the loss is not finite at two consecutive steps of the Taylor test's ladder",
        )
    k = int(np.argmin(est))
    return WitnessResult("finite differences", mode, d[k : k + 1], est[k : k + 1])


def complex_step(
    f: Callable[[NDArray], object], p: NDArray, dirs: NDArray | axes, mode: str
) -> WitnessResult:
    """Complex-step derivatives of ``f`` along ``dirs``, or a skipped result saying why."""
    d = np.empty(len(dirs))
    scale = np.empty(len(dirs))
    for k, v in enumerate(dirs):
        try:
            value = np.asarray(f(p + 1j * COMPLEX_STEP * v))
        except Exception as exc:  # the loss does not take complex input
            return WitnessResult(
                "complex step",
                mode,
                skipped=(f"the loss does not accept complex input ({type(exc).__name__}: {exc})"),
            )
        if value.size != 1:
            return WitnessResult("complex step", mode, skipped="the loss did not return a scalar")
        if not np.iscomplexobj(value):
            return WitnessResult(
                "complex step",
                mode,
                skipped=(
                    "the loss returned a real value for complex input (it takes abs, compares or "
                    "casts), so the complex step does not apply"
                ),
            )
        d[k] = float(value.imag.ravel()[0]) / COMPLEX_STEP
        scale[k] = abs(float(value.real.ravel()[0]))
    return WitnessResult("complex step", mode, d, 4 * EPS * np.maximum(np.abs(d), 1e-300))
