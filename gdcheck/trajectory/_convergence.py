r"""Has the run converged? The verdict beside the agreement verdict (issue 12).

Agreement says the handwritten gradient computes what autodiff computes; convergence says
whether the training it ran got where it was going. They are independent: a correct gradient
with too few steps agrees and has not converged.

**Distance.** Where the model has a closed-form optimum :math:`w^*` (least squares, ridge)
the distance is :math:`d_t = \|w_t - w^*\|_2 / \|w^*\|_2` (absolute when :math:`w^* = 0`);
otherwise it is the gradient norm's decrease :math:`d_t = \|g_t\|_2 / \|g_0\|_2`. The run has
converged when :math:`d_K \le` :data:`TOLERANCE` for its dtype.

**Contraction.** For plain gradient descent on a quadratic cost with Hessian :math:`H`,
:math:`w_{t+1} - w^* = (I - \eta H)(w_t - w^*)`, so each eigendirection shrinks by
:math:`|1 - \eta\lambda_i|` a step and the whole error by at most

.. math:: \rho = \max_i |1 - \eta \lambda_i|,

stable iff :math:`\eta < 2/\lambda_{\max}`. The steps still needed are
:math:`\lceil \log(\mathrm{tol}/d_K) / \log\rho \rceil`. At :math:`\eta\lambda_{\max} \approx 2`,
:math:`\rho \approx 1` and the stiffest direction flips sign each step without shrinking: the
run oscillates at the bound. The best fixed step minimises :math:`\rho`:
:math:`\eta^* = 2/(\lambda_{\min} + \lambda_{\max})`, with
:math:`\rho^* = (\kappa - 1)/(\kappa + 1)`, :math:`\kappa = \lambda_{\max}/\lambda_{\min}`.
Without a Hessian (or with another optimizer) :math:`\rho` is measured: the geometric mean
decrease of :math:`d_t` over the last quarter of the run.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..errors import InputError
from ..report.text import apart

TOLERANCE = {"float64": 1e-6, "float32": 1e-4}
"""Relative distance (or gradient-norm decrease) at which a run counts as converged, by dtype:
float32 cannot resolve a relative distance much below ~1e-6 on a well-conditioned problem."""

AT_BOUND = 1e-3
"""|η·λmax − 2| below this (relative to 2) is "at the stability bound": ρ ≈ 1, oscillating."""

FLAT = 1e-12
"""An eigenvalue with |λ| ≤ FLAT·λmax is a flat direction: zero but for the rounding of
``eigvalsh`` (a singular X Xᵀ gives −1e-16·λmax). No step moves along it, whatever η."""


@dataclass(frozen=True)
class Convergence:
    """The convergence verdict: ``converged``, the distance, ρ and the steps still needed."""

    converged: bool
    steps: int
    measure: str  # what ``distance`` is, in words
    distance: float | None
    tolerance: float
    rho: float | None
    rho_source: str  # "max|1 − lr·λ| of the Hessian", "measured", or ""
    steps_needed: int | None  # more steps to reach the tolerance at ρ; None: unknown or never
    oscillating: bool
    diverged: bool
    text: str
    reached_at: int | None = None  # the first step with distance ≤ tolerance

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def contraction(lr: float, eigenvalues: NDArray) -> float:
    r""":math:`\rho = \max_i |1 - \eta\lambda_i|`: the error's shrink factor per SGD step."""
    lam = np.asarray(eigenvalues, np.float64)
    lam = np.where(flat_directions(lam), 0.0, lam)  # |1 − ηλ| = 1 there, not "> 1, diverging"
    return float(np.max(np.abs(1.0 - lr * lam)))


def flat_directions(eigenvalues: NDArray) -> NDArray:
    """Which eigenvalues are flat directions (:data:`FLAT`), as a boolean array."""
    lam = np.asarray(eigenvalues, np.float64)
    top = max(float(lam.max()), 0.0) if lam.size else 0.0
    return np.abs(lam) <= top * FLAT


def best_lr(eigenvalues: NDArray) -> tuple[float, float, float]:
    r"""The best fixed step :math:`2/(\lambda_{\min}+\lambda_{\max})` and the λmin, λmax used.

    λmin is the smallest *positive* eigenvalue (a flat direction never moves, whatever η)."""
    lam = np.asarray(eigenvalues, np.float64)
    top = float(lam.max()) if lam.size else 0.0
    if top <= 0:
        raise InputError(
            "--lr auto: the model's Hessian has no positive eigenvalue, so no step size "
            "contracts; pass --lr VALUE."
        )
    positive = lam[(lam > 0) & ~flat_directions(lam)]
    low = float(positive.min())
    return 2.0 / (low + top), low, top


