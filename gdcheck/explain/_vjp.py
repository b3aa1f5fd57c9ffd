r"""The backward pass as JAX computes it: the jaxpr of the VJP, flattened and evaluated node by node.

For a loss :math:`L(p)` the vector-Jacobian product is :math:`\bar p = \bar L\, \partial L/\partial p`;
with the seed :math:`\bar L = 1` it is the gradient. This module traces

.. code-block:: python

    lambda ct, p, *data: jax.vjp(lambda q: loss(q, *data), p)[1](ct)[0]

into a jaxpr, inlines the sub-programs that ``jnp`` functions are wrapped in (``pjit`` and
friends), and runs it one primitive at a time (``primitive.bind``, as a jaxpr interpreter does),
keeping every value. A node whose inputs depend on the seed is part of the **backward**
pass; the rest is the forward pass (and the residuals it saves). The seed is an input rather
than the literal 1.0 precisely so that this split falls out of the data flow.

JAX is imported only when :func:`vjp_program` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray

__all__ = ["Node", "Program", "vjp_program"]

_CONTROL = {"cond", "while", "scan"}
"""Primitives whose sub-programs are run whole, not inlined."""


@dataclass(frozen=True)
class Node:
    """One primitive application: ``name = primitive[detail] inputs``, its value, its pass."""

    name: str
    primitive: str
    detail: str
    inputs: tuple[str, ...]
    value: NDArray
    backward: bool

    def line(self) -> str:
        """The node as a line of the program, with its shape."""
        detail = f"[{self.detail}]" if self.detail else ""
        shape = "×".join(str(d) for d in self.value.shape) or "scalar"
        return f"{self.name} = {self.primitive}{detail} {' '.join(self.inputs)}   ({shape})"


@dataclass(frozen=True)
class Program:
    """The flattened VJP: its named ``inputs`` (``seed`` first), its ``nodes``, its ``outputs``."""

    inputs: tuple[str, ...]
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]

    def text(self) -> str:
        """The program as text, the forward and the backward pass under their own heads."""
        fwd = [n.line() for n in self.nodes if not n.backward]
        bwd = [n.line() for n in self.nodes if n.backward]
        return (
            f"inputs: {', '.join(self.inputs)}\n\nforward pass ({len(fwd)} nodes):\n  "
            + "\n  ".join(fwd)
            + f"\n\nbackward pass, from the seed = 1 ({len(bwd)} nodes):\n  "
            + "\n  ".join(bwd)
            + f"\n\ngradient: {', '.join(self.outputs)}"
        )


def _name(i: int) -> str:
    """JAX's names for a jaxpr's variables: a, b, …, z, ba, bb, …"""
    s = ""
    while True:
        s = chr(ord("a") + i % 26) + s
        i //= 26
        if i == 0:
            return s


def _detail(prim: str, params: dict[str, Any]) -> str:
    """The parameters that say what a primitive does here (axes, shapes, exponents)."""
    if prim == "dot_general":
        (lhs, rhs), _ = params["dimension_numbers"]
        return f"contract {tuple(lhs)}·{tuple(rhs)}"
    if prim in ("reduce_sum", "reduce_max", "argmax"):
        return f"axes={tuple(params.get('axes', ()))}"
    if prim == "broadcast_in_dim":
        return f"shape={tuple(params['shape'])}"
    if prim == "integer_pow":
        return f"y={params['y']}"
    if prim == "transpose":
        return f"perm={tuple(params['permutation'])}"
    return ""


def _inner(eqn: Any) -> Any:
    """The closed sub-program an equation merely calls (``pjit``, ``custom_jvp_call``, …), or None."""
    from jax.extend import core

    if eqn.primitive.name in _CONTROL:
        return None
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        sub = eqn.params.get(key)
        if isinstance(sub, core.ClosedJaxpr):
            return sub
        if isinstance(sub, core.Jaxpr):
            return core.ClosedJaxpr(sub, ())
    return None


class _Runner:
    """Runs a jaxpr primitive by primitive, inlining calls, recording each value and its node.

    Run under ``jax.jit``, so the whole program compiles once: ``meta`` holds each node's
    name, primitive, detail, inputs and pass, ``values`` the matching (traced) values.
    """

    def __init__(self, reserved: set[str]) -> None:
        self.meta: list[tuple[str, str, str, tuple[str, ...], bool]] = []
        self.values: list[Any] = []
        self.count = 0
        self.reserved = reserved

    def fresh(self) -> str:
        """The next unused name (skipping the inputs' names)."""
        while (name := _name(self.count)) in self.reserved:
            self.count += 1
        self.count += 1
        return name

    def run(self, jaxpr: Any, consts: list[Any], args: list[tuple[Any, str, bool]]) -> list:
        env: dict[Any, tuple[Any, str, bool]] = {}
        for v, c in zip(jaxpr.constvars, consts, strict=True):
            env[v] = (c, self.fresh(), False)
        for v, a in zip(jaxpr.invars, args, strict=True):
            env[v] = a

        def read(v: Any) -> tuple[Any, str, bool]:
            if hasattr(v, "val"):  # a literal
                val = np.asarray(v.val)
                return v.val, f"{val.item():g}" if val.size == 1 else "literal", False
            return env[v]

        for eqn in jaxpr.eqns:
            ins = [read(v) for v in eqn.invars]
            sub = _inner(eqn)
            if sub is not None:
                outs = self.run(sub.jaxpr, list(sub.consts), ins)
            else:
                vals = eqn.primitive.bind(*(a[0] for a in ins), **eqn.params)
                vals = vals if eqn.primitive.multiple_results else [vals]
                back = any(a[2] for a in ins)
                outs = []
                for val in vals:
                    name = self.fresh()
                    prim = eqn.primitive.name
                    self.meta.append(
                        (name, prim, _detail(prim, eqn.params), tuple(a[1] for a in ins), back)
                    )
                    self.values.append(val)
                    outs.append((val, name, back))
            for v, out in zip(eqn.outvars, outs, strict=True):
                env[v] = out
        return [read(v) for v in jaxpr.outvars]


def vjp_program(loss: Any, params: Any, *data: Any) -> Program:
    """Trace and run the VJP of ``loss`` at ``params`` (see the module docstring).

    Inputs are named ``seed`` (the cotangent of the loss), the parameters by their keys (``w``
    for a bare array), and the data ``X``, ``y`` (``X``, ``Y``, ``D3``, … beyond two). Float64 data run in float64.
    """
    import jax
    import jax.numpy as jnp

    wide = any(np.asarray(d).dtype == np.float64 for d in data)
    with jax.enable_x64(wide):
        p = jax.tree_util.tree_map(jnp.asarray, params)
        arrays = tuple(jnp.asarray(d) for d in data)

        def pulled(ct: Any, q: Any, *d: Any) -> Any:
            _, back = jax.vjp(lambda r: loss(r, *d), q)
            return back(ct)[0]

        seed = jnp.ones((), dtype=jnp.result_type(*jax.tree_util.tree_leaves(p)))
        closed = jax.make_jaxpr(pulled)(seed, p, *arrays)
        leaves, _ = jax.tree_util.tree_flatten_with_path(p)
        keys = [jax.tree_util.keystr(k).strip("[]'\"") or "w" for k, _ in leaves]
        last = np.asarray(data[-1])
        data_names = ["X", "Y" if last.ndim == 2 and last.shape[0] > 1 else "y"][: len(data)]
        data_names += [f"D{i + 1}" for i in range(len(data_names), len(data))]
        names = ["seed", *keys, *data_names]
        values = [seed, *(v for _, v in leaves), *arrays]
        runner = _Runner(set(names))
        out_names: list[str] = []

        def everything(*vals: Any) -> list[Any]:
            args = [(v, n, n == "seed") for v, n in zip(vals, names, strict=True)]
            out_names[:] = [o[1] for o in runner.run(closed.jaxpr, list(closed.consts), args)]
            return runner.values

        computed = jax.jit(everything)(*values)
    nodes = []
    for (name, prim, detail, inputs, back), val in zip(runner.meta, computed, strict=True):
        arr = np.asarray(val)
        nodes.append(
            Node(
                name,
                prim,
                detail,
                inputs,
                arr.astype(np.float64) if arr.dtype.kind == "b" else arr,
                back,
            )
        )
    return Program(tuple(names), tuple(nodes), tuple(out_names))
