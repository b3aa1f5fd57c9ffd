"""Float64 data beyond float32's range, checked in float32: refused as what it is, not as Inf.

A float64 value above ±3.4e38 becomes Inf when cast to float32. Before ``check_range`` the
check then said "contains 1 Inf value(s)" about data that hold none, and ``crosscheck`` gave
the index in the prepared ``[1; X]`` (one row off from the user's X).
"""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.cli import main
from gdcheck.errors import InputError
from gdcheck.validation import check_range


def _data(big=1e300, at=(1, 7)):
    rng = np.random.default_rng(0)
    X, y = rng.random((3, 50)), rng.random((1, 50))
    X[at] = big
    return X, y


def loss(w, X, y):
    xp = gdcheck.namespace(w)
    return xp.mean((w @ X - y) ** 2)


def grad(w, X, y):
    return 2 * (w @ X - y) @ X.T / X.shape[1]


def test_check_gradient_names_the_range_and_the_index_not_inf():
    X, y = _data()
    with pytest.raises(InputError) as info:
        gdcheck.check_gradient(loss, grad, np.zeros((1, 3), np.float32), X, y)
    text = str(info.value)
    assert "beyond float32's range" in text and "index (1, 7)" in text and "1e+300" in text
    assert "contains" not in text and "--dtype float64" in text


def test_crosscheck_gives_the_users_index_not_the_prepared_one():
    X, y = _data()
    with pytest.raises(InputError, match=r"beyond float32's range .* at index \(1, 7\)"):
        gdcheck.crosscheck(
            gdcheck.models.linear_regression(), X, y, lr=0.1, steps=2, dtype="float32"
        )


def test_float64_holds_them_and_float32_data_are_not_read():
    X, _ = _data()
    check_range(X, "float64", "X")  # float64 holds 1e300: nothing to refuse
    X32 = np.ones((3, 4), np.float32)
    X32.flags.writeable = False
    check_range(X32, "float32", "X")  # not narrowed: no pass over the data at all
    check_range(np.array([np.nan, np.inf]), "float32", "X")  # NaN, Inf: check_finite's


def test_a_real_inf_is_still_reported_as_inf():
    X, y = _data(np.inf)
    with pytest.raises(InputError, match=r"contains 1 Inf value\(s\), the first at index \(1, 7\)"):
        gdcheck.check_gradient(loss, grad, np.zeros((1, 3), np.float32), X, y)


def test_values_at_float32s_edge_pass_and_just_beyond_it_do_not():
    edge = float(np.finfo(np.float32).max)
    X, _ = _data(edge)
    check_range(X, "float32", "X")  # representable: no refusal
    X[2, 3] = -edge * 1.01
    with pytest.raises(InputError, match=r"index \(2, 3\)"):
        check_range(X, "float32", "X")


def test_a_mapped_file_is_checked_block_by_block_with_the_right_index(tmp_path):
    path = tmp_path / "X.npy"
    X = np.lib.format.open_memmap(path, mode="w+", dtype=np.float64, shape=(300, 10_000))
    X[:] = 1.0
    X[250, 9_999] = -1e39  # in the second 16 MiB block
    del X
    mapped = np.load(path, mmap_mode="r")
    with pytest.raises(InputError, match=r"the first -1e\+39 at index \(250, 9999\)"):
        check_range(mapped, "float32", "data[0]")


@pytest.mark.parametrize("suffix", [".npy", ".csv"])
def test_the_cli_exits_2_with_one_line_naming_the_file(suffix, tmp_path, capsys):
    # before: a RuntimeWarning from the cast, reported as "likely a gdcheck bug" (.npy)
    table = np.random.default_rng(1).random((40, 3))
    table[5, 1] = 1e300
    path = tmp_path / f"big{suffix}"
    if suffix == ".npy":
        np.save(path, table)
    else:
        np.savetxt(path, table, delimiter=",", header="a,b,y", comments="")
    argv = ["run", "--data", str(path), "--target", "2", "--dtype", "float32", "--no-save", "-q"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "beyond float32's range" in err and str(path) in err and "Traceback" not in err
    assert "index (5, 1)" in err  # (example, column): the target is the last column
    assert len(err.strip().splitlines()) == 1


def test_the_data_parallel_check_refuses_them_before_starting_workers():
    X, y = _data()
    with pytest.raises(InputError, match=r"beyond float32's range .* at index \(1, 7\)"):
        gdcheck.distributed.crosscheck_parallel(
            gdcheck.models.linear_regression(), X, y, workers=2, lr=0.1, steps=2, dtype="float32"
        )
