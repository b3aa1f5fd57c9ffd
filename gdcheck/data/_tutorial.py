"""Data: the tutorial's data set, seeded, in its layout: ``X`` is (n, m), features × examples,
and ``y`` is (1, m). Loading a user's CSV or ``.npy`` file lives in :mod:`._files`.
"""

from __future__ import annotations

import numpy as np

from .._types import NDArray
from ._files import load as load

__all__ = ["load", "tutorial"]


def tutorial(seed: int = 0, m: int = 500) -> tuple[NDArray, NDArray]:
    """The tutorial's data: ``x ~ U(0, 1)`` of shape (1, m) and ``y = 3x + 5 + 0.1·N(0, 1)``.

    The intercept 5 is the published script's; it exercises the intercept entry ``w[0]``.

    >>> X, y = tutorial(seed=0)
    >>> X.shape, y.shape
    ((1, 500), (1, 500))
    """
    rng = np.random.default_rng(seed)
    x = rng.random((1, m))
    y = 3.0 * x + 5.0 + 0.1 * rng.standard_normal((1, m))
    return x, y
