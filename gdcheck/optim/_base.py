r"""``Optimizer``: an update rule as data — its NumPy step, its formula, and its library twins.

One optimizer step maps parameters :math:`p`, gradients :math:`g` and a state :math:`s` to
:math:`(p', s')`. gdcheck runs the same rule three ways and compares the trajectories:

* :meth:`Optimizer.update` — the textbook rule in NumPy, the shape of ``Model.update``:
  ``update(params, grads, state, lr) -> (params, state)``, ``state`` None at the first step;
* :meth:`Optimizer.optax` — the ``optax`` transformation that computes the same update;
* :meth:`Optimizer.torch` — the ``torch.optim`` optimizer that computes the same update.

``optax_config`` and ``torch_config`` are those library calls as text, built from the very
keyword arguments the two methods pass, so the text a report shows is the call that ran.

``gain`` bounds how far one gradient error :math:`\delta` moves the parameters, summed over
every later step, in units of :math:`\eta\,\|\delta\|`; with ``relative=True`` the error
counts relative to the gradient's own scale (the step is normalised, see :mod:`._adam`).

The state is a dict: ``{"step": t, slot: tree, ...}`` where each slot (``"b"``, ``"m"``,
``"v"``) has the params' structure.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import InputError, InputTypeError

if TYPE_CHECKING:
    import optax
    import torch

__all__ = ["Optimizer", "Params", "State", "Step"]

Params = Any
"""An array or a dict of arrays (``{name: array}``); grads and every state slot share it."""

State = dict[str, Any] | None
"""``None`` before the first step, then ``{"step": t, slot: params-shaped tree, ...}``."""

Step = Callable[..., tuple[np.ndarray, dict[str, np.ndarray]]]
"""The rule on one array: ``step(p, g, slots, t, lr, **hyper) -> (p', slots')``.

