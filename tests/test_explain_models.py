"""``gdcheck explain`` for every model: the backward pass matched by numbers, reverse mode, the
sharpness along the run, the Taylor picture, the page in headless Chromium, and a user's file."""

from __future__ import annotations

import json
import os
import re

import numpy as np
import pytest

import gdcheck
from gdcheck.cli import main
from gdcheck.explain import LessonConfig, lesson
from gdcheck.explain._blocks import aligned, display_width
from gdcheck.explain._html import render_html
from gdcheck.explain._lesson import FORMULAS
from gdcheck.explain._mapping import match
from gdcheck.explain._source import handwritten_intermediates
from gdcheck.explain._vjp import vjp_program
from gdcheck.report.browser import find_chromium, run_chromium

SMALL = LessonConfig(reverse_sizes=(10, 100), sharpness_steps=20)

USER_FILE = """
import numpy as np
import gdcheck

def loss(w, X, y):
    xp = gdcheck.namespace(w)
    return xp.sum((X @ w - y) ** 2) / X.shape[0]

def grad(w, X, y):
    r = X @ w - y
    return {wrong} * X.T @ r / X.shape[0]

model = gdcheck.Model(name="mine", loss=loss, grad=grad, init=lambda X, y: np.full(3, 0.1))
rng = np.random.default_rng(0)
X = rng.normal(size=(30, 3))
data = (X, X @ np.array([1.0, -2.0, 0.5]))
lr = 0.1
"""


@pytest.fixture(scope="module")
def mlp_at_p1():
    """The MLP on the spiral data, its program and its matches (fast: no lesson around it)."""
    model = gdcheck.models.mlp(hidden=8)
    X, Y = model.prepare(*gdcheck.data.synthetic("mlp", m=60))
    p = model.init(X, Y)
    g = model.grad(p, X, Y)
    p1 = {k: p[k] - 0.5 * g[k] for k in p}
    program = vjp_program(model.loss, p1, X, Y)
    matches = match(handwritten_intermediates(model.grad, p1, X, Y), program)
    return program, {m.handwritten.label or m.handwritten.text: m for m in matches}


def test_mlp_statements_map_to_the_vjp_nodes_that_compute_them(mlp_at_p1):
    program, found = mlp_at_p1
    nodes = {n.name: n for n in program.nodes}
    top = [m for m in found.values() if m.handwritten.depth == 0]
    assert len(top) == 8 and all(m.found for m in top)
    # δ2 = (P − Y)/m: a backward node, after the VJP of log-softmax and cross-entropy
    g2 = found["G2"]
    assert nodes[g2.nodes[0]].backward
    assert {"mul", "reduce_sum", "div"} <= {nodes[n].primitive for n in g2.computed_by}
    # δ1 = δ2 W2ᵀ ⊙ [z1 > 0]: ReLU's VJP, a product with the saved mask
    g1 = found["G1"]
    assert nodes[g1.nodes[0]].primitive in ("mul", "select_n")
    assert "dot_general" in {nodes[n].primitive for n in g1.computed_by}
    # db = Σ δ: the reduce_sum a broadcast's transpose becomes
    for bias in ("∇b1", "∇b2"):
        assert nodes[found[bias].nodes[0]].primitive == "reduce_sum"
        assert nodes[found[bias].nodes[0]].backward


def test_an_expression_autodiff_never_computes_is_not_found(mlp_at_p1):
    _, found = mlp_at_p1
    probs = [m for t, m in found.items() if t.startswith("softmax_probs(") and t.endswith("])")]
    assert probs and not any(m.found for m in probs)  # JAX keeps log-probabilities, not P


def test_a_wrong_value_is_not_matched_to_a_node():
    model = gdcheck.models.linear_regression()
    X, y = model.prepare(*gdcheck.data.tutorial(seed=0))
    w = np.array([[1.0], [2.0]])
    program = vjp_program(model.loss, w, X, y)

    def half(w, X, y):
        m = X.shape[1]
        return (1 / m) * (X @ (w.T @ X - y).T)

    (top, *_) = match(handwritten_intermediates(half, w, X, y), program)
    assert top.handwritten.depth == 0 and not top.found


@pytest.fixture(scope="module")
def mlp_lesson():
    return lesson("mlp", config=SMALL)


def test_mlp_lesson_states_its_figures(mlp_lesson):
    f = mlp_lesson.facts
    assert f["mapping"]["statements"] == f["mapping"]["statements_mapped"] == 8
    assert f["data"].startswith("scikit-learn's digits (1797 examples")
    s = f["sharpness"]
    assert len(s["lambda_max"]) == len(s["steps"]) >= 2 and s["lambda_max"][0] > 0
    assert s["predicted_lr"] == pytest.approx(2 / s["lambda_max"][0])
    assert s["observed_lr"] is not None and s["observed_lr"] >= s["predicted_lr"]
    assert f["taylor"]["right"]["order"] == pytest.approx(2, abs=0.2)
    assert f["taylor"]["wrong"]["order"] == pytest.approx(1, abs=0.2)
    assert [r["n"] for r in f["reverse_mode"]] == [10, 100]
    assert all(r["jvp_err"] < 1e-12 for r in f["reverse_mode"])


