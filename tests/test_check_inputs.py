"""check_gradient's API and CLI: parameters, references, witnesses and bad input, never a crash."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.cli import main
from gdcheck.examples import losses as L

X, Y = gdcheck.data.tutorial(seed=0, m=100)
XB = np.vstack([np.ones((1, 100)), X])
W = np.array([[1.0], [-1.0]])


def numpy_only_loss(w, X, y):  # np.* functions: fine under numpy, not under torch tensors
    return np.mean(np.square(w.T @ X - y))


def test_result_fields_and_str():
    res = gdcheck.check_gradient(L.mse_loss, L.mse_grad, W, XB, Y)
    assert res.passed and res.diagnosis is None
    assert res.max_rel_error < 1e-13
    assert res.errors["params"].shape == (2, 1)
    assert set(res.autodiff) == {"jax", "torch"}
    text = str(res)
    assert "gradient check PASSED" in text and "witness complex step" in text


def test_assert_gradient_raises_with_the_diagnosis():
    with pytest.raises(gdcheck.GradientMismatch) as err:
        gdcheck.assert_gradient(L.mse_loss, lambda w, X, y: L.mse_grad(w, X, y) / 2, W, XB, Y)
    message = str(err.value)
    assert message.startswith("gdcheck: gradient check FAILED")
    assert "scaled — your gradient is 1/2 × autodiff's" in message
    assert "params[0, 0]" in message and "yours vs torch" in message
    assert isinstance(err.value, AssertionError)


def test_zero_d_parameters_and_dicts():
    def loss(p, x):
        xp = gdcheck.namespace(p)
        return xp.sum((p["a"] * x + p["b"]) ** 2)

    def grad(p, x):
        r = 2 * (p["a"] * x + p["b"])
        return {"a": np.sum(r * x), "b": np.sum(r)}

    res = gdcheck.check_gradient(
        loss, grad, {"a": np.array(0.5), "b": np.array(-1.0)}, np.arange(5.0)
    )
    assert res.passed, str(res)
    assert res.errors["a"].shape == ()


def test_a_loss_that_fails_under_a_backend_is_reported_with_the_hint():
    res = gdcheck.check_gradient(numpy_only_loss, L.mse_grad, W, XB, Y)
    assert set(res.failures) == {"jax", "torch"}
    for name in ("jax", "torch"):
        assert f"the loss failed under {name}" in res.failures[name]
        assert "gdcheck.namespace" in res.failures[name]
    # without autodiff, the complex step per entry is the reference, and says so
    assert res.reference_name == "complex step"
    assert res.passed, str(res)
    assert any(
        "the complex step witness (per entry, no autodiff) is the reference" in n for n in res.notes
    )
    wrong = gdcheck.check_gradient(
        numpy_only_loss, lambda w, X, y: L.mse_grad(w, X, y) / 2, W, XB, Y
    )
    assert wrong.diagnosis.kind == "scaled" and wrong.diagnosis.factor == pytest.approx(0.5)


def test_when_no_backend_and_no_witness_can_run_the_error_says_why():
    def loss(w, X, y):
        if not isinstance(w, np.ndarray):
            raise TypeError("numpy arrays only")
        return float(np.mean((w.T @ X - y) ** 2))

    with pytest.raises(ValueError, match="no autodiff backend could differentiate the loss") as err:
        gdcheck.check_gradient(loss, L.mse_grad, W.reshape(2, 1).repeat(1500, axis=1), XB, Y)
    assert "gdcheck.namespace" in str(err.value)


def test_a_loss_that_is_not_a_scalar_is_refused():
    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return (xp.matrix_transpose(w) @ X - y) ** 2

    with pytest.raises(ValueError, match=r"the loss returned an array of shape \(1, 100\)"):
        gdcheck.check_gradient(loss, L.mse_grad, W, XB, Y)


@pytest.mark.parametrize(
    ("grad", "kind", "fragment"),
    [
        (lambda w, X, y: None, "wrong_shape", "returned None"),
        (lambda w, X, y: "oops", "wrong_shape", "returned str"),
        (
            lambda w, X, y: {"w": L.mse_grad(w, X, y)},
            "wrong_shape",
            "returned dict for params; expected a numeric array of shape (2, 1)",
        ),
        (
            lambda w, X, y: L.mse_grad(w, X, y).ravel(),
            "wrong_shape",
            "values are right once reshaped",
        ),
        (
            lambda w, X, y: L.mse_grad(w, X, y) * np.array([[np.nan], [1.0]]),
            "non_finite",
            "non-finite",
        ),
    ],
    ids=["none", "str", "dict_for_array", "flat", "nan"],
)
def test_bad_grad_returns_get_a_diagnosis(grad, kind, fragment):
    res = gdcheck.check_gradient(L.mse_loss, grad, W, XB, Y)
    assert not res.passed
    assert res.diagnosis.kind == kind
    assert fragment in res.diagnosis.message


def test_dict_keys_missing_or_extra():
    p = {"w": np.ones(3) * 0.1, "b": np.array(0.0)}
    Xr, yr = np.random.default_rng(0).standard_normal((20, 3)), np.ones(20)
    res = gdcheck.check_gradient(
        L.logistic_loss, lambda p, X, y: {"w": np.zeros(3), "c": 1.0}, p, Xr, yr
    )
    assert res.diagnosis.kind == "wrong_shape"
    assert "missing ['b']" in res.diagnosis.message and "extra ['c']" in res.diagnosis.message


def test_grad_that_raises_is_bad_input():
    with pytest.raises(ValueError, match="your grad raised ZeroDivisionError"):
        gdcheck.check_gradient(L.mse_loss, lambda w, X, y: 1 / 0, W, XB, Y)


def test_complex_step_is_skipped_with_a_reason_when_the_loss_takes_abs():
    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.mean(xp.abs(xp.matrix_transpose(w) @ X - y))

    def grad(w, X, y):
        return X @ np.sign(w.T @ X - y).T / X.shape[1]

    res = gdcheck.check_gradient(loss, grad, W, XB, Y)
    cs = next(w for w in res.witnesses if w.witness.name == "complex step")
    assert not cs.witness.ran
    assert "complex" in cs.witness.skipped
    assert "witness complex step: skipped" in str(res)


def test_witnesses_run_along_directions_for_many_parameters():
    Xr = np.random.default_rng(1).standard_normal((50, 40))
    p = {"w": np.random.default_rng(2).standard_normal(40) * 0.1, "b": np.array(0.0)}
    res = gdcheck.check_gradient(L.logistic_loss, L.logistic_grad, p, Xr, np.ones(50))
    assert res.passed
    assert {w.witness.mode for w in res.witnesses} == {"directions"}
    assert [len(w.witness.derivatives) for w in res.witnesses] == [1, 1]  # complex step, FD
    res = gdcheck.check_gradient(
        L.logistic_loss, L.logistic_grad, p, Xr, np.ones(50), witnesses="entries"
    )
    assert all(len(w.witness.derivatives) == 41 for w in res.witnesses)


def test_witnesses_arbitrate_when_autodiff_backends_disagree(monkeypatch):
    from gdcheck.backends import jax_backend

    real = jax_backend.loss_and_grad_jax

    def broken(loss, tree, to_user, data):  # a backend that returns a wrong gradient
        value, grads = real(loss, tree, to_user, data)
        return value, {k: 2 * g for k, g in grads.items()}

    monkeypatch.setattr(jax_backend, "loss_and_grad_jax", broken)
    res = gdcheck.check_gradient(L.mse_loss, L.mse_grad, W, XB, Y)
    assert res.reference_name == "torch"
    assert res.passed, str(res)
    assert any("sides with torch" in n for n in res.notes)


def test_user_tolerance_overrides():
    loose = gdcheck.check_gradient(
        L.mse_loss, lambda w, X, y: 1.001 * L.mse_grad(w, X, y), W, XB, Y, rtol=1e-2
    )
    assert loose.passed and loose.rtol == 1e-2
    strict = gdcheck.check_gradient(
        L.mse_loss, L.mse_grad, W, XB, Y, rtol=0.0, atol={"float64": 0.0}
    )
    assert strict.atol["params"] == 0.0


def test_float32_one_percent_error_in_one_entry_fails():
    def grad(w, X, y):
        return L.mse_grad(w, X, y) * np.array([[1.0], [1.01]], dtype=w.dtype)

    res = gdcheck.check_gradient(L.mse_loss, grad, W.astype(np.float32), XB, Y)
    assert res.dtype == "float32"
    assert not res.passed and res.diagnosis.kind == "wrong_entries"


def test_namespace_handles_dicts_and_scalars():
    import array_api_compat

    xp = gdcheck.namespace({"a": np.ones(2)}, 2.0)
    assert xp is array_api_compat.numpy


# --- the command line ------------------------------------------------------------------------


def test_cli_check_example_passes(capsys):
    from pathlib import Path

    example = Path(gdcheck.__file__).parent / "examples" / "linear_regression_check.py"
    assert main(["check", str(example)]) == 0
    assert "gradient check PASSED" in capsys.readouterr().out


def test_cli_check_wrong_gradient_exits_1(tmp_path, capsys):
    f = tmp_path / "mine.py"
    f.write_text(
        "import numpy as np\nfrom gdcheck.examples.losses import mse_loss as loss\n"
        "X = np.vstack([np.ones(20), np.linspace(0, 1, 20)]); y = 2 * X[1:] + 1\n"
        "def grad(w, X, y):\n    return -(2 / X.shape[1]) * X @ (w.T @ X - y).T\n"
        "params = np.zeros((2, 1)); data = (X, y)\n"
    )
    assert main(["check", str(f)]) == 1
    out = capsys.readouterr().out
    assert "sign_flipped" in out


@pytest.mark.parametrize(
    ("source", "fragment"),
    [
        ("loss = 1\n", "does not define grad, params, data"),
        ("raise RuntimeError('boom')\n", "failed to run: RuntimeError: boom"),
        (
            "import numpy as np\nloss = grad = lambda p, x: 0\nparams = np.zeros(2)\ndata = 3\n",
            "data must be a tuple of arrays",
        ),
    ],
    ids=["missing", "raises", "data_not_tuple"],
)
def test_cli_check_bad_files_exit_2(tmp_path, capsys, source, fragment):
    f = tmp_path / "bad.py"
    f.write_text(source)
    assert main(["check", str(f)]) == 2
    err = capsys.readouterr().err
    assert fragment in err and "Traceback" not in err


def test_float32_cancellation_is_not_a_false_alarm():
    """tanh saturates: 1 − tanh² in float32 loses digits. Right formula, rounding-level error."""
    p = {
        "W1": np.array([[3.32299952], [0.22578661], [-0.35263079]]),
        "b1": np.array([-0.28128742]),
        "W2": np.array([-0.00066805]),
        "b2": np.array(-0.00105515),
    }
    X = np.array(
        [
            [2.04091912, -2.55566503, 0.41809885],
            [-0.56776961, -0.45264929, -0.21559716],
            [-2.01998613, -0.23193238, -0.86521308],
        ]
    )
    t = np.array([-0.0003908, 0.00048195, -0.00023855])
    res = gdcheck.check_gradient(L.mlp_loss, L.mlp_grad, p, X, t, dtype="float32")
    assert res.passed, str(res)
    assert res.diagnosis is None or res.diagnosis.kind == "precision"


def test_precision_passes_with_derived_tolerances_and_fails_with_the_users_own():
    from gdcheck.check._diagnosis import diagnose
    from gdcheck.params import ParamLayout

    layout = ParamLayout(("w",), ((3,),), is_dict=True)
    r = np.array([1.0, -2.0, 3.0])
    tol = np.full(3, 1e-6)
    d = diagnose(layout, r + np.array([2e-6, 0.0, -1e-7]), r, tol)
    assert d.kind == "precision" and d.entries == {"w": [(0,)]}
    assert "rounding" in d.message
    # a 1 % error in one entry is far beyond the precision margin
    assert diagnose(layout, r * np.array([1.01, 1, 1]), r, tol).kind == "wrong_entries"
    # one constant factor, however close to 1, is a mistake, not rounding
    d = diagnose(layout, r * 1.002, r, np.full(3, 2e-3))
    assert d.kind == "scaled" and d.factor == pytest.approx(1.002)


@pytest.mark.parametrize(
    ("kwargs", "exc", "fragment"),
    [
        ({"backends": "numpy"}, ValueError, "selects no autodiff backend"),
        ({"rtol": -1.0}, ValueError, "rtol must be a finite number >= 0"),
        ({"atol": float("nan")}, ValueError, "atol must be a finite number >= 0"),
        ({"rtol": "a"}, TypeError, "rtol must be a number"),
    ],
    ids=["numpy_only", "negative_rtol", "nan_atol", "text_rtol"],
)
def test_bad_options_are_refused(kwargs, exc, fragment):
    with pytest.raises(exc, match=fragment):
        gdcheck.check_gradient(L.mse_loss, L.mse_grad, W, XB, Y, **kwargs)


def test_bad_params_and_data_are_refused():
    with pytest.raises(ValueError, match="float16"):
        gdcheck.check_gradient(L.mse_loss, L.mse_grad, W.astype(np.float16), XB, Y)
    with pytest.raises(ValueError, match="no entries"):
        gdcheck.check_gradient(L.mse_loss, L.mse_grad, np.zeros((0, 1)), XB, Y)
    bad = Y.copy()
    bad[0, 3] = np.inf
    with pytest.raises(ValueError, match=r"data\[1\] contains 1 Inf"):
        gdcheck.check_gradient(L.mse_loss, L.mse_grad, W, XB, bad)


def test_a_nan_loss_is_not_blamed_on_your_gradient():
    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.sum(xp.log(xp.matrix_transpose(w) @ X - 100.0))  # log of negatives

    with pytest.raises(ValueError, match=r"the loss is nan at these params \(under torch\)"):
        gdcheck.check_gradient(loss, L.mse_grad, W, XB, Y)


def test_a_grad_that_writes_into_its_data_is_told_so():
    def grad(w, X, y):
        y -= w.T @ X  # in place: would corrupt the data every backend shares
        return -(2 / X.shape[1]) * X @ y.T

    with pytest.raises(ValueError, match=r"your grad raised ValueError: .*read-only"):
        gdcheck.check_gradient(L.mse_loss, grad, W, XB, Y.copy())


def test_dict_order_is_kept_under_jax():
    def loss(p, x):
        w, b = p.values()  # relies on the user's key order
        xp = gdcheck.namespace(w)
        return xp.sum((w * x + b) ** 2)

    def grad(p, x):
        w, b = p.values()
        r = 2 * (w * x + b)
        return {"w": np.sum(r * x), "b": np.sum(r)}

    params = {"w": np.array(0.5), "b": np.array(0.1)}
    assert gdcheck.check_gradient(loss, grad, params, np.arange(4.0), backends="jax").passed


def test_a_wrong_intercept_is_not_hidden_by_the_slopes_rounding():
    """Features in the thousands: the slope's rounding floor must not cover the intercept."""
    rng = np.random.default_rng(0)
    x = rng.uniform(1000, 3000, (1, 500))
    X = np.vstack([np.ones((1, 500)), x])
    y = 0.2 * x + 50 + rng.standard_normal((1, 500))
    w = np.array([[np.mean(y - 0.21 * x) + 1], [0.21]])

    def flipped_intercept(w, X, y):
        g = L.mse_grad(w, X, y)
        g[0] = -g[0]
        return g

    res = gdcheck.check_gradient(L.mse_loss, flipped_intercept, w.astype(np.float32), X, y)
    assert not res.passed, str(res)
    assert res.diagnosis.entries == {"params": [(0, 0)]}


