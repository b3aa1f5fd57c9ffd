r"""Section 5 of the lesson: the learning-rate bound from the Hessian, checked by running it.

The cost is quadratic, so its Hessian :math:`H = \frac{2}{m} X X^\top` is constant and, with the
error :math:`e = w - w^*` (:math:`w^*` the least-squares optimum), one gradient-descent step is
exactly

.. math::

    e_{k+1} = (I - \eta H)\, e_k .

Along eigenvector :math:`i` of :math:`H` the error is multiplied by :math:`1 - \eta\lambda_i`
every step, so gradient descent converges iff :math:`\eta < 2/\lambda_{\max}`. For each of the
tutorial's learning rates (0.01, 0.5, 100) this module predicts, from the eigenvalues alone, the
step at which :math:`\|w_k - w^*\|_2` falls below :data:`CONVERGED` or the cost overflows, and
then checks the prediction with :func:`gdcheck.crosscheck`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import numpy as np

from .._types import NDArray
from ..models import Model
from ..trajectory import CrossCheckResult, crosscheck
from ._blocks import Block, Pre, Section, Table, Text

__all__ = ["CONVERGED", "CURVE", "LEARNING_RATES", "STEPS", "lr_section"]

LEARNING_RATES: tuple[float, ...] = (0.01, 0.5, 100.0)
"""The learning rates the tutorial tries."""

STEPS = 10_000
"""Iterations of each learning-rate run: the tutorial's."""

CONVERGED = 1e-6
"""A run has converged once ``‖w_k − w*‖₂`` is below this (w* the least-squares optimum)."""

CURVE = 200
"""Steps of each learning-rate run kept in ``facts`` for the page's chart."""

Progress = Callable[[str, str], None]


def _predict(lr: float, lam: NDArray, coeff: NDArray, c_star: float, m: int) -> dict[str, Any]:
    r"""What :math:`e_{k+1} = (I - \eta H) e_k` predicts for ``lr`` (e along H's eigenvectors).

    The error along eigenvector i is multiplied by :math:`1 - \eta\lambda_i` every step, so
    :math:`\|e_k\|_2^2 = \sum_i c_i^2 (1-\eta\lambda_i)^{2k}` exactly (up to rounding), and the
    cost is :math:`C_k = C^* + \tfrac12 \sum_i \lambda_i c_i^2 (1-\eta\lambda_i)^{2k}`.
    """
    factors = np.abs(1.0 - lr * lam)
    rho = float(factors.max())
    live = coeff != 0
    if rho < 1:
        # smallest k with sum_i c_i^2 f_i^(2k) < tol^2: step k by k is cheap up to STEPS, then solve
        k = 0
        while (
            k <= STEPS and np.sqrt(np.sum(coeff[live] ** 2 * factors[live] ** (2 * k))) >= CONVERGED
        ):
            k += 1
        if k > STEPS:
            slow = int(np.argmax(np.where(live, factors, 0)))
            k = math.ceil(math.log(CONVERGED / abs(coeff[slow])) / math.log(factors[slow]))
        return {"factors": factors.tolist(), "rho": rho, "converges": True, "step": k}
    # overflow: the first k where m·C_k (the sum Σr² before dividing by m) passes float64's max
    big = float(np.finfo(np.float64).max)
    i = int(np.argmax(np.where(live, factors, 0)))
    log_term = math.log(0.5 * lam[i] * coeff[i] ** 2 * m)
    k = max(0, math.ceil((math.log(big) - log_term) / (2 * math.log(factors[i]))))
    while k > 0 and log_term + 2 * (k - 1) * math.log(factors[i]) > math.log(big - m * c_star):
        k -= 1
    return {"factors": factors.tolist(), "rho": rho, "converges": False, "step": k}


