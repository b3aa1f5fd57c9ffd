"""An example for ``gdcheck check``: the tutorial's cost and its handwritten gradient.

Run it with::

    gdcheck check gdcheck/examples/linear_regression_check.py

The convention: the file defines

* ``loss(params, *data)`` — a scalar, written against ``xp = gdcheck.namespace(params)`` so it
  runs under NumPy, JAX and PyTorch;
* ``grad(params, *data)`` — your handwritten gradient, in NumPy, shaped like ``params``;
* ``params`` — an array, or a dict of arrays, at which to check;
* ``data`` — a tuple of the other arguments (arrays in any layout).

Optionally ``dtype`` ("float32" or "float64"). Exit code 0: right; 1: wrong; 2: bad input.
"""

import numpy as np

import gdcheck

X, y = gdcheck.data.tutorial(seed=0)
X = np.vstack([np.ones((1, X.shape[1])), X])  # the ones row: w[0] is the intercept


def loss(w, X, y):
    xp = gdcheck.namespace(w)
    y_hat = xp.matrix_transpose(w) @ X
    return xp.sum((y_hat - y) ** 2) / X.shape[1]


def grad(w, X, y):
    m = X.shape[1]
    y_hat = w.T @ X
    return (2 / m) * X @ (y_hat - y).T


params = np.zeros((2, 1))
data = (X, y)