def test_mlp_page_has_the_three_figures_and_prints(mlp_lesson):
    page = render_html(mlp_lesson)
    assert page.count("<svg") == 3
    assert "@media print" in page and "http" not in page.split("<body>")[1].replace(
        "http://www.w3.org", ""
    )
    assert "8 of 8 handwritten statements" in page
    assert re.search(r'data-name="slope 2"', page) and 'data-name="slope 1"' in page


def test_the_formula_block_aligns_by_display_width():
    pre = aligned(FORMULAS)
    starts = set()
    for line, row in zip(pre.text.splitlines(), FORMULAS, strict=True):
        if len(row) > 2 and row[1]:
            starts.add(display_width(line[: line.index(row[1], len(row[0]))]))
    assert len(starts) == 1, starts
    third = {
        display_width(line[: line.rindex(r[2])])
        for line, r in zip(pre.text.splitlines(), FORMULAS, strict=True)
        if len(r) == 3
    }
    assert len(third) == 1, third


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set and Chromium is not installed.")
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    return path


_PROBE = """<script>
const cols = [...document.querySelectorAll('table.formulas tr')].map(
  tr => [...tr.children].map(td => Math.round(td.getBoundingClientRect().left)));
const svgs = [...document.querySelectorAll('figure svg')].map(
  s => s.querySelectorAll('polyline').length);
document.body.insertAdjacentHTML('beforeend', '<pre id="gd' + 'probe">' +
  JSON.stringify({cols, svgs, width: document.documentElement.scrollWidth}) + '</pre>');
</script></body>"""


def test_the_page_in_chromium_aligns_the_formulas_and_draws_the_figures(
    chromium, mlp_lesson, tmp_path
):
    taught = lesson("linear_regression", config=SMALL)
    for name, page in (("linear", render_html(taught)), ("mlp", render_html(mlp_lesson))):
        (tmp_path / f"{name}-page.html").write_text(page, encoding="utf-8")
        path = tmp_path / f"{name}.html"
        path.write_text(page.replace("</body>", _PROBE), encoding="utf-8")
        dom = run_chromium(path, "--dump-dom", "--virtual-time-budget=2000", width=1000, height=900)
        found = json.loads(re.search(r'<pre id="gdprobe">(.*?)</pre>', dom, re.S).group(1))
        assert found["svgs"] and all(n >= 1 for n in found["svgs"]), found["svgs"]
        assert found["width"] <= 1000
        if name == "linear":
            rows = [r for r in found["cols"] if len(r) == 3]
            assert len({r[1] for r in rows}) == 1 and len({r[2] for r in rows}) == 1, rows


def test_explain_a_users_file(tmp_path, capsys):
    path = tmp_path / "mine.py"
    path.write_text(USER_FILE.format(wrong=2), encoding="utf-8")
    assert main(["explain", str(path), "-q"]) == 0
    out = capsys.readouterr().out
    assert "gdcheck explain — mine on your data" in out
    assert "2 of 2 handwritten statements and" in out


def test_explain_a_users_file_with_a_wrong_gradient_says_not_found(tmp_path):
    path = tmp_path / "mine.py"
    path.write_text(USER_FILE.format(wrong=3), encoding="utf-8")
    ns: dict = {}
    exec(compile(path.read_text(), str(path), "exec"), ns)
    taught = lesson(ns["model"], data=ns["data"], lr=0.1, config=SMALL)
    assert taught.facts["mapping"]["not_found"][0].startswith("3 * X.T @ r")


def test_a_file_without_model_is_one_line_and_exit_2(tmp_path, capsys):
    path = tmp_path / "empty.py"
    path.write_text("data = (1,)\n", encoding="utf-8")
    assert main(["explain", str(path)]) == 2
    err = capsys.readouterr().err
    assert "does not define model; it must define model (a gdcheck.Model)" in err
    assert "Traceback" not in err


@pytest.mark.parametrize("name", ["ridge", "logistic_regression", "softmax_regression"])
def test_every_models_page_renders_in_chromium_with_its_figures(chromium, name, tmp_path):
    """The other models' pages (the tutorial's and the MLP's are checked above)."""
    page = render_html(lesson(name, config=SMALL))
    path = tmp_path / f"{name}.html"
    path.write_text(page.replace("</body>", _PROBE), encoding="utf-8")
    dom = run_chromium(path, "--dump-dom", "--virtual-time-budget=2000", width=1000, height=900)
    found = json.loads(re.search(r'<pre id="gdprobe">(.*?)</pre>', dom, re.S).group(1))
    assert found["svgs"] and all(n >= 1 for n in found["svgs"]), found["svgs"]
    assert found["width"] <= 1000  # printable: nothing wider than the page
    assert f"gdcheck explain — {name}" in dom
