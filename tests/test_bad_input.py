"""Every bad input of the core issue, from the API (ValueError/TypeError) and the CLI (exit 2).

Each case asserts the message: what was wrong, the shape or value received, how to fix it.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck import backends as registry
from gdcheck.cli import main

MODEL = gdcheck.models.linear_regression()
X, Y = gdcheck.data.tutorial(seed=0)


def _nan(a):
    a = a.copy()
    a[0, 7] = np.nan
    return a


def _inf(a):
    a = a.copy()
    a[0, 3] = np.inf
    return a


# (id, X, y, kwargs, exception type, message fragments)
API_CASES = [
    (
        "y_column",
        X,
        Y.T,
        {},
        ValueError,
        ["y has shape (500, 1); expected (1, 500)", "broadcasts to (500, 500)", "y.T"],
    ),
    (
        "y_flat",
        X,
        Y.ravel(),
        {},
        ValueError,
        ["y has shape (500,); expected (1, 500)", "y.reshape(1, -1)"],
    ),
    (
        "m_differs",
        X,
        Y[:, :400],
        {},
        ValueError,
        ["X has 500 examples", "y has 400", "same number of examples"],
    ),
    (
        "nan_in_X",
        _nan(X),
        Y,
        {},
        ValueError,
        ["X contains 1 NaN value(s)", "index (0, 7) (feature 0 of example 7"],
    ),
    ("inf_in_y", X, _inf(Y), {}, ValueError, ["y contains 1 Inf value(s)", "index (0, 3)"]),
    ("lr_zero", X, Y, {"lr": 0}, ValueError, ["lr must be a finite number > 0, got 0.0"]),
    ("lr_negative", X, Y, {"lr": -0.1}, ValueError, ["lr must be a finite number > 0, got -0.1"]),
    ("lr_text", X, Y, {"lr": "0.1"}, TypeError, ["lr must be a number, got str"]),
    ("steps_negative", X, Y, {"steps": -1}, ValueError, ["steps must be >= 0, got -1"]),
    ("steps_float", X, Y, {"steps": 2.5}, TypeError, ["steps must be an integer, got float"]),
    (
        "unknown_backend",
        X,
        Y,
        {"backends": ("numpy", "tensorflow")},
        ValueError,
        ["unknown backend 'tensorflow'; choose from numpy, jax, torch"],
    ),
    (
        "unknown_dtype",
        X,
        Y,
        {"dtype": "float16"},
        ValueError,
        ["dtype 'float16' is not supported; use one of float32, float64"],
    ),
    (
        "X_1d",
        X.ravel(),
        Y,
        {},
        ValueError,
        ["X has shape (500,); expected (n, m)", "X.reshape(1, -1)"],
    ),
    ("X_text", [["a", "b"]], Y, {}, TypeError, ["X has dtype <U1; expected numbers"]),
]


@pytest.mark.parametrize(
    ("X_", "y_", "kwargs", "exc", "fragments"),
    [pytest.param(*c[1:], id=c[0]) for c in API_CASES],
)
def test_api_refuses_with_the_reason(X_, y_, kwargs, exc, fragments):
    with pytest.raises(exc) as err:
        gdcheck.crosscheck(MODEL, X_, y_, steps=kwargs.pop("steps", 5), **kwargs)
    message = str(err.value)
    assert message.startswith("gdcheck: ")
    for fragment in fragments:
        assert fragment in message


def test_missing_backend_asked_by_name_says_how_to_install(monkeypatch):
    monkeypatch.setattr(type(registry._REGISTRY["torch"]), "is_available", lambda self: False)
    with pytest.raises(
        ValueError,
        match=r"backend 'torch' is not installed; install it with: pip install 'gdcheck\[torch\]'",
    ):
        gdcheck.crosscheck(MODEL, X, Y, steps=5, backends=("numpy", "torch"))


def test_missing_backend_not_asked_for_is_skipped_with_a_note(monkeypatch):
    monkeypatch.setattr(type(registry._REGISTRY["torch"]), "is_available", lambda self: False)
    run = gdcheck.crosscheck(MODEL, X, Y, steps=5)
    assert "torch" not in run.runs and "numpy" in run.runs
    assert run.passed
    assert any(
        "backend 'torch' skipped: not installed" in n and "pip install" in n for n in run.notes
    )


def test_divergence_is_reported_with_the_stable_bound():
    run = gdcheck.crosscheck(MODEL, X, Y, lr=100, steps=200, backends=("numpy",))
    assert not run.passed
    (finding,) = [f for f in run.findings if f.kind == "diverged"]
    assert 0 < finding.step < 200
    assert f"diverged at step {finding.step}" in finding.message
    assert "stable only for lr < 2/λmax = 0.76" in finding.message
    assert "lr = 100" in finding.message


# CLI: one line on stderr, exit 2, never a traceback.
CLI_CASES = [
    (["demo", "--lr", "0"], "the learning rate must be a finite number > 0"),
    (["demo", "--steps", "-3"], "steps must be >= 0, got -3"),
    (["demo", "--backends", "numpy,tensorflow"], "unknown backend 'tensorflow'"),
    (["demo", "--dtype", "float16"], "invalid choice: 'float16'"),
    (
        ["demo", "--lr", "abc"],
        "'abc' is not a learning rate; pass a number > 0 such as 0.01, or auto",
    ),
    (["run", "--data", "/nonexistent.csv", "--target", "y"], "does not exist"),
    (["frobnicate"], "invalid choice: 'frobnicate'"),
]


@pytest.mark.parametrize(("argv", "fragment"), CLI_CASES, ids=[" ".join(c[0]) for c in CLI_CASES])
def test_cli_bad_usage_exits_2_with_one_line(argv, fragment, capsys):
    with pytest.raises(SystemExit) as exit_info:
        code = main([*argv, "--no-save"] if argv[0] in ("demo", "run") else argv)
        raise SystemExit(code)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert fragment in err
    assert "Traceback" not in err
    assert [line for line in err.splitlines() if line.startswith("gdcheck: error:")]


def test_cli_y_column_csv_run_diverging_exits_1(tmp_path, capsys):
    f = tmp_path / "data.csv"
    rows = "\n".join(f"{x},{y}" for x, y in zip(X[0], Y[0], strict=True))
    f.write_text("x,y\n" + rows + "\n")
    code = main(
        [
            "run",
            "--data",
            str(f),
            "--target",
            "y",
            "--lr",
            "100",
            "--steps",
            "300",
            "--backends",
            "numpy",
            "--out",
            str(tmp_path / "out"),
        ]
    )
    out = capsys.readouterr().out
    assert code == 1
    assert "diverged at step" in out and "2/λmax" in out
    assert (tmp_path / "out" / "report.json").exists()


def test_cli_refuses_to_overwrite_a_foreign_report(tmp_path, capsys):
    (tmp_path / "report.json").write_text('{"mine": true}')
    code = main(["demo", "--steps", "5", "--backends", "numpy", "--out", str(tmp_path)])
    assert code == 2
    assert "was not written by gdcheck; refusing to overwrite it" in capsys.readouterr().err
    assert (tmp_path / "report.json").read_text() == '{"mine": true}'


def test_a_run_past_the_bound_that_has_not_overflowed_yet_fails():
    run = gdcheck.crosscheck(MODEL, X, Y, lr=0.8, steps=300, backends=("numpy",))
    assert not run.passed
    (finding,) = [f for f in run.findings if f.kind == "diverged"]
    assert "lr = 0.8 exceeds the stable bound 2/λmax = 0.76" in finding.message
    assert "has not overflowed yet" in finding.message


def test_a_diverged_run_saves_its_report(tmp_path):
    import json

    run = gdcheck.crosscheck(MODEL, X, Y, lr=100, steps=2000, backends=("numpy", "torch"))
    assert np.isnan(run.reference.weights[-1]).all()
    paths = run.save(tmp_path / "rep")
    report = json.loads(paths["json"].read_text())  # NaN and Inf are stored as null
    assert report["verdict"]["passed"] is False
    assert report["reference"]["diverged_at"] == run.reference.diverged_at


def test_cli_refuses_an_unusable_out_before_the_work(tmp_path, capsys):
    f = tmp_path / "notes.txt"
    f.write_text("mine")
    assert main(["demo", "--out", str(f / "sub")]) == 2
    captured = capsys.readouterr()
    assert "is a file" in captured.err
    assert "Cost at iteration" not in captured.out  # refused before the run, not after
    assert f.read_text() == "mine"


def test_explain_html_never_overwrites_a_users_file(tmp_path, capsys):
    f = tmp_path / "mine.html"
    f.write_text("my notes")
    assert main(["explain", "--html", str(f)]) == 2
    assert "was not written by gdcheck explain" in capsys.readouterr().err
    assert f.read_text() == "my notes"
