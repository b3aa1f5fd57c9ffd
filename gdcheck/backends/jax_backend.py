"""JAX: ``jax.value_and_grad`` of the model's loss; the trajectory updates through optax.

Why optax: the independent check exercises an update rule written by someone else (the optax
twin of the optimizer the handwritten update claims, :mod:`gdcheck.optim`), so a wrong
handwritten update shows up.

The whole trajectory is one compiled ``lax.scan``, and so is the update shadow check (optax fed
the reference's own weights and gradients; one ``vmap`` when optax keeps no state); the shadow
check is one ``vmap`` over the reference's weights, in fixed-size chunks (one compilation).
NumPy inputs go to the device by ``device_put``, which compiles nothing (:func:`_put`). The
data are arguments of the compiled functions, never constants baked into them. float64 runs
inside ``jax.enable_x64(True)``, scoped to the call: the user's global JAX configuration is
untouched.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any

import numpy as np

from .._types import BackendInfo, DTypeName, NDArray, Shadow, Trajectory
from ._common import first_nonfinite, installed, report_steps, shadow_chunk
from ._device import jax_describe, jax_device
from ._jax_point import loss_and_grad_jax, to_jax_array
from ._memory import recorded_steps, release_freed_memory
from ._problem import Problem, flatten_with, unflatten_with


@contextlib.contextmanager
def _x64(dtype: str) -> Iterator[None]:
    """x64 for a float64 run, and the run's device (:mod:`._device`) as JAX's default."""
    import jax

    device = jax_device()
    with jax.enable_x64(dtype == "float64"), jax.default_device(device):
        yield


class JaxBackend:
    name = "jax"

    def __init__(self) -> None:
        self._cache: dict[str, Any] = {}

    install_hint = "pip install 'gdcheck[jax]'  (jax and optax)"

    def is_available(self) -> bool:
        return installed("jax") and installed("optax")

    def info(self, dtype: DTypeName, optimizer: Any = None, model: Any = None) -> BackendInfo:
        import jax

        device, precision, eps, notes = jax_describe(dtype)
        return BackendInfo(
            name=self.name,
            library="jax",
            version=jax.__version__,
            device=device,
            dtype=dtype,
            matmul_precision=precision,
            gradient="jax.value_and_grad(model.loss)",
            update=getattr(optimizer, "optax_config", "optax.sgd(lr)"),
            effective_eps=eps,
            notes=notes,
        )

    def convert(self, data: tuple) -> tuple:
        """The data as JAX arrays (float64 where floating), converted once per check."""
        import jax

        with jax.enable_x64(True):
            converted = tuple(to_jax_array(d) for d in data)
            for d in converted:  # finish the copy here (it may run on a background thread)
                getattr(d, "block_until_ready", lambda: None)()
            return converted

    def loss_and_grad(self, loss: Any, tree: dict[str, NDArray], to_user: Any, data: tuple) -> Any:
        """A user's loss and its gradient at one point (see :func:`loss_and_grad_jax`)."""
        return loss_and_grad_jax(loss, tree, to_user, data)

    def shadow(self, problem: Problem, weights: NDArray, data: tuple | None = None) -> Shadow:
        t0 = time.perf_counter()
        p = problem.layout.size
        with _x64(problem.dtype):
            dj = _device_data(problem.data if data is None else data, problem.dtype)
            batched = self._batched(problem, len(dj))
            size = shadow_chunk(len(weights), p, dj)
            losses, grads = [], []
            for start in range(0, len(weights), size):
                chunk = np.asarray(weights[start : start + size], problem.dtype)
                pad = size - len(chunk)
                padded = np.concatenate([chunk, np.zeros((pad, p), chunk.dtype)]) if pad else chunk
                loss, grad = batched(_put(padded), *dj)
                losses.append(np.asarray(loss)[: len(chunk)])
                grads.append(np.asarray(grad)[: len(chunk)])
                report_steps(start + len(chunk))
        release_freed_memory()  # the calls' scratch, held by malloc (see _memory)
        return Shadow(np.concatenate(losses), np.concatenate(grads), time.perf_counter() - t0)

    def _batched(self, problem: Problem, n_data: int) -> Any:
        import jax

        key = (problem.model.loss, problem.layout, problem.dtype, n_data)
        cached = self._cache.get("shadow")
        if cached is not None and cached[0] == key:
            return cached[1]
        layout, loss = problem.layout, problem.model.loss

        def value(flat: Any, *data: Any) -> Any:
            return loss(unflatten_with(layout, flat), *data)

        fn = jax.jit(jax.vmap(jax.value_and_grad(value), in_axes=(0,) + (None,) * n_data))
        self._cache["shadow"] = (key, fn)
        return fn

    def trajectory(self, problem: Problem, steps: int, record_every: int = 1) -> Trajectory:
        """One compiled ``lax.scan`` of ``steps`` optax updates (:meth:`_recorded` when only
        every ``record_every``-th step is kept)."""
        import jax
        import jax.numpy as jnp
        import optax

        if len(recorded_steps(steps, record_every)) < steps + 1:
            return self._recorded(problem, steps, record_every)
        t0 = time.perf_counter()
        layout, loss = problem.layout, problem.model.loss
        opt = problem.optimizer.optax(problem.lr)
        with _x64(problem.dtype):
            dj = _device_data(problem.data, problem.dtype)

            def flat(params: Any) -> Any:
                return flatten_with(layout, params, jnp.concatenate)

            @jax.jit
            def run(p0: Any, *data: Any) -> Any:
                value_and_grad = jax.value_and_grad(lambda p: loss(p, *data))

                def body(carry: Any, _: Any) -> Any:
                    params, state = carry
                    value, grad = value_and_grad(params)
                    updates, state = opt.update(grad, state, params)
                    return (optax.apply_updates(params, updates), state), (flat(params), value)

                (last, _), (ws, values) = jax.lax.scan(body, (p0, opt.init(p0)), None, length=steps)
                return (
                    jnp.concatenate([ws, flat(last)[None]]),
                    jnp.concatenate([values, jnp.reshape(loss(last, *data), (1,))]),
                )

            p0 = _put(unflatten_with(layout, np.asarray(problem.w0)))
            ws, values = run(p0, *dj)
            weights = np.array(ws, dtype=problem.dtype)  # writable copies
            losses = np.array(values, dtype=problem.dtype)
            report_steps(steps + 1)  # one compiled lax.scan: no per-step report
        release_freed_memory()
        diverged = first_nonfinite(losses, weights)
        if diverged is not None:  # the compiled loop cannot stop early; blank what follows
            weights[diverged + 1 :] = np.nan
            losses[diverged + 1 :] = np.nan
        return Trajectory(weights, losses, None, diverged, time.perf_counter() - t0)

    def _recorded(self, problem: Problem, steps: int, every: int) -> Trajectory:
        """The trajectory keeping rows at :func:`~gdcheck.backends._memory.recorded_steps`
        only: still one compiled program, an outer ``lax.scan`` over ``steps // every`` chunks
        whose inner ``lax.scan`` runs ``every`` steps and emits nothing but the chunk's first
        row (its weights and loss), then the ``steps % every`` remaining steps and the last
        row. The first non-finite step is tracked in the carry (the rows cannot say it)."""
        import jax
        import jax.numpy as jnp
        import optax

        t0 = time.perf_counter()
        layout, loss = problem.layout, problem.model.loss
        opt = problem.optimizer.optax(problem.lr)
        chunks, rest = divmod(steps, every)
        with _x64(problem.dtype):
            dj = _device_data(problem.data, problem.dtype)

            def flat(params: Any) -> Any:
                return flatten_with(layout, params, jnp.concatenate)

            def finite(value: Any, params: Any) -> Any:
                return jnp.isfinite(value) & jnp.all(jnp.isfinite(flat(params)))

            @jax.jit
            def run(p0: Any, *data: Any) -> Any:
                value_and_grad = jax.value_and_grad(lambda p: loss(p, *data))

                def step(carry: Any, _: Any) -> Any:
                    params, state, t, bad = carry
                    value, grad = value_and_grad(params)
                    bad = jnp.where((bad < 0) & ~finite(value, params), t, bad)
                    updates, state = opt.update(grad, state, params)
                    return (optax.apply_updates(params, updates), state, t + 1, bad), value

                def chunk(carry: Any, _: Any) -> Any:
                    start = carry[0]
                    carry, values = jax.lax.scan(step, carry, None, length=every)
                    return carry, (flat(start), values[0])

                carry = (p0, opt.init(p0), jnp.int32(0), jnp.int32(-1))
                carry, (ws, values) = jax.lax.scan(chunk, carry, None, length=chunks)
                rows, losses = [ws], [values]
                if rest:
                    start = carry[0]
                    carry, tail = jax.lax.scan(step, carry, None, length=rest)
                    rows.append(flat(start)[None])
                    losses.append(tail[:1])
                last, value = carry[0], loss(carry[0], *data)
                bad = jnp.where((carry[3] < 0) & ~finite(value, last), steps, carry[3])
                rows.append(flat(last)[None])
                losses.append(jnp.reshape(value, (1,)))
                return jnp.concatenate(rows), jnp.concatenate(losses), bad

            p0 = _put(unflatten_with(layout, np.asarray(problem.w0)))
            ws, values, bad = run(p0, *dj)
            weights = np.array(ws, dtype=problem.dtype)
            losses = np.array(values, dtype=problem.dtype)
            report_steps(steps + 1)
        release_freed_memory()
        at = recorded_steps(steps, every)
        diverged = int(bad) if int(bad) >= 0 else None
        if diverged is not None:  # blank the rows after the first non-finite step
            weights[at > diverged] = np.nan
            losses[at > diverged] = np.nan
        return Trajectory(weights, losses, None, diverged, time.perf_counter() - t0, steps_at=at)

    def update_shadow(
        self, problem: Problem, weights: NDArray, grads: NDArray, state: dict | None = None
    ) -> NDArray:
        """optax fed the reference's rows: one ``lax.scan`` along consecutive rows carrying
        optax's state (one ``vmap`` over the rows when the optimizer keeps none, plain SGD:
        the rows are then independent, and a ``vmap`` compiles in a fraction of a scan's
        time), or with ``state`` (textbook rows, :attr:`Trajectory.state`) one step from each
        row, optax's state set from that row (:func:`_seeded_updates`)."""
        import jax
        import jax.numpy as jnp
        import optax

        if state is not None:
            return _seeded_updates(problem, weights, grads, state)
        if len(weights) < 2:
            return np.zeros((0, problem.layout.size), problem.dtype)
        layout = problem.layout
        opt = problem.optimizer.optax(problem.lr)
        with _x64(problem.dtype):
            first = unflatten_with(layout, np.asarray(weights[0]))
            if not jax.tree.leaves(jax.eval_shape(opt.init, first)):  # no state to carry

                @jax.jit
                def independent(ws: Any, gs: Any) -> Any:
                    def one(w: Any, g: Any) -> Any:
                        params, grad = unflatten_with(layout, w), unflatten_with(layout, g)
                        updates, _ = opt.update(grad, opt.init(params), params)
                        nxt = optax.apply_updates(params, updates)
                        return flatten_with(layout, nxt, jnp.concatenate)

                    return jax.vmap(one)(ws, gs)

                out = independent(_put(weights[:-1]), _put(grads[:-1]))
                report_steps(len(weights) - 1)
                return np.array(out, dtype=problem.dtype)

            @jax.jit
            def run(ws: Any, gs: Any) -> Any:
                def body(state: Any, wg: Any) -> Any:
                    params, grad = (unflatten_with(layout, a) for a in wg)
                    updates, state = opt.update(grad, state, params)
                    nxt = optax.apply_updates(params, updates)
                    return state, flatten_with(layout, nxt, jnp.concatenate)

                state0 = opt.init(unflatten_with(layout, ws[0]))
                return jax.lax.scan(body, state0, (ws, gs))[1]

            out = run(_put(weights[:-1]), _put(grads[:-1]))
            report_steps(len(weights) - 1)  # one compiled lax.scan
            return np.array(out, dtype=problem.dtype)


