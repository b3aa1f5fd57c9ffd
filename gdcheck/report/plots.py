"""The report's plots, built from the report dict alone: what each plot shows, and its log axis.

Three plots, each a :class:`Plot` (data, no drawing): the shadow check's gradient error per
step with the tolerance, the independent check's weight drift per step, and the loss per
backend. :mod:`gdcheck.report.svg` draws them as dependency-free SVG (report.html and the
``plot-*.svg`` files); :func:`figure` draws them with matplotlib (``run.plot()``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from .._words import ordinal

COLORS = {"numpy": "#222222", "jax": "#0072B2", "torch": "#D55E00"}
"""Okabe–Ito colours, readable by colour-blind readers; other backends take :data:`PALETTE`."""
PALETTE = ("#009E73", "#CC79A7", "#E69F00", "#56B4E9")
ZERO_NOTE = "Exact zeros are drawn on the bottom line, labelled 0 (a log axis has no zero)."


@dataclass(frozen=True)
class Series:
    """One backend's values per step; ``None`` (non-finite) leaves a gap."""

    label: str
    color: str
    steps: tuple[int, ...]
    values: tuple[float | None, ...]
    points: bool = False  # dots (per-step noise) rather than a line
    width: float = 1.8
    opacity: float = 1.0


@dataclass(frozen=True)
class Rule:
    """A horizontal reference line: a tolerance."""

    label: str
    value: float
    color: str = "#555555"
    dash: str = "7 4"


@dataclass(frozen=True)
class Plot:
    key: str  # file stem: plot-<key>.svg
    title: str
    caption: str
    series: tuple[Series, ...]
    rules: tuple[Rule, ...] = ()
    last_step: int = 0  # the x axis runs to here (the run's steps) or to the last point

    @property
    def xmax(self) -> int:
        if self.last_step:
            return self.last_step
        return max([0, *(k for s in self.series for k in s.steps)]) or 1


@dataclass(frozen=True)
class LogAxis:
    """A base-10 axis from ``lo`` to ``hi``; with ``zero`` set, ``lo`` stands for 0."""

    lo: float
    hi: float
    ticks: tuple[tuple[float, str], ...]
    zero: bool

    def place(self, v: float) -> float:
        """Position of ``v`` in [0, 1] along the axis (zeros and values below at 0)."""
        if not math.isfinite(v):
            return 1.0 if v > 0 else 0.0
        v = min(max(v, self.lo), self.hi)
        return (math.log10(v) - math.log10(self.lo)) / (math.log10(self.hi) - math.log10(self.lo))


DECADE_LO, DECADE_HI = -300, 308
"""The decades a log axis may span: ``10.0**d`` is a normal float for every one of them."""


def log_axis(values: list[float], max_ticks: int = 7) -> LogAxis:
    """Decade ticks covering ``values`` (finite, ≥ 0); zeros get a floor a decade below."""
    positive = [v for v in values if v > 0 and math.isfinite(v)]
    zero = any(v == 0 for v in values)
    if not positive:
        positive = [1.0]
    # Decades that 10.0**d can represent: subnormals (5e-324) and values near the float
    # maximum (1.7e308, whose ceiling decade 1e309 overflows) sit at the axis' ends.
    dmin = max(DECADE_LO, math.floor(math.log10(min(positive))))
    dmax = min(DECADE_HI, math.ceil(math.log10(max(positive))))
    if dmax <= dmin:
        dmax, dmin = (dmin + 1, dmin) if dmin < DECADE_HI else (DECADE_HI, DECADE_HI - 1)
    every = max(1, math.ceil((dmax - dmin) / max_ticks))
    ticks = [(10.0**d, f"1e{d}") for d in range(dmin, dmax + 1, every)]
    if zero:
        dmin = max(DECADE_LO - 8, dmin - every)
        ticks.insert(0, (10.0**dmin, "0"))
    return LogAxis(10.0**dmin, 10.0 ** max(dmax, dmin + 1), tuple(ticks), zero)


