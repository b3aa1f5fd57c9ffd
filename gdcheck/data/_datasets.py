r"""scikit-learn's bundled datasets, in either layout, standardised, with the way back.

=================  ===========  ====================  =========================================
name               task         examples × features   models it fits
=================  ===========  ====================  =========================================
``diabetes``       regression   442 × 10              ``linear_regression``, ``ridge``
``breast_cancer``  binary       569 × 30              ``logistic_regression``
``iris``           multiclass   150 × 4, 3 classes    ``softmax_regression``, ``mlp``
``digits``         multiclass   1797 × 64, 10 classes ``softmax_regression``, ``mlp``
=================  ===========  ====================  =========================================

The files ship inside scikit-learn (``sklearn.datasets.load_*``): nothing is downloaded, and
scikit-learn is imported only when a dataset is asked for, so ``import gdcheck.data`` stays
light. Diabetes is loaded in its original units (``scaled=False``), not scikit-learn's
pre-scaled copy, so that ``standardize=False`` means the raw measurements.

**Why standardise.** Gradient descent on a quadratic cost converges at a rate set by the
condition number :math:`\kappa = \lambda_{\max}/\lambda_{\min}` of its Hessian, for the
tutorial's cost :math:`H = (2/m)\,\tilde X \tilde X^\top` with the ones row in
:math:`\tilde X`, and is stable only for :math:`\eta < 2/\lambda_{\max}`. Raw features on
different scales (diabetes: age in years beside serum measurements in the hundreds) make
:math:`\kappa` enormous: no single learning rate suits every direction. Standardising each
feature, :math:`z_j = (x_j - \mu_j)/\sigma_j`, brings :math:`\kappa` down to the correlation
structure of the features alone. For diabetes, with the ones row (measured, scikit-learn
1.9.1): raw, :math:`\lambda \in [0.0028, 1.47\cdot 10^5]` and :math:`\kappa \approx 5.2\cdot
10^7`; standardised, :math:`\lambda \in [0.0171, 8.05]` and :math:`\kappa \approx 470`
(stable for :math:`\eta < 0.248`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Literal

import numpy as np

from .._types import NDArray
from .._words import counted
from ..errors import InputError, InputTypeError

__all__ = ["DATASETS", "MODEL_LAYOUTS", "Dataset", "dataset", "dataset_for_model"]

Layout = Literal["columns", "rows"]
Task = Literal["regression", "binary", "multiclass"]
LAYOUTS: tuple[Layout, ...] = ("columns", "rows")
INSTALL_HINT = "pip install 'gdcheck[datasets]'"

DATASETS: Mapping[str, tuple[Task, tuple[str, ...]]] = MappingProxyType(
    {
        "diabetes": ("regression", ("linear_regression", "ridge")),
        "breast_cancer": ("binary", ("logistic_regression",)),
        "iris": ("multiclass", ("softmax_regression", "mlp")),
        "digits": ("multiclass", ("softmax_regression", "mlp")),
    }
)
"""Dataset name → (task, the models it fits)."""

MODEL_LAYOUTS: Mapping[str, Layout] = MappingProxyType(
    {
        "linear_regression": "columns",
        "ridge": "columns",
        "logistic_regression": "rows",
        "softmax_regression": "rows",
        "mlp": "rows",
    }
)
"""Model name → the layout its data come in: the tutorial's ``columns`` or ``rows``."""

# name → (loader in sklearn.datasets, its keyword arguments, target name)
_LOADERS: dict[str, tuple[str, dict[str, Any], str]] = {
    "diabetes": ("load_diabetes", {"scaled": False}, "disease progression one year after baseline"),
    "breast_cancer": ("load_breast_cancer", {}, "diagnosis"),
    "iris": ("load_iris", {}, "species"),
    "digits": ("load_digits", {}, "digit"),
}


