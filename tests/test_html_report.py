"""report.html, the SVG plots and report.md's plot links, read structurally (no browser).

Browser rendering is in test_browser.py; the ``gdcheck report`` command in test_report_command.py.
"""

from __future__ import annotations

import copy
import dataclasses
import re
import sys
import xml.etree.ElementTree as ET
from html.parser import HTMLParser

import numpy as np
import pytest

import gdcheck
from gdcheck.errors import InputError
from gdcheck.models import _linear
from gdcheck.report.files import save_report
from gdcheck.report.html import render_fragment, render_html
from gdcheck.report.plots import log_axis, report_plots
from gdcheck.report.svg import render_svg

PLOTS = ("gradient-error", "drift", "loss")
SECTIONS = ("verdict", "plots", "weights", "backends", "drift", "environment")


MISSING_TWO = dataclasses.replace(
    gdcheck.models.linear_regression(), grad=lambda w, X, y: 0.5 * _linear.gradient(w, X, y)
)
"""The classic slip: the gradient without its factor 2."""


class Page(HTMLParser):
    """Every start tag with its attributes and its offset in the source, and all text."""

    def __init__(self, source: str) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None], int]] = []
        self.text: list[str] = []
        self._lines = [0]
        for line in source.splitlines(keepends=True):
            self._lines.append(self._lines[-1] + len(line))
        self.feed(source)

    def handle_starttag(self, tag, attrs):
        line, col = self.getpos()
        self.tags.append((tag, dict(attrs), self._lines[line - 1] + col))

    def handle_data(self, data):
        self.text.append(data)

    def find(self, tag: str, **attrs: str) -> list[tuple[str, dict, int]]:
        return [
            t for t in self.tags if t[0] == tag and all(t[1].get(k) == v for k, v in attrs.items())
        ]


def _run(model=None, **kw):
    X, y = gdcheck.data.tutorial(seed=0)
    return gdcheck.crosscheck(model or gdcheck.models.linear_regression(), X, y, **kw)


@pytest.fixture(scope="module")
def passing():
    return _run(steps=200)


@pytest.fixture(scope="module")
def report(passing):
    return passing.to_dict()


@pytest.fixture(scope="module")
def failing():
    return _run(MISSING_TWO, steps=50, backends=("numpy", "torch")).to_dict()


def _figure_svgs(html: str) -> dict[str, str]:
    """Each ``<figure data-plot=…>``'s SVG source, by plot key."""
    found = re.findall(r'<figure data-plot="([^"]+)">(<svg.*?</svg>)', html, re.S)
    return dict(found)


def test_sections_are_present_and_the_verdict_comes_first(report):
    html = render_html(report)
    page = Page(html)
    order = [a["data-section"] for _, a, _ in page.find("section")]
    assert order[0] == "verdict"
    for key in SECTIONS:
        assert key in order, f"section {key!r} missing from report.html"
    first_svg = page.find("svg")[0][2]
    assert html.index(report["verdict"]["text"][len("PASS") :]) < first_svg
    assert page.find("div", **{"class": "verdict pass"}), "the verdict box is not marked pass"


def test_one_svg_per_plot_each_with_drawn_marks(report):
    html = render_html(report)
    svgs = _figure_svgs(html)
    assert sorted(svgs) == sorted([*PLOTS, "taylor"])  # the per-step plots, then the Taylor test
    assert html.count("<svg") == len(PLOTS) + 1
    taylor = svgs.pop("taylor")
    assert 'data-name="your gradient"' in taylor and 'data-name="slope 2 (right)"' in taylor
    expected = {"gradient-error": {"jax", "torch"}, "drift": {"jax", "torch"}}
    expected["loss"] = {"numpy", "jax", "torch"}
    for key, svg in svgs.items():
        paths = re.findall(r'<path class="series" data-series="([^"]+)" d="([^"]*)"', svg)
        assert {name for name, _ in paths} == expected[key], key
        for name, d in paths:
            coords = re.findall(r"-?\d+(?:\.\d+)?", d)
            assert len(coords) >= 2 * 200, f"{key}/{name}: only {len(coords) // 2} points drawn"
        assert 'class="rule"' in svg or key == "loss", f"{key} has no tolerance line"


