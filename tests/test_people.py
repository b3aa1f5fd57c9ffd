"""What a person sees: exit codes, -q, --lr auto, help text, widths (issue 12)."""

from __future__ import annotations

import pytest

from gdcheck.cli import main
from gdcheck.cli._main import build_parser

# (argv, exit code, what the output starts with)
EXIT_CASES = [
    (["demo", "--no-save", "-q", "--steps", "100", "--backends", "numpy"], 3, "NOT CHECKED"),
    (["demo", "--no-save", "-q", "--steps", "100", "--backends", "numpy,jax"], 0, "PASS"),
    (
        ["demo", "--no-save", "-q", "--steps", "100", "--backends", "numpy,jax",
         "--require-converged"],
        1,
        "PASS",
    ),
]  # fmt: skip

OWNED = ("demo", "run")
WIDEST = 140
"""The widest line ``gdcheck run --dataset breast_cancer`` may print (197 before issue 12)."""


@pytest.mark.parametrize(("argv", "code", "start"), EXIT_CASES)
def test_exit_codes_and_quiet(argv, code, start, capsys):
    assert main(argv) == code
    out = capsys.readouterr().out.strip().splitlines()
    assert len(out) == 2, out  # -q: the two verdicts, nothing else
    assert out[0].startswith(start) and out[1].startswith("NOT CONVERGED after 100 steps")
    assert "more steps are needed" in out[1]


def test_lr_auto_says_what_it_picked(capsys):
    argv = ["demo", "--no-save", "--lr", "auto", "--steps", "200", "--backends", "numpy,jax"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert "--lr auto: lr = 2/(λmin + λmax) = 0.732728" in out
    assert "κ = 20.38" in out and "CONVERGED — after 200 steps" in out


def test_lr_auto_refused_without_a_hessian(capsys):
    argv = ["demo", "--model", "logistic_regression", "--no-save", "--lr", "auto"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "--lr auto needs the model's Hessian" in err and "pass --lr VALUE" in err


def test_bad_lr_text_is_a_usage_error(capsys):
    assert main(["demo", "--lr", "fast"]) == 2
    assert "'fast' is not a learning rate" in capsys.readouterr().err


@pytest.mark.parametrize("command", OWNED)
def test_every_option_has_help_and_a_default(command):
    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command").choices[command]
    assert "3 nothing was compared" in sub.epilog
    for action in sub._actions:
        if action.dest in ("help",):
            continue
        assert action.help, f"{command} {action.option_strings} has no help"
        assert "default" in action.help, f"{command} {action.option_strings}: no default stated"


def test_breast_cancer_fits_a_screen(capsys):
    assert main(["run", "--dataset", "breast_cancer", "--no-save", "--steps", "50"]) == 0
    out = capsys.readouterr().out
    widest = max(len(line) for line in out.splitlines())
    assert widest <= WIDEST, f"widest line {widest} characters"
    assert "(31 entries)" in out and "Features: 30, standardised" in out
