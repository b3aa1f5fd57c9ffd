r"""The difference example by example: a missing per-example term, one example's worth per column.

When no factor, sign, order or shape explains ``d = g − r`` on the whole batch, the data are
split into single examples (every data array shares its leading axis, of length ``N``) and
``d_i = g(p; x_i, y_i) − r(p; x_i, y_i)`` is looked at alone. A linear classifier's gradient
that forgets the correct class's term (the CS231n SVM without ``dW[:, y[i]] -= X[i]``) gives

.. math:: d_i = a_i\, x_i\, e_{y_i}^\top, \qquad a_i \in \{1, 2, \dots\}

(column ``y_i`` only, example ``i``'s row times the number of its terms in the other columns),
so that on the batch column ``j`` of ``d`` is :math:`\tfrac1N\sum_{i: y_i = j} a_i x_i`: one
example's worth per column. A bias ``(K,)`` shows the same as ``a_i`` in entry ``y_i``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .._types import NDArray
from ..params import ParamLayout
from ._diagnosis import Diagnosis, _entries
from ._grad_output import call_grad
from ._point import PointCheck, PointChecker

PROBES = 3
"""Examples with a non-zero difference that must all show the per-example term."""
TRIES = 12
"""Examples looked at, at most, to find them."""


def look_per_example(
    ctx: PointChecker,
    grad: Callable[..., Any],
    layout: ParamLayout,
    dtype: str,
    data_user: tuple,
    checks: list[PointCheck],
    unexplained: Diagnosis,
) -> Diagnosis:
    """``unexplained``, looked at example by example at every point that says it: a
    ``structured`` diagnosis, counting the points that show the term, when
    :func:`per_example_term` finds it at one.

    ``checks`` are the points :func:`gdcheck.check_gradient` compared.
    """
    looked = [
        c
        for c in checks
        if c.yours is not None and c.diagnosis is not None and c.diagnosis.kind == "unexplained"
    ]
    found = [
        per_example_term(
            ctx,
            grad,
            layout,
            {k: np.asarray(v).astype(dtype) for k, v in c.params.items()},
            data_user,
            ctx.data64,
            c.yours - c.reference,
            ~(c.abs_error <= c.tolerance),
        )
        for c in looked
    ]
    shown = [f for f in found if f is not None]
    if not shown:
        return unexplained
    shown[0].points_checked = unexplained.points_checked
    shown[0].points_agreeing = len(shown)
    return shown[0]


def per_example_term(
    ctx: PointChecker,
    grad: Callable[..., Any],
    layout: ParamLayout,
    tree: dict[str, NDArray],
    data_user: tuple,
    data64: tuple,
    d: NDArray,
    wrong: NDArray,
) -> Diagnosis | None:
    """A ``structured`` diagnosis when every probed example's difference is ``a_i x_i e_{y_i}ᵀ``.

    ``ctx`` is the :class:`~._point.PointChecker` (its ``gradients`` give the reference on
    sliced data), ``d`` and ``wrong`` the flat difference and over-tolerance mask on the batch.
    """
    n = examples_along(data64)
    labels = [
        j for j, a in enumerate(data64) if _is_labels(a, n) and a.max(initial=0) < max_cols(layout)
    ]
    if n is None or n < 2 or not labels:
        return None
    y = data64[labels[0]]
    feats = [a for a in data64 if isinstance(a, np.ndarray) and a.ndim == 2 and a.dtype.kind == "f"]
    eps = float(np.finfo(next(iter(tree.values())).dtype).eps)
    seen: list[tuple[int, str, float]] = []  # (example, blocks, a)
    with np.errstate(all="ignore"):
        for i in range(min(n, TRIES)):
            one = tuple(one_example(a, i, n) for a in data_user)
            ref = ctx.gradients(
                tree, tuple(one_example(a, i, n) for a in data64), only=ctx.reference_name
            )
            yours, structure = call_grad(grad, layout, tree, one)
            if ctx.reference_name not in ref or yours is None or structure is not None:
                return None
            r_i = ref[ctx.reference_name]
            g_i = layout.flatten(yours)
            scale = max(float(np.abs(r_i).max(initial=0)), float(np.abs(g_i).max(initial=0)))
            found = _one_example(layout, g_i - r_i, [f[i] for f in feats], int(y[i]), scale, eps)
            if found is None:
                return None
            if found[0]:
                seen.append((i, *found))
            if len(seen) == PROBES:
                break
    names = {name for _, name, _ in seen}  # the same blocks on every example
    if len(seen) < 2 or len(names) != 1:
        return None
    (name,) = names
    shown = ", ".join(f"{a:g}" for *_, a in seen)
    at = ", ".join(f"{i} (y = {int(y[i])})" for i, *_ in seen)
    what = (
        "forgotten: dW[:, y[i]] -= X[i] for each of example i's terms in the other columns "
        "(an SVM's violated margins), or dscores[range(N), y] -= 1 in a softmax"
        if min(a for *_, a in seen) > 0
        else "counted twice, or with the wrong sign"
    )
    return Diagnosis(
        "structured",
        "no constant factor, sign, transpose or reordering fits, but the difference "
        f"(yours − {ctx.ref_label}) has a shape: {name}: one example's worth per column — on "
        f"one example i alone it lives in column y[i] only and is a·X[i]{_bias(layout, name)} "
        f"(a = {shown} on "
        f"examples {at}), so on the batch column j of the difference is Σ_(i: y[i] = j) "
        f"a_i·X[i] (÷ N for a mean){_shape(layout, d, name)}: the correct class's term is "
        f"{what}.",
        entries=_entries(layout, np.flatnonzero(wrong)),
    )


def max_cols(layout: ParamLayout) -> int:
    return max((s[-1] for s in layout.shapes if s), default=0)


def examples_along(data: tuple, axis: int = 0) -> int | None:
    """``N`` when every data array's ``axis`` has that length (and none is 0-d)."""
    arrays = [a for a in data if isinstance(a, np.ndarray)]
    if not arrays or any(a.ndim == 0 for a in arrays):
        return None
    sizes = {a.shape[axis] for a in arrays}
    return sizes.pop() if len(sizes) == 1 else None


