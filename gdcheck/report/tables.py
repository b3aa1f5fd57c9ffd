"""Tables of a report dict shared by Markdown and HTML: final weights, cost, drift, versions.

Each function returns ``(header, rows)`` of strings, read from the report dict only.
"""

from __future__ import annotations

from typing import Any

from .text import fmt

MAX_WEIGHT_ROWS = 100
"""Larger models list their first entries; report.json keeps them all."""


def entry_labels(report: dict[str, Any]) -> list[str]:
    """``w[0, 0] (intercept)``, ``w[3]``, ``b``: each flat entry named by its parameter."""
    import itertools

    params = (report.get("config") or {}).get("params") or {}
    labels = []
    for name, shape in params.items():
        if not shape:
            labels.append(name)
            continue
        for index in itertools.product(*(range(int(d)) for d in shape)):
            labels.append(f"{name}[{', '.join(map(str, index))}]")
    intercept = (report.get("analysis") or {}).get("least_squares") is not None
    if labels and intercept and list(params) == ["w"]:  # the tutorial's and ridge's w[0]
        labels[0] += " (intercept)"
    return labels


VERSION_KEYS = ("numpy", "blas", "jax", "optax", "torch", "python", "platform")


def weights_title(report: dict[str, Any]) -> str:
    """``Final weights``, and against what, when the model has a closed-form optimum."""
    has_optimum = (report.get("analysis") or {}).get("least_squares") is not None
    return "Final weights" + (" against the closed-form optimum" if has_optimum else "")


def weight_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """One row per weight entry: the least-squares optimum w*, then each backend's final w."""
    backends = report["backends"]
    optimum = (report.get("analysis") or {}).get("least_squares")
    finals = {
        n: (b.get("trajectory") or {}).get("final_weights") or [] for n, b in backends.items()
    }
    original = (report.get("analysis") or {}).get("original_units") or {}
    n = max([len(optimum or []), *(len(w) for w in finals.values())], default=0)
    labels = entry_labels(report)
    header = [
        "entry",
        *(["least squares w*"] if optimum else []),
        *backends,
        *(f"{k}, original units" for k in original),
    ]
    rows = []
    for i in range(min(n, MAX_WEIGHT_ROWS)):
        name = labels[i] if i < len(labels) else f"entry {i}"
        cells = [fmt(optimum[i], ".10g")] if optimum else []
        cells += [fmt(w[i], ".10g") if i < len(w) else "—" for w in finals.values()]
        cells += [fmt(w[i], ".10g") if i < len(w) else "—" for w in original.values()]
        rows.append([name, *cells])
    if n > MAX_WEIGHT_ROWS:
        rows.append([f"… {n - MAX_WEIGHT_ROWS} more", *[""] * (len(header) - 1)])
    if optimum:
        rows.append(
            [
                "|w − w*|∞",
                "0",
                *(
                    fmt((b.get("trajectory") or {}).get("distance_to_least_squares"))
                    for b in backends.values()
                ),
                *[""] * len(original),
            ]
        )
    return header, rows


def cost_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """The reference's cost at the tutorial's checkpoints (every 2,000 iterations)."""
    checkpoints = (report.get("reference") or {}).get("cost_checkpoints") or []
    return ["iteration", "cost"], [[f"{k}", fmt(c, ".10g")] for k, c in checkpoints]


def drift_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Per backend: max and final drift of its own trajectory, the tolerance, divergence."""
    header = ["backend", "max drift", "final drift", "drift tolerance", "diverged at"]
    rows = []
    for n, b in report["backends"].items():
        t, tol = b.get("trajectory") or {}, b.get("tolerance") or {}
        rows.append(
            [
                n,
                fmt(t.get("max_drift")),
                fmt(t.get("final_drift")),
                fmt(tol.get("drift")),
                fmt(t.get("diverged_at"), "d"),
            ]
        )
    return header, rows


def version_rows(report: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Library versions and BLAS first (what rounding depends on), then the rest."""
    env = report.get("environment") or {}
    keys = [k for k in VERSION_KEYS if k in env] + [k for k in env if k not in VERSION_KEYS]
    return ["component", "version"], [
        [k, "not used" if env[k] is None else str(env[k])] for k in keys
    ]