def require_hessian(model: Any) -> None:
    """``--lr auto`` needs the model's Hessian: raise with the fix when it has none."""
    if getattr(model, "hessian", None) is None:
        raise InputError(
            f"--lr auto needs the model's Hessian to pick 2/(λmin+λmax), and {model.name} has "
            "none (its cost is not quadratic); pass --lr VALUE, e.g. the model's default."
        )


def lr_from_data(
    model: Any, *data: Any, standardize: bool = False, layout: str | None = None
) -> tuple[float, str]:
    """``--lr auto``: 2/(λmin+λmax) of the model's Hessian on these data, and why, in words."""
    from ._prepare import user_data

    require_hessian(model)
    arrays, _ = user_data(model, data, standardize=standardize, layout=layout)
    prepared = model.prepare(*arrays) if model.prepare is not None else arrays
    if not isinstance(prepared, tuple):
        prepared = (prepared,)
    H = np.asarray(model.hessian(*prepared), np.float64)
    lam = np.linalg.eigvalsh((H + H.T) / 2)
    lr, low, top = best_lr(lam)
    kappa = top / low
    rho = (kappa - 1) / (kappa + 1)
    why = (
        f"--lr auto: lr = 2/(λmin + λmax) = {lr:.6g}, the best fixed step for this quadratic "
        f"cost (λmin = {low:.6g}, λmax = {top:.6g} of the Hessian, κ = {kappa:.4g}): it makes "
        f"the contraction per step ρ = (κ − 1)/(κ + 1) = {rho:.6g} as small as a fixed step can."
    )
    return lr, why


def _distances(result: Any) -> tuple[NDArray, str]:
    ref = result.reference
    W = np.asarray(ref.weights, np.float64)
    if result.optimum is not None:
        w_star = np.asarray(result.optimum, np.float64).ravel()
        with np.errstate(over="ignore"):  # weights of a diverging run: their distance is inf
            norm = float(np.linalg.norm(w_star))
            d = np.linalg.norm(W - w_star, axis=1)
        if norm > 0:
            return d / norm, "‖w − w*‖/‖w*‖ (w* the closed-form optimum)"
        return d, "‖w − w*‖ (w* = 0, the closed-form optimum)"
    assert ref.grads is not None
    G = np.asarray(ref.grads, np.float64)
    with np.errstate(over="ignore"):
        g = np.linalg.norm(G, axis=1)
    g0 = g[0] if g.size and g[0] > 0 else 1.0
    pad = np.full(len(W) - len(g), np.nan) if len(g) < len(W) else np.array([])
    return np.concatenate([g / g0, pad]), "‖g‖/‖g₀‖ (the gradient norm's decrease)"


