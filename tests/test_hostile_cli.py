"""A hostile world at the command line: every option of every subcommand given something bad.

Each case ends in exit 2 with one ``gdcheck: error:`` line naming what was wrong, never a
traceback; ``gdcheck check`` files that hang, exit or kill themselves are stopped and reported,
never passed; a fuzz of the parser and of the report loader only ever returns 0/1/2 or raises
:class:`~gdcheck.errors.InputError`.
"""

from __future__ import annotations

import errno
import json
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gdcheck.cli import main
from gdcheck.errors import InputError
from gdcheck.report import files as report_files
from gdcheck.report.schema import load_report, parse_report

EXAMPLE = (
    Path(__file__).resolve().parents[1] / "gdcheck" / "examples" / "linear_regression_check.py"
)
LOGISTIC = EXAMPLE.with_name("logistic_check.py")

# Placeholders: {ok} the example file, {dir} a directory, {fifo} a FIFO, {missing} no such path,
# {file} a regular non-.py file, {report} a saved report's directory, {ro} a directory whose
# writes fail (fault-injected: the tests run as root, so a chmod would not stop them).
# (id, argv, fragment of the one error line)
CASES = [
    # --- gdcheck (no command) / unknown command
    ("unknown_command", ["frobnicate"], "invalid choice: 'frobnicate'"),
    ("unknown_option", ["demo", "--frobnicate"], "unrecognized arguments: --frobnicate"),
    # --- demo: every option
    ("demo_model_unknown", ["demo", "--model", "lasso"], "argument --model: invalid choice"),
    ("demo_lr_text", ["demo", "--lr", "fast"], "--lr"),
    ("demo_lr_zero", ["demo", "--lr", "0"], "must be a finite number > 0"),
    ("demo_lr_nan", ["demo", "--lr", "nan"], "must be a finite number > 0"),
    ("demo_lr_inf", ["demo", "--lr", "inf"], "must be a finite number > 0"),
    ("demo_steps_float", ["demo", "--steps", "1e12"], "argument --steps: invalid int value"),
    ("demo_steps_huge", ["demo", "--steps", "1000000000000"], "of memory: the trajectory"),
    ("demo_steps_negative", ["demo", "--steps", "-3"], "steps must be >= 0, got -3"),
    ("demo_optimizer", ["demo", "--optimizer", "lbfgs"], "argument --optimizer: invalid choice"),
    ("demo_dtype", ["demo", "--dtype", "float16"], "argument --dtype: invalid choice"),
    ("demo_backends_unknown", ["demo", "--backends", "tensorflow"], "unknown backend"),
    ("demo_backends_empty", ["demo", "--backends", ","], "backends is empty"),
    ("demo_seed_negative", ["demo", "--seed", "-1"], "seed must be a non-negative integer"),
    ("demo_seed_text", ["demo", "--seed", "x"], "argument --seed: invalid int value"),
    ("demo_out_is_file", ["demo", "--out", "{file}"], "is a file, so it cannot be a report"),
    ("demo_out_under_file", ["demo", "--out", "{file}/sub"], "is a file, so"),
    ("demo_out_unwritable", ["demo", "--out", "{ro}"], "cannot write in"),
    ("demo_out_fifo", ["demo", "--out", "{fifo}"], "is a file, so it cannot be a report"),
    ("demo_screenshot_foreign", ["demo", "--out", "{foreign}", "--screenshot"], "refusing"),
    ("demo_standardize_value", ["demo", "--standardize=yes"], "ignored explicit argument"),
    ("demo_require_converged_value", ["demo", "--require-converged=1"], "ignored explicit"),
    ("demo_quiet_value", ["demo", "--quiet=1"], "ignored explicit argument"),
    ("demo_no_save_value", ["demo", "--no-save=1"], "ignored explicit argument"),
    # --- run: every option
    ("run_no_data", ["run"], "one of the arguments --data --dataset is required"),
    ("run_data_and_dataset", ["run", "--data", "{ok}", "--dataset", "iris"], "not allowed with"),
    ("run_data_missing", ["run", "--data", "{missing}", "--target", "y"], "does not exist"),
    ("run_data_dir", ["run", "--data", "{dir}", "--target", "y"], "directory"),
    ("run_data_fifo", ["run", "--data", "{fifo}", "--target", "y"], "is a named pipe"),
    ("run_data_not_csv", ["run", "--data", "{file}", "--target", "y"], "{file}"),
    ("run_dataset_unknown", ["run", "--dataset", "mnist"], "argument --dataset: invalid choice"),
    ("run_target_unknown", ["run", "--data", "{csv}", "--target", "nope"], "nope"),
    ("run_model_unknown", ["run", "--dataset", "iris", "--model", "svm"], "invalid choice"),
    ("run_lr_negative", ["run", "--dataset", "diabetes", "--lr", "-1"], "must be a finite"),
    ("run_steps_text", ["run", "--dataset", "diabetes", "--steps", "ten"], "invalid int value"),
    ("run_optimizer", ["run", "--dataset", "iris", "--optimizer", "sgdx"], "invalid choice"),
    ("run_dtype", ["run", "--dataset", "iris", "--dtype", "int8"], "invalid choice"),
    ("run_backends", ["run", "--dataset", "diabetes", "--backends", "mxnet"], "unknown backend"),
    ("run_out_unwritable", ["run", "--dataset", "diabetes", "--out", "{ro}"], "cannot write in"),
    ("run_standardize_twice", ["run", "--dataset", "iris", "--standardize=no"], "ignored"),
    # --- check: every option
    ("check_no_file", ["check"], "the following arguments are required: file"),
    ("check_missing", ["check", "{missing}"], "does not exist"),
    ("check_not_py", ["check", "{file}"], "is not a .py file"),
    ("check_dir", ["check", "{dir}.py"], "is a directory"),
    ("check_fifo", ["check", "{fifo}.py"], "not a regular file (a FIFO"),
    ("check_dtype", ["check", "{ok}", "--dtype", "float8"], "argument --dtype: invalid choice"),
    ("check_backends", ["check", "{ok}", "--backends", "nope"], "unknown autodiff backend"),
    ("check_witnesses", ["check", "{ok}", "--witnesses", "all"], "--witnesses: invalid choice"),
    ("check_seed_negative", ["check", "{ok}", "--seed", "-5"], "seed must be a non-negative"),
    ("check_steps_negative", ["check", "{ok}", "--steps", "-1"], "--steps must be >= 0"),
    ("check_steps_without_init", ["check", "{ok}", "--steps", "5"], "which the file does not"),
    ("check_lr_zero", ["check", "{ok}", "--lr", "0"], "--lr must be a finite number > 0"),
    ("check_lr_text", ["check", "{ok}", "--lr", "x"], "argument --lr: invalid float value"),
    (
        "check_out_under_file",
        ["check", "{logistic}", "--steps", "2", "--out", "{file}/r"],
        "is a file",
    ),
    ("check_timeout_zero", ["check", "{ok}", "--timeout", "0"], "must be a finite number of"),
    ("check_timeout_nan", ["check", "{ok}", "--timeout", "nan"], "must be a finite number of"),
    ("check_timeout_text", ["check", "{ok}", "--timeout", "soon"], "is not a number of seconds"),
    ("check_quiet_value", ["check", "{ok}", "-q=1"], "ignored explicit argument"),
    # --- report: every option
    ("report_no_path", ["report"], "the following arguments are required: path"),
    ("report_missing", ["report", "{missing}"], "no report at"),
    ("report_empty_dir", ["report", "{dir}"], "no report at"),
    ("report_fifo", ["report", "{fifo}"], "not a regular file (a FIFO"),
    ("report_not_json", ["report", "{file}"], "is not valid JSON"),
    ("report_truncated", ["report", "{truncated}"], "is not valid JSON"),
    ("report_nested", ["report", "{nested}"], "nested more than"),
    ("report_binary", ["report", "{binary}"], "is not UTF-8 text"),
    ("report_huge", ["report", "{huge}"], "more than a gdcheck report can be"),
    ("report_wrong_section", ["report", "{listconfig}"], "config must be JSON object"),
    ("report_screenshot_foreign", ["report", "{foreign}", "--screenshot"], "refusing to overwrite"),
    ("report_quiet_value", ["report", "{report}", "--quiet=yes"], "ignored explicit argument"),
    # --- explain: every option
    ("explain_model", ["explain", "--model", "logistic"], "unknown model 'logistic'"),
    ("explain_seed", ["explain", "--seed", "-2"], "seed must be a non-negative integer"),
    ("explain_html_under_file", ["explain", "--html", "{file}/x.html"], "{file}"),
    ("explain_quiet_value", ["explain", "--quiet=1"], "ignored explicit argument"),
]

