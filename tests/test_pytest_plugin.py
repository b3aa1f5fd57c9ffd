"""The pytest plugin, driven through ``pytester``: options, marker, fixtures, diagnosis output, baselines, xdist."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

import gdcheck
from gdcheck.testing import _baseline_store as store

pytest_plugins = ["pytester"]

HEADER = """
import dataclasses

import numpy as np
import pytest

import gdcheck
from gdcheck.models import _linear

X, Y = gdcheck.data.tutorial(seed=0)
LINEAR = gdcheck.models.linear_regression()
MISSING_TWO = dataclasses.replace(LINEAR, grad=lambda w, X, y: _linear.gradient(w, X, y) / 2)


def loss(w, X, y):
    xp = gdcheck.namespace(w)
    Xb = xp.concat([xp.ones((1, X.shape[1]), dtype=X.dtype), X])
    return xp.sum((xp.matrix_transpose(w) @ Xb - y) ** 2) / X.shape[1]


def grad_missing_two(w, X, y):
    Xb = np.vstack([np.ones((1, X.shape[1])), X])
    return (1 / X.shape[1]) * (Xb @ (w.T @ Xb - y).T)


def _mean_over_m_minus_one(w, X, y):
    # plausible, and numpy-only cross-checks cannot see it: (2/(m-1)) instead of (2/m)
    m = X.shape[1]
    return (2 / (m - 1)) * (X @ (w.T @ X - y).T)


MEAN_OVER_M_MINUS_ONE = dataclasses.replace(LINEAR, grad=_mean_over_m_minus_one)
"""

TRAJECTORY = """
@pytest.mark.gdcheck(backends=("numpy",), steps=80)
def test_traj(gd_baseline):
    gd_baseline({model}, X, Y, lr={lr})
"""

RERECORD = "pytest --gdcheck-update-baselines test_traj.py::test_traj"


@pytest.fixture(scope="module")
def _warm(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Run every code path once here first: in-process pytester drops the modules an inner run
    imports, and NumPy's and PyTorch's extension modules cannot be imported twice in a process."""
    from gdcheck.testing import _baseline as baseline
    from gdcheck.testing import _compare as compare_mod

    X, Y = gdcheck.data.tutorial(seed=0)
    model = gdcheck.models.linear_regression()
    for backends in (("numpy", "torch"), ("numpy",)):
        run = gdcheck.crosscheck(model, X, Y, steps=5, backends=backends)
        snap = baseline.snapshot(run, model, X, Y)
        compare_mod.compare(snap, snap)
        store.read(store.write(tmp_path_factory.mktemp("warm"), "w", snap))
    gdcheck.crosscheck(model, X, Y, steps=5, backends=("numpy",), dtype="float32")
    if hasattr(gdcheck, "check_gradient"):
        ns: dict = {}
        exec(compile(HEADER, "<header>", "exec"), ns)
        w = np.array([[1.0], [2.0]])
        gdcheck.check_gradient(ns["loss"], ns["grad_missing_two"], w, X, Y, backends=("torch",))


@pytest.fixture
def pt(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch, _warm: None) -> pytest.Pytester:
    monkeypatch.delenv("CI", raising=False)
    pytester.makeini(
        "[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"
    )
    return pytester


def _write(pt: pytest.Pytester, body: str, name: str = "test_traj", **fmt: object) -> None:
    body = textwrap.dedent(body)
    pt.makepyfile(**{name: HEADER + (body.format(**fmt) if fmt else body)})


def _baselines(pt: pytest.Pytester) -> list:
    found = [*pt.path.rglob("*.npz"), *pt.path.rglob("*.json")]
    return sorted(p.relative_to(pt.path).as_posix() for p in found)


def test_options_appear_under_a_gdcheck_heading_and_the_marker_is_registered(pt):
    result = pt.runpytest("--help")
    result.stdout.fnmatch_lines(
        [
            "gdcheck (handwritten gradients against autodiff):",
            "*--gdcheck-update-baselines*",
            "*--gdcheck-baseline-dir=DIR*",
            "*--gdcheck-backends=NAMES*",
            "*--gdcheck-dtype=*",
        ]
    )
    pt.runpytest("--markers").stdout.fnmatch_lines(["@pytest.mark.gdcheck(backends=*"])


