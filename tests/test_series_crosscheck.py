"""Every model of the series through the one engine: right code passes, planted mistakes are
found at the right parameter, the first step where they show, and blamed on the right code."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import gdcheck
from gdcheck import optim
from gdcheck.examples import planted
from gdcheck.examples import updates as handwritten

# (model, lr, steps): each trains visibly in a short run on gdcheck.data.synthetic(model.name).
MODELS = [
    (gdcheck.models.linear_regression(), 0.1, 60),
    (gdcheck.models.ridge(alpha=0.1), 0.1, 60),
    (gdcheck.models.logistic_regression(), 0.5, 60),
    (gdcheck.models.softmax_regression(), 0.5, 60),
    (gdcheck.models.mlp(hidden=16, l2=1e-3, seed=0), 0.5, 60),
]
# (optimizer, lr factor): the optimizer's textbook rule in the reference, its optax and
# torch.optim twins in the libraries.
OPTIMIZERS = [
    (optim.sgd(), 1.0),
    (optim.momentum(0.9), 0.2),
    (optim.momentum(0.9, nesterov=True), 0.2),
    (optim.adam(), 0.05),
    (optim.adamw(weight_decay=0.01), 0.05),
]
IDS = [m.name for m, _, _ in MODELS]


def _data(model):
    return gdcheck.data.synthetic(model.name, seed=0)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(("model", "lr", "steps"), MODELS, ids=IDS)
def test_every_model_passes_with_plain_gradient_descent(model, lr, steps, dtype):
    run = gdcheck.crosscheck(model, *_data(model), lr=lr, steps=steps, dtype=dtype)
    assert run.passed, run.summary()
    assert set(run.runs) == {"numpy", "jax", "torch"}
    if dtype == "float64":  # the figures: ≤ 1e-10 at every step and at the end
        for name, backend_run in run.runs.items():
            assert backend_run.errors.rel.max() <= 1e-10, name
        ref = run.runs["numpy"].final_weights
        for name, backend_run in run.runs.items():
            w = backend_run.final_weights
            assert np.abs(w - ref).max() <= 1e-10 * np.abs(ref).max(), name


@pytest.mark.parametrize(("opt", "factor"), OPTIMIZERS, ids=lambda o: getattr(o, "name", ""))
@pytest.mark.parametrize(("model", "lr", "steps"), MODELS[2:], ids=IDS[2:])
def test_every_optimizer_agrees_with_optax_and_torch(model, lr, steps, opt, factor):
    run = gdcheck.crosscheck(model, *_data(model), lr=lr * factor, steps=steps, optimizer=opt)
    assert run.passed, run.summary()
    assert run.config.optimizer == opt.name


def test_final_weights_keep_the_dict_structure():
    model = gdcheck.models.mlp(hidden=8, seed=0)
    run = gdcheck.crosscheck(model, *_data(model), lr=0.5, steps=5)
    w = run.final_weights["torch"]
    assert set(w) == {"W1", "b1", "W2", "b2"}
    assert w["W1"].shape == (2, 8) and w["b2"].shape == (3,)


# -- planted gradient mistakes ------------------------------------------------------------
@pytest.mark.parametrize(
    ("call", "mistake", "grad", "where"),
    [row for row in planted.PLANTED if row[1] != "softmax_without_max_subtraction"],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_planted_gradient_mistakes_are_found_at_their_parameter(call, mistake, grad, where):
    model = planted.build(call)
    data = _data(model)
    run = gdcheck.crosscheck(dataclasses.replace(model, grad=grad), *data, lr=0.1, steps=20)
    assert not run.passed
    assert run.at_fault == "gradient"
    finding = next(f for f in run.findings if f.kind == "gradient")
    names = {label.split("[")[0] for label in finding.labels}
    allowed = {"params": "w"}.get(where[0], where[0]) if len(where) == 1 else None
    assert names <= ({allowed} if allowed else {w if w != "params" else "w" for w in where}), (
        finding.message
    )
    assert "update" not in {f.kind for f in run.findings}


def test_softmax_without_max_subtraction_is_found_at_large_logits():
    row = next(r for r in planted.PLANTED if r[1] == "softmax_without_max_subtraction")
    model = planted.build(row[0])
    data = _data(model)
    start = planted.planted_point(row[0], row[1], model.prepare(*data))  # logits in the hundreds
    wrong = dataclasses.replace(model, grad=row[2], init=lambda *d: start)
    with np.errstate(over="ignore", invalid="ignore"):
        run = gdcheck.crosscheck(wrong, *data, lr=1e-4, steps=3)
    assert not run.passed
    assert any(f.kind == "gradient" for f in run.findings)


def test_a_gradient_right_at_w0_and_wrong_from_step_1_is_flagged_at_step_1():
    model = gdcheck.models.ridge(alpha=0.5)
    base = model.grad

    def wrong_sign_penalty(w, X, y):  # the penalty's sign flipped: it vanishes at w = 0
        g = base(w, X, y)
        penalty = 2 * 0.5 * np.vstack([np.zeros((1, 1)), w[1:]])
        return g - 2 * penalty

    run = gdcheck.crosscheck(
        dataclasses.replace(model, grad=wrong_sign_penalty), *_data(model), lr=0.1, steps=10
    )
    finding = next(f for f in run.findings if f.kind == "gradient")
    assert finding.step == 1, finding.message
    assert "first at step 1" in finding.message


# -- planted update mistakes --------------------------------------------------------------
@pytest.mark.parametrize("case", handwritten.MISTAKES, ids=lambda c: c.name)
def test_planted_update_mistakes_are_update_findings_at_their_first_step(case):
    model = gdcheck.models.logistic_regression()
    claims = eval(case.claims, {"gdcheck": gdcheck, "optim": optim, **vars(optim)})
    run = gdcheck.crosscheck(
        dataclasses.replace(model, update=case.update),
        *_data(model),
        lr=case.lr,
        steps=30,
        optimizer=claims,
    )
    assert not run.passed, run.summary()
    assert run.at_fault == "update"
    first = next(f for f in run.findings if f.kind == "update")
    # step k is the update w_k → w_{k+1}; the table counts the weights w_{k+1}. At w_0 = 0
    # (logistic's init) weight decay contributes nothing, so coupled and decoupled decay agree
    # on the first update and part at the second.
    shows = case.first_step + (1 if case.name == "adamw_coupled_decay" else 0)
    assert first.step + 1 == shows, first.message
    assert "gradient" not in {f.kind for f in run.findings}


@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "adam", "adamw"])
def test_right_handwritten_updates_agree_over_500_steps(name):
    model = gdcheck.models.logistic_regression()
    opt = {
        "sgd": optim.sgd(),
        "momentum": optim.momentum(0.9),
        "nesterov": optim.momentum(0.9, nesterov=True),
        "adam": optim.adam(),
        "adamw": optim.adamw(),
    }[name]
    run = gdcheck.crosscheck(
        dataclasses.replace(model, update=getattr(handwritten, name)),
        *_data(model),
        lr=0.05,
        steps=500,
        optimizer=opt,
    )
    assert run.passed, run.summary()
    assert run.config.update == "handwritten"


# -- kinks and fixed points ---------------------------------------------------------------
def test_an_exact_relu_kink_is_a_convention_not_a_bug():
    model = gdcheck.models.mlp(hidden=8, l2=0.0, seed=0)
    X, y = _data(model)
    X = X.copy()
    X[:4] = 0.0  # four examples at the origin: z1 = b1 = 0 exactly at init
    run = gdcheck.crosscheck(model, X, y, lr=0.5, steps=5)
    kinks = [f for f in run.findings if f.kind == "kink"]
    assert kinks and kinks[0].step == 0 and not kinks[0].fatal
    assert any(label.startswith("b1") for label in kinks[0].labels)
    assert "convention difference, not a mistake" in kinks[0].message
    assert run.passed, run.summary()


@pytest.mark.parametrize(
    "model",
    [gdcheck.models.linear_regression(), gdcheck.models.ridge(0.3)],
    ids=["linear", "ridge"],
)
def test_at_the_closed_form_solution_every_backend_agrees(model):
    X, y = _data(model)
    prepared = model.prepare(X, y)
    start = model.optimum(*prepared)
    at_optimum = dataclasses.replace(model, init=lambda *d: start.copy())
    run = gdcheck.crosscheck(at_optimum, X, y, lr=0.1, steps=20)
    assert run.passed, run.summary()
    for name in run.runs:
        assert run.distance_to_optimum(name) <= 1e-9
    report = run.to_dict()
    assert report["analysis"]["least_squares"] is not None


# -- robust against itself ------------------------------------------------------------------
def test_a_backend_that_raises_mid_run_is_reported_and_the_others_are_kept(monkeypatch):
    from gdcheck.backends.torch_backend import TorchBackend

    def broken(self, problem, steps):
        raise RuntimeError("simulated: the device went away at step 7")

    monkeypatch.setattr(TorchBackend, "trajectory", broken)
    model = gdcheck.models.logistic_regression()
    run = gdcheck.crosscheck(model, *_data(model), lr=0.5, steps=20)
    assert not run.passed  # the check is incomplete: never a pass
    assert set(run.runs) == {"numpy", "jax"}  # jax's results are kept
    incomplete = [f for f in run.findings if f.kind == "incomplete"]
    assert [f.backend for f in incomplete] == ["torch"]
    assert "simulated: the device went away at step 7" in incomplete[0].message
    assert "its checks are incomplete" in incomplete[0].message
    assert not any(f.kind == "gradient" for f in run.findings)


def test_a_divergence_names_where_each_backend_went_non_finite():
    X, y = gdcheck.data.tutorial(seed=0)
    run = gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, lr=100, steps=200)
    diverged = next(f for f in run.findings if f.kind == "diverged")
    assert "First non-finite loss or weights: numpy at step 63" in diverged.message
    for name in ("jax", "torch"):
        assert f"{name} at step" in diverged.message
    assert "first)." in diverged.message


# -- bad models a user writes -------------------------------------------------------------
def _logistic_parts():
    def grad(p, X, y):
        z = X @ p["w"] + p["b"]
        d = (1 / (1 + np.exp(-z)) - y) / len(y)
        return {"w": X.T @ d, "b": d.sum()}

    def init(X, y):
        return {"w": np.zeros(X.shape[1]), "b": np.zeros(())}

    return grad, init


def test_a_numpy_loss_is_one_line_with_the_namespace_hint_not_a_traceback():
    grad, init = _logistic_parts()

    def numpy_loss(p, X, y):  # np.* instead of the namespace: fine in NumPy, not under JAX
        z = X @ p["w"] + p["b"]
        return np.mean(np.logaddexp(0, z) - y * z)

    model = gdcheck.Model("np_loss", numpy_loss, grad, init)
    with pytest.raises(gdcheck.InputError) as err:
        gdcheck.crosscheck(model, *gdcheck.data.synthetic("logistic_regression"), steps=5)
    text = str(err.value)
    assert "model 'np_loss': the loss failed under jax" in text
    assert "xp = gdcheck.namespace(params)" in text


def test_a_gradient_that_changes_shape_mid_run_is_named_as_the_grads_fault():
    grad, init = _logistic_parts()

    def reshaping(p, X, y):
        g = grad(p, X, y)
        if p["w"].any():  # right at w = 0, flattened into a row afterwards
            g["w"] = g["w"].reshape(1, -1)
        return g

    loss = gdcheck.models.logistic_regression().loss
    model = gdcheck.Model("reshaping", loss, reshaping, init)
    with pytest.raises(
        gdcheck.InputError, match=r"your grad returned w of shape \(1, 2\) at step 1"
    ):
        gdcheck.crosscheck(
            model, *gdcheck.data.synthetic("logistic_regression"), steps=5, backends="numpy"
        )


def test_an_optimizer_named_by_a_string_says_which_call_was_meant():
    X, y = gdcheck.data.tutorial(seed=0)
    with pytest.raises(TypeError) as err:  # gdcheck.errors.InputTypeError
        gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, steps=2, optimizer="adam")
    assert "Did you mean gdcheck.optim.adam()?" in str(err.value)
