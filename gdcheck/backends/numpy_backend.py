"""The reference backend: the model's handwritten gradient and update, run in NumPy as written."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._types import BackendInfo, DTypeName, NDArray, Shadow, Trajectory
from ..errors import InputError
from ._common import diverged_step, read_only, report_steps
from ._memory import recorded_steps
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

    def trajectory(self, problem: Problem, steps: int, record_every: int = 1) -> Trajectory:
        """The handwritten training loop: loss and gradient at ``w_k``, then the update.

        Rows at the steps :func:`~gdcheck.backends._memory.recorded_steps` names (every step
        by default). With ``record_every`` > 1 each recorded ``t`` also keeps ``w_{t+1}``
        (``after``) and the claimed optimizer's textbook state fed the handwritten gradients
        ``g_0 … g_{t-1}`` (``state``): what the shadow update check needs at ``t``. The loss
        and gradient are evaluated at every step; the loop stops at the first non-finite one
        (a diverged run: ``diverged_at`` is that step), and the rows after it are NaN.
        """
        t0 = time.perf_counter()
        p, model = problem.layout.size, problem.model
        at = recorded_steps(steps, record_every)
        row_of = {int(t): j for j, t in enumerate(at)}
        sparse = len(at) < steps + 1
        weights = np.full((len(at), p), np.nan, dtype=problem.dtype)
        grads = np.full((len(at), p), np.nan, dtype=problem.dtype)
        losses = np.full(len(at), np.nan, dtype=problem.dtype)
        after = np.full((len(at) - 1, p), np.nan, dtype=problem.dtype) if sparse else None
        book = _StateRows(problem, len(at)) if sparse else None
        update = model.update or problem.optimizer.update
        who = "update" if model.update is not None else f"gdcheck.optim.{problem.optimizer.name}"
        data = read_only(problem.data)
        params, state, broke = problem.user(problem.w0.copy()), None, None
        with np.errstate(all="ignore"):
            for k in range(steps + 1):
                j = row_of.get(k)
                if after is not None and k - 1 in row_of:
                    after[row_of[k - 1]] = problem.flat(params)
                loss = np.asarray(_scalar(model.loss(params, *data)), dtype=problem.dtype)
                if j is not None:
                    weights[j] = problem.flat(params)
                    losses[j] = loss
                g = _call(model.grad, "grad", k, params, *data)
                _check_shapes(problem, g, k)
                flat_g = problem.flat(g)
                if j is not None:
                    grads[j] = flat_g
                    if book is not None:
                        book.keep(j, state if model.update is None else None)
                report_steps(k + 1)
                if not (np.isfinite(loss) and np.isfinite(flat_g).all()):
                    broke = k
                    break
                if k < steps:
                    if book is not None and model.update is not None:
                        book.feed(params, g)
                    out = _call(update, who, k, params, g, state, problem.lr)
                    if not (isinstance(out, tuple) and len(out) == 2):
                        raise InputError(
                            f"your update returned {type(out).__name__} at step {k}; it must "
                            "return (params, state): the new params and whatever state it keeps "
                            "(None if none)."
                        )
                    params, state = out
        return Trajectory(
            weights,
            losses,
            grads,
            diverged_step(losses, weights, at, broke, sparse),
            time.perf_counter() - t0,
            steps_at=at if sparse else None,
            after=after,
            state=None if book is None else book.rows,
        )

    def update_shadow(
        self, problem: Problem, weights: NDArray, grads: NDArray, state: dict | None = None
    ) -> NDArray:
        """The optimizer's textbook rule (:mod:`gdcheck.optim`) fed the reference's gradients:
        along consecutive rows, or with ``state`` one step from each row (len(weights) rows)."""
        n = len(weights) if state is not None else max(0, len(weights) - 1)
        out = np.empty((n, problem.layout.size), dtype=problem.dtype)
        carried = None
        with np.errstate(all="ignore"):
            for k in range(len(out)):
                before = carried if state is None else _StateRows.at(problem, state, k)
                params, carried = problem.optimizer.update(
                    problem.user(weights[k]), problem.user(grads[k]), before, problem.lr
                )
                out[k] = problem.flat(params)
        return out


class _StateRows:
    """The claimed optimizer's textbook state at each recorded step, as flat rows.

    Fed the handwritten gradients at every step (:meth:`feed`) when the update is handwritten;
    otherwise the reference's own state is that state and is read as it is (:meth:`keep`).
    """

    def __init__(self, problem: Problem, rows: int) -> None:
        self.problem, self.book = problem, None
        opt, p = problem.optimizer, problem.layout.size
        self.rows = {"step": np.zeros(rows, np.int64)}
        self.rows.update({s: np.zeros((rows, p), problem.dtype) for s in opt.slots})

    def feed(self, params: Any, grads: Any) -> None:
        if self.problem.optimizer.slots:
            self.book = self.problem.optimizer.update(params, grads, self.book, self.problem.lr)[1]

    def keep(self, j: int, own: Any = None) -> None:
        state = own if own is not None else self.book
        if state is None:
            return
        self.rows["step"][j] = int(state["step"])
        for slot in self.problem.optimizer.slots:
            self.rows[slot][j] = self.problem.flat(state[slot])

    @staticmethod
    def at(problem: Problem, rows: dict, k: int) -> Any:
        """Row ``k`` as a :mod:`gdcheck.optim` state (None at step 0)."""
        step = int(rows["step"][k])
        if step == 0:
            return None
        return {"step": step, **{s: problem.user(rows[s][k]) for s in problem.optimizer.slots}}


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
