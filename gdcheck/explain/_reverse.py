r"""Why reverse mode: the gradient of one scalar by n forward JVPs, 2n evaluations, or one VJP.

For :math:`f:\mathbb R^n \to \mathbb R` a forward-mode JVP gives one directional derivative
:math:`\nabla f\cdot v` for about the cost of one evaluation, so the whole gradient takes n JVPs
(one per basis vector :math:`e_i`); central finite differences take 2n evaluations,
:math:`(f(w + h e_i) - f(w - h e_i))/2h`, and are only accurate to :math:`O(h^2)` plus rounding
:math:`O(\varepsilon/h)`; one reverse-mode VJP with the seed 1 gives all n entries for a small
constant times one evaluation. The lesson measures it on least squares

.. math::

    f(w) = \tfrac1m \|Aw - b\|^2, \qquad A \in \mathbb R^{m\times n},\ m = \text{ROWS},

whose evaluation costs :math:`2mn` flops, so n JVPs cost :math:`O(mn^2)` and the VJP
:math:`O(mn)`. The JVPs and differences run in batches of :data:`CHUNK` basis vectors under
``jax.vmap`` and ``jax.jit`` (the fairest forward mode: no Python loop), each timed warm
(compiled beforehand), best of a few repeats.

JAX is imported only when :func:`reverse_mode_section` runs.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from .._chart import line_chart
from ._blocks import Block, Figure, Section, Table, Text

__all__ = ["CHUNK", "ROWS", "SIZES", "measure", "reverse_mode_section"]

SIZES: tuple[int, ...] = (10, 100, 1_000, 10_000)
"""The numbers of parameters n the lesson measures."""

ROWS = 10
"""Rows m of the least-squares matrix A."""

CHUNK = 500
"""Basis vectors per batched JVP (or difference) call."""

FD_UP_TO = 1_000
"""Finite differences are timed up to this n; beyond it their 2n evaluations are only counted."""


def _best(fn: Callable[[], Any], repeats: int) -> float:
    """The fastest of ``repeats`` warm runs of ``fn`` (blocking until done), in seconds."""
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        out = fn()
        getattr(out, "block_until_ready", lambda: None)()
        best = min(best, time.perf_counter() - t)
    return best


def measure(sizes: Sequence[int] = SIZES, rows: int = ROWS, seed: int = 0) -> list[dict[str, Any]]:
    """For each n: seconds for n JVPs, 2n evaluations and one VJP, and each gradient's error."""
    import jax
    import jax.numpy as jnp

    out = []
    with jax.enable_x64(True):
        for n in sizes:
            rng = np.random.default_rng(seed)
            A = jnp.asarray(rng.standard_normal((rows, n)))
            b = jnp.asarray(rng.standard_normal(rows))
            w = jnp.asarray(rng.standard_normal(n) / np.sqrt(n))

            def f(w: Any, A: Any = A, b: Any = b) -> Any:
                return jnp.sum((A @ w - b) ** 2) / A.shape[0]

            k = min(CHUNK, n)
            h = 1e-6

            def basis(start: Any, k: int = k, n: int = n) -> Any:
                idx = jnp.arange(k) + start
                return jnp.zeros((k, n)).at[jnp.arange(k), idx].set(1.0)

            jvps = jax.jit(
                lambda w, s, f=f, basis=basis: jax.vmap(lambda v: jax.jvp(f, (w,), (v,))[1])(
                    basis(s)
                )
            )
            diffs = jax.jit(
                lambda w, s, f=f, basis=basis, h=h: jax.vmap(
                    lambda v: (f(w + h * v) - f(w - h * v)) / (2 * h)
                )(basis(s))
            )
            vjp = jax.jit(jax.grad(f))
            starts = list(range(0, n, k))

            def run(fn: Any, w: Any = w, starts: list[int] = starts) -> Any:
                return jnp.concatenate([fn(w, s) for s in starts])

            g = vjp(w).block_until_ready()  # compile each once, on one batch
            jvps(w, 0).block_until_ready()
            timing_fd = n <= FD_UP_TO
            if timing_fd:
                diffs(w, 0).block_until_ready()
            repeats = 3 if n <= 1_000 else 1
            found: dict[str, Any] = {}

            def timed(fn: Any, key: str, run: Any = run, found: dict = found) -> Any:
                found[key] = run(fn)
                return found[key]

            out.append(
                {
                    "n": n,
                    "jvp_s": _best(lambda t=timed, fn=jvps: t(fn, "jvp"), repeats),
                    "fd_s": (
                        _best(lambda t=timed, fn=diffs: t(fn, "fd"), repeats) if timing_fd else None
                    ),
                    "vjp_s": _best(lambda vjp=vjp, w=w: vjp(w), 5),
                    "jvp_err": float(jnp.max(jnp.abs(found["jvp"] - g))),
                    "fd_err": float(jnp.max(jnp.abs(found["fd"] - g))) if timing_fd else None,
                    "evaluations": {"jvp": n, "fd": 2 * n, "vjp": 1},
                }
            )
    return out


