r"""Section 2 of the lesson: the jaxpr of ``jax.grad(cost)``, each line named in the formula's terms.

``jax.make_jaxpr(jax.grad(cost))(w, X, y)`` is a program of primitives. Each value it computes
is labelled by following the values through the program (not by position): an input is ``w``,
``X`` or ``y``; a literal equal to ``m`` is :math:`m`; and each primitive combines its inputs'
labels, e.g. ``dot_general`` contracting axis 1 of ``a`` with axis 0 of ``b`` is ``a·b``. A
label the formula has a name for is renamed (``wᵀX`` is ``ŷ``, ``ŷ − y`` is ``r``,
``(1/m)·Σr²`` is ``C``). The program computes the handwritten gradient exactly when its last
value is :math:`\frac{2}{m} X r^\top`.

JAX is imported only when :func:`jax_section` runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..models import Model
from ._blocks import Pre, Section, Table, Text

__all__ = ["jax_section"]


@dataclass(frozen=True)
class _Expr:
    """``coef · m^power · f₁f₂…``: a product of named matrix factors, to label jaxpr values."""

    coef: float = 1.0
    power: int = 0
    factors: tuple[str, ...] = ()

    def text(self) -> str:
        c = "" if self.coef == 1 else ("−" if self.coef == -1 else f"{self.coef:g}")
        if self.power < 0:
            scale = f"{c or 1}/m" if self.power == -1 else f"{c or 1}/m^{-self.power}"
            c = f"({scale})" if self.factors else scale
        elif self.power > 0:
            c = f"{c}m" if self.power == 1 else f"{c}m^{self.power}"
        body = "".join(self.factors)
        return f"{c}·{body}" if c and body and c != "−" else (c + body or "1")


# Values JAX computes that the formula has a name for.
_NAMES = {"wᵀX": "ŷ", "ŷ − y": "r", "(1/m)·Σr²": "C"}
_ROLE = {
    "wᵀ": "w transposed, to form the prediction",
    "ŷ": "the prediction ŷ = wᵀX (forward pass)",
    "r": "the residual r = ŷ − y",
    "r²": "each residual squared",
    "2·r": "d(r²)/dr = 2r: JAX linearises r² here and keeps it for the backward pass",
    "Σr²": "the sum over the m examples",
    "C": "the cost C = Σr²/m (grad does not return it: _)",
    "1/m": "the backward pass starts: dC/d(Σr²) = 1/m",
    "(2/m)·r": "dC/dŷ = (2/m)(ŷ − y): the seed 1/m times 2r",
    "(2/m)·rXᵀ": "dot_general contracts the m examples: (dC/dŷ)·Xᵀ, the Σⱼ of the chain rule",
    "(2/m)·Xrᵀ": "transposed to w's shape (n+1, 1): dC/dw = (2/m)·X(ŷ − y)ᵀ",
}
_GRADIENT = _Expr(2.0, -1, ("X", "rᵀ"))


def _t(factor: str) -> str:
    return factor[:-1] if factor.endswith("ᵀ") else factor + "ᵀ"


def _named(e: _Expr) -> _Expr:
    name = _NAMES.get(e.text())
    return _Expr(factors=(name,)) if name else e


def _atom(text: str) -> _Expr:
    return _named(_Expr(factors=(text,)))


def _label(prim: str, params: dict[str, Any], ins: list[_Expr | None]) -> _Expr | None:
    """What one jaxpr equation computes, in the formula's terms; None where it has no name."""
    if any(e is None for e in ins):
        return None
    a = ins[0]
    assert a is not None
    b = ins[1] if len(ins) > 1 else None
    if prim in ("broadcast_in_dim", "convert_element_type", "copy", "reshape"):
        return a
    if prim == "transpose":
        return _named(_Expr(a.coef, a.power, tuple(_t(f) for f in reversed(a.factors))))
    if prim == "neg":
        return _Expr(-a.coef, a.power, a.factors)
    if prim == "dot_general" and b is not None:
        (lhs, rhs), batch = params["dimension_numbers"]
        if tuple(lhs) != (1,) or tuple(rhs) not in ((0,), (1,)) or any(batch):
            return None
        # contracting rhs axis 0 is A·B; contracting its axis 1 is A·Bᵀ
        right = b.factors if tuple(rhs) == (0,) else tuple(_t(f) for f in reversed(b.factors))
        return _named(_Expr(a.coef * b.coef, a.power + b.power, a.factors + right))
    if prim in ("mul", "div") and b is not None:
        if prim == "div" and (b.factors or b.coef == 0):
            return None
        if a.factors and b.factors:
            return None
        coef = a.coef * b.coef if prim == "mul" else a.coef / b.coef
        power = a.power + b.power if prim == "mul" else a.power - b.power
        return _named(_Expr(coef, power, a.factors + b.factors))
    if prim == "sub" and b is not None:
        return _atom(f"{a.text()} − {b.text()}")
    if prim == "add" and b is not None:
        return _atom(f"{a.text()} + {b.text()}")
    if (prim == "integer_pow" and params.get("y") == 2) or prim == "square":
        return _atom(f"{a.text()}²")
    if prim == "reduce_sum":
        return _atom(f"Σ{a.text()}")
    return None


