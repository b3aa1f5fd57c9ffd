"""Demo data per model (``synthetic``) and scikit-learn's bundled datasets (``dataset``)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys

import numpy as np
import pytest

from gdcheck.data import (
    DATASETS,
    MODEL_LAYOUTS,
    dataset,
    dataset_for_model,
    synthetic,
    tutorial,
)
from gdcheck.data._synthetic import SYNTHETIC
from gdcheck.errors import InputError, InputTypeError

pytest.importorskip("sklearn")

# name → (examples m, features n when standardised, n raw, task, number of classes or None)
DATASET_CASES = {
    "diabetes": (442, 10, 10, "regression", None),
    "breast_cancer": (569, 30, 30, "binary", 2),
    "iris": (150, 4, 4, "multiclass", 3),
    "digits": (1797, 61, 64, "multiclass", 10),
}
# model → (default m, classes or None for regression, y dtype)
SYNTHETIC_CASES = {
    "linear_regression": (500, None, np.float64),
    "ridge": (500, None, np.float64),
    "logistic_regression": (200, 2, np.float64),
    "softmax_regression": (300, 3, np.int64),
    "mlp": (300, 3, np.int64),
}
# (dataset, model) → layout the model gets
FITS = {
    ("diabetes", "linear_regression"): "columns",
    ("diabetes", "ridge"): "columns",
    ("breast_cancer", "logistic_regression"): "rows",
    ("iris", "softmax_regression"): "rows",
    ("iris", "mlp"): "rows",
    ("digits", "softmax_regression"): "rows",
    ("digits", "mlp"): "rows",
}
# (dataset, model, the datasets the error must name as fitting the model)
MISFITS = [
    ("iris", "linear_regression", "diabetes"),
    ("diabetes", "logistic_regression", "breast_cancer"),
    ("breast_cancer", "mlp", "iris, digits"),
    ("digits", "ridge", "diabetes"),
]


def test_tables_agree_on_the_model_names():
    assert set(SYNTHETIC) == set(MODEL_LAYOUTS) == set(SYNTHETIC_CASES)
    assert set(DATASETS) == set(DATASET_CASES)
    for task, models in DATASETS.values():
        assert set(models) <= set(MODEL_LAYOUTS), task
    assert {(d, m) for d, (_, ms) in DATASETS.items() for m in ms} == set(FITS)


# --- datasets: shapes, layouts, labels --------------------------------------------------------


@pytest.mark.parametrize("standardize", [True, False], ids=["std", "raw"])
@pytest.mark.parametrize("name", list(DATASET_CASES))
def test_dataset_shapes_and_layouts(name, standardize):
    m, n_std, n_raw, task, n_classes = DATASET_CASES[name]
    n = n_std if standardize else n_raw
    cols = dataset(name, layout="columns", standardize=standardize)
    rows = dataset(name, layout="rows", standardize=standardize)
    assert cols.X.shape == (n, m) and cols.y.shape == (1, m)
    assert rows.X.shape == (m, n) and rows.y.shape == (m,)
    np.testing.assert_array_equal(cols.X, rows.X.T)
    np.testing.assert_array_equal(cols.y.ravel(), rows.y)
    assert cols.X.flags.c_contiguous and cols.X.dtype == np.float64
    assert cols.layout == "columns" and rows.layout == "rows"
    assert rows.task == task and len(rows.feature_names) == n
    X, y = rows.data
    assert X is rows.X and y is rows.y
    assert rows.source.startswith("scikit-learn ") and rows.source.endswith(", bundled")
    if task == "regression":
        assert rows.classes is None and rows.y.dtype == np.float64
    else:
        assert len(rows.classes) == n_classes
        assert set(np.unique(rows.y).tolist()) == set(range(n_classes))
        assert rows.y.dtype == (np.float64 if task == "binary" else np.int64)


@pytest.mark.parametrize("name", list(DATASET_CASES))
def test_standardised_features_have_mean_0_and_std_1(name):
    ds = dataset(name, layout="rows")
    raw = dataset(name, layout="rows", standardize=False)
    np.testing.assert_allclose(ds.X.mean(axis=0), 0.0, atol=1e-12)
    np.testing.assert_allclose(ds.X.std(axis=0), 1.0, rtol=1e-12)
    assert ds.means.shape == ds.scales.shape == (ds.n_features,)
    assert raw.means is None and raw.scales is None
    assert any("features standardised: (x − mean)/std per feature" in note for note in ds.notes)
    assert any("not standardised" in note for note in raw.notes)
    keep = [raw.feature_names.index(f) for f in ds.feature_names]
    np.testing.assert_allclose(ds.X * ds.scales + ds.means, raw.X[:, keep], rtol=1e-12, atol=1e-12)


def test_diabetes_is_in_original_units_when_raw():
    raw = dataset("diabetes", layout="rows", standardize=False)
    age = raw.X[:, raw.feature_names.index("age")]
    assert age.min() >= 19 and age.max() <= 79  # years, not scikit-learn's pre-scaled copy
    assert "scaled=False" in raw.source


def test_digits_drops_its_constant_pixels_and_says_which():
    ds = dataset("digits", layout="rows")
    assert ds.dropped_features == ("pixel_0_0", "pixel_4_0", "pixel_4_7")
    assert not set(ds.dropped_features) & set(ds.feature_names)
    note = "dropped 3 constant features (std 0): pixel_0_0, pixel_4_0, pixel_4_7; 61 remain."
    assert note in ds.notes
    assert dataset("digits", layout="rows", standardize=False).dropped_features == ()


def test_dataset_is_frozen():
    ds = dataset("iris", layout="rows")
    with pytest.raises(dataclasses.FrozenInstanceError):
        ds.X = np.zeros(1)


# --- to_original: least squares on standardised data, mapped back, is least squares on raw ----


def _lstsq_rows(X, Y):
    """Least squares with an intercept column first: (n+1, ...) weights."""
    A = np.hstack([np.ones((X.shape[0], 1)), X])
    return np.linalg.lstsq(A, Y, rcond=None)[0]


def test_to_original_round_trips_diabetes_least_squares_in_the_columns_layout():
    ds = dataset("diabetes", layout="columns")
    raw = dataset("diabetes", layout="columns", standardize=False)
    w_std = _lstsq_rows(ds.X.T, ds.y.T)  # (n+1, 1), as the tutorial's model has it
    w_raw = _lstsq_rows(raw.X.T, raw.y.T)
    back = ds.to_original(w_std)
    assert back.shape == (11, 1)
    np.testing.assert_allclose(back, w_raw, rtol=1e-8)
    pred = back[0] + back[1:].T @ raw.X
    np.testing.assert_allclose(pred, w_std[0] + w_std[1:].T @ ds.X, rtol=1e-10)


def test_to_original_round_trips_a_mapping_in_the_rows_layout():
    ds = dataset("breast_cancer", layout="rows")
    raw = dataset("breast_cancer", layout="rows", standardize=False)
    w_std, w_raw = _lstsq_rows(ds.X, ds.y), _lstsq_rows(raw.X, raw.y)
    back = ds.to_original({"w": w_std[1:], "b": w_std[0], "extra": "kept"})
    assert set(back) == {"w", "b", "extra"} and back["extra"] == "kept"
    np.testing.assert_allclose(back["w"], w_raw[1:], rtol=1e-8)
    np.testing.assert_allclose(back["b"], w_raw[0], rtol=1e-8)


def test_to_original_maps_each_output_column_of_a_multiclass_fit():
    ds = dataset("iris", layout="rows")
    raw = dataset("iris", layout="rows", standardize=False)
    onehot = np.eye(3)[ds.y]
    back = ds.to_original(_lstsq_rows(ds.X, onehot))  # (n+1, C)
    np.testing.assert_allclose(back, _lstsq_rows(raw.X, onehot), rtol=1e-8, atol=1e-12)


def test_to_original_of_raw_data_is_a_copy():
    raw = dataset("diabetes", layout="columns", standardize=False)
    w = np.arange(11.0).reshape(11, 1)
    back = raw.to_original(w)
    np.testing.assert_array_equal(back, w)
    assert back is not w


def test_to_original_messages():
    ds = dataset("diabetes", layout="columns")
    with pytest.raises(InputError, match=r"weights of shape \(10, 1\); expected 11 entries"):
        ds.to_original(np.zeros((10, 1)))
    with pytest.raises(InputError, match=r"needs keys 'w' \(or 'W'\) and 'b'; got \['W'\]"):
        ds.to_original({"W": np.zeros(10)})
    with pytest.raises(InputError, match=r"'w' has shape \(11,\); expected 10 entries"):
        ds.to_original({"w": np.zeros(11), "b": 0.0})
    with pytest.raises(InputError, match=r"layout='cols'; pass layout='columns'"):
        ds.to_original(np.zeros((11, 1)), layout="cols")


# --- dataset_for_model ------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "model"), list(FITS))
def test_dataset_for_model_picks_the_models_layout(name, model):
    ds = dataset_for_model(name, model)
    assert ds.layout == FITS[name, model]
    assert ds.X.shape[0 if ds.layout == "rows" else 1] == DATASET_CASES[name][0]


@pytest.mark.parametrize(("name", "model", "fitting"), MISFITS)
def test_dataset_for_model_refuses_a_task_the_model_does_not_fit(name, model, fitting):
    with pytest.raises(InputError) as err:
        dataset_for_model(name, model)
    assert str(err.value).startswith("gdcheck: dataset_for_model(")
    assert f"{name} is a {DATASETS[name][0]} dataset, which {model} does not fit" in str(err.value)
    assert f"Datasets for {model}: {fitting}." in str(err.value)


def test_dataset_messages():
    with pytest.raises(
        InputError,
        match=r"unknown dataset 'wine'; the bundled ones are diabetes, breast_cancer, iris, digits\.",
    ):
        dataset("wine", layout="rows")
    with pytest.raises(InputTypeError, match=r"name is a int; pass one of diabetes"):
        dataset(3, layout="rows")
    with pytest.raises(InputError, match=r"dataset\('iris'\): layout='row'; pass layout='columns'"):
        dataset("iris", layout="row")
    with pytest.raises(
        InputError, match=r"unknown model; known models are linear_regression, ridge"
    ):
        dataset_for_model("iris", "svm")


def test_missing_scikit_learn_says_how_to_install_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "sklearn", None)
    monkeypatch.setitem(sys.modules, "sklearn.datasets", None)
    with pytest.raises(InputError) as err:
        dataset("iris", layout="rows")
    assert "scikit-learn, which is not installed; pip install 'gdcheck[datasets]'" in str(err.value)


def test_import_gdcheck_data_does_not_import_sklearn():
    code = (
        "import sys, gdcheck.data as d\n"
        "d.synthetic('mlp'); d.tutorial()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'sklearn'))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


# --- synthetic demo data ----------------------------------------------------------------------


@pytest.mark.parametrize("model", list(SYNTHETIC_CASES))
def test_synthetic_is_seeded_shaped_and_balanced(model):
    m, n_classes, dtype = SYNTHETIC_CASES[model]
    X, y = synthetic(model, seed=3)
    X2, y2 = synthetic(model, seed=3)
    X3, _ = synthetic(model, seed=4)
    np.testing.assert_array_equal(X, X2)
    np.testing.assert_array_equal(y, y2)
    assert not np.array_equal(X, X3)
    assert y.dtype == dtype and X.dtype == np.float64
    if n_classes is None:
        assert X.shape == (1, m) and y.shape == (1, m)
    else:
        assert X.shape == (m, 2) and y.shape == (m,)
        counts = np.bincount(y.astype(np.int64))
        assert len(counts) == n_classes and counts.max() - counts.min() <= 1
    Xs, ys = synthetic(model, seed=0, m=37)
    assert Xs.shape[0 if n_classes else 1] == 37 and ys.size == 37


@pytest.mark.parametrize("model", ["linear_regression", "ridge"])
def test_synthetic_regression_is_the_tutorials_data(model):
    for got, want in zip(synthetic(model, seed=5), tutorial(seed=5), strict=True):
        np.testing.assert_array_equal(got, want)


def _strictly_separable(A, B):
    """Is there (w, b) with w·a + b ≥ 1 on A and ≤ −1 on B? (a linear program)."""
    linprog = pytest.importorskip("scipy.optimize").linprog
    P = np.vstack([A, B])
    s = np.r_[np.ones(len(A)), -np.ones(len(B))]
    A_ub = -s[:, None] * np.hstack([P, np.ones((len(P), 1))])
    res = linprog(np.zeros(3), A_ub=A_ub, b_ub=-np.ones(len(P)), bounds=[(None, None)] * 3)
    assert res.status in (0, 2), res.message  # 0 feasible, 2 infeasible
    return res.status == 0


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("model", ["logistic_regression", "softmax_regression"])
def test_synthetic_blobs_are_not_separable_so_the_optimum_is_finite(model, seed):
    X, y = synthetic(model, seed=seed)
    labels = np.unique(y)
    for i, a in enumerate(labels):
        for b in labels[i + 1 :]:
            assert not _strictly_separable(X[y == a], X[y == b]), (model, seed, a, b)


def test_synthetic_spiral_needs_a_hidden_layer():
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier

    X, y = synthetic("mlp", seed=0)
    linear = LogisticRegression(max_iter=2000).fit(X, y).score(X, y)
    local = KNeighborsClassifier(5).fit(X, y).score(X, y)
    assert linear < 0.7 < 0.9 < local, (linear, local)


def test_synthetic_messages():
    with pytest.raises(InputError) as err:
        synthetic("logistic")
    assert str(err.value) == (
        "gdcheck: synthetic data: unknown model 'logistic'; known models are linear_regression, "
        "logistic_regression, mlp, ridge, softmax_regression."
    )
    with pytest.raises(InputError, match=r"m=5 examples; pass m >= 6, so that every class"):
        synthetic("mlp", m=5)
    with pytest.raises(InputError, match=r"m=1 examples; pass m >= 2, so that a slope"):
        synthetic("ridge", m=1)
    with pytest.raises(InputTypeError, match=r"m is a float; pass an int"):
        synthetic("mlp", m=10.0)
