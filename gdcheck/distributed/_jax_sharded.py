r"""JAX: the data sharded over W devices with ``jax.sharding``; XLA inserts the all-reduce.

The examples axis is laid over a one-axis ``Mesh`` of W devices (``NamedSharding`` with
``PartitionSpec("workers")`` on that axis), the params are replicated, and ``jit`` of
``value_and_grad`` compiles one SPMD program: each device differentiates its own examples and
XLA adds the all-reduce of the gradient (the compiled HLO is checked to contain one).

**Unequal shards: zero-weight padding, and a weighted loss.** ``NamedSharding`` needs equal
pieces, so each shard is padded to :math:`\max_i m_i` with copies of its last example, and the
loss is a weighted sum of the model's own loss on one example at a time (``vmap``):

.. math:: L(w) = \sum_j \omega_j\, C(w; x_j), \qquad
          \omega_j = 1/m \text{ for a real example}, \quad 0 \text{ for padding},

which is :math:`C(w)` for a mean-over-examples cost plus a weights-only term :math:`R(w)`
(the one-example cost carries :math:`R` once, and the real weights sum to 1).

On CPU the W devices come from ``XLA_FLAGS=--xla_force_host_platform_device_count=W``, which
must be set before JAX starts: the run is a subprocess (``python -m
gdcheck.distributed._jax_sharded SPEC_DIR``), the caller's JAX is untouched. Each device's copy
of the replicated weights comes back, so the devices are compared with each other too.
Planted worker faults do not apply here (XLA owns the all-reduce).
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ._worker import read_spec

OUTPUT = "jax.npz"


@dataclass
class JaxRun:
    """Per device ``weights[d]`` (K+1, p); the all-reduced ``grads`` (K+1, p); or a failure."""

    weights: np.ndarray | None = None
    grads: np.ndarray | None = None
    seconds: float = 0.0
    allreduce: bool = False
    """Whether XLA's compiled program has an all-reduce (it must)."""
    version: str = ""
    failure: str | None = None


def run_jax(directory: Path, world_size: int, timeout: float) -> JaxRun:
    """Run :func:`_child` in a subprocess with ``world_size`` host devices; at most ``timeout`` s."""
    env = dict(os.environ)
    flag = f"--xla_force_host_platform_device_count={world_size}"
    env["XLA_FLAGS"] = (env.get("XLA_FLAGS", "") + " " + flag).strip()
    env["JAX_PLATFORMS"] = "cpu"
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "gdcheck.distributed._jax_sharded", str(directory)]
    proc = subprocess.Popen(
        cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.communicate()
        return JaxRun(
            seconds=time.perf_counter() - t0,
            failure=f"the JAX sharded run did not finish within timeout={timeout:g} s and was "
            "killed; raise timeout= if it is only slow (the first call compiles).",
        )
    seconds = time.perf_counter() - t0
    if proc.returncode != 0:
        tail = err.decode(errors="replace").strip().splitlines()[-1:] or ["(no output)"]
        return JaxRun(
            seconds=seconds,
            failure=f"the JAX sharded run exited with code {proc.returncode}: {tail[0]}",
        )
    with np.load(directory / OUTPUT) as rec:
        return JaxRun(
            rec["weights"], rec["grads"], seconds, bool(rec["allreduce"]), str(rec["version"])
        )


def _padded(spec: dict[str, Any]) -> tuple[list[np.ndarray], np.ndarray, list[bool]]:
    """The shards padded to the largest, laid end to end; the weights ω; which args are cut."""
    shards, sizes, axis, cut = spec["shards"], spec["sizes"], spec["axis"], spec["cut"]
    m, top = sum(sizes), max(sizes)
    arrays = []
    for a, is_cut in enumerate(cut):
        if not is_cut:
            arrays.append(spec["full_data"][a])
            continue
        pieces = []
        for shard, mi in zip(shards, sizes, strict=True):
            d = shard[a]
            last = np.take(d, [mi - 1] * (top - mi), axis=axis)
            pieces.append(np.concatenate([d, last], axis=axis))
        arrays.append(np.concatenate(pieces, axis=axis))
    omega = np.concatenate([[1.0 / m] * mi + [0.0] * (top - mi) for mi in sizes])
    return arrays, omega.astype(spec["dtype"]), list(cut)


def _child(directory: str) -> None:
    import jax

    spec = read_spec(directory)
    jax.config.update("jax_enable_x64", spec["dtype"] == "float64")
    import jax.numpy as jnp
    import optax
    from jax.sharding import Mesh, NamedSharding
    from jax.sharding import PartitionSpec as P

    from ..backends._problem import flatten_with, unflatten_with

    W, axis, layout, loss = spec["world_size"], spec["axis"], spec["layout"], spec["model"].loss
    mesh = Mesh(np.array(jax.devices()[:W]), ("workers",))
    arrays, omega, cut = _padded(spec)

    def sharding(a: np.ndarray, is_cut: bool) -> NamedSharding:
        if not is_cut:
            return NamedSharding(mesh, P())
        parts: list[Any] = [None] * a.ndim
        parts[axis] = "workers"
        return NamedSharding(mesh, P(*parts))

    data = [jax.device_put(a, sharding(a, c)) for a, c in zip(arrays, cut, strict=True)]
    omega_d = jax.device_put(omega, NamedSharding(mesh, P("workers")))
    in_axes = tuple(axis if c else None for c in cut)

    def total(params: Any, w: Any, *d: Any) -> Any:
        def one(*ex: Any) -> Any:
            full = [jnp.expand_dims(e, axis) if c else e for e, c in zip(ex, cut, strict=True)]
            return loss(params, *full)

        return jnp.sum(w * jax.vmap(one, in_axes=in_axes)(*d))

    opt = spec["optimizer"].optax(spec["lr"])
    steps = spec["steps"]

    def flat(tree: Any) -> Any:
        return flatten_with(layout, tree, jnp.concatenate)

    def run(p0: Any, w: Any, *d: Any) -> Any:
        vg = jax.value_and_grad(total)

        def body(carry: Any, _: Any) -> Any:
            params, state = carry
            _, g = vg(params, w, *d)
            updates, state = opt.update(g, state, params)
            return (optax.apply_updates(params, updates), state), (flat(params), flat(g))

        (last, _), (ws, gs) = jax.lax.scan(body, (p0, opt.init(p0)), None, length=steps)
        g_last = flat(vg(last, w, *d)[1])
        return jnp.concatenate([ws, flat(last)[None]]), jnp.concatenate([gs, g_last[None]])

    replicated = NamedSharding(mesh, P())
    p0 = jax.device_put(unflatten_with(layout, jnp.asarray(spec["w0"])), replicated)
    compiled = jax.jit(run).lower(p0, omega_d, *data).compile()
    ws, gs = compiled(p0, omega_d, *data)
    per_device = np.stack([np.asarray(s.data) for s in ws.addressable_shards])
    np.savez(
        Path(directory) / OUTPUT,
        weights=per_device,
        grads=np.asarray(gs),
        allreduce="all-reduce" in compiled.as_text(),
        version=jax.__version__,
    )


if __name__ == "__main__":
    _child(sys.argv[1])
