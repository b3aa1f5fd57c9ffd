"""``crosscheck(record_every=K)`` / ``--record-every K``: rows only at steps 0, K, 2K, … and the last.

What must hold: the recorded rows are the same numbers as a full run's at those steps; a planted
gradient or update mistake is still found, of the same kind, at the first recorded step at or
after the true one (true step numbers, not rows); a stateful optimizer's update check is seeded
right; the report says which steps were recorded; bad K is refused in one line (exit 2).
"""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

import gdcheck
from gdcheck.backends import _memory
from gdcheck.cli import main
from gdcheck.errors import InputError
from gdcheck.examples import updates

STEPS = 200
LR = 0.01
THRESHOLD = 1.0
"""The planted gradient is wrong once the intercept w[0] exceeds this (from step ~40 on)."""

BAD_K = (  # (record_every, the exception, words the message must hold)
    (0, InputError, "at least 1"),
    (-3, InputError, "at least 1"),
    (2.5, TypeError, "not a whole number"),
    (True, TypeError, "not a whole number"),
    ("5", TypeError, "not a whole number"),
    (STEPS + 1, InputError, f"more than the run's {STEPS} steps"),
)


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return gdcheck.data.tutorial(seed=0)


def _run(data, every: int = 1, model=None, **kw) -> gdcheck.CrossCheckResult:
    kw = {"lr": LR, "steps": STEPS, **kw}
    model = model or gdcheck.models.linear_regression()
    return gdcheck.crosscheck(model, *data, record_every=every, **kw)


@pytest.fixture(scope="module")
def full(data) -> gdcheck.CrossCheckResult:
    return _run(data)


def _wrong_after_threshold() -> gdcheck.Model:
    """The tutorial's model, its intercept gradient doubled once w[0] > THRESHOLD."""
    model = gdcheck.models.linear_regression()
    right = model.grad

    def grad(w, X, y):
        g = np.array(right(w, X, y))
        if w[0, 0] > THRESHOLD:
            g[0, 0] *= 2.0
        return g

    return dataclasses.replace(model, name="late_mistake", grad=grad)


def _first(result: gdcheck.CrossCheckResult, kind: str) -> gdcheck.trajectory.Finding:
    return next(f for f in result.findings if f.kind == kind)


def _first_recorded_at_or_after(result: gdcheck.CrossCheckResult, step: int) -> int:
    at = result.recorded_steps
    return int(at[np.searchsorted(at, step)])


