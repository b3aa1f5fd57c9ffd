"""A memory-mapped X is held once, not twice: copying it hands the map's pages back
(:mod:`gdcheck._buffers`), and the CLI's ``.npy`` loads in the run's dtype.

Residency is read from ``/proc/self/smaps`` (the ``Rss`` of the file's own mapping): these
tests pin the mechanism; the peak RSS it buys is measured by ``benchmarks/run.py``.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import gdcheck
from gdcheck import _buffers
from gdcheck.data import load
from gdcheck.models import _data, _linear

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="reads /proc/self/smaps"
)


def mapped_kib(path: Path) -> int:
    """Resident KiB of this process's mappings of ``path``."""
    total, inside = 0, False
    for line in Path("/proc/self/smaps").read_text().splitlines():
        if re.match(r"^[0-9a-f]+-[0-9a-f]+ ", line):
            inside = line.rstrip().endswith(str(path))
        elif inside and line.startswith("Rss:"):
            total += int(line.split()[1])
    return total


@pytest.fixture
def npy(tmp_path: Path):
    """``save(array) -> path``: the array as a ``.npy`` in ``tmp_path``."""

    def save(a: np.ndarray, name: str = "x.npy") -> Path:
        path = tmp_path / name
        np.save(path, a)
        return path

    return save


@pytest.mark.parametrize("transposed", [False, True], ids=["C-order X", "X.T of the file"])
def test_prepare_hands_back_the_pages_it_copied(
    npy, transposed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_data, "BLOCK_BYTES", 2**20)  # ten blocks, not one
    rng = np.random.default_rng(0)
    a = rng.random((4000, 600), dtype=np.float32)  # 9.6 MB
    path = npy(a.T.copy() if transposed else a)
    X = np.load(path, mmap_mode="r")
    X = X.T if transposed else X
    X.sum()  # every page resident, as after a user's own pass over the data
    assert mapped_kib(path) > 8_000
    y = np.ones((1, X.shape[1]), np.float32)
    out, _ = _linear.prepare(X, y)
    assert mapped_kib(path) < 64, "the copied pages are still mapped"
    np.testing.assert_array_equal(out[1:], X)  # the copy is whole; the map still reads
    assert (out[0] == 1).all()


def test_a_map_at_an_odd_file_offset(tmp_path: Path) -> None:
    """np.memmap maps from the allocation boundary below its offset: the pages handed back are
    the array's own, found from that boundary, not from the array's first byte."""
    import mmap

    a = np.random.default_rng(4).random((50, 3000))  # 1.2 MB of float64
    head = 3 * mmap.ALLOCATIONGRANULARITY + 104  # neither page- nor 8-byte-of-page aligned
    path = tmp_path / "raw.bin"
    path.write_bytes(b"\0" * head + a.tobytes())
    X = np.memmap(path, np.float64, mode="r", offset=head, shape=a.shape)
    X.sum()
    out, _ = _linear.prepare(X, np.ones((1, 3000)))
    assert mapped_kib(path) < 64
    np.testing.assert_array_equal(out[1:], a)
    np.testing.assert_array_equal(X, a)  # the map reads the same after its pages went back


def test_a_copy_on_write_map_keeps_its_private_changes(npy) -> None:
    """DONTNEED would discard a mode='c' map's private pages: they are never handed back."""
    path = npy(np.zeros((300, 2000), np.float32))
    X = np.load(path, mmap_mode="c")
    X[0, 0] = 7.0  # a private change, not in the file
    out, _ = _linear.prepare(X, np.ones((1, 2000), np.float32))
    assert X[0, 0] == 7.0 and out[1, 0] == 7.0
    assert mapped_kib(path) > 1_000  # still mapped: nothing handed back


def test_an_array_in_memory_is_copied_and_untouched() -> None:
    a = np.arange(12.0).reshape(3, 4)
    assert _buffers.read_only_map(a) is None
    out = _buffers.aligned_empty(a.shape, np.float32)
    _buffers.copy_in_blocks(out, a, block_bytes=8)  # one row a block
    np.testing.assert_array_equal(out, a)
    assert out.ctypes.data % _buffers.ALIGN == 0


