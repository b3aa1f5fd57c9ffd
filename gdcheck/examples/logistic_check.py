r"""An example for ``gdcheck check``: logistic regression with dict params and an ``init``.

Run it at one point, or along 200 steps of training cross-checked against JAX and PyTorch::

    gdcheck check gdcheck/examples/logistic_check.py
    gdcheck check gdcheck/examples/logistic_check.py --steps 200

With :math:`z = Xw + b` and :math:`\sigma(z) = 1/(1 + e^{-z})`, the mean log-loss and its
handwritten gradient:

.. math::

    C(w, b) = \frac1m \sum_j y_j\,\mathrm{softplus}(-z_j) + (1 - y_j)\,\mathrm{softplus}(z_j),
    \qquad
    \frac{\partial C}{\partial w} = \frac1m X^\top(\sigma(z) - y), \quad
    \frac{\partial C}{\partial b} = \frac1m \sum_j (\sigma(z_j) - y_j).

The file defines ``loss``, ``grad``, ``init`` (the params at step 0, here
``{"w": zeros (n,), "b": 0}``) and ``data``; ``lr`` is the learning rate ``--steps`` uses.
It could also define ``update(params, grads, state, lr) -> (params, state)``, its handwritten
update, and ``optimizer`` (e.g. ``gdcheck.optim.momentum(0.9)``), what that update computes;
without them the reference runs plain gradient descent :math:`p \leftarrow p - \eta g`.
"""

import numpy as np

import gdcheck

X, y = gdcheck.data.synthetic("logistic_regression", seed=0)  # X (200, 2), y (200,) in {0, 1}
data = (X, y)
lr = 0.5


def init(X, y):
    return {"w": np.zeros(X.shape[1]), "b": np.zeros(())}


def loss(params, X, y):
    xp = gdcheck.namespace(params)
    z = X @ params["w"] + params["b"]
    zero = xp.zeros_like(z)
    return xp.mean(y * xp.logaddexp(zero, -z) + (1 - y) * xp.logaddexp(zero, z))


def grad(params, X, y):
    m = X.shape[0]
    s = 1 / (1 + np.exp(-(X @ params["w"] + params["b"])))
    return {"w": X.T @ (s - y) / m, "b": np.sum(s - y) / m}
