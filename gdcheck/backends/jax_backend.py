"""JAX: ``jax.value_and_grad`` of the model's cost; the trajectory updates through ``optax.sgd``.

Why optax: the independent check is meant to exercise an update rule written by someone else,
so a wrong handwritten update (a sign, a missing ``lr``) shows up as drift. Without optax
installed the handwritten rule is used and the report says so.

The whole trajectory is one compiled ``lax.scan``; the shadow check is one ``vmap`` over the
reference's weights, in fixed-size chunks (one compilation). float64 runs inside
``jax.enable_x64(True)``, scoped to the call: the user's global JAX configuration is untouched.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._types import BackendInfo, DTypeName, Model, NDArray, Shadow, Trajectory
from ._common import chunk_size, first_nonfinite, installed, report_steps

# Machine epsilon of the reduced float32 matmul JAX uses by default on accelerators.
_REDUCED_EPS = {"gpu": 2.0**-10, "cuda": 2.0**-10, "rocm": 2.0**-10, "tpu": 2.0**-7}


@contextlib.contextmanager
def _x64(dtype: str) -> Iterator[None]:
    import jax

    with jax.enable_x64(dtype == "float64"):
        yield


class JaxBackend:
    name = "jax"
    install_hint = "pip install 'gdcheck[jax]'  (jax and optax)"

    def is_available(self) -> bool:
        return installed("jax")

    def info(self, dtype: DTypeName) -> BackendInfo:
        import jax

        platform = jax.devices()[0].platform
        setting = jax.config.jax_default_matmul_precision or "default"
        eps = float(np.finfo(dtype).eps)
        notes: list[str] = []
        if (
            dtype == "float32"
            and setting in ("default", "bfloat16", "fastest")
            and platform != "cpu"
        ):
            eps = max(eps, _REDUCED_EPS.get(platform, 2.0**-10))
            notes.append(
                f"JAX's default float32 matmul precision on {platform} is reduced "
                f"(eps ≈ {eps:.1e}); set jax_default_matmul_precision='highest' for full float32."
            )
        precision = setting if platform != "cpu" else f"{setting} (full {dtype} on cpu)"
        return BackendInfo(
            name=self.name,
            library="jax",
            version=jax.__version__,
            device=f"{platform}:{jax.devices()[0].id}",
            dtype=dtype,
            matmul_precision=precision,
            gradient="jax.value_and_grad(model.cost)",
            update="optax.sgd" if installed("optax") else "handwritten (optax not installed)",
            effective_eps=eps,
            notes=tuple(notes),
        )

    def convert(self, data: tuple) -> tuple:
        """The data as JAX arrays (float64 where floating), converted once per check."""
        import jax

        with jax.enable_x64(True):
            converted = tuple(_to_jax(d, jax) for d in data)
            for d in converted:  # finish the copy here (it may run on a background thread)
                getattr(d, "block_until_ready", lambda: None)()
            return converted

    def loss_and_grad(self, loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple) -> Any:
        """A user's loss and its gradient at one point (see :func:`loss_and_grad_jax`)."""
        return loss_and_grad_jax(loss, tree, to_user, data)

    def shadow(self, model: Model, X: NDArray, y: NDArray, weights: NDArray) -> Shadow:
        import jax
        import jax.numpy as jnp

        t0 = time.perf_counter()
        dtype = str(X.dtype)
        p = weights.shape[1]
        with _x64(dtype):
            Xj, yj = jnp.asarray(X), jnp.asarray(y)
            value_and_grad = jax.value_and_grad(lambda w: model.cost(w.reshape(p, 1), Xj, yj))
            batched = jax.jit(jax.vmap(value_and_grad))
            size = chunk_size(len(weights), X.shape[1] + p)
            losses, grads = [], []
            for start in range(0, len(weights), size):
                chunk = weights[start : start + size]
                pad = size - len(chunk)
                padded = np.concatenate([chunk, np.zeros((pad, p), chunk.dtype)]) if pad else chunk
                loss, grad = batched(jnp.asarray(padded))
                losses.append(np.asarray(loss)[: len(chunk)])
                grads.append(np.asarray(grad)[: len(chunk)])
                report_steps(start + len(chunk))
        return Shadow(np.concatenate(losses), np.concatenate(grads), time.perf_counter() - t0)

    def trajectory(
        self, model: Model, X: NDArray, y: NDArray, w0: NDArray, lr: float, steps: int
    ) -> Trajectory:
        import jax
        import jax.numpy as jnp

        t0 = time.perf_counter()
        dtype = str(X.dtype)
        with _x64(dtype):
            Xj, yj = jnp.asarray(X), jnp.asarray(y)
            value_and_grad = jax.value_and_grad(lambda w: model.cost(w, Xj, yj))
            init, update = _sgd(lr)

            def body(carry: Any, _: Any) -> Any:
                w, state = carry
                loss, grad = value_and_grad(w)
                w_next, state = update(grad, state, w)
                return (w_next, state), (w.ravel(), loss)

            @jax.jit
            def run(w_start: Any) -> Any:
                (w_last, _), (ws, losses) = jax.lax.scan(
                    body, (w_start, init(w_start)), None, length=steps
                )
                last_loss = model.cost(w_last, Xj, yj)
                return (
                    jnp.concatenate([ws, w_last.ravel()[None]]),
                    jnp.concatenate([losses, last_loss[None]]),
                )

            ws, losses = run(jnp.asarray(w0.reshape(-1, 1)))
            weights, losses = np.array(ws), np.array(losses)  # writable copies
            report_steps(steps + 1)  # one compiled lax.scan: no per-step report
        diverged = first_nonfinite(losses, weights)
        if diverged is not None:  # the compiled loop cannot stop early; blank what follows
            weights[diverged + 1 :] = np.nan
            losses[diverged + 1 :] = np.nan
        return Trajectory(weights, losses, None, diverged, time.perf_counter() - t0)


