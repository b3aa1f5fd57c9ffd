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
