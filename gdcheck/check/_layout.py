r"""A flat, unrolled parameter vector seen as the named matrices it holds: ``layout=``.

Course code (Coursera's ex4, Octave ports) passes all weights as one vector
``θ = [vec(Θ₁); vec(Θ₂)]``, unrolled column-major (``order="F"``, Octave's ``A(:)``) or
row-major (``order="C"``, NumPy's ``.ravel()``). With
``layout={"Theta1": (25, 401), "Theta2": (10, 26)}`` gdcheck reports entries as
``Theta1[3, 0]`` and diagnoses per matrix, while the loss and the grad still receive (and the
grad still returns) the user's flat vector:

.. math:: \theta_{o_b + \mathrm{idx}_{order}(i, j)} = (\Theta_b)_{ij}, \qquad
          o_b = \textstyle\sum_{c < b} |\Theta_c|

with ``idx_C(i, j) = i·cols + j`` and ``idx_F(i, j) = i + j·rows``. Inside, each matrix is
kept C-ordered (as :class:`~gdcheck.params.ParamLayout` keeps every parameter).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._types import NDArray
from ..array_api import namespace
from ..errors import InputError, InputTypeError
from ..params import ParamLayout

ORDERS = {"C": "row-major, NumPy's .ravel()", "F": "column-major, Octave's A(:)"}


@dataclass(frozen=True)
class UnrolledLayout(ParamLayout):
    """Named matrices packed, in ``order``, into one user-facing vector of ``user_shape``."""

    order: str = "C"
    user_shape: tuple[int, ...] = ()

    def to_user(self, tree: Mapping[str, Any]) -> Any:
        """The user's flat vector from the matrices (NumPy, JAX or torch arrays alike)."""
        leaves = [tree[n] for n in self.names]
        xp = namespace(*leaves)
        parts = [xp.reshape(_in_order(xp, leaf, self.order), (-1,)) for leaf in leaves]
        flat = xp.concat(parts) if len(parts) > 1 else parts[0]
        return xp.reshape(flat, self.user_shape)

    def from_user(self, vector: NDArray) -> dict[str, NDArray]:
        """The matrices from a user's flat vector (the params, or what the grad returned)."""
        flat, out, start = np.asarray(vector).reshape(-1), {}, 0
        for name, shape, size in zip(self.names, self.shapes, self.sizes, strict=True):
            out[name] = flat[start : start + size].reshape(shape, order=self.order)
            start += size
        return out

    def user_flat(self, internal: NDArray) -> NDArray:
        """A flat internal vector (each matrix C-ordered) in the user's order."""
        return np.asarray(self.to_user(self.unflatten(np.asarray(internal)))).reshape(-1)

    def describe(self) -> str:
        """``Theta1 (25, 401), Theta2 (10, 26) unrolled in order 'F'``."""
        blocks = ", ".join(f"{n} {s}" for n, s in zip(self.names, self.shapes, strict=True))
        return f"{blocks} unrolled in order {self.order!r} ({ORDERS[self.order]})"


def _in_order(xp: Any, leaf: Any, order: str) -> Any:
    """``leaf`` whose C-order ravel is the ``order`` ravel of the original (a reversed axes view)."""
    if order == "C" or leaf.ndim < 2:
        return leaf
    return xp.permute_dims(leaf, tuple(reversed(range(leaf.ndim))))


def unroll(
    layout: ParamLayout, tree: dict[str, NDArray], spec: Any, order: Any
) -> tuple[UnrolledLayout, dict[str, NDArray]]:
    """Validate ``layout=`` and ``order=`` against the (single, flat) params and split them."""
    if order not in ORDERS:
        raise InputError(
            f"order={order!r}; use 'C' (row-major, NumPy's .ravel()) or 'F' (column-major, "
            "Octave's A(:), Coursera's unrolled parameters)."
        )
    if not isinstance(spec, Mapping) or not spec:
        rows = (
            " (crosscheck's layout='rows' is about the data; check_gradient takes data in any "
            "layout as it is)"
            if isinstance(spec, str)
            else ""
        )
        raise InputTypeError(
            "layout must be a non-empty dict {name: shape} of the matrices in a flat parameter "
            f"vector, e.g. {{'Theta1': (25, 401), 'Theta2': (10, 26)}}; got {spec!r:.60}{rows}."
        )
    if layout.is_dict:
        raise InputError(
            "layout= splits one flat parameter vector into named matrices, but params is "
            "already a dict of named arrays: drop layout=."
        )
    shapes = {}
    for name, shape in spec.items():
        if not isinstance(name, str):
            raise InputTypeError(f"layout keys must be strings, got {name!r}.")
        shape = (shape,) if isinstance(shape, (int, np.integer)) else shape
        ok = isinstance(shape, (tuple, list)) and all(
            isinstance(d, (int, np.integer)) and not isinstance(d, bool) and d >= 0 for d in shape
        )
        if not ok:
            raise InputTypeError(
                f"layout[{name!r}] = {shape!r}; a shape is a tuple of non-negative integers, "
                "e.g. (25, 401)."
            )
        shapes[name] = tuple(int(d) for d in shape)
    (user_shape,) = layout.shapes
    sizes = {n: int(np.prod(s, dtype=np.int64)) for n, s in shapes.items()}
    total = sum(sizes.values())
    if total != layout.size:
        listed = " + ".join(f"{n} {s} = {sizes[n]}" for n, s in shapes.items())
        raise InputError(
            f"layout sizes {listed} sum to {total}, but params has {layout.size} entries "
            f"(shape {user_shape}): the shapes must cover the vector exactly; check each "
            "matrix's rows and columns (a bias column of ones adds 1 to the columns)."
        )
    unrolled = UnrolledLayout(
        tuple(shapes), tuple(shapes.values()), False, order=order, user_shape=user_shape
    )
    return unrolled, unrolled.from_user(tree[layout.names[0]])


def other_order(
    layout: ParamLayout, g: NDArray, r: NDArray, tol: NDArray, ref: str = "autodiff's"
) -> str | None:
    """Why ``g`` is ``r`` unrolled in the other order, or None when it is not.

    Block ``b`` of your vector is compared with the reference matrix unrolled in the order
    the layout does not name: ``ĝ_b = vec_other(R_b)``.
    """
    if not isinstance(layout, UnrolledLayout):
        return None
    other = "C" if layout.order == "F" else "F"
    gu, ru, tu = layout.user_flat(g), layout.user_flat(r), layout.user_flat(tol)
    swapped, start = [], 0
    for name, shape, size in zip(layout.names, layout.shapes, layout.sizes, strict=True):
        sl = slice(start, start + size)
        start += size
        if np.all(np.abs(gu[sl] - ru[sl]) <= tu[sl]):
            continue
        rb = ru[sl].reshape(shape, order=layout.order).ravel(order=other)
        tb = tu[sl].reshape(shape, order=layout.order).ravel(order=other)
        if len(shape) < 2 or not np.all(np.abs(gu[sl] - rb) <= np.maximum(tu[sl], tb)):
            return None
        swapped.append(f"{name} {shape}")
    if not swapped:
        return None
    return (
        f"your gradient has exactly {ref} entries in another order: {', '.join(swapped)} "
        f"{'is' if len(swapped) == 1 else 'are'} unrolled in order {other!r} ({ORDERS[other]}) "
        f"where the layout (and the loss) reads order {layout.order!r} ({ORDERS[layout.order]})"
        f": unroll each block with .ravel(order={layout.order!r})"
    )