def test_blocks_run_along_the_outermost_axis_in_memory() -> None:
    a = np.zeros((10, 1000))
    assert _buffers.source_blocks(a, 8000 * 3)[1] == (slice(3, 6),)
    assert _buffers.source_blocks(a.T, 8000 * 3)[1] == (slice(None), slice(3, 6))


def test_crosscheck_of_a_mapped_x_leaves_it_unmapped(npy) -> None:
    """The whole cross-check reads the map once: nothing after ``prepare`` maps it again."""
    rng = np.random.default_rng(1)
    Xa = rng.random((20, 50_000), dtype=np.float32)  # 4 MB
    y = (rng.standard_normal(20) @ Xa + 1).astype(np.float32)[None, :]
    path = npy(Xa)
    X = np.load(path, mmap_mode="r")
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(),
        X,
        y,
        lr=0.05,
        steps=5,
        dtype="float32",
        backends=["numpy"],
    )
    assert run.passed
    assert mapped_kib(path) < 64


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_npy_loads_in_the_run_dtype(npy, dtype: str) -> None:
    a = np.random.default_rng(2).random((500, 4), dtype=np.float32)
    X, y, _ = load(npy(a), dtype=dtype)
    assert X.dtype == y.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(X, a[:, :-1].T.astype(dtype))
    np.testing.assert_array_equal(y[0], a[:, -1].astype(dtype))
    if dtype == "float32":  # the file's own dtype: a view of the map, nothing copied
        assert not X.flags.writeable and not X.flags.owndata


def test_load_refuses_another_dtype(npy) -> None:
    with pytest.raises(gdcheck.errors.InputError, match="'float64' or 'float32'"):
        load(npy(np.zeros((3, 2))), dtype="float16")


def test_a_block_never_exceeds_its_bytes_for_few_long_rows() -> None:
    """One row of a (1, m) or (4, m) X can be bigger than a block: it is cut along m too."""
    assert _buffers.source_blocks(np.zeros((1, 100)), 80) == [
        (slice(None), slice(s, s + 10)) for s in range(0, 100, 10)
    ]
    blocks = _buffers.source_blocks(np.zeros((4, 100)), 80)
    assert len(blocks) == 40 and blocks[11] == (slice(1, 2), slice(10, 20))
    assert _buffers.source_blocks(np.zeros((4, 100)).T, 80)[11] == (slice(10, 20), slice(1, 2))


@pytest.mark.parametrize("dtype", ["int32", ">f8", "float16"])
def test_other_dtypes_are_cast_in_the_one_copy(npy, dtype: str) -> None:
    """Integers, big-endian and half floats become float64 as the block is copied: no
    float64 copy of the whole map first, and the map's pages go back."""
    a = np.random.default_rng(5).integers(0, 100, (300, 4000)).astype(dtype)
    path = npy(a)
    X = np.load(path, mmap_mode="r")
    X.sum(dtype=np.float64)
    out, y = _linear.prepare(X, np.ones((1, 4000)))
    assert out.dtype == y.dtype == np.float64
    assert mapped_kib(path) < 64
    np.testing.assert_array_equal(out[1:], a.astype(np.float64))


def test_ridge_prepares_as_the_tutorial_does(npy) -> None:
    a = np.random.default_rng(6).random((50, 20_000), dtype=np.float32)
    path = npy(a)
    X = np.load(path, mmap_mode="r")
    X.sum()
    out, _ = gdcheck.models.ridge().prepare(X, np.ones((1, 20_000), np.float32))
    assert mapped_kib(path) < 64
    np.testing.assert_array_equal(out[1:], a)
    assert (out[0] == 1).all()


def test_standardising_a_map_hands_its_pages_back(npy) -> None:
    from gdcheck.trajectory._prepare import user_data

    a = np.random.default_rng(7).random((20_000, 30))  # rows layout, as the CLI's file
    path = npy(a)
    X = np.load(path, mmap_mode="r")
    model = gdcheck.models.linear_regression()
    (Z, _), scaling = user_data(model, (X.T, a[:, 0][None, :]), standardize=True)
    assert scaling is not None and scaling.standardized
    assert mapped_kib(path) < 64
    np.testing.assert_allclose(Z.mean(axis=1), 0, atol=1e-12)


