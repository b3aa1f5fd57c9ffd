"""The model series (ridge, logistic, softmax, mlp): gradients, namespaces, vmap, bad data, mistakes."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.examples.planted import (
    ENTRIES,
    PLANTED,
    RIGHT_AT_INIT,
    build,
    example_data,
    planted_point,
)

# -- case tables ---------------------------------------------------------------------------------
MODELS = {
    "ridge": "ridge(alpha=0.3)",
    "logistic": "logistic_regression()",
    "softmax": "softmax_regression()",
    "mlp": "mlp(hidden=8, l2=1e-3)",
}
DTYPES = ("float64", "float32")
POINTS = ("init", "random-1", "random-2")
LOSS_RTOL = {"float64": 1e-12, "float32": 2e-5}
"""Same loss under NumPy, JAX and torch: a few ulps of a sum of m = 64 terms."""
GRAD_RTOL = {"float64": 1e-10}

BAD_DATA = [
    # (model call, X, y, message fragment)
    ("ridge()", np.ones((2, 5)), np.ones((5, 1)), r"Pass y\.T or y\.reshape\(1, -1\)"),
    ("ridge()", np.ones(5), np.ones((1, 5)), r"X\.reshape\(1, -1\)"),
    ("logistic_regression()", np.ones((5, 2)), np.array([0, 1, 2, 0, 1]), r"y\[2\] = 2"),
    ("logistic_regression()", np.ones((2, 5)), np.zeros(5), r"pass X\.T"),
    ("logistic_regression()", np.ones((5, 2)), np.zeros((5, 1)), r"pass y\.reshape\(-1\)"),
    ("logistic_regression()", np.ones(5), np.zeros(5), r"X\.reshape\(-1, 1\)"),
    ("logistic_regression()", np.ones((4, 2)), np.zeros(5), r"X has 4 rows .* y has 5"),
    ("logistic_regression()", np.full((3, 2), np.nan), np.zeros(3), r"X contains 6 NaN"),
    (
        "softmax_regression(classes=3)",
        np.ones((4, 2)),
        np.array([0, 1, 3, 5]),
        r"2 label\(s\) lie outside \[0, 3\), the first y\[2\] = 3; pass classes >= 6",
    ),
    (
        "softmax_regression()",
        np.ones((3, 2)),
        np.array([0, -1, 1]),
        r"y\[1\] = -1; relabel to 0\.\.1",
    ),
    (
        "softmax_regression()",
        np.ones((3, 2)),
        np.array([0, 0.5, 1]),
        r"integer class labels .* y\[1\] = 0\.5",
    ),
    ("softmax_regression()", np.ones((3, 2)), np.zeros(3), r"one class; pass classes=C"),
    ("mlp()", np.ones((2, 3)), np.array([0, 1, 1]), r"pass X\.T"),
]
BAD_ARGS = [
    # (factory, kwargs, message fragment)
    ("ridge", {"alpha": -1.0}, r"ridge\(alpha=-1\.0\): the penalty must be a finite number >= 0"),
    ("softmax_regression", {"classes": 1}, r"need at least 2 classes"),
    ("mlp", {"hidden": 0}, r"mlp\(hidden=0\): the hidden layer needs at least 1 unit"),
    ("mlp", {"l2": float("nan")}, r"mlp\(l2=nan\)"),
    ("mlp", {"seed": 1.5}, r"mlp\(seed=\.\.\.\) must be an integer"),
]
LAYOUTS = {
    "ridge": "columns (features × examples), a ones row prepended",
    "logistic": "rows",
    "softmax": "rows",
    "mlp": "rows",
}


# -- helpers -------------------------------------------------------------------------------------
def prepared(key: str, dtype: str = "float64", seed: int = 0) -> tuple[gdcheck.Model, tuple]:
    model = build(MODELS[key])
    data = model.prepare(*example_data(MODELS[key], seed=seed))
    return model, tuple(d.astype(dtype) for d in data)


def point(model: gdcheck.Model, data: tuple, which: str, dtype: str):
    params = model.init(*data)
    if which == "init":
        return params
    rng = np.random.default_rng(int(which.split("-")[1]))

    def move(v):
        return (v + rng.standard_normal(np.shape(v))).astype(dtype)

    return {k: move(v) for k, v in params.items()} if isinstance(params, dict) else move(params)


def as_lib(tree, lib: str):
    if lib == "numpy":
        return tree
    if lib == "jax":
        import jax.numpy as jnp

        convert = jnp.asarray
    else:
        import torch

        convert = torch.from_numpy
    if isinstance(tree, dict):
        return {k: convert(np.asarray(v)) for k, v in tree.items()}
    return convert(np.asarray(tree))


def failing_params(res: gdcheck.GradientCheck) -> set[str]:
    return {k for k, err in res.abs_error.items() if not (err <= res.tolerance[k]).all()}


# -- every model, every dtype ---------------------------------------------------------------------
@pytest.mark.parametrize("which", POINTS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", MODELS)
def test_handwritten_gradient_passes_check_gradient(key, dtype, which):
    model, data = prepared(key, dtype)
    params = point(model, data, which, dtype)
    res = gdcheck.check_gradient(model.loss, model.grad, params, *data)
    assert res.passed, str(res)
    assert res.dtype == dtype and res.diagnosis is None


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("key", MODELS)
def test_loss_is_the_same_under_numpy_jax_and_torch(key, dtype):
    import jax

    model, data = prepared(key, dtype)
    params = point(model, data, "random-1", dtype)
    ref = float(model.loss(params, *data))
    assert np.isfinite(ref) and ref > 0
    with jax.enable_x64(dtype == "float64"):
        for lib in ("jax", "torch"):
            value = model.loss(as_lib(params, lib), *(as_lib(d, lib) for d in data))
            assert str(value.dtype).endswith(dtype), (lib, value.dtype)
            assert float(value) == pytest.approx(ref, rel=LOSS_RTOL[dtype]), lib


@pytest.mark.parametrize("lib", ["jax", "torch"])
@pytest.mark.parametrize("key", MODELS)
def test_vmap_of_autodiff_over_a_batch_of_params_matches_the_handwritten_gradient(key, lib):
    import jax

    model, data = prepared(key)
    points = [point(model, data, f"random-{s}", "float64") for s in (1, 2, 3)]
    stack = (
        {k: np.stack([p[k] for p in points]) for k in points[0]}
        if isinstance(points[0], dict)
        else np.stack(points)
    )
    in_axes = (0,) + (None,) * len(data)
    with jax.enable_x64(True):
        if lib == "jax":
            batched = jax.vmap(jax.grad(model.loss), in_axes=in_axes)
            losses = jax.vmap(model.loss, in_axes=in_axes)
        else:
            import torch.func

            batched = torch.func.vmap(torch.func.grad(model.loss), in_dims=in_axes)
            losses = torch.func.vmap(model.loss, in_dims=in_axes)
        args = (as_lib(stack, lib), *(as_lib(d, lib) for d in data))
        grads, values = batched(*args), losses(*args)
    for i, p in enumerate(points):
        assert float(values[i]) == pytest.approx(float(model.loss(p, *data)), rel=1e-12)
        mine = model.grad(p, *data)
        if isinstance(p, dict):
            for k in p:
                np.testing.assert_allclose(np.asarray(grads[k][i]), mine[k], rtol=1e-10, atol=1e-14)
        else:
            np.testing.assert_allclose(np.asarray(grads[i]), mine, rtol=1e-10, atol=1e-14)


def test_info_names_each_models_layout():
    for key, layout in LAYOUTS.items():
        model = build(MODELS[key])
        assert isinstance(model, gdcheck.Model) and model.info["layout"] == layout
        assert model.description and model.name in MODELS[key]


# -- ridge: optimum and Hessian ------------------------------------------------------------------
@pytest.mark.parametrize("alpha", [0.0, 0.3, 5.0])
def test_ridge_optimum_zeroes_the_gradient_and_hessian_is_jax_hessian(alpha):
    import jax

    model = gdcheck.models.ridge(alpha=alpha)
    X, y = model.prepare(*example_data("ridge()", seed=3))
    w_star = model.optimum(X, y)
    assert w_star.dtype == np.float64 and w_star.shape == (4, 1)
    assert np.abs(model.grad(w_star, X, y)).max() < 1e-12
    with jax.enable_x64(True):
        H = jax.hessian(model.loss)(jax.numpy.asarray(w_star), X, y)
    np.testing.assert_allclose(model.hessian(X, y), np.asarray(H).reshape(4, 4), atol=1e-13)
    if alpha == 0.0:  # plain least squares
        lsq, *_ = np.linalg.lstsq(X.T, y.T, rcond=None)
        np.testing.assert_allclose(w_star, lsq, rtol=1e-10)
    else:  # the penalty shrinks the weights, never the intercept's freedom
        assert np.linalg.norm(w_star[1:]) < np.linalg.norm(
            gdcheck.models.ridge(alpha=0.0).optimum(X, y)[1:]
        )


def test_ridge_leaves_the_intercept_unpenalised():
    model = gdcheck.models.ridge(alpha=1.0)
    X, y = model.prepare(*example_data("ridge()"))
    w = np.array([[2.0], [0.0], [0.0], [0.0]])
    mse = float(np.mean((w.T @ X - y) ** 2))
    assert float(model.loss(w, X, y)) == pytest.approx(mse, rel=1e-14)
    assert model.hessian(X)[0, 0] == pytest.approx(2.0, rel=1e-14)  # (2/m)·Σ1², no 2α


# -- stability at huge logits --------------------------------------------------------------------
@pytest.mark.parametrize("lib", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_logistic_loss_is_finite_at_logits_of_1000(dtype, lib):
    import jax

    model = gdcheck.models.logistic_regression()
    X, y = model.prepare(np.array([[1.0], [-1.0], [1.0], [-1.0]], dtype), np.array([1, 0, 0, 1]))
    p = {"w": np.array([1000.0], dtype), "b": np.zeros((), dtype)}  # z = ±1000
    with jax.enable_x64(dtype == "float64"):
        value = float(model.loss(as_lib(p, lib), as_lib(X, lib), as_lib(y, lib)))
    assert value == pytest.approx(500.0, rel=1e-6)  # two rows right (0), two wrong (1000 each)
    g = model.grad(p, X, y)
    assert g["b"] == pytest.approx(0.0, abs=1e-6) and g["w"][0] == pytest.approx(0.5)


@pytest.mark.parametrize("lib", ["numpy", "jax", "torch"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_loss_is_finite_at_logits_of_1000(dtype, lib):
    import jax

    model = gdcheck.models.softmax_regression(classes=3)
    X, Y = model.prepare(np.eye(2, dtype=dtype), np.array([0, 1]))
    p = {
        "W": np.array([[1000.0, -1000.0, 0.0], [1000.0, -1000.0, 0.0]], dtype),
        "b": np.zeros(3, dtype),
    }
    with jax.enable_x64(dtype == "float64"):
        value = float(model.loss(as_lib(p, lib), as_lib(X, lib), as_lib(Y, lib)))
    assert value == pytest.approx(1000.0, rel=1e-6)  # row 0: −log P ≈ 0; row 1: 2000
    assert all(np.isfinite(v).all() for v in model.grad(p, X, Y).values())


# -- data preparation ----------------------------------------------------------------------------
@pytest.mark.parametrize(("call", "X", "y", "message"), BAD_DATA)
def test_bad_data_is_refused_with_a_message_that_says_how_to_fix_it(call, X, y, message):
    with pytest.raises(gdcheck.InputError, match=message) as info:
        build(call).prepare(X, y)
    assert str(info.value).startswith("gdcheck: ")


@pytest.mark.parametrize(("factory", "kwargs", "message"), BAD_ARGS)
def test_bad_hyperparameters_are_refused(factory, kwargs, message):
    with pytest.raises((gdcheck.InputError, TypeError), match=message):
        getattr(gdcheck.models, factory)(**kwargs)


@pytest.mark.parametrize("dtype", DTYPES)
def test_one_hot_targets_follow_x_dtype_and_classes(dtype):
    model = gdcheck.models.softmax_regression(classes=4)
    X, Y = model.prepare(np.ones((3, 2), dtype), np.array([2.0, 0.0, 1.0]))
    assert X.dtype == dtype and Y.dtype == dtype and Y.shape == (3, 4)
    np.testing.assert_array_equal(Y.argmax(axis=1), [2, 0, 1])
    np.testing.assert_array_equal(Y.sum(axis=1), 1.0)
    assert model.init(X, Y)["W"].shape == (2, 4)


def test_mlp_init_is_seeded_he_normal_with_zero_biases():
    model = gdcheck.models.mlp(hidden=256, seed=7)
    X, Y = model.prepare(np.ones((5, 400)), np.array([0, 1, 2, 0, 1]))
    a, b = model.init(X, Y), model.init(X, Y)
    assert {k: v.shape for k, v in a.items()} == {
        "W1": (400, 256),
        "b1": (256,),
        "W2": (256, 3),
        "b2": (3,),
    }
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not a["b1"].any() and not a["b2"].any()
    assert np.std(a["W1"]) == pytest.approx(np.sqrt(2 / 400), rel=0.02)
    other = gdcheck.models.mlp(hidden=256, seed=8).init(X, Y)
    assert not np.array_equal(a["W1"], other["W1"])


def test_mlp_relu_kink_autodiff_takes_half_where_the_mask_takes_zero():
    """Documented convention difference: at an exact tie z1 = 0, d max(z, 0)/dz is ½ in autodiff."""
    import jax

    model = gdcheck.models.mlp(hidden=4, l2=0.0)
    X, Y = model.prepare(np.array([[0.0, 0.0], [1.0, -2.0], [0.5, 1.0]]), np.array([0, 1, 1]))
    p = model.init(X, Y)  # b1 = 0 and X[0] = 0: every unit of row 0 sits exactly on the kink
    mine = model.grad(p, X, Y)
    with jax.enable_x64(True):
        auto = jax.grad(model.loss)(as_lib(p, "jax"), X, Y)
    G2_row0 = (1 / 2 - Y[0]) / 3  # row 0: A1 = 0, logits b2 = 0, so P = 1/C = 1/2; m = 3
    np.testing.assert_allclose(
        np.asarray(auto["b1"]) - mine["b1"], 0.5 * G2_row0 @ p["W2"].T, atol=1e-15
    )
    np.testing.assert_allclose(np.asarray(auto["W1"]), mine["W1"], atol=1e-15)  # X[0] = 0


# -- planted mistakes ----------------------------------------------------------------------------
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize(
    ("call", "mistake", "grad", "shows_in"), PLANTED, ids=[row[1] for row in PLANTED]
)
def test_check_gradient_flags_each_planted_mistake_in_its_parameter(
    call, mistake, grad, shows_in, dtype
):
    model = build(call)
    data = tuple(d.astype(dtype) for d in model.prepare(*example_data(call, seed=0)))
    params = planted_point(call, mistake, data, seed=1)
    with np.errstate(over="ignore", invalid="ignore"):  # the no-max softmax overflows on purpose
        res = gdcheck.check_gradient(model.loss, grad, params, *data)
    assert not res.passed
    assert failing_params(res) == set(shows_in), str(res)
    if mistake in ENTRIES:  # ridge: which rows of w
        rows = {
            i for i in range(4) if res.abs_error["params"][i, 0] > res.tolerance["params"][i, 0]
        }
        assert rows == ({0} if ENTRIES[mistake] == "intercept" else {1, 2, 3}), rows


@pytest.mark.parametrize(
    ("call", "mistake", "grad", "shows_in"), PLANTED, ids=[row[1] for row in PLANTED]
)
def test_right_at_init_is_exactly_the_mistakes_that_vanish_at_init(call, mistake, grad, shows_in):
    model = build(call)
    data = model.prepare(*example_data(call, seed=0))
    p0 = model.init(*data)
    right, wrong = model.grad(p0, *data), grad(p0, *data)
    same = (
        all(np.allclose(right[k], wrong[k], rtol=1e-12, atol=1e-15) for k in right)
        if isinstance(right, dict)
        else np.allclose(right, wrong, rtol=1e-12, atol=1e-15)
    )
    assert same == (mistake in RIGHT_AT_INIT)
