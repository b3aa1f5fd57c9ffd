"""The array-API namespace of an array, so one loss function runs under NumPy, JAX and PyTorch."""

from __future__ import annotations

from typing import Any


def namespace(*arrays: Any) -> Any:
    """Return the array-API namespace shared by ``arrays`` (via array-api-compat).

    Write a loss once against it::

        def loss(w, X, y):
            xp = gdcheck.namespace(w)
            return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2) / X.shape[1]

    Python scalars and ``None`` are ignored, so ``namespace(w, 2.0)`` is ``namespace(w)``.
    """
    import array_api_compat

    leaves = []
    for a in arrays:
        if isinstance(a, dict):
            leaves.extend(a.values())
        elif a is not None and not isinstance(a, (int, float, complex, bool)):
            leaves.append(a)
    return array_api_compat.array_namespace(*leaves)