def test_the_tolerance_is_drawn_at_its_value(report):
    plot = next(p for p in report_plots(report) if p.key == "gradient-error")
    tolerance = report["backends"]["jax"]["tolerance"]["gradient"]
    assert [r.value for r in plot.rules] == [tolerance]
    svg = render_svg(plot)
    rule_y = float(re.search(r'<line class="rule" x1="[\d.]+" y1="([\d.]+)"', svg).group(1))
    ticks = {
        label: float(y) for y, label in re.findall(r'y="([\d.]+)" text-anchor="end">([^<]+)<', svg)
    }
    below, above = (f"1e{int(np.floor(np.log10(tolerance))) + k}" for k in (0, 1))
    # a label sits 5 px below its tick line
    assert ticks[above] - 5 < rule_y < ticks[below] - 5, "tolerance line not between its decades"


def test_a_tolerance_widened_by_matmul_precision_is_drawn_dotted(report):
    gpu = copy.deepcopy(report)
    gpu["backends"]["jax"]["tolerance"]["gradient_with_precision"] = 5e-5
    rules = next(p for p in report_plots(gpu) if p.key == "gradient-error").rules
    assert [(r.value, r.dash) for r in rules] == [
        (report["backends"]["jax"]["tolerance"]["gradient"], "7 4"),
        (5e-5, "2 3"),
    ]
    assert "matmul precision (jax)" in rules[1].label


@pytest.mark.parametrize(
    ("values", "lowest", "zero"),
    [([1e-16, 3e300], "1e-16", False), ([0.0, 2e-17, 4e-15], "0", True), ([5.0], "1e0", False)],
)
def test_log_axis_ticks_stay_few_and_cover_the_data(values, lowest, zero):
    axis = log_axis(values)
    assert 2 <= len(axis.ticks) <= 9
    assert axis.ticks[0][1] == lowest and axis.zero is zero
    assert all(axis.lo <= v <= axis.hi for v in values if v > 0)
    assert [axis.place(v) for v in (axis.lo, axis.hi)] == [0.0, 1.0]


def test_the_page_is_self_contained(report):
    html = render_html(report)
    page = Page(html)
    for tag, attrs, _ in page.tags:
        for name in ("src", "href", "srcset", "action", "data"):
            value = attrs.get(name) or ""
            assert "http" not in value and not value.startswith("//"), f"<{tag} {name}={value!r}>"
    assert not page.find("script") and not page.find("link") and not page.find("img")
    assert "url(" not in html and "@import" not in html
    assert "http" not in html, "report.html mentions a URL"


def test_a_failing_report_shows_the_diagnosis_first(failing):
    html = render_html(failing)
    page = Page(html)
    assert page.find("div", **{"class": "verdict fail"})
    sections = [a["data-section"] for _, a, _ in page.find("section")]
    assert sections[:3] == ["verdict", "diagnosis", "plots"]
    message = failing["verdict"]["findings"][0]["message"]
    assert message.startswith("torch vs numpy")
    from html import escape

    assert escape(message) in html


def test_text_from_the_report_is_escaped(report):
    hostile = copy.deepcopy(report)
    hostile["notes"] = ['<script>alert("x")</script> & <b>bold</b>']
    hostile["config"]["model"] = "<img src=x onerror=alert(1)>"
    html = render_html(hostile)
    assert "<script>" not in html and "<img" not in html and "<b>" not in html
    assert "&lt;script&gt;" in html and "&amp;" in html


def test_environment_names_versions_device_dtype_and_precision(report):
    env = _section_text(render_html(report), "environment")
    for key in ("numpy", "blas", "jax", "torch"):
        assert report["environment"][key] in env, key
    for b in report["backends"].values():
        for key in ("device", "dtype", "matmul_precision"):
            assert b["info"][key] in env, key


def test_final_weights_are_tabled_against_least_squares(report):
    weights = _section_text(render_html(report), "weights")
    assert "least squares w*" in weights
    assert f"{report['analysis']['least_squares'][1]:.10g}" in weights
    assert f"{report['backends']['torch']['trajectory']['final_weights'][1]:.10g}" in weights


