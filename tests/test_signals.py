"""SIGINT and SIGTERM during ``gdcheck demo``: exit 130/143, one line, no half-written report.

A first, short demo writes a complete report; a second, long one into the same directory is
interrupted after a few seconds. The directory must then hold the earlier report, byte for byte.
"""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

SIGNALS = [(signal.SIGINT, 130, "interrupted"), (signal.SIGTERM, 143, "terminated")]
WAIT = 4.0
"""Seconds the long demo runs before the signal: well past the start-up of main() and its
handlers even on a loaded 2-core machine (the 20,000-step run itself takes far longer)."""


def _checksums(directory: Path) -> dict[str, str]:
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(directory.iterdir())
        if p.is_file()
    }


RUN = (
    "import runpy, signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
    "sys.argv[0] = 'gdcheck'; runpy.run_module('gdcheck', run_name='__main__')"
)
"""``python -m gdcheck`` with Ctrl-C's default handler: a shell's background jobs (and so,
perhaps, this test run) ignore SIGINT, and a Python started so never installs it. (Not
``preexec_fn``: a fork of a process that has loaded JAX warns.)"""


def _gdcheck(*argv: str) -> list[str]:
    return [sys.executable, "-c", RUN, *argv]


@pytest.fixture(scope="module")
def earlier(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("earlier") / "report"
    done = subprocess.run(
        _gdcheck("demo", "--steps", "20", "--out", str(out), "-q"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return out


@pytest.mark.parametrize(("sig", "code", "word"), SIGNALS, ids=["SIGINT", "SIGTERM"])
def test_a_signal_stops_the_demo_with_one_line_and_keeps_the_earlier_report(
    sig, code, word, earlier, tmp_path
):
    out = tmp_path / "report"
    out.mkdir()
    for p in earlier.iterdir():
        (out / p.name).write_bytes(p.read_bytes())
    before = _checksums(out)
    assert "report.json" in before
    proc = subprocess.Popen(
        _gdcheck("demo", "--steps", "20000", "--out", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    time.sleep(WAIT)
    os.kill(proc.pid, sig)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gdcheck: error:") and word in lines[0], stderr
    assert "Traceback" not in stderr
    assert _checksums(out) == before, "the earlier report changed"
    print(f"{sig.name}: report.json sha256 {before['report.json']} before and after")


@pytest.mark.parametrize("code", [130, 143])
def test_after_a_signal_the_command_skips_the_interpreters_teardown(code, monkeypatch, capsys):
    # JAX's or torch's threads, stopped mid-computation, can crash the teardown (a SIGTERM'd
    # demo printed its line and exited -11 once in CI): entry() ends with os._exit(code)
    from gdcheck.cli import _main

    monkeypatch.setattr(_main, "main", lambda: (print("gdcheck: error: stopped"), code)[1])
    ended = []

    def fake_exit(c):
        ended.append(c)
        raise SystemExit("teardown skipped")

    monkeypatch.setattr(_main.os, "_exit", fake_exit)
    with pytest.raises(SystemExit, match="teardown skipped"):
        _main.entry()
    assert ended == [code] and "stopped" in capsys.readouterr().out


def test_a_normal_exit_keeps_the_interpreters_teardown(monkeypatch):
    from gdcheck.cli import _main

    monkeypatch.setattr(_main, "main", lambda: 1)
    monkeypatch.setattr(_main.os, "_exit", lambda c: pytest.fail("os._exit on a normal exit"))
    with pytest.raises(SystemExit) as exc:
        _main.entry()
    assert exc.value.code == 1
