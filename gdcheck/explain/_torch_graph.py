r"""Section 3 of the lesson: the autograd graph PyTorch records for the cost, and what flows back.

The graph is walked from ``loss.grad_fn`` through ``next_functions`` (depth first, the order
``loss.backward()`` meets the nodes); each node shows what it saved in the forward pass
(``_saved_*``) and, from a hook, what it passed back. Read bottom-up the chain is
:math:`\frac{1}{m} \to \times 2r \to \times X^\top \to` transpose, that is
:math:`\frac{2}{m} X (\hat y - y)^\top`.

PyTorch is imported only when :func:`torch_section` runs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._types import NDArray
from ..models import Model
from ._blocks import Pre, Section, Table, Text

__all__ = ["torch_section"]

_TORCH_ROLE = {
    "DivBackward0": "C = Σr²/m: passes back 1/m",
    "SumBackward0": "Σ over the examples: copies the gradient to every example",
    "PowBackward0": "r²: multiplies by 2r — (2/m)·r leaves here",
    "SubBackward0": "r = ŷ − y: passes the gradient on to ŷ unchanged (y needs none)",
    "MmBackward0": "ŷ = wᵀX: multiplies by Xᵀ, the sum over the m examples",
    "TransposeBackward0": "wᵀ: transposes back to w's shape",
    "AccumulateGrad": "adds the result into w.grad",
    "MseLossBackward0": "a built-in mean squared error: 2(ŷ − y)/m in one node",
    "MeanBackward0": "a mean: passes back 1/m to every entry",
}


# The inputs that need no gradient, by (node, input position), in this model's graph.
_TORCH_CONSTANT = {("DivBackward0", 1): "m", ("SubBackward0", 1): "y", ("MmBackward0", 1): "X"}


def _saved(node: Any) -> str:
    """What an autograd node saved for the backward pass: a scalar's value, a tensor's shape."""
    import torch

    parts = []
    for attr in sorted(a for a in dir(node) if a.startswith("_saved_") and "sym_" not in a):
        try:
            value = getattr(node, attr)
        except RuntimeError:  # freed after backward
            continue
        key = attr[len("_saved_") :]
        if isinstance(value, torch.Tensor):
            parts.append(
                f"{key}={value.item():g}" if value.numel() == 1 else f"{key}: {tuple(value.shape)}"
            )
        elif isinstance(value, int | float) and key != "alpha" and not key.startswith("dim"):
            parts.append(f"{key}={value:g}")
    return ", ".join(parts)


def torch_section(
    model: Model, w0: NDArray, X: NDArray, y: NDArray
) -> tuple[Section, dict[str, NDArray], dict[str, Any]]:
    """Section 3 for ``model.loss`` at ``w0`` on the prepared data ``X`` (n+1, m), ``y`` (1, m).

    Returns the section, PyTorch's first-step numbers (``y_hat``, ``residual``, ``cost``,
    ``grad``) and the facts: the graph's ``nodes`` in walk order and ``grad``.
    """
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    w = torch.tensor(w0, requires_grad=True)
    y_hat = w.T @ Xt
    loss = model.loss(w, Xt, yt)

    order: list[Any] = []
    tree: list[str] = [f"loss = {loss.item():.10g}"]
    passed: dict[int, str] = {}

    def visit(node: Any, prefix: str, last: bool, parent: str, index: int) -> None:
        glyph = prefix + ("└─ " if last else "├─ ")
        if node is None:
            what = _TORCH_CONSTANT.get((parent, index), "a constant")
            tree.append(f"{glyph}None   ({what}: no gradient needed)")
            return
        name = type(node).__name__
        order.append(node)
        tree.append(glyph + name + ("   → w.grad" if getattr(node, "variable", None) is w else ""))

        def hook(grad_inputs: Any, _grad_outputs: Any, key: int = id(node)) -> None:
            shown = [g for g in grad_inputs if g is not None]
            if shown:
                first = shown[0].reshape(-1)[0].item()
                passed[key] = f"{tuple(shown[0].shape)}, first {first:.6g}"

        node.register_hook(hook)
        children = node.next_functions
        for i, (child, _) in enumerate(children):
            visit(child, prefix + ("   " if last else "│  "), i == len(children) - 1, name, i)

    visit(loss.grad_fn, "", True, "", 0)
    saved = {id(n): _saved(n) for n in order}
    loss.backward()

    rows: list[tuple[str, ...]] = []
    nodes: list[str] = []
    for node in order:
        name = type(node).__name__
        nodes.append(name)
        into = "into w.grad" if getattr(node, "variable", None) is w else "—"
        rows.append(
            (name, _TORCH_ROLE.get(name, ""), saved[id(node)] or "—", passed.get(id(node), into))
        )
    assert w.grad is not None
    numbers = {
        "y_hat": y_hat.detach().numpy().ravel(),
        "residual": (y_hat - yt).detach().numpy().ravel(),
        "cost": np.asarray(loss.item()),
        "grad": w.grad.numpy().ravel().copy(),
    }
    section = Section(
        "3. What PyTorch records: the autograd graph",
        (
            Text(
                "PyTorch records each operation on a tensor that requires a gradient as a node. "
                "Walking from the loss through grad_fn.next_functions (at w₀ = 0):"
            ),
            Pre("\n".join(tree)),
            Text(
                "loss.backward() visits the same nodes from the top: each multiplies the incoming "
                "gradient by its local derivative, using what it saved in the forward pass. "
                "Hooks on the nodes recorded what each passed back:"
            ),
            Table(
                ("node", "in the formula", "saved", "passes back (shape, first entry)"), tuple(rows)
            ),
            Text(
                "Read bottom-up, the chain is (1/m) → ×2r → ×Xᵀ → transpose: (2/m)·X(ŷ − y)ᵀ, "
                f"which lands in w.grad = [{', '.join(f'{g:.10g}' for g in numbers['grad'])}]."
            ),
        ),
    )
    return section, numbers, {"nodes": nodes, "grad": numbers["grad"].tolist()}
