r"""``term_scaled``: one term of the gradient off by a factor, a data term plus penalties.

Per parameter block ``b``, least squares

.. math:: g_b \approx k\,r_b + c_b\,p_b + e_b\,\operatorname{sign}(p_b)

(``r`` autodiff's gradient, ``p`` the parameters). ``k`` is the data term's factor (m, 2, ½ …
as ``scaled`` names them), ``c`` the error in an L2 penalty's coefficient
(:math:`\tfrac\lambda2\|W\|^2` has gradient :math:`\lambda W`; also tried with a matrix's
column 0, the bias, left out) and ``e`` the error in an L1 penalty's
(:math:`\alpha\|w\|_1` has subgradient :math:`\alpha\operatorname{sign}(w)`). Where the data
term is ``k ×`` its right value ``d`` beside right penalties, :math:`g = k d + \lambda p +
\alpha s` and :math:`r = d + \lambda p + \alpha s`, so :math:`g = k r + (1-k)\lambda p +
(1-k)\alpha s`: the penalties' coefficients are the fitted ones ÷ (1 − k).

Models are tried from the fewest unknowns up, and a fit is accepted only when it cannot be
an accident of too few entries. With ``q`` unknowns on a block of ``n`` entries it is

* *determined* when :math:`n \ge q + 3` and every residual is within the tolerance;
* *exact but small* when :math:`q < n < q + 3` (a 4-entry ``w`` with ``k, c, e``): every
  residual within the tolerance and within :data:`EXACT` of the difference ``g − r``, **and**
  ``k ≠ 1``, corroborated by another block that fits the same ``k`` (a bias ``b`` that is
  exactly ``k × r_b`` counts): one ``k`` shared by the blocks adds the equations that the
  small block lacks. With three unknowns on four entries a random difference almost always
  fits within a loose tolerance, never to rounding *and* with another block's ``k``.

A block that fits no model on its own (a scalar bias) is accepted when it is ``k × r_b`` for
the ``k`` of the fitted blocks. With ``k = 1`` only one penalty direction is accepted:
``g − r = αw − α·sign(w)`` is no coefficient off but an L1 gradient written as an L2 one
(the penalty's form wrong), which ``wrong_entries`` reports. Only entries of ``r`` well above
the rounding floor (:data:`RESOLVE` tolerances) make ``k`` free, so an optimum, where
``r ≈ 0``, names no factor.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .._types import NDArray
from ..params import ParamLayout

RESOLVE = 20.0
"""Entries with ``|r_i| ≥ RESOLVE·tol_i`` take part in fitting factors."""
EXACT = 1e-3
"""A small block's fit leaves at most this share of the difference ``g − r`` unexplained."""
K_AGREE = 1e-5
"""Relative agreement of two blocks' fitted ``k`` (float32's least squares included)."""


class Fit(NamedTuple):
    """One block's ``g ≈ k·r + c·p + e·sign(p)``."""

    k: float = 1.0
    c: float = 0.0
    e: float = 0.0
    bias_column_out: bool = False
    small: bool = False
    """Exact on too few entries: accepted only when another block shows the same ``k``."""
    witness: bool = False
    """Its ``k`` was measured (``r`` resolved there): it can corroborate another block's."""

    @property
    def off(self) -> bool:
        return abs(self.k - 1) > 1e-6 or bool(self.c) or bool(self.e)


