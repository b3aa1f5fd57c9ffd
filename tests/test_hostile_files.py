"""A hostile world: data files that fight the loader, and disks that fight the report writer.

Every hostile data file must end in one :class:`InputError` line that says what, where and the
fix, never another exception and never a hang. Every failed report write must leave the earlier
report byte for byte as it was (checked by SHA-256), with no temporary file left behind.
"""

from __future__ import annotations

import builtins
import codecs
import copy
import errno
import hashlib
import io
import os
import pickle
import shutil
import signal
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import gdcheck
from gdcheck.data import load
from gdcheck.errors import InputError
from gdcheck.report import files, load_report
from gdcheck.report.files import check_output_dir, render_files, save_report

REPO = Path(__file__).resolve().parents[1]
TUTORIAL_REPORT = REPO / "reports" / "tutorial" / "report.json"
FUZZ_EXAMPLES = 400  # hypothesis examples per fuzz test (two tests)


class Pwn:
    """Unpickling this runs code: it must never happen."""

    def __reduce__(self):
        return (builtins.exec, ("import gdcheck; gdcheck._PWNED = True",))


def _npy(arr: np.ndarray, allow_pickle: bool = False) -> bytes:
    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=allow_pickle)
    return buf.getvalue()


# One row per hostile input: id, file name, bytes to write (or a special file to make), load's
# keyword arguments, and the fragments the one-line message must hold.
HOSTILE = [
    ("latin1", "d.csv", b"a,b\n1,2\n3,\xe94\n", {}, ["line 3, column 3", "0xe9 is not UTF-8"]),
    ("utf16", "d.csv", "a,b\n1,2\n".encode("utf-16"), {}, ["UTF-16", "save it as UTF-8"]),
    (
        "huge-quoted-field",
        "d.csv",
        b'a,b\n1,"' + b"x" * 200_000 + b"\n2,3\n",
        {},
        ["line 2, column 3", "csv's limit of 131072", "close its quote"],
    ),
    (
        "nan",
        "d.csv",
        b"a,b\n1,2\nnan,3\n",
        {"target": "b"},
        ["line 3, column 'a': 'nan' is not a finite"],
    ),
    (
        "inf",
        "d.csv",
        b"a,b\n1,2\n3,-inf\n",
        {"target": "b"},
        ["line 3, column 'b': '-inf' is not a finite"],
    ),
    (
        "empty-cell",
        "d.csv",
        b"a,b\n1,2\n3,\n",
        {"target": "b"},
        ["line 3, column 'b': the cell is empty"],
    ),
    (
        "bad-cell-after-blank-lines",  # the file's line, not the row index or the transposed one
        "d.csv",
        b"a,b\n\n1,2\n\n3,x\n",
        {"target": "b"},
        ["line 5, column 'b': 'x' is not a number"],
    ),
    (
        "bad-cell-after-multiline-quote",
        "d.csv",
        b'a,b\n"1\n",2\n3,oops\n',
        {"target": "b"},
        ["line 4, column 'b': 'oops' is not a number"],
    ),
    (
        "nul",
        "d.csv",
        b"a,b\n1,\x002\n",
        {"target": "b"},
        ["line 2, column 'b': '\\x002' is not a number"],
    ),
    (
        "duplicate-names",
        "d.csv",
        b"a,b,a\n1,2,3\n",
        {"target": "b"},
        ["column names appear more than once: 'a' (columns 1, 3)", "rename them"],
    ),
    (
        "headerless",
        "d.csv",
        b"1,2\n3,4\n",
        {"target": "0"},
        ["line 1: the first row (1, 2) is all numbers", "--no-header"],
    ),
    (
        "pandas-index",
        "d.csv",
        b",a,b\n0,1,2\n",
        {"target": "b"},
        ["line 1, column 1: the header cell is empty", "index=False"],
    ),
    ("decimal-comma", "d.csv", b"a;b\n1,5;2\n", {"target": "b"}, ["'1,5' has a decimal comma"]),
    (
        "ragged-semicolon",
        "d.csv",
        b"a;b\n1;2;3\n",
        {"target": "b"},
        ["line 2: 3 fields, but the header has 2", "extra semicolon"],
    ),
    ("bom-only", "d.csv", codecs.BOM_UTF8, {}, ["the file is empty"]),
    ("complex-npy", "d.npy", _npy(np.ones((3, 2), complex)), {}, ["complex128 is complex"]),
    (
        "object-npy",
        "d.npy",
        _npy(np.array([[Pwn(), 1.0]], dtype=object), allow_pickle=True),
        {},
        ["dtype object holds Python objects", "unpickling runs code"],
    ),
    (
        "pickle-as-npy",
        "d.npy",
        pickle.dumps(Pwn()),
        {},
        ["is a Python pickle", "does not unpickle"],
    ),
    ("npz-as-npy", "d.npy", b"PK\x03\x04" + b"\0" * 40, {}, ["is an .npz archive"]),
    ("truncated-npy", "d.npy", _npy(np.ones((100, 3)))[:-8], {}, ["the file is truncated"]),
    ("one-d-npy", "d.npy", _npy(np.ones(4)), {}, ["array of shape (4,); expected 2-D"]),
    ("bool-npy", "d.npy", _npy(np.ones((2, 2), bool)), {}, ["dtype bool; expected real numbers"]),
    (
        "structured-npy",
        "d.npy",
        _npy(np.zeros((2, 2), [("p", "f8"), ("q", "f8")])),
        {},
        ["structured array (fields p, q)"],
    ),
    ("no-rows-npy", "d.npy", _npy(np.ones((0, 3))), {}, ["has no rows"]),
    ("garbage-npy", "d.npy", b"hello, not numpy", {}, ["not a .npy file", "np.save"]),
    ("directory", "d.csv", "DIR", {}, ["is a directory"]),
    ("fifo", "d.csv", "FIFO", {}, ["is a named pipe (FIFO)", "does not wait"]),
    ("unreadable", "d.csv", "UNREADABLE", {}, ["cannot be read (permission denied)", "chmod"]),
    ("missing", "d.csv", "MISSING", {}, ["does not exist"]),
]

