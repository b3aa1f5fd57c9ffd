r"""A gradient that leaves one example out: the off-by-one of a loop or a slice.

A loop ``for i in range(N - 1)``, a slice ``X[:-1]`` or a dropped last mini-batch of one
computes the gradient over the other examples. With :math:`r` autodiff's gradient of the
mean over all :math:`N` examples and :math:`r_k` its gradient on example :math:`k` alone,

.. math:: g = \alpha\, r + \beta\, r_k, \qquad
          (\alpha, \beta) = (1, -\tfrac1N) \text{ (still } \div N\text{)},\quad
          (\tfrac{N}{N-1}, -\tfrac{1}{N-1}) \text{ (} \div (N-1)\text{)},\quad
          (1, -1) \text{ (a sum)}.

:func:`missing_example` fits :math:`(\alpha, \beta)` by least squares for the last and the
first example, and names the one whose fit is within the point's tolerance at every entry and
whose coefficients are one of those three. A loss with a term outside the per-example sum (a
penalty on the weights) appears in every :math:`r_k` and does not fit: it is left unexplained
rather than guessed at.
"""

from __future__ import annotations

import numpy as np

from .._words import counted
from ._diagnosis import Diagnosis, _entries
from ._per_example import examples_along, one_example
from ._point import PointCheck, PointChecker

COEFFICIENT_RTOL = 1e-6
"""How close the fitted α and β must be to one of the three forms."""


def missing_example(ctx: PointChecker, point: PointCheck) -> Diagnosis | None:
    """A ``structured`` diagnosis when ``point``'s gradient is autodiff's without the last or
    the first example (the module docstring); else None."""
    if point.yours is None:
        return None
    found = _examples_axis(ctx.data64)
    if found is None:
        return None
    axis, n = found
    g, r = point.yours, point.reference
    for k, which in ((n - 1, "the last"), (0, "the first")):
        one = tuple(one_example(a, k, n, axis) for a in ctx.data64)
        try:
            ref = ctx.gradients(point.params, one, only=ctx.reference_name)
        except Exception:  # the loss cannot run on one example (a batch statistic, say)
            return None
        r_k = ref.get(ctx.reference_name)
        if r_k is None or not np.isfinite(r_k).all() or not np.any(r_k):
            continue
        with np.errstate(all="ignore"):
            (alpha, beta), *_ = np.linalg.lstsq(np.stack([r, r_k], axis=1), g, rcond=None)
            fits = np.all(np.abs(g - alpha * r - beta * r_k) <= point.tolerance)
        form = _form(float(alpha), float(beta), n)
        if fits and form is not None:
            wrong = ~(point.abs_error <= point.tolerance)
            return Diagnosis(
                "structured",
                f"your gradient leaves out example {k} ({which} of {n}): it equals "
                f"{ctx.ref_label} gradient over the other {counted(n - 1, 'example')}{form} at "
                f"every entry (α = {alpha:.6g}, β = {beta:.6g} in g = α·r + β·r_{k}). An "
                "off-by-one: a loop to N − 1 (range(N - 1)), a slice such as X[:-1], or a last "
                "mini-batch dropped; sum over every example.",
                entries=_entries(ctx.layout, np.flatnonzero(wrong)),
            )
    return None


def _form(alpha: float, beta: float, n: int) -> str | None:
    """How the other examples were normalised, for the coefficients that say so."""
    forms = {
        ", still divided by N": (1.0, -1.0 / n),
        ", divided by N − 1": (n / (n - 1), -1.0 / (n - 1)),
        " (summed)": (1.0, -1.0),
    }
    for words, form in forms.items():
        if np.allclose((alpha, beta), form, rtol=COEFFICIENT_RTOL, atol=0.0):
            return words
    return None


def _examples_axis(data: tuple) -> tuple[int, int] | None:
    """``(axis, N)``: the examples' axis, the leading one when every data array's leading axis
    has length N (rows: X (N, d), y (N,)), else the trailing one when every trailing axis has
    (the tutorial's columns: X (n, N), y (1, N)); None when neither, or N < 3."""
    for axis in (0, -1):
        n = examples_along(data, axis)
        if n is not None and n >= 3:
            return axis, n
    return None
