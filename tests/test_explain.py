"""``gdcheck explain``: every claim the lesson makes is checked here against an independent source."""

from __future__ import annotations

import dataclasses
import importlib.util
import io
import re

import numpy as np
import pytest

import gdcheck
from gdcheck.backends.jax_backend import JaxBackend
from gdcheck.backends.torch_backend import TorchBackend
from gdcheck.cli import main
from gdcheck.explain import _jaxpr
from gdcheck.explain import _lesson as explain
from gdcheck.explain import _terminal as lesson_terminal
from gdcheck.explain._html import render_html
from gdcheck.report import terminal

HAS_JAX = importlib.util.find_spec("jax") is not None
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_jax = pytest.mark.skipif(not HAS_JAX, reason="jax not installed")
needs_torch = pytest.mark.skipif(not HAS_TORCH, reason="torch not installed")


@pytest.fixture(scope="module")
def taught() -> explain.Lesson:
    return explain.lesson(config=explain.LessonConfig(reverse_sizes=(10, 100)))


@pytest.fixture(scope="module")
def text(taught: explain.Lesson) -> str:
    return lesson_terminal.lesson_text(taught, width=10_000)  # unwrapped, to match whole phrases


@pytest.fixture(scope="module")
def tutorial() -> tuple[np.ndarray, np.ndarray]:
    X, y = gdcheck.data.tutorial(seed=0)
    return gdcheck.models.linear_regression().prepare(X, y)


def _section(taught: explain.Lesson, number: int) -> str:
    return lesson_terminal.lesson_text(
        explain.Lesson("", (taught.sections[number - 1],)), width=10_000
    )


def test_the_cost_and_its_derivative_are_written_out(taught):
    first = _section(taught, 1)
    assert "C(w) = (1/m) Σⱼ rⱼ²" in first
    assert "dC/dw = (2/m)·X(ŷ − y)ᵀ" in first
    assert "X is (2, 500) and w is (2, 1)" in first


@needs_jax
def test_the_jaxpr_is_mapped_to_the_formula(taught):
    jax_facts = taught.facts["jax"]
    assert jax_facts["primitives"].count("dot_general") == 2
    labels = jax_facts["labels"]
    # forward pass, then the backward pass ending in the handwritten formula
    for part in ("ŷ", "r", "r²", "Σr²", "C", "1/m", "(2/m)·r", "(2/m)·rXᵀ", "(2/m)·Xrᵀ"):
        assert part in labels, part
    assert labels[-1] == "(2/m)·Xrᵀ" and jax_facts["matches_formula"] is True
    section = _section(taught, 2)
    assert "dot_general" in section and "{ lambda ;" in section  # the jaxpr itself is shown
    assert re.search(r"dot_general \w+ \w+\s+\(2/m\)·rXᵀ", section)
    assert "JAX's program computes exactly the handwritten formula" in section


@needs_jax
def test_jaxpr_labels_come_from_the_program_not_from_a_fixed_list():
    """A cost with a bug (a sum, not a mean) is labelled differently, and does not match."""

    def summed(w, X, y):
        xp = gdcheck.namespace(w)
        return xp.sum((xp.matrix_transpose(w) @ X - y) ** 2)

    model = gdcheck.models.linear_regression()
    X, y = model.prepare(*gdcheck.data.tutorial(seed=0))
    variant = dataclasses.replace(model, loss=summed)
    section, _numbers, facts = _jaxpr.jax_section(variant, np.zeros((2, 1)), X, y)
    assert facts["matches_formula"] is False
    assert "(2/m)·Xrᵀ" not in facts["labels"] and "2·Xrᵀ" in facts["labels"]
    said = lesson_terminal.lesson_text(explain.Lesson("", (section,)), width=10_000)
    assert "The last line is 2·Xrᵀ, not (2/m)·Xrᵀ" in said


@needs_torch
def test_the_torch_graph_lists_the_nodes_torch_recorded(taught, tutorial):
    import torch

    X, y = tutorial
    w = torch.zeros((2, 1), dtype=torch.float64, requires_grad=True)
    loss = gdcheck.models.linear_regression().loss(w, torch.from_numpy(X), torch.from_numpy(y))
    found, stack = [], [loss.grad_fn]
    while stack:
        node = stack.pop()
        if node is not None:
            found.append(type(node).__name__)
            stack.extend(child for child, _ in reversed(node.next_functions))
    assert taught.facts["torch"]["nodes"] == found
    assert {"PowBackward0", "MmBackward0", "AccumulateGrad"} <= set(found)
    section = _section(taught, 3)
    for name in found:
        assert name in section
    assert "AccumulateGrad   → w.grad" in section
    assert "exponent=2" in section  # what PowBackward0 saved, read from the node


