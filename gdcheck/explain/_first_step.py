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


def _ulp_count(a: float, b: float) -> float:
    """``|a − b|`` in units of the last place of the larger."""
    return 0.0 if a == b else abs(a - b) / float(np.spacing(max(abs(a), abs(b))))


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


def _leaves(tree: Any) -> dict[str, NDArray]:
    """A gradient or params as named flat arrays (``w`` for a bare array)."""
    if isinstance(tree, dict):
        return {k: np.asarray(v, dtype=np.float64).ravel() for k, v in tree.items()}
    return {"w": np.asarray(tree, dtype=np.float64).ravel()}


def autodiff_gradients(model: Model, params: Any, data: tuple) -> dict[str, dict[str, NDArray]]:
    """``jax.grad`` and ``torch`` autograd of ``model.loss`` at ``params``, each installed one."""
    out: dict[str, dict[str, NDArray]] = {}
    try:
        import jax
        import jax.numpy as jnp

        with jax.enable_x64(np.asarray(data[0]).dtype == np.float64):
            p = jax.tree_util.tree_map(jnp.asarray, params)
            cost, g = jax.value_and_grad(model.loss)(p, *(jnp.asarray(d) for d in data))
            out["jax"] = {"cost": np.asarray([float(cost)]), **_leaves(jax.device_get(g))}
    except ImportError:
        pass
    try:
        import torch

        def leaf(v: Any) -> Any:
            return torch.tensor(np.asarray(v), requires_grad=True)

        tp = {k: leaf(v) for k, v in params.items()} if isinstance(params, dict) else leaf(params)
        cost = model.loss(tp, *(torch.from_numpy(np.asarray(d)) for d in data))
        cost.backward()
        grads = (
            {k: v.grad.numpy() for k, v in tp.items()} if isinstance(tp, dict) else tp.grad.numpy()
        )
        out["torch"] = {"cost": np.asarray([float(cost.item())]), **_leaves(grads)}
    except ImportError:
        pass
    return out


def model_first_step_section(
    model: Model, params: Any, data: tuple, facts: dict[str, Any], number: int
) -> Section:
    """The loss and the first gradient entries of every parameter, by every backend, side by
    side with the largest difference in ULPs; records ``first_step`` in ``facts``."""
    numbers = {
        "numpy": {
            "cost": np.asarray([float(model.loss(params, *data))]),
            **_leaves(model.grad(params, *data)),
        }
    }
    numbers.update(autodiff_gradients(model, params, data))
    names = list(numbers)
    ref = numbers["numpy"]
    header = ("quantity", *(("numpy (handwritten)" if n == "numpy" else n) for n in names))
    rows = [("L(p₀)", *(f"{float(numbers[n]['cost'][0]):.15g}" for n in names))]
    for key in (k for k in ref if k != "cost"):
        for j in range(min(SHOWN, ref[key].size)):
            rows.append((f"∇{key}[{j}]", *(f"{numbers[n][key][j]:.17g}" for n in names)))
    rows.append(
        (
            "largest gradient difference (ULPs)",
            "—",
            *(
                f"{max(_ulp_count(a, b) for k in ref if k != 'cost' for a, b in zip(numbers[n][k], ref[k], strict=True)):.2g}"
                for n in names[1:]
            ),
        )
    )
    facts["first_step"] = {n: {k: v.tolist() for k, v in d.items()} for n, d in numbers.items()}
    facts["first_step_backends"] = names
    return Section(
        f"{number}. The first step, side by side",
        (
            Text(
                "The loss and the first entries of each parameter's gradient at p₀, from the "
                "handwritten NumPy gradient and from each autodiff library, each from its own code:"
            ),
            Table(header, tuple(rows)),
        ),
    )
