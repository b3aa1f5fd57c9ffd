"""Losses written once against the array-API namespace, with their correct handwritten gradients.

Used by the tests' catalogue of wrong gradients, the benchmarks and the documentation. Each
``*_loss`` runs under NumPy, JAX and PyTorch; each ``*_grad`` is plain NumPy.
"""

from __future__ import annotations

import numpy as np

from ..array_api import namespace


# -- the tutorial's linear regression: X (n+1, m) with the ones row, y (1, m), w (n+1, 1) ------
def mse_loss(w, X, y):
    r"""The tutorial's cost :math:`\frac1m\sum(w^\top X - y)^2`."""
    xp = namespace(w)
    return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]


def mse_grad(w, X, y):
    r""":math:`\frac2m X (w^\top X - y)^\top`."""
    return (2 / X.shape[1]) * X @ (w.T @ X - y).T


# -- logistic regression, row-major: X (m, d), y (m,) in {0, 1}; params {"w": (d,), "b": ()} --
def logistic_loss(p, X, y):
    r"""Mean cross-entropy :math:`\frac1m\sum \log(1 + e^{z}) - y z`, :math:`z = Xw + b`."""
    xp = namespace(p)
    z = X @ p["w"] + p["b"]
    return xp.mean(xp.log(1 + xp.exp(z)) - y * z)


def logistic_grad(p, X, y):
    r""":math:`\nabla_w = X^\top(\sigma(z) - y)/m`, :math:`\nabla_b = \overline{\sigma(z) - y}`."""
    z = X @ p["w"] + p["b"]
    s = 1 / (1 + np.exp(-z))
    return {"w": X.T @ (s - y) / X.shape[0], "b": np.mean(s - y)}


# -- softmax regression: X (m, d), Y (m, k) one-hot; params {"W": (d, k), "b": (k,)} ----------
def softmax_loss(p, X, Y):
    r"""Mean cross-entropy :math:`-\frac1m\sum_{j} Y_j\cdot\log\operatorname{softmax}(X_j W + b)`."""
    xp = namespace(p)
    Z = X @ p["W"] + p["b"]
    logsumexp = xp.log(xp.sum(xp.exp(Z), axis=1, keepdims=True))
    return -xp.sum(Y * (Z - logsumexp)) / X.shape[0]


def softmax_grad(p, X, Y):
    r""":math:`\nabla_W = X^\top(P - Y)/m`, :math:`\nabla_b = \overline{P - Y}` (column means)."""
    Z = X @ p["W"] + p["b"]
    P = np.exp(Z - Z.max(axis=1, keepdims=True))
    P /= P.sum(axis=1, keepdims=True)
    return {"W": X.T @ (P - Y) / X.shape[0], "b": (P - Y).mean(axis=0)}


# -- a two-layer tanh network with MSE: X (m, d), t (m,); params W1 (d, h), b1 (h,), W2 (h,), b2 ()
def mlp_loss(p, X, t):
    r""":math:`\frac1m\sum(\tanh(XW_1 + b_1)W_2 + b_2 - t)^2`."""
    xp = namespace(p)
    H = xp.tanh(X @ p["W1"] + p["b1"])
    return xp.mean((H @ p["W2"] + p["b2"] - t) ** 2)


def mlp_grad(p, X, t):
    """Backpropagation by hand."""
    m = X.shape[0]
    H = np.tanh(X @ p["W1"] + p["b1"])
    r = 2 * (H @ p["W2"] + p["b2"] - t) / m
    dH = np.outer(r, p["W2"]) * (1 - H**2)
    return {"W1": X.T @ dH, "b1": dH.sum(axis=0), "W2": H.T @ r, "b2": r.sum()}


# -- a bilinear form with a square matrix: x (m, k), z (m, k), t (m,); W (k, k) ---------------
def bilinear_loss(W, x, z, t):
    r""":math:`\frac1m\sum_j (x_j^\top W z_j - t_j)^2`."""
    xp = namespace(W)
    pred = xp.sum((x @ W) * z, axis=1)
    return xp.mean((pred - t) ** 2)


def bilinear_grad(W, x, z, t):
    r""":math:`\frac2m\sum_j r_j\, x_j z_j^\top`."""
    r = 2 * (np.sum((x @ W) * z, axis=1) - t) / x.shape[0]
    return x.T @ (r[:, None] * z)
