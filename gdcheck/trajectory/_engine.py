"""The engine: run a model's handwritten training beside autodiff backends, and compare.

Three comparisons, all at every step (see DESIGN, "Two ways to compare"):

1. **shadow gradient** — each backend's gradient at the *reference's own* ``w_t``: a
   difference here is the handwritten gradient, not accumulated rounding;
2. **shadow update** — each library's optimizer (the optax / ``torch.optim`` twin of the
   optimizer the update claims) fed the reference's own ``w_t`` and handwritten ``g_t``: a
   difference here is the handwritten update, never the gradient;
3. **independent** — each backend's *own* training from the same ``w_0``, with its own
   gradient and its own library's optimizer; the weights are compared step by step (drift),
   and the final weights against the model's closed-form optimum where it has one.

The engine talks to backends only through the :class:`~gdcheck._types.Backend` protocol and
to the model only through :class:`gdcheck.Model`'s fields.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np

from .. import backends as backend_registry
from .._types import Backend, NDArray, Tolerance, Trajectory
from ..array_api import operation_hint
from ..backends._common import report_steps, steps_reported_to
from ..backends._device import full_precision_if_reduced, reduced_precision, runs_on_device
from ..backends._memory import check_data_fits, check_memory
from ..backends._problem import Problem
from ..errors import InputError, InputTypeError
from ..models._model import Model
from ..validation import check_backend_names, check_dtype, check_lr, check_ranges, check_steps
from ._findings import findings
from ._floor import gradient_tolerance, measure_floor, sample_steps, update_tolerance
from ._metrics import gradient_errors, weight_drift
from ._parallel import attach_parallel
from ._prepare import user_data
from ._recording import (
    check_record_every,
    record_every_of,
    recorded_at,
    recording_note,
    rows_before,
    seeded,
    update_rows,
)
from ._result import BackendRun, CrossCheckConfig, CrossCheckResult, Finding
from ._setup import build_problem, n_examples, resolve_optimizer
from ._tolerance import drift_tolerances, largest_magnitude, resolve_override
from ._tolerance import eigenvalues as _eigenvalues

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


@runs_on_device
def crosscheck(
    model: Model,
    *data: Any,
    lr: float = 0.01,
    steps: int = 10_000,
    optimizer: Any = None,
    backends: Sequence[str] | str | None = None,
    dtype: str = "float64",
    tolerance: Tolerance | Mapping[str, Tolerance] | None = None,
    progress: Progress | None = None,
    standardize: bool = False,
    layout: str | None = None,
    workers: int | None = None,
    device: str = "cpu",
    matmul_precision: str | None = None,
    record_every: int = 1,
) -> CrossCheckResult:
    """Cross-check ``model``'s handwritten gradient and update against autodiff, step by step.

    Args:
      model: a :class:`gdcheck.Model`, e.g. ``gdcheck.models.linear_regression()``.
      *data: the model's data, in the model's own layout (passed through ``model.prepare``).
      lr: learning rate η.
      steps: number of updates K; losses are evaluated at ``w_0 … w_K``.
      optimizer: what the handwritten update claims to compute, from :mod:`gdcheck.optim`
        (default ``gdcheck.optim.sgd()``): the libraries run its optax / ``torch.optim`` twin,
        and a model without ``update`` runs its textbook rule.
      backends: names from ``("numpy", "jax", "torch")``; ``None`` runs every installed one.
        The NumPy reference (the handwritten code) always runs.
      dtype: ``"float64"`` or ``"float32"``.
      tolerance: a :class:`~gdcheck.Tolerance` or ``{dtype: Tolerance}`` replacing the
        derived defaults: ``grad`` then bounds every step's scaled error, ``drift`` the drift.
      standardize: standardise the features first (see :mod:`gdcheck.trajectory._prepare`).
      layout: ``"rows"`` for data laid out (m, n), examples × features, as scikit-learn,
        pandas and CSV files have them, when the model takes another layout.
      workers: also train data-parallel over this many workers after the usual checks
        (:func:`gdcheck.distributed.crosscheck_parallel`); its result is ``result.parallel``
        and its fatal findings join ``result.findings`` as ``parallel`` findings.
      device: where JAX and PyTorch run: ``"cpu"`` (default), ``"cuda"`` or ``"cuda:N"``;
        NumPy, the reference, stays on the CPU. A GPU that a chosen library cannot see is
        refused up front (:class:`~gdcheck.errors.BackendUnavailable`), naming what each sees.
      matmul_precision: ``"default"``, ``"high"`` or ``"highest"``: JAX's and torch's float32
        matmul precision for this run, restored afterwards (None: as the process has it). A
        reduced precision on a GPU whose difference vanishes at ``highest`` is a ``precision``
        finding, not a gradient one (:mod:`gdcheck.backends._device`).
      record_every: keep every backend's row only at steps 0, k, 2k, … and the last (k =
        ``record_every``, 1 ≤ k ≤ ``steps``; default 1, every step): memory is about
        ``steps/k + 1`` rows instead of ``steps + 1``. At each recorded ``t`` the reference
        also keeps what a checked step needs: ``w_t``, ``g_t``, ``w_{t+1}`` and the claimed
        optimizer's textbook state at ``t`` (fed the handwritten gradients of *every* step),
        so the shadow gradient check and the shadow update check (the library's optimizer,
        its state set from that row) are still exact at every recorded step; the independent
        runs are compared there too (JAX: one compiled scan over chunks of k steps). Drift
        tolerances and plots use the true step numbers, findings name true steps ("first at
        step 1200" is the first *recorded* step where it shows), and the result's notes and
        ``report.json`` (``recording``) say which steps were recorded: a mistake visible only
        at steps that were not recorded is missed.

    Returns:
      A :class:`~gdcheck.CrossCheckResult`; ``.passed`` is False on any gradient or update
      mismatch, trajectory drift beyond tolerance, or divergence; ``.findings`` say where.
    """
    if not isinstance(model, Model):
        raise InputTypeError(
            "model must be a gdcheck.Model(name, loss, grad, init, update=None), such as "
            f"gdcheck.models.linear_regression(); got {type(model).__name__}."
        )
    lr = check_lr(lr)
    steps = check_steps(steps)
    record_every = check_record_every(record_every, steps)
    dtype = check_dtype(dtype)
    optimizer = resolve_optimizer(optimizer)
    requested = None if backends is None else check_backend_names(backends, backend_registry.NAMES)
    override = resolve_override(tolerance, dtype)
    check_ranges(data, dtype)  # before the moments or a cast to dtype overflow
    data, scaling = user_data(model, data, standardize=standardize, layout=layout)
    if workers is not None and (
        isinstance(workers, bool) or not isinstance(workers, int) or workers < 1
    ):
        raise InputError(f"workers={workers!r}: pass a whole number of workers ≥ 1, or None.")
    check_data_fits(data, dtype, copies_all=model.prepare is not None)  # before the copy
    problem = build_problem(model, data, dtype, optimizer, lr)
    chosen, notes = backend_registry.resolve(requested)
    check_memory(
        problem,
        steps,
        sum(b.name != backend_registry.REFERENCE for b in chosen),
        record_every=record_every,
    )
    reference_backend = backend_registry.get(backend_registry.REFERENCE)
    report = progress or (lambda stage, name: None)

    started = time.perf_counter()
    with _stage(report, "reference trajectory", reference_backend.name, steps + 1):
        reference = reference_backend.trajectory(problem, steps, record_every)
    assert reference.grads is not None
    at = recorded_at(reference)
    # the rows before the first non-finite step (every row when the run stayed finite)
    valid = len(at) if reference.diverged_at is None else rows_before(at, reference.diverged_at)
    if valid == 0:  # nothing to compare: say why, not what the next stage makes of no rows
        raise InputError(_not_finite_at_start(model, problem, reference.losses[0]))
    if reference.steps_at is not None:
        notes.append(recording_note(at, record_every))
    others = [b for b in chosen if b.name != backend_registry.REFERENCE]
    floor_backend = others[0] if others else reference_backend
    floor_info = floor_backend.info(dtype)
    # The floor backend's shadow check first, when it runs at full precision: the floor takes
    # its unperturbed gradients from the shadow's rows instead of evaluating them again.
    floor_shadow = None
    try:  # the first time autodiff meets the user's loss
        if others and reduced_precision(floor_info) is None:
            with _stage(report, "shadow check", floor_backend.name, valid):
                floor_shadow = floor_backend.shadow(problem, reference.weights[:valid])
        base = None if floor_shadow is None else floor_shadow.grads
        with (
            _stage(report, "rounding floor", floor_backend.name, len(sample_steps(valid))),
            full_precision_if_reduced(floor_info),  # the floor of float32 itself
        ):
            floor = measure_floor(problem, floor_backend, reference.weights[:valid], base=base)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(_loss_failed(model, floor_backend.name, exc)) from None
    eigenvalues = optimum = None
    if model.hessian is not None or model.optimum is not None:  # a stage of its own: at (1001,
        # 1e6) the Hessian's one blocked pass over X is 15 s of compute, not the floor's
        with _stage(report, "Hessian and optimum", reference_backend.name, 1):
            eigenvalues = _eigenvalues(problem, notes)
            if model.optimum is not None:
                optimum = problem.flat(model.optimum(*problem.data))
            report_steps(1)

    runs: dict[str, BackendRun] = {}
    failed: dict[str, str] = {}
    for backend in chosen:
        try:
            runs[backend.name] = _run_backend(
                backend,
                problem,
                reference,
                valid,
                floor,
                eigenvalues,
                override,
                report,
                steps,
                floor_shadow if backend is floor_backend else None,
            )
        except InputError:
            raise
        except Exception as exc:  # a backend that fails mid-run: keep the others' results
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
            hint = operation_hint(exc)
            failed[backend.name] = (
                f"{backend.name} failed during the cross-check ({type(exc).__name__}: {first}); "
                "its checks are incomplete, the other backends' results are kept."
                + (f" Hint: {hint}." if hint else "")
            )
            runs.pop(backend.name, None)

    result = CrossCheckResult(
        config=CrossCheckConfig(
            model=model.name,
            lr=lr,
            steps=steps,
            dtype=dtype,
            backends=tuple(runs),
            optimizer=optimizer.name,
            update="handwritten" if model.update is not None else f"gdcheck.optim.{optimizer.name}",
            params={
                n: list(s) for n, s in zip(problem.layout.names, problem.layout.shapes, strict=True)
            },
            n_params=problem.layout.size,
            n_examples=n_examples(problem.data),
            record_every=record_every,
        ),
        reference=reference,
        runs=runs,
        optimum=optimum,
        eigenvalues=eigenvalues,
        notes=notes,
        seconds=time.perf_counter() - started,
        layout=problem.layout,
        problem=problem,
        scaling=scaling,
    )
    result.findings.extend(findings(result, floor_backend))
    result.findings.extend(
        Finding("incomplete", name, 0, (), text) for name, text in failed.items()
    )
    if workers is not None:
        attach_parallel(result, model, data, workers, requested)
    return result


def _run_backend(
    backend: Backend,
    problem: Problem,
    reference: Trajectory,
    valid: int,
    floor: NDArray,
    eigenvalues: NDArray | None,
    override: Tolerance | None,
    report: Progress,
    steps: int,
    shadow: Any = None,
) -> BackendRun:
    """One backend's checks against the reference; ``shadow``: its shadow check when already
    run (the floor backend's)."""
    info = backend.info(problem.dtype, problem.optimizer, problem.model)
    assert reference.grads is not None
    ref_grads = reference.grads[:valid]
    if backend.name == backend_registry.REFERENCE:
        shadow_grads, shadow_seconds, trajectory = ref_grads, 0.0, reference
        predicted = compared = None
    else:
        if shadow is None:
            with _stage(report, "shadow check", backend.name, valid):
                shadow = backend.shadow(problem, reference.weights[:valid])
        shadow_grads, shadow_seconds = shadow.grads, shadow.seconds
        # record_every > 1 only: a backend is called as before when every step is recorded
        before, grads, state, compared = update_rows(reference, valid, steps)
        with _stage(report, "update check", backend.name, max(0, len(before) - (state is None))):
            predicted = backend.update_shadow(problem, before, grads, **seeded(state))
        every = record_every_of(reference)
        with _stage(report, "independent trajectory", backend.name, steps + 1):
            trajectory = backend.trajectory(problem, steps, *([every] if every > 1 else []))
    eps_full = float(np.finfo(problem.dtype).eps)
    n_terms = n_examples(problem.data)
    scale = floor / eps_full
    tol_full = gradient_tolerance(shadow_grads, floor, problem.layout.sizes, n_terms, eps_full)
    # A reduced matmul precision widens only the drift's bound: the gradient is judged at full
    # precision, and a difference that vanishes at ``highest`` is named ``precision`` there.
    tol_eff = gradient_tolerance(
        shadow_grads, floor, problem.layout.sizes, n_terms, info.effective_eps
    )
    if override is not None:  # the user's scalar bound, in the units of the scaled error
        floor_row = np.maximum(
            np.abs(shadow_grads).max(axis=1, initial=0.0), scale.max(axis=1, initial=0.0)
        )
        tol_full = tol_eff = np.broadcast_to(
            (override.grad * floor_row)[:, None], shadow_grads.shape
        )
    errors = gradient_errors(ref_grads, shadow_grads, scale, tol_full)
    update_ratio = None
    if predicted is not None and compared is not None and len(predicted):
        w_now, nxt = compared
        counts = 1 + recorded_at(reference)[: len(w_now)]  # the optimizer's step count t
        upd_tol = update_tolerance(
            w_now, nxt, info.effective_eps, problem.optimizer.step_rounding(counts, problem.dtype)
        )
        with np.errstate(invalid="ignore"):
            update_ratio = np.abs(predicted.astype(np.float64) - nxt.astype(np.float64)) / upd_tol
    drift = weight_drift(trajectory.weights, reference.weights)
    drift_full, drift_eff = (
        drift_tolerances(problem, reference, valid, tol, eigenvalues, eps)
        for tol, eps in ((tol_full, eps_full), (tol_eff, info.effective_eps))
    )
    if override is not None:
        drift_full = drift_eff = np.full(len(drift), override.drift)
    # For display: the tolerance in the units of the scaled error, to 4 digits (the backends'
    # autodiff gradients differ in their last bits; the decision is per entry, not on this).
    grad_scalar, grad_eff_scalar = (_display(t, errors.floor) for t in (tol_full, tol_eff))
    source = "user" if override is not None else "derived"
    return BackendRun(
        info=info,
        shadow_seconds=shadow_seconds,
        errors=errors,
        trajectory=trajectory,
        drift=drift,
        tolerance=Tolerance(
            override.grad if override else grad_scalar,
            float(np.nanmax(drift_full, initial=0.0)),
            {"source": source},
        ),
        tolerance_precision=Tolerance(
            override.grad if override else grad_eff_scalar, float(np.nanmax(drift_eff, initial=0.0))
        ),
        shadow_grads=np.asarray(shadow_grads),
        grad_tolerance=tol_full,
        drift_tolerance=drift_eff,
        update_ratio=update_ratio,
        update_predicted=predicted,
    )


def _not_finite_at_start(model: Model, problem: Problem, loss: float) -> str:
    """Why a run has no finite step at all: the loss at ``init``'s params is not finite."""
    largest = largest_magnitude(problem.data)
    limit = float(np.finfo(problem.dtype).max)
    return (
        f"model {model.name!r}: the loss is {float(loss)} at step 0 (init's params, in "
        f"{problem.dtype}), so there is no step to cross-check. The largest |data| is "
        f"{largest:.3g} against {problem.dtype}'s ±{limit:.3g}: "
        + (
            "rescale the data (--standardize, standardize=True, scales the features, not "
            "the target)"
            + (", or run in float64 (--dtype float64)" if problem.dtype == "float32" else "")
            if largest > math.sqrt(limit) / 1e3
            else "check init's params and the loss there"
        )
        + "."
    )


def _loss_failed(model: Model, backend: str, exc: Exception) -> str:
    """One line: the loss failed under a backend, what it said, and the rewrite that fixes it."""
    from ..check._point import NAMESPACE_HINT

    first = str(exc).strip().splitlines()[0].rstrip(".") if str(exc).strip() else ""
    return (
        f"model {model.name!r}: the loss failed under {backend} ({type(exc).__name__}: "
        f"{first[:300]}). Hint: {operation_hint(exc) or NAMESPACE_HINT}."
    )


def _display(tol: NDArray, floor: NDArray) -> float:
    """The largest per-entry tolerance in the units of the scaled error (the step's floor
    ``max(‖r‖∞, ‖S‖∞)``), to 4 digits."""
    worst = float(np.nanmax(tol.max(axis=1, initial=0.0) / floor, initial=0.0))
    return float(f"{worst:.4g}")
