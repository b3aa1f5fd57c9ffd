"""``gdcheck report PATH``: re-render from report.json alone; exit 0/1 by the saved verdict, 2 on
bad input with one line and no traceback."""

from __future__ import annotations

import dataclasses
import json
import shutil

import pytest

import gdcheck
from gdcheck.cli import main
from gdcheck.models import _linear
from gdcheck.report import SCHEMA_VERSION

DERIVED = ("report.md", "report.html", "plot-gradient-error.svg", "plot-drift.svg", "plot-loss.svg")


SIGNED = dataclasses.replace(
    gdcheck.models.linear_regression(), grad=lambda w, X, y: -_linear.gradient(w, X, y)
)
"""A wrong sign in the gradient: a failing report."""


def _save(directory, model=None, **kw):
    X, y = gdcheck.data.tutorial(seed=0)
    run = gdcheck.crosscheck(model or gdcheck.models.linear_regression(), X, y, **kw)
    run.save(directory)
    return directory


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    return _save(tmp_path_factory.mktemp("pass"), steps=100, backends=("numpy", "torch"))


@pytest.fixture
def copy(saved, tmp_path):
    """A private copy of the saved report directory."""
    return shutil.copytree(saved, tmp_path / "rep")


def _one_line_error(capsys, *fragments: str) -> None:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdcheck: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], err


def test_rerenders_every_format_from_the_json_alone(copy, capsys):
    for name in DERIVED:
        (copy / name).unlink()
    assert main(["report", str(copy)]) == 0
    out = capsys.readouterr().out
    assert "PASS" in out and "backend" in out, "the text summary is not printed"
    for name in DERIVED:
        assert (copy / name).exists(), f"{name} not re-rendered"


def test_accepts_the_json_path_and_keeps_its_content(copy):
    before = (copy / "report.json").read_bytes()
    html_before = (copy / "report.html").read_text()
    (copy / "report.html").unlink()
    assert main(["report", str(copy / "report.json"), "--quiet"]) == 0
    assert (copy / "report.json").read_bytes() == before, "report.json must never be rewritten"
    assert (copy / "report.html").read_text() == html_before, "rendering is not deterministic"


def test_a_failing_report_exits_1(tmp_path, capsys):
    _save(tmp_path, SIGNED, steps=20, backends=("numpy", "torch"))
    assert main(["report", str(tmp_path)]) == 1
    assert "FAIL" in capsys.readouterr().out


def test_a_report_of_another_schema_is_refused_naming_both_versions(copy, capsys):
    data = json.loads((copy / "report.json").read_text())
    data["schema_version"] = 99
    (copy / "report.json").write_text(json.dumps(data))
    (copy / "report.html").unlink()
    assert main(["report", str(copy)]) == 2
    _one_line_error(capsys, "schema_version 99", f"schema version(s) {SCHEMA_VERSION}")
    assert not (copy / "report.html").exists(), "rendered a report it refused"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("not json {", "is not valid JSON"),
        ('{"hello": 1}', "is not a gdcheck report"),
        ('{"schema_version": 2, "config": {}}', "is missing"),
    ],
)
def test_bad_files_exit_2_with_one_line(tmp_path, capsys, content, fragment):
    (tmp_path / "report.json").write_text(content)
    assert main(["report", str(tmp_path / "report.json")]) == 2
    _one_line_error(capsys, fragment)


def test_a_missing_path_exits_2(tmp_path, capsys):
    assert main(["report", str(tmp_path / "nowhere")]) == 2
    _one_line_error(capsys, "no report at")


@pytest.mark.parametrize(
    "damage",
    [
        lambda r: r.update(backends=["numpy"]),
        lambda r: r["verdict"].pop("passed"),
        lambda r: r["series"].pop("steps"),
    ],
    ids=["backends-a-list", "no-passed", "no-steps"],
)
def test_a_damaged_report_exits_2_without_a_traceback(copy, capsys, damage):
    data = json.loads((copy / "report.json").read_text())
    damage(data)
    (copy / "report.json").write_text(json.dumps(data))
    assert main(["report", str(copy)]) == 2
    _one_line_error(capsys, "report.json")


@pytest.mark.parametrize("name", ["report.html", "report.md", "plot-drift.svg"])
def test_never_overwrites_a_file_gdcheck_did_not_write(copy, capsys, name):
    (copy / name).write_text("my notes\n")
    assert main(["report", str(copy)]) == 2
    _one_line_error(capsys, name, "refusing to overwrite")
    assert (copy / name).read_text() == "my notes\n"


def test_a_foreign_png_blocks_a_screenshot_before_chromium_runs(copy, capsys):
    (copy / "report.png").write_bytes(b"\x89PNG\r\n\x1a\nsomeone else's")
    assert main(["report", str(copy), "--screenshot"]) == 2
    _one_line_error(capsys, "report.png", "refusing to overwrite")


def test_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "report" in capsys.readouterr().out
