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


LOGSUMEXP = (
    "m = xp.max(z, axis=a, keepdims=True); m + xp.log(xp.sum(xp.exp(z - m), axis=a, keepdims=True))"
)
MISSING = {
    "logsumexp": f"write {LOGSUMEXP}",
    "dot": "write x @ y (xp.matmul), or xp.vecdot for vectors",
    "concatenate": "write xp.concat",
    "transpose": "write xp.permute_dims(x, axes), or xp.matrix_transpose(x) for a matrix",
    "power": "write xp.pow(x, p) or x ** p",
    "amax": "write xp.max",
    "amin": "write xp.min",
    "absolute": "write xp.abs",
    "einsum": "write the product with @, broadcasting and xp.sum",
    "outer": "write x[:, None] * y[None, :]",
    "softmax": f"write xp.exp(z - m) / xp.sum(xp.exp(z - m), axis=a, keepdims=True), m as in {LOGSUMEXP}",
    "sigmoid": "write 1 / (1 + xp.exp(-z))",
    "copy": "a loss needs no copy: drop .copy(), or write xp.asarray(x, copy=True)",
    "ravel": "write xp.reshape(x, (-1,))",
    "flatten": "write xp.reshape(x, (-1,))",
}
"""Rewrites, in the array API standard, of functions and methods some namespaces lack."""
IN_PLACE = (
    "the loss assigns into an array in place (a[i] = …, a[mask] = 0, a += …), which a traced "
    "JAX array refuses and a torch tensor that needs a gradient cannot do: build a new array "
    "instead, a = xp.where(mask, value, a) for entries, a = a + b for a += b, xp.concat or "
    "xp.stack for pieces"
)
_IN_PLACE_SIGNS = (
    "immutable",
    "does not support item assignment",
    "in-place operation",
    "modified by an inplace operation",
    "assignment destination is read-only",
)


MIXED_DTYPES = (
    "torch does not mix integer and floating tensors in one operation; pass floating data "
    "(e.g. X.astype(float))"
)


def operation_hint(exc: BaseException) -> str | None:
    """The rewrite for an operation a backend's namespace or arrays lack, or None.

    Recognised: a function the array API does not have (``xp.logsumexp``, ``xp.dot``, …), an
    in-place assignment into an array that autodiff traces, and ``x.dot(y)`` on matrices
    (torch's ``dot`` takes only vectors); and integer data met by floating params under torch.
    """
    text = str(exc)
    if isinstance(exc, AttributeError):
        name = getattr(exc, "name", None) or _quoted_after(text, "has no attribute ")
        if name:
            owner = "xp." if "module" in text else "x."
            fix = MISSING.get(
                name,
                "use the array API standard's functions (data-apis.org/array-api), which every "
                "backend's namespace has",
            )
            return f"{owner}{name} is not in the array API every backend shares: {fix}"
    if any(sign in text for sign in _IN_PLACE_SIGNS):
        return IN_PLACE
    if "1D tensors expected" in text:
        return "x.dot(y) on matrices: torch's dot takes only vectors; write x @ y (xp.matmul)"
    if "same dtype" in text or "expected scalar type" in text:
        return MIXED_DTYPES
    return None


def _quoted_after(text: str, marker: str) -> str | None:
    at = text.find(marker)
    if at < 0:
        return None
    rest = text[at + len(marker) :].strip("'\" ")
    return rest.split("'")[0].split('"')[0] or None
