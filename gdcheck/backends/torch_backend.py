"""PyTorch: autograd of the model's loss; the trajectory updates through ``torch.optim``.

The trajectory is the textbook loop (``zero_grad``, ``backward``, ``step``) on one leaf tensor
per parameter, with the ``torch.optim`` twin of the optimizer the handwritten update claims
(:mod:`gdcheck.optim`). The update shadow check sets the leaves to the reference's ``w_k`` and
their ``.grad`` to its ``g_k`` before each ``step()``.
The shadow check evaluates the reference's weights in batches with
``torch.func.vmap(torch.func.grad_and_value(loss))``: the same autograd formulas, batched
(row by row when the loss uses an operation vmap cannot batch), with a product against a
one-row or one-column matrix written as a vector product so that a batch reads shared data
once (:mod:`._torch_vmap`).
"""

from __future__ import annotations

import time
import warnings
from typing import Any

import numpy as np

from .._types import BackendInfo, DTypeName, NDArray, Shadow, Trajectory
from ._common import diverged_step, installed, report_steps, shadow_chunk
from ._device import torch_describe, torch_device
from ._memory import recorded_steps, release_freed_memory
from ._problem import Problem, unflatten_with


class TorchBackend:
    name = "torch"
    install_hint = "pip install 'gdcheck[torch]'  (torch==2.13.0, the CPU build)"

    def is_available(self) -> bool:
        return installed("torch")

    def info(self, dtype: DTypeName, optimizer: Any = None, model: Any = None) -> BackendInfo:
        import torch

        device, precision, eps, notes = torch_describe(dtype)
        return BackendInfo(
            name=self.name,
            library="torch",
            version=torch.__version__,
            device=device,
            dtype=dtype,
            matmul_precision=precision,
            gradient="torch.autograd (loss.backward; torch.func for batches)",
            update=getattr(optimizer, "torch_config", "torch.optim.SGD(params, lr=lr)"),
            effective_eps=eps,
            notes=notes,
        )

    def convert(self, data: tuple) -> tuple:
        """The data as torch tensors (float64 where floating; no copy when already float64)."""
        import torch

        return tuple(_to_torch(d, torch) for d in data)

    def loss_and_grad(self, loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple) -> Any:
        """A user's loss and its gradient at one point (see :func:`loss_and_grad_torch`)."""
        return loss_and_grad_torch(loss, tree, to_user, data)

    def shadow(self, problem: Problem, weights: NDArray, data: tuple | None = None) -> Shadow:
        import torch

        from ._torch_vmap import with_vector_products

        t0 = time.perf_counter()
        layout, loss = problem.layout, problem.model.loss
        dt = _tensors(problem.data if data is None else data)

        def value(flat: torch.Tensor) -> torch.Tensor:
            return loss(unflatten_with(layout, flat), *dt)

        batched = with_vector_products(torch.func.vmap(torch.func.grad_and_value(value)))
        size = shadow_chunk(len(weights), layout.size, dt)
        losses, grads = [], []
        for start in range(0, len(weights), size):
            chunk = _on_device(
                torch.from_numpy(np.ascontiguousarray(weights[start : start + size]))
            )
            try:
                grad, loss_value = batched(chunk)
            except Exception:  # an operation vmap cannot batch: evaluate row by row
                pairs = [torch.func.grad_and_value(value)(row) for row in chunk]
                grad = torch.stack([g for g, _ in pairs])
                loss_value = torch.stack([v for _, v in pairs])
            losses.append(loss_value.detach().cpu().numpy())
            grads.append(grad.detach().cpu().numpy())
            report_steps(start + len(grad))
        release_freed_memory()  # the batches' scratch, held by malloc (see _memory)
        return Shadow(np.concatenate(losses), np.concatenate(grads), time.perf_counter() - t0)

    def trajectory(self, problem: Problem, steps: int, record_every: int = 1) -> Trajectory:
        """The textbook loop; rows at :func:`~gdcheck.backends._memory.recorded_steps` only."""
        t0 = time.perf_counter()
        layout, loss = problem.layout, problem.model.loss
        dt = _tensors(problem.data)
        leaves = _leaves(problem, problem.w0)
        params = layout.to_user(leaves)
        opt = problem.optimizer.torch(list(leaves.values()), problem.lr)
        at = recorded_steps(steps, record_every)
        row_of = {int(t): j for j, t in enumerate(at)}
        weights = np.full((len(at), layout.size), np.nan, dtype=problem.dtype)
        losses = np.full(len(at), np.nan, dtype=problem.dtype)
        broke = None
        for k in range(steps + 1):
            opt.zero_grad(set_to_none=False)
            value = loss(params, *dt)
            current = np.asarray(value.item(), dtype=problem.dtype)
            j = row_of.get(k)
            if j is not None:
                weights[j] = _flat(leaves, layout)
                losses[j] = current
            report_steps(k + 1)
            if not np.isfinite(current):
                broke = k
                break
            if k < steps:
                value.backward()
                opt.step()
        release_freed_memory()
        sparse = len(at) < steps + 1
        return Trajectory(
            weights,
            losses,
            None,
            diverged_step(losses, weights, at, broke, sparse),
            time.perf_counter() - t0,
            steps_at=at if sparse else None,
        )

    def update_shadow(
        self, problem: Problem, weights: NDArray, grads: NDArray, state: dict | None = None
    ) -> NDArray:
        """``torch.optim`` fed the reference's rows: consecutive ``step()`` calls keeping its
        state, or with ``state`` (textbook rows) one step from each row, its state set from
        that row (:func:`_seeded_updates`)."""
        import torch

        if state is not None:
            return _seeded_updates(problem, weights, grads, state)
        layout = problem.layout
        out = np.empty((max(0, len(weights) - 1), layout.size), dtype=problem.dtype)
        if not len(out):
            return out
        leaves = _leaves(problem, weights[0])
        opt = problem.optimizer.torch(list(leaves.values()), problem.lr)
        for k in range(len(out)):
            w, g = layout.unflatten(weights[k]), layout.unflatten(grads[k])
            with torch.no_grad():
                for name, leaf in leaves.items():
                    leaf.copy_(torch.from_numpy(_contiguous(w[name])))
                    leaf.grad = torch.from_numpy(_contiguous(g[name])).to(leaf.device, copy=True)
            opt.step()
            out[k] = _flat(leaves, layout)
            report_steps(k + 1)
        return out