# Inputs that look hostile but are fine: id, bytes, load's keyword arguments, names, X, y.
ACCEPTED = [
    ("bom", codecs.BOM_UTF8 + b"a,t\n1,2\n3,4\n", {"target": "t"}, ["a"], [[1, 3]], [[2, 4]]),
    ("semicolon", b"a;t;b\n1;2;3\n", {"target": "t"}, ["a", "b"], [[1], [3]], [[2]]),
    ("tab", b"a\tt\n1\t2\n", {"target": "t"}, ["a"], [[1]], [[2]]),
    ("crlf-spaces", b" a , t \r\n 1 , 2 \r\n\r\n", {"target": "t"}, ["a"], [[1]], [[2]]),
    ("quoted", b'"a","t"\n"1","2"\n', {"target": 1}, ["a"], [[1]], [[2]]),
    ("no-header", b"1,2,3\n4,5,6\n", {"header": False}, ["x0", "x1"], [[1, 4], [2, 5]], [[3, 6]]),
    (
        "no-header-named",
        b"1,2\n4,5\n",
        {"header": False, "target": "x0"},
        ["x1"],
        [[2, 5]],
        [[1, 4]],
    ),
]


@pytest.fixture
def no_hang():
    """Fail, rather than hang, a load that blocks (a FIFO opened for reading waits forever)."""

    def fail(*_):
        raise TimeoutError("load blocked")

    old = signal.signal(signal.SIGALRM, fail)
    signal.alarm(10)
    yield
    signal.alarm(0)
    signal.signal(signal.SIGALRM, old)


def _make(tmp_path: Path, name: str, data: bytes | str, monkeypatch) -> Path:
    path = tmp_path / name
    if data == "DIR":
        path.mkdir()
    elif data == "FIFO":
        os.mkfifo(path)
    elif data == "UNREADABLE":
        path.write_bytes(b"a,b\n1,2\n")
        path.chmod(0)
        if os.geteuid() == 0:  # root reads through chmod 0: inject the refusal the kernel gives
            real = os.open

            def refuse(p, *args, **kw):
                if Path(p) == path:
                    raise PermissionError(errno.EACCES, "Permission denied", str(p))
                return real(p, *args, **kw)

            monkeypatch.setattr(os, "open", refuse)
    elif data != "MISSING":
        path.write_bytes(data)
    return path


@pytest.mark.parametrize(
    ("name", "data", "kwargs", "fragments"),
    [row[1:] for row in HOSTILE],
    ids=[row[0] for row in HOSTILE],
)
def test_a_hostile_file_ends_in_one_clear_line(
    tmp_path, monkeypatch, no_hang, name, data, kwargs, fragments
):
    path = _make(tmp_path, name, data, monkeypatch)
    with pytest.raises(InputError, match=r"^gdcheck: ") as err:
        load(path, **kwargs)
    message = str(err.value)
    assert "\n" not in message and len(message) < 400, message
    for fragment in fragments:
        assert fragment in message, message
    assert not hasattr(gdcheck, "_PWNED"), "a pickle was unpickled: code ran"