@dataclass(frozen=True, eq=False)
class Dataset:
    """A bundled dataset, laid out for a model, with what was done to it.

    ``X`` is (n, m) and ``y`` (1, m) in the ``columns`` layout (the tutorial's), ``X`` (m, n)
    and ``y`` (m,) in the ``rows`` layout. ``y`` is float64 for ``regression`` and ``binary``
    (0./1.), int64 labels 0..C−1 for ``multiclass``. ``means`` and ``scales`` are the
    per-feature :math:`\\mu_j` and :math:`\\sigma_j` of the standardisation
    :math:`z_j = (x_j - \\mu_j)/\\sigma_j`, or None when the features are raw.
    """

    name: str
    X: NDArray
    y: np.ndarray
    feature_names: tuple[str, ...]
    target_name: str
    task: Task
    classes: tuple[str, ...] | None
    means: NDArray | None
    scales: NDArray | None
    source: str
    notes: list[str] = field(default_factory=list)
    layout: Layout = "columns"
    dropped_features: tuple[str, ...] = ()

    @property
    def data(self) -> tuple[NDArray, np.ndarray]:
        """``(X, y)``: the positional data to pass to a cross-check."""
        return self.X, self.y

    @property
    def n_features(self) -> int:
        """The number of features n (after dropping constant ones)."""
        return len(self.feature_names)

    def to_original(self, w: Any, layout: Layout | None = None) -> Any:
        r"""Map a linear model's weights in standardised units back to the original units.

        A model fitted on :math:`z_j = (x_j - \mu_j)/\sigma_j` predicts (or, for logistic and
        softmax regression, scores) :math:`b' + \sum_j w'_j z_j`. Substituting :math:`z_j`,

        .. math::
            b' + \sum_j w'_j \frac{x_j - \mu_j}{\sigma_j}
            = \underbrace{\Big(b' - \sum_j \frac{w'_j \mu_j}{\sigma_j}\Big)}_{b}
            + \sum_j \underbrace{\frac{w'_j}{\sigma_j}}_{w_j} x_j ,

        so the slopes divide by :math:`\sigma_j` and the intercept absorbs the means. The
        predictions are unchanged. It holds column by column for several outputs (softmax's
        one column per class); it does not apply to an MLP, whose first layer alone is linear.

        ``w`` is either an array with the intercept first along axis 0 — (n+1, 1) as in the
        ``columns`` layout's tutorial model, or (n+1,) or (n+1, C) — or a mapping with the
        slopes under ``"w"`` (or ``"W"``), n entries along axis 0, and the intercept under
        ``"b"``, as a ``rows`` model keeps them. The result has the same form. ``layout``
        (default: the dataset's) only names the convention in messages: both layouts keep
        one weight per feature along axis 0. Unstandardised data: ``w`` is returned as a copy.

        >>> ds = dataset("diabetes", layout="columns")
        >>> A = np.vstack([np.ones((1, ds.X.shape[1])), ds.X]).T
        >>> w = np.linalg.lstsq(A, ds.y.T, rcond=None)[0]  # (11, 1), standardised units
        >>> ds.to_original(w).shape  # intercept in the target's units, slopes per unit of x
        (11, 1)
        """
        layout = self.layout if layout is None else layout
        _check_layout(layout, where=f"Dataset({self.name!r}).to_original")
        if isinstance(w, Mapping):
            return self._mapping_to_original(w, layout)
        w = np.asarray(w, dtype=np.float64)
        n = self.n_features
        if w.ndim == 0 or w.shape[0] != n + 1:
            raise InputError(
                f"Dataset({self.name!r}).to_original: weights of shape {w.shape}; expected "
                f"{n + 1} entries along axis 0 (the intercept, then one per feature), e.g. "
                f"({n + 1}, 1) as the {layout!r} layout's linear model has, or pass "
                "{'w': slopes, 'b': intercept}."
            )
        if self.means is None or self.scales is None:
            return w.copy()
        mu, sigma = self._stats(w.ndim)
        slopes = w[1:] / sigma
        intercept = w[0] - np.sum(w[1:] * mu / sigma, axis=0)
        return np.concatenate([intercept[None], slopes], axis=0)

    def _mapping_to_original(self, w: Mapping[str, Any], layout: Layout) -> dict[str, Any]:
        key = "w" if "w" in w else "W" if "W" in w else None
        if key is None or "b" not in w:
            raise InputError(
                f"Dataset({self.name!r}).to_original: a mapping of weights needs keys 'w' (or "
                f"'W') and 'b'; got {sorted(w)}. For the {layout!r} layout pass "
                "{'w': slopes (n, ...), 'b': intercept}."
            )
        slopes = np.asarray(w[key], dtype=np.float64)
        b = np.asarray(w["b"], dtype=np.float64)
        if slopes.ndim == 0 or slopes.shape[0] != self.n_features:
            raise InputError(
                f"Dataset({self.name!r}).to_original: {key!r} has shape {slopes.shape}; expected "
                f"{self.n_features} entries along axis 0, one per feature."
            )
        out = dict(w)
        if self.means is None or self.scales is None:
            out[key], out["b"] = slopes.copy(), b.copy()
            return out
        mu, sigma = self._stats(slopes.ndim)
        out[key] = slopes / sigma
        out["b"] = b - np.sum(slopes * mu / sigma, axis=0)
        return out

    def _stats(self, ndim: int) -> tuple[NDArray, NDArray]:
        shape = (self.n_features,) + (1,) * (ndim - 1)
        assert self.means is not None and self.scales is not None
        return self.means.reshape(shape), self.scales.reshape(shape)


def _check_layout(layout: object, where: str) -> None:
    if layout not in LAYOUTS:
        raise InputError(
            f"{where}: layout={layout!r}; pass layout='columns' (the tutorial's: X (n, m), "
            "y (1, m)) or layout='rows' (X (m, n), y (m,))."
        )