HANGING = [  # (id, file body, fragment) — with --timeout 3
    ("module_body_hangs", "while True:\n    pass\n", "did not finish within the time limit"),
    (
        "loss_sleeps",
        "import time, numpy as np\nfrom gdcheck.examples.losses import mse_loss\n"
        "def loss(w, X, y):\n    time.sleep(60)\n    return mse_loss(w, X, y)\n"
        "def grad(w, X, y):\n    return 2 * X @ (w.T @ X - y).T / X.shape[1]\n"
        "X = np.ones((2, 4)); y = np.ones((1, 4)); params = np.zeros((2, 1)); data = (X, y)\n",
        "--timeout 3 s",
    ),
    ("os_exit_0", "import os\nos._exit(0)\n", "ended the process (exit code 0) before the check"),
    ("sys_exit_0", "import sys\nsys.exit(0)\n", "ended the process (exit code 0) before the check"),
    (
        "grad_exits",
        "import os, numpy as np\nfrom gdcheck.examples.losses import mse_loss as loss\n"
        "def grad(w, X, y):\n    os._exit(0)\n"
        "X = np.ones((2, 4)); y = np.ones((1, 4)); params = np.zeros((2, 1)); data = (X, y)\n",
        "ended the process (exit code 0) before the check finished: nothing was checked",
    ),
    ("sigkill", "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n", "killed by SIGKILL"),
    ("segfault", "import ctypes\nctypes.string_at(0)\n", "killed by SIGSEGV"),
    ("recursion", "def f():\n    return f()\nf()\n", "RecursionError"),
]