def _sgd(lr: float) -> tuple[Any, Any]:
    """``(init, update)`` of ``optax.sgd(lr)``, or of the handwritten rule without optax."""
    if installed("optax"):
        import optax

        opt = optax.sgd(lr)

        def update(grad: Any, state: Any, w: Any) -> Any:
            updates, state = opt.update(grad, state, w)
            return optax.apply_updates(w, updates), state

        return opt.init, update
    return (lambda w: ()), (lambda grad, state, w: (w - lr * grad, state))


def loss_and_grad_jax(loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple) -> Any:
    """``(loss, {name: gradient})`` of a user's loss by ``jax.value_and_grad``, in float64.

    ``data`` comes from :meth:`JaxBackend.convert`. Eager (no ``jit``): a one-point check
    would not amortise a compilation.
    """
    import jax
    import jax.numpy as jnp

    with jax.enable_x64(True):
        order = list(tree)  # JAX hands a dict back with sorted keys: restore the user's order
        value, grads = jax.value_and_grad(lambda t: loss(to_user({k: t[k] for k in order}), *data))(
            {k: jnp.asarray(v, jnp.float64) for k, v in tree.items()}
        )
        return np.asarray(value), {k: np.asarray(g, np.float64) for k, g in grads.items()}


def _to_jax(value: Any, jax: Any) -> Any:
    """A JAX array sharing memory with ``value`` where possible.

    JAX can alias a NumPy buffer only when it is C-contiguous and 64-byte aligned; NumPy's large
    allocations are 16-byte aligned, so such data is first copied once into an aligned buffer
    (a plain memcpy, about 3× cheaper than JAX's own conversion).
    """
    if isinstance(value, np.ndarray):
        if np.issubdtype(value.dtype, np.floating):
            value = value.astype(np.float64, copy=False)
        if value.ctypes.data % _ALIGN or not value.flags.c_contiguous:
            value = _aligned_copy(value)
        return jax.device_put(value, may_alias=True)
    return value


_ALIGN = 64


def _aligned_copy(a: np.ndarray) -> np.ndarray:
    buf = np.empty(a.nbytes + _ALIGN, dtype=np.uint8)
    offset = (-buf.ctypes.data) % _ALIGN
    out = buf[offset : offset + a.nbytes].view(a.dtype).reshape(a.shape)
    np.copyto(out, a)
    return out