``slots`` is ``{}`` at ``t = 1``; ``lr`` and every float hyper-parameter come cast to
``p.dtype``, so float32 stays float32.
"""

_SINGLE = "params"


def _kwargs_text(kwargs: Mapping[str, Any]) -> str:
    return "".join(f", {k}={v!r}" for k, v in kwargs.items())


@dataclass(frozen=True)
class Optimizer:
    """An update rule: NumPy step, one-line formula, optax and torch.optim twins.

    Build one with :func:`gdcheck.optim.sgd`, :func:`~gdcheck.optim.momentum`,
    :func:`~gdcheck.optim.adam` or :func:`~gdcheck.optim.adamw`; the module docstrings give
    each rule as math and how the libraries' conventions are mapped onto it.

    Example::

        >>> import numpy as np, gdcheck
        >>> opt = gdcheck.optim.momentum(beta=0.9)
        >>> p, s = opt.update({"w": np.ones(2)}, {"w": np.array([1.0, -2.0])}, None, 0.1)
        >>> p["w"], s["step"]
        (array([0.9, 1.2]), 1)
        >>> opt.torch_config
        'torch.optim.SGD(params, lr=lr, momentum=0.9, dampening=0, nesterov=False)'
    """

    name: str
    """The factory's name: ``getattr(gdcheck.optim, opt.name)(**opt.hyper) == opt``."""
    hyper: dict[str, float | bool]
    """The hyper-parameters (JSON-able), as the factory's keyword arguments."""
    rule: str
    """The update as one line of unicode math, with the hyper-parameters' values."""
    gain: float
    """Bound on the parameter shift from one gradient error, in units of ``lr × error``."""
    relative: bool
    """True where the error counts relative to the gradient's scale (normalised steps)."""
    optax_call: tuple[str, dict[str, Any]] = field(repr=False)
    """``(function in optax, keyword arguments besides learning_rate)``."""
    torch_call: tuple[str, dict[str, Any]] = field(repr=False)
    """``(class in torch.optim, keyword arguments besides lr)``."""
    step: Step = field(repr=False)
    """The rule on one array (see :data:`Step`)."""
    slots: tuple[str, ...] = ()
    """The names of the per-parameter state arrays (``("b",)``, ``("m", "v")``)."""
    constant_rounding: Callable[[dict[str, Any], Any, str], Any] | None = field(
        default=None, repr=False
    )
    """``(hyper, counts, dtype) -> relative``: per step count ``t``, the relative change of one
    step when the rule's constants are rounded to ``dtype`` (Adam's :math:`\beta`'s: a
    library that rounds them, a handwritten update that does not). None: nothing to allow."""

    def step_rounding(self, counts: Any, dtype: str) -> Any:
        """The relative step difference :attr:`constant_rounding` allows at each count (0s)."""
        counts = np.asarray(counts, dtype=np.float64)
        if self.constant_rounding is None:
            return np.zeros_like(counts)
        return self.constant_rounding(self.hyper, counts, dtype)

    @property
    def optax_config(self) -> str:
        """The optax call, as text: ``optax.sgd(learning_rate=lr, momentum=0.9, …)``."""
        fn, kwargs = self.optax_call
        return f"optax.{fn}(learning_rate=lr{_kwargs_text(kwargs)})"

    @property
    def torch_config(self) -> str:
        """The torch call, as text: ``torch.optim.SGD(params, lr=lr, momentum=0.9, …)``."""
        cls, kwargs = self.torch_call
        return f"torch.optim.{cls}(params, lr=lr{_kwargs_text(kwargs)})"

    def update(
        self, params: Params, grads: Params, state: State, lr: float
    ) -> tuple[Params, State]:
        """One step of the rule in NumPy: ``(params, state) -> (new params, new state)``.

        ``params`` and ``grads`` are an array or dicts with the same keys and shapes; the new
        params come back in the same structure and dtype (a float32 param stays float32, its
        gradient is cast to it). Nothing passed in is modified.
        """
        where = f"gdcheck.optim.{self.name}().update"
        lr = _check_lr(lr, where)
        p_tree, is_dict = _as_tree(params, "params", where)
        g_tree = _match_grads(p_tree, grads, is_dict, where)
        t, slots_in = _read_state(state, p_tree, self.slots, where)
        new_p: dict[str, np.ndarray] = {}
        new_slots: dict[str, dict[str, np.ndarray]] = {s: {} for s in self.slots}
        for name, p in p_tree.items():
            dt = p.dtype if np.issubdtype(p.dtype, np.floating) else np.dtype(np.float64)
            p = p.astype(dt, copy=False)
            g = g_tree[name].astype(dt, copy=False)
            hyper = {k: v if isinstance(v, bool) else dt.type(v) for k, v in self.hyper.items()}
            leaf_slots = {} if slots_in is None else {s: slots_in[s][name] for s in self.slots}
            new_p[name], out = self.step(p, g, leaf_slots, t, dt.type(lr), **hyper)
            for s in self.slots:
                new_slots[s][name] = out[s]
        unwrap = (lambda tree: dict(tree)) if is_dict else (lambda tree: tree[_SINGLE])
        return unwrap(new_p), {"step": t, **{s: unwrap(tree) for s, tree in new_slots.items()}}

    def optax(self, lr: float) -> optax.GradientTransformation:
        """The optax transformation computing this update (``optax_config`` is its text)."""
        import optax

        fn, kwargs = self.optax_call
        return getattr(optax, fn)(learning_rate=lr, **kwargs)

    def torch(self, tensors: list[torch.Tensor], lr: float) -> torch.optim.Optimizer:
        """The ``torch.optim`` optimizer computing this update (``torch_config`` is its text)."""
        import torch

        tensors = list(tensors)
        if not tensors:
            raise InputError(
                f"gdcheck.optim.{self.name}().torch got no tensors; pass the list of parameter "
                "tensors (requires_grad=True) that the optimizer should step."
            )
        cls, kwargs = self.torch_call
        return getattr(torch.optim, cls)(tensors, lr=lr, **kwargs)


