"""Trajectory baselines: keys, files (atomic, reproducible, race-safe) and the comparison's verdicts,
for every model of the series under more than one optimizer."""

from __future__ import annotations

import copy
import dataclasses
import multiprocessing
import os
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import gdcheck
from gdcheck import models, optim
from gdcheck.models import _linear
from gdcheck.testing import _baseline as baseline
from gdcheck.testing import _baseline_store as store
from gdcheck.testing import _compare as compare_mod
from gdcheck.testing._baseline import BaselineMismatch, Snapshot
from gdcheck.testing._plugin import BaselineFixture, CrossCheckFailed, Settings

X, Y = gdcheck.data.tutorial(seed=0)
MODEL = gdcheck.models.linear_regression()
STEPS = 60

# Every model of the series: (factory, its synthetic data's name, the parameter a planted
# mistake scales). The planted parameter's gradient is non-zero at w_0 in each.
MODELS_UNDER_TEST = {
    "linear_regression": (models.linear_regression, "w"),
    "ridge": (lambda: models.ridge(alpha=0.1), "w"),
    "logistic_regression": (models.logistic_regression, "w"),
    "softmax_regression": (lambda: models.softmax_regression(classes=3), "W"),
    "mlp": (lambda: models.mlp(hidden=8, l2=1e-3, seed=0), "W1"),
}
# (optimizer, learning rate). Adam normalises every entry's step, so scaling one parameter's
# gradient barely moves its trajectory: only the gradient compared at w_0 catches it there.
OPTIMIZERS_UNDER_TEST = {
    "sgd": (optim.sgd, 0.05),
    "adam": (lambda: optim.adam(b1=0.9, b2=0.999, eps=1e-8), 0.01),
}
SHORT = 20


def _snap(dtype: str = "float64", lr: float = 0.01, model=MODEL, X=X, Y=Y) -> Snapshot:
    run = gdcheck.crosscheck(model, X, Y, lr=lr, steps=STEPS, backends=("numpy",), dtype=dtype)
    return baseline.snapshot(run, model, X, Y)


def _planted(model: gdcheck.Model, param: str, factor: float = 1.5) -> gdcheck.Model:
    """``model`` whose handwritten gradient of ``param`` is off by ``factor``."""

    def grad(params, *data):
        g = model.grad(params, *data)
        return {**g, param: g[param] * factor} if isinstance(g, dict) else g * factor

    return dataclasses.replace(model, grad=grad)


def _fixture(directory: Path, update: bool, backends=("numpy",)) -> BaselineFixture:
    """``gd_baseline`` as the plugin builds it, for a test ``t.py::case``, without pytester."""
    settings = Settings(
        backends=backends,
        steps=SHORT,
        update=update,
        baseline_dir=directory,
        nodeid="t.py::case",
        rerecord="pytest --gdcheck-update-baselines t.py::case",
    )
    return BaselineFixture(settings, SimpleNamespace(user_properties=[]))


@pytest.fixture(scope="module")
def snap64() -> Snapshot:
    return _snap()


def _moved(snap: Snapshot, step: int, entry: int, by: float) -> Snapshot:
    """A copy whose weights moved by ``by`` × that step's drift tolerance from ``step`` on, in one entry."""
    out = copy.deepcopy(snap)
    w = out.arrays["weights"]
    tol = snap.arrays["drift_tolerance"][step] * np.abs(w[step]).max()
    w[step:, entry] += by * tol
    return out


