"""Trajectory baselines: keys, files (atomic, reproducible, race-safe) and the comparison's verdicts."""

from __future__ import annotations

import copy
import dataclasses
import multiprocessing
import os
from pathlib import Path

import numpy as np
import pytest

import gdcheck
from gdcheck.models import LinearRegression
from gdcheck.testing import _baseline as baseline
from gdcheck.testing import _baseline_store as store
from gdcheck.testing._baseline import BaselineMismatch, Snapshot

X, Y = gdcheck.data.tutorial(seed=0)
MODEL = gdcheck.models.linear_regression()
STEPS = 60


def _snap(dtype: str = "float64", lr: float = 0.01, model=MODEL, X=X, Y=Y) -> Snapshot:
    run = gdcheck.crosscheck(model, X, Y, lr=lr, steps=STEPS, backends=("numpy",), dtype=dtype)
    return baseline.snapshot(run, model, X, Y)


@pytest.fixture(scope="module")
def snap64() -> Snapshot:
    return _snap()


def _moved(snap: Snapshot, step: int, entry: int, by: float) -> Snapshot:
    """A copy whose weights moved by ``by`` × the drift tolerance from ``step`` on, in one entry."""
    out = copy.deepcopy(snap)
    w = out.arrays["weights"]
    tol = snap.meta["tolerance"]["drift"] * np.abs(w[step]).max()
    w[step:, entry] += by * tol
    return out


@dataclasses.dataclass(frozen=True)
class Ridge(LinearRegression):
    name: str = "ridge"
    alpha: float = 0.1


def test_key_separates_model_configuration_and_dtype(snap64):
    digests = {
        "base": snap64.digest,
        "again": _snap().digest,
        "lr": _snap(lr=0.02).digest,
        "dtype": _snap(dtype="float32").digest,
        "data": _snap(X=X * 2).digest,
        "model": _snap(model=Ridge()).digest,
        "model params": _snap(model=Ridge(alpha=0.2)).digest,
    }
    assert digests["base"] == digests["again"]
    others = [v for k, v in digests.items() if k != "again"]
    assert len(set(others)) == len(others)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_files_round_trip_exactly_and_reproducibly(tmp_path, dtype):
    snap = _snap(dtype=dtype)
    npz = store.write(tmp_path, "b", snap)
    first = npz.read_bytes()
    back = store.read(npz)
    assert back.meta == snap.meta
    assert set(back.arrays) == {"weights", "losses", "grads", "error.numpy"}
    for name, arr in snap.arrays.items():
        assert back.arrays[name].dtype == arr.dtype
        np.testing.assert_array_equal(back.arrays[name], arr)
    assert back.arrays["weights"].shape == (STEPS + 1, 2)
    store.write(tmp_path, "b", snap)
    assert npz.read_bytes() == first  # fixed zip timestamps: re-recording leaves no diff
    assert (tmp_path / "b.json").read_text().count('"drift"') == 1  # the readable copy
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.npz"]
    assert (npz.stat().st_mode & 0o777) == (0o666 & ~store._umask())


def test_metadata_names_versions_platform_and_the_tolerance_used(snap64):
    meta = snap64.meta
    env = meta["environment"]
    for key in ("gdcheck", "numpy", "python", "platform", "machine", "backend.numpy"):
        assert env[key], key
    tol = meta["tolerance"]
    assert tol["source"] == "derived"
    assert 0 < tol["gradient"] < 1e-10 and 0 < tol["drift"] < 1e-10
    assert meta["key"]["lr"] == 0.01 and meta["key"]["steps"] == STEPS
    assert meta["key"]["dtype"] == "float64" and meta["key"]["model"]["name"] == "linear_regression"


def test_a_rerun_matches(snap64):
    result = baseline.compare(snap64, _snap())
    assert result.passed and result.status == "match" and result.first_step is None


def test_a_move_reports_step_entries_and_amount(snap64):
    moved = _moved(snap64, step=7, entry=1, by=10.0)
    result = baseline.compare(snap64, moved)
    assert result.status == "changed" and not result.passed
    assert result.first_step == 7 and result.entries == (1,)
    assert "first moved at step 7 of 60: w[1]" in result.message
    assert "w[0]" not in result.lines[0]


