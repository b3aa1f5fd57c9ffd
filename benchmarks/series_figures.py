"""Issue 8's agreement figures: every model of the series at its demo defaults, float64 and
float32 — the largest shadow gradient error over the run and the largest final-weight
difference between the backends, with the verdict. Run: ``python benchmarks/series_figures.py``.
"""

from __future__ import annotations

import numpy as np

import gdcheck
from gdcheck.cli._options import MODEL_DEFAULTS

MODELS = {
    "linear_regression": gdcheck.models.linear_regression,
    "ridge": gdcheck.models.ridge,
    "logistic_regression": gdcheck.models.logistic_regression,
    "softmax_regression": gdcheck.models.softmax_regression,
    "mlp": gdcheck.models.mlp,
}


def main() -> None:
    for name, factory in MODELS.items():
        model, defaults = factory(), MODEL_DEFAULTS[name]
        data = gdcheck.data.synthetic(name, seed=0)
        for dtype in ("float64", "float32"):
            run = gdcheck.crosscheck(
                model, *data, lr=defaults.lr, steps=defaults.demo_steps, dtype=dtype
            )
            ref = run.runs["numpy"].final_weights
            shadow = max(r.errors.rel.max() for r in run.runs.values())
            final = max(
                np.abs(r.final_weights - ref).max() / np.abs(ref).max() for r in run.runs.values()
            )
            kinds = sorted({f.kind for f in run.findings})
            print(
                f"{name:20s} {dtype}  steps={defaults.demo_steps:6,d}  passed={run.passed}  "
                f"shadow rel ≤ {shadow:.2e}  final weights rel ≤ {final:.2e}  findings={kinds}"
            )


if __name__ == "__main__":
    main()
