r"""``gdcheck explain``: a short lesson on what the handwritten gradient and autodiff compute.

On the tutorial's data (``X`` (n+1, m) with the ones row, ``y`` (1, m)) the lesson shows

1. the cost and its derivative, written out:
   :math:`C = \frac{1}{m}\sum_j (\hat y_j - y_j)^2`, :math:`\frac{dC}{dw} = \frac{2}{m} X (\hat y - y)^\top`;
2. what JAX computes: the jaxpr of ``jax.grad(cost)``, each line mapped to a part of that formula
   by following the values through the program (not by position);
3. what PyTorch records: the autograd graph walked from the loss (``grad_fn`` /
   ``next_functions``), with what each node saved and what it passes back;
4. the first step's numbers from every installed backend side by side;
5. the learning-rate analysis: the Hessian :math:`H = \frac{2}{m} X X^\top`, its eigenvalues,
   the bound :math:`\eta < 2/\lambda_{\max}`, and for η = 0.01, 0.5 and 100 a prediction from
   :math:`e_{k+1} = (I - \eta H)\, e_k` that is then checked by running :func:`gdcheck.crosscheck`.

:func:`lesson` returns a :class:`Lesson` (sections of text, preformatted blocks and tables, plus
the numbers as ``facts``); :mod:`gdcheck.terminal` prints it and :mod:`gdcheck.explain_html`
writes it as a page. JAX and PyTorch are optional: a missing one is named with its install hint.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import backends as backend_registry
from .. import data, models
from .._types import NDArray
from ..errors import InputError

__all__ = ["LEARNING_RATES", "MODELS", "Lesson", "Pre", "Section", "Table", "Text", "lesson"]

MODELS: tuple[str, ...] = ("linear_regression",)
"""Models ``gdcheck explain --model`` can teach."""

LEARNING_RATES: tuple[float, ...] = (0.01, 0.5, 100.0)
"""The learning rates the tutorial tries."""

STEPS = 10_000
"""Iterations of each learning-rate run: the tutorial's."""

CONVERGED = 1e-6
"""A run has converged once ``‖w_k − w*‖₂`` is below this (w* the least-squares optimum)."""

SHOWN = 3
"""How many examples of ŷ, y and the residual the first-step table shows."""

CURVE = 200
"""Steps of each learning-rate run kept in ``facts`` for the page's chart."""


@dataclass(frozen=True)
class Text:
    """A paragraph of prose."""

    text: str


@dataclass(frozen=True)
class Pre:
    """Preformatted text shown verbatim: formulas, a jaxpr, a graph."""

    text: str


@dataclass(frozen=True)
class Table:
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    title: str = ""


Block = Text | Pre | Table


@dataclass(frozen=True)
class Section:
    title: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class Lesson:
    """The lesson: titled sections, and the numbers they state as ``facts`` (for tests and pages)."""

    title: str
    sections: tuple[Section, ...]
    facts: dict[str, Any] = field(default_factory=dict)


def lesson(
    model: str = "linear_regression",
    *,
    seed: int = 0,
    progress: Callable[[str, str], None] | None = None,
) -> Lesson:
    """Build the lesson for ``model`` on the tutorial's data (seeded); see the module docstring.

    ``progress`` is handed to :func:`gdcheck.crosscheck` for the learning-rate runs.
    Raises :class:`~gdcheck.errors.InputError` for a model it does not know.
    """
    if model not in MODELS:
        raise InputError(
            f"unknown model {model!r} for explain; choose one of: {', '.join(MODELS)}."
        )
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise InputError(f"seed must be a non-negative integer, got {seed!r}.")
    X, y = data.tutorial(seed=seed)
    reference = models.linear_regression()
    Xb, yb = reference.prepare(X, y)
    found, notes = backend_registry.resolve(None)
    names = {b.name for b in found}
    facts: dict[str, Any] = {"model": model, "seed": seed, "m": Xb.shape[1], "missing": notes}

    w0 = reference.init_params(Xb)
    step0: dict[str, dict[str, NDArray]] = {"numpy": _numpy_step0(reference, w0, Xb, yb)}
    sections = [_cost_section(Xb, notes)]
    for name, build in (("jax", _jax_section), ("torch", _torch_section)):
        if name in names:
            section, numbers, found_facts = build(reference, w0, Xb, yb)
            step0[name] = numbers
            facts[name] = found_facts
        else:
            section = _missing_section(name)
        sections.append(section)
    sections.append(_first_step_section(step0, yb, facts))
    sections.append(_lr_section(reference, X, y, Xb, yb, names, progress, facts))
    title = f"gdcheck explain — {model} on the tutorial's data (m = {Xb.shape[1]}, seed {seed})"
    return Lesson(title, tuple(sections), facts)