def _ms(s: float) -> str:
    return f"{s * 1e3:.3g} ms"


def reverse_mode_section(
    facts: dict[str, Any], number: int, sizes: Sequence[int] = SIZES
) -> Section:
    """The section: the table, the chart, the ratio at the largest n; ``facts["reverse_mode"]``."""
    rows = measure(sizes)
    facts["reverse_mode"] = rows
    table = Table(
        (
            "n",
            "n JVPs (forward)",
            "2n evaluations (differences)",
            "1 VJP (reverse)",
            "JVPs ÷ VJP",
            "max error: JVPs, differences",
        ),
        tuple(
            (
                f"{r['n']:,}",
                _ms(r["jvp_s"]),
                _ms(r["fd_s"])
                if r["fd_s"] is not None
                else f"{2 * r['n']:,} evaluations, not timed",
                _ms(r["vjp_s"]),
                f"{r['jvp_s'] / r['vjp_s']:,.0f}×",
                f"{r['jvp_err']:.1e}, " + ("—" if r["fd_err"] is None else f"{r['fd_err']:.1e}"),
            )
            for r in rows
        ),
        title=f"The gradient of f(w) = ‖Aw − b‖²/m, A of {ROWS} × n, in float64 (warm, best of "
        "3; one run at n > 1,000)",
    )
    last = rows[-1]
    svg = line_chart(
        {
            "n JVPs": [(r["n"], r["jvp_s"]) for r in rows],
            "2n evaluations": [(r["n"], r["fd_s"]) for r in rows if r["fd_s"] is not None],
            "1 VJP": [(r["n"], r["vjp_s"]) for r in rows],
        },
        xlabel="n (parameters)",
        ylabel="seconds",
        logx=True,
        logy=True,
        title="gradient cost against n",
    )
    blocks: list[Block] = [
        Text(
            "A loss has one output and many inputs. Forward mode (jax.jvp) pushes one tangent "
            "direction through the program, so the gradient takes n JVPs, one per parameter; "
            "finite differences take 2n evaluations and lose half the digits; reverse mode "
            "(jax.vjp, what jax.grad and loss.backward() run) pulls the seed 1 back once and "
            "gets all n entries at a few times the cost of one evaluation. Measured:"
        ),
        table,
        Figure(
            svg,
            "Seconds for the whole gradient against n, log–log: the JVPs and "
            "differences grow like n² (n passes of cost n each), the VJP like n.",
        ),
        Text(
            f"At n = {last['n']:,} the n JVPs took {_ms(last['jvp_s'])} and the one VJP "
            f"{_ms(last['vjp_s'])}: {last['jvp_s'] / last['vjp_s']:,.0f}× slower for the same "
            f"numbers (they agree to {last['jvp_err']:.0e}). The differences need {2 * last['n']:,} "
            f"evaluations and were off by up to {max(r['fd_err'] for r in rows if r['fd_err'] is not None):.0e} "
            "where timed."
        ),
    ]
    return Section(f"{number}. Why reverse mode", tuple(blocks))