# -- validation: every message says where, what, and how to fix -------------------------------
def check_unit_interval(value: float, name: str, factory: str) -> float:
    """``value`` as a float in ``[0, 1)`` (a decay rate), or an :class:`InputError`."""
    value = check_real(value, name, factory)
    if not 0.0 <= value < 1.0:
        raise InputError(
            f"{factory}: {name}={value!r} is outside [0, 1); a decay rate must be at least 0 "
            f"and below 1 (at 1 the average never forgets; typical values 0.9, 0.999)."
        )
    return value


def check_real(value: Any, name: str, factory: str) -> float:
    """``value`` as a finite float, or an error naming the argument."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise InputTypeError(f"{factory}: {name} must be a real number, got {value!r}.")
    value = float(value)
    if not math.isfinite(value):
        raise InputError(f"{factory}: {name}={value!r} is not finite; pass a finite number.")
    return value


def _check_lr(lr: Any, where: str) -> float:
    lr = check_real(lr, "lr", where)
    if lr <= 0:
        raise InputError(f"{where}: lr={lr!r} must be > 0 (the step is p − lr·direction).")
    return lr


def _as_tree(value: Any, what: str, where: str) -> tuple[dict[str, np.ndarray], bool]:
    if isinstance(value, Mapping):
        if not value:
            raise InputError(f"{where}: {what} is an empty dict; pass at least one array.")
        return {k: np.asarray(v) for k, v in value.items()}, True
    if value is None:
        raise InputTypeError(f"{where}: {what} is None; pass an array or a dict of arrays.")
    return {_SINGLE: np.asarray(value)}, False


def _label(name: str, is_dict: bool, what: str) -> str:
    return f"{what}[{name!r}]" if is_dict else what


def _match_grads(
    p_tree: dict[str, np.ndarray], grads: Any, is_dict: bool, where: str
) -> dict[str, np.ndarray]:
    if is_dict != isinstance(grads, Mapping):
        kind = "a dict" if is_dict else "one array"
        raise InputTypeError(
            f"{where}: params is {kind} but grads is not; return the gradient in the params' "
            "structure (the same keys, one array per parameter)."
        )
    g_tree, _ = _as_tree(grads, "grads", where)
    if set(g_tree) != set(p_tree):
        raise InputError(
            f"{where}: grads has keys {sorted(g_tree)} but params has {sorted(p_tree)}; "
            "return one gradient array per parameter, under the parameter's name."
        )
    for name, p in p_tree.items():
        if g_tree[name].shape != p.shape:
            raise InputError(
                f"{where}: {_label(name, is_dict, 'grads')} has shape {g_tree[name].shape} but "
                f"{_label(name, is_dict, 'params')} has shape {p.shape}; the gradient of a "
                "parameter has the parameter's shape."
            )
    return g_tree


def _read_state(
    state: State, p_tree: dict[str, np.ndarray], slots: tuple[str, ...], where: str
) -> tuple[int, dict[str, dict[str, np.ndarray]] | None]:
    if state is None:
        return 1, None
    fix = "pass None at the first step and then the state that update returned."
    if not isinstance(state, Mapping) or not isinstance(state.get("step"), int):
        raise InputTypeError(f"{where}: state {type(state).__name__} is not this rule's; {fix}")
    missing = [s for s in slots if s not in state]
    if missing:
        raise InputError(f"{where}: state has no slot {missing[0]!r}; {fix}")
    out = {}
    for s in slots:
        tree, _ = _as_tree(state[s], f"state[{s!r}]", where)
        if set(tree) != set(p_tree) or any(tree[n].shape != p_tree[n].shape for n in p_tree):
            raise InputError(f"{where}: state[{s!r}] does not match the params' structure; {fix}")
        out[s] = tree
    return state["step"] + 1, out
