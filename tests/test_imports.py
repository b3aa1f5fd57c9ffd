"""``import gdcheck`` and ``gdcheck --help`` stay light: neither JAX nor PyTorch is loaded."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("jax", "torch", "optax")


def _loaded_after(code: str) -> set[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in {HEAVY!r})))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_import_gdcheck_loads_neither_jax_nor_torch():
    assert _loaded_after("import gdcheck") == set()


def test_cli_help_loads_neither_jax_nor_torch():
    code = "import gdcheck.cli\ngdcheck.cli.build_parser().format_help()"
    assert _loaded_after(code) == set()


def test_console_script_runs_and_exits_2_without_a_command():
    out = subprocess.run([sys.executable, "-m", "gdcheck"], capture_output=True, text=True)
    assert out.returncode == 2
    assert "demo" in out.stdout and "Exit codes" in out.stdout


def test_every_benchmark_script_imports():
    """The benchmarks are not run by the suite, but they import gdcheck's internals: a module
    moved inside gdcheck must not leave one of them broken (cli/_options.py once did)."""
    from pathlib import Path

    here = Path(__file__).resolve().parent.parent / "benchmarks"
    scripts = sorted(p.stem for p in here.glob("*.py"))
    assert "run" in scripts and "series_figures" in scripts
    code = (
        f"import importlib, sys\nsys.path.insert(0, {str(here)!r})\n"
        f"for name in {scripts!r}:\n    importlib.import_module(name)\nprint('imported')"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0 and "imported" in out.stdout, out.stderr[-2000:]