def _section_text(html: str, key: str) -> str:
    start = html.index(f'<section data-section="{key}">')
    return html[start : html.index("</section>", start)]


def test_zeros_sit_on_a_labelled_floor_and_gaps_break_the_line(report):
    odd = copy.deepcopy(report)
    drift = odd["series"]["jax"]["drift"]
    drift[10:20] = [0.0] * 10
    drift[50:60] = [None] * 10
    plot = next(p for p in report_plots(odd) if p.key == "drift")
    svg = render_svg(plot)
    d = re.search(r'data-series="jax" d="([^"]*)"', svg).group(1)
    assert d.count("M") == 2, "a run of None must start a new subpath"
    assert ">0</text>" in svg, "the zero floor is not labelled"


def test_a_diverged_run_still_draws(tmp_path):
    report = _run(lr=100.0, steps=200, backends=("numpy",)).to_dict()
    assert report["verdict"]["passed"] is False
    assert None in report["series"]["numpy"]["loss"]
    html = render_html(report)
    drawn = list(_figure_svgs(html))
    assert drawn == ["loss", "taylor"], "with the reference alone only the loss is drawn per step"
    assert re.search(r'<path class="series" data-series="numpy" d="M[\d.]+ [\d.]+L', html)


def test_every_plot_file_is_linked_from_markdown_and_is_valid_svg(passing, tmp_path):
    written = passing.save(tmp_path)
    md = (tmp_path / "report.md").read_text()
    for key in PLOTS:
        path = tmp_path / f"plot-{key}.svg"
        assert written[f"plot-{key}"] == path
        assert f"(plot-{key}.svg)" in md
        root = ET.parse(path).getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"
        assert root.findall(".//{http://www.w3.org/2000/svg}path")
    assert "## Final weights against the closed-form optimum" in md
    assert written["html"].read_text().startswith("<!DOCTYPE html>")


def test_a_plot_that_no_longer_applies_is_removed(passing, tmp_path):
    passing.save(tmp_path)
    _run(steps=20, backends=("numpy",)).save(tmp_path)
    assert not (tmp_path / "plot-drift.svg").exists()
    assert "plot-drift.svg" not in (tmp_path / "report.md").read_text()


@pytest.mark.parametrize("name", ["report.html", "plot-loss.svg", "report.md"])
def test_save_refuses_to_overwrite_a_file_gdcheck_did_not_write(report, tmp_path, name):
    (tmp_path / name).write_text("mine\n")
    with pytest.raises(InputError, match=f"{name} exist.*not written by gdcheck"):
        save_report(report, tmp_path)
    assert (tmp_path / name).read_text() == "mine\n"
    assert not (tmp_path / "report.json").exists(), "wrote the JSON before refusing"


def test_result_displays_itself_in_jupyter(passing):
    fragment = passing._repr_html_()
    assert fragment.startswith("<style>") and '<div class="gdr">' in fragment
    assert "<html" not in fragment and "<body" not in fragment
    assert fragment.count("<svg") == len(PLOTS) + 1  # and the Taylor test
    assert re.search(r"<style>[^<]*\.gdr\{", fragment)
    report = passing.to_dict()
    assert report["verdict"]["text"][len("PASS") :] in fragment
    assert render_fragment(report) in render_html(report), "the page wraps the same fragment"


def test_plot_returns_a_matplotlib_figure(passing):
    pytest.importorskip("matplotlib")
    from matplotlib.figure import Figure

    fig = passing.plot()
    assert isinstance(fig, Figure)
    axes = fig.get_axes()
    assert [ax.get_yscale() for ax in axes] == ["log"] * 3
    error_ax = axes[0]
    assert {line.get_label() for line in error_ax.get_lines()} >= {"jax", "torch"}
    tolerance = passing.runs["jax"].tolerance.grad
    assert any(np.allclose(line.get_ydata(), tolerance) for line in error_ax.get_lines())


def test_plot_without_matplotlib_names_the_install(passing, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install 'gdcheck\[report\]'"):
        passing.plot()