def test_a_middle_target_column_is_read_once(npy) -> None:
    a = np.random.default_rng(8).random((20_000, 6), dtype=np.float32)
    path = npy(a)
    X, y, names = load(path, target=2, dtype="float32")
    assert mapped_kib(path) < 64  # X is a copy, read once; y too, its pages handed back
    assert names == ["x0", "x1", "x3", "x4", "x5"] and X.dtype == np.float32
    np.testing.assert_array_equal(X, np.delete(a, 2, axis=1).T)
    np.testing.assert_array_equal(y[0], a[:, 2])


def test_a_column_is_cut_by_the_bytes_it_spans_not_its_elements() -> None:
    """A file's column (one value a row, a row's stride apart) spans the whole file: its blocks
    are counted by the span, so each block touches about ``block_bytes`` of the map. Counted by
    its 8-byte elements, one 16 MB block of a (2e6, 1001) file spans all of its 16 GB."""
    a = np.zeros((1000, 100))  # rows of 800 bytes
    blocks = _buffers.source_blocks(a[:, 7:8], 8000)
    assert len(blocks) == 100 and blocks[1] == (slice(10, 20),)


def test_the_target_column_is_read_with_the_pages_handed_back(
    npy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The CLI's ``.npy`` target is a column of the file. Read at once (a float64 copy to
    validate it) it made every page of a file whose rows are a page or less resident, the whole
    X beside its copy: 1.6 GB for an 800 MB file through ``gdcheck run``. ``prepare`` copies it
    in blocks of rows, each block's pages handed back, and checks the copy."""
    a = np.random.default_rng(9).random((50_000, 200), dtype=np.float32)  # 800 B a row, 40 MB
    path = npy(a)
    seen = []
    real = _buffers.release_pages

    def spy(mapped, view):
        seen.append(mapped_kib(path))  # resident before each block is handed back
        return real(mapped, view)

    monkeypatch.setattr(_buffers, "release_pages", spy)
    X, y, _ = load(path, dtype="float32")  # the last column is the target; nothing read yet
    assert mapped_kib(path) < 64
    Xb, yb = _linear.prepare(X, y)
    # blocks of 16 MB: never much more than one resident, not the file's 39,000 KiB
    assert len(seen) >= 6 and max(seen) < 20_000
    assert mapped_kib(path) < 64
    np.testing.assert_array_equal(yb[0], a[:, -1])
    np.testing.assert_array_equal(Xb[1:], a[:, :-1].T)


def test_load_takes_a_numpy_dtype_too(npy) -> None:
    X, y, _ = load(npy(np.ones((4, 3), np.float32)), dtype=np.float32)
    assert X.dtype == y.dtype == np.float32


@pytest.mark.parametrize("order", ["C", "F"])
def test_the_first_nan_is_the_row_major_first_whatever_the_blocks(
    order: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_linear, "GRAM_BLOCK_BYTES", 64)  # many blocks, either way round
    X = np.asfortranarray(np.ones((20, 30))) if order == "F" else np.ones((20, 30))
    for i, j in [(9, 10), (11, 7), (17, 8)]:
        X[i, j] = np.nan
    with pytest.raises(
        gdcheck.errors.InputError, match=r"3 NaN value\(s\), the first at index \(9, 10\)"
    ):
        _linear.prepare(X, np.ones((1, 30)))


@pytest.mark.parametrize("transposed", [False, True], ids=["C-order X", "X.T of the file"])
@pytest.mark.parametrize("axis", [0, 1, -1])
def test_the_examples_of_a_shard_are_np_takes(npy, transposed: bool, axis: int) -> None:
    from gdcheck.distributed._mapped import _examples

    rng = np.random.default_rng(1)
    a = rng.random((300, 700), dtype=np.float32)
    path = npy(a.T.copy() if transposed else a)
    X = np.load(path, mmap_mode="r")
    X = X.T if transposed else X
    shard = X[:, 100:650] if axis != 0 else X[40:290]
    ends = [0, shard.shape[axis] - 1]
    np.testing.assert_array_equal(_examples(shard, ends, axis), np.take(shard, ends, axis=axis))
    y = np.load(npy(rng.random(700), "y.npy"), mmap_mode="r")
    np.testing.assert_array_equal(_examples(y, [0, 5, 699], -1), y[[0, 5, 699]])


