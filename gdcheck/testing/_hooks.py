"""gdcheck's pytest plugin: options, the ``gdcheck`` marker, fixtures, and failure rendering.

Registered through the ``pytest11`` entry point ``gdcheck``, so installing gdcheck is enough;
``-p no:gdcheck`` turns it off. ``gdcheck/__init__.py`` loads its names lazily, so importing
this module runs no NumPy (~0.15 s). It imports only the standard library and pytest; the
fixtures import
:mod:`gdcheck.testing` (and through it NumPy, and JAX or PyTorch when a test asks for
them) the first time a test uses one, so a session that does not use gdcheck pays nothing.

Fixtures
  ``gd_crosscheck(model, *data, **kw)`` — run :func:`gdcheck.crosscheck` on any
  :class:`gdcheck.Model` and its data; fail with its findings.
  ``gd_baseline(model, *data, name=None, **kw)`` — the same, then compare the trajectory with
  its recorded baseline (or record it, with ``--gdcheck-update-baselines``).
  ``gd_settings`` — the resolved backends, dtype and baseline directory of the test.

When ``gdcheck.assert_gradient`` (or a fixture) fails, the report shows gdcheck's diagnosis
at the test's own line, without gdcheck's internal frames (``--fulltrace`` shows them).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

_CALL_PASSED = pytest.StashKey[bool]()
_PROPERTY = "gdcheck_baseline"  # == gdcheck.testing.PROPERTY
_HERE = Path(__file__).resolve().parent  # the gdcheck package: its frames are hidden


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("gdcheck", "gdcheck (handwritten gradients against autodiff)")
    group.addoption(
        "--gdcheck-update-baselines",
        action="store_true",
        default=False,
        help="record the trajectory baselines of the selected tests (gd_baseline) instead of "
        "comparing against them; removes a test's baselines it no longer uses.",
    )
    group.addoption(
        "--gdcheck-baseline-dir",
        default=None,
        metavar="DIR",
        help="directory of trajectory baselines (default: baselines/ beside each test file).",
    )
    group.addoption(
        "--gdcheck-backends",
        default=None,
        metavar="NAMES",
        help="comma-separated backends for gdcheck fixtures: numpy,jax,torch (default: every "
        "installed one); @pytest.mark.gdcheck(backends=...) takes precedence.",
    )
    group.addoption(
        "--gdcheck-dtype",
        default=None,
        choices=("float32", "float64"),
        help="dtype for gdcheck fixtures (default float64); the marker takes precedence.",
    )
    parser.addini(
        "gdcheck_baseline_dir", "default for --gdcheck-baseline-dir (relative to rootdir)"
    )
    parser.addini("gdcheck_backends", "default for --gdcheck-backends")
    parser.addini("gdcheck_dtype", "default for --gdcheck-dtype")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "gdcheck(backends=..., dtype=..., lr=..., steps=..., tolerance=...): configure the "
        "gdcheck fixtures (gd_crosscheck, gd_baseline) of a test, class or module.",
    )
    if not hasattr(config, "workerinput"):  # the xdist controller, or a plain session
        config.pluginmanager.register(_BaselineSummary(), "gdcheck-baseline-summary")


def pytest_report_header(config: pytest.Config) -> str | None:
    if config.getoption("gdcheck_update_baselines"):
        return "gdcheck: recording trajectory baselines (--gdcheck-update-baselines)"
    return None


@pytest.fixture
def gd_settings(request: pytest.FixtureRequest) -> Any:
    """The test's resolved gdcheck settings (marker, then options, then defaults)."""
    from ._plugin import settings_for

    return settings_for(request)


@pytest.fixture
def gd_crosscheck(request: pytest.FixtureRequest) -> Any:
    """``gd_crosscheck(model, *data, **kw)``: cross-check and fail with the findings."""
    from ._plugin import make_crosscheck

    return make_crosscheck(request)