def blocks(layout: ParamLayout) -> list[tuple[str, tuple[int, ...], slice]]:
    """``(name, shape, slice)`` of each parameter in the flat vector."""
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
) -> tuple[str, dict[str, Fit]] | None:
    """The message and each block's :class:`Fit` when every block fits (see the module)."""
    if p is None:
        return None
    fits: dict[str, Fit] = {}
    pending: list[tuple[str, slice]] = []
    for name, shape, sl in blocks(layout):
        gb, rb, tb = g[sl], r[sl], tol[sl]
        if np.all(np.abs(gb - rb) <= tb):
            fits[name] = Fit()  # right: k = 1 there corroborates no other block's k
            continue
        fit = fit_block(gb, rb, p[sl], tb, shape)
        if fit is None:
            pending.append((name, sl))
        else:
            fits[name] = fit
    ks = [f.k for f in fits.values() if abs(f.k - 1) > 1e-6]
    if ks and any(abs(k / ks[0] - 1) > K_AGREE for k in ks):
        ks = [k for f in fits.values() if not f.small for k in [f.k] if abs(k - 1) > 1e-6]
    k = ks[0] if ks else None
    for name, sl in pending:  # a block with too few entries: the shared k alone
        if k is None or np.any(np.abs(g[sl] - k * r[sl]) > tol[sl] * max(1.0, abs(k))):
            return None
        fits[name] = Fit(k, witness=bool(np.any(np.abs(r[sl]) >= RESOLVE * tol[sl])))
    for name, f in fits.items():
        if f.small and not any(
            o != name and fo.witness and abs(fo.k / f.k - 1) <= K_AGREE for o, fo in fits.items()
        ):
            return None  # a small block's k that no other block shows
    if not any(f.c or f.e for f in fits.values()):
        return None  # no penalty term: scaled or wrong_entries say it
    return _message(fits, names, ref), fits


def fit_block(
    gb: NDArray, rb: NDArray, pb: NDArray, tb: NDArray, shape: tuple[int, ...]
) -> Fit | None:
    """The simplest model that fits one block, determined or exact but small (the module)."""
    dirs = {"c": pb, "e": np.sign(pb)}
    if len(shape) == 2 and shape[1] > 1:  # the bias column 0 left out of the penalty
        q = pb.reshape(shape).copy()
        q[:, 0] = 0
        dirs["c0"] = q.ravel()
    dirs = {key: v for key, v in dirs.items() if np.any(v != 0)}
    fit = _fit_l2(gb, rb, pb, tb)
    if fit is not None:
        return Fit(*fit, witness=True)
    if "c0" in dirs:
        fit = _fit_l2(gb, rb, dirs["c0"], tb)
        if fit is not None:
            return Fit(*fit, bias_column_out=True, witness=True)
    k_free = bool(np.sum(np.abs(rb) >= RESOLVE * tb) >= 2)
    models = [(False, (key,)) for key in ("e", "c", "c0")]
    if k_free:
        models += [(True, (key,)) for key in ("e", "c", "c0")]
        models += [(True, ("c", "e")), (True, ("c0", "e"))]
    models = [(kf, keys) for kf, keys in models if all(key in dirs for key in keys)]
    for small in (False, True):
        for kf, keys in models:
            if small and not kf:
                continue  # k = 1 on a small block: nothing another block could corroborate
            fit = _fit_model(gb, rb, tb, [dirs[key] for key in keys], kf, small)
            if fit is None:
                continue
            kk, coef = fit
            got = dict(zip(keys, coef, strict=True))
            if abs(kk - 1) <= 1e-6 and len(keys) > 1:
                continue  # two penalty directions at k = 1: the penalty's form, not a coefficient
            if small and abs(kk - 1) <= 1e-4:
                continue  # k ≈ 1 on a small block: the k = 1 models say it, or nothing does
            return Fit(
                kk,
                got.get("c", got.get("c0", 0.0)),
                got.get("e", 0.0),
                bias_column_out="c0" in got,
                small=small,
                witness=True,
            )
    return None


def _fit_model(
    gb: NDArray, rb: NDArray, tb: NDArray, cols: list[NDArray], k_free: bool, small: bool
) -> tuple[float, list[float]] | None:
    """Least squares ``gb ≈ k·rb + Σ coef_j·cols_j`` (``k = 1`` unless ``k_free``)."""
    q = len(cols) + k_free
    if gb.size < q + (1 if small else 3) or (small and gb.size >= q + 3):
        return None
    a = np.stack(([rb] if k_free else []) + cols, axis=1)
    coef = np.linalg.lstsq(a, gb - (0 if k_free else rb), rcond=None)[0]
    k = float(coef[0]) if k_free else 1.0
    pen = a[:, int(k_free) :] @ coef[int(k_free) :]
    res = np.abs(gb - k * rb - pen)
    if small:
        ok = np.all(res <= tb * max(1.0, abs(k))) and res.max() <= EXACT * np.abs(gb - rb).max()
    else:
        ok = np.all(res <= tb * max(1.0, abs(k)) + 1e-3 * np.abs(pen))
    if not ok or not np.any(coef[int(k_free) :] != 0):
        return None
    return _snap(k), [float(x) for x in coef[int(k_free) :]]


