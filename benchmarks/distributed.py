"""Issue 13's figures: the data-parallel check, every model of the series, W = 2, 3, 4.

    python benchmarks/distributed.py [--big]

Prints four tables and writes ``benchmarks/results_distributed.json`` (a section a run does not
measure keeps its previous value):

1. **series** — every model, W = 2, 3, 4 over m = 301 examples (unequal shards), float64, 20
   steps: per engine the worst per-step data-parallel gradient error against the
   single-process one (relative to the gradient's term size; must be <= 1e-12 at every step)
   and the workers' spread (0: bit for bit);
2. **planted** — each planted data-parallel mistake (:mod:`gdcheck.distributed._planted`, the
   tests' own) and the kind and worker the check names;
3. **overhead** — the DDP part of the check against a plain DDP loop of the same steps (same
   spawn, same workers, no records, no checks), start-up and per step apart;
4. ``--big`` — issue 9's 4 GB case, X (1000, 1e6) float32 as a memory-mapped ``.npy`` in /tmp
   (1001 rows prepared), over 4 workers: each worker's peak RSS and time per step against
   ``gdcheck.crosscheck`` on the same memmapped data (its peak RSS too). Each case runs in a
   fresh process, one at a time; the files are deleted after.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _plain_ddp import plain_ddp

import gdcheck
from gdcheck.distributed import crosscheck_parallel
from gdcheck.distributed._planted import (
    FAULT_FINDINGS,
    PLANTED_FAULTS,
    PLANTED_REDUCE,
    planted_data,
)
from gdcheck.distributed._worker import peak_rss_mb

HERE = Path(__file__).resolve().parent
OUT = HERE / "results_distributed.json"
MODELS = {
    "linear_regression": (gdcheck.models.linear_regression, 0.1),
    "ridge": (lambda: gdcheck.models.ridge(alpha=0.1), 0.1),
    "logistic_regression": (gdcheck.models.logistic_regression, 0.5),
    "softmax_regression": (gdcheck.models.softmax_regression, 0.5),
    "mlp": (lambda: gdcheck.models.mlp(hidden=16), 0.5),
}
M, STEPS, BOUND = 301, 20, 1e-12
BIG_N, BIG_M, BIG_STEPS, BIG_W = 1000, 1_000_000, 20, 4


def series_data(name: str, m: int = M) -> tuple:
    if name in ("linear_regression", "ridge"):
        X, y = gdcheck.data.tutorial(seed=0)
        return X[:, :m], y[:, :m]
    return gdcheck.data.synthetic(name, seed=0, m=m)


def series(models: list[str], workers: list[int], steps: int) -> list[dict]:
    rows = []
    print(f"\n1. series: m = {M}, float64, {steps} steps; error = worst step, relative")
    print(f"{'model':<20} {'W':>2} {'shards':<16} {'engine':<12} {'grad error':>10} "
          f"{'spread':>8} {'<=1e-12':>7} {'bitwise':>7}")  # fmt: skip
    for name in models:
        factory, lr = MODELS[name]
        for W in workers:
            res = crosscheck_parallel(
                factory(), *series_data(name), workers=W, lr=lr, steps=steps, timeout=300
            )
            row = {
                "model": name,
                "W": W,
                "shards": list(res.shard_sizes),
                "passed": res.passed,
                "findings": [f.message for f in res.findings],
                "grad_error": {k: v.tolist() for k, v in res.grad_error.items()},
                "spread": {k: v.tolist() for k, v in res.spread.items()},
                "max_grad_error": res.worst(res.grad_error),
                "max_spread": res.worst(res.spread),
                "within_bound_every_step": {
                    k: bool(np.all(v <= BOUND)) for k, v in res.grad_error.items()
                },
                "bitwise": {k: bool(np.all(v == 0)) for k, v in res.spread.items()},
                "engines": res.engines,
                "seconds": {k: round(v, 4) for k, v in res.seconds.items()},
            }
            rows.append(row)
            for eng in res.engines:
                print(
                    f"{name:<20} {W:>2} {res.shard_sizes!s:<16} {eng:<12} "
                    f"{row['max_grad_error'][eng]:>10.3g} {row['max_spread'][eng]:>8.3g} "
                    f"{row['within_bound_every_step'][eng]!s:>7} {row['bitwise'][eng]!s:>7}",
                    flush=True,
                )
            for message in row["findings"]:
                print(f"   finding: {message}")
    return rows


def planted() -> list[dict]:
    model = gdcheck.models.linear_regression
    rows = []
    for label, reduce, kind, text in PLANTED_REDUCE:
        res = crosscheck_parallel(
            model(), *planted_data(), workers=3, steps=5, reduce=reduce, backends=()
        )
        f = res.findings[0]
        rows.append(_planted_row(label, "reduce=", kind, None, 0, text, f, res.passed))
    res = crosscheck_parallel(
        model(), *planted_data(), workers=4, steps=8, backends="torch", faults=PLANTED_FAULTS
    )
    for label, kind, worker, step, text in FAULT_FINDINGS:
        found = [f for f in res.findings if (f.kind, f.worker) == (kind, worker)]
        f = found[0] if found else None
        rows.append(_planted_row(label, "DDP fault", kind, worker, step, text, f, res.passed))
    print("\n2. planted mistakes (tutorial model, m = 101; reduce= W = 3, DDP faults W = 4)")
    print(f"{'mistake':<34} {'planted':<9} {'expected':<18} {'named':<18} {'worker':>6} "
          f"{'step':>4} {'ok':>3}")  # fmt: skip
    for r in rows:
        print(f"{r['mistake']:<34} {r['planted']:<9} {r['expected']:<18} {r['named']!s:<18} "
              f"{r['worker']!s:>6} {r['step']!s:>4} {'yes' if r['ok'] else 'NO':>3}")  # fmt: skip
    for r in rows:
        print(f"   {r['mistake']}: {r['message']}")
    return rows


def _planted_row(label, how, kind, worker, step, text, f, passed) -> dict:
    named = f.kind if f else None
    ok = bool(
        f and not passed and f.kind == kind and f.worker == worker and f.step == step
        and text in f.message
    )  # fmt: skip
    return {
        "mistake": label,
        "planted": how,
        "expected": kind,
        "named": named,
        "worker": f.worker if f else None,
        "step": f.step if f else None,
        "ok": ok,
        "message": f.message if f else None,
    }


def overhead(workers: list[int], steps: int, repeat: int) -> list[dict]:
    """Check and plain loop alternately, ``repeat`` times; each phase's fastest is kept (a
    loaded machine only slows a phase down)."""
    model = gdcheck.models.linear_regression()
    data = series_data("linear_regression")
    rows = []
    for W in workers:
        checks, plains = [], []
        for _ in range(repeat):
            t0 = time.perf_counter()
            res = crosscheck_parallel(
                model, *data, workers=W, lr=0.1, steps=steps, backends="torch"
            )
            wall = time.perf_counter() - t0
            s = res.seconds
            check = {k[len("torch_ddp_") :]: v for k, v in s.items() if k.startswith("torch_ddp_")}
            check["wall"], check["launch"] = wall, s["torch_ddp"]
            checks.append(check)
            plains.append(plain_ddp(W, steps, *model.prepare(*data)))
        rows.append(
            {
                "W": W,
                "steps": steps,
                "repeat": repeat,
                "passed": res.passed,
                "check": {k: min(c[k] for c in checks) for k in checks[0]},
                "plain": {k: min(p[k] for p in plains) for k in plains[0]},
                "runs": {"check": checks, "plain": plains},
            }
        )
    print(f"\n3. overhead: tutorial model, m = {M}, float64, {steps} steps, DDP (gloo) only; "
          f"fastest of {repeat} runs per phase")  # fmt: skip
    print(f"{'W':>2} {'':<6} {'spawn*':>6} {'init':>6} {'data':>6} {'DDP':>6} {'start-up':>8} "
          f"{'ms/step':>8} {'shutdown':>8} {'launch':>7} {'whole check':>11}")  # fmt: skip
    for r in rows:
        for who in ("check", "plain"):
            p = r[who]
            launch = p.get("launch", p["wall"])
            whole = f"{p['wall']:>11.2f}" if who == "check" else f"{'':>11}"
            print(f"{r['W']:>2} {who:<6} {p['spawn'] + p['import']:>6.2f} {p['init']:>6.2f} "
                  f"{p['data']:>6.3f} {p['build']:>6.2f} {p['startup']:>8.2f} "
                  f"{1e3 * p['loop'] / (steps + 1):>8.3f} {p['shutdown']:>8.2f} "
                  f"{launch:>7.2f} {whole}")  # fmt: skip
        extra = 1e3 * (r["check"]["loop"] - r["plain"]["loop"]) / (steps + 1)
        print(f"   W={r['W']}: the check's loop costs {extra:+.3f} ms a step over the plain loop")
    print("   * spawn: process start and the imports the spawned worker's unpickling runs (torch)")
    return rows


def big(steps: int) -> dict:
    """The 4 GB case: write X and y once, then each case in its own process."""
    sys.path.insert(0, str(HERE))
    from _case import data

    X, y, path_x = data(BIG_N + 1, BIG_M, "float32", True)
    fd, path_y = tempfile.mkstemp(suffix=".npy", dir="/tmp")
    os.close(fd)
    np.save(path_y, y)
    try:
        lr = 1.0 / lambda_max(X, 10)
        del X
        out = {"n": BIG_N + 1, "m": BIG_M, "dtype": "float32", "steps": steps, "lr": lr}
        out["x_mb"] = (BIG_N * BIG_M * 4) / 2**20
        for case in ("single", "parallel"):
            cmd = [sys.executable, __file__, "--big-case", case, path_x, path_y, repr(lr)]
            cmd += [str(steps)]
            proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
            if proc.returncode != 0:
                print(proc.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"--big-case {case} failed with code {proc.returncode}")
            out[case] = json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        os.unlink(path_x)
        os.unlink(path_y)
    _print_big(out)
    return out


def lambda_max(X: np.ndarray, iterations: int = 10) -> float:
    r""":math:`\lambda_{\max}` of :math:`(2/m) X_b X_b^\top`, :math:`X_b = [1; X]`, by power
    iteration in X's own dtype (a float64 vector times a float32 X would cast all of X)."""
    v, lam, m = np.ones(X.shape[0] + 1), 0.0, X.shape[1]
    for _ in range(iterations):
        r = v[1:].astype(X.dtype) @ X + X.dtype.type(v[0])  # X_bᵀ v, (m,), in X's dtype
        hv = (2 / m) * np.concatenate([[r.sum(dtype=np.float64)], X @ r]).astype(np.float64)
        lam = float(v @ hv / (v @ v))
        v = hv / np.linalg.norm(hv)
    return lam