TORCH_SLOTS = {"m": "exp_avg", "v": "exp_avg_sq", "b": "momentum_buffer"}
""":mod:`gdcheck.optim` state slot → the ``torch.optim`` per-parameter state key that holds it."""


def _seeded_updates(problem: Problem, weights: NDArray, grads: NDArray, state: dict) -> NDArray:
    r"""``w_{t+1}`` from each row ``(w_t, g_t)``, the optimizer's per-parameter state set to the
    textbook state at ``t`` (``exp_avg`` :math:`m_t`, ``exp_avg_sq`` :math:`v_t` and ``step``
    ``t`` for Adam; ``momentum_buffer`` :math:`b_t` for momentum; empty at ``t = 0``)."""
    import torch

    layout, slots = problem.layout, problem.optimizer.slots
    out = np.empty((len(weights), layout.size), dtype=problem.dtype)
    if not len(out):
        return out
    leaves = _leaves(problem, weights[0])
    opt = problem.optimizer.torch(list(leaves.values()), problem.lr)
    counts = problem.optimizer.torch_call[0] != "SGD"  # Adam and AdamW keep a step count
    for k in range(len(out)):
        w, g = layout.unflatten(weights[k]), layout.unflatten(grads[k])
        t = int(state["step"][k])
        rows = {s: layout.unflatten(state[s][k]) for s in slots}
        with torch.no_grad():
            for name, leaf in leaves.items():
                leaf.copy_(torch.from_numpy(_contiguous(w[name])))
                leaf.grad = torch.from_numpy(_contiguous(g[name])).to(leaf.device, copy=True)
                seeded: dict[str, Any] = {}
                if t > 0:
                    seeded = {
                        TORCH_SLOTS[s]: torch.from_numpy(_contiguous(rows[s][name])).to(
                            leaf.device, copy=True
                        )
                        for s in slots
                    }
                    if counts:
                        seeded["step"] = torch.tensor(float(t))
                opt.state[leaf] = seeded
        opt.step()
        out[k] = _flat(leaves, layout)
        report_steps(k + 1)
    return out


def _tensors(data: tuple) -> tuple:
    import torch

    return tuple(
        _on_device(torch.from_numpy(_contiguous(d))) if isinstance(d, np.ndarray) else d
        for d in data
    )


def _on_device(tensor: Any) -> Any:
    """``tensor`` on the run's device (:mod:`._device`); itself on the CPU (no copy)."""
    device = torch_device()
    return tensor if device is None else tensor.to(device)


def _contiguous(a: NDArray) -> NDArray:
    """A C-contiguous array of the same shape (``np.ascontiguousarray`` turns 0-d into 1-d)."""
    return a if a.flags.c_contiguous and a.flags.writeable else np.array(a, order="C")


def _leaves(problem: Problem, flat: NDArray) -> dict[str, Any]:
    import torch

    device = torch_device()  # None: the CPU, as torch.tensor has it
    return {
        name: torch.tensor(np.asarray(value), device=device, requires_grad=True)
        for name, value in problem.layout.unflatten(np.asarray(flat, problem.dtype)).items()
    }


def _flat(leaves: dict[str, Any], layout: Any) -> NDArray:
    return np.concatenate([leaves[n].detach().cpu().numpy().ravel() for n in layout.names])


def loss_and_grad_torch(loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple) -> Any:
    """``(loss, {name: gradient})`` of a user's loss by ``loss.backward()``, in float64.

    ``data`` comes from :meth:`TorchBackend.convert`.
    """
    import torch

    leaves = {k: torch.tensor(v, dtype=torch.float64, requires_grad=True) for k, v in tree.items()}
    value = loss(to_user(leaves), *data)
    if not isinstance(value, torch.Tensor):
        raise TypeError(f"the loss returned {type(value).__name__}, not a torch tensor")
    if value.numel() == 1 and value.requires_grad:
        value.reshape(()).backward()
    grads = {
        k: (t.grad.numpy() if t.grad is not None else np.zeros(t.shape)).astype(np.float64)
        for k, t in leaves.items()
    }
    return value.detach().numpy(), grads


def _to_torch(value: Any, torch: Any) -> Any:
    """A NumPy array as a tensor sharing its memory (float64 where floating). A read-only
    array (a memory-mapped file, the check's read-only views) is shared too: nothing here
    writes to data, so torch's warning about non-writable arrays is not passed on. Only then
    are the warning filters touched: ``catch_warnings`` swaps process-wide state, and this may
    run on the check's background thread."""
    if not isinstance(value, np.ndarray):
        return value
    if np.issubdtype(value.dtype, np.floating):
        value = value.astype(np.float64, copy=False)
    if value.flags.writeable:
        return torch.from_numpy(value)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="The given NumPy array is not writable")
        return torch.from_numpy(value)
