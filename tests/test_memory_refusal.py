"""Data that would not fit are refused before any copy of them is made (issue 9, item 3).

Found by a hostile review: a 40 GB float32 ``.npy`` read 6.4 GB of its map and ended "out of
memory" after 83 s, because the estimate ran after ``prepare`` had started the copy; a float32
file read as float64 failed in the loader's ``np.empty``; and the estimate of a billion steps
built a billion-element ``arange`` just to count rows.
"""

from __future__ import annotations

import dataclasses
import tracemalloc

import numpy as np
import pytest

import gdcheck
from gdcheck.backends import _memory
from gdcheck.cli import main
from gdcheck.data import load
from gdcheck.errors import InputError

MB = 2**20


@pytest.mark.parametrize("steps", [0, 1, 2, 7, 20, 21, 1000])
@pytest.mark.parametrize("every", [1, 2, 3, 7, 20, 50])
def test_the_row_count_is_the_rows_recorded(steps, every):
    assert _memory.recorded_count(steps, every) == len(_memory.recorded_steps(steps, every))


def test_estimating_a_billion_steps_holds_no_row_per_step():
    tracemalloc.start()
    need = _memory.estimate_bytes(1001, 10**9, "float64", 2, True, record_every=1)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert need > 10**9 * 1001  # a row per step is counted, not made
    assert peak < MB


def _spy_model(calls):
    model = gdcheck.models.linear_regression()

    def prepare(*data):
        calls.append(1)
        return model.prepare(*data)

    return dataclasses.replace(model, prepare=prepare)


def test_data_that_would_not_fit_are_refused_before_prepare_copies_them(monkeypatch):
    monkeypatch.setattr(_memory, "available_bytes", lambda: 60 * MB)
    X = np.zeros((10, 1_000_000), np.float32)  # 84 MB of copies in float64, 42 MB in float32
    y = np.zeros((1, 1_000_000), np.float32)
    calls = []
    with pytest.raises(InputError) as info:
        gdcheck.crosscheck(_spy_model(calls), X, y, lr=0.1, steps=2, dtype="float64")
    text = str(info.value)
    assert "the data would not fit in memory" in text and "data[0] (10, 1000000)" in text
    assert "is available" in text and "--dtype float32" in text  # half as much in float32
    assert calls == []  # refused before the copy
    monkeypatch.setattr(_memory, "available_bytes", lambda: 40 * MB)
    with pytest.raises(InputError) as info:
        gdcheck.crosscheck(_spy_model(calls), X, y, lr=0.1, steps=2, dtype="float64")
    assert "--dtype float32" not in str(info.value)  # that would not fit either


def test_data_that_fit_run_and_the_estimate_counts_the_copy(monkeypatch):
    X, y = gdcheck.data.tutorial(seed=0)
    assert _memory.check_data_fits((X, y), "float64", copies_all=True) == (X.size + y.size) * 8
    aligned = gdcheck.backends._common.aligned_astype(X, "float64")
    assert _memory.check_data_fits((aligned,), "float64", copies_all=False) == 0  # shared
    assert _memory.check_data_fits((aligned,), "float32", copies_all=False) == X.size * 4


def test_a_file_whose_conversion_would_not_fit_is_refused_before_it(tmp_path, monkeypatch):
    path = tmp_path / "wide.npy"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(3000, 1001))
    del mapped  # 12 MB of float32 on disk: 24 MB once read as float64
    monkeypatch.setattr(_memory, "available_bytes", lambda: 20 * MB)
    with pytest.raises(InputError) as info:
        load(path, dtype="float64")
    text = str(info.value)
    assert "the features would not fit in memory" in text and "(3000, 1000)" in text
    assert "--dtype float32" in text  # in the file's own dtype they are not converted
    monkeypatch.setattr(_memory, "available_bytes", lambda: 10 * MB)
    with pytest.raises(InputError) as info:
        load(path, dtype="float64")
    assert "--dtype float32" not in str(info.value)  # that would not fit either
    X, _y, _ = load(path, dtype="float32")  # no conversion: the map itself
    assert X.shape == (1000, 3000) and X.dtype == np.float32


def test_the_cli_refuses_a_run_that_would_not_fit_with_exit_2(tmp_path, monkeypatch, capsys):
    path = tmp_path / "big.npy"
    mapped = np.lib.format.open_memmap(path, mode="w+", dtype=np.float32, shape=(300_000, 11))
    mapped[:] = 1.0
    del mapped
    monkeypatch.setattr(_memory, "available_bytes", lambda: 8 * MB)  # the copy is 12 MB
    assert main(["run", "--data", str(path), "--dtype", "float32", "--no-save", "-q"]) == 2
    err = capsys.readouterr().err
    assert "the data would not fit in memory" in err and "Traceback" not in err