def big_case(case: str, path_x: str, path_y: str, lr: float, steps: int) -> dict:
    import jax  # noqa: F401  (imported before the baseline RSS, as the run imports them)
    import torch  # noqa: F401

    sys.path.insert(0, str(HERE))
    from _case import rss_mb

    X, y = np.load(path_x, mmap_mode="r"), np.load(path_y)
    model = gdcheck.models.linear_regression()
    base = rss_mb()
    t0 = time.perf_counter()
    if case == "single":
        run = gdcheck.crosscheck(model, X, y, lr=lr, steps=steps, dtype="float32")
        per_step = {"numpy trajectory": 1e3 * run.reference.seconds / steps}
        for name, r in run.runs.items():
            if name != "numpy":
                per_step[f"{name} trajectory"] = 1e3 * r.trajectory.seconds / steps
                per_step[f"{name} shadow"] = 1e3 * r.shadow_seconds / (steps + 1)
        passed, extra = run.passed, {"notes": list(run.notes)}
    else:
        res = crosscheck_parallel(
            model, X, y, workers=BIG_W, lr=lr, steps=steps, dtype="float32", timeout=1800
        )
        s = res.seconds
        per_step = {
            "single-process handwritten (parent)": 1e3 * s["single_process"] / steps,
            "torch_ddp loop (slowest worker)": 1e3 * s["torch_ddp_loop"] / (steps + 1),
            "jax_sharded compiled loop": 1e3 * s["jax_sharded_loop"] / (steps + 1),
        }
        passed = res.passed
        extra = {
            "shards": list(res.shard_sizes),
            "worker_peak_rss_mb": res.peak_rss_mb,
            "max_grad_error": res.worst(res.grad_error),
            "max_spread": res.worst(res.spread),
            "seconds": s,
            "findings": [f.message for f in res.findings],
            "notes": res.notes,
        }
    wall = time.perf_counter() - t0
    peak = peak_rss_mb()  # VmHWM: ru_maxrss would carry this process's parent's peak
    return {"passed": passed, "wall_s": wall, "base_mb": base, "peak_mb": peak,
            "per_step_ms": per_step, **extra}  # fmt: skip


