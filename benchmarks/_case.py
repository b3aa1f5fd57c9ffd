"""One size of :mod:`run`, in its own process: crosscheck, then the three plain loops.

Called by ``run.py --case N M DTYPE STEPS``; returns one JSON-able dict (see ``run.py``).
"""

from __future__ import annotations

import os
import resource
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import timings  # benchmarks/, this script's folder


def _status_mb(key: str) -> float:
    """A ``/proc/self/status`` figure given in kB (``VmRSS``, ``VmHWM``), MB; NaN if absent."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{key}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def rss_mb() -> float:
    """Current resident set size (``VmRSS``), MB."""
    return _status_mb("VmRSS")


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def reset_peak() -> bool:
    """Restart ``VmHWM`` at the current RSS (Linux ``clear_refs`` 5): :func:`window_peak_mb`
    is then the peak since this call, not since the process began."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        return False
    return True


def window_peak_mb() -> float:
    """``VmHWM``, MB: the peak RSS since :func:`reset_peak` (or since the process began)."""
    return _status_mb("VmHWM")


def data(n: int, m: int, dtype: str, memmap: bool) -> tuple[np.ndarray, np.ndarray, str | None]:
    """X (n − 1, m) ~ U(0, 1) and y = Xᵀβ + 5 + 0.1 N(0, 1), in ``dtype`` (seeded).

    With ``memmap`` X is a ``.npy`` in /tmp, written by another process (:func:`_write_npy`):
    the file exists before this process maps it read-only, as a user's data file does, so
    writing it costs this process's RSS nothing."""
    path = None
    if memmap:
        import multiprocessing

        fd, path = tempfile.mkstemp(suffix=".npy", dir="/tmp")
        os.close(fd)
        writer = multiprocessing.get_context("spawn").Process(
            target=_write_npy, args=(path, n, m, dtype)
        )
        writer.start()
        writer.join()
        if writer.exitcode != 0:
            for leftover in (path, path + ".y.npy"):
                if os.path.exists(leftover):
                    os.unlink(leftover)
            raise RuntimeError(f"writing {path} failed (exit code {writer.exitcode})")
        y = np.load(path + ".y.npy")
        os.unlink(path + ".y.npy")
        return np.load(path, mmap_mode="r"), y, path
    rng = np.random.default_rng(0)
    beta = rng.standard_normal(n - 1)
    # the same numbers as one rng.random((n - 1, m)) call and one beta @ X, in blocks: float64
    # beta @ float32 X would cast all of X to float64 (2 × X, the whole peak of run 3's
    # (1001, 1e5) f32 row), and .astype(float64) of a float32 X would hold both
    X = np.empty((n - 1, m), dtype)
    rows = max(1, 2**24 // max(1, m))
    for s in range(0, n - 1, rows):
        X[s : s + rows] = rng.random((min(rows, n - 1 - s), m), dtype=np.float32)
    y64 = np.empty(m)
    cols = max(1, 2**22 // max(1, n))
    for s in range(0, m, cols):
        y64[s : s + cols] = beta @ X[:, s : s + cols].astype(np.float64)
    y = (y64 + 5 + 0.1 * rng.standard_normal(m)).astype(dtype)[None, :]
    return X, y, path


def _write_npy(path: str, n: int, m: int, dtype: str) -> None:
    """:func:`data`'s memory-mapped X, written to ``path`` in blocks (its y to ``path.y.npy``):
    run in a child process, so that the pages it writes are never the benchmark's."""
    rng = np.random.default_rng(0)
    beta = rng.standard_normal(n - 1)
    X = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=(n - 1, m))
    y = np.empty((1, m), dtype)
    for s in range(0, m, 50_000):
        block = rng.random((n - 1, min(50_000, m - s)), dtype=np.float32).astype(dtype)
        X[:, s : s + block.shape[1]] = block
        y[0, s : s + block.shape[1]] = beta @ block + 5
    X.flush()
    np.save(path + ".y.npy", y)


def lambda_max(X: np.ndarray, iterations: int = 30) -> float:
    r""":math:`\lambda_{\max}` of :math:`(2/m) X_b X_b^\top`, :math:`X_b = [1; X]`, by power
    iteration on X itself (the ones row applied implicitly: no prepared copy)."""
    v = np.ones(X.shape[0] + 1)
    lam = 0.0
    for _ in range(iterations):
        # X_bᵀ v, (m,), kept in X's dtype: a float64 r (NumPy 2 promotes by the float64 v[0])
        # would make X @ r cast all of X to float64, an 8 GB temporary at (1001, 1e6) float32
        r = v[1:].astype(X.dtype) @ X + X.dtype.type(v[0])
        hv = (2 / X.shape[1]) * np.concatenate([[r.sum(dtype=np.float64)], X @ r]).astype(
            np.float64
        )
        lam = float(v @ hv / (v @ v))
        v = hv / np.linalg.norm(hv)
    return lam


def jax_gd_scan(cost, lr: float, steps: int):
    r"""The plain JAX peer: ``steps`` of :math:`w \leftarrow w - \eta\nabla C(w)` as one jitted
    ``lax.scan``, ``train(w0, X, y) -> (w, losses)``; traced on its first call (inside the
    caller's x64 or matmul-precision context)."""
    import jax

    @jax.jit
    def train(w0, X, y):
        vg = jax.value_and_grad(lambda w: cost(w, X, y))

        def body(w, _):
            value, g = vg(w)
            return w - lr * g, value

        return jax.lax.scan(body, w0, None, length=steps)

    return train


def read_ms(X: np.ndarray, repeat: int = 5) -> float:
    return 1e3 * statistics.median(timings(X.sum, repeat))


def run_case(n: int, m: int, dtype: str, steps: int, memmap: bool = False) -> dict:
    import jax
    import jax.numpy as jnp
    import torch

    import gdcheck
    from gdcheck.models._linear import cost, gradient

    model = gdcheck.models.linear_regression()
    Xs, ys, _ = data(3, 200, dtype, False)  # warm every library once, at another shape
    gdcheck.crosscheck(model, Xs, ys, lr=0.1, steps=3, dtype=dtype)
    base = rss_mb()

    X, y, path = data(n, m, dtype, memmap)
    x_bytes = X.nbytes
    t_read = read_ms(X)
    try:
        lr = 1.0 / lambda_max(X, 10 if memmap else 30)
        before = peak_mb()  # the data and lambda_max (clear_refs resets ru_maxrss too)
        windowed = reset_peak()
        # Timed as the plain loops are: twice (once for the big case), the faster kept, JAX's
        # compiled functions cleared before each so that both include their compilation.
        # (a result holds its prepared data: only one result is alive at a time)
        wall, peak, own = float("inf"), before, float("nan")
        for attempt in range(1 if memmap else 2):
            _clear_compiled(jax)
            t0 = time.perf_counter()
            run = gdcheck.crosscheck(model, X, y, lr=lr, steps=steps, dtype=dtype)
            took = time.perf_counter() - t0
            if attempt == 0:
                peak = max(before, peak_mb())  # the process's, as in runs 1-3
                own = window_peak_mb() if windowed else float("nan")  # the call's alone
            if took < wall:
                wall, per_step = took, _per_step(run, steps)
                passed, notes = run.passed, list(run.notes)
            del run

        plain = {"numpy": float("nan"), "jax": float("nan"), "jax_warm": float("nan")}
        plain["torch"] = float("nan")
        if (
            not memmap
        ):  # the big case: no plain loops (minutes more; the overhead is measured below)
            Xb, yb = model.prepare(X, y)
            # twice, the faster of each: a noisy machine only slows the loops
            runs = [_plain_loops(Xb, yb, lr, steps, dtype, jax, jnp, torch, cost, gradient)]
            runs.append(_plain_loops(Xb, yb, lr, steps, dtype, jax, jnp, torch, cost, gradient))
            plain = {k: min(r[k] for r in runs) for k in runs[0]}
            per_step["numpy plain loop"] = 1e3 * plain["numpy"] / steps
            per_step["jax plain lax.scan (warm)"] = 1e3 * plain["jax_warm"] / steps
            per_step["torch plain loop"] = 1e3 * plain["torch"] / steps
    finally:
        if path is not None:
            os.unlink(path)
    return {
        "n": n,
        "m": m,
        "dtype": dtype,
        "steps": steps,
        "lr": lr,
        "passed": passed,
        "x_mb": x_bytes / 2**20,
        "read_ms": t_read,
        "gb_s": x_bytes / (t_read * 1e-3) / 1e9,
        "per_step_ms": per_step,
        "crosscheck_s": wall,
        "plain_s": plain,
        "overhead": wall / (plain["numpy"] + plain["jax"] + plain["torch"]),
        "base_mb": base,
        "peak_mb": peak,
        "peak_x": peak * 2**20 / x_bytes,
        "peak_above_x": (peak - base) * 2**20 / x_bytes,
        "crosscheck_peak_mb": own,
        "crosscheck_peak_x": own * 2**20 / x_bytes,
        "crosscheck_peak_above_x": (own - base) * 2**20 / x_bytes,
        "stages": {k: round(v, 2) for k, v in _stages(per_step, steps).items()},
        "notes": notes,
    }


def _per_step(run, steps: int) -> dict:
    """ms a step of each backend's trajectory and shadow check."""
    per_step = {"numpy trajectory": 1e3 * run.reference.seconds / steps}
    for name, r in run.runs.items():
        if name != "numpy":
            per_step[f"{name} trajectory"] = 1e3 * r.trajectory.seconds / steps
            per_step[f"{name} shadow"] = 1e3 * r.shadow_seconds / (steps + 1)
    return per_step


def _clear_compiled(jax) -> None:
    """Forget every compiled JAX function (JAX's caches and gdcheck's JAX backend's)."""
    from gdcheck import backends

    jax.clear_caches()
    backends.get("jax")._cache.clear()


def _stages(per_step: dict, steps: int) -> dict:
    return {k: v * steps / 1e3 for k, v in per_step.items() if "plain" not in k}


def _plain_loops(Xb, yb, lr, steps, dtype, jax, jnp, torch, cost, gradient) -> dict:
    """Seconds of each library's own loop: loss, gradient, update, the losses kept."""
    out = {}
    w = np.zeros((Xb.shape[0], 1), dtype)
    losses = np.empty(steps)
    t0 = time.perf_counter()
    for k in range(steps):
        losses[k] = cost(w, Xb, yb)
        w = w - lr * gradient(w, Xb, yb)
    out["numpy"] = time.perf_counter() - t0

    with jax.enable_x64(dtype == "float64"):
        Xj, yj = jax.device_put(Xb, may_alias=True), jax.device_put(yb, may_alias=True)

        _clear_compiled(jax)
        train = jax_gd_scan(cost, lr, steps)
        w0 = jnp.zeros((Xb.shape[0], 1), dtype)
        t0 = time.perf_counter()
        jax.block_until_ready(train(w0, Xj, yj))
        out["jax"] = time.perf_counter() - t0  # first call: compilation included, as crosscheck
        t0 = time.perf_counter()
        jax.block_until_ready(train(w0, Xj, yj))
        out["jax_warm"] = time.perf_counter() - t0

    Xt, yt = torch.from_numpy(Xb), torch.from_numpy(yb)
    wt = torch.zeros((Xb.shape[0], 1), dtype=Xt.dtype, requires_grad=True)
    opt = torch.optim.SGD([wt], lr=lr)
    t0 = time.perf_counter()
    for k in range(steps):
        opt.zero_grad()
        value = cost(wt, Xt, yt)
        losses[k] = value.item()
        value.backward()
        opt.step()
    out["torch"] = time.perf_counter() - t0
    return out
