"""The tutorial's data and the CSV / .npy loaders, including their error messages."""

from __future__ import annotations

import numpy as np
import pytest

import gdcheck
from gdcheck.data import load


def test_tutorial_data_is_seeded_and_shaped():
    X, y = gdcheck.data.tutorial(seed=0)
    X2, y2 = gdcheck.data.tutorial(seed=0)
    X3, _ = gdcheck.data.tutorial(seed=1)
    assert X.shape == (1, 500) and y.shape == (1, 500)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, X3)
    assert X.min() >= 0 and X.max() < 1
    resid = y - (3 * X + 5)
    assert abs(resid.std() - 0.1) < 0.02  # y = 3x + 5 + 0.1·N(0, 1)


def test_csv_is_transposed_to_the_tutorial_layout(tmp_path):
    f = tmp_path / "d.csv"
    f.write_text("a,target,b\n1,10,4\n2,20,5\n3,30,6\n")
    X, y, names = load(f, "target")
    assert names == ["a", "b"]
    np.testing.assert_array_equal(X, [[1, 2, 3], [4, 5, 6]])
    np.testing.assert_array_equal(y, [[10, 20, 30]])


def test_npy_target_defaults_to_last_column(tmp_path):
    f = tmp_path / "d.npy"
    np.save(f, np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]))
    X, y, _ = load(f)
    np.testing.assert_array_equal(y, [[3.0, 6.0]])
    assert X.shape == (2, 2)
    _, y0, _ = load(f, 0)
    np.testing.assert_array_equal(y0, [[1.0, 4.0]])


@pytest.mark.parametrize(
    ("content", "target", "message"),
    [
        ("a,b\n1,2\n", "c", "no column named 'c'; columns are ['a', 'b']"),
        ("a,b\n1,x\n", "b", "line 2, column 'b': 'x' is not a number"),
        ("a,b\n1,2,3\n", "b", "line 2: 3 fields, but the header has 2"),
        ("a,b\n", "b", "only a header row"),
        ("", "b", "the file is empty"),
        ("a,b\n1,2\n", None, "name the target column with --target"),
        ("b\n1\n", "b", "only the target column 'b'"),
    ],
)
def test_bad_csv_is_explained(tmp_path, content, target, message):
    f = tmp_path / "bad.csv"
    f.write_text(content)
    with pytest.raises(ValueError, match=r"^gdcheck: ") as err:
        load(f, target)
    assert message in str(err.value)


def test_missing_file_and_wrong_suffix(tmp_path):
    with pytest.raises(ValueError, match="does not exist"):
        load(tmp_path / "nope.csv", "y")
    (tmp_path / "d.txt").write_text("x")
    with pytest.raises(ValueError, match=r"gdcheck reads \.csv and \.npy"):
        load(tmp_path / "d.txt", "y")
