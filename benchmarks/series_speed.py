"""Time the cross-check of the series: the MLP on digits for 1,000 steps against the tutorial.

Prints, for each run, the wall time of ``gdcheck.crosscheck`` in this process (imports and
JAX compilation included for the first run, as a user waits for it), the time per step, and
each stage's share. Run: ``python benchmarks/series_speed.py``.
"""

from __future__ import annotations

import json
import time

import gdcheck

CASES = [
    (
        "tutorial (linear_regression)",
        lambda: (gdcheck.models.linear_regression(), gdcheck.data.tutorial(seed=0)),
        0.01,
        10_000,
    ),
    (
        "mlp on digits",
        lambda: (
            gdcheck.models.mlp(hidden=32, l2=1e-4, seed=0),
            gdcheck.data.dataset_for_model("digits", "mlp").data,
        ),
        0.5,
        1_000,
    ),
]


def main() -> None:
    rows = []
    for label, build, lr, steps in CASES:
        model, data = build()
        t0 = time.perf_counter()
        run = gdcheck.crosscheck(model, *data, lr=lr, steps=steps)
        seconds = time.perf_counter() - t0
        stages = {
            name: {
                "shadow": round(r.shadow_seconds, 3),
                "trajectory": round(r.trajectory.seconds, 3),
            }
            for name, r in run.runs.items()
        }
        rows.append(
            {
                "case": label,
                "steps": steps,
                "params": run.config.n_params,
                "passed": run.passed,
                "seconds": round(seconds, 2),
                "ms_per_step": round(1e3 * seconds / steps, 3),
                "stages": stages,
            }
        )
        print(
            f"{label:30s} {steps:6d} steps  {seconds:7.2f} s  {1e3 * seconds / steps:7.3f} ms/step  passed={run.passed}"
        )
    ratio = rows[1]["ms_per_step"] / rows[0]["ms_per_step"]
    print(f"mlp-on-digits step / tutorial step: {ratio:.1f}x")
    print(json.dumps(rows, indent=1))


if __name__ == "__main__":
    main()
