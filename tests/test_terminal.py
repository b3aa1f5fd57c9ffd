"""Terminal output: rich tables, NO_COLOR and pipes, the progress bar and the engine's step reports."""

from __future__ import annotations

import io
import os
import selectors
import subprocess
import sys
import time

import pytest
from conftest import backend_param

import gdcheck
from gdcheck.report import terminal
from gdcheck.report.text import render_text

pty = pytest.importorskip("pty")

# A run of the NumPy reference alone that lasts well over the bar's one-second delay.
LONG_RUN = ["demo", "--no-save", "--backends", "numpy", "--steps", "150000"]
SHORT_RUN = ["demo", "--no-save", "--backends", "numpy", "--steps", "100"]


def _gdcheck(args: list[str], *, tty_out: bool, tty_err: bool, **env: str) -> tuple[str, str, int]:
    """Run ``gdcheck ARGS`` with stdout/stderr on a pseudo-terminal or a pipe; read both at once."""
    environ = {k: v for k, v in os.environ.items() if k not in ("NO_COLOR", "FORCE_COLOR")}
    environ.update(TERM="xterm-256color", COLUMNS="160", LINES="40", **env)
    masters, streams = {}, {}
    for name, tty in (("stdout", tty_out), ("stderr", tty_err)):
        if tty:
            masters[name], streams[name] = pty.openpty()
        else:
            streams[name] = subprocess.PIPE
    proc = subprocess.Popen(
        [sys.executable, "-m", "gdcheck", *args], stdin=subprocess.DEVNULL, env=environ, **streams
    )
    readers = {}
    for name in ("stdout", "stderr"):
        if name in masters:
            os.close(streams[name])
            readers[masters[name]] = name
        else:
            readers[getattr(proc, name).fileno()] = name
    chunks: dict[str, list[bytes]] = {"stdout": [], "stderr": []}
    with selectors.DefaultSelector() as sel:
        for fd, name in readers.items():
            sel.register(fd, selectors.EVENT_READ, name)
        while sel.get_map():
            ready = sel.select(timeout=120)
            if not ready:  # never hang the suite
                proc.kill()
                pytest.fail(f"gdcheck {' '.join(args)} produced nothing for 120 s")
            for key, _ in ready:
                try:
                    data = os.read(key.fd, 65536)
                except OSError:  # a closed pseudo-terminal reads as EIO
                    data = b""
                if data:
                    chunks[key.data].append(data)
                else:
                    sel.unregister(key.fd)
    for fd in masters.values():
        os.close(fd)
    for pipe in (proc.stdout, proc.stderr):
        if pipe is not None:
            pipe.close()
    code = proc.wait(timeout=120)
    out, err = (b"".join(chunks[n]).decode("utf-8", "replace") for n in ("stdout", "stderr"))
    return out, err, code


def test_results_print_as_rich_tables(tutorial64):
    out = io.StringIO()
    terminal.print_report(tutorial64.to_dict(), file=out)
    printed = out.getvalue()
    assert "Each backend against the handwritten reference" in printed
    assert "───" in printed and "numpy (reference)" in printed and "PASS" in printed
    assert "\x1b" not in printed  # a StringIO is not a terminal: no colour
    for line in printed.splitlines():  # piped tables are not folded to 80 columns
        assert line == line.rstrip()
    assert any(len(line) > 100 for line in printed.splitlines())


def test_without_rich_the_plain_text_tables_print(tutorial64, monkeypatch):
    monkeypatch.setitem(sys.modules, "rich", None)  # as if rich were not installed
    out = io.StringIO()
    terminal.print_report(tutorial64.to_dict(), file=out)
    assert out.getvalue() == render_text(tutorial64.to_dict()) + "\n"
    assert not terminal.progress_enabled()


def test_colour_on_a_terminal_and_none_with_no_color():
    out, _, code = _gdcheck(SHORT_RUN, tty_out=True, tty_err=False)
    # numpy alone compares nothing: exit 3 (NOT CHECKED), the verdict in its colour
    assert code == 3 and "\x1b[" in out  # the control: a terminal gets colour
    out, _, code = _gdcheck(SHORT_RUN, tty_out=True, tty_err=False, NO_COLOR="1")
    assert code == 3 and "NOT CHECKED" in out
    assert "\x1b" not in out


def test_piped_output_has_no_progress_bar_and_no_escapes():
    out, err, code = _gdcheck(LONG_RUN, tty_out=False, tty_err=False)
    assert code == 3 and "NOT CHECKED" in out
    assert "steps/s" not in out + err and "\x1b" not in out + err