def test_checking_the_shards_of_a_mapped_x_leaves_its_pages_unmapped(npy) -> None:
    # crosscheck_parallel's parent compares two examples of every raw shard with the prepared
    # ones: np.take copied each column-cut shard whole, and the kernel maps a large folio
    # around every read, so the whole file stayed resident beside the prepared X
    from gdcheck.distributed._mapped import worker_sources
    from gdcheck.distributed._shards import split

    rng = np.random.default_rng(2)
    a = rng.random((200, 40_000), dtype=np.float32)  # 32 MB, examples along the columns
    path = npy(a)
    X, y = np.load(path, mmap_mode="r"), a[:1].astype(np.float64)
    model = gdcheck.models.linear_regression()
    prepared = split(model.prepare(a, y), -1, 2)
    sources, in_worker = worker_sources(model, (X, y), prepared, "float32")
    assert in_worker and isinstance(sources[0][0], type(sources[1][0]))
    assert mapped_kib(path) < a.nbytes // 1024 // 8, f"{mapped_kib(path)} KiB of the file mapped"


def test_examples_out_of_range_are_refused_not_garbage() -> None:
    from gdcheck.distributed._mapped import _examples

    with pytest.raises(IndexError, match="out of range"):
        _examples(np.arange(7.0), [7], 0)
    with pytest.raises(IndexError, match="out of range"):
        _examples(np.arange(7.0), [-1], 0)


def test_a_rows_model_reads_a_mapped_file_once(npy, monkeypatch: pytest.MonkeyPatch) -> None:
    """The CLI's ``.npy`` for a rows model: X is the file's leading columns and y its last one,
    both views of the map; ``check_rows_data`` copies them block by block and hands the pages
    back (it once converted X to float64 at once and summed it: every page resident, plus a
    float64 copy of the whole file)."""
    monkeypatch.setattr(_data, "BLOCK_BYTES", 2**20)
    rng = np.random.default_rng(5)
    a = rng.random((20_000, 101), dtype=np.float32)  # 8 MB, rows are examples
    a[:, -1] = a[:, 0] > 0.5  # 0/1 labels in the last column
    path = npy(a)
    X, y, _ = load(path, dtype="float32")  # X (n, m) and y (1, m): views of the map
    X.sum(), y.sum()  # every page resident
    assert mapped_kib(path) > 7_000
    Xr, yr = gdcheck.models.logistic_regression().prepare(X.T, y.reshape(-1))
    assert mapped_kib(path) < 64, "the copied pages are still mapped"
    assert Xr.dtype == yr.dtype == np.float32
    assert Xr.flags.c_contiguous and Xr.ctypes.data % _buffers.ALIGN == 0
    np.testing.assert_array_equal(Xr, a[:, :-1])
    np.testing.assert_array_equal(yr, a[:, -1])


def test_a_rows_model_names_the_first_bad_entry_of_a_map(npy) -> None:
    a = np.random.default_rng(6).random((3000, 5))
    a[2100, 3], a[2500, 1] = np.nan, np.inf
    X = np.load(npy(a), mmap_mode="r")
    with pytest.raises(gdcheck.errors.InputError) as err:
        gdcheck.models.logistic_regression().prepare(X[:, :-1], (a[:, -1] > 0.5) * 1.0)
    assert str(err.value) == (
        "gdcheck: X contains 2 NaN and Inf value(s), the first at index (2100, 3) (example 2100, "
        "feature 3); remove or impute them before checking gradients."
    )


def test_an_aligned_rows_x_in_memory_is_used_as_it_is() -> None:
    """No copy when the backends can share X as it is; float32 stays float32 (it was converted
    to float64 and back: three times X's bytes for a moment)."""
    X = _buffers.aligned_empty((400, 7), np.float32)
    X[...] = np.random.default_rng(7).random(X.shape)
    y = (X[:, 0] > 0.5).astype(np.float64)
    Xr, yr = gdcheck.models.logistic_regression().prepare(X, y)
    assert Xr is X and yr.dtype == np.float32
    misaligned = np.empty(X.size * 4 + 4, np.uint8)[4:].view(np.float32).reshape(X.shape)
    misaligned[...] = X
    copy, _ = gdcheck.models.logistic_regression().prepare(misaligned, y)
    assert copy.ctypes.data % _buffers.ALIGN == 0 and not np.shares_memory(copy, misaligned)
    np.testing.assert_array_equal(copy, X)
