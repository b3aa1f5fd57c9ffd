"""A catalogue of published handwritten gradients, each with realistic planted mistakes.

Each gradient is a faithful port (re-expressed, not copied) of code published in a public
repository, cited above it by repository, path and the commit read. The loss beside it is
the same function written once against the array-API namespace, for autodiff. Every
:class:`Case` carries the correct gradient and 2–4 :class:`Mistake` s with the kind
``check_gradient`` should name. Used by ``tests/test_published.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..array_api import namespace


@dataclass(frozen=True)
class Mistake:
    name: str
    grad: Callable[..., Any]
    kind: str


@dataclass(frozen=True)
class Case:
    name: str
    source: str
    loss: Callable[..., Any]
    grad: Callable[..., Any]
    params: Any
    data: tuple
    mistakes: tuple[Mistake, ...] = field(default_factory=tuple)
    kwargs: dict = field(default_factory=dict)
    """Keyword arguments ``check_gradient`` needs for this case (``layout=``, ``order=``)."""


RNG = np.random.default_rng(7)
N, D, C, H = 40, 5, 4, 6
X = RNG.standard_normal((N, D))
Y = RNG.integers(0, C, N)
REG = 0.1


def _onehot(xp: Any, y: Any, k: int, like: Any) -> Any:
    return xp.astype(y[:, None] == xp.arange(k)[None, :], like.dtype)


def _logsumexp(xp: Any, Z: Any) -> Any:
    zmax = xp.max(Z, axis=1, keepdims=True)
    return zmax + xp.log(xp.sum(xp.exp(Z - zmax), axis=1, keepdims=True))


# --- multiclass SVM --------------------------------------------------------------------------
def svm_loss(W: Any, X: Any, y: Any, reg: float) -> Any:
    r""":math:`\frac1N\sum_i\sum_{j\ne y_i}\max(0, s_j - s_{y_i} + 1) + \mathrm{reg}\,\|W\|^2`."""
    xp = namespace(W)
    S = X @ W
    Yh = _onehot(xp, y, W.shape[1], S)
    correct = xp.sum(S * Yh, axis=1, keepdims=True)
    margins = xp.maximum(S - correct + 1.0, 0.0) * (1 - Yh)
    return xp.sum(margins) / X.shape[0] + reg * xp.sum(W * W)


# ported from ACCIPD/py-cs231 src/classifiers/linear_svm.py (svm_loss_naive's loop, with the
# dW updates of the CS231n assignment), commit 518e7098eed9e9d20e1525b554b5afbf9864e6da
def svm_grad_naive(W, X, y, reg, correct_term=True, scale=True, reg2=2.0, to_last=True):
    dW = np.zeros(W.shape)
    for i in range(X.shape[0] if to_last else X.shape[0] - 1):
        scores = X[i].dot(W)
        for j in range(W.shape[1]):
            if j == y[i]:
                continue
            if scores[j] - scores[y[i]] + 1 > 0:
                dW[:, j] += X[i]
                if correct_term:
                    dW[:, y[i]] -= X[i]
    if scale:
        dW /= X.shape[0]
    return dW + reg2 * reg * W


# ported from broartem/snippets python/numpy-ml.md (svm_loss_vectorized), commit
# 278c08b3b3ea13affd8d4ae35083b4f50f9d9efd; its reg-free gradient plus 2·reg·W
def svm_grad_vectorized(W, X, y, reg, zero_correct=True, with_reg=True):
    n = X.shape[0]
    scores = X.dot(W)
    margin = np.maximum(0, scores - scores[np.arange(n), y][:, None] + 1)
    if zero_correct:
        margin[np.arange(n), y] = 0
    ind = (margin > 0).astype(float)
    ind[np.arange(n), y] = -ind.sum(axis=1)
    return X.T.dot(ind) / n + (2 * reg * W if with_reg else 0)


# --- softmax classifier ----------------------------------------------------------------------
def softmax_loss(W: Any, X: Any, y: Any, reg: float) -> Any:
    r""":math:`-\frac1N\sum_i \log\operatorname{softmax}(XW)_{i,y_i} + \tfrac12\mathrm{reg}\|W\|^2`."""
    xp = namespace(W)
    S = X @ W
    Yh = _onehot(xp, y, W.shape[1], S)
    return -xp.sum(Yh * (S - _logsumexp(xp, S))) / X.shape[0] + 0.5 * reg * xp.sum(W * W)


# ported from fabien102/DlaD_lab2 Softmax/softmax.py (softmax_loss_vectorized), commit
# b7e838f29b0c16d6a75bd1441967a2d4fcc3311d; ``stable`` adds the max subtraction it lacks
def softmax_grad(W, X, y, reg, subtract=True, mean=True, with_reg=True, stable=True):
    n = X.shape[0]
    scores = X.dot(W)
    if stable:
        scores = scores - scores.max(axis=1, keepdims=True)
    with np.errstate(over="ignore", invalid="ignore"):
        e = np.exp(scores)
        p = e / e.sum(axis=1, keepdims=True)
    if subtract:
        p[np.arange(n), y] -= 1
    dW = X.T.dot(p) / (n if mean else 1)
    return dW + (reg * W if with_reg else 0)


# ported from nasa-gibs/gibs-ml models/softmax.py (softmax_loss), commit
# 224af6613cc349a09e770133a07c737327f7cd33: as published its dW omits the reg·W of its loss
def softmax_grad_gibs(W, X, y, reg, add_reg=True):
    n = X.shape[0]
    s = X.dot(W)
    s = s - s.max(axis=1, keepdims=True)
    p = np.exp(s) / np.exp(s).sum(axis=1, keepdims=True)
    p[range(n), y] -= 1
    return X.T.dot(p) / n + (reg * W if add_reg else 0)


# --- a two-layer ReLU network with softmax (CS231n's TwoLayerNet, dict params) -----------------
def twolayer_loss(p: Any, X: Any, y: Any, reg: float) -> Any:
    xp = namespace(p)
    h = xp.maximum(X @ p["W1"] + p["b1"], 0.0)
    S = h @ p["W2"] + p["b2"]
    Yh = _onehot(xp, y, S.shape[1], S)
    data = -xp.sum(Yh * (S - _logsumexp(xp, S))) / X.shape[0]
    return data + reg * (xp.sum(p["W1"] * p["W1"]) + xp.sum(p["W2"] * p["W2"]))


# ported from kaiweihuang/CS231n assignment2/cs231n/layers.py (affine and ReLU backward,
# softmax_loss), composed as CS231n's TwoLayerNet.loss does
def twolayer_grad(p, X, y, reg, reg2=2.0, keepdims=False, relu_mask=True):
    n = X.shape[0]
    z = X @ p["W1"] + p["b1"]
    h = np.maximum(z, 0)
    s = h @ p["W2"] + p["b2"]
    e = np.exp(s - s.max(axis=1, keepdims=True))
    ds = e / e.sum(axis=1, keepdims=True)
    ds[np.arange(n), y] -= 1
    ds /= n
    dh = ds @ p["W2"].T
    if relu_mask:
        dh = dh * (z > 0)
    return {
        "W1": X.T @ dh + reg2 * reg * p["W1"],
        "b1": dh.sum(axis=0, keepdims=keepdims),
        "W2": h.T @ ds + reg2 * reg * p["W2"],
        "b2": ds.sum(axis=0),
    }


# --- jcjohnson's warm-up two-layer net (sum of squares), dict params ---------------------------
def warmup_loss(p: Any, x: Any, y: Any) -> Any:
    xp = namespace(p)
    return xp.sum((xp.maximum(x @ p["w1"], 0.0) @ p["w2"] - y) ** 2)


# ported from xjtuwgt/PytorchBERT HarvardPytorch/warmup.py (the NumPy warm-up of
# jcjohnson/pytorch-examples), commit 3e56d4907957b19aa105a6c2a6f73c8ef1fb3836
def warmup_grad(p, x, y, two=2.0, mask=True):
    h = x.dot(p["w1"])
    h_relu = np.maximum(h, 0)
    grad_y_pred = two * (h_relu.dot(p["w2"]) - y)
    grad_h = grad_y_pred.dot(p["w2"].T)
    if mask:
        grad_h = grad_h.copy()
        grad_h[h < 0] = 0
    return {"w1": x.T.dot(grad_h), "w2": h_relu.T.dot(grad_y_pred)}


# --- batch normalization: the loss <dout, BN(x)> in x, gamma, beta ------------------------------
BN_EPS = 1e-5


def batchnorm_loss(p: Any, dout: Any) -> Any:
    xp = namespace(p)
    x = p["x"]
    mu = xp.mean(x, axis=0)
    var = xp.mean((x - mu) ** 2, axis=0)
    xhat = (x - mu) / xp.sqrt(var + BN_EPS)
    return xp.sum(dout * (p["gamma"] * xhat + p["beta"]))


# ported from ForrestPi/ObjectDetection syncbn/batchNorm.md (kratzert's staged
# batchnorm_backward), commit 5182ef48d6020c617b316cb8232908d0ce03aeb9
def batchnorm_grad(p, dout, half=0.5, dmu_term=True, dgamma_xhat=True):
    x, gamma = p["x"], p["gamma"]
    n = x.shape[0]
    mu = x.mean(axis=0)
    xmu = x - mu
    var = (xmu**2).mean(axis=0)
    sqrtvar = np.sqrt(var + BN_EPS)
    ivar = 1 / sqrtvar
    xhat = xmu * ivar
    dbeta = dout.sum(axis=0)
    dgamma = (dout * (xhat if dgamma_xhat else x)).sum(axis=0)
    dxhat = dout * gamma
    divar = (dxhat * xmu).sum(axis=0)
    dxmu1 = dxhat * ivar
    dsqrtvar = -1 / sqrtvar**2 * divar
    dvar = half / np.sqrt(var + BN_EPS) * dsqrtvar
    dxmu2 = 2 * xmu * np.ones_like(x) * dvar / n
    dmu = -(dxmu1 + dxmu2).sum(axis=0)
    dx = dxmu1 + dxmu2 + (np.ones_like(x) * dmu / n if dmu_term else 0)
    return {"x": dx, "gamma": dgamma, "beta": dbeta}


# --- Coursera ML ex4: nnCostFunction with unrolled parameters ---------------------------------
NN_IN, NN_HID, NN_OUT, NN_LAMBDA = 4, 5, 3, 1.0
NN_LAYOUT = {"Theta1": (NN_HID, NN_IN + 1), "Theta2": (NN_OUT, NN_HID + 1)}
"""The matrices in ``nn_params``, unrolled column-major (``check_gradient(layout=, order="F")``)."""


def _sigmoid(xp: Any, z: Any) -> Any:
    return 1 / (1 + xp.exp(-z))


def nn_cost(nn_params: Any, X: Any, Yh: Any) -> Any:
    """The cost of Coursera's ex4; ``nn_params`` unrolled column-major (Octave's ``A(:)``)."""
    xp = namespace(nn_params)
    k = NN_HID * (NN_IN + 1)
    T1 = xp.permute_dims(xp.reshape(nn_params[:k], (NN_IN + 1, NN_HID)), (1, 0))
    T2 = xp.permute_dims(xp.reshape(nn_params[k:], (NN_HID + 1, NN_OUT)), (1, 0))
    m = X.shape[0]
    ones = xp.ones((m, 1), dtype=X.dtype)
    a1 = xp.concat([ones, X], axis=1)
    a2 = xp.concat([ones, _sigmoid(xp, a1 @ xp.permute_dims(T1, (1, 0)))], axis=1)
    a3 = _sigmoid(xp, a2 @ xp.permute_dims(T2, (1, 0)))
    J = -xp.sum(Yh * xp.log(a3) + (1 - Yh) * xp.log(1 - a3)) / m
    return J + NN_LAMBDA / (2 * m) * (xp.sum(T1[:, 1:] ** 2) + xp.sum(T2[:, 1:] ** 2))


# ported from han4wluc/ml-toolbox octave/NeuralNetwork/nnCostFunctionUnreg.m, commit
# c7b450d9e10627365c8ca94ebde1726a7af94e18, with ex4's regularisation of the non-bias columns
def nn_grad(nn_params, X, Yh, order="F", reg_bias=False, mean=True):
    k = NN_HID * (NN_IN + 1)
    T1 = nn_params[:k].reshape((NN_HID, NN_IN + 1), order="F")
    T2 = nn_params[k:].reshape((NN_OUT, NN_HID + 1), order="F")
    m = X.shape[0]
    a1 = np.hstack([np.ones((m, 1)), X])
    z2 = a1 @ T1.T
    a2 = np.hstack([np.ones((m, 1)), 1 / (1 + np.exp(-z2))])
    a3 = 1 / (1 + np.exp(-(a2 @ T2.T)))
    d3 = a3 - Yh
    s = 1 / (1 + np.exp(-z2))
    d2 = (d3 @ T2[:, 1:]) * s * (1 - s)
    g1, g2 = d2.T @ a1 / (m if mean else 1), d3.T @ a2 / (m if mean else 1)
    r1, r2 = NN_LAMBDA / m * T1, NN_LAMBDA / m * T2
    if not reg_bias:
        r1[:, 0] = 0
        r2[:, 0] = 0
    return np.concatenate([(g1 + r1).ravel(order=order), (g2 + r2).ravel(order=order)])


# --- logistic regression from scratch ----------------------------------------------------------
def logreg_loss(p: Any, X: Any, y: Any) -> Any:
    xp = namespace(p)
    z = X @ p["weights"] + p["bias"]
    return xp.mean(xp.log(1 + xp.exp(z)) - y * z)


# ported from Tanmay-Pardhi/ML-algos-from-scratch Logistic_Regression/readme.md (dw, db),
# commit e3cb5348bcc1f33d7c11997e79bf050f3e54a348
def logreg_grad(p, X, y, sign=1.0, n_div=True, db_sum=False):
    n = X.shape[0]
    pred = 1 / (1 + np.exp(-(X @ p["weights"] + p["bias"])))
    err = sign * (pred - y)
    dw = X.T @ err / (n if n_div else 1)
    db = err.sum() if db_sum else err.sum() / (n if n_div else 1)
    return {"weights": dw, "bias": db}


# --- the tutorial's linear regression (DESIGN.md's reference) -----------------------------------
def tutorial_loss(w: Any, X: Any, y: Any) -> Any:
    xp = namespace(w)
    return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]


# ported from the tutorial "Linear Regression Gradient Descent From Scratch in Python"
# (shared/seed/linear_regression_gd_transcript.txt): dC/dw = (2/m) X (ŷ − y)ᵀ
def tutorial_grad(w, X, y, two=2.0, transpose=False):
    g = (two / X.shape[1]) * X @ (w.T @ X - y).T
    return g.T if transpose else g


# --- an affine layer: the loss <dout, x w + b> in x, w, b ---------------------------------------
def affine_loss(p: Any, dout: Any) -> Any:
    xp = namespace(p)
    x = xp.reshape(p["x"], (p["x"].shape[0], -1))
    return xp.sum(dout * (x @ p["w"] + p["b"]))


# ported from kaiweihuang/CS231n assignment2/cs231n/layers.py (affine_backward)
def affine_grad(p, dout, reshape_dx=True, db_mean=False, dw_swap=False):
    x, w = p["x"], p["w"]
    xr = x.reshape(x.shape[0], -1)
    dx = dout.dot(w.T)
    dw = dout.T.dot(xr).T if not dw_swap else (xr.T.dot(dout)).T.ravel().reshape(w.shape)
    return {
        "x": dx.reshape(x.shape) if reshape_dx else dx,
        "w": dw,
        "b": dout.mean(axis=0) if db_mean else dout.sum(axis=0),
    }


def _cases() -> list[Case]:
    W = RNG.standard_normal((D, C)) * 0.5
    big = RNG.standard_normal((D, C)) * 300.0  # scores of several hundred: exp overflows
    two = {
        "W1": RNG.standard_normal((D, H)) * 0.5,
        "b1": RNG.standard_normal(H) * 0.1,
        "W2": RNG.standard_normal((H, C)) * 0.5,
        "b2": RNG.standard_normal(C) * 0.1,
    }
    xw, yw = RNG.standard_normal((N, D)), RNG.standard_normal((N, 3))
    warm = {"w1": RNG.standard_normal((D, H)), "w2": RNG.standard_normal((H, 3))}
    bn = {
        "x": RNG.standard_normal((N, 3)) * 2 + 1,
        "gamma": RNG.random(3) + 0.5,
        "beta": RNG.standard_normal(3),
    }
    bn_dout = RNG.standard_normal((N, 3))
    nn_p = RNG.standard_normal(NN_HID * (NN_IN + 1) + NN_OUT * (NN_HID + 1)) * 0.5
    nn_X = RNG.standard_normal((N, NN_IN))
    nn_Y = np.eye(NN_OUT)[RNG.integers(0, NN_OUT, N)]
    lr = {"weights": RNG.standard_normal(D) * 0.3, "bias": np.array(0.2)}
    ylr = (RNG.random(N) < 0.5).astype(float)
    xt = np.vstack([np.ones((1, 60)), RNG.random((1, 60))])
    yt = 3 * xt[1:] + 5 + 0.1 * RNG.standard_normal((1, 60))
    wt = np.array([[1.0], [-2.0]])
    aff = {
        "x": RNG.standard_normal((N, 2, 3)),
        "w": RNG.standard_normal((6, 4)),
        "b": RNG.standard_normal(4),
    }
    aff_dout = RNG.standard_normal((N, 4))
    svm_d, sm_d = (X, Y, REG), (X, Y, REG)
    return [
        Case(
            "svm_naive",
            "ACCIPD/py-cs231",
            svm_loss,
            svm_grad_naive,
            W,
            svm_d,
            (
                Mistake(
                    "sum_not_mean",
                    lambda W, X, y, r: svm_grad_naive(W, X, y, r, scale=False),
                    "term_scaled",
                ),
                Mistake(
                    "reg_missing_2",
                    lambda W, X, y, r: svm_grad_naive(W, X, y, r, reg2=1.0),
                    "term_scaled",
                ),
                Mistake(
                    "correct_class_term_forgotten",
                    lambda W, X, y, r: svm_grad_naive(W, X, y, r, correct_term=False),
                    "structured",
                ),  # seen example by example: a·X[i] in column y[i] (a = violated margins)
            ),
        ),
        Case(
            "svm_vectorized",
            "broartem/snippets",
            svm_loss,
            svm_grad_vectorized,
            W,
            svm_d,
            (
                Mistake(
                    "margins_y_not_zeroed",
                    lambda W, X, y, r: svm_grad_vectorized(W, X, y, r, zero_correct=False),
                    "structured",
                ),
                Mistake(
                    "reg_forgotten",
                    lambda W, X, y, r: svm_grad_vectorized(W, X, y, r, with_reg=False),
                    "term_scaled",
                ),
                Mistake(
                    "transposed_unrolled",
                    lambda W, X, y, r: (
                        svm_grad_vectorized(W, X, y, r).ravel(order="F").reshape(W.shape)
                    ),
                    "permuted",
                ),
            ),
        ),
        Case(
            "softmax_vectorized",
            "fabien102/DlaD_lab2",
            softmax_loss,
            softmax_grad,
            W,
            sm_d,
            (
                Mistake(
                    "dscores_y_minus_1_forgotten",
                    lambda W, X, y, r: softmax_grad(W, X, y, r, subtract=False),
                    "structured",
                ),
                Mistake(
                    "sum_not_mean",
                    lambda W, X, y, r: softmax_grad(W, X, y, r, mean=False),
                    "term_scaled",
                ),
                Mistake(
                    "reg_forgotten",
                    lambda W, X, y, r: softmax_grad(W, X, y, r, with_reg=False),
                    "term_scaled",
                ),
            ),
        ),
        Case(
            "softmax_overflow",
            "fabien102/DlaD_lab2",
            softmax_loss,
            softmax_grad,
            big,
            sm_d,
            (
                Mistake(
                    "no_max_subtraction",
                    lambda W, X, y, r: softmax_grad(W, X, y, r, stable=False),
                    "non_finite",
                ),
                Mistake("sign", lambda W, X, y, r: -softmax_grad(W, X, y, r), "sign_flipped"),
            ),
        ),
        Case(
            "softmax_gibs",
            "nasa-gibs/gibs-ml",
            softmax_loss,
            softmax_grad_gibs,
            W,
            sm_d,
            (
                Mistake(
                    "as_published_no_reg",
                    lambda W, X, y, r: softmax_grad_gibs(W, X, y, r, add_reg=False),
                    "term_scaled",
                ),
                Mistake(
                    "reg_twice",
                    lambda W, X, y, r: softmax_grad_gibs(W, X, y, r) + r * W,
                    "term_scaled",
                ),
            ),
        ),
        Case(
            "twolayer_net",
            "kaiweihuang/CS231n",
            twolayer_loss,
            twolayer_grad,
            two,
            sm_d,
            (
                Mistake(
                    "b1_keepdims",
                    lambda p, X, y, r: twolayer_grad(p, X, y, r, keepdims=True),
                    "wrong_shape",
                ),
                Mistake(
                    "reg_half",
                    lambda p, X, y, r: twolayer_grad(p, X, y, r, reg2=1.0),
                    "term_scaled",
                ),
                Mistake(
                    "b2_mean",
                    lambda p, X, y, r: {
                        **twolayer_grad(p, X, y, r),
                        "b2": twolayer_grad(p, X, y, r)["b2"] / len(y),
                    },
                    "wrong_entries",
                ),
            ),
        ),
        Case(
            "warmup_net",
            "xjtuwgt/PytorchBERT",
            warmup_loss,
            warmup_grad,
            warm,
            (xw, yw),
            (
                Mistake("missing_2", lambda p, x, y: warmup_grad(p, x, y, two=1.0), "scaled"),
                Mistake(
                    "relu_mask_forgotten",
                    lambda p, x, y: warmup_grad(p, x, y, mask=False),
                    "wrong_entries",
                ),
                Mistake(
                    "sign",
                    lambda p, x, y: {k: -v for k, v in warmup_grad(p, x, y).items()},
                    "sign_flipped",
                ),
            ),
        ),
        Case(
            "batchnorm",
            "ForrestPi/ObjectDetection",
            batchnorm_loss,
            batchnorm_grad,
            bn,
            (bn_dout,),
            (
                Mistake(
                    "dgamma_uses_x",
                    lambda p, d: batchnorm_grad(p, d, dgamma_xhat=False),
                    "wrong_entries",
                ),
                Mistake(
                    "dbeta_mean",
                    lambda p, d: {
                        **batchnorm_grad(p, d),
                        "beta": batchnorm_grad(p, d)["beta"] / len(d),
                    },
                    "wrong_entries",
                ),
                Mistake(
                    "dx_sign",
                    lambda p, d: {**batchnorm_grad(p, d), "x": -batchnorm_grad(p, d)["x"]},
                    "wrong_entries",
                ),
            ),
        ),
        Case(
            "coursera_nn",
            "han4wluc/ml-toolbox",
            nn_cost,
            nn_grad,
            nn_p,
            (nn_X, nn_Y),
            (
                Mistake(
                    "unrolled_row_major", lambda q, X, Yh: nn_grad(q, X, Yh, order="C"), "permuted"
                ),
                Mistake(
                    "bias_column_regularised",
                    lambda q, X, Yh: nn_grad(q, X, Yh, reg_bias=True),
                    "wrong_entries",
                ),
                # m × the data term beside a penalty that skips the bias columns: k·r + c·p
                # fits per matrix, which layout= (below) tells apart in the flat vector
                Mistake(
                    "delta_not_divided",
                    lambda q, X, Yh: nn_grad(q, X, Yh, mean=False),
                    "term_scaled",
                ),
            ),
            kwargs={"layout": NN_LAYOUT, "order": "F"},
        ),
        Case(
            "logreg_scratch",
            "Tanmay-Pardhi/ML-algos-from-scratch",
            logreg_loss,
            logreg_grad,
            lr,
            (X, ylr),
            (
                Mistake("sign", lambda p, X, y: logreg_grad(p, X, y, sign=-1.0), "sign_flipped"),
                Mistake("no_1_over_n", lambda p, X, y: logreg_grad(p, X, y, n_div=False), "scaled"),
                Mistake(
                    "db_sum", lambda p, X, y: logreg_grad(p, X, y, db_sum=True), "wrong_entries"
                ),
            ),
        ),
        Case(
            "tutorial_linreg",
            "shared/seed transcript",
            tutorial_loss,
            tutorial_grad,
            wt,
            (xt, yt),
            (
                Mistake("missing_2", lambda w, X, y: tutorial_grad(w, X, y, two=1.0), "scaled"),
                Mistake(
                    "transposed",
                    lambda w, X, y: tutorial_grad(w, X, y, transpose=True),
                    "transposed",
                ),
            ),
        ),
        Case(
            "affine_backward",
            "kaiweihuang/CS231n",
            affine_loss,
            affine_grad,
            aff,
            (aff_dout,),
            (
                Mistake(
                    "dx_not_reshaped",
                    lambda p, d: affine_grad(p, d, reshape_dx=False),
                    "wrong_shape",
                ),
                Mistake("db_mean", lambda p, d: affine_grad(p, d, db_mean=True), "wrong_entries"),
                Mistake(
                    "dw_unrolled_wrong", lambda p, d: affine_grad(p, d, dw_swap=True), "permuted"
                ),
            ),
        ),
    ]


CASES: list[Case] = _cases()
"""The catalogue: every published gradient with its planted mistakes."""


def figures(dtype: str = "float64", backends: tuple[str, ...] = ("torch",)) -> str:
    """Issue 11's catalogue figures in ``dtype``: false alarms, misses, named share, wrong names.

    ``python -m gdcheck.examples.published [float32]`` prints them (a mistake is named when its
    kind is not ``unexplained``; a wrong name is a kind other than the catalogue's).
    """
    from ..check import check_gradient

    def cast(p: Any) -> Any:
        return (
            {k: v.astype(dtype) for k, v in p.items()} if isinstance(p, dict) else p.astype(dtype)
        )

    flagged = missed = named = wrong = 0
    mistakes = [(c, m) for c in CASES for m in c.mistakes]
    for case in CASES:
        ok = check_gradient(
            case.loss, case.grad, cast(case.params), *case.data, backends=backends, **case.kwargs
        )
        flagged += not ok.passed
    for case, m in mistakes:
        res = check_gradient(
            case.loss, m.grad, cast(case.params), *case.data, backends=backends, **case.kwargs
        )
        if res.passed:
            missed += 1
            continue
        named += res.diagnosis.kind != "unexplained"
        wrong += res.diagnosis.kind != m.kind
    return (
        f"{dtype}: {len(CASES)} published gradients, {len(mistakes)} planted mistakes; correct "
        f"code flagged {flagged}; mistakes missed {missed}; named (not unexplained) {named} of "
        f"{len(mistakes)} ({100 * named / len(mistakes):.1f} %); wrong names {wrong}"
    )


if __name__ == "__main__":
    import sys

    print(figures(*sys.argv[1:2]))
