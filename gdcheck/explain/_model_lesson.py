r"""The lesson for any model: the series' models on their data, or a user's ``gdcheck.Model``.

Sections, each from its own module:

1. the model and its handwritten gradient (its source, as written);
2. the backward pass node by node, each handwritten expression matched to the VJP's nodes by
   value (:mod:`._backward`);
3. the first step's numbers from every backend (:mod:`._first_step`);
4. why reverse mode: n JVPs against one VJP (:mod:`._reverse`);
5. the learning rate beyond quadratics: :math:`\lambda_{\max}` along the run by power iteration
   on Hessian-vector products, and the bound :math:`2/\lambda_{\max}` against the rate that
   diverges (:mod:`._sharpness`);
6. the Taylor test's picture (:mod:`._taylor_picture`).

Each model's data (:data:`SERIES`): the tutorial's for the regressions, scikit-learn's
breast-cancer set for logistic regression, its digits for softmax regression and the MLP.
"""

from __future__ import annotations

import inspect
import textwrap
from dataclasses import dataclass
from typing import Any

import numpy as np

from .. import data as datasets
from .. import models
from ..errors import InputError
from ..models import Model
from ._backward import backward_section
from ._blocks import Block, Pre, Section, Text
from ._first_step import model_first_step_section
from ._notebook import Lesson
from ._reverse import SIZES, reverse_mode_section
from ._sharpness import sharpness_section
from ._taylor_picture import taylor_section

__all__ = ["SERIES", "LessonConfig", "model_lesson", "series_lesson"]


@dataclass(frozen=True)
class LessonConfig:
    """How much the lesson measures: the JVP sizes, and the sharpness run's length."""

    reverse_sizes: tuple[int, ...] = SIZES
    sharpness_steps: int = 200


SERIES: dict[str, tuple[str, float]] = {
    "ridge": ("tutorial", 0.1),
    "logistic_regression": ("breast_cancer", 0.5),
    "softmax_regression": ("digits", 0.5),
    "mlp": ("digits", 1.0),
}
"""Model name → (its data, the lesson's learning rate), for the models beside the tutorial's."""


def _data(name: str, source: str, seed: int) -> tuple[tuple, str]:
    if source == "tutorial":
        return datasets.tutorial(seed=seed), f"the tutorial's data (seed {seed})"
    found = datasets.dataset_for_model(source, name)
    X, y = found.data
    return (X, y), f"scikit-learn's {source} ({X.shape[0]} examples, standardized)"


def series_lesson(name: str, seed: int = 0, config: LessonConfig | None = None) -> Lesson:
    """The lesson for one of the series' models (not the tutorial's), on its data."""
    source, lr = SERIES[name]
    model = getattr(models, name)()
    raw, where = _data(name, source, seed)
    return model_lesson(model, raw, lr=lr, where=where, config=config)


def _source_block(model: Model) -> Pre:
    try:
        return Pre(textwrap.dedent(inspect.getsource(model.grad)).rstrip())
    except (OSError, TypeError):
        return Pre(f"(the source of {model.name}'s gradient cannot be read)")


def model_lesson(
    model: Model,
    data: tuple,
    *,
    lr: float = 0.1,
    where: str = "your data",
    config: LessonConfig | None = None,
) -> Lesson:
    """The lesson for ``model`` on ``data`` (as the model takes it, before ``prepare``)."""
    if not isinstance(model, Model):
        raise InputError(f"model must be a gdcheck.Model, got {type(model).__name__}.")
    if not isinstance(data, tuple) or not data:
        raise InputError(
            f"data must be a non-empty tuple of arrays, got {type(data).__name__}; "
            "e.g. data = (X, y)."
        )
    config = config or LessonConfig()
    prepared = tuple(model.prepare(*data)) if model.prepare is not None else data
    params = model.init(*prepared)
    shapes = ", ".join(f"{np.asarray(d).shape}" for d in prepared)
    facts: dict[str, Any] = {"model": model.name, "data": where, "lr": lr}
    intro: list[Block] = [
        Text(
            f"{model.description or model.name}. Data: {where}, as the model takes it: {shapes}. "
            "The loss is written once against the array API, so NumPy, JAX and PyTorch evaluate "
            "the same function; the gradient below is the handwritten code under test:"
        ),
        _source_block(model),
    ]
    sections = [
        Section("1. The model and its handwritten gradient", tuple(intro)),
        backward_section(model, params, prepared, lr, facts, number=2),
        model_first_step_section(model, params, prepared, facts, 3),
        reverse_mode_section(facts, 4, config.reverse_sizes),
        sharpness_section(model, params, prepared, lr, config.sharpness_steps, facts, 5),
        taylor_section(model, params, prepared, facts, 6),
    ]
    return Lesson(f"gdcheck explain — {model.name} on {where}", tuple(sections), facts)
