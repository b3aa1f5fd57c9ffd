r"""The learning rate beyond quadratics: the sharpness :math:`\lambda_{\max}(\nabla^2 L)` along a run.

Near a point :math:`p` the loss is :math:`L(p + e) \approx L(p) + g^\top e + \tfrac12 e^\top H e`,
so the quadratic lesson applies locally: a gradient step multiplies the error along the top
eigenvector of :math:`H = \nabla^2 L(p)` by :math:`1 - \eta\lambda_{\max}`, and is stable only
for :math:`\eta < 2/\lambda_{\max}`. :math:`H` is never formed: a Hessian-vector product is
the JVP of the gradient,

.. math::

    Hv = \frac{d}{dt}\nabla L(p + tv)\Big|_{t=0} = \texttt{jax.jvp(jax.grad(L), (p,), (v,))[1]},

at the cost of about two gradients, and power iteration :math:`v \leftarrow Hv/\|Hv\|` gives
:math:`\lambda_{\max} \approx v^\top H v` (the eigenvalue largest in magnitude; for these
losses it is the largest, positive one). The lesson runs the handwritten gradient descent,
measures :math:`\lambda_{\max}` every few steps, and then runs a few learning rates around
:math:`2/\lambda_{\max}(p_0)` to see where training actually diverges: a run has diverged when
its loss becomes non-finite or ends above where it started.

JAX is imported only when :func:`sharpness_section` runs.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .._chart import line_chart
from ..models import Model
from ._blocks import Block, Figure, Section, Table, Text

__all__ = ["FACTORS", "ITERATIONS", "diverges", "sharpness_along", "sharpness_section"]

ITERATIONS = 30
"""Power-iteration steps per estimate."""

FACTORS: tuple[float, ...] = (1.0, 2.0, 4.0, 8.0, 16.0)
"""Learning rates tried, as multiples of the predicted bound 2/λmax(p₀), until two diverge;
then one more halfway (geometrically) between the last that trained and the first that did not."""

TRIAL_STEPS = 100
"""Steps of each learning-rate trial."""


def _step(model: Model, params: Any, data: tuple, lr: float) -> Any:
    """One handwritten gradient-descent step ``p − lr·∇L`` (the model's own update if it has one)."""
    g = model.grad(params, *data)
    if model.update is not None:
        return model.update(params, g, None, lr)[0]
    if isinstance(params, dict):
        return {k: params[k] - lr * np.asarray(g[k]) for k in params}
    return params - lr * np.asarray(g)


def sharpness_along(
    model: Model, params: Any, data: tuple, lr: float, steps: int, every: int, seed: int = 0
) -> tuple[list[int], list[float], list[float]]:
    """λmax every ``every`` steps of gradient descent at ``lr``; also the loss at every step."""
    import jax
    import jax.numpy as jnp
    from jax.flatten_util import ravel_pytree

    wide = np.asarray(data[0]).dtype == np.float64
    with jax.enable_x64(wide):
        arrays = tuple(jnp.asarray(d) for d in data)

        @jax.jit
        def top(p: Any, v0: Any) -> Any:
            flat, unravel = ravel_pytree(p)

            def hvp(v: Any) -> Any:
                grad = jax.grad(lambda q: model.loss(unravel(q), *arrays))
                return jax.jvp(grad, (flat,), (v,))[1]

            def body(_: int, v: Any) -> Any:
                w = hvp(v)
                return w / jnp.linalg.norm(w)

            v = jax.lax.fori_loop(0, ITERATIONS, body, v0 / jnp.linalg.norm(v0))
            return v @ hvp(v)

        size = sum(
            np.asarray(v).size for v in (params.values() if isinstance(params, dict) else [params])
        )
        v0 = jnp.asarray(np.random.default_rng(seed).standard_normal(size))
        at, lam, losses = [], [], []
        p = params
        for k in range(steps + 1):
            losses.append(float(model.loss(p, *data)))
            if k % every == 0:
                at.append(k)
                lam.append(float(top(jax.tree_util.tree_map(jnp.asarray, p), v0)))
            if k < steps:
                p = _step(model, p, data, lr)
    return at, lam, losses


def diverges(
    model: Model, params: Any, data: tuple, lr: float, steps: int
) -> tuple[bool, int | None]:
    """Whether gradient descent at ``lr`` diverges within ``steps``, and the step it was seen."""
    start = float(model.loss(params, *data))
    p = params
    with np.errstate(all="ignore"):
        for k in range(1, steps + 1):
            p = _step(model, p, data, lr)
            value = float(model.loss(p, *data))
            if not math.isfinite(value) or value > 1e3 * max(start, 1e-12):
                return True, k
    return (value > start), (steps if value > start else None)


def sharpness_section(
    model: Model,
    params: Any,
    data: tuple,
    lr: float,
    steps: int,
    facts: dict[str, Any],
    number: int,
) -> Section:
    """The section; ``facts["sharpness"]`` gets λmax along the run and the divergence runs."""
    every = max(1, steps // 20)
    at, lam, losses = sharpness_along(model, params, data, lr, steps, every)
    bound = 2.0 / lam[0]
    runs: list[dict[str, Any]] = []
    trial_steps = min(TRIAL_STEPS, steps)

    def trial(factor: float) -> None:
        bad, when = diverges(model, params, data, factor * bound, trial_steps)
        runs.append({"factor": factor, "lr": factor * bound, "diverged": bad, "step": when})

    for factor in FACTORS:
        trial(factor)
        if sum(r["diverged"] for r in runs) >= 2:
            break
    good = [r["factor"] for r in runs if not r["diverged"]]
    bad = [r["factor"] for r in runs if r["diverged"]]
    if good and bad and min(bad) > max(good):
        trial(math.sqrt(min(bad) * max(good)))
        runs.sort(key=lambda r: r["factor"])
    first_bad = next((r for r in runs if r["diverged"]), None)
    last_good = max((r["lr"] for r in runs if not r["diverged"]), default=None)
    facts["sharpness"] = {
        "lr": lr,
        "steps": at,
        "lambda_max": lam,
        "predicted_lr": bound,
        "runs": runs,
        "observed_lr": None if first_bad is None else first_bad["lr"],
        "stable_up_to": last_good,
    }
    rows = tuple(
        (f"{k:,}", f"{v:.5g}", f"{2 / v:.4g}" if v > 0 else "—", f"{losses[k]:.6g}")
        for k, v in zip(at, lam, strict=True)
    )
    trials = tuple(
        (
            f"{r['factor']:g} × 2/λmax = {r['lr']:.4g}",
            (
                f"diverged (step {r['step']})"
                if r["diverged"]
                else f"trained ({trial_steps:,} steps)"
            ),
        )
        for r in runs
    )
    svg = line_chart(
        {
            "λmax(∇²L)": list(zip(at, lam, strict=True)),
            f"2/lr = {2 / lr:.3g}": [(at[0], 2 / lr), (at[-1], 2 / lr)],
        },
        xlabel="step",
        ylabel="λmax",
        title="sharpness along the run",
    )
    verdict = (
        "no rate tried diverged"
        if first_bad is None
        else f"the smallest rate tried that diverged was {first_bad['lr']:.4g} "
        f"({first_bad['factor']:g} × the prediction)"
        + (f", the largest that trained {last_good:.4g}" if last_good is not None else "")
    )
    blocks: list[Block] = [
        Text(
            (
                "This loss is quadratic, so its Hessian is constant and the bound lr < 2/λmax "
                "is exact; the estimate below should stay put. "
                if model.hessian is not None
                else "This loss is not quadratic, so its Hessian changes as training moves: the "
                "bound lr < 2/λmax holds only locally. "
            )
            + "λmax is estimated by power iteration on "
            f"Hessian-vector products (jax.jvp of jax.grad, {ITERATIONS} iterations, H never "
            f"formed) every {every} steps of the handwritten gradient descent at lr = {lr:g}:"
        ),
        Table(("step", "λmax", "2/λmax", "loss"), rows, title="Sharpness along the run"),
        Figure(
            svg,
            "λmax along the run; the dashed line is 2/lr: above it this lr would be "
            "unstable on the local quadratic.",
        ),
        Text(
            f"At the start λmax = {lam[0]:.4g}, so the local bound predicts divergence beyond "
            f"lr = 2/λmax = {bound:.4g}. Running {trial_steps:,} steps at a few rates from it up:"
        ),
        Table(("lr", "what happened"), trials, title="Predicted bound against runs"),
        Text(
            f"Predicted: divergence beyond {bound:.4g}; observed: {verdict}. Where the two differ "
            "the local picture is what moved: a step too large for the start throws the weights "
            "to a flatter region (λmax falls), or the loss keeps rising before it settles."
        ),
    ]
    return Section(f"{number}. The learning rate beyond quadratics", tuple(blocks))