def test_near_an_optimum_a_five_percent_error_is_caught():
    w_star, *_ = np.linalg.lstsq(XB.T, Y.T, rcond=None)
    w = w_star + 1e-6 * np.array([[1.0], [-1.0]])
    res = gdcheck.check_gradient(L.mse_loss, lambda w, X, y: 1.05 * L.mse_grad(w, X, y), w, XB, Y)
    assert not res.passed and res.diagnosis.kind == "scaled"
    assert res.points_checked == 3


def test_at_zero_params_a_term_that_vanishes_there_is_still_checked():
    def loss(w, X, y):
        xp = gdcheck.namespace(w)
        return L.mse_loss(w, X, y) + 0.1 * xp.sum(w**2)

    def grad(w, X, y):  # the penalty's gradient has the wrong sign and factor
        return L.mse_grad(w, X, y) - 0.1 * w

    res = gdcheck.check_gradient(loss, grad, np.zeros((2, 1)), XB, Y)
    assert not res.passed, str(res)
    assert any("exactly 0" in n for n in res.notes)


def test_the_complex_step_is_not_trusted_where_the_loss_compares_values():
    def loss(w, x):
        xp = gdcheck.namespace(w)
        return xp.sum(xp.maximum(w * x, 0.0 * x))  # relu: compares complex values

    def grad(w, x):
        return np.sum(np.where(w * x > 0, x, 0.0))

    res = gdcheck.check_gradient(loss, grad, np.array(0.7), np.array([1.0, -2.0, 3.0]))
    assert res.passed, str(res)
    cs = next(w for w in res.witnesses if w.witness.name == "complex step")
    assert cs.witness.ran or "complex" in cs.witness.skipped


def test_memory_mapped_data_raise_no_torch_warning(tmp_path):
    # torch warns once per process about a non-writable array; nothing here writes to data.
    # A fresh process, so the warning cannot have fired before (gdcheck would catch it as an
    # error inside a backend, so it is read from stderr, not raised).
    import subprocess
    import sys

    np.save(tmp_path / "X.npy", np.random.default_rng(0).standard_normal((50, 3)))
    code = (
        "import numpy as np, gdcheck\n"
        f"A = np.load({str(tmp_path / 'X.npy')!r}, mmap_mode='r')\n"
        "X, y = A[:, :-1], A[:, -1]  # views of a read-only map, as a user slices a file\n"
        "def loss(w, X, y):\n"
        "    xp = gdcheck.namespace(w)\n"
        "    return xp.mean((X @ w - y) ** 2)\n"
        "def grad(w, X, y):\n"
        "    return 2 * X.T @ (X @ w - y) / len(y)\n"
        "assert gdcheck.check_gradient(loss, grad, np.ones(2) / 2, X, y, backends='torch').passed\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-500:]
    assert "not writable" not in out.stderr and "Warning" not in out.stderr
