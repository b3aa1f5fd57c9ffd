r"""Mistakes real code makes that one constant factor does not describe.

Tried by :func:`~gdcheck.check._diagnosis.diagnose` after ``scaled`` and before
``wrong_entries``:

* ``term_scaled`` — one term off by a factor: see :mod:`._penalty_fit`.
* ``permuted`` — exactly autodiff's entries, in another order (a matrix unrolled in
  column-major order where the loss reads row-major, a block transposed inside a flat vector).
* ``structured`` — none fits, but the difference ``d = g − r`` has a shape: the rows, columns
  or blocks it lives in, rank one or not, or ``d = α·Xᵀ·onehot(y)`` (one example's row per
  class column: ``dscores[y] −= 1`` forgotten in a softmax, or the correct class counted in
  an SVM).
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from .._types import NDArray
from ..params import ParamLayout
from ._penalty_fit import blocks as _blocks


def find_permutation(layout: ParamLayout, g: NDArray, r: NDArray, tol: NDArray) -> str | None:
    """A message when ``g`` holds autodiff's entries in another order, else None."""
    if g.size < 2 or np.all(np.abs(g - r) <= tol):
        return None
    if not _same_entries(g, r, tol):
        return None
    found = []
    for name, shape, sl in _blocks(layout):
        gb, rb, tb = g[sl], r[sl], tol[sl]
        if np.all(np.abs(gb - rb) <= tb):
            continue
        if len(shape) == 2 and np.all(np.abs(gb - rb.reshape(shape).ravel(order="F")) <= tb):
            found.append(
                f"{name} {shape} is unrolled column-major (order='F', Octave's A(:)) where the "
                f"loss reads it row-major: return {name}_grad.ravel() (order 'C'), or the same "
                "as the transpose of the block"
            )
            continue
        if len(shape) == 2 and np.all(
            np.abs(gb.reshape(shape[::-1], order="F").ravel() - rb) <= tb
        ):
            found.append(
                f"{name} {shape} is unrolled row-major where the loss reads it column-major "
                "(order='F'): unroll it with .ravel(order='F')"
            )
            continue
        if not _same_entries(gb, rb, tb):
            found.append(f"{name} holds entries of another parameter")
            continue
        wrong = np.flatnonzero(np.abs(gb - rb) > tb)
        if not all(np.any(np.abs(np.delete(rb - gb[i], i)) <= np.delete(tb, i)) for i in wrong):
            return None  # a wrong entry that equals no other entry: not a reordering
        pairs = []
        for i in wrong[:3]:
            j = int(np.argmin(np.abs(rb - gb[i])))
            pairs.append(
                f"yours at {layout.label(sl.start + int(i))} = autodiff's at "
                f"{layout.label(sl.start + j)}"
            )
        found.append(f"{name}: {wrong.size} entries moved ({'; '.join(pairs)})")
    if not found:
        found.append(
            "entries moved between parameters (the blocks are concatenated in another "
            "order than the params')"
        )
    return (
        "your gradient has exactly autodiff's entries in another order: " + "; ".join(found) + "."
    )


def _same_entries(g: NDArray, r: NDArray, tol: NDArray) -> bool:
    """``g`` and ``r`` hold the same values, each within the tolerance of the entry of ``r``
    it pairs with once both are sorted (rounding of the dtype included, float32 too)."""
    o = np.argsort(r, kind="stable")
    return bool(np.all(np.abs(np.sort(g) - r[o]) <= tol[o]))


def describe_leftover(
    layout: ParamLayout, g: NDArray, r: NDArray, tol: NDArray, data: Iterable[object]
) -> str | None:
    """The shape of ``d = g − r`` where no simple mistake fits, or None when it has none."""
    d = g - r
    wrong = np.abs(d) > tol
    arrays = [a for a in data if isinstance(a, np.ndarray)]
    parts = []
    for name, shape, sl in _blocks(layout):
        if not wrong[sl].any():
            continue
        db, wb = d[sl].reshape(shape), wrong[sl].reshape(shape)
        label = _label_term(db, shape, arrays, tol[sl].reshape(shape))
        if label:
            parts.append(f"{name}: {label}")
            continue
        if len(shape) != 2 or min(shape) < 2:
            continue
        rows = np.flatnonzero(wb.any(axis=1))
        cols = np.flatnonzero(wb.any(axis=0))
        where = []
        if rows.size < shape[0]:
            where.append(f"rows {_span(rows)} only")
        if cols.size < shape[1]:
            where.append(f"columns {_span(cols)} only")
        s = np.linalg.svd(db, compute_uv=False)
        rank_one = s[0] > 0 and (s[1:] <= 1e-6 * s[0]).all()
        if rank_one:
            where.append(
                "rank one (an outer product u vᵀ: one term of a sum over examples "
                "or classes, missing or extra)"
            )
        if where:
            parts.append(f"{name}: the difference lives in " + ", ".join(where))
    return "; ".join(parts) if parts else None


def _span(idx: NDArray) -> str:
    shown = ", ".join(str(int(i)) for i in idx[:6])
    return shown + (f" … ({idx.size})" if idx.size > 6 else "")


def _label_term(
    db: NDArray, shape: tuple[int, ...], arrays: list[NDArray], tb: NDArray
) -> str | None:
    """``d = α·Xᵀ·onehot(y)`` (a weight matrix) or ``α·counts(y)`` (a bias), for data X, y."""
    labels = [a for a in arrays if a.ndim == 1 and np.issubdtype(a.dtype, np.integer)]
    labels += [
        a.argmax(axis=1)
        for a in arrays
        if a.ndim == 2 and np.isin(a, (0, 1)).all() and np.all(a.sum(axis=1) == 1)
    ]
    feats = [a for a in arrays if a.ndim == 2 and np.issubdtype(a.dtype, np.floating)]
    for y in labels:
        k = shape[-1]
        if y.size == 0 or y.min() < 0 or y.max() >= k:
            continue
        onehot = np.eye(k)[y]
        cands = []
        if len(shape) == 1:
            cands.append(onehot.sum(axis=0))
        else:
            cands += [
                X.T @ onehot for X in feats if X.shape[0] == y.size and X.T.shape[0] == shape[0]
            ]
        for T in cands:
            tt = float((T * T).sum())
            if tt == 0:
                continue
            a = float((db * T).sum()) / tt
            if a != 0 and np.all(np.abs(db - a * T) <= tb):
                per = (
                    f"{a:.6g}"
                    if abs(a * y.size - round(a * y.size)) > 1e-6
                    else (f"{round(a * y.size)}/m")
                )
                return (
                    f"the difference is {per} × (each class column's sum of its own examples' "
                    "rows: Xᵀ·onehot(y)) — the correct-class term: `dscores[range(N), y] -= 1` "
                    "forgotten or doubled in a softmax, or the correct class counted as a margin "
                    "in an SVM (margins[range(N), y] = 0 missing)"
                )
    return None