def test_the_first_step_agrees_across_backends(taught, tutorial):
    X, y = tutorial
    model = gdcheck.models.linear_regression()
    expected = model.grad(np.zeros((2, 1)), X, y).ravel()
    step = taught.facts["first_step"]
    assert taught.facts["first_step_backends"][0] == "numpy"
    for name, numbers in step.items():
        np.testing.assert_allclose(numbers["grad"], expected, rtol=1e-13, err_msg=name)
        np.testing.assert_allclose(numbers["residual"][:3], -y.ravel()[:3], rtol=0)
    table = _section(taught, 4)
    assert f"{expected[0]:.17g}" in table and f"{y.ravel()[0]:.10g}" in table


def test_the_eigenvalues_printed_are_numpys(taught, text, tutorial):
    X, _ = tutorial
    lam = np.linalg.eigvalsh((2 / X.shape[1]) * X @ X.T)
    printed = [float(v) for v in re.findall(r"λ\d = ([0-9.e+-]+)", text)]
    np.testing.assert_allclose(printed, lam, rtol=1e-5)
    bound = float(re.search(r"2/λmax = 2/[0-9.]+ = ([0-9.]+)", text).group(1))
    assert bound == pytest.approx(2 / lam.max(), rel=1e-3)
    assert 0.75 < bound < 0.80  # the tutorial's data


def _diverges_at(lr: float, X: np.ndarray, y: np.ndarray) -> int | None:
    """An independent gradient descent: the first step whose cost is not finite."""
    w = np.zeros((2, 1))
    with np.errstate(all="ignore"):
        for k in range(explain.STEPS + 1):
            r = w.T @ X - y
            if not np.isfinite(np.sum(r**2) / X.shape[1]):
                return k
            w = w - lr * (2 / X.shape[1]) * X @ r.T
    return None


def test_lr_100_is_seen_to_diverge_at_the_predicted_step(taught, text, tutorial):
    X, y = tutorial
    step = _diverges_at(100.0, X, y)
    assert step is not None
    run = taught.facts["runs"][100.0]
    assert run["observed"]["diverged_at"] == step
    assert run["predicted"]["converges"] is False
    assert abs(run["predicted"]["step"] - step) <= 1
    assert f"diverged: cost inf/NaN at step {step}" in text
    for name in set(taught.facts["first_step_backends"]) - {"numpy"}:
        assert run["autodiff"][name] == step  # JAX and PyTorch, each with its own optimizer


def test_the_converging_rates_converge_where_predicted(taught, text):
    for lr in (0.01, 0.5):
        run = taught.facts["runs"][lr]
        assert run["observed"]["diverged_at"] is None
        assert run["predicted"]["converges"] is True
        assert run["observed"]["step"] == run["predicted"]["step"]
        assert f"converged at step {run['observed']['step']:,}" in text
    # 0.5 is much faster than the tutorial's 0.01
    assert (
        taught.facts["runs"][0.5]["observed"]["step"] * 10
        < taught.facts["runs"][0.01]["observed"]["step"]
    )


