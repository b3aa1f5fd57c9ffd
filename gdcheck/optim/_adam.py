r"""Adam and AdamW (decoupled weight decay), and their optax and torch.optim twins.

**Adam** (``adam(b1, b2, eps)``), with :math:`m_0 = v_0 = 0` and the step count :math:`t`
starting at 1:

.. math::
    m_t = \beta_1 m_{t-1} + (1-\beta_1)\,g_t, \qquad
    v_t = \beta_2 v_{t-1} + (1-\beta_2)\,g_t^2,

.. math::
    \hat m_t = \frac{m_t}{1-\beta_1^t}, \quad \hat v_t = \frac{v_t}{1-\beta_2^t}, \qquad
    p_t = p_{t-1} - \eta\,\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}.

* Bias correction: both libraries divide by :math:`1-\beta^t` with the same :math:`t`
  (optax's ``count`` after its increment, torch's ``state["step"]``). torch folds the first
  correction into the step size, ``lr / (1 − β₁ᵗ)``, and the second into the denominator,
  ``√v / √(1 − β₂ᵗ)``; that is the same number up to rounding.
* Where :math:`\epsilon` sits: outside the square root, after bias correction, in both —
  torch's ``√v/√(1−β₂ᵗ) + eps``, optax's ``m̂ / (√(v̂ + eps_root) + eps)``. The mapping pins
  ``eps_root=0.0`` (optax's default) so nothing enters inside the root; putting ``eps``
  inside (:math:`\sqrt{\hat v + \epsilon}`) is a different rule.
* torch's ``Adam(weight_decay=…)`` is L2 in the gradient, not AdamW: the mapping passes
  ``weight_decay=0``.

**AdamW** (``adamw(b1, b2, eps, weight_decay)``): the same moments, plus decay of the weights
that bypasses them (Loshchilov & Hutter's decoupled decay, :math:`\lambda` = ``weight_decay``):

.. math::
    p_t = p_{t-1} - \eta\left(\frac{\hat m_t}{\sqrt{\hat v_t} + \epsilon}
          + \lambda\,p_{t-1}\right).

* torch's ``AdamW`` first shrinks the weights, ``p ← p·(1 − lr·wd)``, then takes the Adam step
  from the shrunk weights; optax's ``adamw`` adds ``wd·p`` (of the old ``p``) to the Adam
  direction, then scales by ``−lr``. Both equal the formula above: torch's Adam step does not
  depend on ``p``. The decay is scaled by ``lr`` in both (torch's ``lr·wd``, optax's ``η·λ``),
  so the same ``weight_decay`` means the same thing; their *defaults* differ (torch 1e-2,
  optax 1e-4): the mapping always passes it.
* optax's ``mask=None`` decays every parameter, as torch does for one parameter group.
* Coupled decay — adding :math:`\lambda p` to :math:`g` before the moments — is Adam with L2
  regularisation, a different rule: the decay is normalised away with the gradient.

**Gain.** The step :math:`\hat m/(\sqrt{\hat v}+\epsilon)` is normalised: scaling every
gradient by :math:`c` leaves it unchanged (up to :math:`\epsilon`), and each entry moves by
about :math:`\eta` at most, whatever the gradient's size. A gradient error :math:`\delta`
therefore changes a step by about :math:`\eta\,|\delta| / \sqrt{\hat v}` — the error *relative*
to the gradient's running RMS, not its absolute size. Hence ``relative=True`` and gain 1: a
drift tolerance is ``lr ×`` the gradient's relative error.
"""

from __future__ import annotations

import numpy as np

from ..errors import InputError
from ._base import Optimizer, check_real, check_unit_interval

__all__ = ["adam", "adamw"]

_RULE = (
    "m ← β₁·m + (1−β₁)·g;  v ← β₂·v + (1−β₂)·g²;  m̂ = m/(1−β₁ᵗ);  v̂ = v/(1−β₂ᵗ);  "
    "p ← p − η·{direction}   ({values})"
)