def _fit_l2(gb: NDArray, rb: NDArray, pb: NDArray, tb: NDArray) -> tuple[float, float] | None:
    """Least squares ``gb ≈ k·rb + c·pb`` on a determined block (n ≥ unknowns + 3)."""
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


def factor_name(k: float, names: dict[str, float]) -> str:
    """``k``'s name among the candidate factors (``m``, ``2``, ``1/2`` …), else its value."""
    for name, value in names.items():
        if abs(k / value - 1) < 1e-6:
            return name.split(" = ")[0]
    return f"{k:.6g}"


_DATA_HINTS = {
    "m": " (a sum over the examples where the cost takes a mean: divide it by m)",
    "1/m": " (divided by m once too often)",
    "2": " (an extra 2: the cost has ½, or the 2 of a square counted twice)",
    "1/2": " (a missing 2: the derivative of (ŷ − y)² is 2(ŷ − y))",
}


def _message(fits: dict[str, Fit], names: dict[str, float], ref: str) -> str:
    parts, out = [], [n for n, f in fits.items() if f.bias_column_out]
    l1 = False
    for name, f in fits.items():
        if not f.off:
            continue
        kname = factor_name(f.k, names)
        scaled = abs(f.k - 1) >= 1e-6
        data = f"{kname} × {ref}" + ("" if kname == f"{f.k:.6g}" else f" ({f.k:.6g})")
        text = f"{name}: yours = {data if scaled else ref}"
        text += "" if not f.c else f" {'+' if f.c > 0 else '−'} {abs(f.c):.4g}·{name}"
        text += "" if not f.e else f" {'+' if f.e > 0 else '−'} {abs(f.e):.4g}·sign({name})"
        l1 = l1 or bool(f.e)
        if scaled and (f.c or f.e):  # g = k·d + λp + αs where r = d + λp + αs
            pens = ([f"an L2 penalty's {f.c / (1 - f.k):.4g}·{name}"] if f.c else []) + (
                [f"an L1 penalty's {f.e / (1 - f.k):.4g}·sign({name})"] if f.e else []
            )
            text += (
                f" = {kname} × the data term + "
                + " + ".join(pens)
                + (" (its bias column left out)" if f.bias_column_out else "")
            )
        parts.append(text)
    if out:
        parts.append(f"(the penalty term leaves column 0, the bias, of {', '.join(out)} out)")
    ks = {factor_name(f.k, names) for f in fits.values() if abs(f.k - 1) >= 1e-6}
    if len(ks) == 1 and any(f.c or f.e for f in fits.values() if abs(f.k - 1) >= 1e-6):
        (kname,) = ks
        return (
            f"the data term is {kname} × its right value{_DATA_HINTS.get(kname, '')}, beside "
            "penalties that are right: "
            + "; ".join(parts)
            + ". (Yours = k·d + λp where autodiff's = d + λp, so yours = k·autodiff's + "
            "(1 − k)·λp: the fitted penalty coefficient ÷ (1 − k) is λ; the same for an L1 "
            "term α·sign(w).)"
        )
    hint = ""
    if any(f.c for f in fits.values()):
        hint += (
            " A term proportional to the parameter is an L2 penalty's gradient (λ‖W‖²/2 gives "
            "λW, λ‖W‖² gives 2λW): its coefficient is off by the amount shown (−λW: the penalty "
            "or its 2 forgotten), or the penalty is applied to a parameter the loss does not "
            "penalise."
        )
    if l1:
        hint += (
            " A term proportional to sign(w) is an L1 penalty's (α‖w‖₁ gives α·sign(w)): its "
            "coefficient is off by the amount shown (−2α·sign(w): its sign flipped, −α·sign(w): "
            "forgotten, +α·sign(w): counted twice)."
        )
    return "one term is off by a factor: " + "; ".join(parts) + "." + hint
