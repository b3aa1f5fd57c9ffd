r"""A held-out catalogue: published handwritten gradients gdcheck's diagnosis was not tuned on.

Same format as :mod:`.published` (:class:`~.published.Case`, :class:`~.published.Mistake`):
each gradient is a faithful NumPy port (re-expressed, not copied) of code published by people
outside this project, cited above it by repository, path and the commit read; the loss beside
it is the same function written once against the array-API namespace, for autodiff. Every
planted mistake carries the kind a careful reader expects ``check_gradient`` to name, written
down from the maths *before* gdcheck was run on it (``tests/test_heldout.py`` measures how
often it does). Where a kind was changed afterwards because the expectation was wrong on the
maths, a comment beside it says so.

The sources cover layers (a vanilla RNN step, LayerNorm, a naive convolution), losses (Huber,
binary hinge, Poisson log-likelihood) and regularisers (an L1 subgradient, elastic net), from
course assignments and from-scratch repositories. Two of them are wrong as published (the lasso
forgets the 2 of its squared error; the Huber code reads only the first feature column when it
has more than one): those versions are planted mistakes, and the correct gradient is the
published one with that bug fixed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..array_api import namespace
from .published import Case, Mistake

RNG = np.random.default_rng(20261201)


# --- a vanilla RNN step: the loss <dout, tanh(x Wx + h_prev Wh + b)> ---------------------------
RNN_N, RNN_D, RNN_H = 10, 4, 5


def rnn_step_loss(p: Any, dout: Any) -> Any:
    r""":math:`\langle d, \tanh(x W_x + h_{prev} W_h + b)\rangle` in all five inputs."""
    xp = namespace(p)
    h = xp.tanh(p["x"] @ p["Wx"] + p["h_prev"] @ p["Wh"] + p["b"])
    return xp.sum(dout * h)


# ported from sharnam19/Document-Classification-Using-RNN sequential.py (rnn_step and
# rnn_step_backward, CS231n shapes: x (N, D), Wx (D, H), Wh (H, H), b (H,)), commit
# 07054a6bcd2c2b3da13e9370c23aa00f43c2aba2
def rnn_step_grad(p, dout, dtanh=True, dwh_transposed=False, db_keepdims=False, wh_t=True):
    x, h_prev, Wx, Wh = p["x"], p["h_prev"], p["Wx"], p["Wh"]
    h_next = np.tanh(x.dot(Wx) + h_prev.dot(Wh) + p["b"][np.newaxis, :])
    da = (1 - np.square(h_next)) * dout if dtanh else dout
    return {
        "x": da.dot(Wx.T),
        "h_prev": da.dot(Wh.T if wh_t else Wh),
        "Wx": x.T.dot(da),
        "Wh": da.T.dot(h_prev) if dwh_transposed else h_prev.T.dot(da),
        "b": np.sum(da, axis=0, keepdims=db_keepdims),
    }


# --- layer normalization: the loss <dout, LN(x)> in x, gamma, beta -----------------------------
LN_N, LN_D, LN_EPS = 8, 6, 1e-8


def layernorm_loss(p: Any, dout: Any) -> Any:
    r""":math:`\langle d, \gamma\hat x + \beta\rangle`, :math:`\hat x` normalised per row."""
    xp = namespace(p)
    x = p["x"]
    mu = xp.mean(x, axis=-1, keepdims=True)
    var = xp.mean((x - mu) ** 2, axis=-1, keepdims=True)
    xhat = (x - mu) / xp.sqrt(var + LN_EPS)
    return xp.sum(dout * (p["gamma"] * xhat + p["beta"]))


# ported from DanFosing/numpy_ai modules/layer_norm.py (LayerNorm.forward and .backward, its
# eps 1e-8), commit 30b5267e49d11b11682a1bf963ab1d7ad3737b8c
def layernorm_grad(p, dout, std_term=True, gamma_over_features=False, over_d=True):
    x, gamma = p["x"], p["gamma"]
    d = dout.shape[-1]
    batch_axes = tuple(range(dout.ndim - 1))
    mu = x.mean(axis=-1, keepdims=True)
    sigma = np.sqrt(x.var(axis=-1, keepdims=True) + LN_EPS)
    xhat = (x - mu) / sigma
    dgamma = (dout * xhat).sum(axis=-1 if gamma_over_features else batch_axes)
    dbeta = dout.sum(axis=batch_axes)
    dxhat = dout * gamma
    mean_corr = dxhat.sum(axis=-1, keepdims=True)
    std_corr = (dxhat * xhat).sum(axis=-1, keepdims=True) * xhat if std_term else 0.0
    dx = (d * dxhat - mean_corr - std_corr) / ((d if over_d else 1) * sigma)
    return {"x": dx, "gamma": dgamma, "beta": dbeta}


# --- lasso: mean squared error plus an L1 penalty, its subgradient -----------------------------
LASSO_ALPHA = 1.0  # the source's default


def lasso_loss(p: Any, X: Any, y: Any, alpha: float) -> Any:
    r""":math:`\frac1n\|Xw + b - y\|^2 + \alpha\|w\|_1`."""
    xp = namespace(p)
    r = X @ p["w"] + p["b"] - y
    return xp.sum(r**2) / X.shape[0] + xp.sum(alpha * xp.abs(p["w"]))


# ported from zhouyangithub/Machine_Learning LASSO.py (l1_loss; its vectorised sign is
# np.sign), commit 4faeb000bbfa11d8dc3baad714cac8c0be2818e2. As published its dw and db lack
# the 2 of d(ŷ − y)²/dŷ (``two=1.0``): a real bug, planted below as "as_published_missing_2"
def lasso_grad(p, X, y, alpha, two=2.0, mean=True, l1_sign=1.0, l1_as_l2=False):
    n = X.shape[0] if mean else 1
    r = X @ p["w"] + p["b"] - y
    sub = p["w"] if l1_as_l2 else np.sign(p["w"])
    return {"w": two * np.dot(X.T, r) / n + l1_sign * alpha * sub, "b": two * np.sum(r) / n}


# --- elastic net: half mean squared error, L1 and L2 penalties ---------------------------------
EN_L1, EN_L2 = 0.1, 0.1  # the source's defaults


def elastic_loss(p: Any, X: Any, y: Any, l1: float, l2: float) -> Any:
    r""":math:`\frac1{2n}\|Xw + b - y\|^2 + \lambda_1\|w\|_1 + \lambda_2\|w\|^2`."""
    xp = namespace(p)
    r = X @ p["w"] + p["b"] - y
    return xp.sum(r**2) / (2 * X.shape[0]) + l1 * xp.sum(xp.abs(p["w"])) + l2 * xp.sum(p["w"] ** 2)


# ported from vansh-visariya/ml-from-scratch linear_reg/elastic.py (ElasticNet.fit's dw, db),
# commit ca157dc96cc7cf04012362ca14bad42fef7bb00b. The source writes no cost; its dw and db
# are exactly the gradient of elastic_loss above (the ½ of the data term, λ2‖w‖² with its 2)
def elastic_grad(p, X, y, l1, l2, l2_two=2.0, data_two=1.0, db_mean=True):
    n = X.shape[0]
    r = np.dot(X, p["w"]) + p["b"] - y
    dw = data_two / n * np.dot(X.T, r) + l1 * np.sign(p["w"]) + l2_two * l2 * p["w"]
    db = data_two * (np.sum(r) / n if db_mean else np.sum(r))
    return {"w": dw, "b": db}


# --- Huber regression: w (d, 1), b a scalar, y a column ------------------------------------------
HUBER_DELTA = 1.0


def huber_loss(p: Any, X: Any, y: Any, delta: float) -> Any:
    r""":math:`\frac1N\sum_i H_\delta(x_i^\top w + b - y_i)`, :math:`H_\delta(a) = \frac12 a^2`
    for :math:`|a| \le \delta`, else :math:`\delta(|a| - \frac12\delta)` (the source's
    plot_loss.py)."""
    xp = namespace(p)
    a = X @ p["w"] + p["b"] - y
    return xp.mean(xp.where(xp.abs(a) <= delta, 0.5 * a**2, delta * (xp.abs(a) - 0.5 * delta)))


# ported from Saad-Hussain1/gradient-descent-huber gradient_descent-huber.py (the dw, db of its
# loop, without the learning rate), commit d4053e43813d9c02c9cc5d7664a3e2f35cff68bd. As
# published, ``X[cond]`` with ``cond = np.where(h - y < -delta)`` on a column (N, 1) picks
# X[rows, 0] only, and the (1,) sum is broadcast over w: every weight gets w[0]'s gradient
# (``first_column=True``; right only when d = 1). The correct port reads each example's row.
def huber_grad(p, X, y, delta, clip=True, mean=True, first_column=False, flat=False):
    n = X.shape[0] if mean else 1
    a = X @ p["w"] + p["b"] - y  # (N, 1)
    low, high = a < -delta, a > delta
    psi = np.where(low, -delta, np.where(high, delta, a)) if clip else a
    rows = np.broadcast_to(psi * X[:, :1], X.shape) if first_column else psi * X  # (N, d)
    dw = np.sum(rows, axis=0) / n
    return {"w": dw if flat else dw.reshape(-1, 1), "b": np.sum(psi) / n}


# --- Poisson regression (CS229 PS1 3(d)): the mean log-likelihood, maximised ---------------------
def poisson_loglik(theta: Any, x: Any, y: Any) -> Any:
    r""":math:`\frac1m\sum_i y_i\,\theta^\top x_i - e^{\theta^\top x_i}` (without
    :math:`\log y_i!`): gradient ascent climbs it."""
    xp = namespace(theta)
    z = x @ theta
    return xp.mean(y * z - xp.exp(z))


# ported from TaeWan21/Stanford_CS229_ML_Study src/p03d_poisson.py (calc_grad, without its
# step_size; as published it reads ``x.T(y - ...)``, a call that raises TypeError, for
# ``x.T @ (y - ...)``), commit 6c3663e0a691c2dddcb64ccb2272099d9557a46c
def poisson_grad(theta, x, y, sign=1.0, mean=True, exp=True, axis=None):
    m = x.shape[0] if mean else 1
    mu = np.exp(x @ theta) if exp else x @ theta
    if axis is not None:  # per-example rows averaged over the wrong axis
        return (x * (y - mu)[:, None]).mean(axis=axis)
    return sign * x.T @ (y - mu) / m


# --- a two-class SVM: hinge loss with a θᵀθ/(2m) penalty -----------------------------------------
SVM2_C = 1.0


def svm2_loss(theta: Any, X: Any, y: Any, C: float) -> Any:
    r""":math:`\frac Cm\sum_i\max(0, 1 - y_i\theta^\top x_i) + \frac1{2m}\theta^\top\theta`."""
    xp = namespace(theta)
    m = X.shape[0]
    hinge = xp.maximum(1 - y * (X @ theta), 0.0)
    return C / m * xp.sum(hinge) + xp.sum(theta * theta) / (2 * m)


# ported from DariaBashkatova/CIFAR10ImageRecognition hw4/linear_svm.py (svm_loss_twoclass,
# vectorised), commit 6c26a10a0dcce5db6cad5021cd985e416d1eb342
def svm2_grad(theta, X, y, C, reg_m=True, hinge_m=True, hinge_sign=-1.0):
    m = X.shape[0]
    signed = y * np.dot(X, theta)
    ind = (signed < 1).astype(float)
    grad = np.copy(theta) / (m if reg_m else 1)
    return grad + hinge_sign * (C / (m if hinge_m else 1)) * np.dot(X.T, ind * y)


# --- a naive convolution (stride 1, pad 1): the loss <dout, conv(x, w) + b> ---------------------
CV_N, CV_C, CV_H, CV_F, CV_K, CV_PAD = 2, 2, 4, 3, 3, 1


def _pad(xp: Any, x: Any, pad: int) -> Any:
    n, c, h, w = x.shape
    rows = xp.zeros((n, c, pad, w), dtype=x.dtype)
    x = xp.concat([rows, x, rows], axis=2)
    cols = xp.zeros((n, c, h + 2 * pad, pad), dtype=x.dtype)
    return xp.concat([cols, x, cols], axis=3)


def conv_loss(p: Any, dout: Any) -> Any:
    r""":math:`\langle d, y\rangle`, :math:`y_{nfij} = \sum_{c,k,l} x^{pad}_{n,c,i+k,j+l}\,
    w_{fckl} + b_f` (cross-correlation, as CS231n's conv_forward_naive)."""
    xp = namespace(p)
    x, w = p["x"], p["w"]
    xpad = _pad(xp, x, CV_PAD)
    ho, wo = dout.shape[2], dout.shape[3]
    out = 0.0
    for k in range(w.shape[2]):
        for j in range(w.shape[3]):
            patch = xp.permute_dims(xpad[:, :, k : k + ho, j : j + wo], (0, 2, 3, 1))
            out = out + patch @ xp.permute_dims(w[:, :, k, j], (1, 0))  # (N, ho, wo, F)
    y = xp.permute_dims(out, (0, 3, 1, 2)) + xp.reshape(p["b"], (1, -1, 1, 1))
    return xp.sum(dout * y)


# ported from Clarence-G/learngit cs231n/assignment2/conv1.py (conv_backward_naive), commit
# be3e03b32cb105dd3c455651bc19cc9a62238de7
def conv_grad(p, dout, flip=False, db_mean=False, unpad=True):
    x, w = p["x"], p["w"]
    n_, _, h, wd = x.shape
    f_, _, hh, ww = w.shape
    s, pad = 1, CV_PAD
    ho, wo = dout.shape[2], dout.shape[3]
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    dx_pad = np.zeros_like(x_pad)
    dw, db = np.zeros_like(w), np.zeros(f_)
    for i in range(n_):
        for f in range(f_):
            for j in range(ho):
                for k in range(wo):
                    window = x_pad[i, :, j * s : j * s + hh, k * s : k * s + ww]
                    db[f] += dout[i, f, j, k]
                    dw[f] += window * dout[i, f, j, k]
                    dx_pad[i, :, j * s : j * s + hh, k * s : k * s + ww] += w[f] * dout[i, f, j, k]
    return {
        "x": dx_pad[:, :, pad : pad + h, pad : pad + wd] if unpad else dx_pad,
        "w": dw[:, :, ::-1, ::-1].copy() if flip else dw,
        "b": db / (n_ * ho * wo) if db_mean else db,
    }


def _cases() -> list[Case]:
    rnn = {
        "x": RNG.standard_normal((RNN_N, RNN_D)),
        "h_prev": RNG.standard_normal((RNN_N, RNN_H)),
        "Wx": RNG.standard_normal((RNN_D, RNN_H)) * 0.4,
        "Wh": RNG.standard_normal((RNN_H, RNN_H)) * 0.4,
        "b": RNG.standard_normal(RNN_H) * 0.1,
    }
    rnn_dout = RNG.standard_normal((RNN_N, RNN_H))
    ln = {
        "x": RNG.standard_normal((LN_N, LN_D)) * 2 + 0.5,
        "gamma": RNG.random(LN_D) + 0.5,
        "beta": RNG.standard_normal(LN_D),
    }
    ln_dout = RNG.standard_normal((LN_N, LN_D))
    n_lin, d_lin = 30, 4
    X_lin = RNG.standard_normal((n_lin, d_lin))
    y_lin = X_lin @ RNG.standard_normal(d_lin) + 0.5 + 0.3 * RNG.standard_normal(n_lin)
    lasso = {"w": RNG.standard_normal(d_lin), "b": np.array(0.3)}
    elastic = {"w": RNG.standard_normal(d_lin), "b": np.array(-0.2)}
    X_hub = RNG.standard_normal((40, 3))
    y_hub = (X_hub @ RNG.standard_normal(3) + 1.5 * RNG.standard_normal(40))[:, None]
    hub = {"w": RNG.standard_normal((3, 1)) * 0.5, "b": np.array(0.1)}
    x_poi = RNG.standard_normal((40, 4)) * 0.4
    y_poi = RNG.poisson(np.exp(x_poi @ np.array([0.5, -0.3, 0.8, 0.2]) + 1.0)).astype(float)
    theta_poi = RNG.standard_normal(4) * 0.3
    X_svm = RNG.standard_normal((40, 5))
    y_svm = np.where(X_svm @ RNG.standard_normal(5) + 0.5 * RNG.standard_normal(40) > 0, 1.0, -1.0)
    theta_svm = RNG.standard_normal(5) * 0.5
    cv = {
        "x": RNG.standard_normal((CV_N, CV_C, CV_H, CV_H)),
        "w": RNG.standard_normal((CV_F, CV_C, CV_K, CV_K)),
        "b": RNG.standard_normal(CV_F),
    }
    cv_out = CV_H + 2 * CV_PAD - CV_K + 1
    cv_dout = RNG.standard_normal((CV_N, CV_F, cv_out, cv_out))
    lin_l = (X_lin, y_lin, LASSO_ALPHA)
    lin_e = (X_lin, y_lin, EN_L1, EN_L2)
    return [
        Case(
            "rnn_step",
            "sharnam19/Document-Classification-Using-RNN",
            rnn_step_loss,
            rnn_step_grad,
            rnn,
            (rnn_dout,),
            (
                # da = dout: the chain-rule factor 1 − h² forgotten, every entry off by a
                # data-dependent amount, no constant, sign, order or shape
                Mistake(
                    "tanh_derivative_forgotten",
                    lambda p, d: rnn_step_grad(p, d, dtanh=False),
                    "unexplained",
                ),
                Mistake(
                    "dWh_transposed",
                    lambda p, d: rnn_step_grad(p, d, dwh_transposed=True),
                    "transposed",
                ),
                Mistake(
                    "db_keepdims", lambda p, d: rnn_step_grad(p, d, db_keepdims=True), "wrong_shape"
                ),
                Mistake(
                    "dh_prev_Wh_not_transposed",
                    lambda p, d: rnn_step_grad(p, d, wh_t=False),
                    "wrong_entries",
                ),  # square Wh hides it from the shapes; only h_prev is wrong
            ),
        ),
        Case(
            "layernorm",
            "DanFosing/numpy_ai",
            layernorm_loss,
            layernorm_grad,
            ln,
            (ln_dout,),
            (
                Mistake(
                    "std_correction_forgotten",
                    lambda p, d: layernorm_grad(p, d, std_term=False),
                    "wrong_entries",
                ),
                Mistake(
                    "dgamma_summed_over_features",
                    lambda p, d: layernorm_grad(p, d, gamma_over_features=True),
                    "wrong_shape",
                ),  # (N,) = (8,) where gamma is (D,) = (6,)
                Mistake(
                    "dx_not_divided_by_D",
                    lambda p, d: layernorm_grad(p, d, over_d=False),
                    "wrong_entries",
                ),  # all of x is D × autodiff's; gamma and beta right
            ),
        ),
        Case(
            "lasso",
            "zhouyangithub/Machine_Learning",
            lasso_loss,
            lasso_grad,
            lasso,
            lin_l,
            (
                # the data term ½ × its right value beside a right L1 term α·sign(w)
                Mistake(
                    "as_published_missing_2",
                    lambda p, X, y, a: lasso_grad(p, X, y, a, two=1.0),
                    "term_scaled",
                ),
                Mistake(
                    "sum_not_mean",
                    lambda p, X, y, a: lasso_grad(p, X, y, a, mean=False),
                    "term_scaled",
                ),  # the data term n × its right value, the L1 term right
                Mistake(
                    "l1_sign_flipped",
                    lambda p, X, y, a: lasso_grad(p, X, y, a, l1_sign=-1.0),
                    "term_scaled",
                ),  # the penalty's term −1 ×: yours − autodiff's = −2α·sign(w)
                Mistake(
                    "l1_gradient_as_l2",
                    lambda p, X, y, a: lasso_grad(p, X, y, a, l1_as_l2=True),
                    "wrong_entries",
                ),  # α·w for α·sign(w): b right, all of w wrong, not by a factor
            ),
        ),
        Case(
            "elastic_net",
            "vansh-visariya/ml-from-scratch",
            elastic_loss,
            elastic_grad,
            elastic,
            lin_e,
            (
                Mistake(
                    "l2_missing_2",
                    lambda p, X, y, a, b: elastic_grad(p, X, y, a, b, l2_two=1.0),
                    "term_scaled",
                ),  # yours − autodiff's = −λ2·w, proportional to the parameter
                Mistake(
                    "data_term_doubled",
                    lambda p, X, y, a, b: elastic_grad(p, X, y, a, b, data_two=2.0),
                    "term_scaled",
                ),  # the 2/n of a mean-squared cost kept where the cost has ½
                Mistake(
                    "db_not_averaged",
                    lambda p, X, y, a, b: elastic_grad(p, X, y, a, b, db_mean=False),
                    "wrong_entries",
                ),
            ),
        ),
        Case(
            "huber",
            "Saad-Hussain1/gradient-descent-huber",
            huber_loss,
            huber_grad,
            hub,
            (X_hub, y_hub, HUBER_DELTA),
            (
                Mistake(
                    "as_published_first_column_only",
                    lambda p, X, y, d: huber_grad(p, X, y, d, first_column=True),
                    "wrong_entries",
                ),  # w[0, 0] and b right; w[1:] all get w[0]'s value
                # the squared-error gradient (h − y)·x for every example: off on the outliers
                Mistake(
                    "clipping_forgotten",
                    lambda p, X, y, d: huber_grad(p, X, y, d, clip=False),
                    "unexplained",
                ),
                Mistake(
                    "sum_not_mean", lambda p, X, y, d: huber_grad(p, X, y, d, mean=False), "scaled"
                ),
                Mistake(
                    "dw_not_reshaped",
                    lambda p, X, y, d: huber_grad(p, X, y, d, flat=True),
                    "wrong_shape",
                ),  # (d,) where w is (d, 1): the np.sum(dw, axis=0) before the reshape
            ),
        ),
        Case(
            "poisson",
            "TaeWan21/Stanford_CS229_ML_Study",
            poisson_loglik,
            poisson_grad,
            theta_poi,
            (x_poi, y_poi),
            (
                Mistake(
                    "descent_sign",
                    lambda t, x, y: poisson_grad(t, x, y, sign=-1.0),
                    "sign_flipped",
                ),  # the negative log-likelihood's gradient, used for the ascent
                Mistake(
                    "sum_not_mean", lambda t, x, y: poisson_grad(t, x, y, mean=False), "scaled"
                ),
                Mistake(
                    "mean_over_features",
                    lambda t, x, y: poisson_grad(t, x, y, axis=1),
                    "wrong_shape",
                ),  # (m,) where theta is (n,)
                Mistake(
                    "exp_forgotten",
                    lambda t, x, y: poisson_grad(t, x, y, exp=False),
                    "unexplained",
                ),  # the linear-regression gradient xᵀ(y − xθ)/m copied over
            ),
        ),
        Case(
            "svm_twoclass",
            "DariaBashkatova/CIFAR10ImageRecognition",
            svm2_loss,
            svm2_grad,
            theta_svm,
            (X_svm, y_svm, SVM2_C),
            (
                Mistake(
                    "reg_not_divided_by_m",
                    lambda t, X, y, C: svm2_grad(t, X, y, C, reg_m=False),
                    "term_scaled",
                ),  # yours − autodiff's = (1 − 1/m)·θ: a penalty coefficient off
                Mistake(
                    "hinge_sum_not_mean",
                    lambda t, X, y, C: svm2_grad(t, X, y, C, hinge_m=False),
                    "term_scaled",
                ),  # the data term m × its right value beside a right penalty
                Mistake(
                    "hinge_term_sign",
                    lambda t, X, y, C: svm2_grad(t, X, y, C, hinge_sign=1.0),
                    "term_scaled",
                ),  # the data term −1 × its right value, the penalty right
            ),
        ),
        Case(
            "conv_naive",
            "Clarence-G/learngit",
            conv_loss,
            conv_grad,
            cv,
            (cv_dout,),
            (
                Mistake(
                    "dw_kernel_flipped",
                    lambda p, d: conv_grad(p, d, flip=True),
                    "permuted",
                ),  # a convolution's dw where the forward is a cross-correlation
                Mistake("db_mean", lambda p, d: conv_grad(p, d, db_mean=True), "wrong_entries"),
                Mistake(
                    "dx_still_padded",
                    lambda p, d: conv_grad(p, d, unpad=False),
                    "wrong_shape",
                ),  # (N, C, H + 2, W + 2): the unpad step forgotten
            ),
        ),
    ]


CASES: list[Case] = _cases()
"""The held-out catalogue: 8 published gradients, 28 planted mistakes."""
