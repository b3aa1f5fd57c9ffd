r"""JAX: the data sharded over W devices with ``jax.sharding``; XLA inserts the all-reduce.

The examples axis is laid over a one-axis ``Mesh`` of W devices (``NamedSharding`` with
``PartitionSpec("workers")`` on that axis), the params are replicated, and ``jit`` of
``value_and_grad`` compiles one SPMD program: each device differentiates its own examples and
XLA adds the all-reduce of the gradient (the compiled HLO is checked to contain one).

**Equal shards** (:math:`W \mid m`): the loss is the model's own, on the whole sharded data.
**Unequal shards: zero-weight padding, and a weighted loss.** ``NamedSharding`` needs equal
pieces, so each shard is padded to :math:`\max_i m_i` with copies of its last example, and the
loss is a weighted sum of the model's own loss on one example at a time (``vmap``):

.. math:: L(w) = \sum_j \omega_j\, C(w; x_j), \qquad
          \omega_j = 1/m \text{ for a real example}, \quad 0 \text{ for padding},

which is :math:`C(w)` for a mean-over-examples cost plus a weights-only term :math:`R(w)`
(the one-example cost carries :math:`R` once, and the real weights sum to 1).

Each device's piece is read from its own shard (memory-mapped where the data are) and put on
that device alone, then assembled with ``jax.make_array_from_single_device_arrays``: no
concatenated copy of the data. The process still holds every device's piece: all of X.

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

from ._worker import peak_rss_mb, read_shard, read_spec, rss_parts_mb

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
    peak_rss_mb: float = float("nan")
    """The one JAX process's peak RSS (it holds every device's shard), MB."""
    rss_parts_mb: tuple[float, ...] = ()
    """Its anonymous and file-backed resident MB after the run."""
    loop_seconds: float = float("nan")
    """The compiled program alone (K+1 gradients, K updates), compilation excluded."""


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
            rec["weights"],
            rec["grads"],
            seconds,
            bool(rec["allreduce"]),
            str(rec["version"]),
            peak_rss_mb=float(rec["peak_rss_mb"]),
            rss_parts_mb=tuple(float(x) for x in rec["rss_parts_mb"]),
            loop_seconds=float(rec["loop_seconds"]),
        )


def _placed(directory: str, spec: dict[str, Any], mesh: Any) -> tuple[list[Any], Any]:
    """Each device's shard, read and padded one at a time and put on that device only (no
    concatenated copy of the data), assembled with ``make_array_from_single_device_arrays``;
    the replicated arguments on every device; and the weights ω, sharded the same way."""
    import jax
    from jax.sharding import NamedSharding
    from jax.sharding import PartitionSpec as P

    sizes, axis, cut, dtype = spec["sizes"], spec["axis"], spec["cut"], spec["dtype"]
    W, m, top = len(sizes), sum(sizes), max(sizes)
    devices = list(mesh.devices.flat)
    pieces: list[list[Any]] = [[] for _ in cut]
    shapes: list[tuple[int, ...]] = [() for _ in cut]
    for i, mi in enumerate(sizes):
        shard = read_shard(directory, i, spec)
        for a, is_cut in enumerate(cut):
            if is_cut:
                d = shard[a]
                if mi < top:  # pad with copies of the last example (weight 0)
                    d = np.concatenate([d, np.take(d, [mi - 1] * (top - mi), axis=axis)], axis=axis)
                pieces[a].append(jax.device_put(d, devices[i], may_alias=True))
                shape = list(d.shape)
                shape[axis] = top * W
                shapes[a] = tuple(shape)
        del shard
    data = []
    for a, is_cut in enumerate(cut):
        if is_cut:
            parts: list[Any] = [None] * len(shapes[a])
            parts[axis] = "workers"
            sharding = NamedSharding(mesh, P(*parts))
            data.append(jax.make_array_from_single_device_arrays(shapes[a], sharding, pieces[a]))
        else:
            data.append(jax.device_put(spec["replicated"][a], NamedSharding(mesh, P())))
    omega = np.concatenate([[1.0 / m] * mi + [0.0] * (top - mi) for mi in sizes]).astype(dtype)
    return data, jax.device_put(omega, NamedSharding(mesh, P("workers")))


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
    data, omega_d = _placed(directory, spec, mesh)
    cut, equal = list(spec["cut"]), len(set(spec["sizes"])) == 1
    in_axes = tuple(axis if c else None for c in cut)

    def total(params: Any, w: Any, *d: Any) -> Any:
        if equal:  # no padding: the model's own loss on the whole (sharded) data
            return loss(params, *d)

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
    p0 = jax.device_put(unflatten_with(layout, np.asarray(spec["w0"])), replicated)
    compiled = jax.jit(run).lower(p0, omega_d, *data).compile()
    t0 = time.perf_counter()
    ws, gs = jax.block_until_ready(compiled(p0, omega_d, *data))
    loop_seconds = time.perf_counter() - t0
    per_device = np.stack([np.asarray(s.data) for s in ws.addressable_shards])
    np.savez(
        Path(directory) / OUTPUT,
        weights=per_device,
        grads=np.asarray(gs),
        allreduce="all-reduce" in compiled.as_text(),
        version=jax.__version__,
        peak_rss_mb=peak_rss_mb(),
        rss_parts_mb=rss_parts_mb(),
        loop_seconds=loop_seconds,
    )


if __name__ == "__main__":
    _child(sys.argv[1])
