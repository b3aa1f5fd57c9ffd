"""The pytest plugin's cost to a test session that does not use it: start-up with and without it.

Run: ``python benchmarks/plugin_overhead.py [--repeat 30]``. In a temporary directory with one
trivial test (and an empty ``pytest.ini``, so no project configuration interferes), it times
``python -m pytest -q`` end to end, with the plugin (installed: loaded through its ``pytest11``
entry point) and without it (``-p no:gdcheck``: pytest then never imports it), alternating
the two so that drift on a shared machine hits both alike. Prints medians and their
difference; the target is under 50 ms. It also reports what the plugin's presence imported
(none of NumPy, gdcheck, JAX or PyTorch, by design).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

TEST = """
def test_plain():
    assert 1 + 1 == 2
"""
PROBE = """
import sys

def test_probe(request):
    heavy = [m for m in ("numpy", "jax", "torch") if m in sys.modules]  # gdcheck itself is light
    print("PROBE", request.config.pluginmanager.has_plugin("gdcheck"), heavy)
"""


def session(directory: Path, with_plugin: bool) -> float:
    cmd = [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_plain.py"]
    if not with_plugin:
        cmd[4:4] = ["-p", "no:gdcheck"]
    t0 = time.perf_counter()
    subprocess.run(cmd, cwd=directory, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - t0


def import_cost() -> float:
    """Cumulative ``-X importtime`` of the plugin module, pytest already imported (seconds)."""
    out = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import pytest; import gdcheck.testing._hooks"],
        capture_output=True,
        text=True,
        check=True,
    )
    for line in out.stderr.splitlines():
        if line.rstrip().endswith("| gdcheck.testing._hooks"):
            return int(line.split("|")[1]) * 1e-6
    raise RuntimeError("gdcheck.testing._hooks not in -X importtime output: is gdcheck installed?")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=30, help="sessions of each kind")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        (directory / "pytest.ini").write_text("[pytest]\n")
        (directory / "test_plain.py").write_text(TEST)
        (directory / "test_probe.py").write_text(PROBE)
        probe = subprocess.run(
            [sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "test_probe.py"],
            cwd=directory,
            capture_output=True,
            text=True,
            check=True,
        )
        loaded = next(line for line in probe.stdout.splitlines() if line.startswith("PROBE"))
        session(directory, True)  # warm the file system cache for both
        session(directory, False)
        with_plugin, without = [], []
        for _ in range(args.repeat):
            with_plugin.append(session(directory, True))
            without.append(session(directory, False))
    w, wo = statistics.median(with_plugin), statistics.median(without)
    diffs = sorted(a - b for a, b in zip(with_plugin, without, strict=True))
    print(f"pytest start-up + one trivial test, median of {args.repeat} alternating runs each:")
    print(f"  with gdcheck's plugin       {w * 1e3:7.1f} ms")
    print(f"  without (-p no:gdcheck)     {wo * 1e3:7.1f} ms")
    print(
        f"  overhead (median of pairs)  {statistics.median(diffs) * 1e3:7.1f} ms  (target < 50 ms)"
    )
    imports = statistics.median(import_cost() for _ in range(5))
    print(f"  importing the plugin module  {imports * 1e3:7.2f} ms  (-X importtime, median of 5)")
    plugged, heavy = loaded.split(" ", 2)[1:]
    print(f"  plugin loaded: {plugged}; NumPy, JAX, PyTorch imported by then: {heavy}")


if __name__ == "__main__":
    main()