def _observed(result: CrossCheckResult, w_star: NDArray) -> dict[str, Any]:
    """What the reference run did: the step it diverged or came within :data:`CONVERGED`."""
    ref = result.reference
    if ref.diverged_at is not None:
        return {"diverged_at": int(ref.diverged_at), "step": int(ref.diverged_at)}
    dist = np.sqrt(((ref.weights - w_star.ravel()) ** 2).sum(axis=1))
    below = np.flatnonzero(dist < CONVERGED)
    return {
        "diverged_at": None,
        "step": int(below[0]) if below.size else None,
        "final_cost": float(ref.losses[-1]),
        "final_distance": float(dist[-1]),
    }


def _run_row(lr: float, predicted: dict[str, Any], observed: dict[str, Any]) -> tuple[str, ...]:
    """One row of the prediction-versus-run table."""
    factors = ", ".join(f"{f:.4g}" for f in predicted["factors"])
    if predicted["converges"]:
        said = f"converges: ‖w − w*‖₂ < {CONVERGED:g} at step {predicted['step']:,}"
        saw = (
            f"converged at step {observed['step']:,}"
            if observed["step"] is not None
            else f"not yet within {CONVERGED:g} after {STEPS:,} steps "
            f"(‖w − w*‖₂ = {observed['final_distance']:.3g})"
        )
    else:
        said = (
            f"diverges: ×{predicted['rho']:.4g} per step, "
            f"cost overflows at step {predicted['step']}"
        )
        saw = f"diverged: cost inf/NaN at step {observed['diverged_at']}"
    return (f"{lr:g}", factors, said, saw)


def _printout(runs: dict[float, CrossCheckResult]) -> Table:
    """The tutorial's printout: the cost every 2,000 iterations, for each learning rate."""
    rows = []
    for k in range(0, STEPS + 1, 2000):
        cells = []
        for lr in LEARNING_RATES:
            ref = runs[lr].reference
            cells.append(
                f"diverged at {ref.diverged_at}"
                if ref.diverged_at is not None and k >= ref.diverged_at
                else f"{ref.losses[k]:.10g}"
            )
        rows.append((f"{k:,}", *cells))
    return Table(
        ("iteration", *(f"cost, lr = {lr:g}" for lr in LEARNING_RATES)),
        tuple(rows),
        title="The tutorial's printout (cost every 2,000 iterations)",
    )


def _hessian_block(H: NDArray, lam: NDArray, bound: float, w_star: NDArray) -> Pre:
    """H, its eigenvalues, the bound 2/λmax and the optimum, as printed."""
    return Pre(
        "H = (2/m)·XXᵀ =\n"
        + "\n".join("  [" + "  ".join(f"{v:12.8f}" for v in row) + " ]" for row in H)
        + "\n\neigenvalues (numpy.linalg.eigh): "
        + ", ".join(f"λ{i + 1} = {v:.6g}" for i, v in enumerate(lam))
        + f"\nstable for lr < 2/λmax = 2/{lam.max():.6g} = {bound:.4g}"
        + f"\nleast-squares optimum w* = [{', '.join(f'{v:.10g}' for v in w_star.ravel())}]"
    )