# --- 1. the cost and its derivative ------------------------------------------------------------


def _cost_section(Xb: NDArray, notes: list[str]) -> Section:
    p, m = Xb.shape
    blocks: list[Block] = [
        Text(
            f"The tutorial's data: one feature x ~ U(0, 1) and y = 3x + 5 + 0.1·noise, m = {m} "
            f"examples. A row of ones is prepended to X, so X is ({p}, {m}) and w is ({p}, 1): "
            "w[0] is the intercept, w[1] the slope."
        ),
        Pre(
            "ŷ = wᵀX                             (1, m)   the prediction\n"
            "r = ŷ − y                           (1, m)   the residual\n"
            "C(w) = (1/m) Σⱼ rⱼ²                 scalar   the cost (no ½)\n"
            "\n"
            "chain rule, one example j and one weight i:\n"
            "  ∂C/∂rⱼ = (2/m)·rⱼ      ∂rⱼ/∂wᵢ = Xᵢⱼ\n"
            "  ∂C/∂wᵢ = Σⱼ (2/m)·rⱼ·Xᵢⱼ           a sum over the m examples\n"
            "\n"
            "dC/dw = (2/m)·X(ŷ − y)ᵀ              (n+1, 1)  the handwritten gradient\n"
            "w ← w − lr·dC/dw                              the update"
        ),
        Text(
            "The cost is written once (gdcheck.models.LinearRegression.cost, against the array "
            "API), so NumPy, JAX and PyTorch evaluate the very same function; the gradient "
            "(2/m)·X(ŷ − y)ᵀ is the handwritten NumPy code under test. The next two sections show "
            "how each autodiff library arrives at the same formula."
        ),
    ]
    blocks += [Text(f"Note: {n}.") for n in notes]
    return Section("1. The cost and its derivative", tuple(blocks))


def _missing_section(name: str) -> Section:
    backend = backend_registry._REGISTRY[name]
    what = "JAX computes" if name == "jax" else "PyTorch records"
    number = 2 if name == "jax" else 3
    return Section(
        f"{number}. What {what}",
        (
            Text(
                f"{name} is not installed, so this part is skipped. Install it with: {backend.install_hint}"
            ),
        ),
    )


def _numpy_step0(
    model: models.LinearRegression, w: NDArray, X: NDArray, y: NDArray
) -> dict[str, NDArray]:
    y_hat = w.T @ X
    return {
        "y_hat": y_hat.ravel(),
        "residual": (y_hat - y).ravel(),
        "cost": np.asarray(model.cost(w, X, y)),
        "grad": model.gradient(w, X, y).ravel(),
    }


# --- 2. JAX: the jaxpr of jax.grad(cost), mapped to the formula ---------------------------------


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


def _jax_section(
    model: models.LinearRegression, w0: NDArray, X: NDArray, y: NDArray
) -> tuple[Section, dict[str, NDArray], dict[str, Any]]:
    import jax
    import jax.numpy as jnp

    m = X.shape[1]
    with jax.enable_x64(str(X.dtype) == "float64"):
        wj, Xj, yj = jnp.asarray(w0), jnp.asarray(X), jnp.asarray(y)
        closed = jax.make_jaxpr(jax.grad(model.cost))(wj, Xj, yj)
        cost, grad = jax.value_and_grad(model.cost)(wj, Xj, yj)
        y_hat = model.predict(wj, Xj)
        numbers = {
            "y_hat": np.asarray(y_hat).ravel(),
            "residual": np.asarray(y_hat - yj).ravel(),
            "cost": np.asarray(cost),
            "grad": np.asarray(grad).ravel(),
        }
    jaxpr = closed.jaxpr
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
                f"dot_general is a matrix product named by the axes it contracts: {contraction[0] if contraction else '—'} "
                "is wᵀX (w's axis 1 with X's axis 0) in the forward pass; "
                f"{contraction[-1] if contraction else '—'} contracts the example axis of both "
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


# --- 3. PyTorch: the autograd graph --------------------------------------------------------------

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


def _torch_section(
    model: models.LinearRegression, w0: NDArray, X: NDArray, y: NDArray
) -> tuple[Section, dict[str, NDArray], dict[str, Any]]:
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    w = torch.tensor(w0, requires_grad=True)
    y_hat = model.predict(w, Xt)
    loss = model.cost(w, Xt, yt)

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


# --- 4. the first step's numbers -----------------------------------------------------------------


def _ulps(a: float, b: float) -> str:
    if a == b:
        return "0"
    spacing = np.spacing(max(abs(a), abs(b)))
    return f"{abs(a - b) / spacing:.2g}"


