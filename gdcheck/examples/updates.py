r"""Handwritten optimizer updates, as a user writes them: right ones, and planted mistakes.

Every function has the shape of ``gdcheck.Model.update``::

    update(params, grads, state, lr, **hyper) -> (params, state)

``params`` and ``grads`` are an array or a dict of arrays; ``state`` is None at the first step,
then the dict the previous call returned. Plain NumPy; nothing here uses :mod:`gdcheck.optim`
(which is what they are checked against).

The correct rules: :func:`sgd`, :func:`momentum`, :func:`nesterov`, :func:`adam`,
:func:`adamw`. The planted mistakes, in :data:`MISTAKES`, each claim to be an optimizer (a
:mod:`gdcheck.optim` factory call, whose keyword arguments are the function's defaults) and
name the step :math:`k` of the first parameters :math:`p_k` (after :math:`k` updates) that
differ from the claimed rule by more than 1e-3 relative on the tests' quadratic; before it,
they agree to rounding.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "MISTAKES",
    "Mistake",
    "adam",
    "adam_eps_inside_sqrt",
    "adam_no_bias_correction",
    "adamw",
    "adamw_coupled_decay",
    "momentum",
    "momentum_ema_buffer",
    "momentum_steps_with_gradient",
    "nesterov",
    "nesterov_as_plain_momentum",
    "sgd",
]


@dataclass(frozen=True)
class Mistake:
    """A planted mistake: the function, the optimizer it claims to be, where it first shows."""

    name: str
    """The function's name in this module."""
    factory: str
    """The :mod:`gdcheck.optim` factory it claims to be."""
    kwargs: dict[str, Any] = field(default_factory=dict)
    """The factory's keyword arguments (the function's defaults are the same values)."""
    first_step: int = 1
    """The first step whose parameters differ by more than 1e-3 relative."""
    lr: float = 0.01
    """The learning rate of the tests' run."""
    why: str = ""

    @property
    def claims(self) -> str:
        """The claimed optimizer as a factory call: ``adam(b1=0.9, b2=0.999, eps=1e-08)``."""
        return f"{self.factory}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"

    @property
    def update(self) -> Callable[..., tuple[Any, dict]]:
        """The planted update function."""
        return globals()[self.name]


_ADAM = {"b1": 0.9, "b2": 0.999, "eps": 1e-8}

MISTAKES: tuple[Mistake, ...] = (
    Mistake(
        "adam_no_bias_correction",
        "adam",
        _ADAM,
        first_step=1,
        lr=0.01,
        why="m and v are not divided by 1−βᵗ: step 1 is (1−β₁)/√(1−β₂) ≈ 3.16 times too long.",
    ),
    Mistake(
        "momentum_ema_buffer",
        "momentum",
        {"beta": 0.9, "nesterov": False},
        first_step=1,
        lr=0.1,
        why="b ← βb + (1−β)g, an EMA, where torch (dampening=0) and optax's trace use b ← βb + g:"
        " every step is (1−β) = 0.1 times as long.",
    ),
    Mistake(
        "momentum_steps_with_gradient",
        "momentum",
        {"beta": 0.9, "nesterov": False},
        first_step=2,
        lr=0.1,
        why="updates the buffer but steps with g: step 1 (b = g) is right, step 2 is not.",
    ),
    Mistake(
        "adamw_coupled_decay",
        "adamw",
        {**_ADAM, "weight_decay": 0.1},
        first_step=1,
        lr=0.05,
        why="adds λp to the gradient (L2, normalised away with it) instead of to the step: "
        "step 1 loses the decay η·λ·p, and where λp flips the sign of a small gradient entry "
        "that entry steps ±η the wrong way (7e-2 relative at step 1 here).",
    ),
    Mistake(
        "adam_eps_inside_sqrt",
        "adam",
        {"b1": 0.9, "b2": 0.999, "eps": 0.1},
        first_step=1,
        lr=0.05,
        why="√(v̂ + ε) instead of √v̂ + ε. Slight: an entry's step shrinks by ~ε/(2v̂) relative, "
        "which matters only where |g| is near √ε; with the default ε = 1e-8 the tests' run "
        "differs by at most ~1e-5 relative in 500 steps (from 8e-7 at step 1, through its "
        "smallest gradient entries), below the 1e-3 line; with ε = 0.1 (as here) it crosses "
        "it at step 1.",
    ),
    Mistake(
        "nesterov_as_plain_momentum",
        "momentum",
        {"beta": 0.9, "nesterov": True},
        first_step=1,
        lr=0.1,
        why="steps with b instead of the look-ahead g + βb: step 1 is 1/(1+β) times too short.",
    ),
)


def _map(fn: Callable[..., Any], *trees: Any) -> Any:
    """Apply ``fn`` to the matching arrays of ``trees`` (arrays, or dicts with the same keys)."""
    if isinstance(trees[0], dict):
        return {k: fn(*(t[k] for t in trees)) for k in trees[0]}
    return fn(*trees)


def _zeros(params: Any) -> Any:
    return _map(np.zeros_like, params)


# -- the correct rules ----------------------------------------------------------------------
def sgd(params: Any, grads: Any, state: dict | None, lr: float) -> tuple[Any, dict]:
    r""":math:`p \leftarrow p - \eta g`."""
    return _map(lambda p, g: p - lr * g, params, grads), {}


