r"""Gradient descent and heavy-ball / Nesterov momentum, and their optax and torch.optim twins.

**SGD** (``sgd()``): :math:`p_t = p_{t-1} - \eta\,g_t`. ``optax.sgd(learning_rate=lr)``;
``torch.optim.SGD(params, lr=lr)``.

**Momentum** (``momentum(beta)``), the convention both libraries share:

.. math::
    b_t = \beta\,b_{t-1} + g_t, \quad b_0 = 0, \qquad p_t = p_{t-1} - \eta\,b_t .

* torch: ``SGD(momentum=β, dampening=0)`` keeps ``buf ← β·buf + (1 − dampening)·g`` and
  starts it at ``buf = g`` (the same as :math:`b_0 = 0`). ``dampening`` must be 0: with
  ``dampening = β`` the buffer becomes the EMA :math:`\beta b + (1-\beta) g`, a step
  :math:`1-\beta` times smaller — the mapping passes ``dampening=0`` explicitly.
* optax: ``sgd(momentum=β)`` is ``trace(decay=β)`` then ``scale(−η)``: ``t ← g + β·t``, from
  zeros — the same buffer. (``optax.ema`` is the EMA, not what ``sgd`` uses.)

**Nesterov** (``momentum(beta, nesterov=True)``): the same buffer, but the step looks ahead,

.. math::
    b_t = \beta\,b_{t-1} + g_t, \qquad p_t = p_{t-1} - \eta\,(g_t + \beta\,b_t),

which is what torch's ``SGD(nesterov=True)`` (``g ← g + β·buf``) and optax's
``trace(nesterov=True)`` (``updates = g + β·t``) both compute; the buffer itself is unchanged.

**Gain.** An error :math:`\delta` in :math:`g_t` enters :math:`b_{t+k}` as :math:`\beta^k\delta`.
With heavy-ball momentum it moves the parameters by :math:`\eta\delta\sum_{k\ge0}\beta^k =
\eta\delta/(1-\beta)` in all; with Nesterov by :math:`\eta\delta(1+\beta)` at step :math:`t`,
then :math:`\eta\delta\beta^{k+1}` at step :math:`t+k`, in all
:math:`\eta\delta\,(1 + \beta/(1-\beta)) = \eta\delta/(1-\beta)` — the same bound. A persistent
error :math:`\delta` shifts each step by that much in the steady state.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError, InputTypeError
from ._base import Optimizer, check_unit_interval

__all__ = ["momentum", "sgd"]


def _sgd_step(
    p: np.ndarray, g: np.ndarray, slots: dict[str, np.ndarray], t: int, lr: np.floating
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r""":math:`p - \eta g`."""
    return p - lr * g, {}


def _momentum_step(
    p: np.ndarray,
    g: np.ndarray,
    slots: dict[str, np.ndarray],
    t: int,
    lr: np.floating,
    *,
    beta: np.floating,
    nesterov: bool,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r""":math:`b = \beta b + g`; :math:`p - \eta b` (Nesterov: :math:`p - \eta(g + \beta b)`)."""
    b = g + beta * slots["b"] if slots else g.copy()  # optax: g + β·0 = g exactly
    direction = g + beta * b if nesterov else b
    return p - lr * direction, {"b": b}


def sgd() -> Optimizer:
    r"""Plain gradient descent :math:`p \leftarrow p - \eta g` (gain 1: an error moves p by ηδ)."""
    return Optimizer(
        name="sgd",
        hyper={},
        rule="p ← p − η·g",
        gain=1.0,
        relative=False,
        optax_call=("sgd", {}),
        torch_call=("SGD", {}),
        step=_sgd_step,
    )


def momentum(beta: float = 0.9, nesterov: bool = False) -> Optimizer:
    r"""Heavy-ball momentum :math:`b \leftarrow \beta b + g,\ p \leftarrow p - \eta b`.

    With ``nesterov=True``: :math:`p \leftarrow p - \eta(g + \beta b)`. ``gain`` is
    :math:`1/(1-\beta)` for both (module docstring). ``beta`` in ``[0, 1)``; Nesterov needs
    ``beta > 0`` (torch refuses it otherwise, and at 0 it is :func:`sgd`).
    """
    factory = "gdcheck.optim.momentum"
    beta = check_unit_interval(beta, "beta", factory)
    if not isinstance(nesterov, bool):
        raise InputTypeError(f"{factory}: nesterov must be True or False, got {nesterov!r}.")
    if nesterov and beta == 0.0:
        raise InputError(
            f"{factory}: nesterov=True needs beta > 0 (torch.optim.SGD refuses "
            "momentum=0 with nesterov); use gdcheck.optim.sgd() for plain gradient descent."
        )
    if nesterov:
        rule = f"b ← β·b + g;  p ← p − η·(g + β·b)   (β = {beta!r}, Nesterov)"
    else:
        rule = f"b ← β·b + g;  p ← p − η·b   (β = {beta!r})"
    return Optimizer(
        name="momentum",
        hyper={"beta": beta, "nesterov": nesterov},
        rule=rule,
        gain=1.0 / (1.0 - beta),
        relative=False,
        optax_call=("sgd", {"momentum": beta, "nesterov": nesterov}),
        torch_call=("SGD", {"momentum": beta, "dampening": 0, "nesterov": nesterov}),
        step=_momentum_step,
        slots=("b",),
    )