OPTAX_SLOTS = {"m": "mu", "v": "nu", "b": "trace"}
""":mod:`gdcheck.optim` state slot → the optax state field that holds it (``step`` → ``count``)."""


def _seeded_updates(problem: Problem, weights: NDArray, grads: NDArray, state: dict) -> NDArray:
    r"""``w_{t+1}`` from each row ``(w_t, g_t)``, optax's state set to the textbook state at
    ``t`` (:math:`m_t, v_t`, count ``t`` for Adam; the trace :math:`b_t` for momentum): one
    compiled ``lax.map`` over the rows."""
    import jax
    import jax.numpy as jnp
    import optax
    from optax import tree_utils

    layout, slots = problem.layout, problem.optimizer.slots
    if not len(weights):
        return np.zeros((0, layout.size), problem.dtype)
    opt = problem.optimizer.optax(problem.lr)
    with _x64(problem.dtype):

        @jax.jit
        def run(ws: Any, gs: Any, count: Any, rows: Any) -> Any:
            def one(args: Any) -> Any:
                w, g, t, slot_rows = args
                params, grad = unflatten_with(layout, w), unflatten_with(layout, g)
                state0 = opt.init(params)
                fields = {OPTAX_SLOTS[s]: unflatten_with(layout, r) for s, r in slot_rows.items()}
                known = tree_utils.tree_get(state0, "count")
                if known is not None:
                    fields["count"] = t.astype(known.dtype)
                updates, _ = opt.update(grad, tree_utils.tree_set(state0, **fields), params)
                return flatten_with(layout, optax.apply_updates(params, updates), jnp.concatenate)

            return jax.lax.map(one, (ws, gs, count, rows))

        n = len(weights)
        rows = {s: _put(state[s][:n]) for s in slots}
        out = run(_put(weights), _put(grads), _put(state["step"][:n]), rows)
        report_steps(n)
        return np.array(out, dtype=problem.dtype)


def _put(value: Any) -> Any:
    """NumPy arrays (or a tree of them) on the current JAX device, as they are: unlike
    ``jnp.asarray``, ``device_put`` compiles nothing (``jnp.asarray`` of an array without a
    dtype compiles a copy program per shape, ~15 ms each on a first call; so does an eager
    ``reshape`` of a JAX array: reshape in NumPy first). On the CPU the result may share the
    NumPy buffer instead of copying it: do not write to the input until the call that reads
    it has returned (every caller here waits for its result)."""
    import jax

    return jax.device_put(jax.tree.map(np.asarray, value))


def _device_data(data: tuple, dtype: str) -> tuple:
    """The data as JAX arrays in ``dtype`` on the run's device, sharing memory with the NumPy
    buffers where JAX can (:func:`~._jax_point.to_jax_array`): the engine's prepared data are
    aligned, so big data are not copied."""
    device = jax_device()  # None on the CPU: alias the buffer
    return tuple(to_jax_array(d, dtype, device) for d in data)