def _first_step_section(
    step0: dict[str, dict[str, NDArray]], y: NDArray, facts: dict[str, Any]
) -> Section:
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


# --- 5. the learning rate --------------------------------------------------------------------


def _predict(lr: float, lam: NDArray, coeff: NDArray, c_star: float, m: int) -> dict[str, Any]:
    r"""What :math:`e_{k+1} = (I - \eta H) e_k` predicts for ``lr`` (e along H's eigenvectors).

    The error along eigenvector i is multiplied by :math:`1 - \eta\lambda_i` every step, so
    :math:`\|e_k\|_2^2 = \sum_i c_i^2 (1-\eta\lambda_i)^{2k}` exactly (up to rounding), and the
    cost is :math:`C_k = C^* + \tfrac12 \sum_i \lambda_i c_i^2 (1-\eta\lambda_i)^{2k}`.
    """
    factors = np.abs(1.0 - lr * lam)
    rho = float(factors.max())
    live = coeff != 0
    if rho < 1:
        # smallest k with sum_i c_i^2 f_i^(2k) < tol^2: step k by k is cheap up to STEPS, then solve
        k = 0
        while (
            k <= STEPS and np.sqrt(np.sum(coeff[live] ** 2 * factors[live] ** (2 * k))) >= CONVERGED
        ):
            k += 1
        if k > STEPS:
            slow = int(np.argmax(np.where(live, factors, 0)))
            k = math.ceil(math.log(CONVERGED / abs(coeff[slow])) / math.log(factors[slow]))
        return {"factors": factors.tolist(), "rho": rho, "converges": True, "step": k}
    # overflow: the first k where m·C_k (the sum Σr² before dividing by m) passes float64's max
    big = float(np.finfo(np.float64).max)
    i = int(np.argmax(np.where(live, factors, 0)))
    log_term = math.log(0.5 * lam[i] * coeff[i] ** 2 * m)
    k = max(0, math.ceil((math.log(big) - log_term) / (2 * math.log(factors[i]))))
    while k > 0 and log_term + 2 * (k - 1) * math.log(factors[i]) > math.log(big - m * c_star):
        k -= 1
    return {"factors": factors.tolist(), "rho": rho, "converges": False, "step": k}


def _observed(result: Any, w_star: NDArray) -> dict[str, Any]:
    ref = result.reference
    if ref.diverged_at is not None:
        return {"diverged_at": int(ref.diverged_at), "step": int(ref.diverged_at)}
    dist = np.sqrt(((ref.weights - w_star.ravel()) ** 2).sum(axis=1))
    below = np.flatnonzero(dist < CONVERGED)
    return {
        "diverged_at": None,
        "step": int(below[0]) if below.size else None,
        "final_cost": float(ref.losses[-1]),
        "final_distance": float(dist[-1]),
    }