def _is_labels(a: Any, n: int | None) -> bool:
    return (
        isinstance(a, np.ndarray)
        and a.ndim == 1
        and a.size == n
        and a.dtype.kind in "iu"
        and a.min(initial=0) >= 0
    )


def one_example(a: Any, i: int, n: int, axis: int = 0) -> Any:
    """Example ``i`` of ``a`` along ``axis`` (kept as an axis of length 1) where that axis
    holds the ``n`` examples; anything else as it is."""
    if not isinstance(a, np.ndarray) or a.ndim == 0 or a.shape[axis] != n:
        return a
    index = [slice(None)] * a.ndim
    index[axis] = slice(i, i + 1)
    return a[tuple(index)]


def _one_example(
    layout: ParamLayout, d: NDArray, rows: list[NDArray], y: int, scale: float, eps: float
) -> tuple[str, float] | None:
    """``(blocks, a)`` when every block of ``d`` that is not 0 is ``a·x·e_yᵀ`` (a weight
    matrix) or ``a·e_y`` (a bias), with one ``a``; ``("", 0)`` when d is 0; else None."""
    tol = 1e3 * eps * max(scale, 1e-300)
    if np.all(np.abs(d) <= tol):
        return "", 0.0
    start, hits = 0, []
    for name, shape, size in zip(layout.names, layout.shapes, layout.sizes, strict=True):
        db = d[start : start + size].reshape(shape)
        start += size
        if np.all(np.abs(db) <= tol):
            continue
        if not shape or y >= shape[-1]:
            return None
        rest = np.delete(db, y, axis=-1)
        col = db[..., y]
        if np.any(np.abs(rest) > tol):
            return None
        cands = [np.ones(1)] if col.ndim == 0 else [x for x in rows if x.shape == col.shape]
        for x in cands:
            a = float(np.ravel(col) @ np.ravel(x)) / float(np.ravel(x) @ np.ravel(x) or 1.0)
            if a != 0 and np.all(np.abs(np.ravel(col) - a * np.ravel(x)) <= tol):
                hits.append((name, a))
                break
        else:
            return None
    if not hits or any(abs(a / hits[0][1] - 1) > 1e-6 for _, a in hits):
        return None
    return ", ".join(n for n, _ in hits), hits[0][1]


def _shape(layout: ParamLayout, d: NDArray, names: str) -> str:
    """`` (on the batch: 4 of 4 columns, rank 4)``: where the first matrix's difference lives."""
    i = layout.names.index(names.split(", ")[0])
    start = sum(layout.sizes[:i])
    db = d[start : start + layout.sizes[i]].reshape(layout.shapes[i])
    if db.ndim != 2:
        return ""
    cols = int(np.count_nonzero(np.abs(db).max(axis=0) > 0))
    rank = int(np.linalg.matrix_rank(db))
    return f" (on the batch: {cols} of {db.shape[1]} columns, rank {rank})"


def _bias(layout: ParamLayout, names: str) -> str:
    vectors = [n for n in names.split(", ") if len(layout.shapes[layout.names.index(n)]) == 1]
    return f", and a in entry y[i] of {', '.join(vectors)}" if vectors else ""