def nice_ticks(hi: float, max_ticks: int = 6) -> list[int]:
    """0, then multiples of 1, 2 or 5 × 10^k up to ``hi``."""
    if hi <= 0:
        return [0]
    raw = hi / max_ticks
    base = 10 ** math.floor(math.log10(raw))
    step = next(b * base for b in (1, 2, 5, 10) if b * base >= raw)
    step = max(1, int(step))
    return list(range(0, int(hi) + 1, step))


def color(name: str, index: int) -> str:
    return COLORS.get(name, PALETTE[index % len(PALETTE)])


def _values(report: dict[str, Any], name: str, key: str) -> tuple[float | None, ...]:
    raw = report["series"].get(name, {}).get(key) or []
    return tuple(None if v is None else float(v) for v in raw)


def _tolerance_rules(report: dict[str, Any], names: list[str], kind: str) -> tuple[Rule, ...]:
    """One dashed rule per distinct tolerance (shared ones named once), and a dotted one where
    a backend ran at a reduced matmul precision: what that precision explains. The gradient is
    judged at full precision; a difference that vanishes at ``highest`` is named ``precision``."""
    groups: dict[tuple[float, str], list[str]] = {}
    for name in names:
        tol = report["backends"][name].get("tolerance", {})
        if tol.get(kind) is not None:
            groups.setdefault((float(tol[kind]), "full"), []).append(name)
        wide = tol.get(f"{kind}_with_precision")
        if wide is not None and tol.get(kind) is not None and wide != tol[kind]:
            groups.setdefault((float(wide), "precision"), []).append(name)
    several = len({v for v, _ in groups}) > 1
    rules = []
    for (value, which), owners in groups.items():
        who = f" ({', '.join(owners)})" if several or which == "precision" else ""
        if which == "full":
            rules.append(Rule(f"tolerance{who} {value:.2g}", value))
        else:
            rules.append(
                Rule(f"what reduced matmul precision{who} explains {value:.2g}", value, dash="2 3")
            )
    return tuple(rules)


def report_plots(report: dict[str, Any]) -> list[Plot]:
    """The plots of a report dict; the error and drift plots need a backend besides the reference."""
    s = report["series"]
    steps = tuple(int(k) for k in s["steps"])
    names = list(report["backends"])
    reference = report.get("reference", {}).get("backend", "numpy")
    others = [n for n in names if n != reference]
    stride = int(s.get("stride", 1))
    last = _last_step(report, steps)
    bucket = f" (the maximum over each run of {stride:,} steps)" if stride > 1 else ""
    every = int(s.get("record_every") or 1)
    if every > 1:  # --record-every K: the points are the recorded steps only
        most = f"; the maximum over each run of {stride:,} of them" if stride > 1 else ""
        bucket = f" (at the recorded steps, every {ordinal(every)}{most})"
    plots = []
    if others:
        err = tuple(
            Series(n, color(n, i), steps, _values(report, n, "gradient_rel_error"), points=True)
            for i, n in enumerate(names)
            if n != reference
        )
        plots.append(
            Plot(
                "gradient-error",
                "Gradient error per step (shadow check, log scale)",
                f"Each backend's gradient at the reference's own w_t against the handwritten "
                f"gradient, scaled by the size of the terms summed{bucket}. Above the dashed "
                f"tolerance is a disagreement. The reference ({reference}) is not drawn: its error "
                f"is 0 by definition; backends that agree exactly overlap. {ZERO_NOTE}",
                err,
                _tolerance_rules(report, others, "gradient"),
                last,
            )
        )
        drift = tuple(
            Series(n, color(n, i), steps, _values(report, n, "drift"))
            for i, n in enumerate(names)
            if n != reference
        )
        plots.append(
            Plot(
                "drift",
                "Weight drift per step (independent check, log scale)",
                f"Each backend runs its own gradient descent with its own update; the relative "
                f"distance of its weights from the reference's{bucket}. Above the dashed tolerance "
                f"the trajectories have parted. {ZERO_NOTE}",
                drift,
                _tolerance_rules(report, others, "drift"),
                last,
            )
        )
    loss = tuple(
        Series(
            n,
            color(n, i),
            steps,
            _values(report, n, "loss"),
            width=6.0 if n == reference else 1.8,
            opacity=0.35 if n == reference else 1.0,
        )
        for i, n in enumerate(names)
    )
    plots.append(
        Plot(
            "loss",
            "Loss per step, each backend's own run (log scale)",
            f"The cost C(w) along each backend's own trajectory"
            f"{' (every ' + ordinal(stride * every) + ' step)' if stride * every > 1 else ''}"
            ". Curves that "
            f"agree lie on top of one another; the reference ({reference}) is the wide pale line "
            "underneath. Gaps are non-finite values (a diverged run).",
            loss,
            last_step=last,
        )
    )
    return plots