@pytest.mark.parametrize(
    ("data", "kwargs", "names", "X", "y"),
    [row[1:] for row in ACCEPTED],
    ids=[row[0] for row in ACCEPTED],
)
def test_a_file_that_only_looks_hostile_is_read(tmp_path, data, kwargs, names, X, y):
    path = tmp_path / "d.csv"
    path.write_bytes(data)
    got_X, got_y, got_names = load(path, **kwargs)
    assert got_names == names
    np.testing.assert_array_equal(got_X, X)
    np.testing.assert_array_equal(got_y, y)
    assert got_X.dtype == np.float64 and got_y.dtype == np.float64


def _resident_bytes() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def test_a_4gb_npy_is_memory_mapped_not_read(tmp_path):
    path = tmp_path / "big.npy"
    rows = (4 << 30) // 16  # two float64 columns: 4 GiB of data
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(
        header, {"descr": "<f8", "fortran_order": False, "shape": (rows, 2)}
    )
    with path.open("wb") as fh:
        fh.write(header.getvalue())
        fh.truncate(len(header.getvalue()) + rows * 16)  # sparse: no disk used
    before = _resident_bytes()
    X, y, names = load(path)
    grown = _resident_bytes() - before
    assert X.shape == (1, rows) and y.shape == (1, rows) and names == ["x0"]
    assert not X.flags.writeable and not y.flags.writeable, "not a read-only map of the file"
    assert grown < 64 << 20, f"load read {grown / 2**20:.0f} MiB of a 4 GiB file into memory"
    assert X[0, -1] == 0.0 and y[0, 0] == 0.0


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.sampled_from(
            [
                "a",
                "t",
                "x0",
                "1",
                "-2.5",
                "1e999",
                "nan",
                "",
                " ",
                ",",
                ";",
                "\t",
                "\n",
                "\r\n",
                "\r",
                '"',
                "\ufeff",
                "\x00",
                "é",
                "²",
                "1,5",
                "_1",
            ]
        ),
        max_size=40,
    ).map("".join),
    st.sampled_from([None, "t", "a", "0", "-1", "x0", "²", 3]),
    st.booleans(),
)
def test_fuzz_csv_text_returns_arrays_or_input_error(tmp_path_factory, text, target, header):
    _fuzz_one(tmp_path_factory, text.encode(), target, header)


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200), st.sampled_from([None, "0", 1]), st.booleans())
def test_fuzz_csv_bytes_returns_arrays_or_input_error(tmp_path_factory, data, target, header):
    _fuzz_one(tmp_path_factory, data, target, header)


def _fuzz_one(tmp_path_factory, data: bytes, target, header: bool) -> None:
    path = tmp_path_factory.getbasetemp() / "fuzz.csv"
    path.write_bytes(data)
    try:
        X, y, names = load(path, target, header=header)
    except InputError as exc:
        assert str(exc).startswith("gdcheck: ") and "\n" not in str(exc), str(exc)
        return
    assert X.ndim == 2 and y.shape == (1, X.shape[1]) and len(names) == X.shape[0] >= 1
    assert np.isfinite(X).all() and np.isfinite(y).all()


# --- reports ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def full() -> dict:
    return load_report(TUTORIAL_REPORT)


@pytest.fixture(scope="module")
def small(full) -> dict:
    """The tutorial's report with every 50th stored step: 44 kB on disk, fits a 64 kB tmpfs."""
    report = copy.deepcopy(full)
    series = report["series"]
    series["stride"] *= 50
    for key, value in series.items():
        if isinstance(value, list):
            series[key] = value[::50]
        elif isinstance(value, dict):
            series[key] = {k: v[::50] for k, v in value.items()}
    return report