def lr_section(
    model: Model,
    X: NDArray,
    y: NDArray,
    installed: set[str],
    progress: Progress | None,
    facts: dict[str, Any],
) -> Section:
    """Section 5 for ``model`` on the raw data ``X``, ``y``; records its numbers in ``facts``.

    ``facts`` gains ``hessian``, ``eigenvalues``, ``lr_bound``, ``optimum``,
    ``least_squares_cost`` and ``runs[lr]`` (``predicted``, ``observed``, ``curve``, and for the
    diverging rate ``autodiff``: the step each installed autodiff backend diverged).
    """
    Xb, yb = model.prepare(X, y) if model.prepare is not None else (X, y)
    m = Xb.shape[1]
    H = np.asarray(model.hessian(Xb, yb))
    lam, vecs = np.linalg.eigh(H)
    bound = 2.0 / lam.max()
    w_star = np.asarray(model.optimum(Xb, yb))
    c_star = float(model.loss(w_star, Xb, yb))
    coeff = vecs.T @ (np.asarray(model.init(Xb, yb)) - w_star).ravel()
    facts.update(
        hessian=H.tolist(),
        eigenvalues=lam.tolist(),
        lr_bound=float(bound),
        optimum=w_star.ravel().tolist(),
        least_squares_cost=c_star,
    )

    runs: dict[float, CrossCheckResult] = {}
    rows: list[tuple[str, ...]] = []
    facts["runs"] = {}
    for lr in LEARNING_RATES:
        predicted = _predict(lr, lam, coeff, c_star, m)
        result = crosscheck(model, X, y, lr=lr, steps=STEPS, backends=("numpy",), progress=progress)
        observed = _observed(result, w_star)
        runs[lr] = result
        losses = result.reference.losses[: CURVE + 1]
        facts["runs"][lr] = {
            "predicted": predicted,
            "observed": observed,
            "curve": [float(v) if np.isfinite(v) else None for v in losses],
        }
        rows.append(_run_row(lr, predicted, observed))

    blocks: list[Block] = [
        Text(
            "The cost is quadratic in w, so its Hessian is constant: H = (2/m)·XXᵀ. With the error "
            "e = w − w* (w* the least-squares optimum) one step is exactly e ← (I − lr·H)·e: along "
            "each eigenvector of H the error is multiplied by (1 − lr·λ) every step. Gradient "
            "descent converges only if every |1 − lr·λ| < 1, that is lr < 2/λmax."
        ),
        _hessian_block(H, lam, bound, w_star),
        Text(
            f"Prediction from the eigenvalues, then the run that checks it (gdcheck.crosscheck of "
            f"the handwritten NumPy reference, {STEPS:,} steps, from w₀ = 0):"
        ),
        Table(("lr", "|1 − lr·λ| per eigenvector", "predicted", "observed"), tuple(rows)),
        _printout(runs),
    ]
    small, middle, large = LEARNING_RATES
    slow = facts["runs"][small]["predicted"]
    fast = facts["runs"][middle]["predicted"]
    wild = facts["runs"][large]["predicted"]
    blocks.append(
        Text(
            f"lr = {small:g} is safe but slow: along the flat direction (λ = {lam.min():.4g}) the "
            f"error shrinks only by the factor {max(slow['factors']):.6f} per step, which sets the "
            f"pace ({slow['step']:,} steps to {CONVERGED:g}). lr = {middle:g} is below the bound "
            f"{bound:.3g}, so it works, and faster: its slowest factor is {fast['rho']:.4f}. "
            f"lr = {large:g} is far above it: the error along the steep direction "
            f"(λ = {lam.max():.4g}) is multiplied by {wild['rho']:.4g} every step, so the cost "
            f"grows about {wild['rho'] ** 2:,.0f}× per step until it overflows."
        )
    )
    diverged = _autodiff_divergence(model, X, y, large, facts["runs"][large], installed, progress)
    if diverged:
        blocks.append(Text(diverged))
    return Section("5. The learning rate: why 0.5 works and 100 diverges", tuple(blocks))


def _autodiff_divergence(
    model: Model,
    X: NDArray,
    y: NDArray,
    lr: float,
    run: dict[str, Any],
    installed: set[str],
    progress: Progress | None,
) -> str:
    """Run the autodiff backends' own gradient descent at ``lr`` past the divergence step."""
    others = sorted(installed - {"numpy"})
    step = run["observed"]["diverged_at"]
    if not others or step is None:
        return ""
    result = crosscheck(
        model, X, y, lr=lr, steps=min(STEPS, step + 10), backends=others, progress=progress
    )
    run["autodiff"] = {n: r.trajectory.diverged_at for n, r in result.runs.items() if n != "numpy"}
    said = "; ".join(
        f"{n} ({result.runs[n].info.update}) diverged at step {k}"
        for n, k in run["autodiff"].items()
    )
    return f"The autodiff backends, each running its own gradient descent at lr = {lr:g}: {said}."
