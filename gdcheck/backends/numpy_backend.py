"""The reference backend: the model's handwritten gradient and update, run in NumPy."""

from __future__ import annotations

import time

import numpy as np

from .._types import BackendInfo, DTypeName, Model, NDArray, Shadow, Trajectory
from ._common import first_nonfinite, report_steps


class NumpyBackend:
    """Runs ``model.gradient`` and ``model.update`` as written: the code under test."""

    name = "numpy"
    install_hint = "pip install numpy"

    def is_available(self) -> bool:
        return True

    def info(self, dtype: DTypeName) -> BackendInfo:
        blas = _blas_name()
        return BackendInfo(
            name=self.name,
            library="numpy",
            version=np.__version__,
            device="cpu",
            dtype=dtype,
            matmul_precision=f"full {dtype} ({blas})",
            gradient="handwritten model.gradient",
            update="handwritten model.update (w - lr * grad)",
            effective_eps=float(np.finfo(dtype).eps),
        )

    def shadow(self, model: Model, X: NDArray, y: NDArray, weights: NDArray) -> Shadow:
        t0 = time.perf_counter()
        losses = np.empty(len(weights), dtype=X.dtype)
        grads = np.empty_like(weights)
        with np.errstate(all="ignore"):
            for k, w in enumerate(weights):
                w = w.reshape(-1, 1)
                losses[k] = model.cost(w, X, y)
                grads[k] = model.gradient(w, X, y).ravel()
                report_steps(k + 1)
        return Shadow(losses, grads, time.perf_counter() - t0)

    def trajectory(
        self, model: Model, X: NDArray, y: NDArray, w0: NDArray, lr: float, steps: int
    ) -> Trajectory:
        """Gradient descent as the tutorial's loop: cost and gradient at ``w_k``, then the update.

        Stops at the first non-finite cost (a diverged run); the rest is NaN.
        """
        t0 = time.perf_counter()
        p = w0.size
        weights = np.full((steps + 1, p), np.nan, dtype=X.dtype)
        grads = np.full((steps + 1, p), np.nan, dtype=X.dtype)
        losses = np.full(steps + 1, np.nan, dtype=X.dtype)
        w = w0.reshape(-1, 1).astype(X.dtype)
        lr_cast = X.dtype.type(lr)
        with np.errstate(all="ignore"):
            for k in range(steps + 1):
                weights[k] = w.ravel()
                losses[k] = model.cost(w, X, y)
                g = model.gradient(w, X, y)
                grads[k] = g.ravel()
                report_steps(k + 1)
                if not (np.isfinite(losses[k]) and np.isfinite(g).all()):
                    break
                if k < steps:
                    w = model.update(w, g, lr_cast)
        return Trajectory(
            weights, losses, grads, first_nonfinite(losses, weights), time.perf_counter() - t0
        )


def _blas_name() -> str:
    try:
        cfg = np.show_config(mode="dicts")
        blas = cfg["Build Dependencies"]["blas"]
        return f"{blas.get('name', '?')} {blas.get('version', '')}".strip()
    except Exception:
        return "unknown BLAS"
