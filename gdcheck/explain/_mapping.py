r"""The handwritten gradient beside the backward pass autodiff runs, matched by numbers.

Each handwritten intermediate :math:`h` (from :mod:`._source`) and each value :math:`v` of the
VJP program (from :mod:`._vjp`) is evaluated at the first step. :math:`h` is mapped to the first
node :math:`v` (in program order) with the same shape and

.. math::

    |h - v| \le \mathrm{rtol}\,|v| + \mathrm{atol}\,\max|v|   \quad\text{entrywise,}

with ``rtol`` and ``atol`` keyed by dtype (:data:`TOLERANCE`). No match is reported as
"not found" — never guessed from a node's name or position. A mapped handwritten statement is
shown with the backward nodes that compute it: the node's backward ancestors that no earlier
mapped statement already accounts for (so :math:`\delta_2 = (P - Y)/m` shows the VJP of
log-softmax and cross-entropy, :math:`\nabla b = \sum_j \delta_j` the ``reduce_sum`` that a
broadcast's transpose becomes).

A constant handwritten value (all entries equal, e.g. zero biases at step 0) can match many
nodes by coincidence; such a match is flagged as ambiguous.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ._source import Handwritten
from ._vjp import Node, Program

__all__ = ["TOLERANCE", "Match", "match", "role_of"]

TOLERANCE: dict[str, tuple[float, float]] = {
    "float64": (1e-9, 1e-12),
    "float32": (1e-4, 1e-6),
}
"""(rtol, atol relative to the node's largest entry) by dtype: values computed in a different
order agree to rounding, far tighter than any real difference of two expressions."""

_ROLE = {
    "dot_general": "a matrix product: its VJP is a product with the other operand, transposed",
    "transpose": "back to the parameter's layout",
    "reduce_sum": "a broadcast's transpose: the sum over the axis it copied along",
    "broadcast_in_dim": "a reduce_sum's transpose: the same cotangent for every entry summed",
    "select_n": "a mask: where the forward took this branch (ReLU's VJP: z > 0)",
    "mul": "the chain rule's product with a saved local derivative",
    "div": "the chain rule's product with a saved local derivative",
    "neg": "the minus of the loss, or of a subtraction's right side",
    "add_any": "two paths meet: their cotangents add",
    "exp": "softmax's probabilities, from the saved log-probabilities",
    "gt": "the comparison that decides the mask",
    "eq": "ties of a max: where its VJP sends the cotangent",
}


def role_of(node: Node) -> str:
    """What a backward node does, by its primitive."""
    return _ROLE.get(node.primitive, "")


@dataclass(frozen=True)
class Match:
    """One handwritten expression and the VJP nodes it was matched to (empty: not found)."""

    handwritten: Handwritten
    nodes: tuple[str, ...]
    computed_by: tuple[str, ...]
    ambiguous: bool

    @property
    def found(self) -> bool:
        return bool(self.nodes)


def _close(h: NDArray, v: NDArray, dtype: str) -> bool:
    if h.shape != v.shape or v.dtype.kind not in "fcb" or not np.isfinite(h).all():
        return False
    rtol, atol = TOLERANCE.get(dtype, TOLERANCE["float32"])
    scale = float(np.abs(v).max(initial=0.0))
    return bool(np.all(np.abs(h - v) <= rtol * np.abs(v) + atol * max(scale, 1e-300)))


def _ancestors(program: Program) -> dict[str, set[str]]:
    """For each node, the backward nodes it depends on (itself included, inputs excluded)."""
    out: dict[str, set[str]] = {}
    for node in program.nodes:
        seen = {node.name} if node.backward else set()
        for name in node.inputs:
            seen |= out.get(name, set())
        out[node.name] = seen
    return out


def match(expressions: list[Handwritten], program: Program, dtype: str = "float64") -> list[Match]:
    """Map each handwritten expression to the program's nodes by value (see module docstring)."""
    ancestors = _ancestors(program)
    by_name: dict[str, Node] = {n.name: n for n in program.nodes}
    accounted: set[str] = set()
    out: list[Match] = []
    for h in expressions:
        hits = [n.name for n in program.nodes if _close(h.value, n.value, dtype)]
        constant = h.value.size > 1 and bool(np.all(h.value == h.value.flat[0]))
        computed: tuple[str, ...] = ()
        if hits and h.depth == 0:
            # prefer a backward node for a backward quantity: the one the gradient flows through
            back = [n for n in hits if by_name[n].backward]
            first = back[0] if back else hits[0]
            hits = [first] + [n for n in hits if n != first]
            own = ancestors.get(first, set()) - accounted
            computed = tuple(n.name for n in program.nodes if n.name in own)
            accounted |= ancestors.get(first, set())
        out.append(
            Match(h, tuple(hits), computed, constant or (h.value.size == 1 and len(hits) > 1))
        )
    return out


def summary(matches: list[Match]) -> dict[str, Any]:
    """How many handwritten expressions were mapped, top-level and in all."""
    top = [m for m in matches if m.handwritten.depth == 0]
    return {
        "statements": len(top),
        "statements_mapped": sum(m.found for m in top),
        "expressions": len(matches),
        "expressions_mapped": sum(m.found for m in matches),
        "not_found": [m.handwritten.text for m in matches if not m.found],
    }