def _measured_rho(d: NDArray, at: NDArray | None = None) -> float | None:
    """Contraction per step over the last quarter of the rows (``at``: each row's step)."""
    ok = np.isfinite(d)
    finite = d[ok]
    if len(finite) < 3:
        return None
    j = max(1, (len(finite) - 1) // 4)
    a, b = finite[-1 - j], finite[-1]
    if a <= 0 or b <= 0:
        return None
    apart = j if at is None else int(np.asarray(at)[ok][-1] - np.asarray(at)[ok][-1 - j])
    return float((b / a) ** (1.0 / apart))


def convergence(result: Any) -> Convergence:
    """The convergence verdict of ``result``'s reference run (see the module docstring)."""
    cfg = result.config
    tol = TOLERANCE.get(cfg.dtype, 1e-6)
    d, measure = _distances(result)
    steps = len(result.reference.losses) - 1
    at = result.reference.steps_at  # record_every > 1: the step of each row
    if at is not None:
        steps = int(at[-1])
    diverged_at = result.reference.diverged_at
    finite = d[np.isfinite(d)]
    dist = float(finite[-1]) if finite.size and diverged_at is None else None
    quadratic = result.eigenvalues is not None and cfg.optimizer == "sgd"
    oscillating = False
    if quadratic:
        assert result.eigenvalues is not None
        rho: float | None = contraction(cfg.lr, result.eigenvalues)
        source = "max|1 − lr·λ| over the Hessian's eigenvalues"
        top = float(np.max(result.eigenvalues))
        if flat_directions(result.eigenvalues).any():
            source += "; 1 from a flat direction, λ ≈ 0, along which no step moves"
        oscillating = abs(cfg.lr * top - 2.0) <= 2.0 * AT_BOUND
    else:
        rho, source = _measured_rho(d, at), "measured over the last quarter of the run"
    if diverged_at is not None or (rho is not None and rho > 1 and not oscillating and quadratic):
        where = f"at step {diverged_at}" if diverged_at is not None else ""
        text = (
            f"NOT CONVERGED — the run diverges{(' ' + where) if where else ''}: the contraction "
            f"per step ρ = {_g(rho)} ({source}) exceeds 1." + _bound_advice(result)
        )
        return Convergence(False, steps, measure, None, tol, rho, source, None, False, True, text)
    assert dist is not None
    converged = dist <= tol
    hits = np.flatnonzero(np.nan_to_num(d, nan=np.inf) <= tol)
    reached = int(hits[0] if at is None else at[hits[0]]) if converged and hits.size else None
    needed = None
    if not converged and rho is not None and 0 < rho < 1 and dist > 0:
        needed = math.ceil(math.log(tol / dist) / math.log(rho))
    rho_text = "" if rho is None else f"; contraction per step ρ = {_g(rho)} ({source})"
    if converged:
        first = f", first reached at step {reached:,}" if reached is not None else ""
        text = (
            f"CONVERGED — after {steps:,} steps {measure} = {dist:.3g} ≤ {tol:g}{first}{rho_text}."
        )
    elif oscillating:
        assert result.eigenvalues is not None
        text = (
            f"NOT CONVERGED after {steps:,} steps — {measure} = {dist:.3g} > {tol:g}: lr·λmax = "
            f"{cfg.lr * float(np.max(result.eigenvalues)):.6g} ≈ 2, the step sits at the "
            f"stability bound, so ρ = {_g(rho)} ≈ 1 and the stiffest direction flips sign each "
            "step without shrinking (oscillation at the bound)." + _bound_advice(result)
        )
    else:
        more = (
            f"; at that rate about {needed:,} more steps are needed (log(tol/dist)/log ρ)"
            if needed is not None
            else "; at the measured rate it is not getting closer"
            if rho is not None and rho >= 1
            else ""
        )
        text = f"NOT CONVERGED after {steps:,} steps — {measure} = {dist:.3g} > {tol:g}{rho_text}{more}."
    return Convergence(
        converged, steps, measure, dist, tol, rho, source if rho is not None else "", needed,
        oscillating, False, text, reached,
    )  # fmt: skip


def _bound_advice(result: Any) -> str:
    if result.eigenvalues is None or result.lr_bound is None:
        return ""
    lr, low, top = best_lr(result.eigenvalues)
    at_bound = 2 * low / (low + top) <= 2 * AT_BOUND  # the best step itself sits at 2/λmax
    if at_bound and abs(result.config.lr - lr) <= 1e-9 * lr:  # --lr auto there: say why
        kappa = top / low  # it is still this slow, and what changes that
        return (
            f" lr = 2/(λmin+λmax) is already the best fixed step: with κ = λmax/λmin = "
            f"{kappa:.3g} no fixed step contracts faster than ρ = (κ−1)/(κ+1) = "
            f"{_g((kappa - 1) / (kappa + 1))}, and it sits at the bound because κ is large. "
            "Make κ smaller (standardise the features: --standardize, crosscheck(..., "
            "standardize=True)) or take more steps."
        )
    bound, best = apart(result.lr_bound, lr)
    now, bound_again = apart(result.config.lr, result.lr_bound)
    bound = max(bound, bound_again, key=len)
    return (
        f" lr = {now}; use lr < 2/λmax = {bound}; the best fixed step is "
        f"2/(λmin+λmax) = {best} (gdcheck run --lr auto)."
    )


def _g(x: float | None) -> str:
    """ρ with digits enough to tell it from 1: 0.998723, 1.0000012."""
    if x is None:
        return "—"
    if x == 1 or not math.isfinite(x):
        return f"{x:g}"
    digits = max(6, 2 - math.floor(math.log10(abs(1 - x)))) if x != 1 else 6
    return f"{x:.{min(digits, 15)}g}"