@pytest.mark.parametrize("every", [5, 7])  # 7 does not divide 200: the last row is extra
def test_recorded_rows_are_the_full_runs_rows_at_those_steps(data, full, every):
    sparse = _run(data, every)
    at = sparse.recorded_steps
    assert at.tolist() == sorted({*range(0, STEPS + 1, every), STEPS})
    ref, ref_full = sparse.reference, full.reference
    assert np.array_equal(ref.weights, ref_full.weights[at])
    assert np.array_equal(ref.grads, ref_full.grads[at])
    assert np.array_equal(ref.losses, ref_full.losses[at])
    assert np.array_equal(ref.after, ref_full.weights[at[:-1] + 1])
    assert sparse.passed and full.passed
    for name, run in sparse.runs.items():
        whole = full.runs[name]
        np.testing.assert_allclose(run.trajectory.weights, whole.trajectory.weights[at], rtol=1e-13)
        np.testing.assert_allclose(run.shadow_grads, whole.shadow_grads[at], rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(run.drift, whole.drift[at], rtol=1e-6, atol=1e-15)
        if run.update_predicted is not None:  # from w_t and g_t at each recorded t < STEPS
            np.testing.assert_allclose(
                run.update_predicted, whole.update_predicted[at[:-1]], rtol=1e-13
            )
        # the drift bound spans each gap (the floor behind it is sampled at other steps)
        np.testing.assert_allclose(run.drift_tolerance, whole.drift_tolerance[at], rtol=0.2)


def test_the_stored_arrays_have_about_steps_over_k_rows(data):
    every = 7
    result = _run(data, every)
    rows = math.ceil(STEPS / every) + 1
    ref = result.reference
    assert ref.weights.shape[0] == ref.grads.shape[0] == len(ref.losses) == rows
    assert ref.after.shape[0] == rows - 1 and ref.state["step"].shape == (rows,)
    for run in result.runs.values():
        assert run.trajectory.weights.shape[0] == run.shadow_grads.shape[0] == rows
        assert len(run.drift) == len(run.errors.ratio) == rows


def test_a_late_gradient_mistake_is_found_at_the_first_recorded_step_after_it(data):
    truth = _run(data, model=_wrong_after_threshold())
    true_step = _first(truth, "gradient").step
    assert true_step > 0 and true_step % 7 != 0  # a step that K = 7 does not record
    sparse = _run(data, 7, model=_wrong_after_threshold())
    found = _first(sparse, "gradient")
    assert not sparse.passed and sparse.at_fault == "gradient"
    assert found.step == _first_recorded_at_or_after(sparse, true_step)
    assert f"first at step {found.step}," in found.message and "recorded steps" in found.message
    assert found.labels == _first(truth, "gradient").labels
    assert found.diagnosis.kind == _first(truth, "gradient").diagnosis.kind


def _with_update(update) -> gdcheck.Model:
    """The tutorial's model with a handwritten update from gdcheck.examples.updates."""
    return dataclasses.replace(gdcheck.models.linear_regression(), update=update)


@pytest.mark.parametrize(
    ("factory", "right"),
    [
        (gdcheck.optim.momentum, updates.momentum),
        (lambda: gdcheck.optim.momentum(nesterov=True), updates.nesterov),
        (gdcheck.optim.adam, updates.adam),
        (gdcheck.optim.adamw, updates.adamw),
    ],
    ids=["momentum", "nesterov", "adam", "adamw"],
)
def test_a_stateful_optimizer_is_checked_exactly_at_recorded_steps(data, factory, right):
    """The library's state is set from the textbook state at t: the same w_{t+1} as a run
    that carried the library's own state through every step."""
    model = _with_update(right)
    kw = {"optimizer": factory(), "lr": 0.05}
    whole, sparse = _run(data, 1, model, **kw), _run(data, 5, model, **kw)
    assert whole.passed and sparse.passed
    at = sparse.recorded_steps
    for name, run in sparse.runs.items():
        if run.update_predicted is None:
            continue
        assert np.nanmax(run.update_ratio) <= 1.0
        np.testing.assert_allclose(
            run.update_predicted, whole.runs[name].update_predicted[at[:-1]], rtol=1e-12
        )


def test_an_update_mistake_at_an_unrecorded_step_is_found_at_the_next_recorded_one(data):
    """momentum_steps_with_gradient's first wrong update is 1 → 2; K = 5 checks 0 → 1 (right),
    then 5 → 6, from the buffer b_5 the libraries are seeded with."""
    mistake = next(m for m in updates.MISTAKES if m.name == "momentum_steps_with_gradient")
    model = _with_update(mistake.update)
    kw = {"optimizer": gdcheck.optim.momentum(**mistake.kwargs), "lr": mistake.lr}
    truth = _first(_run(data, 1, model, **kw), "update")
    assert truth.step == mistake.first_step - 1
    sparse = _run(data, 5, model, **kw)
    found = _first(sparse, "update")
    assert sparse.at_fault == "update"
    assert found.step == 5 and "first at step 5 → 6" in found.message
    assert "recorded updates" in found.message


def test_divergence_is_named_at_its_true_step(data):
    kw = {"lr": 1.5, "steps": 1000}  # ρ = |1 − 1.5·2.6| ≈ 2.9: overflow near step 660
    whole, sparse = _run(data, 1, **kw), _run(data, 10, **kw)
    assert whole.reference.diverged_at % 10 != 0  # between two recorded steps
    assert sparse.reference.diverged_at == whole.reference.diverged_at
    for name, run in sparse.runs.items():
        assert run.trajectory.diverged_at == whole.runs[name].trajectory.diverged_at
    assert _first(sparse, "diverged").step == whole.reference.diverged_at


def test_the_report_says_which_steps_were_recorded(data, full):
    sparse = _run(data, 7)
    report = sparse.to_dict()
    rec = report["recording"]
    assert report["config"]["record_every"] == 7 and rec["record_every"] == 7
    assert rec["steps"] == sparse.recorded_steps.tolist() and rec["recorded"] == len(rec["steps"])
    assert rec["every_step_checked"] is False
    assert "can be missed" in rec["note"] and rec["note"] in report["notes"]
    assert set(report["series"]["steps"]) <= set(rec["steps"])
    assert report["series"]["steps"][-1] == max(report["series"]["steps"])
    assert "recorded points" in report["verdict"]["text"]
    assert [k for k, _ in sparse.cost_checkpoints(35)] == list(range(0, STEPS + 1, 35))
    assert report["series"]["record_every"] == 7


def test_the_saved_report_renders_the_recorded_steps(data, tmp_path):
    _run(data, 7).save(tmp_path)
    markdown = (tmp_path / "report.md").read_text()
    assert "every 7th: --record-every 7" in markdown and "can be missed" in markdown
    assert "at the recorded steps, every 7th" in (tmp_path / "report.html").read_text()


def test_every_step_reports_read_as_before(full):
    report = full.to_dict()
    assert "record_every" not in report["config"] and "record_every" not in report["series"]
    assert report["series"]["steps"] == list(range(STEPS + 1))
    every = report["recording"]
    assert every == {
        "record_every": 1,
        "recorded": STEPS + 1,
        "steps": None,
        "every_step_checked": True,
        "note": None,
    }


@pytest.mark.parametrize(("k", "error", "words"), BAD_K)
def test_bad_record_every_is_refused_with_the_fix(data, k, error, words):
    with pytest.raises(error) as info:
        _run(data, k, backends="numpy")
    assert words in str(info.value) and "record_every" in str(info.value)


@pytest.mark.parametrize("k", ["0", "-3", "2.5", "ten", str(STEPS + 1)])
def test_bad_record_every_on_the_command_line_exits_2_in_one_line(capsys, k):
    args = ["demo", "--steps", str(STEPS), "--record-every", k, "--no-save", "-q"]
    assert main([*args, "--backends", "numpy"]) == 2
    err = capsys.readouterr().err
    assert "record-every" in err or "record_every" in err
    assert "Traceback" not in err


def test_the_command_line_records_every_k_th_step(tmp_path):
    out = tmp_path / "rep"
    args = ["demo", "--steps", "60", "--record-every", "20", "--out", str(out), "-q"]
    assert main(args) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["recording"]["steps"] == [0, 20, 40, 60]


def test_the_memory_estimate_and_refusal_know_k(data, monkeypatch):
    dense = _memory.estimate_bytes(10_000, 100_000, "float64", 2, False)
    sparse = _memory.estimate_bytes(10_000, 100_000, "float64", 2, False, record_every=100)
    assert 50 < dense / sparse < 100  # about steps/K times fewer rows, plus the working sets
    monkeypatch.setattr(_memory, "available_bytes", lambda: 200 * 2**20)
    with pytest.raises(InputError) as info:
        _run(data, steps=3_000_000, backends="numpy")
    text = str(info.value)
    assert "--record-every" in text and "record_every=" in text and "recorded steps" in text
    k = int(text.split("--record-every ")[1].split()[0])
    need = _memory.estimate_bytes(2, 3_000_000, "float64", 0, True, record_every=k)
    assert need * _memory.SAFETY <= 200 * 2**20  # the K it suggests fits


@pytest.mark.parametrize(("flag", "value"), [("--lr", "0.2"), ("--out", "report")])
def test_check_without_steps_refuses_lr_and_out_instead_of_ignoring_them(flag, value, capsys):
    assert main(["check", "gdcheck/examples/logistic_check.py", flag, value]) == 2
    err = capsys.readouterr().err
    assert f"{flag} {value} applies to the cross-check of --steps K (the " in err
    assert f"or drop {flag}." in err and len(err.strip().splitlines()) == 1


def test_check_without_steps_refuses_record_every(capsys):
    assert main(["check", "gdcheck/examples/logistic_check.py", "--record-every", "5"]) == 2
    err = capsys.readouterr().err
    assert "--record-every 5 applies to the cross-check of --steps K" in err
    assert "trains nothing" in err and "or drop --record-every." in err


def test_the_verdict_lists_two_or_three_recorded_points_without_an_ellipsis(capsys):
    argv = ["check", "gdcheck/examples/logistic_check.py", "--steps", "20", "-q"]
    assert main([*argv, "--record-every", "20"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "the 2 recorded points w_0, w_20 (every 20th of the 21 points" in out
    assert main([*argv, "--record-every", "3"]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "points w_0, w_3, … w_20 (every 3rd of the 21 points" in out


def test_ordinals():
    from gdcheck._words import ordinal

    got = [ordinal(k) for k in (1, 2, 3, 4, 11, 12, 13, 21, 22, 23, 101, 111, 1000)]
    assert got == [
        "1st",
        "2nd",
        "3rd",
        "4th",
        "11th",
        "12th",
        "13th",
        "21st",
        "22nd",
        "23rd",
        "101st",
        "111th",
        "1,000th",
    ]


def test_counts_are_singular_for_one():
    from gdcheck._words import counted

    assert [counted(k, "example") for k in (0, 1, 2, 1000)] == [
        "0 examples",
        "1 example",
        "2 examples",
        "1,000 examples",
    ]
    # where a message says it: one example in X, two in y
    model = gdcheck.models.linear_regression()
    with pytest.raises(gdcheck.errors.InputError, match=r"X has 1 example \(columns"):
        gdcheck.crosscheck(model, np.ones((1, 1)), np.ones((1, 2)), steps=1)