@pytest.fixture
def gd_baseline(request: pytest.FixtureRequest) -> Any:
    """``gd_baseline(model, *data, name=None, **kw)``: cross-check and compare with the baseline."""
    from ._plugin import make_baseline

    item = request.node
    return make_baseline(request, lambda: item.stash.get(_CALL_PASSED, False))


def _is_gdcheck_failure(exc: BaseException) -> bool:
    errors = sys.modules.get("gdcheck.errors")  # not imported: cannot be one of ours
    return (
        errors is not None
        and isinstance(exc, errors.GdcheckError)
        and isinstance(exc, AssertionError)
    )


def _outside_gdcheck(entry: Any) -> bool:
    gdcheck = sys.modules.get("gdcheck")
    roots = [_HERE]
    if gdcheck is not None and getattr(gdcheck, "__file__", None):
        roots.append(Path(gdcheck.__file__).resolve().parent)
    try:
        path = Path(entry.path).resolve()
    except (TypeError, OSError):
        return True
    return not any(path.is_relative_to(root) for root in roots)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    excinfo = call.excinfo
    prune = getattr(item, "_traceback_filter", None)  # pytest's own pruning (private, >= 7.4)
    hide = (
        excinfo is not None
        and prune is not None
        and _is_gdcheck_failure(excinfo.value)
        and not item.config.getoption("fulltrace", False)
    )
    if hide:
        # The message is the diagnosis; gdcheck's own frames would only bury it. Filter
        # after pytest's pruning, which rebuilds the traceback from the raw frames.
        def without_gdcheck(info: Any) -> Any:
            pruned = prune(info)
            kept = pruned.filter(_outside_gdcheck)
            return kept if len(kept) else pruned

        item._traceback_filter = without_gdcheck  # type: ignore[attr-defined]
    try:
        report = yield
    finally:
        if hide:
            del item._traceback_filter  # type: ignore[attr-defined]
    if report.when == "call":
        item.stash[_CALL_PASSED] = report.passed
        if report.failed and excinfo is not None and not _is_gdcheck_failure(excinfo.value):
            for text in _failed_results(excinfo):
                report.sections.append(("gdcheck: the failed check's diagnosis", text))
    return report


def _failed_results(excinfo: Any) -> list[str]:
    """``str()`` of failed gdcheck results held by the failing frames (for ``assert res.passed``)."""
    kinds = tuple(
        getattr(sys.modules.get(module), name, None)
        for module, name in (
            ("gdcheck.check._api", "GradientCheck"),
            ("gdcheck.trajectory._result", "CrossCheckResult"),
        )
    )
    kinds = tuple(k for k in kinds if isinstance(k, type))
    if not kinds or not isinstance(excinfo.value, AssertionError):
        return []
    found: dict[int, Any] = {}
    tb = excinfo.tb
    while tb is not None:
        for value in tb.tb_frame.f_locals.values():
            if isinstance(value, kinds) and getattr(value, "passed", True) is False:
                found.setdefault(id(value), value)
        tb = tb.tb_next
    return [str(v) for v in found.values()]


class _BaselineSummary:
    """Collects what ``gd_baseline`` wrote, from the reports (so it works under xdist too)."""

    def __init__(self) -> None:
        self.records: dict[str, None] = {}

    def pytest_runtest_logreport(self, report: pytest.TestReport) -> None:
        if report.when == "teardown":
            for name, value in report.user_properties:
                if name == _PROPERTY:
                    self.records[str(value)] = None

    def pytest_terminal_summary(self, terminalreporter: Any) -> None:
        if not self.records:
            return
        counts: dict[str, int] = {}
        for record in self.records:
            verb = record.split(" ", 1)[0]
            counts[verb] = counts.get(verb, 0) + 1
        tr = terminalreporter
        tr.write_sep("-", "gdcheck baselines")
        tr.write_line("gdcheck: " + ", ".join(f"{n} {verb}" for verb, n in counts.items()))
        for record in self.records:
            if tr.verbosity > 0 or not record.startswith("unchanged"):
                tr.write_line(f"  {record}")