def test_a_right_gradient_passes_and_a_wrong_one_fails_with_the_findings(pt):
    _write(
        pt,
        """
        @pytest.mark.gdcheck(backends=("numpy", "torch"), steps=50)
        def test_right(gd_crosscheck):
            assert gd_crosscheck(LINEAR, X, Y).passed

        @pytest.mark.gdcheck(backends=("numpy", "torch"), steps=50)
        def test_wrong(gd_crosscheck):
            gd_crosscheck(MISSING_TWO, X, Y)
        """,
        name="test_grads",
    )
    result = pt.runpytest("--strict-markers")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        [
            ">       gd_crosscheck(MISSING_TWO, X, Y)",
            "E       gdcheck.testing.CrossCheckFailed: gdcheck: cross-check failed "
            "(linear_regression, float64, lr=0.01, steps=50, backends=numpy, torch): 2 finding(s)",
            "E         [[]gradient[]] torch vs numpy (reference): gradient differs at 51 of 51 steps, "
            "first at step 0, entry w[[]?, 0[]]: *Looks like scaled*",
            "E         [[]trajectory[]] torch vs numpy (reference): weights drift apart from step 1*",
            "test_grads.py:*: CrossCheckFailed",
        ]
    )
    # gdcheck's own frames are hidden: the diagnosis is the message, not a wall of internals
    assert "gdcheck/engine.py" not in result.stdout.str()
    assert "testing/_plugin.py" not in result.stdout.str()
    full = pt.runpytest("--fulltrace", "-k", "wrong")
    assert "testing/_plugin.py" in full.stdout.str()


@pytest.mark.skipif(
    not hasattr(gdcheck, "assert_gradient"), reason="gdcheck.assert_gradient not merged yet"
)
def test_assert_gradient_failure_shows_the_diagnosis_at_the_test_line(pt):
    _write(
        pt,
        """
        def test_missing_two():
            w = np.array([[1.0], [2.0]])
            gdcheck.assert_gradient(loss, grad_missing_two, w, X, Y, backends=("torch",))
        """,
        name="test_assert",
    )
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    result.stdout.fnmatch_lines(
        [
            '>       gdcheck.assert_gradient(loss, grad_missing_two, w, X, Y, backends=("torch",))',
            "E       gdcheck.errors.GradientMismatch: gdcheck: gradient check FAILED *",
            "E         diagnosis: scaled *(factor 0.5)*",
            "test_assert.py:*: GradientMismatch",
        ]
    )
    assert "torch" in out and "gdcheck/check.py" not in out


def test_a_baseline_is_recorded_then_matched_and_rerecording_is_a_no_op(pt):
    _write(pt, TRAJECTORY, model="LINEAR", lr=0.01)
    recorded = pt.runpytest("--gdcheck-update-baselines")
    recorded.assert_outcomes(passed=1)
    recorded.stdout.fnmatch_lines(
        [
            "gdcheck: recording trajectory baselines (--gdcheck-update-baselines)",
            "*- gdcheck baselines -*",
            "gdcheck: 1 recorded",
            "  recorded baselines/test_traj/test_traj/linear_regression-float64-*.npz",
        ]
    )
    files = _baselines(pt)
    assert [f.rsplit(".", 1)[1] for f in files] == ["json", "npz"]
    npz = pt.path / files[1]
    snap = store.read(npz)
    assert snap.arrays["weights"].shape == (81, 2) and snap.meta["key"]["steps"] == 80
    before = npz.read_bytes()
    pt.runpytest().assert_outcomes(passed=1)
    again = pt.runpytest("--gdcheck-update-baselines")
    again.stdout.fnmatch_lines(["gdcheck: 1 unchanged"])
    assert npz.read_bytes() == before


