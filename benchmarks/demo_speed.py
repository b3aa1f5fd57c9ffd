"""Time ``gdcheck demo`` end to end (imports included) and each backend's share.

Run: ``python benchmarks/demo_speed.py [--repeat 3]``. Prints medians of one run on this
machine; compare figures only within one run (shared machines are noisy).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time


def wall(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    demo = [py, "-m", "gdcheck", "demo", "--no-save", "--quiet"]
    runs = [wall(demo) for _ in range(args.repeat)]
    print(
        f"gdcheck demo end to end (imports included): median {statistics.median(runs):.2f} s "
        f"over {args.repeat} runs {[round(r, 2) for r in runs]}"
    )
    for label, code in (
        ("python + gdcheck + numpy", "import gdcheck.trajectory"),
        ("import jax + optax", "import jax, jax.numpy, optax"),
        ("import torch", "import torch"),
    ):
        t = [wall([py, "-c", code]) for _ in range(args.repeat)]
        print(f"  {label:<26} {statistics.median(t):6.2f} s (process start included)")

    import gdcheck

    X, y = gdcheck.data.tutorial(seed=0)
    result = gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, lr=0.01, steps=10_000)
    print("  per backend, in one process (10,000 steps, float64):")
    for name, run in result.runs.items():
        print(
            f"    {name:<6} shadow check {run.shadow_seconds:6.2f} s   "
            f"own trajectory {run.trajectory.seconds:6.2f} s"
        )
    print(f"  crosscheck total {result.seconds:.2f} s")


if __name__ == "__main__":
    main()