def _last_step(report: dict[str, Any], steps: tuple[int, ...]) -> int:
    """The x axis's end: the run's steps, or, when the reference diverged, the last step any
    backend still had a finite loss (the axis is fitted to the steps that ran)."""
    last = int(report["config"].get("steps") or 0)
    if (report.get("reference") or {}).get("diverged_at") is None:
        return last
    finite = [
        k
        for name in report["backends"]
        for k, v in zip(steps, _values(report, name, "loss"), strict=False)
        if v is not None
    ]
    return max(1, min(last, max(finite, default=0) + 1))


RULE_REACH = 1e6
"""A rule more than this factor above the data's largest value (a diverged run's drift
tolerance, 1e142) is left off the axis, so the data keep the plot; its label says so."""


def plot_values(plot: Plot) -> list[float]:
    """Every finite value the axis must cover: the data, and the rules within reach of them."""
    values = [v for s in plot.series for v in s.values if v is not None and math.isfinite(v)]
    values = [max(v, 0.0) for v in values]
    return values + [r.value for r in shown_rules(plot, values)]


def shown_rules(plot: Plot, values: list[float] | None = None) -> list[Rule]:
    """The rules drawn on the axis: those not far above every data value (:data:`RULE_REACH`)."""
    if values is None:
        values = [v for s in plot.series for v in s.values if v is not None and math.isfinite(v)]
    top = max(values, default=0.0)
    return [r for r in plot.rules if r.value > 0 and (top <= 0 or r.value <= top * RULE_REACH)]


def figure(report: dict[str, Any]) -> Any:
    """A matplotlib ``Figure`` of the report's plots (matplotlib imported here, lazily)."""
    try:
        from matplotlib.figure import Figure
    except ImportError:
        raise ImportError(
            "gdcheck: plotting needs matplotlib; install it with: pip install 'gdcheck[report]'"
        ) from None
    plots = report_plots(report)
    fig = Figure(figsize=(8, 3.2 * len(plots)), layout="constrained")
    for ax, plot in zip(fig.subplots(len(plots), 1, squeeze=False)[:, 0], plots, strict=True):
        axis = log_axis(plot_values(plot))
        ax.set_yscale("log")
        for s in plot.series:
            ys = [float("nan") if v is None else max(v, axis.lo) for v in s.values]
            style = {"ls": "none", "marker": ".", "ms": 3} if s.points else {"lw": s.width}
            ax.plot(s.steps, ys, color=s.color, alpha=s.opacity, label=s.label, **style)
        for r in shown_rules(plot):
            dashes = [float(d) for d in r.dash.split()]
            ax.axhline(r.value, color=r.color, dashes=dashes, lw=1.2, label=r.label)
        ax.set_ylim(axis.lo, axis.hi)
        ax.set_xlim(0, plot.xmax)
        ax.set_yticks([t for t, _ in axis.ticks], [label for _, label in axis.ticks])
        ax.minorticks_off()
        ax.set_title(plot.title, fontsize=11)
        ax.set_xlabel("step")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8, loc="best")
    return fig
