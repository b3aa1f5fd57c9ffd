"""``gdcheck demo`` and ``gdcheck run`` as a user runs them."""

from __future__ import annotations

import json

import numpy as np

from gdcheck.cli import main
from gdcheck.report import SCHEMA_VERSION


def test_demo_prints_the_tutorials_costs_tables_and_verdict(tmp_path, capsys):
    code = main(["demo", "--steps", "4000", "--out", str(tmp_path)])
    out = capsys.readouterr().out
    assert code == 0
    lines = [line for line in out.splitlines() if line.startswith("Cost at iteration")]
    assert [line.split()[3] for line in lines] == ["0", "2000", "4000"]
    assert lines[0].startswith("Cost at iteration 0 is 44.12")
    said = out.splitlines()[out.splitlines().index(lines[0]) - 1]
    assert said.startswith("The tutorial's own lines (its handwritten loop")  # not unexplained
    assert "PASS" in out and "numpy (reference)" in out and "jax" in out and "torch" in out
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["schema_version"] == SCHEMA_VERSION
    assert report["verdict"]["passed"] is True
    assert (tmp_path / "report.md").read_text().startswith("# gdcheck report")


def test_quiet_prints_only_the_verdict(capsys):
    # numpy alone compares nothing: exit 3, never a pass (CI must not read it as success)
    assert main(["demo", "--steps", "10", "--quiet", "--no-save", "--backends", "numpy"]) == 3
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("NOT CHECKED")  # the two verdicts only
    assert out[1].startswith("NOT CONVERGED after 10 steps")


def test_run_on_a_users_npy(tmp_path, capsys):
    rng = np.random.default_rng(1)
    x = rng.random((200, 2))
    data = np.column_stack([x, 1.0 + x @ np.array([2.0, -1.0])])
    np.save(tmp_path / "mine.npy", data)
    code = main(
        [
            "run",
            "--data",
            str(tmp_path / "mine.npy"),
            "--steps",
            "300",
            "--lr",
            "0.1",
            "--dtype",
            "float32",
            "--out",
            str(tmp_path / "rep"),
        ]
    )
    assert code == 0
    report = json.loads((tmp_path / "rep" / "report.json").read_text())
    # two features and the intercept: w (3, 1) (the config names params, not n_features)
    assert report["config"]["params"] == {"w": [3, 1]} and report["config"]["dtype"] == "float32"
    assert report["config"]["n_examples"] == 200
    assert "PASS" in capsys.readouterr().out
