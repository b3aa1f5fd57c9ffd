"""The reference backend: the model's handwritten gradient and update, run in NumPy as written."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._types import BackendInfo, DTypeName, NDArray, Shadow, Trajectory
from ..errors import InputError
from ._common import first_nonfinite, read_only, report_steps
from ._problem import Problem


class NumpyBackend:
    """Runs ``model.grad`` and ``model.update`` (or the optimizer's textbook rule): the code under test."""

    name = "numpy"
    install_hint = "pip install numpy"

    def is_available(self) -> bool:
        return True

    def info(self, dtype: DTypeName, optimizer: Any = None, model: Any = None) -> BackendInfo:
        handwritten = model is not None and model.update is not None
        rule = getattr(optimizer, "rule", "w − lr·g")
        return BackendInfo(
            name=self.name,
            library="numpy",
            version=np.__version__,
            device="cpu",
            dtype=dtype,
            matmul_precision=f"full {dtype} ({_blas_name()})",
            gradient="handwritten model.grad",
            update="handwritten model.update"
            if handwritten
            else f"gdcheck.optim.{getattr(optimizer, 'name', 'sgd')} ({rule})",
            effective_eps=float(np.finfo(dtype).eps),
        )

    def shadow(self, problem: Problem, weights: NDArray, data: tuple | None = None) -> Shadow:
        """The handwritten gradient at each row (used for the rounding floor without autodiff)."""
        t0 = time.perf_counter()
        data = read_only(problem.data if data is None else data)
        losses = np.empty(len(weights), dtype=problem.dtype)
        grads = np.empty((len(weights), problem.layout.size), dtype=problem.dtype)
        with np.errstate(all="ignore"):
            for k, w in enumerate(weights):
                params = problem.user(w.astype(problem.dtype))
                losses[k] = _scalar(problem.model.loss(params, *data))
                grads[k] = problem.flat(_call(problem.model.grad, "grad", k, params, *data))
        return Shadow(losses, grads, time.perf_counter() - t0)

    def trajectory(self, problem: Problem, steps: int) -> Trajectory:
        """The handwritten training loop: loss and gradient at ``w_k``, then the update.

        Stops at the first non-finite loss or gradient (a diverged run); the rest is NaN.
        """
        t0 = time.perf_counter()
        p, model = problem.layout.size, problem.model
        weights = np.full((steps + 1, p), np.nan, dtype=problem.dtype)
        grads = np.full((steps + 1, p), np.nan, dtype=problem.dtype)
        losses = np.full(steps + 1, np.nan, dtype=problem.dtype)
        update = model.update or problem.optimizer.update
        who = "update" if model.update is not None else f"gdcheck.optim.{problem.optimizer.name}"
        data = read_only(problem.data)
        params, state = problem.user(problem.w0.copy()), None
        with np.errstate(all="ignore"):
            for k in range(steps + 1):
                weights[k] = problem.flat(params)
                losses[k] = _scalar(model.loss(params, *data))
                g = _call(model.grad, "grad", k, params, *data)
                _check_shapes(problem, g, k)
                grads[k] = problem.flat(g)
                report_steps(k + 1)
                if not (np.isfinite(losses[k]) and np.isfinite(grads[k]).all()):
                    break
                if k < steps:
                    out = _call(update, who, k, params, g, state, problem.lr)
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise InputError(
                            f"your update returned {type(out).__name__} at step {k}; it must "
                            "return (params, state): the new params and whatever state it keeps "
                            "(None if none)."
                        )
                    params, state = out
        return Trajectory(
            weights, losses, grads, first_nonfinite(losses, weights), time.perf_counter() - t0
        )

    def update_shadow(self, problem: Problem, weights: NDArray, grads: NDArray) -> NDArray:
        """The optimizer's textbook rule (:mod:`gdcheck.optim`) fed the reference's gradients."""
        out = np.empty((max(0, len(weights) - 1), problem.layout.size), dtype=problem.dtype)
        state = None
        with np.errstate(all="ignore"):
            for k in range(len(out)):
                params, state = problem.optimizer.update(
                    problem.user(weights[k]), problem.user(grads[k]), state, problem.lr
                )
                out[k] = problem.flat(params)
        return out


def _check_shapes(problem: Problem, grads: Any, step: int) -> None:
    """The gradient keeps the params' structure at every step, not only at step 0."""
    layout = problem.layout
    tree = grads if layout.is_dict else {layout.names[0]: grads}
    for name, shape in zip(layout.names, layout.shapes, strict=True):
        got = np.shape(tree[name]) if isinstance(tree, dict) and name in tree else None
        if got != shape:
            raise InputError(
                f"your grad returned {name} of shape {got} at step {step}, but {name} has "
                f"shape {shape}: return the gradient in the params' own shapes (it did at "
                "step 0 — does a branch reshape or flatten it?)."
            )


def _call(fn: Any, what: str, step: int, *args: Any) -> Any:
    try:
        return fn(*args)
    except InputError:
        raise
    except Exception as exc:
        raise InputError(
            f"your {what} raised {type(exc).__name__} at step {step}: {exc}".rstrip(": ")
        ) from exc


def _scalar(value: Any) -> float:
    arr = np.asarray(value.detach().cpu().numpy() if hasattr(value, "detach") else value)
    if arr.size != 1:
        raise InputError(
            f"the loss returned an array of shape {arr.shape}; it must return a scalar "
            "(reduce with xp.sum or xp.mean)."
        )
    return float(arr.reshape(()))


def _blas_name() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown BLAS"
