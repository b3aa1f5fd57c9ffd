"""PyTorch: autograd of the model's cost; the trajectory updates through ``torch.optim.SGD``.

The trajectory is the textbook loop (``zero_grad``, ``backward``, ``step``) on a leaf tensor.
The shadow check evaluates the reference's weights in batches with
``torch.func.vmap(torch.func.grad_and_value(cost))``: the same autograd formulas, batched.
"""

from __future__ import annotations

import time

import numpy as np

from .._types import BackendInfo, DTypeName, Model, NDArray, Shadow, Trajectory
from ._common import chunk_size, first_nonfinite, installed


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
            if not np.isfinite(losses[k]):
                break
            if k < steps:
                loss.backward()
                opt.step()
        return Trajectory(
            weights, losses, None, first_nonfinite(losses, weights), time.perf_counter() - t0
        )
