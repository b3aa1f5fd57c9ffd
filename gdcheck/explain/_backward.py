r"""The lesson's section on the backward pass: the VJP node by node, beside the handwritten gradient.

The handwritten expressions (:mod:`._source`) and the VJP's nodes (:mod:`._vjp`) are evaluated
at one point and matched by value (:mod:`._mapping`). The point is the first step's
parameters :math:`p_0`, unless a parameter is constant there (zero biases, :math:`w_0 = 0`):
then every zero intermediate would match every zero node, so the point is :math:`p_1`, the
parameters after the first handwritten step, and the section says so.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..models import Model
from ._blocks import Pre, Section, Table, Text
from ._mapping import match, role_of, summary
from ._source import handwritten_intermediates
from ._vjp import Program, vjp_program

__all__ = ["backward_section", "mapping_point"]

SHOWN_CHAIN = 8
"""At most this many backward nodes are named for one handwritten statement."""


def mapping_point(model: Model, params: Any, data: tuple, lr: float) -> tuple[Any, str]:
    """The point to match at, and its name: ``p₀``, or ``p₁`` when ``p₀`` has a constant leaf."""
    leaves = [np.asarray(v) for v in (params.values() if isinstance(params, dict) else [params])]
    if not any(v.size > 1 and np.all(v == v.flat[0]) for v in leaves):
        return params, "p₀ (the first step's parameters)"
    g = model.grad(params, *data)
    if isinstance(params, dict):
        step = {k: np.asarray(params[k]) - lr * np.asarray(g[k]) for k in params}
    else:
        step = np.asarray(params) - lr * np.asarray(g)
    return step, f"p₁ = p₀ − {lr:g}·∇C(p₀) (p₀ has constant entries, which would match anything)"


def _chain(names: tuple[str, ...], program: Program) -> str:
    nodes = {n.name: n for n in program.nodes}
    shown = [f"{n} {nodes[n].primitive}" for n in names[-SHOWN_CHAIN:]]
    more = len(names) - len(shown)
    return (
        ("… " if more > 0 else "") + ", ".join(shown) + (f" ({len(names)} nodes)" if more else "")
    )


def backward_section(
    model: Model, params: Any, data: tuple, lr: float, facts: dict[str, Any], number: int = 2
) -> Section:
    """The section; ``facts["mapping"]`` gets the counts, the point and each match."""
    point, where = mapping_point(model, params, data, lr)
    program = vjp_program(model.loss, point, *data)
    expressions = handwritten_intermediates(model.grad, point, *data)
    dtype = str(np.asarray(data[0]).dtype)
    matches = match(expressions, program, dtype)
    counts = summary(matches)
    nodes = {n.name: n for n in program.nodes}
    rows = []
    for m in matches:
        h = m.handwritten
        indent = "  " if h.depth else ""
        shape = "×".join(map(str, h.value.shape)) or "scalar"
        label = f"{h.label} = " if h.label and h.label != h.text else ""
        if not m.found:
            autodiff, via = "not found", "—"
        else:
            first = nodes[m.nodes[0]]
            also = f" (also {', '.join(m.nodes[1:4])}{'…' if len(m.nodes) > 4 else ''})"
            autodiff = (
                f"{first.name} = {first.primitive}"
                + (" [backward]" if first.backward else " [forward]")
                + (also if len(m.nodes) > 1 else "")
                + ("; ambiguous: a constant value" if m.ambiguous else "")
            )
            via = _chain(m.computed_by, program) if m.computed_by else "—"
        rows.append((f"{indent}{label}{h.text}", shape, autodiff, via))
    mapped_by = {name: m.handwritten for m in matches if m.found for name in m.nodes[:1]}
    back_rows = [
        (
            n.name,
            f"{n.primitive}{f'[{n.detail}]' if n.detail else ''} {' '.join(n.inputs)}",
            role_of(n),
            (f"{mapped_by[n.name].label or mapped_by[n.name].text}" if n.name in mapped_by else ""),
        )
        for n in program.nodes
        if n.backward
    ]
    facts["mapping"] = {
        **counts,
        "point": where,
        "matches": {m.handwritten.text: list(m.nodes[:1]) for m in matches},
        "backward_nodes": sum(n.backward for n in program.nodes),
    }
    return Section(
        f"{number}. The backward pass, node by node, beside the handwritten gradient",
        (
            Text(
                "jax.vjp traces the loss and its reverse pass into one program of primitives. "
                "Flattened (the sub-programs jnp functions call are inlined) and run one node at "
                f"a time at {where}; a node is in the backward pass when it depends on the "
                "seed L̄ = 1:"
            ),
            Pre(program.text()),
            Text(
                "Each handwritten expression (read from the gradient's source, evaluated with its "
                "own variables) is matched to the first node with the same shape and the same "
                "numbers (allclose at the dtype's rounding); no match is reported as not found. "
                "The last column names the backward nodes that compute a statement beyond what "
                "earlier statements already account for:"
            ),
            Table(
                ("handwritten", "shape", "autodiff node", "computed by (backward nodes)"),
                tuple(rows),
                title=f"{counts['statements_mapped']} of {counts['statements']} handwritten "
                f"statements and {counts['expressions_mapped']} of {counts['expressions']} "
                "expressions mapped to autodiff nodes",
            ),
            Table(
                ("node", "primitive and inputs", "what it does", "matches handwritten"),
                tuple(back_rows),
                title="The backward pass, node by node",
            ),
        ),
    )
