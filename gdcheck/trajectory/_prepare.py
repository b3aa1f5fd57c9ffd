r"""The user's data before the model's own ``prepare``: layout and standardisation (issue 12).

Models take their features along one axis (``model.info["layout"]``): ``"rows"`` models
(logistic, softmax, MLP) take ``X`` (m, n), examples × features; the others (the tutorial's
linear regression, ridge) take ``X`` (n, m), features × examples, the *columns* layout.

- ``layout="rows"`` says the data come as rows, ``X`` (m, n) and ``y`` (m,), as scikit-learn,
  pandas and CSV files have them; a columns model gets ``X.T`` and ``y`` as (1, m).
  ``layout="columns"`` says the opposite for a rows model.
- ``standardize=True`` replaces each feature :math:`x_j` by
  :math:`z_j = (x_j - \mu_j)/\sigma_j` (mean and standard deviation over the examples,
  ``ddof=0``; a constant feature keeps :math:`\sigma_j = 1`). The target is left alone.
  Gradient descent on a quadratic cost converges at the rate set by
  :math:`\kappa = \lambda_{\max}/\lambda_{\min}` of the Hessian; features on different
  scales make :math:`\kappa` large and the stable step :math:`2/\lambda_{\max}` tiny.

:func:`user_data` returns the data the engine passes on and a :class:`Scaling` recording
each feature's mean and scale (always: the report shows the scales) and what was done.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._buffers import hand_back
from .._types import NDArray
from ..errors import InputError

LAYOUTS = (None, "rows", "columns")


@dataclass(frozen=True)
class Scaling:
    """Each feature's mean and scale over the examples, and whether the data were standardised.

    ``means`` and ``scales`` are of the data *as given* (before standardising); when
    ``standardized`` is True the model saw :math:`z_j = (x_j - \\mu_j)/\\sigma_j`.
    """

    model_layout: str  # "rows" or "columns": how the model takes X
    given_layout: str  # how the user's X came: "rows" or "columns"
    standardized: bool
    means: tuple[float, ...]
    scales: tuple[float, ...]
    constant: tuple[int, ...] = ()  # features with σ = 0 (kept at scale 1)

    @property
    def transposed(self) -> bool:
        return self.model_layout != self.given_layout

    @property
    def spread(self) -> float:
        """max σ / min σ over the non-constant features (1 when fewer than two)."""
        s = [v for i, v in enumerate(self.scales) if i not in self.constant and v > 0]
        return max(s) / min(s) if len(s) > 1 else 1.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "model_layout": self.model_layout,
            "given_layout": self.given_layout,
            "transposed": self.transposed,
            "standardized": self.standardized,
            "means": list(self.means),
            "scales": list(self.scales),
            "constant": list(self.constant),
            "spread": self.spread,
        }

    def to_original(self, w: NDArray) -> NDArray:
        r"""Linear weights with the intercept first, ``(n+1,)`` or ``(n+1, k)``, from standardised
        to original units: :math:`w_j = w'_j/\sigma_j`, :math:`b = b' - \sum_j w'_j\mu_j/\sigma_j`."""
        w = np.array(w, dtype=np.float64)
        if not self.standardized:
            return w
        mu, sigma = np.asarray(self.means), np.asarray(self.scales)
        shape = (-1,) + (1,) * (w.ndim - 1)
        slopes = w[1:] / sigma.reshape(shape)
        out = w.copy()
        out[1:] = slopes
        out[0] = w[0] - (slopes * mu.reshape(shape)).sum(axis=0)
        return out


STATS_LIMIT = 50_000_000
"""Feature scales are reported for X up to this many entries without being asked (each is a
pass over X in float64); beyond it only ``standardize=True`` computes them."""


def model_layout(model: Any) -> str | None:
    """``"rows"`` or ``"columns"`` (features × examples) as ``model.info["layout"]`` says, or
    None when the model does not say: a user's model keeps the user's layout."""
    text = str((getattr(model, "info", None) or {}).get("layout", "")).strip().lower()
    if text.startswith("rows"):
        return "rows"
    return "columns" if text.startswith("columns") else None


def user_data(
    model: Any, data: tuple, *, standardize: bool = False, layout: str | None = None
) -> tuple[tuple, Scaling | None]:
    """The data laid out for ``model`` (and standardised when asked), and their :class:`Scaling`.

    ``data`` is ``(X, y, …)``; only ``X`` is rearranged or scaled, ``y`` only reshaped with a
    layout change. Returns ``(data, None)`` when ``X`` is not a 2-D real array (nothing to say).
    """
    if layout not in LAYOUTS:
        raise InputError(
            f"layout={layout!r}: use 'rows' (X (m, n), examples × features, y (m,)), "
            "'columns' (X (n, m), features × examples, y (1, m)), or None (the model's own)."
        )
    if not standardize and layout is None and not data:
        return data, None
    want = model_layout(model)
    if want is None:
        if standardize or layout is not None:
            raise InputError(
                f"model {getattr(model, 'name', '?')!r} does not say how it takes X: set "
                "info={'layout': 'rows'} (X (m, n), examples × features) or "
                "{'layout': 'columns'} (X (n, m)) in its gdcheck.Model for "
                f"{'standardize=True' if standardize else 'layout='} to know the feature axis."
            )
        return data, None
    given = layout or want
    X = _array(data[0]) if data else None
    if X is None or X.ndim != 2 or not np.issubdtype(X.dtype, np.number):
        if standardize:
            raise InputError(
                f"standardize=True needs X as a 2-D numeric array; got "
                f"{'nothing' if X is None else f'shape {X.shape}'}."
            )
        return data, None
    y = _array(data[1]) if len(data) > 1 else None
    if layout is None and want == "columns" and y is not None:
        _hint_rows_given(model, X, y)
    rest = list(data[1:])
    if given != want:
        X = X.T
        if rest and y is not None:
            rest[0] = y.reshape(1, -1) if want == "columns" else _rows_target(y)
    if not standardize and X.size > STATS_LIMIT:
        return ((data[0] if given == want else X), *rest), None
    feature_axis = 1 if want == "columns" else 0  # reduce over the examples
    with np.errstate(over="ignore", invalid="ignore"):
        means, scales = _moments(X, feature_axis)
    if not (np.isfinite(means).all() and np.isfinite(scales).all()):
        spread = int(np.flatnonzero(~(np.isfinite(means) & np.isfinite(scales)))[0])
        if standardize:
            raise InputError(
                f"standardize=True: feature {spread}'s mean or spread overflows float64 (its "
                "squares exceed 1.8e308); rescale that feature before the run (divide it by a "
                "power of ten, say)."
            )
        return ((data[0] if given == want else X), *rest), None  # no scales to report
    constant = tuple(int(i) for i in np.flatnonzero(~(scales > 0)))
    scales = np.where(scales > 0, scales, 1.0)
    if standardize:
        dtype = X.dtype if np.issubdtype(X.dtype, np.floating) else np.float64
        X = _standardized(X, means, scales, feature_axis, dtype)
    scaling = Scaling(
        model_layout=want,
        given_layout=given,
        standardized=bool(standardize),
        means=tuple(float(v) for v in means),
        scales=tuple(float(v) for v in scales),
        constant=constant,
    )
    if given == want and not standardize:
        X = data[0]  # untouched: the model validates what the user passed
    return (X, *rest), scaling


MOMENTS_BLOCK_BYTES = 16 * 2**20
"""Above this many bytes of X in float64, the feature moments and the standardised copy are
computed over blocks of examples of this size (below it: NumPy on one float64 copy, as
before, to the bit)."""


def _example_blocks(X: NDArray, axis: int) -> Any:
    """Slices along ``axis`` (the examples) of at most :data:`MOMENTS_BLOCK_BYTES` in float64,
    or one slice of everything when X is that small."""
    count = X.shape[axis]
    per = 8 * max(1, X.size // max(1, count))
    width = count if 8 * X.size <= MOMENTS_BLOCK_BYTES else max(1, MOMENTS_BLOCK_BYTES // per)
    for start in range(0, count, max(1, width)):
        cols = slice(start, min(count, start + width))
        yield (slice(None), cols) if axis == 1 else (cols, slice(None))


def _moments(X: NDArray, axis: int) -> tuple[NDArray, NDArray]:
    r"""Each feature's mean :math:`\mu` and standard deviation (``ddof=0``) over ``axis``, in
    float64.

    Small X: ``mean`` and ``std`` of one float64 copy. Large X: two passes over blocks of
    examples, :math:`\mu = \frac1m\sum x`, then :math:`\sigma^2 = \frac1m\sum (x-\mu)^2`
    (the same two-pass formula as ``np.std``; only the summation's grouping differs, at
    rounding level): one float64 block at a time instead of a float64 copy of X and its
    centred copy (4 × X for float32 data).
    """
    blocks = list(_example_blocks(X, axis))
    if len(blocks) <= 1:
        Xf = np.asarray(X, np.float64)
        return Xf.mean(axis=axis), Xf.std(axis=axis)
    m = X.shape[axis]
    total = sum(np.asarray(X[b], np.float64).sum(axis=axis) for b in blocks)
    means = total / m
    mu = np.expand_dims(means, axis)
    squares = sum(((np.asarray(X[b], np.float64) - mu) ** 2).sum(axis=axis) for b in blocks)
    return means, np.sqrt(squares / m)


def _standardized(X: NDArray, means: NDArray, scales: NDArray, axis: int, dtype: Any) -> NDArray:
    r""":math:`(x - \mu)/\sigma` in ``dtype``, computed in float64 block by block (elementwise:
    the same numbers as on one float64 copy). A read-only file map's pages are handed back as
    each block is done (:func:`~gdcheck._buffers.hand_back`): the map is not held beside Z."""
    mu, sigma = np.expand_dims(means, axis), np.expand_dims(scales, axis)
    out = np.empty(X.shape, dtype)
    for b in _example_blocks(X, axis):
        out[b] = (np.asarray(X[b], np.float64) - mu) / sigma
        hand_back(X[b])
    return out


def _array(value: Any) -> NDArray | None:
    if hasattr(value, "detach"):
        value = value.detach().cpu().numpy()
    if isinstance(value, np.ndarray):
        return value
    if isinstance(value, (list, tuple)):
        try:
            return np.asarray(value)
        except ValueError:
            return None
    return None


def _rows_target(y: NDArray) -> NDArray:
    """A columns ``y`` (1, m) as a rows model takes it: (m,)."""
    return y.reshape(-1) if y.ndim == 2 and 1 in y.shape else y


def _hint_rows_given(model: Any, X: NDArray, y: NDArray) -> None:
    """A columns model given X (m, n): the examples' count sits on the wrong axis."""
    m = y.size if y.ndim <= 1 or 1 in y.shape else None
    if m is None or X.shape[1] == m or X.shape[0] != m:
        return
    name = getattr(model, "name", "the model")
    raise InputError(
        f"X has shape {X.shape}, which looks like rows (examples × features: {m} examples match "
        f"y's {m} entries), but {name} takes X ({X.shape[1]}, {m}), features × examples, and y "
        f"(1, {m}). Pass X.T (and y.reshape(1, -1)), or layout='rows' "
        "(gdcheck.crosscheck(..., layout='rows')) to have gdcheck transpose them."
    )
