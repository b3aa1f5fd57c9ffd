"""The engine: run a model's handwritten gradient descent beside autodiff backends and compare.

Two comparisons, both at every step (see DESIGN):

1. **shadow** — each backend's cost and gradient at the *reference's own* ``w_t``: a
   difference here is the gradient formula, not accumulated rounding;
2. **independent** — each backend's *own* gradient descent from the same ``w_0`` with its own
   update; the weights are compared step by step (drift), and the final weights against the
   least-squares optimum where the model has one.

The engine talks to backends only through the :class:`~gdcheck._types.Backend` protocol.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from .. import backends as backend_registry
from .._types import Backend, Model, NDArray, Tolerance, Trajectory
from ..backends._common import steps_reported_to
from ..check._diagnosis import Diagnosis, diagnose
from ..errors import InputTypeError
from ..params import ParamLayout
from ..validation import check_backend_names, check_dtype, check_lr, check_steps
from ._metrics import gradient_errors, weight_drift
from ._result import BackendRun, CrossCheckConfig, CrossCheckResult, Finding
from ._tolerance import drift_tolerance, gradient_tolerance, resolve_override

Progress = Callable[[str, str], None]
"""``progress(stage, backend)`` is called before each stage; the CLI draws a bar from it.

A callable that also has ``advance(done, total)`` is told, as a stage runs, how many of its
``total`` steps are done: every step where the backend loops in Python (NumPy, PyTorch), per
batch or once per stage where the work is one compiled call (JAX's ``lax.scan``).
"""


@contextlib.contextmanager
def _stage(progress: Progress, stage: str, backend: str, total: int) -> Iterator[None]:
    progress(stage, backend)
    advance = getattr(progress, "advance", None)
    with steps_reported_to(None if advance is None else lambda done: advance(done, total)):
        yield


@dataclass(frozen=True)
class _Bounds:
    grad: float
    drift: float


def crosscheck(
    model: Model,
    X: object,
    y: object,
    *,
    lr: float = 0.01,
    steps: int = 10_000,
    backends: Sequence[str] | str | None = None,
    dtype: str = "float64",
    tolerance: Tolerance | Mapping[str, Tolerance] | None = None,
    progress: Progress | None = None,
) -> CrossCheckResult:
    """Cross-check ``model``'s handwritten gradient descent against autodiff, step by step.

    Args:
      model: e.g. ``gdcheck.models.linear_regression()``.
      X, y: data in the tutorial's layout, ``X`` (n, m) and ``y`` (1, m).
      lr: learning rate η of ``w ← w − η ∇C``.
      steps: number of updates K; costs are evaluated at ``w_0 … w_K``.
      backends: names from ``("numpy", "jax", "torch")``; ``None`` runs every installed one.
        The NumPy reference (the handwritten code) always runs.
      dtype: ``"float64"`` or ``"float32"``.
      tolerance: a :class:`~gdcheck.Tolerance` or ``{dtype: Tolerance}`` replacing the
        derived defaults (see :mod:`gdcheck.tolerance`).

    Returns:
      A :class:`~gdcheck.CrossCheckResult`; ``.passed`` is False on any gradient
      mismatch, trajectory drift beyond tolerance, or divergence.
    """
    if not isinstance(model, Model):
        raise InputTypeError(
            f"model must be a gdcheck model such as gdcheck.models.linear_regression(), got {model!r}."
        )
    lr = check_lr(lr)
    steps = check_steps(steps)
    dtype = check_dtype(dtype)
    requested = None if backends is None else check_backend_names(backends, backend_registry.NAMES)
    override = resolve_override(tolerance, dtype)
    Xb, yb = model.prepare(X, y)
    Xb, yb = Xb.astype(dtype), yb.astype(dtype)
    chosen, notes = backend_registry.resolve(requested)
    reference_backend = backend_registry.get(backend_registry.REFERENCE)
    report = progress or (lambda stage, name: None)

    started = time.perf_counter()
    w0 = model.init_params(Xb)
    with _stage(report, "reference trajectory", reference_backend.name, steps + 1):
        reference = reference_backend.trajectory(model, Xb, yb, w0, lr, steps)
    valid = steps + 1 if reference.diverged_at is None else reference.diverged_at
    scale = (
        np.stack(
            [model.term_scale(w.reshape(-1, 1), Xb, yb).ravel() for w in reference.weights[:valid]]
        )
        if valid
        else np.zeros((0, w0.size))
    )

    hessian = model.hessian(Xb)
    eigenvalues = None if hessian is None else np.linalg.eigvalsh(hessian)
    optimum = model.optimum(Xb, yb)

    runs: dict[str, BackendRun] = {}
    for backend in chosen:
        runs[backend.name] = _run_backend(
            backend,
            model,
            Xb,
            yb,
            w0,
            lr,
            steps,
            reference,
            valid,
            scale,
            eigenvalues,
            override,
            report,
        )

    result = CrossCheckResult(
        config=CrossCheckConfig(
            model=model.name,
            lr=lr,
            steps=steps,
            dtype=dtype,
            backends=tuple(runs),
            n_features=Xb.shape[0] - 1,
            n_examples=Xb.shape[1],
        ),
        reference=reference,
        runs=runs,
        optimum=None if optimum is None else optimum.ravel(),
        eigenvalues=eigenvalues,
        notes=notes,
        seconds=time.perf_counter() - started,
    )
    result.findings.extend(_findings(result, n_examples=Xb.shape[1]))
    return result


def _run_backend(
    backend: Backend,
    model: Model,
    X: NDArray,
    y: NDArray,
    w0: NDArray,
    lr: float,
    steps: int,
    reference: Trajectory,
    valid: int,
    scale: NDArray,
    eigenvalues: NDArray | None,
    override: Tolerance | None,
    report: Progress,
) -> BackendRun:
    info = backend.info(check_dtype(str(X.dtype)))
    if backend.name == backend_registry.REFERENCE:
        shadow_grads, shadow_seconds = reference.grads, 0.0
        trajectory = reference
    else:
        with _stage(report, "shadow check", backend.name, valid):
            shadow = backend.shadow(model, X, y, reference.weights[:valid])
        shadow_grads, shadow_seconds = shadow.grads, shadow.seconds
        with _stage(report, "independent trajectory", backend.name, steps + 1):
            trajectory = backend.trajectory(model, X, y, w0, lr, steps)
    assert reference.grads is not None
    errors = gradient_errors(shadow_grads[:valid], reference.grads[:valid], scale)
    drift = weight_drift(trajectory.weights, reference.weights)
    full, effective = (
        _bounds(str(X.dtype), model.n_terms(X), lr, eigenvalues, steps, scale, reference, eps)
        for eps in (None, info.effective_eps)
    )
    if override is not None:
        full = effective = _Bounds(override.grad, override.drift)
    return BackendRun(
        info=info,
        shadow_seconds=shadow_seconds,
        errors=errors,
        trajectory=trajectory,
        drift=drift,
        tolerance=Tolerance(full.grad, full.drift, {"source": "user" if override else "derived"}),
        tolerance_precision=Tolerance(effective.grad, effective.drift),
        shadow_grads=np.asarray(shadow_grads[:valid]),
    )


def _bounds(
    dtype: str,
    n_terms: int,
    lr: float,
    eigenvalues: NDArray | None,
    steps: int,
    scale: NDArray,
    reference: Trajectory,
    eps: float | None,
) -> _Bounds:
    grad = gradient_tolerance(dtype, n_terms, eps)
    finite = reference.weights[np.isfinite(reference.weights).all(axis=1)]
    drift = drift_tolerance(
        dtype,
        grad,
        lr,
        eigenvalues,
        steps,
        grad_scale=float(np.abs(scale).max()) if scale.size else 0.0,
        weight_scale=float(np.abs(finite).max()) if finite.size else 1.0,
        eps=eps,
    )
    return _Bounds(grad, drift)


def _findings(result: CrossCheckResult, n_examples: int) -> list[Finding]:
    """Every disagreement, divergence and precision-explained difference, in words."""
    found: list[Finding] = []
    ref = result.reference
    if ref.diverged_at is not None:
        found.append(
            Finding(
                "diverged",
                backend_registry.REFERENCE,
                ref.diverged_at,
                (),
                result.divergence_message(ref.diverged_at),
            )
        )
    elif (growing := _growing_beyond_bound(result)) is not None:
        found.append(
            Finding(
                "diverged", backend_registry.REFERENCE, growing, (), result.growth_message(growing)
            )
        )
    for name, run in result.runs.items():
        pair = f"{name} vs {backend_registry.REFERENCE} (reference)"
        rel = run.errors.rel
        bad = np.flatnonzero(~(rel <= run.tolerance_precision.grad))
        if bad.size:
            k = int(bad[0])
            entry = int(run.errors.worst_entry[k])
            diagnosis = _diagnose(run, ref, bad, n_examples)
            found.append(
                Finding(
                    "gradient",
                    name,
                    k,
                    (entry,),
                    f"{pair}: gradient differs at {bad.size} of {rel.size} steps, first at step {k}, "
                    f"entry w[{entry}]: handwritten {ref.grads[k][entry]:.10g} vs {name} "
                    f"{run.shadow_grads[k][entry]:.10g} (scaled error {rel[k]:.3g} > tolerance "
                    f"{run.tolerance_precision.grad:.3g})."
                    + (f" Looks like {diagnosis.kind}: {diagnosis.message}" if diagnosis else ""),
                    diagnosis=diagnosis,
                )
            )
        elif (rel > run.tolerance.grad).any():
            k = int(np.argmax(rel))
            found.append(
                Finding(
                    "precision",
                    name,
                    k,
                    (int(run.errors.worst_entry[k]),),
                    f"{pair}: gradient error up to {rel[k]:.3g} at step {k}, above the full-{run.info.dtype} "
                    f"tolerance {run.tolerance.grad:.3g} but within what {name}'s matmul precision "
                    f"({run.info.matmul_precision}) explains ({run.tolerance_precision.grad:.3g}).",
                    fatal=False,
                )
            )
        if name == backend_registry.REFERENCE:
            continue
        traj = run.trajectory
        if traj.diverged_at is not None and ref.diverged_at is None:
            found.append(
                Finding(
                    "diverged",
                    name,
                    traj.diverged_at,
                    (),
                    f"{name}: its own trajectory diverged at step {traj.diverged_at} "
                    "while the reference's did not.",
                )
            )
        both = np.isfinite(run.drift)
        over = np.flatnonzero(both & (run.drift > run.tolerance_precision.drift))
        if over.size:
            k = int(over[0])
            moved = np.abs(traj.weights[k] - ref.weights[k])
            found.append(
                Finding(
                    "trajectory",
                    name,
                    k,
                    tuple(int(i) for i in np.flatnonzero(moved == moved.max())),
                    f"{pair}: weights drift apart from step {k} (relative drift {run.drift[k]:.3g} > "
                    f"tolerance {run.tolerance_precision.drift:.3g}); final drift "
                    f"{run.final_drift:.3g}.",
                )
            )
    return found


def _diagnose(run: BackendRun, ref: Trajectory, bad: NDArray, n_examples: int) -> Diagnosis | None:
    """What the handwritten gradient's mistake looks like, at up to three failing steps.

    Per entry the tolerance is the shadow check's own: the run's scaled tolerance times the
    step's floor ``max(‖r‖∞, ‖S‖∞)``. The diagnosis at the first failing step leads, and the
    others say how many agree.
    """
    assert ref.grads is not None
    p = ref.grads.shape[1]
    layout = ParamLayout(("w",), ((p,),), is_dict=True)
    picks = sorted({int(bad[0]), int(bad[len(bad) // 2]), int(bad[-1])})
    found: list[Diagnosis] = []
    for k in picks:
        r = run.shadow_grads[k].astype(np.float64)
        g = ref.grads[k].astype(np.float64)
        tol = np.full(p, run.tolerance_precision.grad * run.errors.floor[k])
        d = diagnose(layout, g, r, tol, data_dims=[n_examples])
        if d is not None:
            found.append(d)
    if not found:
        return None
    lead = found[0]
    lead.points_checked = len(picks)
    lead.points_agreeing = sum(1 for d in found if lead.same_as(d))
    return lead


def _growing_beyond_bound(result: CrossCheckResult) -> int | None:
    """The first step whose cost exceeds the starting cost, when lr is past the stable bound.

    Gradient descent with lr > 2/λmax diverges along the top eigenvector; a short run may
    not have overflowed yet, but its cost has already grown.
    """
    bound = result.lr_bound
    losses = result.reference.losses
    if bound is None or result.config.lr <= bound or len(losses) < 2:
        return None
    grown = np.flatnonzero(losses[1:] > losses[0])
    return int(grown[0]) + 1 if grown.size else None