def test_key_separates_model_configuration_and_dtype(snap64):
    digests = {
        "base": snap64.digest,
        "again": _snap().digest,
        "lr": _snap(lr=0.02).digest,
        "dtype": _snap(dtype="float32").digest,
        "data": _snap(X=X * 2).digest,
        "model": _snap(model=models.ridge(alpha=0.1)).digest,
        "model params": _snap(model=models.ridge(alpha=0.2)).digest,
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
    assert set(back.arrays) == {
        "weights",
        "losses",
        "grads",
        "drift_tolerance",
        "grad_tolerance",
        "error.numpy",
    }
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
    assert meta["key"]["optimizer"] == {"name": "sgd", "hyper": {}}
    assert meta["key"]["data"]["shapes"] == [[1, 500], [1, 500]]
    assert meta["layout"] == {"names": ["w"], "shapes": [[2, 1]], "is_dict": False}
    assert snap64.arrays["drift_tolerance"].shape == (STEPS + 1,)
    assert snap64.arrays["grad_tolerance"].shape == (STEPS + 1, 2)


def test_a_rerun_matches(snap64):
    result = compare_mod.compare(snap64, _snap())
    assert result.passed and result.status == "match" and result.first_step is None


def test_a_move_reports_step_entries_and_amount(snap64):
    moved = _moved(snap64, step=7, entry=1, by=10.0)
    result = compare_mod.compare(snap64, moved)
    assert result.status == "changed" and not result.passed
    assert result.first_step == 7 and result.entries == (1,)
    assert result.labels == ("w[1, 0]",)
    assert "first moved at step 7 of 60: w[1, 0]" in result.message
    assert "w[0, 0]" not in result.lines[0]
    tol = snap64.arrays["drift_tolerance"][7]
    assert f"> tolerance {tol:.3g} at that step" in result.lines[0]


def test_a_move_within_tolerance_is_not_a_move(snap64):
    assert compare_mod.compare(snap64, _moved(snap64, step=7, entry=1, by=0.5)).status == "match"


def test_other_environment_is_worded_apart_from_a_real_change(snap64):
    stored = copy.deepcopy(snap64)
    stored.meta["environment"]["numpy"] = "1.26.0"
    small = compare_mod.compare(stored, _moved(snap64, step=3, entry=0, by=10.0))
    assert small.status == "environment"
    assert small.environment_changes == {"numpy": ("1.26.0", np.__version__)}
    large = compare_mod.compare(stored, _moved(snap64, step=3, entry=0, by=1e4))
    assert large.status == "changed" and large.first_step == 3
    # the same small move under the same environment is a change
    assert compare_mod.compare(snap64, _moved(snap64, step=3, entry=0, by=10.0)).status == "changed"


def test_the_gradient_at_w0_is_compared_directly(snap64):
    half = dataclasses.replace(MODEL, grad=lambda w, X, y: _linear.gradient(w, X, y) / 2)
    result = compare_mod.compare(snap64, _snap(model=half))
    assert result.status == "changed" and result.first_step == 1 and result.entries == (0, 1)
    assert "the handwritten gradient at w_0 changed: w[0, 0] " in result.message
    assert "(×0.5)" in result.message
    lr = compare_mod.compare(snap64, _snap(lr=0.02))
    assert set(lr.config_changes) == {"lr"}
    assert "gradient at w_0 is unchanged: the learning rate moved the trajectory" in lr.message
    faster = copy.deepcopy(snap64)  # same configuration, another update rule: w - 1.5·lr·g
    w, g = faster.arrays["weights"], faster.arrays["grads"]
    w[1] = w[0] - 1.5 * 0.01 * g[0]
    assert "unchanged, so the update (or the gradient away from w_0) changed" in (
        compare_mod.compare(snap64, faster).message
    )


def test_a_cost_only_change_is_reported_as_such(snap64):
    changed = copy.deepcopy(snap64)
    changed.arrays["losses"][5:] *= 1.001
    result = compare_mod.compare(snap64, changed)
    assert result.first_step == 5 and result.entries == ()
    assert "the cost code changed" in result.message


def test_nan_against_a_number_is_a_move(snap64):
    changed = copy.deepcopy(snap64)
    changed.arrays["weights"][9:] = np.nan
    changed.arrays["losses"][9:] = np.nan
    assert compare_mod.compare(snap64, changed).first_step == 9


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


@pytest.mark.parametrize("opt_name", sorted(OPTIMIZERS_UNDER_TEST))
@pytest.mark.parametrize("model_name", sorted(MODELS_UNDER_TEST))
def test_every_model_records_matches_and_names_a_planted_mistake(tmp_path, model_name, opt_name):
    make_model, param = MODELS_UNDER_TEST[model_name]
    make_opt, lr = OPTIMIZERS_UNDER_TEST[opt_name]
    model, data = make_model(), gdcheck.data.synthetic(model_name, seed=0)

    recorder = _fixture(tmp_path, update=True)
    run = recorder(model, *data, lr=lr, optimizer=make_opt())
    (npz,) = store.candidates(tmp_path)
    assert npz.stem.startswith(f"{model_name}-float64-")
    assert recorder.item.user_properties == [("gdcheck_baseline", f"recorded {npz}")]
    snap = store.read(npz)
    assert snap.key["optimizer"]["name"] == opt_name
    assert snap.key["steps"] == SHORT and snap.arrays["weights"].shape == (
        SHORT + 1,
        run.layout.size,
    )
    assert snap.layout == run.layout

    # a re-run matches
    assert _fixture(tmp_path, update=False)(model, *data, lr=lr, optimizer=make_opt()).passed

    # a planted gradient mistake fails, naming the parameter the way the params name it
    with pytest.raises(BaselineMismatch, match=r"^gdcheck: trajectory changed: t\.py::case") as exc:
        _fixture(tmp_path, update=False)(_planted(model, param), *data, lr=lr, optimizer=make_opt())
    text = str(exc.value)
    first = text.splitlines()[1]
    assert first.startswith("  first moved at step ")
    assert f" {param}[" in first or f" {param} " in first, first
    assert "the handwritten gradient at w_0 changed: " + param in text
    assert "(×1.5)" in text
    others = set(run.layout.names) - {param}
    assert not any(f" {name}[" in first for name in others), first
    comparison = compare_mod.compare(
        snap, _snapshot_of(_planted(model, param), data, lr, make_opt())
    )
    assert comparison.labels and all(label.startswith(param) for label in comparison.labels)
    assert comparison.status == "changed" and not comparison.passed

    # another learning rate is another configuration: no baseline for it, the change named
    with pytest.raises(BaselineMismatch, match=r"no baseline for this configuration") as exc:
        _fixture(tmp_path, update=False)(model, *data, lr=2 * lr, optimizer=make_opt())
    assert f"was recorded with a different one: lr {lr:g} → {2 * lr:g}." in str(exc.value)
    assert "pytest --gdcheck-update-baselines t.py::case" in str(exc.value)


def _snapshot_of(model: gdcheck.Model, data: tuple, lr: float, opt: optim.Optimizer) -> Snapshot:
    run = gdcheck.crosscheck(model, *data, lr=lr, steps=SHORT, backends=("numpy",), optimizer=opt)
    return baseline.snapshot(run, model, *data)


def test_the_key_holds_the_optimizer_its_hyper_parameters_and_every_data_array():
    X2, y2 = gdcheck.data.synthetic("softmax_regression", seed=0)
    model = models.softmax_regression(classes=3)
    keys = {
        "sgd": _snapshot_of(model, (X2, y2), 0.05, optim.sgd()).key,
        "adam": _snapshot_of(model, (X2, y2), 0.05, optim.adam()).key,
        "adam b1": _snapshot_of(model, (X2, y2), 0.05, optim.adam(b1=0.8)).key,
        "labels": _snapshot_of(model, (X2, np.roll(y2, 1)), 0.05, optim.sgd()).key,
    }
    assert keys["adam b1"]["optimizer"] == {
        "name": "adam",
        "hyper": {"b1": 0.8, "b2": 0.999, "eps": 1e-08},
    }
    assert keys["sgd"]["data"]["dtypes"] == [X2.dtype.str, y2.dtype.str]  # integer labels kept
    assert len({baseline.key_digest(k) for k in keys.values()}) == len(keys)
    changes = compare_mod._changes(
        compare_mod._flat(keys["adam"]), compare_mod._flat(keys["adam b1"])
    )
    assert compare_mod.describe_changes(changes) == "optimizer.hyper.b1 0.9 → 0.8"


def test_a_mistake_an_autodiff_backend_sees_fails_the_cross_check_and_names_the_move(tmp_path):
    pytest.importorskip("torch")
    data = gdcheck.data.synthetic("logistic_regression", seed=0)
    model = models.logistic_regression()
    _fixture(tmp_path, update=True, backends=("numpy", "torch"))(model, *data, lr=0.05)
    with pytest.raises(CrossCheckFailed, match=r"cross-check failed") as exc:
        _fixture(tmp_path, update=False, backends=("numpy", "torch"))(
            _planted(model, "w"), *data, lr=0.05
        )
    text = str(exc.value)
    assert "Against the baseline: first moved at step 1 of 20: w[0]" in text
    assert "the handwritten gradient at w_0 changed: w[0]" in text


def test_an_older_format_baseline_is_refused_with_the_command(tmp_path):
    data = gdcheck.data.synthetic("linear_regression", seed=0)
    _fixture(tmp_path, update=True)(MODEL, *data)
    (npz,) = store.candidates(tmp_path)
    old = store.read(npz)
    old.meta["schema_version"] = 1
    store.write(tmp_path, npz.stem + "x", old)  # another digest: found as this test's sibling
    store.remove(npz)
    with pytest.raises(BaselineMismatch, match=r"recorded in format 1 by an older gdcheck") as exc:
        _fixture(tmp_path, update=False)(MODEL, *data)
    assert "pytest --gdcheck-update-baselines t.py::case" in str(exc.value)