def test_changing_the_learning_rate_fails_and_rerecording_replaces_the_old_baseline(pt):
    _write(pt, TRAJECTORY, model="LINEAR", lr=0.01)
    pt.runpytest("--gdcheck-update-baselines").assert_outcomes(passed=1)
    old = _baselines(pt)
    _write(pt, TRAJECTORY, model="LINEAR", lr=0.02)
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       gdcheck.testing.BaselineMismatch: gdcheck: no baseline for this configuration of "
            "test_traj.py::test_traj (*lr=0.02*); this test's baseline "
            "baselines/test_traj/test_traj/linear_regression-float64-*.npz was recorded with a "
            "different one: lr 0.01 → 0.02.",
            "E         first moved at step 1 of 80: w[[]0, 0[]] 0.1317089566 → 0.2634179132 (Δ +0.132), "
            "w[[]1, 0[]] *",
            "E         the handwritten gradient at w_0 is unchanged: the learning rate moved the trajectory.",
            f"E           {RERECORD}",
        ]
    )
    pt.runpytest("--gdcheck-update-baselines").stdout.fnmatch_lines(
        ["gdcheck: 1 recorded, 1 removed"]
    )
    new = _baselines(pt)
    assert len(new) == 2 and not set(new) & set(old)
    pt.runpytest().assert_outcomes(passed=1)


def test_changing_the_gradient_code_fails_even_when_the_cross_check_cannot_see_it(pt):
    _write(pt, TRAJECTORY, model="LINEAR", lr=0.01)
    pt.runpytest("--gdcheck-update-baselines").assert_outcomes(passed=1)
    _write(pt, TRAJECTORY, model="MEAN_OVER_M_MINUS_ONE", lr=0.01)
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       gdcheck.testing.BaselineMismatch: gdcheck: trajectory changed: test_traj.py::test_traj "
            "(linear_regression, float64, lr=0.01, steps=80, backends=numpy) no longer matches "
            "baselines/test_traj/test_traj/linear_regression-float64-*.npz.",
            "E         first moved at step 1 of 80: w[[]0, 0[]] 0.1317089566 → 0.1319729024 (Δ +0.000264), "
            "w[[]1, 0[]] 0.07489825255 → 0.0750483* (Δ +0.00015); relative drift 0.002 > tolerance *",
            "E         largest move: *",
            "E         the handwritten gradient at w_0 changed: w[[]0, 0[]] -13.17089566 → -13.19729024 (×1.002), *",
            "E         If the change is intended, re-record:",
            f"E           {RERECORD}",
        ]
    )


MLP_TRAJECTORY = """
SX, SY = gdcheck.data.synthetic("mlp", seed=0)
MLP = gdcheck.models.mlp(hidden=8, l2=1e-3, seed=0)


def _wrong_b2(params, X, Y):
    g = MLP.grad(params, X, Y)
    return {{**g, "b2": 2 * g["b2"]}}


@pytest.mark.gdcheck(backends=("numpy",), steps=20)
def test_mlp(gd_baseline):
    gd_baseline({model}, SX, SY, lr=0.05, optimizer=gdcheck.optim.adam())
"""


def test_any_model_and_optimizer_is_recorded_and_a_change_is_named_as_its_params_name_it(pt):
    _write(pt, MLP_TRAJECTORY, name="test_mlp", model="MLP")
    pt.runpytest("--gdcheck-update-baselines").stdout.fnmatch_lines(
        ["  recorded baselines/test_mlp/test_mlp/mlp-float64-*.npz"]
    )
    pt.runpytest().assert_outcomes(passed=1)
    _write(pt, MLP_TRAJECTORY, name="test_mlp", model="dataclasses.replace(MLP, grad=_wrong_b2)")
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       gdcheck.testing.BaselineMismatch: gdcheck: trajectory changed: test_mlp.py::test_mlp "
            "(mlp, float64, lr=0.05, steps=20, optimizer=adam(b1=0.9, b2=0.999, eps=1e-08), "
            "backends=numpy) no longer matches baselines/test_mlp/test_mlp/mlp-float64-*.npz.",
            "E         first moved at step 1 of 20: b2[[]0[]] *, b2[[]1[]] *, b2[[]2[]] *; relative drift * > "
            "tolerance * at that step *",
            "E         the handwritten gradient at w_0 changed: b2[[]0[]] * (×2), b2[[]1[]] * (×2), "
            "b2[[]2[]] * (×2).",
        ]
    )