def _lr_section(
    model: models.LinearRegression,
    X: NDArray,
    y: NDArray,
    Xb: NDArray,
    yb: NDArray,
    installed: set[str],
    progress: Callable[[str, str], None] | None,
    facts: dict[str, Any],
) -> Section:
    from ..trajectory._engine import crosscheck

    m = Xb.shape[1]
    H = model.hessian(Xb)
    lam, vecs = np.linalg.eigh(H)
    bound = 2.0 / lam.max()
    w_star = model.optimum(Xb, yb)
    c_star = float(model.cost(w_star, Xb, yb))
    coeff = vecs.T @ (model.init_params(Xb) - w_star).ravel()
    facts.update(
        hessian=H.tolist(),
        eigenvalues=lam.tolist(),
        lr_bound=float(bound),
        optimum=w_star.ravel().tolist(),
        least_squares_cost=c_star,
    )

    runs: dict[float, Any] = {}
    rows: list[tuple[str, ...]] = []
    facts["runs"] = {}
    for lr in LEARNING_RATES:
        predicted = _predict(lr, lam, coeff, c_star, m)
        result = crosscheck(model, X, y, lr=lr, steps=STEPS, backends=("numpy",), progress=progress)
        observed = _observed(result, w_star)
        runs[lr] = result
        losses = result.reference.losses[: CURVE + 1]
        facts["runs"][lr] = {
            "predicted": predicted,
            "observed": observed,
            "curve": [float(v) if np.isfinite(v) else None for v in losses],
        }
        factors = ", ".join(f"{f:.4g}" for f in predicted["factors"])
        if predicted["converges"]:
            said = f"converges: ‖w − w*‖₂ < {CONVERGED:g} at step {predicted['step']:,}"
            saw = (
                f"converged at step {observed['step']:,}"
                if observed["step"] is not None
                else f"not yet within {CONVERGED:g} after {STEPS:,} steps (‖w − w*‖₂ = {observed['final_distance']:.3g})"
            )
        else:
            said = f"diverges: ×{predicted['rho']:.4g} per step, cost overflows at step {predicted['step']}"
            saw = f"diverged: cost inf/NaN at step {observed['diverged_at']}"
        rows.append((f"{lr:g}", factors, said, saw))

    checkpoints = range(0, STEPS + 1, 2000)
    cost_rows = []
    for k in checkpoints:
        cells = []
        for lr in LEARNING_RATES:
            ref = runs[lr].reference
            cells.append(
                f"diverged at {ref.diverged_at}"
                if ref.diverged_at is not None and k >= ref.diverged_at
                else f"{ref.losses[k]:.10g}"
            )
        cost_rows.append((f"{k:,}", *cells))

    blocks: list[Block] = [
        Text(
            "The cost is quadratic in w, so its Hessian is constant: H = (2/m)·XXᵀ. With the error "
            "e = w − w* (w* the least-squares optimum) one step is exactly e ← (I − lr·H)·e: along "
            "each eigenvector of H the error is multiplied by (1 − lr·λ) every step. Gradient "
            "descent converges only if every |1 − lr·λ| < 1, that is lr < 2/λmax."
        ),
        Pre(
            "H = (2/m)·XXᵀ =\n"
            + "\n".join("  [" + "  ".join(f"{v:12.8f}" for v in row) + " ]" for row in H)
            + "\n\neigenvalues (numpy.linalg.eigh): "
            + ", ".join(f"λ{i + 1} = {v:.6g}" for i, v in enumerate(lam))
            + f"\nstable for lr < 2/λmax = 2/{lam.max():.6g} = {bound:.4g}"
            + f"\nleast-squares optimum w* = [{', '.join(f'{v:.10g}' for v in w_star.ravel())}]"
        ),
        Text(
            f"Prediction from the eigenvalues, then the run that checks it (gdcheck.crosscheck of "
            f"the handwritten NumPy reference, {STEPS:,} steps, from w₀ = 0):"
        ),
        Table(("lr", "|1 − lr·λ| per eigenvector", "predicted", "observed"), tuple(rows)),
        Table(
            ("iteration", *(f"cost, lr = {lr:g}" for lr in LEARNING_RATES)),
            tuple(cost_rows),
            title="The tutorial's printout (cost every 2,000 iterations)",
        ),
    ]
    small, middle, large = LEARNING_RATES
    slow = facts["runs"][small]["predicted"]
    fast = facts["runs"][middle]["predicted"]
    wild = facts["runs"][large]["predicted"]
    blocks.append(
        Text(
            f"lr = {small:g} is safe but slow: along the flat direction (λ = {lam.min():.4g}) the "
            f"error shrinks only by the factor {max(slow['factors']):.6f} per step, which sets the "
            f"pace ({slow['step']:,} steps to {CONVERGED:g}). lr = {middle:g} is below the bound "
            f"{bound:.3g}, so it works, and faster: its slowest factor is {fast['rho']:.4f}. "
            f"lr = {large:g} is far above it: the error along the steep direction "
            f"(λ = {lam.max():.4g}) is multiplied by {wild['rho']:.4g} every step, so the cost "
            f"grows about {wild['rho'] ** 2:,.0f}× per step until it overflows."
        )
    )
    diverged = _autodiff_divergence(model, X, y, large, facts["runs"][large], installed, progress)
    if diverged:
        blocks.append(Text(diverged))
    return Section("5. The learning rate: why 0.5 works and 100 diverges", tuple(blocks))


def _autodiff_divergence(
    model: models.LinearRegression,
    X: NDArray,
    y: NDArray,
    lr: float,
    run: dict[str, Any],
    installed: set[str],
    progress: Callable[[str, str], None] | None,
) -> str:
    """Run the autodiff backends' own gradient descent at ``lr`` past the divergence step."""
    from ..trajectory._engine import crosscheck

    others = sorted(installed - {"numpy"})
    step = run["observed"]["diverged_at"]
    if not others or step is None:
        return ""
    result = crosscheck(
        model, X, y, lr=lr, steps=min(STEPS, step + 10), backends=others, progress=progress
    )
    run["autodiff"] = {n: r.trajectory.diverged_at for n, r in result.runs.items() if n != "numpy"}
    said = "; ".join(
        f"{n} ({result.runs[n].info.update}) diverged at step {k}"
        for n, k in run["autodiff"].items()
    )
    return f"The autodiff backends, each running its own gradient descent at lr = {lr:g}: {said}."