def _print_big(r: dict) -> None:
    print(f"\n4. big: X ({r['n']}, {r['m']}) float32 ({r['x_mb']:.0f} MB) memory-mapped, "
          f"{r['steps']} steps, W = {BIG_W}")  # fmt: skip
    single, par = r["single"], r["parallel"]
    print(f"gdcheck.crosscheck (one process): peak RSS {single['peak_mb']:.0f} MB, "
          f"wall {single['wall_s']:.1f} s, passed {single['passed']}")  # fmt: skip
    for k, v in single["per_step_ms"].items():
        print(f"   {k:<36} {v:>8.1f} ms/step")
    print(f"crosscheck_parallel W={BIG_W}: parent peak RSS {par['peak_mb']:.0f} MB, "
          f"wall {par['wall_s']:.1f} s, passed {par['passed']}, shards {par['shards']}")  # fmt: skip
    for k, v in par["worker_peak_rss_mb"].items():
        print(f"   peak RSS {k:<26} {', '.join(f'{x:.0f}' for x in v)} MB")
    for k, v in par["per_step_ms"].items():
        print(f"   {k:<36} {v:>8.1f} ms/step")
    print(f"   max grad error {par['max_grad_error']}, spread {par['max_spread']}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--big", action="store_true", help="add the 4 GB case (several minutes)")
    ap.add_argument("--only", nargs="*", choices=["series", "planted", "overhead", "big"])
    ap.add_argument("--models", nargs="*", default=list(MODELS), choices=list(MODELS))
    ap.add_argument("--workers", nargs="*", type=int, default=[2, 3, 4])
    ap.add_argument("--steps", type=int, default=STEPS)
    ap.add_argument("--overhead-steps", type=int, default=200)
    ap.add_argument("--repeat", type=int, default=3, help="overhead runs per W (fastest kept)")
    ap.add_argument("--big-case", nargs=5, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.big_case:
        case, px, py, lr, steps = args.big_case
        print(json.dumps(big_case(case, px, py, float(lr), int(steps))))
        return
    sections = args.only or ["series", "planted", "overhead"] + (["big"] if args.big else [])
    results = json.loads(OUT.read_text()) if OUT.exists() else {}
    import torch

    results["versions"] = {"numpy": np.__version__, "torch": torch.__version__}
    try:
        import jax

        results["versions"]["jax"] = jax.__version__
    except ImportError:
        pass
    results["machine"] = {"cpus": os.cpu_count(), "python": sys.version.split()[0]}
    if "series" in sections:
        results["series"] = series(args.models, args.workers, args.steps)
    if "planted" in sections:
        results["planted"] = planted()
    if "overhead" in sections:
        results["overhead"] = overhead(args.workers, args.overhead_steps, args.repeat)
    if "big" in sections:
        results["big"] = big(BIG_STEPS)
    OUT.write_text(json.dumps(results, indent=1) + "\n")
    print(f"\nwrote {OUT}")


if __name__ == "__main__":
    main()
