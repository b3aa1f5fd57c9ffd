"""``gdcheck demo/run/check`` for every model of the series, as a user runs them."""

from __future__ import annotations

import argparse
import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest

import gdcheck
from gdcheck.cli import build_parser, main
from gdcheck.cli._options import MODEL_DEFAULTS

EXAMPLE = Path(gdcheck.__file__).parent / "examples" / "logistic_check.py"
QUICK = ["--backends", "numpy,jax,torch"]

DEMO_MODELS = ["linear_regression", "ridge", "logistic_regression", "softmax_regression", "mlp"]

# (dataset, a model it fits)
DATASET_CASES = [
    ("diabetes", "ridge"),
    ("breast_cancer", "logistic_regression"),
    ("iris", "mlp"),
    ("digits", "softmax_regression"),
]

# (argv, fragment of the one-line error); every one exits 2 without a traceback
EXIT_2_CASES = [
    (["demo", "--model", "perceptron"], "argument --model: invalid choice: 'perceptron'"),
    (["run", "--model", "svm", "--dataset", "iris"], "argument --model: invalid choice: 'svm'"),
    (["demo", "--optimizer", "rmsprop"], "argument --optimizer: invalid choice: 'rmsprop'"),
    (
        ["run", "--dataset", "iris", "--model", "ridge"],
        "iris is a multiclass dataset, which ridge does not fit; it fits softmax_regression, mlp",
    ),
    (
        ["run", "--dataset", "diabetes", "--model", "logistic_regression"],
        "Datasets for logistic_regression: breast_cancer",
    ),
    (["run", "--dataset", "iris", "--target", "y"], "--target 'y' is for --data files"),
    (
        ["run", "--dataset", "iris", "--data", "x.csv"],
        "argument --data: not allowed with argument --dataset",
    ),
    (["run"], "one of the arguments --data --dataset is required"),
    (
        ["demo", "--model", "mlp", "--lr", "-1"],
        "'-1': the learning rate must be a finite number > 0",
    ),
]


def _exit_code(argv: list[str]) -> int:
    """``main(argv)``, with argparse's SystemExit turned into its exit code."""
    try:
        return main(argv)
    except SystemExit as exc:
        return int(exc.code or 0)


@pytest.mark.parametrize("model", DEMO_MODELS)
def test_demo_runs_every_model(model, capsys):
    code = main(["demo", "--model", model, "--steps", "30", "--no-save", *QUICK])
    out = capsys.readouterr().out
    " ".join(out.split())  # the terminal wraps at its width
    assert code == 0, out
    assert f"— {model}: lr={MODEL_DEFAULTS[model].lr:g}, steps=30" in out  # the header names it
    verdict = [line for line in out.splitlines() if line.startswith(("PASS", "FAIL"))]
    assert len(verdict) == 1 and verdict[0].startswith("PASS — jax, torch agree")
    assert "at every one of the 31 points w_0 … w_30 (30 updates)" in " ".join(out.split())
    tutorial_costs = [line for line in out.splitlines() if line.startswith("Cost at iteration")]
    if model == "linear_regression":  # the tutorial's lines, exactly as before
        assert [line.split()[3] for line in tutorial_costs] == ["0"]  # every 2,000, as it did
        assert tutorial_costs[0].startswith("Cost at iteration 0 is 44.12")
    else:
        assert tutorial_costs == []
        assert f"gdcheck.data.synthetic({model!r}, seed=0)" in out