FUZZ_EXAMPLES = 60
"""Hypothesis examples for the parser fuzz (each a main() call that fails fast)."""
LOAD_EXAMPLES = 200
"""Hypothesis examples for the report loader fuzz."""


def _report_dict() -> dict:
    return {
        "schema_version": 2,
        "tool": {"name": "gdcheck", "version": "0"},
        "config": {"model": "m", "lr": 0.1, "steps": 1, "dtype": "float64", "backends": []},
        "verdict": {"passed": True, "text": "PASS", "findings": []},
        "backends": {},
        "series": {"stride": 1, "steps": [0]},
    }


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    (tmp_path / "d").mkdir()
    (tmp_path / "d.py").mkdir()
    (tmp_path / "empty").mkdir()
    os.mkfifo(tmp_path / "pipe")
    os.mkfifo(tmp_path / "pipe.py")
    (tmp_path / "notes.txt").write_text("not a report, not python\n")
    (tmp_path / "t.csv").write_text("a,y\n1,2\n3,4\n5,7\n")
    (tmp_path / "truncated.json").write_text(json.dumps(_report_dict())[:-7])
    (tmp_path / "nested.json").write_text("[" * 100_000 + "]" * 100_000)
    (tmp_path / "binary.json").write_bytes(b'{"schema_version": "\xff\xfe"}')
    listconfig = {**_report_dict(), "config": [1, 2]}
    (tmp_path / "listconfig.json").write_text(json.dumps(listconfig))
    huge = tmp_path / "huge.json"  # "huge" against a limit lowered to 300 kB
    monkeypatch.setattr("gdcheck.report.schema.MAX_REPORT_BYTES", 300_000)
    huge.write_text(" " * 400_000 + "{}")
    good = tmp_path / "good"
    good.mkdir()
    (good / "report.json").write_text(json.dumps(_report_dict()))
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "report.json").write_text(json.dumps(_report_dict()))
    (foreign / "report.png").write_bytes(b"\x89PNG\r\n\x1a\nnot ours")
    ro = tmp_path / "ro"
    ro.mkdir()
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*args: object, **kwargs: object) -> tuple[int, str]:
        if str(kwargs.get("dir", "")).startswith(str(ro)):
            raise PermissionError(errno.EACCES, "Permission denied")
        return real_mkstemp(*args, **kwargs)

    monkeypatch.setattr(report_files.tempfile, "mkstemp", mkstemp)
    return {
        "ok": str(EXAMPLE),
        "logistic": str(LOGISTIC),
        "dir": str(tmp_path / "d"),
        "fifo": str(tmp_path / "pipe"),
        "missing": str(tmp_path / "absent.py"),
        "file": str(tmp_path / "notes.txt"),
        "csv": str(tmp_path / "t.csv"),
        "truncated": str(tmp_path / "truncated.json"),
        "nested": str(tmp_path / "nested.json"),
        "binary": str(tmp_path / "binary.json"),
        "huge": str(huge),
        "listconfig": str(tmp_path / "listconfig.json"),
        "report": str(good),
        "foreign": str(foreign),
        "ro": str(ro),
    }