def test_unknown_model_is_one_line_and_exit_2(capsys):
    assert main(["explain", "--model", "logistic"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("gdcheck: error: unknown model 'logistic'")
    assert "linear_regression" in lines[0] and "Traceback" not in captured.err


def test_negative_seed_is_one_line_and_exit_2(capsys):
    assert main(["explain", "--seed", "-1"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["gdcheck: error: seed must be a non-negative integer, got -1."]


def test_html_page_is_self_contained(taught, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(explain, "lesson", lambda *a, **k: taught)
    monkeypatch.chdir(tmp_path)
    assert main(["explain", "--html"]) == 0
    page = (tmp_path / "explain.html").read_text(encoding="utf-8")
    assert "explain.html" in capsys.readouterr().out
    assert page.startswith("<!doctype html>") and page.rstrip().endswith("</html>")
    for outside in ("http://", "https://", "<script", "<link", "src=", "@import", "url("):
        assert outside not in page, outside
    for section in taught.sections:
        assert section.title in page
    assert "<svg" in page and "<polyline" in page  # the cost curves
    assert "diverged: cost inf/NaN at step" in page
    assert main(["explain", "--html", str(tmp_path / "lesson.html")]) == 0
    assert (tmp_path / "lesson.html").read_text(encoding="utf-8") == page


def test_html_to_a_missing_folder_is_one_line_and_exit_2(taught, tmp_path, monkeypatch, capsys):
    monkeypatch.setattr(explain, "lesson", lambda *a, **k: taught)
    assert main(["explain", "--html", str(tmp_path / "nope" / "x.html")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "does not exist" in err[0]


def test_html_escapes_the_lesson(taught):
    page = render_html(taught)
    assert "<lambda" not in page and "{ lambda ;" in page  # the jaxpr text, escaped where needed
    assert "&lt;" in render_html(
        explain.Lesson("t", (explain.Section("s", (explain.Text("a<b"),)),))
    )


def test_without_jax_and_torch_the_lesson_still_teaches(monkeypatch):
    monkeypatch.setattr(JaxBackend, "is_available", lambda self: False)
    monkeypatch.setattr(TorchBackend, "is_available", lambda self: False)
    taught = explain.lesson(config=explain.LessonConfig(reverse_sizes=(10, 100)))
    text = lesson_terminal.lesson_text(taught, width=10_000)
    assert "jax is not installed" in text and JaxBackend.install_hint in text
    assert "torch is not installed" in text and TorchBackend.install_hint in text
    assert taught.facts["first_step_backends"] == ["numpy"]
    assert taught.facts["runs"][100.0]["observed"]["diverged_at"] is not None
    assert "λ1 = " in text


def test_lesson_prints_as_plain_text_without_rich(taught, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "rich", None)  # as if rich were not installed
    assert not terminal.rich_available()
    out = io.StringIO()
    lesson_terminal.print_lesson(taught, file=out)
    printed = out.getvalue()
    assert printed == lesson_terminal.lesson_text(taught)
    assert "\x1b" not in printed and "1. The cost and its derivative" in printed


# Each section builder depends only on the blocks; the lesson assembles them; nothing imports up.
_EXPLAIN_IMPORTS = {
    "_blocks": set(),
    "_jaxpr": {"_blocks"},
    "_torch_graph": {"_blocks"},
    "_first_step": {"_blocks"},
    "_lr": {"_blocks"},
    "_html": {"_blocks"},
    "_lesson": {
        "_blocks",
        "_notebook",
        "_jaxpr",
        "_torch_graph",
        "_first_step",
        "_lr",
        "_backward",
        "_model_lesson",
        "_reverse",
        "_taylor_picture",
    },
    "__init__": {"_html", "_lesson"},
    # the backward pass matched by numbers: source and program below, the matching on both
    "_source": set(),
    "_vjp": set(),
    "_mapping": {"_source", "_vjp"},
    "_backward": {"_blocks", "_source", "_vjp", "_mapping"},
    # the figures' sections draw through gdcheck.report.chart (shared with the report)
    "_reverse": {"_blocks"},
    "_sharpness": {"_blocks"},
    "_taylor_picture": {"_blocks"},
    "_model_lesson": {
        "_blocks",
        "_notebook",
        "_backward",
        "_first_step",
        "_reverse",
        "_sharpness",
        "_taylor_picture",
    },
    "_notebook": {"_blocks", "_html"},
    "_terminal": {"_blocks"},
}


def test_explain_modules_are_small_and_import_one_way():
    import ast
    from pathlib import Path

    folder = Path(explain.__file__).parent
    found = {p.stem for p in folder.glob("*.py")}
    assert found == set(_EXPLAIN_IMPORTS), found ^ set(_EXPLAIN_IMPORTS)
    for stem, allowed in _EXPLAIN_IMPORTS.items():
        source = (folder / f"{stem}.py").read_text(encoding="utf-8")
        assert len(source.splitlines()) <= 400, stem
        siblings = {
            (node.module or "").split(".")[0]
            for node in ast.walk(ast.parse(source))
            if isinstance(node, ast.ImportFrom) and node.level == 1
        }
        assert siblings == allowed, (stem, siblings)
