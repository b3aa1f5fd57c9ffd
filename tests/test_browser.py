"""report.html in a real browser: headless Chromium, offline, with a fresh profile.

From the DOM (``--dump-dom`` of the page with a probe script) and from a screenshot: the page is
not blank, every plot has drawn marks, and nothing overflows at phone width. Skipped only when
Chromium is absent; with ``CI`` set, its absence fails instead.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

import gdcheck
from gdcheck.cli import main
from gdcheck.report.browser import FLAGS, find_chromium, probe
from gdcheck.report.files import PNG_MARK
from gdcheck.report.plots import COLORS

EXPECTED = {
    "gradient-error": {"jax", "torch"},
    "drift": {"jax", "torch"},
    "loss": {"numpy", "jax", "torch"},
    "taylor": {"your gradient", "slope 2 (right)", "slope 1 (wrong)"},  # the Taylor test at w0
}


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        message = "Chromium is not installed (apt-get install chromium); .ci/run installs it"
        if os.environ.get("CI"):
            pytest.fail(f"CI is set and {message}.")
        pytest.skip(message)
    return path


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    X, y = gdcheck.data.tutorial(seed=0)
    run = gdcheck.crosscheck(gdcheck.models.linear_regression(), X, y, steps=200)
    directory = tmp_path_factory.mktemp("browser")
    run.save(directory)
    return directory


def test_chromium_runs_offline_with_a_fresh_profile():
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"):
        assert flag in FLAGS
    for flag in (
        "--disable-component-update",
        "--disable-sync",
        "--no-first-run",
        "--disable-quic",
    ):
        assert flag in FLAGS


@pytest.mark.parametrize("width", [1000, 360], ids=["desktop", "phone"])
def test_every_plot_has_drawn_marks(chromium, saved, width):
    seen = probe(saved / "report.html", width=width)
    assert seen["verdict"].startswith("PASS"), seen["verdict"]
    assert {p["plot"] for p in seen["plots"]} == set(EXPECTED)
    for plot in seen["plots"]:
        assert plot["width"] > 0.8 * min(width - 40, 640) and plot["height"] > 100, plot
        assert {m["series"] for m in plot["marks"]} == EXPECTED[plot["plot"]], plot["plot"]
        for mark in plot["marks"]:
            drawn = mark["length"] > 100 or mark["subpaths"] > 100  # a line, or dots
            assert drawn and mark["width"] > 100, f"{plot['plot']}/{mark['series']}: {mark}"
    assert seen["scrollWidth"] <= seen["viewport"], "the page scrolls sideways at this width"


def test_the_screenshot_shows_the_page_and_its_plots(chromium, saved, capsys):
    from PIL import Image

    assert main(["report", str(saved), "--screenshot", "--quiet"]) == 0
    png = saved / "report.png"
    assert PNG_MARK in png.read_bytes()[:200], "screenshot not marked as gdcheck's"
    with Image.open(png) as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    height, width, _ = pixels.shape
    assert width == 1000 and height > 1500, "not a full-page screenshot"
    ink = (pixels < 200).any(axis=2).mean()
    assert ink > 0.02, f"the page looks blank: {ink:.1%} of pixels are not white"
    for name in ("jax", "torch"):
        rgb = np.array([int(COLORS[name][i : i + 2], 16) for i in (1, 3, 5)])
        count = (np.abs(pixels - rgb).sum(axis=2) < 40).sum()
        assert count > 1000, f"{name}'s colour covers only {count} pixels: its marks are missing"


# --- the four pages a person reads (issue 12) ---------------------------------------------------

SCREENSHOTS = Path(__file__).resolve().parent / "screenshots"
PAGES = {
    # name: (argv for gdcheck, the verdict's first word, the convergence verdict's start)
    "passing": (["demo", "--steps", "200"], "PASS", "NOT CONVERGED after 200 steps"),
    "diverged": (["demo", "--lr", "1.0", "--steps", "1000"], "FAIL", "NOT CONVERGED — the run"),
    "float32": (["demo", "--dtype", "float32", "--steps", "2000"], "PASS", "NOT CONVERGED"),
    "breast_cancer": (["run", "--dataset", "breast_cancer", "--steps", "100"], "PASS", "NOT"),
}


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    root = tmp_path_factory.mktemp("pages")
    for name, (argv, *_rest) in PAGES.items():
        main([*argv, "--out", str(root / name), "--quiet"])
    return root


@pytest.mark.parametrize("name", list(PAGES))
def test_page_dom_facts(chromium, pages, name):
    _, word, convergence = PAGES[name]
    html = (pages / name / "report.html").read_text()
    seen = probe(pages / name / "report.html", width=1000)
    assert seen["verdict"].startswith(word), seen["verdict"]
    assert '<div class="verdict' in html and 'data-verdict="convergence"' in html
    assert f'<span class="badge">{convergence.split(" —")[0].split(" after")[0]}' in html
    assert "diagnosis: —" not in html, "an empty diagnosis bullet"
    assert "not used: not loaded" not in html
    assert seen["scrollWidth"] <= seen["viewport"]
    if name == "diverged":  # the x axis ends where the run stopped (step 743), not at 1,000
        assert ">1,000</text>" not in html and "off the scale" in html
    if name == "breast_cancer":
        assert "w[29]" in html and "Features: 30, standardised" in html


@pytest.mark.parametrize("name", list(PAGES))
def test_committed_screenshots_are_not_blank(name):
    from PIL import Image

    with Image.open(SCREENSHOTS / f"{name}.png") as image:
        pixels = np.asarray(image.convert("RGB")).astype(int)
    height, width, _ = pixels.shape
    assert width == 1000 and height > 1500, f"{name}.png is not a full-page screenshot"
    ink = (pixels < 200).any(axis=2).mean()
    assert ink > 0.02, f"{name}.png looks blank: {ink:.1%} of pixels are not white"