def _adam_direction(
    g: np.ndarray, slots: dict[str, np.ndarray], t: int, b1: np.floating, b2: np.floating, eps
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r""":math:`\hat m/(\sqrt{\hat v} + \epsilon)` and the new moments, in optax's operation order."""
    m_prev = slots.get("m", np.zeros_like(g))
    v_prev = slots.get("v", np.zeros_like(g))
    m = (1 - b1) * g + b1 * m_prev
    v = (1 - b2) * (g * g) + b2 * v_prev
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return m_hat / (np.sqrt(v_hat) + eps), {"m": m, "v": v}


def _beta_rounding(hyper: dict, counts: np.ndarray, dtype: str) -> np.ndarray:
    r"""The relative change of an Adam step at count :math:`t` from :math:`\beta_1, \beta_2`
    rounded to ``dtype`` (optax forms :math:`1-\beta^t` from its float32 :math:`\beta`; a
    handwritten NumPy update uses the Python float). With :math:`u = |\mathrm{fl}(\beta)-\beta|`,
    each moment's relative change is at most

    .. math::
        \delta(\beta, t) = \frac{2u}{1-\beta}
            + \frac{|\mathrm{fl}(\beta)^t - \beta^t|}{1 - \beta^t}

    (the :math:`1-\beta` factor and the decay weights, whose mean age is
    :math:`\beta/(1-\beta)` steps; then the bias correction, which cancels: at :math:`t = 1`,
    :math:`\beta_2 = 0.999` in float32, :math:`u/(1-\beta_2) = 1.3\times10^{-5}`), and the step
    :math:`\hat m/\sqrt{\hat v}` changes by :math:`\delta(\beta_1, t) + \tfrac12\delta(\beta_2, t)`.
    """
    out = np.zeros_like(counts, dtype=np.float64)
    for key, power in (("b1", 1.0), ("b2", 0.5)):
        b = float(hyper[key])
        fb = float(np.dtype(dtype).type(b))
        u = abs(fb - b)
        if u == 0.0 or b == 0.0:
            continue
        exact = b**counts
        bias = np.abs(fb**counts - exact) / np.maximum(1.0 - exact, np.finfo(np.float64).tiny)
        out += power * (2.0 * u / (1.0 - b) + bias)
    return out


def _adam_step(
    p: np.ndarray,
    g: np.ndarray,
    slots: dict[str, np.ndarray],
    t: int,
    lr: np.floating,
    *,
    b1: np.floating,
    b2: np.floating,
    eps: np.floating,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r""":math:`p - \eta\,\hat m/(\sqrt{\hat v} + \epsilon)`."""
    direction, moments = _adam_direction(g, slots, t, b1, b2, eps)
    return p - lr * direction, moments


def _adamw_step(
    p: np.ndarray,
    g: np.ndarray,
    slots: dict[str, np.ndarray],
    t: int,
    lr: np.floating,
    *,
    b1: np.floating,
    b2: np.floating,
    eps: np.floating,
    weight_decay: np.floating,
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    r""":math:`p - \eta\,(\hat m/(\sqrt{\hat v} + \epsilon) + \lambda p)` (decoupled decay)."""
    direction, moments = _adam_direction(g, slots, t, b1, b2, eps)
    return p - lr * (direction + weight_decay * p), moments


def _check_adam(b1: float, b2: float, eps: float, factory: str) -> tuple[float, float, float]:
    b1 = check_unit_interval(b1, "b1", factory)
    b2 = check_unit_interval(b2, "b2", factory)
    eps = check_real(eps, "eps", factory)
    if eps <= 0:
        raise InputError(
            f"{factory}: eps={eps!r} must be > 0; it keeps m̂/(√v̂ + ε) finite where a gradient "
            "entry is 0 (typical value 1e-8)."
        )
    return b1, b2, eps


def adam(b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8) -> Optimizer:
    r"""Adam: :math:`p \leftarrow p - \eta\,\hat m/(\sqrt{\hat v}+\epsilon)` (module docstring).

    ``b1``, ``b2`` in ``[0, 1)``; ``eps > 0``. ``relative=True``, gain 1: the step is
    normalised, so a gradient error matters relative to the gradient's RMS.
    """
    b1, b2, eps = _check_adam(b1, b2, eps, "gdcheck.optim.adam")
    return Optimizer(
        name="adam",
        hyper={"b1": b1, "b2": b2, "eps": eps},
        rule=_RULE.format(direction="m̂/(√v̂ + ε)", values=f"β₁ = {b1!r}, β₂ = {b2!r}, ε = {eps!r}"),
        gain=1.0,
        relative=True,
        optax_call=("adam", {"b1": b1, "b2": b2, "eps": eps, "eps_root": 0.0}),
        torch_call=("Adam", {"betas": (b1, b2), "eps": eps, "weight_decay": 0}),
        step=_adam_step,
        slots=("m", "v"),
        constant_rounding=_beta_rounding,
    )


def adamw(
    b1: float = 0.9, b2: float = 0.999, eps: float = 1e-8, weight_decay: float = 0.01
) -> Optimizer:
    r"""AdamW: :math:`p \leftarrow p - \eta\,(\hat m/(\sqrt{\hat v}+\epsilon) + \lambda p)`.

    Decoupled decay, :math:`\lambda` = ``weight_decay`` ≥ 0 (module docstring: how torch's
    ``p·(1 − lr·wd)`` and optax's ``+ wd·p`` both give this). ``relative=True``, gain 1 (the
    decay term does not involve the gradient).
    """
    factory = "gdcheck.optim.adamw"
    b1, b2, eps = _check_adam(b1, b2, eps, factory)
    weight_decay = check_real(weight_decay, "weight_decay", factory)
    if weight_decay < 0:
        raise InputError(
            f"{factory}: weight_decay={weight_decay!r} must be ≥ 0 (a negative decay grows "
            "the weights); use 0 for plain Adam, or gdcheck.optim.adam()."
        )
    values = f"β₁ = {b1!r}, β₂ = {b2!r}, ε = {eps!r}, λ = {weight_decay!r}"
    return Optimizer(
        name="adamw",
        hyper={"b1": b1, "b2": b2, "eps": eps, "weight_decay": weight_decay},
        rule=_RULE.format(direction="(m̂/(√v̂ + ε) + λ·p)", values=values),
        gain=1.0,
        relative=True,
        optax_call=(
            "adamw",
            {"b1": b1, "b2": b2, "eps": eps, "eps_root": 0.0, "weight_decay": weight_decay},
        ),
        torch_call=("AdamW", {"betas": (b1, b2), "eps": eps, "weight_decay": weight_decay}),
        step=_adamw_step,
        slots=("m", "v"),
        constant_rounding=_beta_rounding,
    )