def test_a_missing_baseline_fails_with_the_command_and_is_never_created_in_ci(pt, monkeypatch):
    _write(pt, TRAJECTORY, model="LINEAR", lr=0.01)
    monkeypatch.setenv("CI", "true")
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "E       gdcheck.testing.BaselineMismatch: gdcheck: no trajectory baseline for "
            "test_traj.py::test_traj (*): expected baselines/test_traj/test_traj/linear_regression-float64-*.npz.",
            "E         Not recorded: CI is set, and baselines are never created in CI. *",
            f"E           {RERECORD}",
        ]
    )
    assert _baselines(pt) == []
    monkeypatch.setenv("CI", "false")  # locally too, updating is explicit: nothing is written
    local = pt.runpytest()
    local.assert_outcomes(failed=1)
    local.stdout.fnmatch_lines(
        [
            "E         Not recorded: baselines are written only when asked. *",
            f"E           {RERECORD}",
        ]
    )
    assert _baselines(pt) == []
    pt.runpytest("--gdcheck-update-baselines").assert_outcomes(passed=1)
    assert len(_baselines(pt)) == 2
    pt.runpytest().assert_outcomes(passed=1)


def test_a_baseline_from_other_versions_is_reported_as_such(pt):
    _write(pt, TRAJECTORY, model="LINEAR", lr=0.01)
    pt.runpytest("--gdcheck-update-baselines").assert_outcomes(passed=1)
    npz = pt.path / _baselines(pt)[1]
    snap = store.read(npz)
    snap.meta["environment"]["numpy"] = "1.26.4"
    w = snap.arrays["weights"]
    w[40:, 1] += (
        10 * snap.meta["tolerance"]["drift"] * np.abs(w[40:]).max()
    )  # a rounding-sized move
    store.write(npz.parent, npz.stem, snap)
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            f"E   *BaselineMismatch: gdcheck: recorded under other versions/platform: numpy 1.26.4 → {np.__version__}.",
            "E         test_traj.py::test_traj (*) differs from baselines/*.npz by a relative drift of up to *, "
            "above the tolerance * but within 100× of it: likely from that, not from a change in the code.",
            "E         first moved at step 40 of 80: w[[]1, 0[]] *",
            "E         Re-record under this environment with:",
        ]
    )
    assert "trajectory changed" not in result.stdout.str()


def test_marker_options_and_ini_configure_the_fixtures(pt):
    pt.makeini(
        "[pytest]\nfilterwarnings = error\naddopts = -p no:cacheprovider -p no:hypothesispytest\n"
        "gdcheck_backends = numpy, jax\ngdcheck_dtype = float32\n"
    )
    _write(
        pt,
        """
        def test_options_over_ini(gd_settings):
            assert (gd_settings.backends, gd_settings.dtype) == (("numpy",), "float32")

        @pytest.mark.gdcheck(backends=("numpy", "jax"), dtype="float64", lr=0.1, steps=7)
        def test_marker_over_options(gd_settings):
            assert gd_settings.crosscheck_kwargs(steps=9) == {
                "backends": ("numpy", "jax"), "dtype": "float64", "lr": 0.1, "steps": 9}

        @pytest.mark.gdcheck(steps=30, backends=("numpy",))
        def test_float32_baseline(gd_baseline):
            assert gd_baseline(LINEAR, X, Y).config.dtype == "float32"

        @pytest.mark.gdcheck(step=3)
        def test_typo(gd_crosscheck):
            pass
        """,
        name="test_conf",
    )
    result = pt.runpytest(
        "--gdcheck-backends=numpy", "--gdcheck-baseline-dir=store", "--gdcheck-update-baselines"
    )
    result.assert_outcomes(passed=3, errors=1)
    result.stdout.fnmatch_lines(
        [
            "*unknown argument(s) step to @pytest.mark.gdcheck on test_conf.py::test_typo; "
            "it takes backends, dtype, lr, steps, tolerance.*"
        ]
    )
    (npz,) = (p for p in _baselines(pt) if p.endswith(".npz"))
    assert npz.startswith("store/test_conf/test_float32_baseline/linear_regression-float32-")