def _check_name(name: object) -> str:
    if not isinstance(name, str):
        raise InputTypeError(
            f"dataset: name is a {type(name).__name__}; pass one of {', '.join(DATASETS)}."
        )
    if name not in DATASETS:
        raise InputError(
            f"dataset: unknown dataset {name!r}; the bundled ones are {', '.join(DATASETS)}."
        )
    return name


def dataset(name: str, *, layout: Layout, standardize: bool = True) -> Dataset:
    """Load a dataset bundled with scikit-learn (no download), in ``layout``.

    ``layout="columns"`` gives the tutorial's X (n, m) and y (1, m); ``layout="rows"`` gives
    X (m, n) and y (m,). With ``standardize`` each feature becomes
    :math:`(x_j - \\mu_j)/\\sigma_j` (population :math:`\\sigma`, ``ddof=0``) and features with
    :math:`\\sigma_j = 0` (digits' always-blank pixels) are dropped, since they carry no
    information and cannot be scaled; the target is left in its own units. The notes say what
    was done. Needs scikit-learn (``pip install 'gdcheck[datasets]'``).
    """
    name = _check_name(name)
    _check_layout(layout, where=f"dataset({name!r})")
    try:
        import sklearn
        import sklearn.datasets
    except ImportError:
        raise InputError(
            f"dataset({name!r}): the bundled datasets come with scikit-learn, which is not "
            f"installed; {INSTALL_HINT}, or load your own file with gdcheck.data.load."
        ) from None
    loader, kwargs, target_name = _LOADERS[name]
    bunch = getattr(sklearn.datasets, loader)(**kwargs)
    task, _ = DATASETS[name]
    X = np.asarray(bunch.data, dtype=np.float64)
    names = tuple(str(f) for f in bunch.feature_names)
    arguments = ", ".join(f"{k}={v!r}" for k, v in kwargs.items())
    source = f"scikit-learn {sklearn.__version__} {loader}({arguments}), bundled"
    notes: list[str] = [
        f"{counted(X.shape[0], 'example')}, {counted(X.shape[1], 'feature')}, from {source}."
    ]
    means = scales = None
    dropped: tuple[str, ...] = ()
    if standardize:
        sigma = X.std(axis=0)
        keep = sigma > 0
        dropped = tuple(n for n, k in zip(names, keep, strict=True) if not k)
        if dropped:
            X, sigma, names = X[:, keep], sigma[keep], tuple(np.asarray(names)[keep].tolist())
            notes.append(
                f"dropped {len(dropped)} constant features (std 0): {', '.join(dropped)}; "
                f"{len(names)} remain."
            )
        means, scales = X.mean(axis=0), sigma
        X = (X - means) / scales
        notes.append(
            "features standardised: (x − mean)/std per feature (std with ddof=0); means and "
            "scales recorded; Dataset.to_original maps linear weights back to original units."
        )
    else:
        notes.append("features raw, in their original units (not standardised).")
    if task == "regression":
        y = np.asarray(bunch.target, dtype=np.float64)
        classes = None
        notes.append(f"target: {target_name}, in its original units.")
    else:
        y = np.asarray(bunch.target, dtype=np.float64 if task == "binary" else np.int64)
        classes = tuple(str(c) for c in bunch.target_names)
        if classes == tuple(str(i) for i in range(len(classes))):
            labels = f"0..{len(classes) - 1}"
        else:
            labels = ", ".join(f"{i} = {c}" for i, c in enumerate(classes))
        notes.append(f"target: {target_name}, labels {labels}.")
    if layout == "columns":
        X, y = np.ascontiguousarray(X.T), y.reshape(1, -1)
    return Dataset(
        name=name,
        X=np.ascontiguousarray(X),
        y=y,
        feature_names=names,
        target_name=target_name,
        task=task,
        classes=classes,
        means=means,
        scales=scales,
        source=source,
        notes=notes,
        layout=layout,
        dropped_features=dropped,
    )


def dataset_for_model(name: str, model_name: str, standardize: bool = True) -> Dataset:
    """:func:`dataset` in the layout ``model_name`` expects, after checking the task fits it.

    Layouts: ``linear_regression`` and ``ridge`` take ``columns``; ``logistic_regression``,
    ``softmax_regression`` and ``mlp`` take ``rows`` (see :data:`MODEL_LAYOUTS`).
    """
    name = _check_name(name)
    if model_name not in MODEL_LAYOUTS:
        raise InputError(
            f"dataset_for_model({name!r}, {model_name!r}): unknown model; known models are "
            f"{', '.join(MODEL_LAYOUTS)}."
        )
    task, fits = DATASETS[name]
    if model_name not in fits:
        fitting = [d for d, (_, models) in DATASETS.items() if model_name in models]
        raise InputError(
            f"dataset_for_model({name!r}, {model_name!r}): {name} is a {task} dataset, which "
            f"{model_name} does not fit; it fits {', '.join(fits)}. Datasets for {model_name}: "
            f"{', '.join(fitting)}."
        )
    return dataset(name, layout=MODEL_LAYOUTS[model_name], standardize=standardize)
