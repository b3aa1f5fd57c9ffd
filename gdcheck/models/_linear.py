r"""The tutorial's handwritten linear regression, written through :class:`gdcheck.Model`.

Conventions (the tutorial's): ``X`` is (n, m), features × examples; ``y`` is (1, m). A row of
ones is prepended to ``X`` (:func:`prepare`), so ``w`` is (n+1, 1) and ``w[0]`` is the
intercept.

.. math::

    \hat y = w^\top X, \qquad
    C(w) = \frac{1}{m}\sum_{j=1}^{m} (\hat y_j - y_j)^2, \qquad
    \frac{\partial C}{\partial w} = \frac{2}{m}\, X (\hat y - y)^\top, \qquad
    w \leftarrow w - \eta\, \frac{\partial C}{\partial w}.

The Hessian is constant, :math:`H = \frac{2}{m} X X^\top`, so gradient descent converges iff
:math:`\eta < 2/\lambda_{\max}(H)`, and the minimiser is the least-squares solution.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from .._buffers import aligned_empty
from .._types import Array, NDArray
from ..array_api import namespace
from ..validation import check_tutorial_data
from ._data import finite_copy, floating
from ._model import Model

__all__ = [
    "cost",
    "gradient",
    "hessian",
    "init_params",
    "linear_regression",
    "optimum",
    "predict",
    "prepare",
    "term_scale",
    "update",
]


def prepare(X: Any, y: Any) -> tuple[NDArray, NDArray]:
    """Validate ``X`` (n, m) and ``y`` (1, m), and prepend the ones row: returns (n+1, m), (1, m).

    ``X`` keeps its floating dtype (float32 stays float32: no float64 copy of big data;
    integers and other floats become float64; ``y`` takes the same dtype), and is read once,
    block by block, into one 64-byte-aligned C-contiguous buffer that JAX can use without
    another copy; its finiteness is checked on the way. A read-only file map's pages are
    handed back as they are copied (:func:`~gdcheck._buffers.copy_in_blocks`): a
    memory-mapped X is held once, not twice.
    """
    X = floating(X)
    dtype = X.dtype if X.dtype in (np.float32, np.float64) else np.dtype(np.float64)
    y = floating(y, "y")
    stand_in = np.broadcast_to(np.zeros((), np.float64), X.shape)  # the shapes, nothing read
    check_tutorial_data(stand_in, np.broadcast_to(np.zeros((), np.float64), y.shape))
    # y in X's dtype (a float64 y would make X @ r mixed-type), copied once, aligned: the
    # backends share it as they share X. Copied block by block, then checked: a y that is a
    # file's column (the CLI's .npy target) is read with its pages handed back, where a
    # float64 copy of it at once would make every page of a file of short rows resident
    y_out = aligned_empty(y.shape, dtype)
    finite_copy(y_out, y, "y")
    out = aligned_empty((X.shape[0] + 1, X.shape[1]), dtype)
    out[0] = 1
    finite_copy(out[1:], X, "X", _feature_of_example)
    return out, y_out


def _feature_of_example(index: tuple) -> str:
    return f"{index} (feature {index[0]} of example {index[1]}: X is features × examples)"


def init_params(X: NDArray, y: NDArray | None = None) -> NDArray:
    """``w_0 = 0`` of shape (n+1, 1), in the dtype of ``X``."""
    return np.zeros((X.shape[0], 1), dtype=X.dtype)


def predict(w: Array, X: Array) -> Array:
    r""":math:`\hat y = w^\top X`, shape (1, m)."""
    xp = namespace(w)
    return xp.matrix_transpose(w) @ X


def cost(w: Array, X: Array, y: Array) -> Array:
    r""":math:`C = \frac{1}{m}\sum (\hat y - y)^2`, written once for every array-API library."""
    xp = namespace(w)
    residual = predict(w, X) - y
    return xp.sum(residual**2) / X.shape[1]


def gradient(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    r"""The handwritten gradient :math:`\frac{2}{m} X (\hat y - y)^\top`, shape (n+1, 1)."""
    m = X.shape[1]
    y_hat = w.T @ X
    return (2 / m) * (X @ (y_hat - y).T)


def update(w: NDArray, grad: NDArray, state: Any, lr: float) -> tuple[NDArray, None]:
    r"""The handwritten update :math:`w - \eta\, g` (no state)."""
    return w - lr * grad, None


def term_scale(w: NDArray, X: NDArray, y: NDArray) -> NDArray:
    r"""Size of the terms the gradient sums: :math:`S = \frac{2}{m}|X|(|\hat y - y| + |w|^\top|X| + |y|)^\top`.

    Rounding error in any correct evaluation of the gradient is a small multiple of ``ε·S``.
    The engine measures that floor by perturbation; a model may hand it this instead, as a
    speed-up (``Model(term_scale=...)``).
    """
    absX = np.abs(X)
    size = np.abs(w.T @ X - y) + np.abs(w).T @ absX + np.abs(y)
    return (2 / X.shape[1]) * (absX @ size.T)


NORMAL_EQUATIONS_COND = 1e10
"""Below this condition number of :math:`XX^\top` the optimum solves the normal equations."""
GRAM_BLOCK_BYTES = 16 * 2**20
"""Column blocks of ``X`` are converted to float64 this many bytes at a time (never all of X)."""

_GRAM_CACHE: list[tuple[Any, tuple, NDArray]] = []  # one entry: (weakref to X, fingerprint, XXᵀ)


def gram(X: NDArray) -> NDArray:
    r""":math:`G = X X^\top` in float64, summed over column blocks: :math:`G = \sum_b X_b X_b^\top`.

    Each block :math:`X_b` is converted into one reused float64 buffer of
    :data:`GRAM_BLOCK_BYTES` (:func:`_float64_blocks`), so the float64 copy is one block, not
    all of X; one pass over X. The last result is kept for the same array (same object, same
    fingerprint of a few columns), so :func:`hessian` and :func:`optimum` of one cross-check
    pay one pass between them.
    """
    key = _fingerprint(X)
    if _GRAM_CACHE:
        ref, fp, cached = _GRAM_CACHE[0]
        if ref() is X and fp == key:
            return cached
    G = np.zeros((X.shape[0], X.shape[0]), np.float64)
    for _, block in _float64_blocks(X):
        G += block @ block.T
    _GRAM_CACHE[:] = [(_weak(X), key, G)]
    return G


def _float64_blocks(X: NDArray) -> Iterator[tuple[slice, NDArray]]:
    """``(columns, X[:, columns] in float64)`` over column blocks of :data:`GRAM_BLOCK_BYTES`,
    each written into the same buffer (valid until the next block): one block's float64 copy
    at any time, where a fresh array per block would hold two while the next is made."""
    rows, m = X.shape
    width = max(1, min(m, GRAM_BLOCK_BYTES // (8 * max(1, rows))))
    buf = np.empty((rows, width), np.float64)
    for start in range(0, m, width):
        cols = slice(start, min(m, start + width))
        block = buf[:, : cols.stop - start]
        np.copyto(block, X[:, cols], casting="unsafe")
        yield cols, block


def _fingerprint(X: NDArray) -> tuple:
    m = X.shape[1]
    cols = np.unique(np.linspace(0, max(0, m - 1), 16).astype(int)) if m else np.zeros(0, int)
    return (X.shape, X.dtype.str, float(np.asarray(X[:, cols], np.float64).sum()))


def _weak(X: NDArray) -> Any:
    import weakref

    try:
        return weakref.ref(X)
    except TypeError:
        return lambda: None


def _x_times_y(X: NDArray, y: NDArray) -> NDArray:
    r""":math:`X y^\top` in float64, over the same column blocks as :func:`gram`."""
    out = np.zeros((X.shape[0], y.shape[0]), np.float64)
    for cols, block in _float64_blocks(X):
        out += block @ np.asarray(y[:, cols], np.float64).T
    return out


def optimum(X: NDArray, y: NDArray) -> NDArray:
    r"""The least-squares minimiser :math:`\arg\min_w \|w^\top X - y\|^2`, in float64, (n+1, 1).

    By the normal equations :math:`(XX^\top) w = X y^\top` when :math:`\kappa(XX^\top) <`
    :data:`NORMAL_EQUATIONS_COND` (:math:`XX^\top` from :func:`gram`: one blocked pass over X,
    shared with :func:`hessian`; its relative error is about :math:`\kappa\,\epsilon`: 1e-6
    at the worst allowed κ), else by ``lstsq`` (an SVD of the (m, n+1) matrix in float64:
    exact to :math:`\kappa(X)\,\epsilon`, and the slow path for large m, with a float64 copy).
    """
    G = gram(X)
    eig = np.linalg.eigvalsh(G)
    if eig[0] > 0 and eig[-1] / eig[0] < NORMAL_EQUATIONS_COND:
        return np.linalg.solve(G, _x_times_y(X, y))
    X64, y64 = X.astype(np.float64, copy=False), y.astype(np.float64, copy=False)
    sol, *_ = np.linalg.lstsq(X64.T, y64.T, rcond=None)
    return sol


def hessian(X: NDArray, y: NDArray | None = None) -> NDArray:
    r"""The constant Hessian :math:`H = \frac{2}{m} X X^\top`, in float64 (blocked: :func:`gram`)."""
    return (2 / X.shape[1]) * gram(X)


def linear_regression() -> Model:
    """The tutorial's handwritten linear regression as a :class:`gdcheck.Model`.

    Example::

        >>> import gdcheck
        >>> X, y = gdcheck.data.tutorial(seed=0)
        >>> model = gdcheck.models.linear_regression()
        >>> Xb, y = model.prepare(X, y)            # prepends the ones row
        >>> w = model.init(Xb, y)                  # zeros, shape (2, 1)
        >>> float(model.loss(w, Xb, y)) > 0
        True
    """
    return Model(
        name="linear_regression",
        loss=cost,
        grad=gradient,
        init=init_params,
        update=update,
        prepare=prepare,
        optimum=optimum,
        hessian=hessian,
        description="the tutorial's linear regression: C = (1/m) Σ (wᵀx − y)², "
        "∇C = (2/m) X (ŷ − y)ᵀ, w ← w − lr·∇C",
        info={
            "layout": "columns (features × examples), a ones row prepended",
            "optimum": "least squares",
        },
    )
