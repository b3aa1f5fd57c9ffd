r"""Default tolerances, as data keyed by dtype, and how they are derived.

**Gradient.** A correct gradient that sums ``n`` terms of size ``S`` differs from another
correct evaluation by rounding of order :math:`\epsilon \sqrt{n}\, S` (random-walk
accumulation). The scaled error :math:`\max_i|g_i - r_i| / \|S\|_\infty` is therefore allowed

.. math:: \tau_g = c \cdot \epsilon \cdot \sqrt{n}

with ``c`` from :data:`GRAD_SAFETY` (64): in float64 with n = 500 that is 3e-13, nine orders
below a 1 % error; in float32 1.7e-4. ``ε`` is the backend's *effective* epsilon: on a GPU
with reduced float32 matmul precision it is larger, and a difference within that wider bound
is reported as explained by precision, not as a bug.

**Trajectory.** Two correct runs of gradient descent differ per step by
:math:`\delta = \eta\,\tau_g\|S\|_\infty + c_u \epsilon \|w\|_\infty`. The error evolves as
:math:`e_{k+1} = (I - \eta H) e_k + \delta_k`, so after K steps it is at most
:math:`\delta \sum_{k<K} \rho^k` with :math:`\rho = \max_i |1 - \eta\lambda_i(H)|` (K steps
when the Hessian is unknown or ρ ≥ 1). The allowed relative drift is that bound over ``‖w‖∞``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from .._types import NDArray, Tolerance
from ..errors import InputError, InputTypeError
from ._recording import recorded_at

GRAD_SAFETY: dict[str, float] = {"float32": 64.0, "float64": 64.0}
UPDATE_SAFETY: dict[str, float] = {"float32": 8.0, "float64": 8.0}


def gradient_tolerance(dtype: str, n_terms: int, eps: float | None = None) -> float:
    """Allowed scaled gradient error :math:`c\\,\\epsilon\\sqrt{n}` for ``n_terms`` summed terms."""
    eps = float(np.finfo(dtype).eps) if eps is None else eps
    return GRAD_SAFETY[dtype] * eps * math.sqrt(max(1, n_terms))


def amplification(lr: float, eigenvalues: NDArray | None, steps: int) -> float:
    r""":math:`\sum_{k<K}\rho^k`: how much gradient descent can amplify a per-step error."""
    if steps == 0:
        return 1.0
    if eigenvalues is None:
        return float(steps)
    rho = float(np.max(np.abs(1.0 - lr * np.asarray(eigenvalues))))
    if rho >= 1.0:
        return float(steps)
    return max(1.0, (1.0 - rho**steps) / (1.0 - rho))


def drift_tolerance(
    dtype: str,
    grad_tol: float,
    lr: float,
    eigenvalues: NDArray | None,
    steps: int,
    grad_scale: float,
    weight_scale: float,
    eps: float | None = None,
) -> float:
    """Allowed relative weight drift between two correct trajectories (see module docstring)."""
    eps = float(np.finfo(dtype).eps) if eps is None else eps
    weight_scale = weight_scale if weight_scale > 0 else 1.0
    per_step = lr * grad_tol * grad_scale + UPDATE_SAFETY[dtype] * eps * weight_scale
    return amplification(lr, eigenvalues, steps) * per_step / weight_scale


def resolve_override(
    override: Tolerance | Mapping[str, Tolerance] | None, dtype: str
) -> Tolerance | None:
    """A user's tolerance: one :class:`Tolerance`, or a mapping from dtype name to one."""
    if override is None or isinstance(override, Tolerance):
        return override
    if isinstance(override, Mapping):
        return override.get(dtype)
    raise InputTypeError(
        f"tolerance must be a gdcheck.Tolerance or a dict of them keyed by dtype, got {override!r}."
    )


def drift_tolerances(
    problem: Any,
    reference: Any,
    valid: int,
    grad_tol: NDArray,
    eigenvalues: NDArray | None,
    eps: float,
) -> NDArray:
    r"""Allowed relative drift at each step ``k = 0 … K`` between two correct trajectories.

    One step of a correct run can differ from another by
    :math:`\delta_k = \eta\, G\, \tau_k + c_u \epsilon \|w_k\|_\infty`, with ``τ_k`` the step's
    largest per-entry gradient tolerance (absolute) and ``G`` the optimizer's gain
    (:attr:`gdcheck.optim.Optimizer.gain`). For an optimizer that normalises its step
    (Adam), the step's error is relative: a gradient entry at the rounding floor can turn its
    step around, so :math:`\delta_k = \eta\, G \max_i \tau_{k,i} / (|r_{k,i}| + \tau_{k,i})`.
    Errors then evolve as :math:`e_{k+1} = (I - \eta H) e_k + \delta_k` for SGD on a
    quadratic with known Hessian, so the bound is :math:`\sum_{j<k} \rho^j \delta`; otherwise
    it grows by ``δ`` per step. Divided by ``‖w_k‖∞``.

    With ``record_every`` > 1 the rows are the recorded steps :math:`t_0 < t_1 < \dots`; across
    a gap of :math:`g = t_j - t_{j-1}` steps, :math:`e_{t_j} \le \rho^g e_{t_{j-1}} +
    \bar\delta \sum_{i<g} \rho^i`, each unrecorded step's ``δ`` taken as the larger of its two
    recorded neighbours' (at g = 1 this is the recursion above, exactly).
    """
    opt = problem.optimizer
    steps = len(reference.losses)
    w = np.abs(np.nan_to_num(reference.weights.astype(np.float64), nan=0.0)).max(
        axis=1, initial=0.0
    )
    tau = np.zeros(steps)
    if valid:
        if getattr(opt, "relative", False):
            assert reference.grads is not None
            r = np.abs(reference.grads[:valid].astype(np.float64))
            tau[:valid] = (grad_tol / (r + grad_tol)).max(axis=1, initial=0.0)
        else:
            tau[:valid] = grad_tol.max(axis=1, initial=0.0)
        tau[valid:] = tau[valid - 1]
    delta = (
        problem.lr * float(getattr(opt, "gain", 1.0)) * tau + UPDATE_SAFETY[problem.dtype] * eps * w
    )
    if opt.name == "sgd" and eigenvalues is not None:
        rho = float(np.max(np.abs(1.0 - problem.lr * np.asarray(eigenvalues))))
    else:
        rho = 1.0
    bound = np.zeros(steps)
    at, r = recorded_at(reference), min(rho, 1.0)
    for k in range(1, steps):  # e_{t_k} ≤ ρ^g e_{t_{k−1}} + δ̄ Σ_{i<g} ρ^i; g = 1: ρ e + δ_{k−1}
        gap = int(at[k] - at[k - 1])
        step_delta = delta[k - 1] if gap == 1 else max(delta[k - 1], delta[k])
        grows = float(gap) if r == 1.0 else (1.0 - r**gap) / (1.0 - r)
        bound[k] = r**gap * bound[k - 1] + step_delta * grows
    return bound / np.where(w > 0, w, 1.0)  # the normalisation of weight_drift


