"""Headless Chromium: screenshot report.html, and measure what the browser actually drew.

Chromium runs offline with a fresh profile in a temporary directory, so nothing of the user's
browser is read or changed. Used by ``--screenshot`` and by the browser test.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import struct
import subprocess
import tempfile
import zlib
from html import escape, unescape
from pathlib import Path
from typing import Any

from ..errors import InputError

NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
    "--hide-scrollbars",
    "--force-device-scale-factor=1",
)
TIMEOUT = 60.0

PROBE = """<script>
(() => {
  const plots = [...document.querySelectorAll("figure svg")].map(svg => {
    const marks = [...svg.querySelectorAll("path.series, polyline.series")].map(p => {
      const b = p.getBBox();
      return {series: p.dataset.series || p.dataset.name, length: p.getTotalLength(),
              width: b.width, height: b.height,
              subpaths: ((p.getAttribute("d") || "").match(/M/g) || []).length};
    });
    const r = svg.getBoundingClientRect();
    const plot = svg.dataset.plot || (svg.closest("figure") || {dataset: {}}).dataset.plot;
    return {plot, width: r.width, height: r.height, marks};
  });
  const verdict = document.querySelector("[data-section=verdict]");
  const out = parent.document.createElement("pre");
  out.id = "gdcheck-probe";
  out.textContent = JSON.stringify({
    plots,
    verdict: verdict ? verdict.innerText : null,
    viewport: window.innerWidth,
    scrollWidth: document.documentElement.scrollWidth,
    height: Math.ceil(document.documentElement.scrollHeight),
  });
  parent.document.body.appendChild(out);
})();
</script>"""
"""Runs inside the page (in an iframe of the probe's width) and reports to the parent's DOM."""

HARNESS = (
    '<!DOCTYPE html><html><body style="margin:0">'
    '<iframe style="border:0;width:{width}px;height:{height}px" srcdoc="{page}"></iframe>'
    "</body></html>"
)
"""An iframe sets the page's viewport to any width: Chromium's window is at least 500 px wide."""


class BrowserError(InputError):
    """Chromium is missing or failed: a usage error (the screenshot was asked for), exit 2."""


def find_chromium() -> str | None:
    """Path of a Chromium or Chrome executable on PATH (``$GDCHECK_CHROMIUM`` first), or None."""
    override = os.environ.get("GDCHECK_CHROMIUM")
    if override:
        return shutil.which(override)
    return next((path for name in NAMES if (path := shutil.which(name))), None)


def run_chromium(url_or_path: Path, *args: str, width: int, height: int) -> str:
    """Run headless Chromium on a local file with ``args``; return its stdout."""
    exe = find_chromium()
    if exe is None:
        raise BrowserError(
            "Chromium not found (looked for " + ", ".join(NAMES) + "); install it, e.g. "
            "`apt-get install chromium`, or leave out --screenshot."
        )
    with tempfile.TemporaryDirectory(prefix="gdcheck-chromium-") as profile:
        cmd = [
            exe,
            *FLAGS,
            f"--user-data-dir={profile}",
            f"--window-size={width},{height}",
            *args,
            Path(url_or_path).resolve().as_uri(),
        ]
        try:
            done = subprocess.run(
                cmd, capture_output=True, text=True, timeout=TIMEOUT, cwd=profile, check=False
            )
        except subprocess.TimeoutExpired:
            raise BrowserError(f"Chromium did not finish within {TIMEOUT:g} s.") from None
    if done.returncode != 0:
        tail = done.stderr.strip().splitlines()[-3:]
        raise BrowserError(f"Chromium failed (exit {done.returncode}): {' | '.join(tail)}")
    return done.stdout


def probe(html: Path, width: int = 1000, height: int = 900) -> dict[str, Any]:
    """What the browser drew at a viewport ``width``: each plot's size and marks, the verdict
    text, the page's scroll width and height (``--dump-dom`` of :data:`HARNESS`)."""
    page = html.read_text().replace("</body>", PROBE + "</body>")
    with tempfile.TemporaryDirectory(prefix="gdcheck-probe-") as tmp:
        harness = Path(tmp) / "probe.html"
        harness.write_text(HARNESS.format(width=width, height=height, page=escape(page)))
        dom = run_chromium(harness, "--dump-dom", width=max(width, 500), height=height)
    found = re.search(r'<pre id="gdcheck-probe">(.*?)</pre>', dom, re.S)
    if not found:
        raise BrowserError("Chromium rendered the page but the probe script did not run.")
    return json.loads(unescape(found.group(1)))


def screenshot(html: Path, png: Path, *, width: int = 1000, mark: bytes | None = None) -> Path:
    """Write a full-page PNG of ``html`` at ``width`` CSS pixels (a ``tEXt`` chunk ``mark``
    added) to ``png``, through a temporary file so a failure leaves nothing half-written."""
    height = max(400, int(probe(html, width)["height"]))
    with tempfile.TemporaryDirectory(prefix="gdcheck-shot-") as tmp:
        shot = Path(tmp) / "shot.png"
        run_chromium(html, f"--screenshot={shot}", width=width, height=height)
        if not shot.exists():
            raise BrowserError("Chromium exited without writing the screenshot.")
        data = shot.read_bytes()
        if mark:
            data = _add_text_chunk(data, mark)
        png.write_bytes(data)
    return png


def _add_text_chunk(png: bytes, chunk: bytes) -> bytes:
    """Insert a PNG chunk (type and data in ``chunk``) right after IHDR."""
    end_of_ihdr = 8 + 8 + 13 + 4
    crc = struct.pack(">I", zlib.crc32(chunk) & 0xFFFFFFFF)
    body = struct.pack(">I", len(chunk) - 4) + chunk + crc
    return png[:end_of_ihdr] + body + png[end_of_ihdr:]
