r"""The Taylor-test picture: the first-order remainder against the step, for a right and a wrong gradient.

.. math::

    R(h) = \bigl|L(p + hv) - L(p) - h\langle g, v\rangle\bigr|
         = h\,|\langle \nabla L - g, v\rangle| + O(h^2),

so on log–log axes a right gradient gives a line of slope 2 and a wrong one (here the classic
missing factor 2: :math:`g = \tfrac12\nabla L`) a line of slope 1, until rounding flattens
both at the smallest steps. The test is :func:`gdcheck.check._taylor.taylor_test`; this module
draws it, with dashed reference lines of slope 2 and 1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._chart import line_chart
from ..models import Model
from ._blocks import Figure, Section, Table, Text

__all__ = ["WRONG_FACTOR", "taylor_section"]

WRONG_FACTOR = 0.5
"""The wrong gradient is this times the handwritten one (a dropped factor 2)."""


def _scaled(g: Any, factor: float) -> Any:
    if isinstance(g, dict):
        return {k: factor * np.asarray(v) for k, v in g.items()}
    return factor * np.asarray(g)


def taylor_section(
    model: Model, params: Any, data: tuple, facts: dict[str, Any], number: int
) -> Section:
    """The section; ``facts["taylor"]`` gets both tests' ``hs``, remainders and orders."""
    from ..check._taylor import taylor_test

    g = model.grad(params, *data)
    right = taylor_test(model.loss, g, params, *data)
    wrong = taylor_test(model.loss, _scaled(g, WRONG_FACTOR), params, *data)
    facts["taylor"] = {
        name: {
            "hs": t.hs.tolist(),
            "remainders": t.remainders.tolist(),
            "order": t.order,
            "usable": t.usable,
        }
        for name, t in (("right", right), ("wrong", wrong))
    }

    def guide(t: Any, slope: int) -> list[tuple[float, float]]:
        h0, r0 = float(t.hs[0]), float(t.remainders[0])
        return [(float(h), r0 * (float(h) / h0) ** slope) for h in (t.hs[0], t.hs[-1])]

    svg = line_chart(
        {
            "right gradient": list(zip(right.hs.tolist(), right.remainders.tolist(), strict=True)),
            f"wrong ({WRONG_FACTOR:g} × it)": list(
                zip(wrong.hs.tolist(), wrong.remainders.tolist(), strict=True)
            ),
            "slope 2": guide(right, 2),
            "slope 1": guide(wrong, 1),
        },
        xlabel="step h",
        ylabel="remainder R(h)",
        logx=True,
        logy=True,
        title="Taylor test",
    )

    def order(t: Any) -> str:
        return "none" if t.order is None else f"{t.order:.2f}"

    rows = tuple(
        (f"{h:.3g}", f"{a:.3e}", f"{b:.3e}")
        for h, a, b in zip(right.hs, right.remainders, wrong.remainders, strict=False)
    )
    return Section(
        f"{number}. The Taylor test: a check that needs no tolerance",
        (
            Text(
                "Step from the point along a random direction v and compare the loss with its "
                "first-order prediction: R(h) = |L(p + hv) − L(p) − h⟨g, v⟩|. With the right "
                "gradient the first-order terms cancel and R shrinks like h² (halve h, R falls "
                "4×); with a wrong one a term h⟨∇L − g, v⟩ is left and R shrinks like h (2×). "
                f"Below: the handwritten gradient, and {WRONG_FACTOR:g} × it (a dropped factor 2):"
            ),
            Table(("h", "R(h), right", f"R(h), {WRONG_FACTOR:g} × gradient"), rows),
            Figure(svg, "R(h) against h, log–log, with dashed lines of slope 2 and 1."),
            Text(
                f"Observed order: {order(right)} for the handwritten gradient ({right.note.rstrip('.')}); "
                f"{order(wrong)} for {WRONG_FACTOR:g} × it ({wrong.note.rstrip('.')})."
            ),
        ),
    )