def _sums(directory: Path) -> dict[str, str]:
    """SHA-256 of every file in ``directory``, hidden ones (temporaries) included."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def _full_disk_on_third_write(monkeypatch) -> None:
    real, calls = files._write_all, []

    def write(path, data):
        calls.append(path)
        if len(calls) == 3:
            path.write_bytes(data[: len(data) // 2])  # half-written, then the disk is full
            raise OSError(errno.ENOSPC, "No space left on device", str(path))
        real(path, data)

    monkeypatch.setattr(files, "_write_all", write)


def test_a_full_disk_leaves_the_earlier_report_intact(small, full, tmp_path, monkeypatch):
    save_report(small, tmp_path)
    before = _sums(tmp_path)
    _full_disk_on_third_write(monkeypatch)
    with pytest.raises(InputError) as err:
        save_report(full, tmp_path)
    assert "no space left on the disk while writing" in str(err.value)
    assert "any earlier report there is unchanged" in str(err.value)
    assert _sums(tmp_path) == before, "the earlier report changed, or a temporary was left"


@pytest.fixture
def tiny_disk(tmp_path):
    """A real 64 kB tmpfs (needs root and mount; skipped where it cannot be made)."""
    mnt = tmp_path / "tiny"
    mnt.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mnt)],
        capture_output=True,
        text=True,
    )
    if done.returncode:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def test_a_real_full_disk_leaves_the_earlier_report_intact(small, full, tiny_disk, monkeypatch):
    out = tiny_disk / "rep"
    save_report(small, out)
    before = _sums(out)
    with pytest.raises(InputError, match=r"free on the disk that holds .* the report needs about"):
        save_report(full, out)  # refused before writing: the exact size is known
    assert _sums(out) == before
    usage = shutil.disk_usage(out)  # now hide the shortage: the kernel's ENOSPC must be handled
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=1 << 40))
    with pytest.raises(InputError, match="no space left on the disk while writing"):
        save_report(full, out)
    assert _sums(out) == before, "the earlier report changed, or a temporary was left"


def test_an_existing_report_is_replaced_only_with_force(small, full, tmp_path):
    save_report(small, tmp_path, force=False)  # an empty directory needs no force
    before = _sums(tmp_path)
    for call in (
        lambda: check_output_dir(tmp_path, force=False),
        lambda: save_report(full, tmp_path, force=False),
    ):
        with pytest.raises(
            InputError,
            match=r"already holds a gdcheck report .*use --force, or --out another directory",
        ):
            call()
    assert _sums(tmp_path) == before
    save_report(full, tmp_path, force=True)
    assert _sums(tmp_path) != before


@pytest.mark.parametrize("name", ["report.html", "report.json", "plot-loss.svg"])
@pytest.mark.parametrize("dangling", [False, True], ids=["to-a-file", "dangling"])
def test_never_writes_through_a_link_out_of_the_directory(small, tmp_path, name, dangling):
    out, victim = tmp_path / "rep", tmp_path / "victim.txt"
    out.mkdir()
    if not dangling:
        victim.write_text("precious\n")
    (out / name).symlink_to(victim)
    calls = [lambda: save_report(small, out)]
    if name != "report.json":  # render_files never writes the JSON
        calls.append(lambda: render_files(small, out))
    for call in calls:
        with pytest.raises(
            InputError, match=rf"{name} is a symbolic link to .*outside the report directory"
        ):
            call()
    assert victim.read_text() == "precious\n" if not dangling else not victim.exists()
    assert sorted(p.name for p in out.iterdir()) == [name]


def test_an_unwritable_directory_is_refused_before_the_run(tmp_path, monkeypatch):
    out = tmp_path / "ro"
    out.mkdir()
    out.chmod(0o500)
    if os.geteuid() == 0:  # root writes through chmod: inject the kernel's refusal
        real = files.tempfile.mkstemp

        def refuse(*args, dir=None, **kw):
            if dir is not None and Path(dir) == out:
                raise PermissionError(errno.EACCES, "Permission denied")
            return real(*args, dir=dir, **kw)

        monkeypatch.setattr(files.tempfile, "mkstemp", refuse)
    try:
        with pytest.raises(
            InputError, match=r"cannot write in .*ro \(Permission denied\); choose a writable --out"
        ):
            check_output_dir(out)
        with pytest.raises(InputError, match=r"ro \(where .*sub would be created\)"):
            check_output_dir(out / "sub")
    finally:
        out.chmod(0o700)


def test_too_little_free_space_is_refused_before_the_run(tmp_path, monkeypatch):
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=1000))
    with pytest.raises(
        InputError, match=r"only 1\.0 kB free .* needs about 1\.0 MB; free some space, or --out"
    ):
        check_output_dir(tmp_path)
    check_output_dir(tmp_path, needed=500)  # a small report fits


def test_a_saved_set_is_complete_with_plain_modes_and_no_temporaries(small, tmp_path):
    written = save_report(small, tmp_path / "new" / "rep")
    out = tmp_path / "new" / "rep"
    assert sorted(p.name for p in out.iterdir()) == sorted(p.name for p in written.values())
    assert load_report(out) == small
    mask = os.umask(0o022)
    os.umask(mask)
    modes = {p.name: p.stat().st_mode & 0o777 for p in out.iterdir()}
    assert set(modes.values()) == {0o666 & ~mask}, modes


def test_a_failing_screenshot_leaves_the_earlier_report_intact(small, full, tmp_path, monkeypatch):
    import gdcheck.report.browser as browser

    save_report(small, tmp_path)
    before = _sums(tmp_path)

    def crash(*_, **__):
        raise RuntimeError("Chromium crashed")

    monkeypatch.setattr(browser, "screenshot", crash)
    with pytest.raises(RuntimeError, match="Chromium crashed"):
        save_report(full, tmp_path, screenshot=True)
    assert _sums(tmp_path) == before