def _fill(argv: list[str], places: dict[str, str]) -> list[str]:
    out = []
    for arg in argv:
        for key, value in places.items():
            arg = arg.replace("{" + key + "}", value)
        out.append(arg)
    return out


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.startswith("gdcheck: error:")]
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(("argv", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_hostile_option_exits_2_with_one_line(argv, fragment, places, capsys):
    argv = _fill(argv, places)
    if argv[0] in ("demo", "run") and "--out" not in argv and "--steps" not in argv:
        argv = [*argv, "--no-save", "--steps", "1"]
    code = main(argv)
    line = _one_error_line(capsys)
    assert code == 2, line
    assert _fill([fragment], places)[0] in line


@pytest.mark.parametrize(
    ("source", "fragment"), [c[1:] for c in HANGING], ids=[c[0] for c in HANGING]
)
def test_a_file_that_hangs_exits_or_dies_is_stopped_and_never_passes(
    source, fragment, tmp_path, capsys
):
    f = tmp_path / "hostile.py"
    f.write_text(source)
    hangs = "time limit" in fragment or "--timeout" in fragment
    # a hanging file gets 3 s; one that ends itself is given time to import jax and torch first
    assert main(["check", str(f), "--timeout", "3" if hangs else "60"]) == 2
    line = _one_error_line(capsys)
    assert fragment in line and str(f) in line
    if hangs:
        assert "--timeout SECONDS" in line  # how to raise it


def test_the_child_prints_exactly_what_the_check_prints(capsys):
    import argparse

    from gdcheck.cli import check

    assert main(["check", str(EXAMPLE), "--seed", "3"]) == 0
    through_child = capsys.readouterr().out
    args = argparse.Namespace(
        file=str(EXAMPLE),
        backends=None,
        dtype=None,
        witnesses="auto",
        seed=3,
        steps=None,
        lr=None,
        out=None,
        quiet=False,
        timeout=120.0,
    )
    assert check.run_here(args) == 0
    assert capsys.readouterr().out == through_child
    assert "gradient check PASSED" in through_child


def test_timeout_help_names_the_default(capsys):
    with pytest.raises(SystemExit):
        main(["check", "--help"])
    assert "(default 120)" in " ".join(capsys.readouterr().out.split())


OPTION_ALPHABET = [
    "demo",
    "run",
    "check",
    "report",
    "explain",
    "--lr",
    "--steps",
    "--seed",
    "--model",
    "--dtype",
    "--backends",
    "--out",
    "--timeout",
    "--optimizer",
    "--data",
    "--dataset",
    "--target",
    "--witnesses",
    "--html",
    "-q",
    "--no-save",
    "-1",
    "0",
    "nan",
    "1e12",
    "x",
    "float32",
    "numpy,jax",
    ",",
    "mlp",
    "/nonexistent",
    "",
    "--",
    "=",
]


@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(st.sampled_from(OPTION_ALPHABET), max_size=6))
def test_fuzzed_argv_only_ever_exits_0_1_or_2(argv):
    argv = list(argv)
    if argv and argv[0] in ("demo", "run", "explain", "check"):
        # make the run itself impossible, so each example fails (or succeeds) fast
        argv += ["--steps", "-1"] if argv[0] != "explain" else ["--seed", "-1"]
        if argv[0] == "check":
            argv += ["--timeout", "5"]
    code = main(argv)
    assert code in (0, 1, 2)


JSONISH = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(max_size=5),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@settings(max_examples=LOAD_EXAMPLES, deadline=None)
@given(
    st.one_of(
        st.text(alphabet='{}[]":,0123456789.eE-+ truefalsnNaIiy\\', max_size=80),
        JSONISH.map(lambda v: json.dumps(v)),
        JSONISH.map(lambda v: json.dumps({**_report_dict(), "series": v})),
    )
)
def test_fuzzed_report_text_loads_or_is_refused_with_input_error(text):
    try:
        report = parse_report(text, "fuzz.json")
    except InputError as exc:
        assert str(exc).startswith("gdcheck: fuzz.json")
    else:
        assert isinstance(report["config"], dict)


@pytest.fixture(scope="module")
def small_report() -> dict:
    import gdcheck

    X, y = gdcheck.data.tutorial(seed=0, m=20)
    run = gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, lr=0.01, steps=3)
    return run.to_dict()


