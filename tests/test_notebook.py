"""The example notebook runs top to bottom, and its cells display what they promise.

``gdcheck/examples/lesson.ipynb`` is executed with nbclient (a fresh kernel); the check, the
cross-check and the lesson each display as HTML. Skipped only when nbclient, nbformat or
ipykernel cannot be imported (``pip install nbclient nbformat ipykernel``).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip(
    "nbformat", reason="nbformat is not installed (pip install nbformat)"
)
nbclient = pytest.importorskip(
    "nbclient", reason="nbclient is not installed (pip install nbclient)"
)
pytest.importorskip("ipykernel", reason="ipykernel is not installed (pip install ipykernel)")

NOTEBOOK = Path(__file__).resolve().parents[1] / "gdcheck" / "examples" / "lesson.ipynb"


@pytest.fixture(scope="module")
def executed():
    nb = nbformat.read(NOTEBOOK, as_version=4)
    nbclient.NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return [c for c in nb.cells if c.cell_type == "code"]


def _html(cell) -> str:
    found = [o["data"]["text/html"] for o in cell.outputs if "text/html" in o.get("data", {})]
    assert found, f"cell displayed no HTML: {cell.source[:60]!r}"
    return found[-1]


def test_every_cell_ran_without_an_error(executed):
    for cell in executed:
        assert all(o.output_type != "error" for o in cell.outputs), cell.source[:80]


def test_the_check_prints_a_short_repr_and_displays_its_verdict(executed):
    cell = executed[1]
    printed = "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")
    assert printed.startswith("GradientCheck(passed=True")
    assert len(printed.strip()) < 120
    page = _html(cell)
    assert "gradient check passed" in page
    assert re.search(r"<td>params</td><td>\d\.\d{3}e[-+]\d+</td>", page)


def test_the_crosscheck_displays_its_report(executed):
    page = _html(executed[2])
    assert "jax" in page and "<svg" in page


def test_the_lesson_displays_its_sections_and_figures(executed):
    page = _html(executed[3])
    assert page.startswith('<div class="gdcheck-lesson">')
    for title in ("The backward pass, node by node", "Why reverse mode", "The Taylor test"):
        assert title in page
    assert page.count("<svg") >= 3
    assert "2 of 2 handwritten statements" in page