def test_a_move_within_tolerance_is_not_a_move(snap64):
    assert baseline.compare(snap64, _moved(snap64, step=7, entry=1, by=0.5)).status == "match"


def test_other_environment_is_worded_apart_from_a_real_change(snap64):
    stored = copy.deepcopy(snap64)
    stored.meta["environment"]["numpy"] = "1.26.0"
    small = baseline.compare(stored, _moved(snap64, step=3, entry=0, by=10.0))
    assert small.status == "environment"
    assert small.environment_changes == {"numpy": ("1.26.0", np.__version__)}
    large = baseline.compare(stored, _moved(snap64, step=3, entry=0, by=1e4))
    assert large.status == "changed" and large.first_step == 3
    # the same small move under the same environment is a change
    assert baseline.compare(snap64, _moved(snap64, step=3, entry=0, by=10.0)).status == "changed"


def test_the_gradient_at_w0_is_compared_directly(snap64):
    class Half(LinearRegression):
        def gradient(self, w, X, y):
            return super().gradient(w, X, y) / 2

    result = baseline.compare(snap64, _snap(model=Half()))
    assert result.status == "changed" and result.first_step == 1 and result.entries == (0, 1)
    assert (
        "the handwritten gradient at w_0 changed" in result.message and "(×0.5)" in result.message
    )
    lr = baseline.compare(snap64, _snap(lr=0.02))
    assert set(lr.config_changes) == {"lr"}
    assert "gradient at w_0 is unchanged: the learning rate moved the trajectory" in lr.message
    faster = copy.deepcopy(snap64)  # same configuration, another update rule: w - 1.5·lr·g
    w, g = faster.arrays["weights"], faster.arrays["grads"]
    w[1] = w[0] - 1.5 * 0.01 * g[0]
    assert "unchanged, so the update (or the gradient away from w_0) changed" in (
        baseline.compare(snap64, faster).message
    )


def test_a_cost_only_change_is_reported_as_such(snap64):
    changed = copy.deepcopy(snap64)
    changed.arrays["losses"][5:] *= 1.001
    result = baseline.compare(snap64, changed)
    assert result.first_step == 5 and result.entries == ()
    assert "the cost code changed" in result.message


def test_nan_against_a_number_is_a_move(snap64):
    changed = copy.deepcopy(snap64)
    changed.arrays["weights"][9:] = np.nan
    changed.arrays["losses"][9:] = np.nan
    assert baseline.compare(snap64, changed).first_step == 9


def test_a_damaged_baseline_is_refused_with_what_to_do(tmp_path, snap64):
    npz = store.write(tmp_path, "b", snap64)
    npz.write_bytes(npz.read_bytes()[:100])
    with pytest.raises(BaselineMismatch, match=r"could not be read .*delete it and re-record"):
        store.read(npz)


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path, monkeypatch, snap64):
    npz = store.write(tmp_path, "b", snap64)
    before = npz.read_bytes()

    def boom(src, dst):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError, match="disk full"):
        store.write(tmp_path, "b", _snap(lr=0.02))
    assert npz.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b.json", "b.npz"]


def _writer(directory: str, lr: float, times: int) -> None:
    snap = _snap(lr=lr)
    for _ in range(times):
        store.write(Path(directory), "shared", snap)


def test_racing_writers_leave_one_whole_recording(tmp_path):
    """Two processes record the same baseline at once (as xdist workers could); readers never see a torn file."""
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), lr, 25)) for lr in (0.01, 0.02)]
    for p in procs:
        p.start()
    while any(p.is_alive() for p in procs):
        if (tmp_path / "shared.npz").exists():
            assert store.read(tmp_path / "shared.npz").key["lr"] in (0.01, 0.02)
    for p in procs:
        p.join()
        assert p.exitcode == 0
    final = store.read(tmp_path / "shared.npz")
    assert final.key["lr"] in (0.01, 0.02)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["shared.json", "shared.npz"]
