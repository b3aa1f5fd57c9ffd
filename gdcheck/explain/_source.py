r"""The handwritten gradient's intermediates, each evaluated at the point: what to match to autodiff.

A handwritten backward pass is a short run of expressions, e.g. the MLP's

.. math::

    \delta_2 = (P - Y)/m, \qquad \delta_1 = \delta_2 W_2^\top \odot [Z_1 > 0], \qquad
    \nabla_{b} = \textstyle\sum_j \delta_j .

This module reads them from the gradient function's source (:mod:`ast`): every assignment's
right-hand side and every returned entry (depth 0), and inside those every operator, call or
comparison that yields an array (depth 1). Each is evaluated with the function's own variables
as they were when that line ran, recorded by a line tracer (:func:`sys.settrace`) on one call of
the gradient, so a name that is later reassigned is still read at its own line.

Only the gradient's own frame is traced; helpers it calls are seen through their results.
A function whose source cannot be read (a lambda typed at a prompt, a C function) yields only
its returned value.
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray

__all__ = ["Handwritten", "handwritten_intermediates"]


@dataclass(frozen=True)
class Handwritten:
    """One handwritten expression: its ``label`` (``"G2"``, ``"grad[b1]"``), its source ``text``,
    its ``value`` at the point, and ``depth`` (0: a statement or returned entry; 1: inside one)."""

    label: str
    text: str
    value: NDArray
    depth: int


_SUB = (ast.BinOp, ast.Call, ast.Compare, ast.UnaryOp)
"""Sub-expressions worth matching: arithmetic, calls, masks, negations (not names or indexing)."""


def _trace(grad: Callable[..., Any], args: tuple) -> tuple[Any, dict[int, dict[str, Any]], dict]:
    """Call ``grad(*args)`` once; return its value, its locals at the first visit of each line
    (by line number), and its globals."""
    code = getattr(grad, "__code__", None)
    lines: dict[int, dict[str, Any]] = {}
    frame_globals: dict[str, Any] = getattr(grad, "__globals__", {})

    def local(frame: Any, event: str, _arg: Any) -> Any:
        if event == "line" and frame.f_lineno not in lines:
            lines[frame.f_lineno] = dict(frame.f_locals)
        elif event == "return":
            lines.setdefault(-1, dict(frame.f_locals))
        return local

    def outer(frame: Any, event: str, _arg: Any) -> Any:
        return local if event == "call" and frame.f_code is code else None

    previous = sys.gettrace()
    sys.settrace(outer)
    try:
        value = grad(*args)
    finally:
        sys.settrace(previous)
    return value, lines, frame_globals


def _function_node(grad: Callable[..., Any]) -> tuple[ast.AST, int] | None:
    """The parsed function (``def`` or ``lambda``) and the source line its first line is."""
    try:
        lines, first = inspect.getsourcelines(grad)
    except (OSError, TypeError):
        return None
    source = textwrap.dedent("".join(lines))
    try:
        tree = ast.parse(source)
    except SyntaxError:  # a lambda inside a larger expression
        return None
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and node.name == grad.__name__:
            return node, first
    return None


def _arrays(value: Any) -> NDArray | None:
    """``value`` as a float array when it is one with at least one entry (scalars count)."""
    if isinstance(value, np.ndarray | np.generic) and np.asarray(value).dtype.kind in "fcb":
        return np.asarray(value, dtype=np.float64) if value.dtype.kind == "b" else np.asarray(value)
    return None


def handwritten_intermediates(
    grad: Callable[..., Any], params: Any, *data: Any
) -> list[Handwritten]:
    """The expressions of ``grad(params, *data)`` with their values (see the module docstring).

    Returned in source order, depth-0 entries before the depth-1 ones inside them; an expression
    whose text repeats one already listed is left out.
    """
    value, lines, frame_globals = _trace(grad, (params, *data))
    found = _function_node(grad)
    out: list[Handwritten] = []
    seen: set[str] = set()

    def add(label: str, node: ast.expr, scope: dict[str, Any], depth: int) -> None:
        text = ast.unparse(node)
        if text in seen:
            return
        try:
            result = eval(compile(ast.Expression(node), "<grad>", "eval"), frame_globals, scope)
        except Exception:  # a sub-expression that needs more than the recorded locals
            return
        array = _arrays(result)
        if array is not None and (depth == 0 or array.size > 1):
            seen.add(text)
            out.append(Handwritten(label, text, array, depth))

    if found is None:
        return _returned(value)
    func, first = found
    body = func.body if isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef) else []
    for stmt in body:
        scope = _scope_at(lines, first - 1 + stmt.lineno)
        tops: list[tuple[str, ast.expr]] = []
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
            tops.append((ast.unparse(stmt.targets[0]), stmt.value))
        elif isinstance(stmt, ast.Return) and stmt.value is not None:
            if isinstance(stmt.value, ast.Dict):
                for key, entry in zip(stmt.value.keys, stmt.value.values, strict=True):
                    name = key.value if isinstance(key, ast.Constant) else "?"
                    tops.append((f"∇{name}", entry))
            else:
                tops.append(("∇", stmt.value))
        for label, node in tops:
            add(label, node, scope, 0)
            for sub in ast.walk(node):
                if sub is not node and isinstance(sub, _SUB):
                    add("", sub, scope, 1)
    return out or _returned(value)


def _scope_at(lines: dict[int, dict[str, Any]], lineno: int) -> dict[str, Any]:
    """The locals as they were when line ``lineno`` was about to run (else at the return)."""
    if lineno in lines:
        return lines[lineno]
    return lines.get(-1, {})


def _returned(value: Any) -> list[Handwritten]:
    """Only the gradient itself, entry by entry: when the source cannot be read."""
    pairs = [(f"∇{k}", v) for k, v in value.items()] if isinstance(value, dict) else [("∇", value)]
    return [
        Handwritten(label, label, array, 0)
        for label, v in pairs
        if (array := _arrays(np.asarray(v))) is not None
    ]
