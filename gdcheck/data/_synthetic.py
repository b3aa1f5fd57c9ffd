r"""Seeded demo data for every model, in that model's layout (before the model's ``prepare``).

===========================  =======================================  ====================
model                        data                                     layout
===========================  =======================================  ====================
``linear_regression``        the tutorial's: ``y = 3x + 5 + 0.1·ε``   X (1, m), y (1, m)
``ridge``                    the tutorial's                           X (1, m), y (1, m)
``logistic_regression``      two overlapping Gaussian blobs in 2-D    X (m, 2), y (m,) 0./1.
``softmax_regression``       three overlapping Gaussian blobs in 2-D  X (m, 2), y (m,) 0..2
``mlp``                      three interleaved spiral arms in 2-D     X (m, 2), y (m,) 0..2
===========================  =======================================  ====================

**Why the blobs overlap.** On linearly separable data the logistic (and softmax) loss has no
minimiser: if :math:`s_i\,(w^\top x_i + b) > 0` for every example (labels :math:`s_i = \pm 1`),
scaling :math:`(w, b)` by :math:`t \to \infty` sends the loss to 0, so gradient descent drives
:math:`\lVert w \rVert` off to infinity, ever slower (like :math:`\log k` at step :math:`k`).
A cross-check would then compare trajectories that never settle, with no optimum to compare
the final weights with, and logits that keep growing (a naive ``exp`` overflows float32 past
88). With overlapping classes the loss is strictly convex and grows in every direction, so its
minimiser is finite and the trajectories converge to it. The blobs here have means 2.2–2.8
standard deviations apart (Bayes error 8–13 %): at the default sizes the classes are far from
separable.

**Why a spiral for the MLP.** No linear classifier does much better than chance on interleaved
spiral arms (on the default data a softmax regression fits 57 % of the training labels, five
nearest neighbours 99 %), so a cross-checked hidden layer is one that does real work.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .._types import NDArray
from ..errors import InputError, InputTypeError
from ._tutorial import tutorial

__all__ = ["SYNTHETIC", "synthetic"]


def _regression(seed: int, m: int) -> tuple[NDArray, NDArray]:
    return tutorial(seed=seed, m=m)


def _labels(rng: np.random.Generator, m: int, n_classes: int) -> np.ndarray:
    """Balanced labels in random order: every class gets ``m // C`` or ``m // C + 1`` examples."""
    return rng.permutation(np.arange(m) % n_classes).astype(np.int64)


def _blobs(
    rng: np.random.Generator, means: NDArray, m: int, std: float
) -> tuple[NDArray, np.ndarray]:
    """``x_i ~ N(μ_{y_i}, std² I)`` with balanced labels ``y_i``."""
    y = _labels(rng, m, len(means))
    X = means[y] + std * rng.standard_normal((m, means.shape[1]))
    return X, y


# Class 0 around (−0.5, 1), class 1 around (1.5, 2): off the origin, so the intercept matters,
# and not along an axis, so both weights do. The means are 2.24 standard deviations apart:
# Bayes error Φ(−1.12) ≈ 13 %.
_LOGISTIC_MEANS = np.array([[-0.5, 1.0], [1.5, 2.0]])
# Three blobs at the corners of a triangle of circumradius 1.6 around (0.5, −0.5): the means
# are 2.77 standard deviations apart: Bayes error Φ(−1.39) ≈ 8 % per pair.
_SOFTMAX_MEANS = np.array([[0.5, 1.1], [-0.886, -1.3], [1.886, -1.3]])


def _logistic(seed: int, m: int) -> tuple[NDArray, NDArray]:
    X, y = _blobs(np.random.default_rng(seed), _LOGISTIC_MEANS, m, std=1.0)
    return X, y.astype(np.float64)


def _softmax(seed: int, m: int) -> tuple[NDArray, np.ndarray]:
    return _blobs(np.random.default_rng(seed), _SOFTMAX_MEANS, m, std=1.0)


def _spiral(seed: int, m: int) -> tuple[NDArray, np.ndarray]:
    r"""Three spiral arms: :math:`r \sim U(0, 1)`, :math:`t = 4(k + r) + 0.2\,ε`,
    :math:`x = r\,(\sin t, \cos t)` for class :math:`k` (the CS231n spiral)."""
    rng = np.random.default_rng(seed)
    y = _labels(rng, m, 3)
    r = rng.random(m)
    t = 4.0 * (y + r) + 0.2 * rng.standard_normal(m)
    X = np.stack([r * np.sin(t), r * np.cos(t)], axis=1)
    return X, y


# model name → (generator, default m, number of classes; 1 for regression)
SYNTHETIC: dict[str, tuple[Callable[[int, int], tuple], int, int]] = {
    "linear_regression": (_regression, 500, 1),
    "ridge": (_regression, 500, 1),
    "logistic_regression": (_logistic, 200, 2),
    "softmax_regression": (_softmax, 300, 3),
    "mlp": (_spiral, 300, 3),
}


def synthetic(model: str, seed: int = 0, m: int | None = None) -> tuple:
    """Seeded demo data for ``gdcheck demo --model NAME``, in that model's layout.

    Returns ``(X, y)``: for ``linear_regression`` and ``ridge`` the tutorial's data
    (:func:`gdcheck.data.tutorial`), X (1, m) and y (1, m); for the classifiers rows, X (m, 2)
    float64 and y (m,), float64 in {0, 1} for ``logistic_regression``, int64 in 0..C−1 for
    ``softmax_regression`` and ``mlp``. Classes are balanced. ``m`` defaults to 500, 200, 300
    and 300 examples. The same ``seed`` gives the same arrays. See the module docstring for
    why the blobs overlap.

    >>> X, y = synthetic("logistic_regression", seed=0)
    >>> X.shape, y.shape, sorted(set(y.tolist()))
    ((200, 2), (200,), [0.0, 1.0])
    """
    if model not in SYNTHETIC:
        raise InputError(
            f"synthetic data: unknown model {model!r}; known models are "
            f"{', '.join(sorted(SYNTHETIC))}."
        )
    make, default_m, n_classes = SYNTHETIC[model]
    if m is None:
        m = default_m
    if isinstance(m, bool) or not isinstance(m, int | np.integer):
        raise InputTypeError(
            f"synthetic data for {model!r}: m is a {type(m).__name__}; pass an int (examples)."
        )
    least = 2 * n_classes if n_classes > 1 else 2
    if m < least:
        raise InputError(
            f"synthetic data for {model!r}: m={m} examples; pass m >= {least}, so that "
            + ("every class has at least 2 examples." if n_classes > 1 else "a slope is defined.")
        )
    return make(seed, int(m))
