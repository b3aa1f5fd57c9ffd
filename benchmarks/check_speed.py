"""check_gradient beside torch.autograd.gradcheck, jax check_grads and scipy check_grad.

Run: ``python benchmarks/check_speed.py [--sizes 10 100 1000] [--m 10000] [--repeat 3]``.
The same loss (the tutorial's MSE, row-major ``X`` (m, n), float64) and the same point for
every tool. Prints the median over ``--repeat`` calls after one warm-up call (the cold first
call of check_gradient is printed too), and the ratio gradcheck ÷ check_gradient for n = 1000.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np


def median_time(fn: Callable[[], object], repeat: int, warm: bool = True) -> float:
    if warm:
        fn()
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--sizes", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--m", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()

    import gdcheck

    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.mean((X @ w - y) ** 2)

    def grad(w, X, y):
        return 2 * X.T @ (X @ w - y) / X.shape[0]

    print(f"m = {args.m} examples, float64, median of {args.repeat} after a warm-up (seconds)")
    header = f"{'n':>6} {'check_gradient':>15} {'(cold)':>8} {'gradcheck':>10} {'fast_mode':>10} {'check_grads':>12} {'scipy':>8} {'ratio':>7}"
    print(header)
    for n in args.sizes:
        row = measure(n, args.m, args.repeat, loss, grad)
        print(
            f"{n:>6} {row['ours']:>15.4f} {row['cold']:>8.3f} {row['gradcheck']:>10.3f} "
            f"{row['fast']:>10.4f} {row['check_grads']:>12.4f} {row['scipy']:>8.4f} "
            f"{row['gradcheck'] / row['ours']:>6.0f}×"
        )
    print("ratio = torch.autograd.gradcheck (default mode) ÷ check_gradient")


def measure(n: int, m: int, repeat: int, loss: Callable, grad: Callable) -> dict[str, float]:
    """Seconds per call of each tool on one problem of n parameters and m examples."""
    import jax
    import jax.numpy as jnp
    import scipy.optimize
    import torch
    from jax.test_util import check_grads

    import gdcheck

    rng = np.random.default_rng(n)
    X = rng.standard_normal((m, n))
    y = X @ rng.standard_normal(n) + 0.1 * rng.standard_normal(m)
    w = rng.standard_normal(n)
    row: dict[str, float] = {}

    t0 = time.perf_counter()
    res = gdcheck.check_gradient(loss, grad, w, X, y)
    row["cold"] = time.perf_counter() - t0
    assert res.passed, str(res)
    row["ours"] = median_time(
        lambda: gdcheck.check_gradient(loss, grad, w, X, y), repeat, warm=False
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
