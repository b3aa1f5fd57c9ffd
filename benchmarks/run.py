"""The benchmark of issue 9 ("Fast and big"): one command, tables on stdout, ``results.json``.

Run: ``python benchmarks/run.py [--quick] [--big]`` (``--quick``: fewer steps and sizes).

For each (n, m, dtype) — n parameters (a ones row and n − 1 features), m examples — a fresh
subprocess runs ``gdcheck.crosscheck`` of the tutorial's linear regression (lr = 1/λmax) and,
in the same process, each library's own plain loop (a NumPy loop, a JAX ``lax.scan``, torch
autograd + ``torch.optim.SGD``), and prints:

* each backend's cost per step (own trajectory and shadow check), in ms and in reads of X
  (the time of ``X.sum()`` over the same buffer, measured in the same process);
* harness overhead: crosscheck's wall time ÷ the sum of the three plain loops (each timed
  twice, the faster kept, JAX's compiled functions cleared before each: both include their
  compilation; the big case runs crosscheck once);
* peak RSS (``ru_maxrss``) as a multiple of X's size, total and above the RSS after the
  libraries were imported and warmed up.

Then ``check_gradient`` at n = 1,000, m = 10,000 float64 in a fresh process (first call at the
new shape and the warm median) beside ``torch.autograd.gradcheck``, its ``fast_mode``,
``jax.test_util.check_grads`` and ``scipy.optimize.check_grad`` (:mod:`check_speed`).
``--big`` adds (1001, 1e6) float32: X as a memory-mapped ``.npy`` in /tmp, deleted after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SIZES = [(2, 500), (101, 100_000), (1001, 100_000)]
BIG = (1001, 1_000_000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="50 steps, float32 only at 1001")
    parser.add_argument("--big", action="store_true", help="add (1001, 1e6) float32, 100 steps")
    parser.add_argument("--steps", type=int, default=None)
    parser.add_argument("--out", default=str(HERE / "results.json"))
    parser.add_argument("--case", nargs=4, metavar=("N", "M", "DTYPE", "STEPS"), help="internal")
    parser.add_argument("--memmap", action="store_true", help="internal: X from a .npy memmap")
    parser.add_argument(
        "--only-big", action="store_true", help="run only (1001, 1e6) float32, 100 steps"
    )
    parser.add_argument("--check", action="store_true", help="internal: the check_gradient row")
    args = parser.parse_args()
    if args.case:
        from _case import run_case

        n, m, dtype, steps = args.case
        print(json.dumps(run_case(int(n), int(m), dtype, int(steps), memmap=args.memmap)))
        return
    if args.check:
        print(json.dumps(_check_row()))
        return

    if args.only_big:
        row = _child(["--case", *(str(v) for v in (*BIG, "float32", 100)), "--memmap"])
        _print_case(row)
        Path(args.out).with_name("results_big.json").write_text(json.dumps(row, indent=1))
        return
    steps = args.steps or (50 if args.quick else 200)
    cases = [(n, m, dt, steps) for n, m in SIZES for dt in ("float32", "float64")]
    if args.quick:
        cases = [c for c in cases if not (c[0] == 1001 and c[2] == "float64")]
    if args.big:
        need = _big_need_bytes()
        have = _available()
        if have is not None and need > have:
            print(
                f"--big skipped: (1001, 1e6) float32 would need about {need / 2**30:.0f} GiB and "
                f"{have / 2**30:.0f} GiB is available."
            )
        else:
            cases.append((*BIG, "float32", 100))
    rows = []
    for n, m, dtype, k in cases:
        extra = ["--memmap"] if (n, m) == BIG else []
        row = _child(["--case", str(n), str(m), dtype, str(k), *extra])
        rows.append(row)
        _print_case(row)
    check = _child(["--check"])
    _print_check(check)
    Path(args.out).write_text(json.dumps({"cases": rows, "check_gradient": check}, indent=1))
    print(f"\nwrote {args.out}")


def _big_need_bytes() -> int:
    """Peak of the big case: the mapped file's pages and the prepared copy (2 × X; measured
    8.3 GB at 4.0 GB of X), plus 2 GiB for the libraries and the stored trajectory."""
    x = (BIG[0] - 1) * BIG[1] * 4
    return int(x * 2 + 2 * 2**30)


def _available() -> int | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _child(extra: list[str]) -> dict:
    out = subprocess.run(
        [sys.executable, str(HERE / "run.py"), *extra],
        capture_output=True,
        text=True,
        cwd=HERE,
        env={**os.environ, "PYTHONPATH": str(HERE)},
    )
    if out.returncode != 0:
        return {"args": extra, "error": out.stderr.strip().splitlines()[-3:]}
    return json.loads(out.stdout.strip().splitlines()[-1])


def _print_case(r: dict) -> None:
    if "error" in r:
        print(f"\n{r['args']}: FAILED {r['error']}")
        return
    print(
        f"\n(n, m) = ({r['n']}, {r['m']}) {r['dtype']}, {r['steps']} steps; X {r['x_mb']:.1f} MB; "
        f"read of X {r['read_ms']:.2f} ms ({r['gb_s']:.1f} GB/s); passed={r['passed']}"
    )
    print(f"  {'':24}{'ms/step':>10}{'reads of X':>12}")
    for name, ms in r["per_step_ms"].items():
        print(f"  {name:24}{ms:>10.3f}{ms / r['read_ms']:>12.2f}")
    plain = r["plain_s"]
    print(
        f"  crosscheck {r['crosscheck_s']:.2f} s; plain loops numpy {plain['numpy']:.2f} + jax "
        f"{plain['jax']:.2f} (warm {plain['jax_warm']:.2f}) + torch {plain['torch']:.2f} s; "
        f"harness overhead {r['overhead']:.2f}×"
    )
    print(
        f"  peak RSS {r['peak_mb']:.0f} MB = {r['peak_x']:.2f}× X; above the libraries' "
        f"{r['base_mb']:.0f} MB: {r['peak_above_x']:.2f}× X; stages {r['stages']}"
    )
    for note in r.get("notes", []):
        print(f"  note: {note}")


def _check_row() -> dict:
    from check_speed import grad, loss, measure

    return measure(1000, 10_000, 7, loss, grad)


def _print_check(r: dict) -> None:
    print("\ncheck_gradient at n = 1,000, m = 10,000, float64 (seconds; fresh process)")
    if "error" in r:
        print(f"  FAILED {r['error']}")
        return
    print(
        f"  first call {r['cold']:.3f}  warm median {r['ours']:.4f}  | gradcheck {r['gradcheck']:.2f}"
        f"  fast_mode {r['fast']:.4f}  jax check_grads {r['check_grads']:.4f}  scipy "
        f"{r['scipy']:.4f}"
    )
    print(
        f"  gradcheck ÷ first call {r['gradcheck'] / r['cold']:.0f}×; "
        f"fast_mode ÷ warm {r['fast'] / r['ours']:.2f}×; your grad alone {r['yours']:.4f}, "
        f"warm with it written 2 * X.T @ r / m {r['ours_as_written']:.4f}"
    )


if __name__ == "__main__":
    main()
