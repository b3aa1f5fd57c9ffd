"""check_gradient(layout=, order=): one flat, unrolled parameter vector seen as named matrices.

Coursera's ex4 passes Theta1 and Theta2 unrolled column-major in one vector; a NumPy port may
unroll them row-major. The loss and the grad keep the flat vector; reports and the diagnosis
speak of Theta1[i, j]. Also here: the other frictions of real course code (a grad returning
``(cost, grad)``, data by keyword).
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.errors import InputError, InputTypeError
from gdcheck.examples import published as P

BACKENDS = ("torch",)
SHAPES = {"Theta1": (P.NN_HID, P.NN_IN + 1), "Theta2": (P.NN_OUT, P.NN_HID + 1)}
RNG = np.random.default_rng(3)
THETA = RNG.standard_normal(sum(r * c for r, c in SHAPES.values())) * 0.5
X = RNG.standard_normal((30, P.NN_IN))
YH = np.eye(P.NN_OUT)[RNG.integers(0, P.NN_OUT, 30)]


def _blocks(theta, order):
    k = P.NN_HID * (P.NN_IN + 1)
    return (
        theta[:k].reshape(SHAPES["Theta1"], order=order),
        theta[k:].reshape(SHAPES["Theta2"], order=order),
    )


def _cost_in(order):
    """ex4's cost for parameters unrolled in ``order`` (the catalogue's reads order 'F')."""

    def cost(theta, X, Yh):
        xp = gdcheck.namespace(theta)
        k = P.NN_HID * (P.NN_IN + 1)
        if order == "F":
            return P.nn_cost(theta, X, Yh)
        T1 = xp.reshape(theta[:k], SHAPES["Theta1"])
        T2 = xp.reshape(theta[k:], SHAPES["Theta2"])
        flat = xp.concat([xp.reshape(xp.permute_dims(T, (1, 0)), (-1,)) for T in (T1, T2)])
        return P.nn_cost(flat, X, Yh)

    return cost


def _grad_in(order, unroll=None):
    """ex4's gradient for parameters in ``order``, its matrices unrolled in ``unroll``."""

    def grad(theta, X, Yh):
        T1, T2 = _blocks(theta, order)
        g = P.nn_grad(np.concatenate([T1.ravel("F"), T2.ravel("F")]), X, Yh)
        G1, G2 = _blocks(g, "F")
        return np.concatenate([G1.ravel(unroll or order), G2.ravel(unroll or order)])

    return grad


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_right_gradient_passes_in_either_order_with_its_matrices_named(order):
    res = gdcheck.check_gradient(
        _cost_in(order), _grad_in(order), THETA, X, YH, backends=BACKENDS, layout=SHAPES,
        order=order,
    )  # fmt: skip
    assert res.passed, str(res)
    assert {k: v.shape for k, v in res.reference.items()} == SHAPES
    # the reference's Theta1 is the handwritten gradient's matrix, read in the layout's order
    want1, want2 = _blocks(_grad_in(order)(THETA, X, YH), order)
    np.testing.assert_allclose(res.reference["Theta1"], want1, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(res.reference["Theta2"], want2, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("order", ["C", "F"])
def test_a_wrong_entry_is_reported_by_matrix_and_index(order):
    def grad(theta, X, Yh):
        g = _grad_in(order)(theta, X, Yh)
        G1, G2 = _blocks(g, order)
        G2 = G2.copy()
        G2[2, 0] *= 1.5  # one wrong entry: Theta2[2, 0]
        return np.concatenate([G1.ravel(order), G2.ravel(order)])

    res = gdcheck.check_gradient(
        _cost_in(order), grad, THETA, X, YH, backends=BACKENDS, layout=SHAPES, order=order
    )
    assert not res.passed
    assert res.diagnosis.kind == "wrong_entries", str(res)
    assert res.diagnosis.entries == {"Theta2": [(2, 0)]}
    assert "Theta2[2, 0]" in res.diagnosis.message and "Theta2[2, 0]" in str(res)


@pytest.mark.parametrize(("order", "unroll"), [("F", "C"), ("C", "F")])
def test_a_gradient_unrolled_in_the_other_order_is_a_permutation_that_names_it(order, unroll):
    res = gdcheck.check_gradient(
        _cost_in(order), _grad_in(order, unroll), THETA, X, YH, backends=BACKENDS,
        layout=SHAPES, order=order,
    )  # fmt: skip
    assert not res.passed
    assert res.diagnosis.kind == "permuted", str(res)
    msg = res.diagnosis.message
    assert f"unrolled in order {unroll!r}" in msg and f"reads order {order!r}" in msg, msg
    assert f".ravel(order={order!r})" in msg
    # Theta1 is square: without the layout's order this would read as a transpose
    assert "Theta1 (5, 5)" in msg and "Theta2 (3, 6)" in msg


def test_a_flat_vector_without_layout_is_one_parameter():
    res = gdcheck.check_gradient(_cost_in("F"), _grad_in("F"), THETA, X, YH, backends=BACKENDS)
    assert res.passed and list(res.reference) == ["params"]


def test_assert_gradient_takes_the_layout_too():
    bad = _grad_in("F", "C")
    with pytest.raises(gdcheck.GradientMismatch, match="unrolled in order 'C'"):
        gdcheck.assert_gradient(
            _cost_in("F"), bad, THETA, X, YH, backends=BACKENDS, layout=SHAPES, order="F"
        )


def test_a_grad_of_another_length_is_a_wrong_shape_naming_the_layout():
    res = gdcheck.check_gradient(
        _cost_in("F"), lambda t, X, Yh: _grad_in("F")(t, X, Yh)[:-1], THETA, X, YH,
        backends=BACKENDS, layout=SHAPES, order="F",
    )  # fmt: skip
    assert not res.passed and res.diagnosis.kind == "wrong_shape"
    assert "shape (42,)" in res.diagnosis.message and "(43,)" in res.diagnosis.message
    assert "Theta1 (5, 5), Theta2 (3, 6)" in res.diagnosis.message


BAD = [
    (
        {"layout": {"Theta1": (5, 5), "Theta2": (3, 5)}, "order": "F"},
        InputError,
        "Theta1 (5, 5) = 25 + Theta2 (3, 5) = 15 sum to 40, but params has 43 entries",
    ),
    ({"layout": SHAPES, "order": "K"}, InputError, "use 'C' (row-major"),
    ({"order": "F"}, InputError, "order='F' without layout="),
    ({"layout": [(5, 5), (3, 6)]}, InputTypeError, "non-empty dict {name: shape}"),
    ({"layout": "rows"}, InputTypeError, "crosscheck's layout='rows' is about the data"),
    (
        {"layout": {"Theta1": (5, -5), "Theta2": (3, 6)}},
        InputTypeError,
        "layout['Theta1'] = (5, -5)",
    ),
    ({"layout": {"Theta1": "5x5"}}, InputTypeError, "tuple of non-negative"),
]


@pytest.mark.parametrize(("kwargs", "exc", "fragment"), BAD, ids=[str(b[0])[:40] for b in BAD])
def test_bad_layouts_are_refused_with_the_reason(kwargs, exc, fragment):
    with pytest.raises(exc) as info:
        gdcheck.check_gradient(
            _cost_in("F"), _grad_in("F"), THETA, X, YH, backends=BACKENDS, **kwargs
        )
    assert fragment in str(info.value), str(info.value)


def test_a_layout_for_dict_params_is_refused():
    p = {"w": np.ones(3)}
    with pytest.raises(InputError, match="already a dict"):
        gdcheck.check_gradient(
            lambda p: gdcheck.namespace(p).sum(p["w"] ** 2),
            lambda p: {"w": 2 * p["w"]},
            p,
            layout={"w": (3,)},
        )


# ---- real code's other frictions: (cost, grad) returned together, data by keyword --------------


def nn_cost_function(theta, X, Yh):
    """ex4's nnCostFunction returns [J, grad]: both at once."""
    return float(P.nn_cost(theta, X, Yh)), P.nn_grad(theta, X, Yh)


def test_a_grad_returning_cost_and_grad_with_data_by_keyword():
    res = gdcheck.check_gradient(
        P.nn_cost, nn_cost_function, THETA, X=X, Yh=YH, backends=BACKENDS, layout=SHAPES,
        order="F",
    )  # fmt: skip
    assert res.passed, str(res)

    def half(theta, X, Yh):
        J, g = nn_cost_function(theta, X, Yh)
        return J, g / 2

    res = gdcheck.check_gradient(
        P.nn_cost, half, THETA, X=X, Yh=YH, backends=BACKENDS, layout=SHAPES, order="F"
    )
    assert (
        not res.passed
        and res.diagnosis.kind == "scaled"
        and res.diagnosis.factor == pytest.approx(0.5)
    )


def test_data_by_keyword_reaches_both_functions_by_name():
    seen = {}

    def cost(theta, *, Yh, X):  # keyword-only, in another order than passed
        seen["loss"] = (X.shape, Yh.shape)
        return P.nn_cost(theta, X, Yh)

    def grad(theta, *, X, Yh):
        seen["grad"] = (X.shape, Yh.shape)
        return P.nn_grad(theta, X, Yh)

    res = gdcheck.check_gradient(cost, grad, THETA, X=X, Yh=YH, backends=BACKENDS)
    assert res.passed, str(res)
    assert seen == {"loss": (X.shape, YH.shape), "grad": (X.shape, YH.shape)}


# ---- gdcheck check FILE.py with a module-level LAYOUT ----------------------------------------

ROW_MAJOR_FILE = """
import numpy as np
from gdcheck.examples.published import NN_LAYOUT as LAYOUT, nn_cost as loss, nn_grad

ORDER = "F"
rng = np.random.default_rng(0)
params = rng.standard_normal(43) * 0.5
data = (rng.standard_normal((20, 4)), np.eye(3)[rng.integers(0, 3, 20)])

def grad(theta, X, Yh):
    return nn_grad(theta, X, Yh, order="C")   # unrolled row-major: the bug
"""


def test_the_cli_reads_a_files_layout_and_order(tmp_path, capsys):
    from gdcheck.cli import main

    f = tmp_path / "ex4.py"
    f.write_text(ROW_MAJOR_FILE)
    assert main(["check", str(f), "--backends", "torch"]) == 1
    out = capsys.readouterr().out
    assert "permuted" in out and "unrolled in order 'C'" in out and "Theta2[" in out
    f.write_text(ROW_MAJOR_FILE.replace('ORDER = "F"', 'ORDER = "X"'))
    assert main(["check", str(f), "--backends", "torch"]) == 2
    assert "order='X'; use 'C'" in capsys.readouterr().err
