"""PyTorch: autograd of the model's cost; the trajectory updates through ``torch.optim.SGD``.

The trajectory is the textbook loop (``zero_grad``, ``backward``, ``step``) on a leaf tensor.
The shadow check evaluates the reference's weights in batches with
``torch.func.vmap(torch.func.grad_and_value(cost))``: the same autograd formulas, batched.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from .._types import BackendInfo, DTypeName, Model, NDArray, Shadow, Trajectory
from ._common import chunk_size, first_nonfinite, installed, report_steps


class TorchBackend:
    name = "torch"
    install_hint = "pip install 'gdcheck[torch]'  (torch==2.13.0, the CPU build)"

    def is_available(self) -> bool:
        return installed("torch")

    def info(self, dtype: DTypeName) -> BackendInfo:
        import torch

        precision = torch.get_float32_matmul_precision()
        eps = float(np.finfo(dtype).eps)
        notes: list[str] = []
        if dtype == "float32" and precision != "highest" and torch.cuda.is_available():
            eps = max(eps, 2.0**-10)
            notes.append(f"torch float32 matmul precision is {precision!r} (TF32 on CUDA).")
        return BackendInfo(
            name=self.name,
            library="torch",
            version=torch.__version__,
            device="cpu",
            dtype=dtype,
            matmul_precision=f"{precision} (full {dtype} on cpu)",
            gradient="torch.autograd (loss.backward; torch.func for batches)",
            update="torch.optim.SGD",
            effective_eps=eps,
            notes=tuple(notes),
        )

    def convert(self, data: tuple) -> tuple:
        """The data as torch tensors (float64 where floating; no copy when already float64)."""
        import torch

        return tuple(_to_torch(d, torch) for d in data)

    def loss_and_grad(self, loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple) -> Any:
        """A user's loss and its gradient at one point (see :func:`loss_and_grad_torch`)."""
        return loss_and_grad_torch(loss, tree, to_user, data)

    def shadow(self, model: Model, X: NDArray, y: NDArray, weights: NDArray) -> Shadow:
        import torch

        t0 = time.perf_counter()
        p = weights.shape[1]
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)

        def cost(w: torch.Tensor) -> torch.Tensor:
            return model.cost(w.reshape(p, 1), Xt, yt)

        batched = torch.func.vmap(torch.func.grad_and_value(cost))
        size = chunk_size(len(weights), X.shape[1] + p)
        losses, grads = [], []
        for start in range(0, len(weights), size):
            grad, loss = batched(
                torch.from_numpy(np.ascontiguousarray(weights[start : start + size]))
            )
            losses.append(loss.numpy())
            grads.append(grad.numpy())
            report_steps(start + len(grad))
        return Shadow(np.concatenate(losses), np.concatenate(grads), time.perf_counter() - t0)

    def trajectory(
        self, model: Model, X: NDArray, y: NDArray, w0: NDArray, lr: float, steps: int
    ) -> Trajectory:
        import torch

        t0 = time.perf_counter()
        Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
        w = torch.tensor(w0.reshape(-1, 1), dtype=Xt.dtype, requires_grad=True)
        opt = torch.optim.SGD([w], lr=lr)
        weights = np.full((steps + 1, w0.size), np.nan, dtype=X.dtype)
        losses = np.full(steps + 1, np.nan, dtype=X.dtype)
        for k in range(steps + 1):
            opt.zero_grad(set_to_none=False)
            loss = model.cost(w, Xt, yt)
            weights[k] = w.detach().numpy().ravel()
            losses[k] = loss.item()
            report_steps(k + 1)
            if not np.isfinite(losses[k]):
                break
            if k < steps:
                loss.backward()
                opt.step()
        return Trajectory(
            weights, losses, None, first_nonfinite(losses, weights), time.perf_counter() - t0
        )


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
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating):
            return torch.from_numpy(value.astype(np.float64, copy=False))
        return torch.from_numpy(value)
    return value