def momentum(
    params: Any, grads: Any, state: dict | None, lr: float, beta: float = 0.9
) -> tuple[Any, dict]:
    r""":math:`b \leftarrow \beta b + g`, :math:`p \leftarrow p - \eta b` (torch dampening=0)."""
    b = _zeros(params) if state is None else state["b"]
    b = _map(lambda b, g: beta * b + g, b, grads)
    return _map(lambda p, b: p - lr * b, params, b), {"b": b}


def nesterov(
    params: Any, grads: Any, state: dict | None, lr: float, beta: float = 0.9
) -> tuple[Any, dict]:
    r""":math:`b \leftarrow \beta b + g`, :math:`p \leftarrow p - \eta (g + \beta b)`."""
    b = _zeros(params) if state is None else state["b"]
    b = _map(lambda b, g: beta * b + g, b, grads)
    return _map(lambda p, g, b: p - lr * (g + beta * b), params, grads, b), {"b": b}


def _adam_direction(grads: Any, state: dict | None, b1: float, b2: float, eps: float):
    if state is None:
        state = {"t": 0, "m": _zeros(grads), "v": _zeros(grads)}
    t = state["t"] + 1
    m = _map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = _map(lambda v, g: b2 * v + (1 - b2) * g**2, state["v"], grads)
    direction = _map(
        lambda m, v: (m / (1 - b1**t)) / (np.sqrt(v / (1 - b2**t)) + eps),
        m,
        v,
    )
    return direction, {"t": t, "m": m, "v": v}


def adam(
    params: Any,
    grads: Any,
    state: dict | None,
    lr: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[Any, dict]:
    r""":math:`p \leftarrow p - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)`, bias-corrected."""
    d, state = _adam_direction(grads, state, b1, b2, eps)
    return _map(lambda p, d: p - lr * d, params, d), state


def adamw(
    params: Any,
    grads: Any,
    state: dict | None,
    lr: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> tuple[Any, dict]:
    r""":math:`p \leftarrow p - \eta\,(\hat m/(\sqrt{\hat v} + \epsilon) + \lambda p)`."""
    d, state = _adam_direction(grads, state, b1, b2, eps)
    return _map(lambda p, d: p - lr * (d + weight_decay * p), params, d), state


# -- planted mistakes (see MISTAKES) ---------------------------------------------------------
def adam_no_bias_correction(
    params: Any,
    grads: Any,
    state: dict | None,
    lr: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
) -> tuple[Any, dict]:
    r"""Wrong: :math:`p \leftarrow p - \eta\,m/(\sqrt v + \epsilon)`, no :math:`1-\beta^t`."""
    if state is None:
        state = {"m": _zeros(grads), "v": _zeros(grads)}
    m = _map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = _map(lambda v, g: b2 * v + (1 - b2) * g**2, state["v"], grads)
    new = _map(lambda p, m, v: p - lr * m / (np.sqrt(v) + eps), params, m, v)
    return new, {"m": m, "v": v}


def momentum_ema_buffer(
    params: Any, grads: Any, state: dict | None, lr: float, beta: float = 0.9
) -> tuple[Any, dict]:
    r"""Wrong: :math:`b \leftarrow \beta b + (1-\beta) g` (an EMA; torch/optax use :math:`+g`)."""
    b = _zeros(params) if state is None else state["b"]
    b = _map(lambda b, g: beta * b + (1 - beta) * g, b, grads)
    return _map(lambda p, b: p - lr * b, params, b), {"b": b}


def momentum_steps_with_gradient(
    params: Any, grads: Any, state: dict | None, lr: float, beta: float = 0.9
) -> tuple[Any, dict]:
    r"""Wrong: keeps :math:`b \leftarrow \beta b + g` but steps :math:`p - \eta g`."""
    b = _zeros(params) if state is None else state["b"]
    b = _map(lambda b, g: beta * b + g, b, grads)
    return _map(lambda p, g: p - lr * g, params, grads), {"b": b}


def adamw_coupled_decay(
    params: Any,
    grads: Any,
    state: dict | None,
    lr: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.1,
) -> tuple[Any, dict]:
    r"""Wrong: L2 in the gradient, :math:`g + \lambda p`, then Adam (not decoupled)."""
    grads = _map(lambda g, p: g + weight_decay * p, grads, params)
    d, state = _adam_direction(grads, state, b1, b2, eps)
    return _map(lambda p, d: p - lr * d, params, d), state


def adam_eps_inside_sqrt(
    params: Any,
    grads: Any,
    state: dict | None,
    lr: float,
    b1: float = 0.9,
    b2: float = 0.999,
    eps: float = 0.1,
) -> tuple[Any, dict]:
    r"""Wrong: :math:`\hat m/\sqrt{\hat v + \epsilon}` (optax's ``eps_root``, not ``eps``)."""
    if state is None:
        state = {"t": 0, "m": _zeros(grads), "v": _zeros(grads)}
    t = state["t"] + 1
    m = _map(lambda m, g: b1 * m + (1 - b1) * g, state["m"], grads)
    v = _map(lambda v, g: b2 * v + (1 - b2) * g**2, state["v"], grads)
    new = _map(
        lambda p, m, v: p - lr * (m / (1 - b1**t)) / np.sqrt(v / (1 - b2**t) + eps),
        params,
        m,
        v,
    )
    return new, {"t": t, "m": m, "v": v}


def nesterov_as_plain_momentum(
    params: Any, grads: Any, state: dict | None, lr: float, beta: float = 0.9
) -> tuple[Any, dict]:
    r"""Wrong: claims Nesterov but steps :math:`p - \eta b` (no look-ahead :math:`g + \beta b`)."""
    return momentum(params, grads, state, lr, beta)
