"""A loss that uses what the array API lacks gets one readable line with the rewrite.

Real course losses use ``logsumexp``, assign into arrays (``h[h < 0] = 0``, ``S -= S.max()``)
and call ``X.dot(W)``. Under JAX or torch these fail; gdcheck names the operation and its
rewrite, and the rewrite it suggests then passes.
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.array_api import IN_PLACE, operation_hint
from gdcheck.errors import InputError

RNG = np.random.default_rng(11)
N, D, C = 24, 3, 4
X = RNG.standard_normal((N, D))
Y = RNG.integers(0, C, N)
W = RNG.standard_normal((D, C))


def softmax_grad(W, X, y):
    S = X @ W
    P = np.exp(S - S.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    P[np.arange(len(y)), y] -= 1
    return X.T @ P / len(y)


def _picked(xp, S, y):
    return xp.sum(S * xp.astype(y[:, None] == xp.arange(C)[None, :], S.dtype), axis=1)


def loss_logsumexp(W, X, y):
    xp = gdcheck.namespace(W)
    S = X @ W
    return xp.mean(xp.logsumexp(S, axis=1) - _picked(xp, S, y))


def loss_logsumexp_rewritten(W, X, y):  # the rewrite the message gives
    xp = gdcheck.namespace(W)
    S = X @ W
    m = xp.max(S, axis=1, keepdims=True)
    lse = m + xp.log(xp.sum(xp.exp(S - m), axis=1, keepdims=True))
    return xp.mean(lse[:, 0] - _picked(xp, S, y))


def loss_stable_in_place(W, X, y):  # CS231n's scores -= scores.max(...)
    xp = gdcheck.namespace(W)
    S = X @ W
    S -= xp.max(S, axis=1, keepdims=True)
    return xp.mean(xp.log(xp.sum(xp.exp(S), axis=1)) - _picked(xp, S, y))


def relu_sum_in_place(W, X, y):  # h[h < 0] = 0, the NumPy ReLU
    xp = gdcheck.namespace(W)
    h = X @ W
    h[h < 0] = 0
    return xp.sum(h**2) / 2


def relu_sum_rewritten(W, X, y):
    xp = gdcheck.namespace(W)
    h = X @ W
    h = xp.where(h < 0, xp.zeros_like(h), h)
    return xp.sum(h**2) / 2


def relu_sum_grad(W, X, y):
    h = np.maximum(X @ W, 0)
    return X.T @ h


def loss_dot(W, X, y):
    xp = gdcheck.namespace(W)
    return xp.sum(X.dot(W) ** 2)


def loss_dot_rewritten(W, X, y):
    xp = gdcheck.namespace(W)
    return xp.sum((X @ W) ** 2)


def dot_grad(W, X, y):
    return 2 * X.T @ (X @ W)


def test_logsumexp_under_jax_is_refused_in_one_line_with_the_rewrite():
    pytest.importorskip("jax")
    with pytest.raises(InputError) as info:
        gdcheck.check_gradient(loss_logsumexp, softmax_grad, W, X, Y, backends=("jax",))
    msg = str(info.value)
    assert "xp.logsumexp is not in the array API" in msg
    assert "m = xp.max(z, axis=a, keepdims=True); m + xp.log(xp.sum(xp.exp(z - m)" in msg
    assert "\n" not in msg
    res = gdcheck.check_gradient(loss_logsumexp_rewritten, softmax_grad, W, X, Y, backends=("jax",))
    assert res.passed and res.reference_name == "jax", str(res)


def test_item_assignment_under_jax_names_in_place_and_the_rewrite():
    pytest.importorskip("jax")
    res = gdcheck.check_gradient(relu_sum_in_place, relu_sum_grad, W, X, Y, backends=("jax",))
    assert "assigns into an array in place" in res.failures["jax"]
    assert "xp.where(mask, value, a)" in res.failures["jax"]
    assert "the loss failed under jax" in str(res) and "xp.where" in str(res)
    fixed = gdcheck.check_gradient(relu_sum_rewritten, relu_sum_grad, W, X, Y, backends=("jax",))
    assert fixed.passed and not fixed.failures and fixed.reference_name == "jax", str(fixed)


def test_an_in_place_update_under_torch_names_it():
    pytest.importorskip("torch")
    res = gdcheck.check_gradient(loss_stable_in_place, softmax_grad, W, X, Y, backends=("torch",))
    assert res.failures["torch"].startswith("the loss failed under torch: RuntimeError")
    assert IN_PLACE in res.failures["torch"]
    # the witness stood in for autodiff, and the right gradient still passes
    assert res.passed and res.reference_name != "torch", str(res)


def test_x_dot_on_matrices_under_torch_names_the_at_operator():
    pytest.importorskip("torch")
    res = gdcheck.check_gradient(loss_dot, dot_grad, W, X, Y, backends=("torch",))
    assert "x.dot(y) on matrices" in res.failures["torch"]
    assert "write x @ y" in res.failures["torch"]
    fixed = gdcheck.check_gradient(loss_dot_rewritten, dot_grad, W, X, Y, backends=("torch",))
    assert fixed.passed and fixed.reference_name == "torch"


def test_too_many_entries_for_the_witnesses_is_an_input_error_with_the_hint():
    pytest.importorskip("torch")
    Xb = RNG.standard_normal((8, 60))
    Wb = RNG.standard_normal((60, 40))  # 2,400 entries: above the per-entry witness cap
    with pytest.raises(InputError, match=r"write x @ y"):
        gdcheck.check_gradient(loss_dot, dot_grad, Wb, Xb, None, backends=("torch",))


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (AttributeError("module 'jax.numpy' has no attribute 'concatenate'"), "xp.concat"),
        (AttributeError("'Tensor' object has no attribute 'copy'"), "x.copy is not in"),
        (TypeError("JAX arrays are immutable and do not support in-place item"), "in place"),
        (ValueError("assignment destination is read-only"), "in place"),
        (RuntimeError("1D tensors expected, but got 2D and 2D tensors"), "x @ y"),
    ],
)
def test_operation_hint_recognises_what_backends_say(exc, fragment):
    assert fragment in operation_hint(exc)


def test_other_errors_get_no_operation_hint():
    assert operation_hint(ZeroDivisionError("division by zero")) is None
    assert operation_hint(RuntimeError("mat1 and mat2 shapes cannot be multiplied")) is None


def test_integer_data_that_torch_will_not_mix_get_the_hint_in_a_cross_check():
    # a hostile review: integer features under torch failed the run with a bare RuntimeError
    Xi = RNG.integers(0, 5, (60, 3))
    yi = (Xi.sum(1) > 6).astype(float)

    def loss(p, X, y):
        xp = gdcheck.namespace(p)
        return xp.mean((X @ p["w"] + p["b"] - y) ** 2)

    def grad(p, X, y):
        r = X @ p["w"] + p["b"] - y
        return {"w": 2 * X.T @ r / X.shape[0], "b": 2 * np.mean(r)}

    model = gdcheck.Model(
        "integer_features", loss, grad, init=lambda X, y: {"w": np.zeros(3), "b": np.zeros(())}
    )
    with pytest.raises(InputError, match=r"failed under torch .* pass floating data"):
        gdcheck.crosscheck(model, Xi, yi, lr=0.01, steps=3, backends=("numpy", "torch"))
    pytest.importorskip("jax")  # JAX first: torch fails after JAX's checks, which are kept
    run = gdcheck.crosscheck(model, Xi, yi, lr=0.01, steps=3)
    found = " ".join(f.message for f in run.findings)
    assert not run.passed and "torch failed during the cross-check" in found
    assert "pass floating data (e.g. X.astype(float))" in found
    floating = gdcheck.crosscheck(model, Xi.astype(float), yi, lr=0.01, steps=3)
    assert floating.passed  # the fix it names works
