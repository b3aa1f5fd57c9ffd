r"""A Taylor test as a JSON-able record and as an inline SVG figure: report.html (at w0) and a
check's notebook view. A leaf module (it imports only :mod:`gdcheck._chart`), so rendering a
saved report does not import the checking code.

On log–log axes the remainder :math:`R(h) = |C(w_0 + hv) - C(w_0) - h\langle g, v\rangle|`
of a right gradient falls along a line of slope 2 and a wrong one along slope 1, until
rounding flattens both at the smallest ``h``; dashed guides of slope 2 and 1 start at the
largest step's remainder.
"""

from __future__ import annotations

import math
from html import escape
from typing import Any

import numpy as np

from ._chart import line_chart

__all__ = ["taylor_figure", "taylor_record"]


def taylor_record(test: Any) -> dict[str, Any]:
    """A :class:`~gdcheck.check.TaylorTest` as report.json keeps it (NaN and ±Inf as None)."""

    def finite(values: Any) -> list[float | None]:
        return [v if math.isfinite(v) else None for v in np.asarray(values, np.float64).tolist()]

    return {
        "order": test.order,
        "looks_right": test.looks_right,
        "note": test.note,
        "hs": finite(test.hs),
        "remainders": finite(test.remainders),
        "usable": None if test.usable is None else list(test.usable),
    }


def taylor_figure(taylor: dict[str, Any] | None, where: str = "the starting weights") -> str:
    """A ``<figure>`` of the remainders (``hs``, ``remainders``, ``order``, ``note`` as in
    report.json's ``analysis.taylor``), or "" when the test did not run."""
    if not taylor or not taylor.get("hs"):
        return ""
    points = [
        (h, r)
        for h, r in zip(taylor["hs"], taylor["remainders"], strict=False)
        if h is not None and r is not None and r > 0
    ]
    if len(points) < 2:
        return ""
    (h0, r0), h1 = points[0], points[-1][0]
    svg = line_chart(
        {
            "your gradient": points,
            "slope 2 (right)": [(h0, r0), (h1, r0 * (h1 / h0) ** 2)],
            "slope 1 (wrong)": [(h0, r0), (h1, r0 * (h1 / h0))],
        },
        xlabel="step h",
        ylabel="remainder R(h)",
        logx=True,
        logy=True,
        title=f"Taylor test at {where}",
    )
    order = "no order" if taylor.get("order") is None else f"order {taylor['order']:.2f}"
    caption = (
        f"Taylor test of the handwritten gradient at {where}, along a random "
        f"direction v: {order}. A right gradient's remainder follows the slope-2 guide, a wrong "
        f"one the slope-1 guide; rounding flattens both at the smallest steps. "
        f"{taylor.get('note', '')}"
    )
    return f'<figure data-plot="taylor">{svg}<figcaption>{escape(caption)}</figcaption></figure>'
