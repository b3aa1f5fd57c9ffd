r"""Section 4 of the lesson: the first step's numbers from every installed backend, side by side.

At :math:`w_0 = 0` every prediction is 0, so the residual is :math:`-y` and the gradient is
:math:`\frac{2}{m}\bigl(\sum_j r_j,\ \sum_j x_j r_j\bigr)`. The table shows :math:`y`,
:math:`\hat y`, :math:`r`, :math:`C(w_0)` and :math:`dC/dw` as each backend computed them, and
the largest gradient difference from the handwritten NumPy gradient in ULPs (units in the last
place: the rounding scale of the value itself, where a relative error hides how many bits differ).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._types import NDArray
from ..models import Model
from ._blocks import Section, Table, Text

__all__ = ["SHOWN", "first_step_section", "numpy_step0"]

SHOWN = 3
"""How many examples of ŷ, y and the residual the first-step table shows."""


def numpy_step0(model: Model, w: NDArray, X: NDArray, y: NDArray) -> dict[str, NDArray]:
    """The handwritten NumPy numbers at ``w``: ``y_hat``, ``residual``, ``cost`` and ``grad``."""
    y_hat = w.T @ X
    return {
        "y_hat": y_hat.ravel(),
        "residual": (y_hat - y).ravel(),
        "cost": np.asarray(model.loss(w, X, y)),
        "grad": np.asarray(model.grad(w, X, y)).ravel(),
    }


def _ulps(a: float, b: float) -> str:
    """``|a − b|`` in units of the last place of the larger, as text."""
    if a == b:
        return "0"
    spacing = np.spacing(max(abs(a), abs(b)))
    return f"{abs(a - b) / spacing:.2g}"


def first_step_section(
    step0: dict[str, dict[str, NDArray]], y: NDArray, facts: dict[str, Any]
) -> Section:
    """Section 4 from each backend's numbers (``numpy`` first); records ``first_step`` in ``facts``."""
    names = list(step0)
    ref = step0["numpy"]
    header = ("quantity", *(("numpy (handwritten)" if n == "numpy" else n) for n in names))
    rows: list[tuple[str, ...]] = []
    for j in range(SHOWN):
        rows.append((f"y[{j}]", *(f"{y.ravel()[j]:.10g}" for _ in names)))
    for key, label in (("y_hat", "ŷ"), ("residual", "r = ŷ − y")):
        for j in range(SHOWN):
            rows.append((f"{label} [{j}]", *(f"{step0[n][key][j]:.10g}" for n in names)))
    rows.append(("C(w₀)", *(f"{float(step0[n]['cost']):.15g}" for n in names)))
    for i in range(ref["grad"].size):
        rows.append((f"dC/dw[{i}]", *(f"{step0[n]['grad'][i]:.17g}" for n in names)))
    rows.append(
        (
            "largest gradient difference (ULPs)",
            "—",
            *(
                max(
                    _ulps(float(a), float(b))
                    for a, b in zip(step0[n]["grad"], ref["grad"], strict=True)
                )
                for n in names[1:]
            ),
        )
    )
    g = ref["grad"]
    facts["first_step"] = {
        n: {k: np.asarray(v).tolist() for k, v in d.items() if k != "y_hat"}
        for n, d in step0.items()
    }
    facts["first_step_backends"] = names
    return Section(
        "4. The first step, side by side",
        (
            Text(
                "At w₀ = 0 every prediction is 0, so the residual is −y, and the gradient entries "
                "are (2/m)·Σⱼ rⱼ (the intercept: twice the mean residual, since X's first row is "
                "ones) and (2/m)·Σⱼ xⱼ·rⱼ (the slope). Each backend, from its own code:"
            ),
            Table(header, tuple(rows)),
            Text(
                f"The update with the tutorial's lr = 0.01: w₁ = w₀ − 0.01·dC/dw = "
                f"[{', '.join(f'{-0.01 * v:.10g}' for v in g)}]. The gradients agree to the last "
                "bits of float64 (a few ULPs at most: the sums are added in different orders)."
            ),
        ),
    )
