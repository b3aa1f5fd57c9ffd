"""The GPU check of issue 9, item 6, in one command (under 5 minutes on one GPU):

    python benchmarks/gpu_check.py          # writes benchmarks/results_gpu.json

1. **Bandwidth and reads of X.** X (1001, 1e5) float32 (0.4 GB) on ``cuda``: one read of X
   (``X.sum()``, the best of 20) in each library, then each backend's step in reads of X —
   the library's own warm loop (a JAX ``lax.scan``, torch autograd with ``SGD``, a
   ``loss.item()`` per step as gdcheck's loop does) and gdcheck's own trajectory and shadow
   check (from ``crosscheck(..., device="cuda")``; JAX's includes its compilation).
2. **Precision.** The tutorial's cross-check (lr 0.01, 10,000 steps) and the (1001, 1e5) one in
   float32 on ``cuda`` at ``--matmul-precision`` default, high and highest: the findings of each
   (at default JAX's reduced precision is expected as a ``precision`` finding, at highest none).

Without a GPU it exits 2 with one line saying what each library sees (CI has none);
``--rehearse-on-cpu`` walks through every step at a small size on the CPU (its JSON goes to the
temporary folder, never over a GPU run's figures).

Predictions, written before any GPU run (H200, ~4.8 TB/s; 0.4 GB of X reads in ~0.1 ms):
a step of gradient descent is two passes over X (``Xᵀw``, then ``X r``), so JAX's warm
``lax.scan`` step at ``highest`` takes ~2 reads, at ``default`` no fewer (DESIGN.md measured it
2× slower at (1001, 1e6): 3.7 ms against 1.9 ms); torch's loop ~2 reads plus a kernel launch
and a ``.item()`` sync a step, so 2–4 reads at this size. At (1001, 1e5) float32, ``default``
gives JAX a ``precision`` finding with a relative error ~5e-5 and ``highest`` none; torch at
``high`` (TF32) likewise, at ``default`` (torch's own: highest) none. The tutorial's (2, 500)
dot may be too small for a reduced-precision kernel: no finding there is a possible outcome.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _timing import timings  # benchmarks/, this script's folder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHAPE = (1001, 100_000)
"""(n, m) of the step benchmark: n − 1 features and the ones row, m examples."""
STEPS = 100
TUTORIAL_STEPS = 10_000
DEVICE = "cuda"
PRECISIONS = ("default", "high", "highest")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--out",
        default=None,
        help="where the JSON goes (default benchmarks/results_gpu.json; a rehearsal writes to "
        "the temporary folder, so it never replaces a GPU run's figures)",
    )
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument(
        "--rehearse-on-cpu",
        action="store_true",
        help="run every step on the CPU at a small size, to rehearse the script without a GPU "
        "(its figures mean nothing)",
    )
    args = parser.parse_args()
    global DEVICE, SHAPE, TUTORIAL_STEPS
    if args.out is None:
        args.out = str(
            Path(tempfile.gettempdir()) / "gdcheck-results_gpu-rehearsal.json"
            if args.rehearse_on_cpu
            else ROOT / "benchmarks" / "results_gpu.json"
        )
    if args.rehearse_on_cpu:
        DEVICE, SHAPE, TUTORIAL_STEPS = "cpu", (11, 2_000), 200
        libraries = {"jax": "cpu", "torch": "cpu"}
    else:
        libraries = _gpu_libraries()
    if not libraries:
        return 2
    import gdcheck

    started = time.perf_counter()
    X, y = _data(*SHAPE)
    out: dict = {
        "gdcheck": gdcheck.__version__,
        "python": platform.python_version(),
        "shape": list(SHAPE),
        "steps": args.steps,
        "libraries": libraries,
        "rehearsal": bool(args.rehearse_on_cpu),
        "reads_of_x": _reads_of_x(X, y, args.steps, libraries),
        "precision": {},
    }
    X_t, y_t = gdcheck.data.tutorial(seed=0)
    for label, (data, lr, steps) in {
        f"tutorial (2, 500), lr 0.01, {TUTORIAL_STEPS:,} steps": ((X_t, y_t), 0.01, TUTORIAL_STEPS),
        f"{SHAPE}, lr 1/λmax, {args.steps} steps": ((X, y), _lr(X), args.steps),
    }.items():
        out["precision"][label] = {
            p: _crosscheck(data, lr, steps, p, libraries) for p in PRECISIONS
        }
    out["seconds"] = round(time.perf_counter() - started, 1)
    Path(args.out).write_text(json.dumps(out, indent=1) + "\n")
    _print(out)
    print(f"wrote {args.out}")
    return 0


def _gpu_libraries() -> dict[str, str]:
    """The libraries that see a CUDA GPU, with its name; none: the message, on stderr."""
    from gdcheck.backends import _device

    seen, found = [], {}
    for name in _device.LIBRARIES:
        try:
            count, words = _device._sees(name)
        except ImportError:
            count, words = 0, f"{name} is not installed"
        ok = count > 0
        seen.append(words)
        if ok:
            found[name] = words
    if not found:
        print(
            "gpu_check.py needs a CUDA GPU: " + "; ".join(seen) + ". Run it on a machine with "
            "one (pip install 'jax[cuda12]' and a CUDA torch); it writes "
            "benchmarks/results_gpu.json.",
            file=sys.stderr,
        )
    return found


def _data(n: int, m: int) -> tuple[np.ndarray, np.ndarray]:
    """X (n − 1, m) ~ U(0, 1), y = Xᵀβ + 5 + 0.1 N(0, 1), float32, seeded (as benchmarks/_case)."""
    rng = np.random.default_rng(0)
    beta = rng.standard_normal(n - 1).astype(np.float32)
    X = rng.random((n - 1, m), dtype=np.float32)
    y = (beta @ X + 5 + 0.1 * rng.standard_normal(m).astype(np.float32))[None, :]
    return X, y.astype(np.float32)


def _lr(X: np.ndarray) -> float:
    """1/λmax of (2/m) X_b X_bᵀ by power iteration (X_b = [1; X])."""
    v = np.ones(X.shape[0] + 1)
    lam = 1.0
    for _ in range(30):
        r = v[0] + v[1:].astype(np.float32) @ X
        hv = (2 / X.shape[1]) * np.concatenate([[r.sum()], X @ r]).astype(np.float64)
        lam = float(np.linalg.norm(hv))
        v = hv / lam
    return 1.0 / lam


def _best(fn, repeat: int = 20) -> float:
    """The fastest of ``repeat`` calls of ``fn`` (which waits for its device), in ms."""
    return 1e3 * min(timings(fn, repeat))


def _reads_of_x(X: np.ndarray, y: np.ndarray, steps: int, libraries: dict) -> dict:
    import gdcheck
    from gdcheck.models._linear import cost

    model = gdcheck.models.linear_regression()
    Xb, yb = model.prepare(X, y)
    lr = _lr(X)
    out: dict = {}
    if "jax" in libraries:
        out["jax"] = _jax_loop(Xb, yb, lr, steps, cost)
    if "torch" in libraries:
        out["torch"] = _torch_loop(Xb, yb, lr, steps, cost)
    for precision in ("default", "highest"):
        run = gdcheck.crosscheck(
            model, X, y, lr=lr, steps=steps, dtype="float32", backends=("numpy", *libraries),
            device=DEVICE, matmul_precision=precision,
        )  # fmt: skip
        for name, r in run.runs.items():
            if name in out:
                read = out[name]["read_ms"]
                traj = 1e3 * r.trajectory.seconds / steps
                shadow = 1e3 * r.shadow_seconds / (steps + 1)
                out[name][f"gdcheck at {precision}"] = {
                    "trajectory_ms": round(traj, 4),
                    "trajectory_reads": round(traj / read, 2),
                    "shadow_ms": round(shadow, 4),
                    "shadow_reads": round(shadow / read, 2),
                    "device": r.info.device,
                    "matmul_precision": r.info.matmul_precision,
                }
    return out


def _jax_loop(Xb, yb, lr, steps, cost) -> dict:
    import jax
    import jax.numpy as jnp
    from _case import jax_gd_scan  # benchmarks/, this script's folder

    device = jax.devices("gpu" if DEVICE == "cuda" else "cpu")[0]
    Xj, yj = jax.device_put(Xb, device), jax.device_put(yb, device)
    total = jax.jit(jnp.sum)
    read = _best(lambda: total(Xj).block_until_ready())
    out = {
        "device": f"{device.platform}:{device.id} {device.device_kind}",
        "read_ms": round(read, 4),
    }
    out["gb_s"] = round(Xb.nbytes / (read * 1e-3) / 1e9, 1)
    for precision in ("default", "highest"):
        with jax.default_matmul_precision(precision):
            train = jax_gd_scan(cost, lr, steps)
            w0 = jax.device_put(jnp.zeros((Xb.shape[0], 1), jnp.float32), device)
            run = lambda train=train, w0=w0: jax.block_until_ready(train(w0, Xj, yj))  # noqa: E731
            step = _best(run, repeat=5) / steps
        out[f"lax.scan step at {precision}"] = {
            "ms": round(step, 4),
            "reads": round(step / read, 2),
        }
    return out


def _torch_loop(Xb, yb, lr, steps, cost) -> dict:
    import torch

    device = torch.device("cuda:0" if DEVICE == "cuda" else "cpu")
    sync = torch.cuda.synchronize if DEVICE == "cuda" else (lambda: None)
    Xt, yt = torch.from_numpy(Xb).to(device), torch.from_numpy(yb).to(device)

    def read_once() -> None:
        Xt.sum()
        sync()

    read = _best(read_once)
    out = {
        "device": f"cuda:0 {torch.cuda.get_device_name(0)}" if DEVICE == "cuda" else "cpu",
        "read_ms": round(read, 4),
        "gb_s": round(Xb.nbytes / (read * 1e-3) / 1e9, 1),
    }
    before = torch.get_float32_matmul_precision()
    try:
        for precision in ("high", "highest"):
            torch.set_float32_matmul_precision(precision)

            def loop() -> None:
                w = torch.zeros((Xb.shape[0], 1), device=device, requires_grad=True)
                opt = torch.optim.SGD([w], lr=lr)
                for _ in range(steps):
                    opt.zero_grad()
                    value = cost(w, Xt, yt)
                    value.item()
                    value.backward()
                    opt.step()
                sync()

            step = _best(loop, repeat=3) / steps
            out[f"autograd+SGD step at {precision}"] = {
                "ms": round(step, 4),
                "reads": round(step / read, 2),
            }
    finally:
        torch.set_float32_matmul_precision(before)
    return out


def _crosscheck(data: tuple, lr: float, steps: int, precision: str, libraries: dict) -> dict:
    import gdcheck

    t0 = time.perf_counter()
    run = gdcheck.crosscheck(
        gdcheck.models.linear_regression(), *data, lr=lr, steps=steps, dtype="float32",
        backends=("numpy", *libraries), device=DEVICE, matmul_precision=precision,
    )  # fmt: skip
    return {
        "passed": run.passed,
        "seconds": round(time.perf_counter() - t0, 2),
        "backends": {
            name: {
                "device": r.info.device,
                "matmul_precision": r.info.matmul_precision,
                "max_rel_error": float(r.errors.rel.max(initial=0.0)),
                "max_error_over_tolerance": float(r.errors.ratio.max(initial=0.0)),
            }
            for name, r in run.runs.items()
        },
        "findings": [
            {"kind": f.kind, "backend": f.backend, "fatal": f.fatal, "message": f.message}
            for f in run.findings
        ],
    }


def _print(out: dict) -> None:
    print(f"Reads of X at {tuple(out['shape'])} float32 on {DEVICE} ({out['steps']} steps):")
    for name, r in out["reads_of_x"].items():
        print(f"  {name} on {r['device']}: one read {r['read_ms']:.3f} ms ({r['gb_s']} GB/s)")
        for key, value in r.items():
            if isinstance(value, dict):
                ms = value.get("ms", value.get("trajectory_ms"))
                reads = value.get("reads", value.get("trajectory_reads"))
                print(f"    {key}: {ms:.3f} ms a step = {reads} reads of X")
    for label, runs in out["precision"].items():
        print(f"Cross-check {label}, float32 on {DEVICE}:")
        for precision, r in runs.items():
            kinds = ", ".join(f"{f['kind']} ({f['backend']})" for f in r["findings"]) or "none"
            rel = ", ".join(f"{n} {b['max_rel_error']:.2g}" for n, b in r["backends"].items())
            print(f"  {precision:8s} passed={r['passed']}  findings: {kinds}  max rel: {rel}")


if __name__ == "__main__":
    sys.exit(main())