def test_a_long_run_on_a_terminal_shows_the_bar_and_quiet_hides_it():
    _, err, code = _gdcheck(LONG_RUN, tty_out=True, tty_err=True)
    assert code == 3  # numpy alone: NOT CHECKED
    assert "steps/s" in err and "reference trajectory · numpy" in err
    out, err, code = _gdcheck([*LONG_RUN, "--quiet"], tty_out=True, tty_err=True)
    assert code == 3 and "steps/s" not in out + err


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_names_the_check_and_counts_steps_per_second():
    screen = _Terminal()
    bar = terminal.StepProgress(file=screen, delay=0.0)
    bar("shadow check", "torch")
    for done in range(0, 1001, 100):
        bar.advance(done, 1000)
        time.sleep(0.06)
    bar.close()
    drawn = screen.getvalue()
    assert bar.shown
    assert "shadow check · torch" in drawn and "steps/s" in drawn and "1000/1000" in drawn


def test_the_bar_waits_for_a_slow_run():
    bar = terminal.StepProgress(file=_Terminal(), delay=60.0)
    bar("reference trajectory", "numpy")
    bar.advance(10, 10)
    bar.close()
    assert not bar.shown


def test_progress_is_off_unless_both_streams_are_terminals(monkeypatch):
    monkeypatch.delenv("TERM", raising=False)
    monkeypatch.setattr(sys, "stdout", _Terminal())
    monkeypatch.setattr(sys, "stderr", _Terminal())
    assert terminal.progress_enabled()
    assert not terminal.progress_enabled(quiet=True)
    monkeypatch.setattr(sys, "stdout", io.StringIO())
    assert not terminal.progress_enabled()


class _Recorder:
    """A ``progress`` for :func:`gdcheck.crosscheck` that keeps every call."""

    def __init__(self) -> None:
        self.stages: list[tuple[str, str]] = []
        self.steps: dict[tuple[str, str], list[tuple[int, int]]] = {}

    def __call__(self, stage: str, backend: str) -> None:
        self.stages.append((stage, backend))
        self.steps[(stage, backend)] = []

    def advance(self, done: int, total: int) -> None:
        self.steps[self.stages[-1]].append((done, total))


@pytest.mark.parametrize("backend", [backend_param(n) for n in ("jax", "torch")])
def test_the_engine_reports_every_stage_and_its_steps(backend):
    X, y = gdcheck.data.tutorial(seed=0)
    seen = _Recorder()
    gdcheck.crosscheck(
        gdcheck.models.linear_regression(),
        X,
        y,
        steps=50,
        backends=("numpy", backend),
        progress=seen,
    )
    assert seen.stages == [
        ("reference trajectory", "numpy"),
        ("shadow check", backend),  # first: the floor takes its unperturbed rows from it
        ("rounding floor", backend),  # measured with the first autodiff backend
        ("Hessian and optimum", "numpy"),  # the model has both: their own stage
        ("update check", backend),
        ("independent trajectory", backend),
    ]
    for stage, reports in seen.steps.items():
        assert reports and reports[-1][0] == reports[-1][1] > 0, stage  # every stage ends complete
    assert [d for d, _ in seen.steps[("reference trajectory", "numpy")]] == list(range(1, 52))
    own = seen.steps[("independent trajectory", backend)]
    # PyTorch's loop reports each step; JAX's compiled lax.scan reports once, at the end
    assert len(own) == (1 if backend == "jax" else 51)


def test_a_plain_callable_progress_still_works():
    X, y = gdcheck.data.tutorial(seed=0)
    stages: list[str] = []
    gdcheck.crosscheck(
        gdcheck.models.linear_regression(),
        X,
        y,
        steps=5,
        backends=("numpy",),
        progress=lambda stage, backend: stages.append(stage),
    )
    # the floor from numpy alone, then the model's Hessian and optimum
    assert stages == ["reference trajectory", "rounding floor", "Hessian and optimum"]


def test_explain_and_help_load_no_rich_jax_or_torch_at_import():
    probe = (
        "import sys, gdcheck, gdcheck.cli, gdcheck.report.terminal, gdcheck.explain, "
        "gdcheck.explain._html, gdcheck.cli.explain\n"
        "help = gdcheck.cli.build_parser().format_help()\n"
        "assert 'explain' in help, help\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules} & {'rich', 'jax', 'torch'})))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert out.stdout.split() == []
