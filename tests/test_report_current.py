"""The committed reports/tutorial/ is what the current code produces.

Regenerate with ``gdcheck demo --out reports/tutorial --screenshot`` (see README). Two checks:
every derived file re-renders byte for byte from the committed report.json, and a fresh run
of the tutorial reproduces the committed numbers (to 1e-9: BLAS kernels differ across CPUs
in the last bits, which is exactly what gdcheck measures, not what this test is about).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gdcheck.report import SCHEMA_VERSION, load_report
from gdcheck.report.files import render_files

COMMITTED = Path(__file__).resolve().parents[1] / "reports" / "tutorial"
REGENERATE = "regenerate with: gdcheck demo --out reports/tutorial --screenshot"


def test_committed_report_has_the_current_schema():
    report = load_report(COMMITTED / "report.json")
    assert report["schema_version"] == SCHEMA_VERSION, REGENERATE
    assert report["config"] == {
        "model": "linear_regression",
        "lr": 0.01,
        "steps": 10_000,
        "dtype": "float64",
        "backends": ["numpy", "jax", "torch"],
        "optimizer": "sgd",
        "update": "handwritten",
        "params": {"w": [2, 1]},
        "n_params": 2,
        "n_examples": 500,
    }, REGENERATE


def test_derived_files_rerender_identically(tmp_path):
    report = load_report(COMMITTED / "report.json")
    written = render_files(report, tmp_path)
    assert written, "render_files wrote nothing"
    for path in written.values():
        committed = COMMITTED / path.name
        assert committed.exists(), f"{path.name} is missing from reports/tutorial; {REGENERATE}"
        assert path.read_bytes() == committed.read_bytes(), f"{path.name} is stale; {REGENERATE}"


def _close(a, b, path=""):
    if isinstance(a, dict):
        assert a.keys() == b.keys(), f"keys differ at {path}"
        for k in a:
            _close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), f"length differs at {path}"
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) and isinstance(b, float):
        assert b == pytest.approx(a, rel=1e-9, abs=1e-12), f"{path}: {a} vs {b}"
    else:
        assert a == b, f"{path}: {a!r} vs {b!r}"


def test_a_fresh_run_reproduces_the_committed_numbers(tutorial64):
    committed = json.loads((COMMITTED / "report.json").read_text())
    fresh = tutorial64.to_dict()
    assert fresh["verdict"]["passed"] == committed["verdict"]["passed"], REGENERATE
    assert fresh["verdict"]["text"] == committed["verdict"]["text"], REGENERATE
    _close(committed["reference"], fresh["reference"], "reference")
    _close(committed["analysis"], fresh["analysis"], "analysis")
    for name, b in committed["backends"].items():
        for key in ("final_weights", "final_loss", "distance_to_least_squares", "diverged_at"):
            _close(
                b["trajectory"][key], fresh["backends"][name]["trajectory"][key], f"{name}.{key}"
            )
        assert b["info"]["update"] == fresh["backends"][name]["info"]["update"]
    assert committed["series"]["steps"] == fresh["series"]["steps"]
