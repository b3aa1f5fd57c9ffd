r"""``gdcheck.Model``: a model with a handwritten gradient (and, optionally, update), as data.

A model is five functions and a name. Every cross-check (:func:`gdcheck.crosscheck`, ``gdcheck
demo/run/check``, the pytest baselines) takes one; the tutorial's linear regression is one too,
built from the same fields, with no private powers.

* ``loss(params, *data) -> scalar`` — written once against the array-API namespace
  (``xp = gdcheck.namespace(params)``): the function autodiff differentiates;
* ``grad(params, *data)`` — the handwritten gradient, in the params' structure;
* ``init(*data)`` — the params at step 0 (an array, or a dict of arrays);
* ``update(params, grads, state, lr) -> (params, state)`` — the handwritten update; ``state``
  is None at the first step. ``None`` means the optimizer's textbook rule as
  :mod:`gdcheck.optim` writes it (plain :math:`p - \eta g` for the default SGD).

Optional hooks, each one a speed-up or an extra check that any user's model may have too:

* ``prepare(*data) -> tuple`` — validate the data and lay it out (the tutorial prepends a row
  of ones); default: the data as given;
* ``optimum(*data)`` — the closed-form minimiser, in the params' structure;
* ``hessian(*data)`` — the constant Hessian of a quadratic cost, a (p, p) float64 matrix over the
  flattened params: it gives the stable learning-rate bound :math:`2/\lambda_{\max}` and a
  sharp drift tolerance;
* ``term_scale(params, *data)`` — the size of the terms summed into each gradient entry (in the
  params' structure), instead of measuring the rounding floor.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Model"]


@dataclass(frozen=True)
class Model:
    """A model with a handwritten gradient: what every cross-check runs (see module docstring).

    Example::

        >>> import numpy as np, gdcheck
        >>> def loss(w, X, y):
        ...     xp = gdcheck.namespace(w)
        ...     return xp.mean((X @ w - y) ** 2)
        >>> model = gdcheck.Model(
        ...     name="lsq",
        ...     loss=loss,
        ...     grad=lambda w, X, y: 2 * X.T @ (X @ w - y) / len(y),
        ...     init=lambda X, y: np.zeros(X.shape[1]),
        ... )
        >>> X = np.random.default_rng(0).normal(size=(50, 3)); y = X @ np.ones(3)
        >>> gdcheck.crosscheck(model, X, y, lr=0.1, steps=50, backends="numpy").passed
        True
    """

    name: str
    loss: Callable[..., Any]
    grad: Callable[..., Any]
    init: Callable[..., Any]
    update: Callable[..., Any] | None = None
    prepare: Callable[..., tuple] | None = None
    optimum: Callable[..., Any] | None = None
    hessian: Callable[..., Any] | None = None
    term_scale: Callable[..., Any] | None = None
    description: str = ""
    info: dict[str, Any] = field(default_factory=dict, compare=False)
    """Free-form facts a report may show (e.g. ``{"layout": "rows"}``)."""
