r"""Name the mistake: compare a handwritten gradient ``g`` with autodiff's ``r`` entry by entry.

The kinds (DESIGN.md's vocabulary), tried in this order:

* ``wrong_shape`` — not the structure of the parameters (None, another type, missing or
  extra keys, another shape that is not the transpose);
* ``transposed`` — the transpose of the right matrix (or of the right shape);
* ``sign_flipped`` — :math:`g = -r`;
* ``scaled`` — :math:`g = c\,r` for one constant ``c`` ≠ 1 (``factor`` = yours ÷ autodiff's:
  a missing 2 gives 0.5, a sum instead of a mean gives m, where m is an example count, the
  data's leading axis; another data size or a reciprocal integer 1/32 is named with its
  axes), fitted by least squares
  :math:`c = \langle g, r\rangle / \langle r, r\rangle`;
* ``wrong_entries`` — right on some entries, wrong on others (which are listed: the
  intercept, one parameter of a dict, …; entries that all hold one right entry's value, a
  column or an index reused);
* ``precision`` — over the tolerance but within :data:`PRECISION_MARGIN` times it (tried
  first): rounding, reported but not a failure unless the tolerance was the user's own;
* ``term_scaled``, ``permuted``, ``structured`` — one term off by a factor (an L2 or L1
  penalty's coefficient, the data term's m: :mod:`._penalty_fit`), the right entries in another order (with ``layout=``, a
  flat vector's matrices unrolled in the other order: :mod:`._layout`), or a difference with
  a recognisable shape: :mod:`._structure` (and :mod:`._per_example`, which
  :func:`gdcheck.check_gradient` consults where this module says ``unexplained``: one
  example's worth per column);
* ``non_finite`` — NaN or Inf in yours where autodiff's is finite, with the likely cause;
* ``unexplained`` — none of the above.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .._types import NDArray
from ..params import ParamLayout
from ._layout import other_order
from ._penalty_fit import fit_terms
from ._structure import describe_leftover, find_permutation

KINDS = (
    "scaled",
    "term_scaled",
    "permuted",
    "structured",
    "non_finite",
    "sign_flipped",
    "transposed",
    "wrong_shape",
    "wrong_entries",
    "precision",
    "unexplained",
)
PRECISION_MARGIN = 4.0
"""Differences within this many tolerances read as ``precision``: rounding, not a mistake.
Small enough that a 1 % error still fails in float32 with 10⁶ summed terms (rtol 1.9e-3)."""


@dataclass
class Diagnosis:
    """What kind of mistake a wrong gradient looks like, and how sure gdcheck is."""

    kind: str
    message: str
    factor: float | None = None
    factor_name: str | None = None
    entries: dict[str, list[tuple[int, ...]]] = field(default_factory=dict)
    points_checked: int = 1
    points_agreeing: int = 1

    @property
    def confidence(self) -> float:
        """Share of the points checked that show the same kind (and factor)."""
        return self.points_agreeing / max(1, self.points_checked)

    def same_as(self, other: Diagnosis) -> bool:
        if self.kind != other.kind:
            return False
        if self.kind == "scaled" and self.factor and other.factor:
            return abs(self.factor / other.factor - 1) < 1e-6
        if self.kind == "wrong_entries":
            return self.entries == other.entries
        return True


def factor_names(
    data_dims: Iterable[int], examples: Iterable[int] | None = None
) -> dict[str, float]:
    """Candidate constant factors and their names: 2, ½, and m, 1/m, 2m, … for the example
    counts m (``examples``: the data's leading axes; every data size when not given); another
    data size n is named as itself, n and 1/n (a feature count D is no m)."""
    names = {"2": 2.0, "1/2": 0.5, "4": 4.0, "1/4": 0.25}
    dims = set(data_dims)
    ms = dims if examples is None else set(examples)
    for n in sorted(dims - ms):
        if n > 2:
            names.update({f"{n}": float(n), f"1/{n}": 1 / n})
    for m in sorted(ms):
        if m > 2:
            names.update(
                {
                    f"m = {m}": m,
                    f"1/m = 1/{m}": 1 / m,
                    f"2m = {2 * m}": 2.0 * m,
                    f"1/(2m) = 1/{2 * m}": 1 / (2 * m),
                    f"m/2 = {m / 2:g}": m / 2,
                    f"2/m = 2/{m}": 2.0 / m,
                }
            )
    return names


def _name_factor(c: float, candidates: dict[str, float]) -> str | None:
    for name, value in candidates.items():
        if abs(c / value - 1) < 1e-6:
            return name
    return None


def _bare(name: str) -> bool:
    """A data size named as itself (``6``, ``1/6``), not ``m`` or the small constants."""
    return name.removeprefix("1/").isdigit() and name not in ("2", "1/2", "4", "1/4")


def _hint(name: str | None) -> str:
    hints = {
        "1/2": " (a missing factor 2: the derivative of (ŷ − y)² is 2(ŷ − y); or the ½ convention)",
        "2": " (an extra factor 2, e.g. the cost has ½ but the gradient kept the 2)",
    }
    if name is None:
        return ""
    if name in hints:
        return hints[name]
    if name.startswith("m ="):
        return " (a sum over examples where the cost takes a mean: divide by m)"
    if name.startswith("1/m"):
        return " (divided by m once too often)"
    if name.startswith("2m"):
        return " (a sum over examples and a missing ½ … or a sum where a mean is meant, times 2)"
    return ""


@dataclass(frozen=True)
class _Data:
    """What the factors' names need of the data: the example counts and the arrays' shapes."""

    dims: tuple[int, ...] = ()
    shapes: tuple[tuple[int, ...], ...] = ()
    examples: frozenset[int] | None = None

    @classmethod
    def of(cls, data_dims: Iterable[int], data: tuple) -> _Data:
        shapes = tuple(a.shape for a in data if isinstance(a, np.ndarray))
        ex = frozenset(s[0] for s in shapes if s) if shapes else None
        return cls(tuple(data_dims), shapes, ex)

    @functools.cached_property
    def names(self) -> dict[str, float]:
        return factor_names(self.dims, self.examples)

    def describe(self, c: float) -> tuple[str, str]:
        """``(shown, hint)`` for the factor ``c``: ``m``, ``1/2``, ``6`` (a data size), ``1/32``
        (a reciprocal integer, with the data axes whose sizes multiply to 32) …"""
        name = _name_factor(c, self.names)
        if name is not None and not _bare(name):
            return name.split(" = ")[0], _hint(name)
        if name is None:
            if c > 0 and 1 / c >= 2 and abs(1 / c - round(1 / c)) < 1e-6 / c:
                name = f"1/{round(1 / c)}"
            else:
                return f"{c:.6g}", ""
        n = int(name.removeprefix("1/"))
        note = self._axes(n)
        if not note:
            return name, ""
        if name.startswith("1/"):
            return name, f" ({note}: divided by it where the loss sums, a mean for a sum)"
        return name, f" ({note}: a sum over it where the loss divides by it, or ÷ {n} forgotten)"

    def _axes(self, n: int) -> str:
        """``"6 is axis 1 of the data's (8, 6) array, not its example count 8"``, or a product."""
        for size in range(1, 5):
            for shape in self.shapes:
                for axes in itertools.combinations(range(len(shape)), size):
                    if int(np.prod([shape[a] for a in axes])) != n:
                        continue
                    if size == 1:
                        return (
                            f"{n} is axis {axes[0]} of the data's {shape} array, not its "
                            f"example count {shape[0]}"
                        )
                    return (
                        f"{n} = {' × '.join(str(shape[a]) for a in axes)}, axes "
                        f"{', '.join(map(str, axes))} of the data's {shape} array"
                    )
        return ""


def _quiet(fn: Any) -> Any:
    """Run ``fn`` with NumPy's floating-point warnings off: the fits divide and multiply numbers
    that may be huge or zero (a diverging run), and their overflow is part of the diagnosis,
    not a warning for the user."""

    @functools.wraps(fn)
    def quiet(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return fn(*args, **kwargs)

    return quiet


@_quiet
def diagnose(
    layout: ParamLayout,
    g: NDArray,
    r: NDArray,
    tol: NDArray,
    data_dims: Iterable[int] = (),
    params: NDArray | None = None,
    data: tuple = (),
    ref: str = "autodiff's",
) -> Diagnosis | None:
    """Diagnose flat gradients ``g`` (yours) and ``r`` (the reference) with per-entry tolerance ``tol``.

    ``params`` (flat) lets a penalty's coefficient be fitted; ``data`` lets a difference be
    recognised as a per-example term; ``ref`` names the reference in messages ("autodiff's",
    "the complex step's"). Returns None when every entry is within tolerance.
    """
    facts = _Data.of(data_dims, data)
    err = np.abs(g - r)
    wrong = ~(err <= tol)
    if not wrong.any():
        return None
    if not np.isfinite(g).all():
        bad = np.flatnonzero(~np.isfinite(g))
        return Diagnosis(
            "non_finite",
            f"your gradient has {bad.size} non-finite value(s) (NaN or Inf: "
            f"{', '.join(layout.label(int(i)) for i in bad[:4])}{' …' if bad.size > 4 else ''}) "
            f"where {ref} is finite. Likely cause: np.exp of a large score overflows to Inf (and "
            "Inf/Inf is NaN) in a softmax or sigmoid written without the max trick; fix: "
            "subtract the row max first, np.exp(Z - Z.max(axis=1, keepdims=True)), or use "
            "np.logaddexp / a stable sigmoid; a log of 0 or a division by a zero count does "
            "the same.",
            entries=_entries(layout, bad),
        )
    if np.all(np.abs(g + r) <= tol):
        return Diagnosis(
            "sign_flipped",
            f"your gradient is the negative of {ref} at every "
            "entry: a sign flip (e.g. y − ŷ instead of ŷ − y).",
            factor=-1.0,
            factor_name="-1",
        )
    rr = float(r @ r)
    if g.size >= 2 and rr > 0:  # rounding never makes one exact constant factor, however small
        c = float(g @ r) / rr
        if abs(c - 1) >= 1e-3 and np.all(np.abs(g - c * r) <= 0.05 * tol):
            return _scaled(c, facts, ref)
    if np.all(err <= PRECISION_MARGIN * tol):
        over = np.flatnonzero(wrong)
        return Diagnosis(
            "precision",
            f"{over.size} entr{'y' if over.size == 1 else 'ies'} ("
            + ", ".join(layout.label(int(i)) for i in over[:4])
            + (" …" if over.size > 4 else "")
            + f") exceed the tolerance by at most {float(np.max(err / np.maximum(tol, 1e-300))):.2g}×, the level "
            "rounding produces: a less accurate (but right) formula in this dtype, e.g. "
            "cancellation in 1 − tanh², or a tighter tolerance than the dtype allows.",
            entries=_entries(layout, over),
        )
    if rr > 0:
        c = float(g @ r) / rr
        if c != 0 and abs(c - 1) > 1e-9 and np.all(np.abs(g - c * r) <= tol * max(1.0, abs(c))):
            return _scaled(c, facts, ref)
    unrolled = other_order(layout, g, r, tol, ref)
    if unrolled:
        return Diagnosis(
            "permuted", unrolled + ".", entries=_entries(layout, np.flatnonzero(wrong))
        )
    transposed = _transposed_params(layout, g, r, tol)
    if transposed:
        return Diagnosis(
            "transposed",
            "your gradient of " + ", ".join(transposed) + " is the "
            f"transpose of {ref} (a matrix product in the wrong order?).",
            entries={n: [] for n in transposed},
        )
    permuted = find_permutation(layout, g, r, tol)
    if permuted:
        return Diagnosis("permuted", permuted, entries=_entries(layout, np.flatnonzero(wrong)))
    term = fit_terms(layout, g, r, tol, params, facts.names, ref)
    if term is not None:
        message, fits = term
        return Diagnosis("term_scaled", message, entries={n: [] for n, f in fits.items() if f.off})
    shape = describe_leftover(layout, g, r, tol, data)  # read below either way: once
    if (~wrong).any() and not (shape and "×" in shape):
        idx = np.flatnonzero(wrong)
        entries = _entries(layout, idx)
        parts = []
        for name, where in entries.items():
            whole = len(where) == layout.sizes[layout.names.index(name)]
            if whole:
                sl = _param_slice(layout, name)
                c = float(g[sl] @ r[sl]) / float(r[sl] @ r[sl]) if float(r[sl] @ r[sl]) > 0 else 0.0
                scaled = np.all(np.abs(g[sl] - c * r[sl]) <= tol[sl] * max(1.0, abs(c)))
                shown, hint = facts.describe(c) if scaled and c else ("", "")
                label = f" = {shown}" if shown != f"{c:.6g}" else ""
                parts.append(
                    f"all of {name}"
                    + (f" (yours = {c:.6g}{label} × {ref}{hint})" if scaled and c else "")
                )
            else:
                labels = [layout.label(i) for i in idx if layout.locate(int(i))[0] == name]
                shown = ", ".join(labels[:6]) + (
                    f" and {len(labels) - 6} more" if len(labels) > 6 else ""
                )
                ratios = [
                    g[i] / r[i] for i in idx if layout.locate(int(i))[0] == name and r[i] != 0
                ]
                ratio = f" (yours ÷ {ref} = {ratios[0]:.6g})" if len(ratios) == 1 else ""
                parts.append(shown + ratio + _copied(layout, g, r, tol, name, idx))
        right = int((~wrong).sum())
        return Diagnosis(
            "wrong_entries",
            f"right on {right} of {g.size} entries, wrong on " + "; ".join(parts) + ".",
            entries=entries,
        )
    if shape:
        return Diagnosis(
            "structured",
            "no constant factor, sign, transpose or reordering fits, but the difference "
            f"(yours − {ref}) has a shape: {shape}.",
            entries=_entries(layout, np.flatnonzero(wrong)),
        )
    return Diagnosis(
        "unexplained",
        "wrong on every entry, not by one constant factor, a sign or a transpose.",
        entries=_entries(layout, np.flatnonzero(wrong)),
    )


def _scaled(c: float, facts: _Data, ref: str = "autodiff's") -> Diagnosis:
    shown, hint = facts.describe(c)
    return Diagnosis(
        "scaled",
        f"your gradient is {shown} × {ref} at every entry (factor {c:.6g}){hint}.",
        factor=c,
        factor_name=_name_factor(c, facts.names),
    )


def _copied(
    layout: ParamLayout, g: NDArray, r: NDArray, tol: NDArray, name: str, idx: NDArray
) -> str:
    """``": they equal w[0, 0]'s right value …"`` when every wrong entry of ``name`` is one
    right entry's value (a column or an index reused), else ``""``."""
    sl = _param_slice(layout, name)
    wrong = [int(i) for i in idx if sl.start <= i < sl.stop]
    for j in range(sl.start, sl.stop):
        if j in wrong or not np.all(np.abs(g[wrong] - r[j]) <= np.maximum(tol[wrong], tol[j])):
            continue
        return (
            f": {'it equals' if len(wrong) == 1 else 'they all equal'} {layout.label(j)}'s right "
            "value (a column or an index reused: every entry given the first one's gradient?)"
        )
    return ""


def _param_slice(layout: ParamLayout, name: str) -> slice:
    start = sum(layout.sizes[: layout.names.index(name)])
    return slice(start, start + layout.sizes[layout.names.index(name)])


def _entries(layout: ParamLayout, idx: Iterable[int]) -> dict[str, list[tuple[int, ...]]]:
    out: dict[str, list[tuple[int, ...]]] = {}
    for i in idx:
        name, where = layout.locate(int(i))
        out.setdefault(name, []).append(where)
    return out


def _transposed_params(layout: ParamLayout, g: NDArray, r: NDArray, tol: NDArray) -> list[str]:
    """Square parameters whose gradient is the transpose of the right one (and wrong as is)."""
    names = []
    for name, shape in zip(layout.names, layout.shapes, strict=True):
        if len(shape) != 2 or shape[0] != shape[1] or shape[0] < 2:
            continue
        sl = _param_slice(layout, name)
        gm, rm, tm = g[sl].reshape(shape), r[sl].reshape(shape), tol[sl].reshape(shape)
        if np.any(np.abs(gm - rm) > tm) and np.all(np.abs(gm - rm.T) <= np.maximum(tm, tm.T)):
            names.append(name)
    return names if names and len(names) == len([n for n in names]) else []