def _var_name(i: int) -> str:
    """JAX's names for a jaxpr's variables: a, b, …, z, ba, bb, …"""
    s = ""
    while True:
        s = chr(ord("a") + i % 26) + s
        i //= 26
        if i == 0:
            return s


def _mapped(jaxpr: Any, m: int) -> tuple[list[tuple[str, ...]], list[str], _Expr | None]:
    """The table rows (var, primitive and inputs, label, role), the primitives, the last label."""
    env: dict[Any, tuple[str, _Expr | None]] = {}
    for i, (v, meaning) in enumerate(zip(jaxpr.invars, ("w", "X", "y"), strict=False)):
        env[v] = (_var_name(i), _Expr(factors=(meaning,)))
    counter = len(jaxpr.invars)
    # jax prints a value nothing reads as "_" and gives it no name; so does this table
    used = {v for v in jaxpr.outvars if not hasattr(v, "val")}
    for eqn in jaxpr.eqns:
        used.update(v for v in eqn.invars if not hasattr(v, "val"))
    rows: list[tuple[str, ...]] = []
    primitives: list[str] = []
    last: _Expr | None = None
    for eqn in jaxpr.eqns:
        ins: list[_Expr | None] = []
        shown: list[str] = []
        for v in eqn.invars:
            if hasattr(v, "val"):  # a literal
                value = float(np.asarray(v.val))
                ins.append(_Expr(power=1) if value == m else _Expr(coef=value))
                shown.append(f"{value:g}")
            else:
                name, expr = env.get(v, ("?", None))
                ins.append(expr)
                shown.append(name)
        prim = eqn.primitive.name
        primitives.append(prim)
        expr = _label(prim, eqn.params, ins)
        for out in eqn.outvars:
            dropped = type(out).__name__ == "DropVar" or out not in used
            name = "_" if dropped else _var_name(counter)
            counter += 0 if dropped else 1
            env[out] = (name, expr)
        label = "(not mapped)" if expr is None else expr.text()
        role = _ROLE.get(label, "")
        if prim == "broadcast_in_dim" and label == "1/m":
            role = "the same 1/m for each of the m examples"
        rows.append((name, f"{prim} {' '.join(shown)}", label, role))
        last = expr
    return rows, primitives, last


def jax_section(
    model: Model, w0: NDArray, X: NDArray, y: NDArray
) -> tuple[Section, dict[str, NDArray], dict[str, Any]]:
    """Section 2 for ``model.loss`` at ``w0`` on the prepared data ``X`` (n+1, m), ``y`` (1, m).

    Returns the section, JAX's first-step numbers (``y_hat``, ``residual``, ``cost``, ``grad``)
    and the facts: the ``primitives``, their ``labels``, ``matches_formula`` and ``grad``.
    """
    import jax
    import jax.numpy as jnp

    m = X.shape[1]
    with jax.enable_x64(str(X.dtype) == "float64"):
        wj, Xj, yj = jnp.asarray(w0), jnp.asarray(X), jnp.asarray(y)
        closed = jax.make_jaxpr(jax.grad(model.loss))(wj, Xj, yj)
        cost, grad = jax.value_and_grad(model.loss)(wj, Xj, yj)
        y_hat = wj.T @ Xj
        numbers = {
            "y_hat": np.asarray(y_hat).ravel(),
            "residual": np.asarray(y_hat - yj).ravel(),
            "cost": np.asarray(cost),
            "grad": np.asarray(grad).ravel(),
        }
    jaxpr = closed.jaxpr
    rows, primitives, last = _mapped(jaxpr, m)
    matches = last == _GRADIENT
    verdict = (
        "The last line is (2/m)·Xrᵀ = (2/m)·X(ŷ − y)ᵀ: JAX's program computes exactly the "
        "handwritten formula, one primitive at a time."
        if matches
        else f"The last line is {'not mapped' if last is None else last.text()}, not "
        "(2/m)·Xrᵀ: this program does not compute the handwritten (2/m)·X(ŷ − y)ᵀ."
    )
    contraction = [
        eqn.params["dimension_numbers"][0]
        for eqn in jaxpr.eqns
        if eqn.primitive.name == "dot_general"
    ]
    first, final = (contraction[0], contraction[-1]) if contraction else ("—", "—")
    section = Section(
        "2. What JAX computes: the jaxpr of jax.grad(cost)",
        (
            Text(
                "jax.make_jaxpr(jax.grad(cost))(w, X, y) traces the cost and its reverse-mode "
                "derivative into one program of primitives (a jaxpr). Its inputs a, b, c are w, X "
                "and y, at w₀ = 0, in float64:"
            ),
            Pre(str(closed)),
            Text(
                "Following each value through the program names it in the formula's terms "
                "(the table is derived from the jaxpr, not typed in):"
            ),
            Table(
                ("var", "primitive and inputs", "computes", "part of (2/m)·X(ŷ − y)ᵀ"), tuple(rows)
            ),
            Text(
                f"dot_general is a matrix product named by the axes it contracts: {first} "
                "is wᵀX (w's axis 1 with X's axis 0) in the forward pass; "
                f"{final} contracts the example axis of both "
                "operands — that is the sum over the m examples in X(ŷ − y)ᵀ. " + verdict
            ),
        ),
    )
    facts = {
        "primitives": primitives,
        "labels": [r[2] for r in rows],
        "matches_formula": matches,
        "grad": numbers["grad"].tolist(),
    }
    return section, numbers, facts