SENTINEL = 123456.789
"""Written by save_report, then replaced by the extreme literal in the JSON text."""
EXTREMES = [  # (the literal written into report.json, whether the plots draw it as saved)
    ("1e308", True),
    ("1.7e308", True),  # the log axis clamps its decades to [-300, 308]
    ("-1e308", True),
    ("Infinity", True),  # read as null, as gdcheck writes non-finite values
    ("-Infinity", True),
    ("NaN", True),
    ("5e-324", True),  # a subnormal sits at the axis' bottom (decade -300)
    ("1e400", True),  # too large for a float: read as null
]


@pytest.mark.parametrize(("value", "drawn"), EXTREMES, ids=[e[0] for e in EXTREMES])
@pytest.mark.parametrize("where", ["loss", "tolerance"])
def test_extreme_numbers_render_and_say_when_a_plot_cannot(
    value, drawn, where, small_report, tmp_path, capsys
):
    from gdcheck.report.files import save_report

    report = json.loads(json.dumps(small_report))
    if where == "loss":
        report["series"]["jax"]["loss"][-1] = SENTINEL
    else:
        report["backends"]["jax"]["tolerance"]["gradient"] = SENTINEL
    save_report(report, tmp_path)
    text = (tmp_path / "report.json").read_text().replace(repr(SENTINEL), value)
    (tmp_path / "report.json").write_text(text)
    code = main(["report", str(tmp_path), "-q"])
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert code == 0, err
    if where == "loss":  # a tolerance may not set the axis (another backend's can)
        assert ("could not draw the plots" in err) is (not drawn), err
    for name in ("report.html", "report.md", "plot-loss.svg"):
        assert (tmp_path / name).stat().st_size > 0


def test_timings_go_to_timings_json_and_come_back_on_load(small_report, tmp_path):
    from gdcheck.report.files import save_report

    save_report(small_report, tmp_path)
    saved = json.loads((tmp_path / "report.json").read_text())
    assert "created" not in saved and "seconds" not in saved
    assert all("seconds" not in b["trajectory"] for b in saved["backends"].values())
    timings = json.loads((tmp_path / "timings.json").read_text())
    assert timings["created"] == small_report["created"]
    assert timings["seconds"] == small_report["seconds"]
    loaded = load_report(tmp_path)
    assert loaded["seconds"] == small_report["seconds"]
    for name, b in small_report["backends"].items():
        assert loaded["backends"][name]["shadow"]["seconds"] == b["shadow"]["seconds"]
    assert small_report["created"] not in (tmp_path / "report.html").read_text()


def test_explain_html_to_a_fifo_is_refused_not_a_hang(tmp_path, capsys):
    fifo = tmp_path / "page.html"
    os.mkfifo(fifo)
    assert main(["explain", "--html", str(fifo), "-q"]) == 2
    err = capsys.readouterr().err
    assert "is not a regular file (a pipe, a device or a socket)" in err
    assert "Traceback" not in err


def test_markup_in_a_csv_header_does_not_reach_report_md_raw(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    rows = "\n".join(f"{i / 50:.3f},{3 * i / 50 + 5:.3f}" for i in range(50))
    (tmp_path / "evil.csv").write_text("<img src=x onerror=alert(1)>,[y](http://e)\n" + rows + "\n")
    code = main(
        [
            "run",
            "--data",
            "evil.csv",
            "--target",
            "[y](http://e)",
            "--steps",
            "5",
            "--out",
            "R",
            "-q",
        ]
    )
    assert code in (0, 3), capsys.readouterr().err
    md = (tmp_path / "R" / "report.md").read_text()
    assert "<img" not in md and "&lt;img src=x onerror=alert(1)&gt;" in md
    assert "[y](http://e)" not in md and "\\[y\\](http://e)" in md
