r"""Mistakes real code makes that one constant factor does not describe.

Tried by :func:`~gdcheck.check._diagnosis.diagnose` after ``scaled`` and before
``wrong_entries``:

* ``term_scaled`` — one term off by a factor. Per parameter block ``b``, least squares

  .. math:: g_b \approx k_b\,r_b + c_b\,p_b

  (``r`` autodiff's gradient, ``p`` the parameters): ``k`` is the data term's factor (m, 2,
  ½ … as ``scaled`` names them) and ``c`` the error in a penalty's coefficient (an L2
  penalty :math:`\tfrac\lambda2\|W\|^2` has gradient :math:`\lambda W`). Only entries well
  above the rounding floor (:data:`RESOLVE` tolerances) take part in the fit, so an
  optimum, where ``r ≈ 0``, names no factor.
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

RESOLVE = 20.0
"""Entries with ``|r_i| ≥ RESOLVE·tol_i`` take part in fitting factors."""


def _blocks(layout: ParamLayout) -> list[tuple[str, tuple[int, ...], slice]]:
    out, start = [], 0
    for name, shape, size in zip(layout.names, layout.shapes, layout.sizes, strict=True):
        out.append((name, shape, slice(start, start + size)))
        start += size
    return out


def fit_terms(
    layout: ParamLayout,
    g: NDArray,
    r: NDArray,
    tol: NDArray,
    p: NDArray | None,
    names: dict[str, float],
    ref: str = "autodiff's",
) -> tuple[str, dict[str, tuple[float, float]]] | None:
    """``g_b ≈ k_b r_b + c_b p_b`` within tolerance in every block: the message and the fits."""
    if p is None:
        return None
    fits: dict[str, tuple[float, float]] = {}
    unpenalised: list[str] = []
    for name, shape, sl in _blocks(layout):
        gb, rb, tb = g[sl], r[sl], tol[sl]
        if np.all(np.abs(gb - rb) <= tb):
            fits[name] = (1.0, 0.0)
            continue
        candidates = [p[sl]]
        if len(shape) == 2 and shape[1] > 1:  # the bias column 0 left out of the penalty
            q = p[sl].reshape(shape).copy()
            q[:, 0] = 0
            candidates.append(q.ravel())
        for i, pb in enumerate(candidates):
            fit = _fit_block(gb, rb, pb, tb)
            if fit is not None:
                fits[name] = fit
                if i == 1:
                    unpenalised.append(name)
                break
        else:
            return None
    if all(abs(c) < 1e-12 for _, c in fits.values()):
        return None  # no penalty term: scaled or wrong_entries say it
    parts = []
    for name, (k, c) in fits.items():
        if abs(k - 1) < 1e-6 and abs(c) < 1e-12:
            continue
        kname = _factor_name(k, names)
        data = (
            f"{ref}"
            if abs(k - 1) < 1e-6
            else f"{kname} × {ref}" + ("" if kname == f"{k:.6g}" else f" ({k:.6g})")
        )
        pen = "" if abs(c) < 1e-12 else f" {'+' if c > 0 else '−'} {abs(c):.4g}·{name}"
        data_term = ""
        if abs(k - 1) >= 1e-6 and abs(c) >= 1e-12:  # g = k·d + λp where r = d + λp
            data_term = (
                f" = {kname} × the data term + a penalty {c / (1 - k):.4g}·{name}"
                f"{' (its bias column left out)' if name in unpenalised else ''}"
            )
        parts.append(f"{name}: yours = {data}{pen}{data_term}")
    if unpenalised:
        parts.append(
            f"(the penalty term leaves column 0, the bias, of {', '.join(unpenalised)} out)"
        )
    ks = {_factor_name(k, names) for k, c in fits.values() if abs(k - 1) >= 1e-6}
    if len(ks) == 1 and all(abs(c) >= 1e-12 for k, c in fits.values() if abs(k - 1) >= 1e-6):
        (kname,) = ks
        return (
            f"the data term is {kname} × its right value{_DATA_HINTS.get(kname, '')}, beside a "
            "penalty that is right: "
            + "; ".join(parts)
            + ". (Yours = k·d + λp where autodiff's = d + λp, so yours = k·autodiff's + "
            "(1 − k)·λp: the fitted penalty coefficient ÷ (1 − k) is λ.)",
            fits,
        )
    return (
        "one term is off by a factor: "
        + "; ".join(parts)
        + ". A term proportional to the parameter is a penalty's gradient (λ‖W‖²/2 gives λW, "
        "λ‖W‖² gives 2λW): its coefficient is off by the amount shown (−λW: the penalty or its 2 "
        "forgotten), or the penalty is applied to a parameter the loss does not penalise.",
        fits,
    )


_DATA_HINTS = {
    "m": " (a sum over the examples where the cost takes a mean: divide it by m)",
    "1/m": " (divided by m once too often)",
    "2": " (an extra 2: the cost has ½, or the 2 of a square counted twice)",
    "1/2": " (a missing 2: the derivative of (ŷ − y)² is 2(ŷ − y))",
}


def _fit_block(gb: NDArray, rb: NDArray, pb: NDArray, tb: NDArray) -> tuple[float, float] | None:
    """Least squares ``gb ≈ k·rb + c·pb`` on a block, when it fits within tolerance."""
    strong = np.abs(rb) >= RESOLVE * tb
    cols = ([rb] if strong.sum() >= 2 else []) + ([pb] if np.any(pb != 0) else [])
    if not cols or gb.size < len(cols) + 3:  # few entries more than unknowns: anything fits
        return None
    coef = np.linalg.lstsq(np.stack(cols, axis=1), gb, rcond=None)[0]
    k = float(coef[0]) if strong.sum() >= 2 else 1.0
    c = float(coef[-1]) if np.any(pb != 0) else 0.0
    if strong.sum() < 2 and np.any(pb != 0):  # r unresolved (an optimum): k = 1
        c = float(pb @ (gb - rb)) / float(pb @ pb)
    if np.any(np.abs(gb - k * rb - c * pb) > tb * max(1.0, abs(k)) + 1e-3 * np.abs(c * pb)):
        return None
    if c and strong.sum() >= 2:  # no penalty term where g ≈ k·r alone fits: the simpler model
        k0 = float(gb @ rb) / float(rb @ rb)
        if np.all(np.abs(gb - k0 * rb) <= tb * max(1.0, abs(k0))):
            return _snap(k0), 0.0
    return _snap(k), c


def _snap(k: float) -> float:
    return round(k) if abs(k - round(k)) < 1e-6 and round(k) != 0 else k


def _factor_name(k: float, names: dict[str, float]) -> str:
    for name, value in names.items():
        if abs(k / value - 1) < 1e-6:
            return name.split(" = ")[0]
    return f"{k:.6g}"


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