POWER_ITERATION_ABOVE = 2_000
"""Above this many parameters λmax comes from power iteration, not from the (p, p) Hessian."""
POWER_ITERATIONS = 30
POWER_RTOL = 1e-6


def eigenvalues(problem: Any, notes: list[str] | None = None) -> NDArray | None:
    r"""The Hessian's eigenvalues, or for p > :data:`POWER_ITERATION_ABOVE` the pair
    :math:`(0, \lambda_{\max})`.

    Up to 2,000 parameters: ``eigvalsh`` of the model's ``hessian``. Above: ``hessian`` is not
    called (a (p, p) matrix and :math:`O(p^3)` work); :math:`\lambda_{\max}` comes from power
    iteration with :math:`Hv = g(v) - g(0)` — exact for a quadratic, whose gradient is affine —
    one handwritten gradient per iteration, and λmin is taken as 0 (H is positive
    semi-definite), so the drift bound assumes no contraction (ρ = 1): looser, never tighter.
    """
    if problem.model.hessian is None:
        return None
    p = problem.layout.size
    if p > POWER_ITERATION_ABOVE:
        top, iterations, residual = _power_lambda_max(problem)
        if notes is not None:
            notes.append(
                f"λmax = {top:.6g} from {iterations} power iterations (Hv = g(v) − g(0), one "
                f"handwritten gradient each; relative residual {residual:.1e}): p = {p} > "
                f"{POWER_ITERATION_ABOVE}, so the ({p}, {p}) Hessian is not formed. λmin is "
                "taken as 0: the drift tolerance assumes no contraction."
            )
        return np.array([0.0, top])
    with np.errstate(over="ignore", invalid="ignore"):  # an overflow is refused below
        H = np.asarray(problem.model.hessian(*problem.data), np.float64)
    if H.shape == (p, p) and not np.isfinite(H).all():
        raise InputError(
            f"model {problem.model.name!r}: its Hessian at these data is not finite in float64 "
            f"(the largest |data| is {largest_magnitude(problem.data):.3g}: products of the "
            "features overflow); rescale or standardise the features (--standardize, "
            "standardize=True)."
        )
    if H.shape != (p, p):
        raise InputError(
            f"model {problem.model.name!r}: hessian returned shape {H.shape}; it must be "
            f"({p}, {p}), over the flattened params."
        )
    if notes is not None and p > 2:
        notes.append(f"eigenvalues from the model's ({p}, {p}) Hessian (numpy.linalg.eigvalsh).")
    return np.linalg.eigvalsh((H + H.T) / 2)


def _power_lambda_max(problem: Any) -> tuple[float, int, float]:
    """(λmax, iterations, relative residual ‖Hv − λv‖/λ) by power iteration on ``model.grad``."""

    def grad_at(flat: NDArray) -> NDArray:
        g = problem.model.grad(problem.user(flat.astype(problem.dtype)), *problem.data)
        return problem.flat(g).astype(np.float64)

    p = problem.layout.size
    g0 = grad_at(np.zeros(p))
    v = np.random.default_rng(0).standard_normal(p)
    v /= np.linalg.norm(v)
    lam, residual, k = 0.0, float("inf"), 0
    for k in range(1, POWER_ITERATIONS + 1):
        # H v, with v scaled to O(1) entries so the float32 rounding of g stays relative
        scale = 1.0 / max(np.abs(v).max(), 1e-300)
        hv = (grad_at(v * scale) - g0) / scale
        new = float(v @ hv)
        residual = float(np.linalg.norm(hv - new * v)) / max(abs(new), 1e-300)
        norm = float(np.linalg.norm(hv))
        if norm == 0 or not np.isfinite(norm):
            break
        v = hv / norm
        if k > 1 and abs(new - lam) <= POWER_RTOL * abs(new):
            lam = new
            break
        lam = new
    return lam, k, residual


def largest_magnitude(data: tuple) -> float:
    """max |x| over the floating arrays among ``data`` (NaN/Inf skipped; 0 when none): what a
    message about an overflow can point to."""
    out = 0.0
    for d in data:
        if isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.floating) and d.size:
            finite = np.abs(d[np.isfinite(d)])
            out = max(out, float(finite.max(initial=0.0)))
    return out
