"""check_gradient beside torch.autograd.gradcheck, jax check_grads and scipy check_grad.

Run: ``python benchmarks/check_speed.py [--sizes 10 100 1000] [--m 10000] [--repeat 7]``.
The same loss (the tutorial's MSE, row-major ``X`` (m, n), float64) and the same point for
every tool. Each size runs in a fresh subprocess, which imports the libraries, makes one
check at another (tiny) shape, then times:

* ``first``: the first ``check_gradient`` at the new shape (what a user waits for);
* ``warm``: the median of ``--repeat`` further calls at that shape;
* the peers in the same process, each the median of ``--repeat`` after a warm-up call
  (gradcheck's default mode at n ≥ 1000: one call, it takes seconds).

It prints gradcheck ÷ first call and fast_mode ÷ warm, and the check's own account of what
ran (the autodiff backends consulted, the entries it answers for).

``--without-complex-step`` is an experiment, inside the benchmark only: the witnesses skip
the complex step (central differences along two random directions stand in), to show what
the complex step costs at this size (``benchmarks/NOTES.md``).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _timing import timings  # benchmarks/, this script's folder


def median_time(fn: Callable[[], object], repeat: int, warm: bool = True) -> float:
    return statistics.median(timings(fn, repeat, warm))


def loss(w, X, y):
    import gdcheck

    xp = gdcheck.namespace(w)
    return xp.mean((X @ w - y) ** 2)


def grad(w, X, y):
    return (2 / X.shape[0]) * (X.T @ (X @ w - y))


def grad_as_written(w, X, y):
    """The same gradient as run 1–3 wrote it: ``2 * X.T`` forms a scaled copy of X first."""
    return 2 * X.T @ (X @ w - y) / X.shape[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--m", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--one", type=int, help="internal: measure one size, print JSON")
    parser.add_argument(
        "--without-complex-step", action="store_true", help="experiment: see the docstring"
    )
    args = parser.parse_args()
    if args.without_complex_step:
        _skip_complex_step()
    if args.one is not None:
        print(json.dumps(measure(args.one, args.m, args.repeat, loss, grad)))
        return

    print(
        f"m = {args.m} examples, float64; a fresh process per size; warm = median of "
        f"{args.repeat} (seconds)"
    )
    print(
        f"{'n':>6} {'first':>7} {'warm':>7} {'gradcheck':>10} {'fast_mode':>10} "
        f"{'check_grads':>12} {'scipy':>8} {'gc÷first':>9} {'fast÷warm':>10}  backends"
    )
    for n in args.sizes:
        one = ["--one", str(n), "--m", str(args.m), "--repeat", str(args.repeat)]
        one += ["--without-complex-step"] if args.without_complex_step else []
        out = subprocess.run(
            [sys.executable, str(Path(__file__).resolve()), *one],
            capture_output=True,
            text=True,
            check=False,
        )
        if out.returncode != 0:
            print(f"{n:>6} FAILED: {out.stderr.strip().splitlines()[-1:]}")
            continue
        r = json.loads(out.stdout.strip().splitlines()[-1])
        print(
            f"{n:>6} {r['cold']:>7.3f} {r['ours']:>7.4f} {r['gradcheck']:>10.3f} "
            f"{r['fast']:>10.4f} {r['check_grads']:>12.4f} {r['scipy']:>8.4f} "
            f"{r['gradcheck'] / r['cold']:>8.0f}× {r['fast'] / r['ours']:>9.2f}×  "
            f"{'+'.join(r['backends'])} ({r['entries']} entries)"
        )
        print(
            f"{'':>6} your grad alone {r['yours']:.4f}; warm with the grad written 2 * X.T @ r / m "
            f"(a scaled copy of X first) {r['ours_as_written']:.4f}; explicit backends=('torch', "
            f"'jax'): first {r['cold_both']:.3f}, warm {r['ours_both']:.4f}; the process's first "
            f"check (tiny shape) {r['process_first']:.3f}"
        )
    print("gc÷first = torch.autograd.gradcheck (default mode) ÷ check_gradient's first call")


def _skip_complex_step() -> None:
    from gdcheck.check import _witness_run
    from gdcheck.check._witnesses import WitnessResult

    def skipped(f: object, p: object, dirs: object, mode: str) -> WitnessResult:
        return WitnessResult("complex step", mode, skipped="benchmark experiment")

    _witness_run.complex_step = skipped


def measure(n: int, m: int, repeat: int, loss: Callable, grad: Callable) -> dict[str, float]:
    """Seconds per call of each tool on one problem of n parameters and m examples.

    Call it in a fresh process: ``cold`` is the first check_gradient at this shape, after
    one check at a tiny shape (``process_first``) has loaded what any check loads.
    """
    import jax
    import jax.numpy as jnp
    import scipy.optimize
    import torch
    from jax.test_util import check_grads

    import gdcheck

    rng = np.random.default_rng(n)
    row: dict = {}
    Xs = rng.standard_normal((50, 3))
    t0 = time.perf_counter()
    gdcheck.check_gradient(loss, grad, rng.standard_normal(3), Xs, Xs[:, 0])
    row["process_first"] = time.perf_counter() - t0

    X = rng.standard_normal((m, n))
    y = X @ rng.standard_normal(n) + 0.1 * rng.standard_normal(m)
    w = rng.standard_normal(n)

    t0 = time.perf_counter()
    res = gdcheck.check_gradient(loss, grad, w, X, y)
    row["cold"] = time.perf_counter() - t0
    assert res.passed, str(res)
    row["backends"] = sorted(res.autodiff)
    row["entries"] = int(res.errors["params"].size)  # answered per entry
    row["ours"] = median_time(
        lambda: gdcheck.check_gradient(loss, grad, w, X, y), repeat, warm=False
    )
    row["yours"] = median_time(lambda: grad(w, X, y), repeat)
    row["ours_as_written"] = median_time(
        lambda: gdcheck.check_gradient(loss, grad_as_written, w, X, y), repeat
    )
    both = ("torch", "jax")
    t0 = time.perf_counter()
    gdcheck.check_gradient(loss, grad, w, X, y, backends=both)
    row["cold_both"] = time.perf_counter() - t0  # torch is warm here: JAX's first call
    row["ours_both"] = median_time(
        lambda: gdcheck.check_gradient(loss, grad, w, X, y, backends=both), repeat, warm=False
    )

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    wt = torch.from_numpy(w.copy()).requires_grad_(True)

    def tloss(w_: torch.Tensor) -> torch.Tensor:
        return ((Xt @ w_ - yt) ** 2).mean()

    slow = n >= 1000  # default gradcheck takes seconds here: one timed call, no warm-up
    row["gradcheck"] = median_time(
        lambda: torch.autograd.gradcheck(tloss, (wt,)), 1 if slow else repeat, warm=not slow
    )
    row["fast"] = median_time(
        lambda: torch.autograd.gradcheck(tloss, (wt,), fast_mode=True), repeat
    )

    with jax.enable_x64(True):
        Xj, yj, wj = jnp.asarray(X), jnp.asarray(y), jnp.asarray(w)

        def jloss(w_: jax.Array) -> jax.Array:
            return jnp.mean((Xj @ w_ - yj) ** 2)

        row["check_grads"] = median_time(
            lambda: check_grads(jloss, (wj,), order=1, modes=("rev",)), repeat
        )

    row["scipy"] = median_time(
        lambda: scipy.optimize.check_grad(
            lambda v: float(np.mean((X @ v - y) ** 2)), lambda v: grad(v, X, y), w
        ),
        repeat,
    )
    return row


if __name__ == "__main__":
    main()
