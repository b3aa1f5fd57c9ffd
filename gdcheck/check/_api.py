r"""Check anyone's handwritten gradient: :func:`check_gradient` and :func:`assert_gradient`.

``loss(params, *data)`` is written once against the array-API namespace
(``xp = gdcheck.namespace(params)``) so it runs under NumPy, JAX and PyTorch;
``grad(params, *data)`` is the handwritten NumPy gradient under test. ``params`` is an array
or a dict of arrays.

The handwritten gradient ``g`` is compared with autodiff's ``r`` (JAX, PyTorch; float64) entry
by entry:

.. math:: |g_i - r_i| \le \tau_r |r_i| + \tau_a^{(i)}, \qquad
          \tau_r = 16\,\epsilon\sqrt{N}, \qquad
          \tau_a^{(i)} = 64\,\max(\nu_i,\ 0.01\max_{j \in p}\nu_j)

where ``ε`` is the dtype's epsilon, ``N`` the number of terms summed (the largest data
dimension) and ``ν`` the **rounding floor**: how far the reference gradient moves when the
parameters (and data, when small) are perturbed by a relative ``ε`` with random signs, i.e.
``ε`` times the size of the terms that make up each entry. At the least-squares optimum the
gradient is ~1e-15 but ``ν`` is not, so a correct gradient passes there, while a 1 % error in
any single entry at a generic point fails.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future
from typing import Any

import numpy as np

from .. import backends as backend_registry
from .._types import NDArray
from ..errors import GradientMismatch, InputError, InputTypeError
from ..params import ParamLayout, parse_params
from ..validation import cast_data, check_dtype, check_finite, check_ranges
from ._arguments import by_keyword, check_tolerance_value, infer_dtype, taylor_mode
from ._diagnosis import Diagnosis
from ._grad_output import call_grad
from ._kink import judge_at_smooth_points
from ._ladder import Ladder
from ._layout import unroll
from ._missing_example import missing_example
from ._on_demand import OnDemand, release
from ._per_example import look_per_example
from ._point import PointCheck, PointChecker
from ._result import GradientCheck
from ._taylor import TaylorTest, gradient_of, read_ladder, taylor_test
from ._witness_run import WitnessCheck, doubted, effective_mode

EXTRA_POINTS = 2
LARGE_DATA = 1_000_000
"""Data elements from which the check works as on large data: the random-direction witness
is central differences along the Taylor line (the complex step's complex copy of the data
would cost more than the rest of the check), and ``taylor="auto"`` skips the Taylor test of
a check that passes."""
VAGUE = ("unexplained", "structured")
"""Diagnoses that a named example left out (:mod:`._missing_example`) makes precise."""
RESOLVE = 100.0
"""An entry resolves a 1 % error where ``|r_i| ≥ RESOLVE·tol_i``."""


def check_gradient(
    loss: Callable[..., Any],
    grad: Callable[..., Any],
    params: Any,
    *data: Any,
    backends: Sequence[str] | str | None = None,
    dtype: str | None = None,
    rtol: float | Mapping[str, float] | None = None,
    atol: float | Mapping[str, float] | None = None,
    witnesses: str = "auto",
    seed: int = 0,
    taylor: bool | str = "auto",
    layout: Mapping[str, tuple[int, ...]] | None = None,
    order: str | None = None,
    **named_data: Any,
) -> GradientCheck:
    """Check a handwritten gradient against autodiff and autodiff-free witnesses.

    Args:
      loss: ``loss(params, *data)`` returning a scalar, written with ``gdcheck.namespace``.
      grad: your gradient, ``grad(params, *data)``, returning arrays shaped like ``params``.
      params: one array, or a dict of arrays (0-d allowed), at which to check.
      *data: arrays (any layout) passed to both functions; integer arrays stay integer.
      backends: autodiff backends from ``("jax", "torch")``; default: those installed.
      dtype: the dtype your gradient runs in; default: that of ``params`` (float32 or float64).
      rtol, atol: override the derived tolerances (a number, or ``{dtype: number}``).
      witnesses: ``"auto"`` (random directions; per entry when there are few entries),
        ``"directions"``, ``"entries"`` or ``"none"``.
      seed: for the random directions and the extra points.
      taylor: also run the Taylor test at each point (``result.taylor``): ``True``,
        ``False``, or ``"auto"`` (default): always, except for a check that passes on data of
        at least :data:`LARGE_DATA` elements, where its 27 loss evaluations would cost more
        than the rest of the check and cannot change the verdict (a note says so), and where
        a witness ran (it is the second opinion there; else the Taylor test is).
      layout: for one flat, unrolled parameter vector, the matrices it holds in order,
        ``{"Theta1": (25, 401), "Theta2": (10, 26)}``: entries are reported as
        ``Theta1[3, 0]`` and diagnosed per matrix; loss and grad still see the flat vector.
      order: how ``layout``'s matrices are unrolled: ``"C"`` (row-major, ``.ravel()``; the
        default) or ``"F"`` (column-major, Octave's ``A(:)``).
      **named_data: data passed by keyword to both functions (``X=X, y=y``).

    Returns:
      A :class:`GradientCheck`: ``passed``, ``max_rel_error``, errors per parameter and entry,
      ``diagnosis`` (``kind``, ``factor``, ``entries``, ``confidence``) and a readable ``str()``.

    Example::

        def loss(w, X, y):
            xp = gdcheck.namespace(w)
            return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]

        def grad(w, X, y):
            return (2 / X.shape[1]) * X @ (w.T @ X - y).T

        print(gdcheck.check_gradient(loss, grad, np.zeros((2, 1)), X, y))
    """
    started = time.perf_counter()
    if named_data:
        loss, grad, data = by_keyword(loss, grad, data, named_data)
    if not callable(loss) or not callable(grad):
        raise InputTypeError(
            "loss and grad must be callables: loss(params, *data), grad(params, *data)."
        )
    taylor = taylor_mode(taylor)
    if witnesses not in ("auto", "directions", "entries", "none"):
        raise InputError(f"witnesses={witnesses!r}; use 'auto', 'directions', 'entries' or 'none'.")
    dtype = check_dtype(dtype) if dtype is not None else infer_dtype(params)
    for name, value in (("rtol", rtol), ("atol", atol)):
        check_tolerance_value(name, value)
    layout_, tree = parse_params(params, dtype)
    if layout is not None:
        layout_, tree = unroll(layout_, tree, layout, "C" if order is None else order)
    elif order is not None:
        raise InputError(
            f"order={order!r} without layout=: order says how a layout's matrices are "
            "unrolled in one flat vector; pass layout={name: shape, …} too, or drop order."
        )
    layout = layout_
    check_ranges(data, dtype)
    data_user = tuple(cast_data(d, dtype) for d in data)
    data64 = tuple(cast_data(d, "float64") for d in data_user)
    autodiff, skipped = _autodiff_backends(backends)
    rng = np.random.default_rng(seed)
    ctx = PointChecker(loss, layout, data64, autodiff, dtype, rtol, atol)
    # Autodiff's gradient and the Taylor test's loss values need no gradient of yours: on
    # large data they start now, beside yours, and the random-direction witness is central
    # differences along the Taylor line (the full ladder when it runs, else two steps).
    size = sum(d.size for d in data64 if isinstance(d, np.ndarray))
    large = size >= LARGE_DATA
    ctx.prefetch(tree)
    steps = ctx.start_ladder(tree, seed) if large and taylor is True else None
    along_lines = effective_mode(witnesses, layout.size) == "directions"
    line = (
        ctx.start_ladder(tree, seed, short=True)
        if large and steps is None and along_lines
        else steps
    )
    pending = ctx.start_witnesses(tree, witnesses, rng, line) if witnesses != "none" else None
    ctx.close_pool()
    for i, d in enumerate(data_user):  # beside the background work, before any verdict
        if isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.floating):
            check_finite(d, f"data[{i}]")

    yours_tree, structure = call_grad(grad, layout, tree, data_user)
    # the witnesses first: a short line runs here, while autodiff finishes in the background
    estimates = pending.result() if pending is not None else None
    point = ctx.compare(tree, yours_tree, structure)
    witnesses_run: list[WitnessCheck] = []
    if estimates is not None:
        arbiter = ctx.reference_name
        witnesses_run = ctx.witness(point, estimates)
        if point.kink is None and doubted(witnesses_run, arbiter) and release(ctx.autodiff):
            # a witness doubts the one backend that answered (PyTorch): ask JAX after all
            ctx.notes[:] = [n for n in ctx.notes if " was not consulted: " not in n]
            ctx.notes.append(
                f"a witness disagrees with {arbiter}'s gradient, so every autodiff backend "
                "was consulted."
            )
            point = ctx.compare(tree, yours_tree, structure)
            arbiter = ctx.reference_name
            witnesses_run = ctx.witness(point, estimates)
        if ctx.reference_name != arbiter:  # the witnesses sided with another backend
            point = ctx.compare(tree, yours_tree, structure)
    checks = [point]
    why_further = None if point.diagnosis is not None else _cannot_tell(point, tree)
    if point.diagnosis is not None or why_further:
        for extra in _extra_points(tree, rng, EXTRA_POINTS):
            ytree, struct = call_grad(
                grad, layout, {k: v.astype(dtype) for k, v in extra.items()}, data_user
            )
            checks.append(ctx.compare(extra, ytree, struct))
    diagnosis = _combine(point, checks)
    if diagnosis is not None and diagnosis.kind == "unexplained":
        diagnosis = look_per_example(ctx, grad, layout, dtype, data_user, checks, diagnosis)
    if diagnosis is not None and diagnosis.kind in VAGUE:
        diagnosis = _left_out(ctx, checks, diagnosis)
    # A difference that rounding explains is reported, not failed — unless the tolerance
    # is the user's own, which is then taken at its word.
    own_tolerance = rtol is not None or atol is not None
    passed = all(
        c.diagnosis is None or (c.diagnosis.kind == "precision" and not own_tolerance)
        for c in checks
    )
    notes = list(ctx.notes)
    # on a passing large check the witness is the second opinion: the Taylor test runs when
    # no witness could (the loss fails under NumPy, say) unless the witnesses were turned off
    witnessed = witnesses == "none" or any(w.witness.ran for w in witnesses_run)
    run_taylor = taylor is True or (taylor == "auto" and not (large and passed and witnessed))
    taylor_tests = (
        [_taylor(loss, layout, c, data64, seed, steps if c is point else None) for c in checks]
        if run_taylor
        else []
    )
    if taylor == "auto" and not run_taylor:
        notes.append(
            f"the Taylor test was not run: the check passed, and on data this large ({size:,} "
            f"elements ≥ {LARGE_DATA:,}) its 27 loss evaluations cost more than the rest of the "
            "check; pass taylor=True for it."
        )
    for w in witnesses_run:
        if passed and point.yours is not None and w.witness.ran and not w.agrees_with_yours:
            notes.append(
                f"autodiff agrees with your gradient but the {w.witness.name} witness does not "
                f"({w.yours_error:.3g}× its tolerance): is the loss smooth here? The verdict "
                "follows autodiff; witnesses arbitrate only between disagreeing backends."
            )
    if why_further:
        notes.append(f"{why_further}; {len(checks) - 1} random nearby point(s) were checked too.")
    shown = next((c for c in checks if c.diagnosis is not None), point)
    if shown is not point:
        notes.append("the table shows the first random point where the mismatch is visible.")
    return GradientCheck(
        passed=passed,
        dtype=dtype,
        layout=layout,
        yours=None if shown.yours is None else layout.unflatten(shown.yours),
        reference=layout.unflatten(shown.reference),
        reference_name=ctx.reference_name,
        autodiff={k: layout.unflatten(v) for k, v in shown.autodiff.items()},
        failures=dict(ctx.failures),
        skipped=skipped,
        abs_error=layout.unflatten(shown.abs_error),
        tolerance=layout.unflatten(shown.tolerance),
        rtol=ctx.last_rtol,
        atol=dict(shown.atol),
        floor_measured=shown.floor_measured,
        kink=point.kink,
        witnesses=witnesses_run,
        diagnosis=diagnosis,
        points_checked=len(checks),
        notes=notes,
        taylor=taylor_tests,
        seconds=time.perf_counter() - started,
    )


def assert_gradient(
    loss: Callable[..., Any], grad: Callable[..., Any], params: Any, *data: Any, **kwargs: Any
) -> GradientCheck:
    """:func:`check_gradient`, raising :class:`gdcheck.GradientMismatch` (with the report) if it fails."""
    __tracebackhide__ = True
    result = check_gradient(loss, grad, params, *data, **kwargs)
    if not result.passed:
        raise GradientMismatch(str(result))
    return result


# ----------------------------------------------------------------------------- internals


def _taylor(
    loss: Callable[..., Any],
    layout: ParamLayout,
    c: PointCheck,
    data64: tuple,
    seed: int,
    started: Future[Ladder] | None = None,
) -> TaylorTest | None:
    """The Taylor test of your gradient at ``c``; on the ladder ``started`` there when given."""
    if c.yours is None:
        return None
    yours = layout.to_user(layout.unflatten(c.yours))
    try:
        if started is None:
            return taylor_test(loss, yours, layout.to_user(c.params), *data64, seed=seed)
        steps = started.result()
        return read_ladder(steps, *gradient_of(yours, steps.layout))
    except (InputError, ValueError, TypeError, FloatingPointError):
        return None


def _autodiff_backends(requested: Sequence[str] | str | None) -> tuple[list[Any], dict[str, str]]:
    names = ("torch", "jax")  # torch first: it reads NumPy data without a copy
    if isinstance(requested, str):
        requested = [b.strip() for b in requested.split(",") if b.strip()]
    if requested is not None:
        requested = [n for n in requested if n != "numpy"]
        if not requested:
            raise InputError(
                "backends selects no autodiff backend: numpy runs your own gradient; choose "
                "jax and/or torch to compare it with."
            )
        for n in requested:
            if n not in names:
                raise InputError(f"unknown autodiff backend {n!r}; choose from {', '.join(names)}.")
        return [backend_registry.get(n) for n in requested], {}
    chosen, skipped = [], {}
    for n in names:
        b = backend_registry._REGISTRY[n]
        if b.is_available():
            chosen.append(OnDemand(b) if chosen else b)  # JAX beside torch: when needed
        else:
            skipped[n] = f"not installed ({b.install_hint})"
    return chosen, skipped


def _extra_points(
    tree: dict[str, NDArray], rng: np.random.Generator, count: int
) -> list[dict[str, NDArray]]:
    """Random points near ``tree``: each entry moved by N(0, 1)·max(1, |p|∞)."""
    points = []
    for _ in range(count):
        points.append(
            {
                k: (
                    v.astype(np.float64)
                    + rng.standard_normal(v.shape) * max(1.0, float(np.abs(v).max(initial=0.0)))
                )
                for k, v in tree.items()
            }
        )
    return points


def _cannot_tell(point: PointCheck, tree: dict[str, NDArray]) -> str | None:
    """Why the given point alone cannot vouch for the gradient, or None when it can.

    A 1 % error in entry i shows only where ``0.01·|r_i|`` exceeds its tolerance; where most
    entries are below that (near an optimum), or where parameters are exactly zero (terms
    such as a penalty's vanish there), a wrong formula can look right. At a kink (checked
    first: it is not an optimum) no single gradient is right at some entries.
    """
    if point.kink is not None:
        return (
            f"the given point is a kink of the loss ({len(point.kink.labels)} entries have no "
            "single gradient), so it is not judged where a nearby smooth point can be"
        )
    resolvable = np.abs(point.reference) >= RESOLVE * point.tolerance
    if not resolvable.any():
        return (
            "the gradient is at the rounding floor at the given point (an optimum?), where a "
            "wrong formula can look right"
        )
    if resolvable.mean() < 0.5:
        return (
            "at the given point most gradient entries are too small to resolve a 1 % error "
            "(near an optimum?)"
        )
    if any(np.any(v == 0) for v in tree.values()):
        return "the given point has parameters that are exactly 0, where some terms vanish"
    return None


def _left_out(ctx: PointChecker, checks: list[PointCheck], unexplained: Diagnosis) -> Diagnosis:
    """``unexplained`` (or a vaguer ``structured``, a rank-one difference), or the example the
    gradient leaves out (:mod:`._missing_example`: an exact fit, so it is preferred) at every
    point that says it, counted as :func:`._per_example.look_per_example` counts."""
    looked = [c for c in checks if c.diagnosis is not None and c.diagnosis.kind in VAGUE]
    found = [d for d in (missing_example(ctx, c) for c in looked) if d is not None]
    if not found:
        return unexplained
    found[0].points_checked = unexplained.points_checked
    found[0].points_agreeing = len(found)
    return found[0]


def _combine(first: PointCheck, checks: list[PointCheck]) -> Diagnosis | None:
    """The diagnosis at the first point that shows one, with how many points agree.

    Kink points are set aside first (:func:`._kink.judge_at_smooth_points`: their diagnosis
    moves to ``check.kink.diagnosis``) when a smooth point was checked, so that the verdict,
    the headline and the count come from the smooth points.
    """
    judge_at_smooth_points(checks)
    judged = [c for c in checks if c.kink is None] or checks
    found = [c.diagnosis for c in judged if c.diagnosis is not None]
    if not found:
        return None
    lead = first.diagnosis or found[0]
    lead.points_checked = len(judged)
    lead.points_agreeing = sum(1 for d in found if lead.same_as(d))
    return lead