def test_xdist_workers_record_and_compare_without_sharing_files(pt):
    _write(
        pt,
        """
        @pytest.mark.gdcheck(backends=("numpy",), steps=40)
        @pytest.mark.parametrize("lr", [0.01, 0.02, 0.05, 0.1])
        def test_many(gd_baseline, lr):
            gd_baseline(LINEAR, X, Y, lr=lr)
        """,
        name="test_par",
    )
    recorded = pt.runpytest_subprocess("-n", "2", "--gdcheck-update-baselines")
    recorded.assert_outcomes(passed=4)
    recorded.stdout.fnmatch_lines(["gdcheck: 4 recorded"])
    files = _baselines(pt)
    assert len(files) == 8 and not list(pt.path.rglob("*.tmp"))
    assert len({f.split("/")[2] for f in files}) == 4  # one directory per test
    pt.runpytest_subprocess("-n", "2").assert_outcomes(passed=4)


def test_a_session_that_does_not_use_gdcheck_imports_none_of_it(pt):
    pt.makepyfile(
        test_plain="""
        import sys

        def test_plain(request):
            assert request.config.pluginmanager.has_plugin("gdcheck")
            loaded = [m for m in ("numpy", "jax", "torch") if m in sys.modules]
            assert loaded == []
            # only the hooks and the package's lazy __init__ (standard library only)
            ours = sorted(m for m in sys.modules if m.split(".")[0] == "gdcheck")
            assert ours == ["gdcheck", "gdcheck.testing", "gdcheck.testing._hooks"]
        """
    )
    pt.runpytest_subprocess().assert_outcomes(passed=1)


def test_a_damaged_baseline_is_reported_at_the_test_line_without_gdcheck_frames(pt):
    _write(pt, TRAJECTORY, model="LINEAR", lr=0.01)
    pt.runpytest("--gdcheck-update-baselines").assert_outcomes(passed=1)
    npz = pt.path / _baselines(pt)[1]
    npz.write_bytes(npz.read_bytes()[:50])
    result = pt.runpytest()
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            ">       gd_baseline(LINEAR, X, Y, lr=0.01)",
            "E       gdcheck.testing.BaselineMismatch: gdcheck: baseline *.npz could not be read (*); "
            "delete it and re-record.",
        ]
    )
    assert "_baseline_store.py" not in result.stdout.str()  # raised there, hidden by the plugin
    assert "_baseline_store.py" in pt.runpytest("--fulltrace").stdout.str()


def test_a_bare_assert_on_a_failed_result_still_shows_the_diagnosis(pt):
    _write(
        pt,
        """
        @pytest.mark.skipif(not hasattr(gdcheck, "check_gradient"), reason="not merged yet")
        def test_check_result():
            res = gdcheck.check_gradient(loss, grad_missing_two, np.array([[1.0], [2.0]]), X, Y, backends=("torch",))
            assert res.passed

        def test_crosscheck_result():
            run = gdcheck.crosscheck(MISSING_TWO, X, Y, steps=20, backends=("numpy", "torch"))
            assert run.passed

        def test_unrelated():
            assert 1 == 2
        """,
        name="test_bare",
    )
    result = pt.runpytest()
    result.assert_outcomes(failed=3)
    out = result.stdout.str()
    assert out.count("- gdcheck: the failed check's diagnosis -") == 2
    result.stdout.fnmatch_lines(
        [
            "*- gdcheck: the failed check's diagnosis -*",
            "gdcheck: gradient check FAILED *",
            "  diagnosis: scaled *",
            "*_ test_crosscheck_result _*",
            "*- gdcheck: the failed check's diagnosis -*",
            "*torch vs numpy (reference): gradient*",  # the verdict wraps at the text width
            "*differs at 21 of 21 steps*",
            "*_ test_unrelated _*",
        ]
    )


def test_the_readme_shows_the_example_file_as_it_is():
    root = Path(__file__).resolve().parents[1]
    readme = (root / "README.md").read_text()
    heading = "## gdcheck in your test suite"
    if heading not in readme:
        pytest.skip("the README's 'gdcheck in your test suite' section is not in yet")
    section = readme.split(heading, 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    example = (root / "tests" / "examples" / "test_gdcheck_in_pytest.py").read_text()
    assert example in blocks, (
        "README.md's example differs from tests/examples/test_gdcheck_in_pytest.py"
    )