def test_the_default_demo_is_the_tutorial_and_writes_reports_tutorial(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    args = build_parser().parse_args(["demo"])
    assert (args.model, args.lr, args.steps, args.out) == ("linear_regression", None, None, None)
    assert MODEL_DEFAULTS["linear_regression"][:2] == (0.01, 10_000)
    assert MODEL_DEFAULTS["mlp"].demo_steps <= 1_000
    assert main(["demo", "--steps", "5", "--backends", "numpy", "-q"]) == 3  # nothing compared
    report = json.loads((tmp_path / "reports" / "tutorial" / "report.json").read_text())
    assert report["config"]["model"] == "linear_regression" and report["config"]["lr"] == 0.01


def test_another_models_demo_writes_reports_demo_model(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    assert main(["demo", "--model", "ridge", "--steps", "5", "--backends", "numpy", "-q"]) == 3
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2 and out[0].startswith("NOT CHECKED")  # -q: the two verdicts only
    report = json.loads((tmp_path / "reports" / "demo-ridge" / "report.json").read_text())
    assert report["config"]["model"] == "ridge" and report["config"]["steps"] == 5


@pytest.mark.parametrize(
    ("model", "optimizer", "rule"),
    [
        ("linear_regression", "adam", "m ← β₁·m + (1−β₁)·g"),
        ("logistic_regression", "nesterov", "p ← p − η·(g + β·b)"),
    ],
)
def test_demo_optimizer_runs_the_textbook_rule_and_says_so(model, optimizer, rule, capsys):
    argv = ["demo", "--model", model, "--optimizer", optimizer, "--steps", "20", "--no-save"]
    assert main([*argv, *QUICK]) == 0
    out = capsys.readouterr().out
    " ".join(out.split())  # the terminal wraps at its width
    assert f"--optimizer {optimizer}:" in out and "gdcheck.optim's textbook rule" in out
    assert rule in out
    if model == "linear_regression":  # it has a handwritten update, which is set aside
        assert "linear_regression's handwritten update (plain gradient descent) is not used" in out
    else:
        assert "logistic_regression has no handwritten update" in out
    assert out.count("PASS") == 1


@pytest.mark.parametrize(("dataset", "model"), DATASET_CASES)
def test_run_on_each_bundled_dataset(dataset, model, tmp_path, capsys):
    pytest.importorskip("sklearn")
    out_dir = tmp_path / "rep"
    argv = ["run", "--dataset", dataset, "--model", model, "--steps", "20", "--out", str(out_dir)]
    code = main(argv)
    out = capsys.readouterr().out
    " ".join(out.split())  # the terminal wraps at its width
    assert code == 0, out
    report = json.loads((out_dir / "report.json").read_text())
    assert report["config"]["model"] == model
    notes = [n for n in report["notes"] if n.startswith(f"dataset {dataset}:")]
    assert any("features standardised" in n for n in notes), report["notes"]
    assert "features standardised" in out


def test_run_dataset_picks_a_fitting_model_and_names_the_out_dir(tmp_path, monkeypatch):
    pytest.importorskip("sklearn")
    monkeypatch.chdir(tmp_path)
    assert (
        main(["run", "--dataset", "iris", "--steps", "3", "--backends", "numpy", "-q"]) == 3
    )  # nothing compared
    report = json.loads(
        (tmp_path / "reports" / "softmax_regression-iris" / "report.json").read_text()
    )
    assert report["config"]["model"] == "softmax_regression"


def test_run_a_rows_model_on_a_csv_lays_it_out_as_rows(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    X, y = gdcheck.data.synthetic("logistic_regression", seed=1)
    rows = "\n".join(f"{a},{b},{int(t)}" for (a, b), t in zip(X, y, strict=True))
    (tmp_path / "blobs.csv").write_text("x0,x1,label\n" + rows + "\n")
    argv = ["run", "--model", "logistic_regression", "--data", "blobs.csv", "--target", "label"]
    assert main([*argv, "--steps", "10", "--backends", "numpy"]) == 3  # nothing compared
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # the terminal wraps at its width
    assert "laid out as rows, X (200, 2) and y (m,): x0, x1" in flat
    report = json.loads(
        (tmp_path / "reports" / "logistic_regression-blobs" / "report.json").read_text()
    )
    assert report["config"]["params"] == {"w": [2], "b": []}


def test_check_example_along_a_trajectory_passes(capsys):
    assert main(["check", str(EXAMPLE), "--steps", "20", *QUICK]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # the terminal wraps at its width
    assert "— logistic_check: lr=0.5, steps=20" in out  # the file's lr, the file's stem
    assert "PASS — jax, torch agree" in flat and "at every one of the 21 points w_0 … w_20" in flat


def test_check_example_one_point_and_quiet(capsys):
    assert main(["check", str(EXAMPLE), "-q"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 1 and out[0].startswith("gdcheck: gradient check PASSED")


def test_check_a_planted_mistake_names_the_parameter(tmp_path, capsys):
    planted = tmp_path / "planted.py"
    source = EXAMPLE.read_text()
    wrong = source.replace('"b": np.sum(s - y) / m}', '"b": 2 * np.sum(s - y) / m}')
    assert wrong != source, "the example's b gradient moved; update the planted mistake"
    planted.write_text(wrong)
    assert main(["check", str(planted), "--steps", "20", *QUICK]) == 1
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # the terminal wraps at its width
    verdict = flat[flat.index("FAIL") :]
    assert "the handwritten gradient is wrong" in verdict
    assert "entry b:" in verdict and "wrong on all of b" in verdict


def test_check_steps_with_an_optimizer_and_update_from_the_file(tmp_path, capsys):
    f = tmp_path / "heavy.py"
    f.write_text(
        EXAMPLE.read_text() + "\noptimizer = gdcheck.optim.momentum(0.5)\n\n"
        "def update(params, grads, state, lr):\n"
        "    b = grads if state is None else {k: grads[k] + 0.5 * state[k] for k in grads}\n"
        "    return {k: params[k] - lr * b[k] for k in params}, b\n"
    )
    assert main(["check", str(f), "--steps", "20", "--lr", "0.1", *QUICK]) == 0
    out = capsys.readouterr().out
    flat = " ".join(out.split())  # the terminal wraps at its width
    assert "lr=0.1, steps=20" in flat and "optimizer momentum (handwritten update)" in flat


def test_check_steps_without_init_is_refused(tmp_path, capsys):
    example = Path(gdcheck.__file__).parent / "examples" / "linear_regression_check.py"
    shutil.copy(example, tmp_path / "lin.py")
    assert main(["check", str(tmp_path / "lin.py"), "--steps", "5"]) == 2
    err = capsys.readouterr().err
    assert "--steps 5 trains from init(*data), which the file does not define" in err


@pytest.mark.parametrize(
    ("argv", "fragment"), EXIT_2_CASES, ids=[" ".join(c[0]) for c in EXIT_2_CASES]
)
def test_bad_input_exits_2_with_one_line(argv, fragment, capsys):
    pytest.importorskip("sklearn")
    assert _exit_code([*argv, "--no-save"] if argv[0] in ("demo", "run") else argv) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err
    assert len([line for line in err.splitlines() if line.startswith("gdcheck: error:")]) == 1


def test_missing_scikit_learn_exits_2_with_the_install_hint(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "sklearn", None)  # import sklearn now raises ImportError
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    assert main(["run", "--dataset", "diabetes", "--no-save"]) == 2
    err = capsys.readouterr().err
    assert "scikit-learn, which is not installed; pip install 'gdcheck[datasets]'" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def _subparsers() -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in build_parser()._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


@pytest.mark.parametrize("command", ["demo", "run", "check", "report"])
def test_every_option_has_help_that_shows_its_default(command):
    for action in _subparsers()[command]._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        assert action.help, f"gdcheck {command}: {action.dest} has no help text"
        if action.option_strings:
            assert "default" in action.help, f"gdcheck {command} {action.option_strings[0]}"
    quiet = next(a for a in _subparsers()[command]._actions if "-q" in a.option_strings)
    assert quiet.help.startswith("print only the verdict")


def test_demo_help_lists_each_models_default_lr_and_steps():
    lr = next(a for a in _subparsers()["demo"]._actions if "--lr" in a.option_strings)
    steps = next(a for a in _subparsers()["demo"]._actions if "--steps" in a.option_strings)
    for name, defaults in MODEL_DEFAULTS.items():
        assert f"{name} {defaults.lr:g}" in lr.help
        assert f"{name} {defaults.demo_steps:,}" in steps.help
    assert np.isfinite([d.lr for d in MODEL_DEFAULTS.values()]).all()
