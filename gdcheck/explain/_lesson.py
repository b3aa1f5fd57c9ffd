r"""``gdcheck explain``: a short lesson on what the handwritten gradient and autodiff compute.

On the tutorial's data (``X`` (n+1, m) with the ones row, ``y`` (1, m)) the lesson shows

1. the cost and its derivative, written out (this module):
   :math:`C = \frac{1}{m}\sum_j (\hat y_j - y_j)^2`, :math:`\frac{dC}{dw} = \frac{2}{m} X (\hat y - y)^\top`;
2. what JAX computes: the jaxpr of ``jax.grad(cost)``, each line mapped to a part of that formula
   by following the values through the program (:mod:`._jaxpr`);
3. what PyTorch records: the autograd graph walked from the loss, with what each node saved and
   what it passes back (:mod:`._torch_graph`);
4. the first step's numbers from every installed backend side by side (:mod:`._first_step`);
5. the learning-rate analysis: the Hessian :math:`H = \frac{2}{m} X X^\top`, its eigenvalues,
   the bound :math:`\eta < 2/\lambda_{\max}`, and for η = 0.01, 0.5 and 100 a prediction from
   :math:`e_{k+1} = (I - \eta H)\, e_k` that is then checked by running :func:`gdcheck.crosscheck`
   (:mod:`._lr`).

:func:`lesson` returns a :class:`Lesson` (sections of text, preformatted blocks and tables, plus
the numbers as ``facts``); :mod:`gdcheck.report.terminal` prints it and :mod:`._html` writes it as
a page. JAX and PyTorch are optional: a missing one is named with its install hint.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import backends as backend_registry
from .. import data as datasets
from .. import models
from .._types import NDArray
from ..backends.jax_backend import JaxBackend
from ..backends.torch_backend import TorchBackend
from ..errors import InputError
from ..models import Model
from ._backward import backward_section
from ._blocks import Block, Pre, Section, Table, Text, aligned
from ._first_step import first_step_section, numpy_step0
from ._jaxpr import jax_section
from ._lr import LEARNING_RATES, STEPS, lr_section
from ._model_lesson import SERIES, LessonConfig, model_lesson, series_lesson
from ._notebook import Lesson
from ._reverse import reverse_mode_section
from ._taylor_picture import taylor_section
from ._torch_graph import torch_section

__all__ = [
    "LEARNING_RATES",
    "MODELS",
    "STEPS",
    "Lesson",
    "LessonConfig",
    "Pre",
    "Section",
    "Table",
    "Text",
    "lesson",
]

MODELS: tuple[str, ...] = ("linear_regression", *SERIES)
"""Models ``gdcheck explain --model`` can teach."""

_AUTODIFF = (("jax", jax_section), ("torch", torch_section))
"""Sections 2 and 3: the backend each needs, and its builder."""

_INSTALL_HINT = {"jax": JaxBackend.install_hint, "torch": TorchBackend.install_hint}


def lesson(
    model: str | Model = "linear_regression",
    *,
    data: tuple | None = None,
    lr: float = 0.1,
    seed: int = 0,
    progress: Callable[[str, str], None] | None = None,
    config: LessonConfig | None = None,
) -> Lesson:
    """Build the lesson for ``model``; see the module docstring.

    ``model`` is a name of :data:`MODELS` (the tutorial's linear regression on its data, the
    others on theirs: :data:`~gdcheck.explain._model_lesson.SERIES`), or any
    :class:`gdcheck.Model` with its ``data`` (a tuple, as the model takes it) and ``lr``.
    ``progress`` is handed to :func:`gdcheck.crosscheck` for the learning-rate runs.
    Raises :class:`~gdcheck.errors.InputError` for a model it does not know or a bad seed.
    """
    if isinstance(model, Model):
        if data is None:
            raise InputError("lesson(model, data=...): a Model needs its data, e.g. data=(X, y).")
        return model_lesson(model, data, lr=lr, config=config)
    if model not in MODELS:
        raise InputError(
            f"unknown model {model!r} for explain; choose one of: {', '.join(MODELS)}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}.")
    if model in SERIES:
        return series_lesson(model, seed=seed, config=config)
    config = config or LessonConfig()
    X, y = datasets.tutorial(seed=seed)
    reference = models.linear_regression()
    assert reference.prepare is not None  # the tutorial's model prepends the ones row
    Xb, yb = reference.prepare(X, y)
    found, notes = backend_registry.resolve(None)
    names = {b.name for b in found}
    facts: dict[str, Any] = {"model": model, "seed": seed, "m": Xb.shape[1], "missing": notes}

    w0 = reference.init(Xb, yb)
    step0: dict[str, dict[str, NDArray]] = {"numpy": numpy_step0(reference, w0, Xb, yb)}
    sections = [_cost_section(Xb, notes)]
    for name, build in _AUTODIFF:
        if name in names:
            section, numbers, found_facts = build(reference, w0, Xb, yb)
            step0[name] = numbers
            facts[name] = found_facts
        else:
            section = _missing_section(name)
        sections.append(section)
    sections.append(first_step_section(step0, yb, facts))
    sections.append(lr_section(reference, X, y, names, progress, facts))
    if "jax" in names:
        sections.append(backward_section(reference, w0, (Xb, yb), 0.01, facts, number=6))
        sections.append(reverse_mode_section(facts, 7, config.reverse_sizes))
    sections.append(taylor_section(reference, w0, (Xb, yb), facts, 8))
    title = f"gdcheck explain — {model} on the tutorial's data (m = {Xb.shape[1]}, seed {seed})"
    return Lesson(title, tuple(sections), facts)


# --- 1. the cost and its derivative ------------------------------------------------------------

FORMULAS: tuple[tuple[str, ...], ...] = (
    ("ŷ = wᵀX", "(1, m)", "the prediction"),
    ("r = ŷ − y", "(1, m)", "the residual"),
    ("C(w) = (1/m) Σⱼ rⱼ²", "scalar", "the cost (no ½)"),
    ("",),
    ("chain rule, one example j and one weight i:",),
    ("  ∂C/∂rⱼ = (2/m)·rⱼ", "", "∂rⱼ/∂wᵢ = Xᵢⱼ"),
    ("  ∂C/∂wᵢ = Σⱼ (2/m)·rⱼ·Xᵢⱼ", "", "a sum over the m examples"),
    ("",),
    ("dC/dw = (2/m)·X(ŷ − y)ᵀ", "(n+1, 1)", "the handwritten gradient"),
    ("w ← w − lr·dC/dw", "", "the update"),
)
"""The formula block of section 1, by columns (aligned by display width, laid out as a grid)."""


def _cost_section(Xb: NDArray, notes: list[str]) -> Section:
    """Section 1: the data's shapes, the cost and its derivative by the chain rule."""
    p, m = Xb.shape
    blocks: list[Block] = [
        Text(
            f"The tutorial's data: one feature x ~ U(0, 1) and y = 3x + 5 + 0.1·noise, m = {m} "
            f"examples. A row of ones is prepended to X, so X is ({p}, {m}) and w is ({p}, 1): "
            "w[0] is the intercept, w[1] the slope."
        ),
        aligned(FORMULAS),
        Text(
            "The cost is written once (gdcheck.models.linear_regression().loss, against the array "
            "API), so NumPy, JAX and PyTorch evaluate the very same function; the gradient "
            "(2/m)·X(ŷ − y)ᵀ is the handwritten NumPy code under test. The next two sections show "
            "how each autodiff library arrives at the same formula."
        ),
    ]
    blocks += [Text(f"Note: {n}.") for n in notes]
    return Section("1. The cost and its derivative", tuple(blocks))


def _missing_section(name: str) -> Section:
    """Section 2 or 3 when its backend is missing: what to install to see it."""
    what = "JAX computes" if name == "jax" else "PyTorch records"
    number = 2 if name == "jax" else 3
    return Section(
        f"{number}. What {what}",
        (
            Text(
                f"{name} is not installed, so this part is skipped. Install it with: {_INSTALL_HINT[name]}"
            ),
        ),
    )
