r"""The Taylor test of the handwritten gradient at the run's starting weights.

A tolerance-free second opinion beside the per-step checks (issue 11, item 10):

.. math::

    R(h) = \bigl|C(w_0 + hv) - C(w_0) - h\,\langle g(w_0), v\rangle\bigr|
         = h\,\bigl|\langle \nabla C(w_0) - g(w_0), v\rangle\bigr| + O(h^2),

so the remainder shrinks 4× per halving of ``h`` (order 2) when ``g`` is the gradient and 2×
(order 1) when it is not. It reads the loss in NumPy float64, about 27 evaluations, so it is
skipped above :data:`TAYLOR_LIMIT` data entries, where it would cost more than the run and a
float64 copy of the data; the report then says so. Where ``w_0`` sits at a kink (a ReLU input
exactly 0: every step crosses it, and the test does not apply), it is read at one seeded
nearby point instead, and says so.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import numpy as np

from ..check._grad_output import call_grad
from ..check._taylor import TaylorTest, taylor_test
from ..errors import InputError

__all__ = ["TAYLOR_LIMIT", "taylor_at_start"]

TAYLOR_LIMIT = 20_000_000
"""Floating data entries above which the starting-point Taylor test is not run."""
NEARBY = 1e-3
"""How far (relative to the weights' scale) the test moves off a ``w_0`` that sits at a kink."""


def _entries(data: tuple) -> int:
    return sum(
        int(d.size)
        for d in data
        if isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.floating)
    )


def taylor_at_start(problem: Any) -> TaylorTest | str:
    """The handwritten gradient's Taylor test at ``w_0``, or the reason it was not run."""
    if _entries(problem.data) > TAYLOR_LIMIT:
        return (
            f"not run: the data have more than {TAYLOR_LIMIT:,} entries, where ~27 float64 "
            "evaluations of the loss would cost more than the run; check_gradient on a "
            "subsample gives the same test."
        )
    model = problem.model
    data64 = tuple(
        d.astype(np.float64)
        if isinstance(d, np.ndarray) and np.issubdtype(d.dtype, np.floating)
        else d
        for d in problem.data
    )
    w0 = problem.w0.astype(np.float64)
    try:
        test = _at(model, problem.layout, w0, data64)
        if isinstance(test, TaylorTest) and test.order is None and "kink" in test.note:
            # w0 sits on (or within the smallest step of) a kink: every step crosses it.
            # One seeded move of NEARBY relative size leaves it, as check_gradient's points do.
            rng = np.random.default_rng(0)
            moved = w0 + NEARBY * max(1.0, float(np.abs(w0).max(initial=0.0))) * (
                rng.standard_normal(w0.shape)
            )
            near = _at(model, problem.layout, moved, data64)
            if isinstance(near, TaylorTest) and near.order is not None:
                return replace(
                    near,
                    note=f"at a point {NEARBY:g} (relative) from w₀, which sits at a kink of "
                    f"the loss where the test does not apply: {near.note}",
                )
        return test
    except (InputError, ValueError, TypeError, FloatingPointError, ArithmeticError) as exc:
        return f"not run: {str(exc).strip() or type(exc).__name__}"


def _at(model: Any, layout: Any, flat: np.ndarray, data64: tuple) -> TaylorTest | str:
    tree = layout.unflatten(flat)
    g, structure = call_grad(model.grad, layout, tree, data64)
    if g is None:  # a wrong structure: the per-step checks report it
        return f"not run: {structure.message if structure is not None else 'no gradient'}"
    return taylor_test(model.loss, layout.to_user(g), layout.to_user(tree), *data64)
