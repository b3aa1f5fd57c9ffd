"""What the pytest plugin's fixtures do: cross-check in a test, and guard trajectories with baselines.

The plugin itself (options, marker, fixtures, report hooks) is :mod:`gdcheck.testing._hooks`, the
``pytest11`` entry point; it imports this module only when a test asks for a gdcheck fixture,
so a test session that does not use gdcheck never imports NumPy, JAX or PyTorch.

Settings come from, in order of precedence: the fixture call's keyword arguments, the
``@pytest.mark.gdcheck(...)`` marker, the ``--gdcheck-*`` command-line options, the
``gdcheck_*`` ini options, and :func:`gdcheck.crosscheck`'s defaults.

Both fixtures take any :class:`gdcheck.Model` and its data, as :func:`gdcheck.crosscheck`
does: ``gd_baseline(model, *data, lr=…, optimizer=gdcheck.optim.adam())``.

Example (a test file)::

    import gdcheck, pytest

    @pytest.mark.gdcheck(backends=("numpy", "torch"), steps=200)
    def test_trajectory(gd_baseline):
        X, y = gdcheck.data.synthetic("mlp", seed=0)
        gd_baseline(gdcheck.models.mlp(hidden=8), X, y, optimizer=gdcheck.optim.adam())
"""

from __future__ import annotations

import os
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from ..errors import GdcheckError
from ..models import Model
from ..trajectory._engine import crosscheck
from ..trajectory._result import CrossCheckResult
from . import _baseline_store as store
from ._baseline import SCHEMA_VERSION, BaselineMismatch, Snapshot, same_recording, snapshot
from ._compare import compare, describe_changes

MARKER_ARGS = ("backends", "dtype", "lr", "steps", "tolerance")
PROPERTY = "gdcheck_baseline"
"""``user_properties`` name under which a test reports the baselines it wrote (xdist-safe)."""


class CrossCheckFailed(GdcheckError, AssertionError):
    """``gd_crosscheck`` (or ``gd_baseline``) found a disagreement; the message lists the findings."""

    __module__ = "gdcheck.testing"


@dataclass(frozen=True)
class Settings:
    """The resolved configuration of one test's gdcheck fixtures."""

    backends: tuple[str, ...] | None = None
    dtype: str = "float64"
    lr: float | None = None
    steps: int | None = None
    tolerance: Any = None
    update: bool = False
    ci: bool = False
    baseline_dir: Path = Path("baselines")
    nodeid: str = ""
    rerecord: str = "pytest --gdcheck-update-baselines"

    def crosscheck_kwargs(self, **overrides: Any) -> dict[str, Any]:
        """Keyword arguments for :func:`gdcheck.crosscheck`; ``overrides`` win where not None."""
        kw: dict[str, Any] = {"backends": self.backends, "dtype": self.dtype}
        for name in ("lr", "steps", "tolerance"):
            if getattr(self, name) is not None:
                kw[name] = getattr(self, name)
        kw.update({k: v for k, v in overrides.items() if v is not None})
        return kw


def in_ci() -> bool:
    """True when the ``CI`` environment variable is set to anything but an explicit no."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def _split(value: Any) -> tuple[str, ...] | None:
    if value is None or value == "" or value == []:
        return None
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return tuple(str(v) for v in value)


def settings_for(request: pytest.FixtureRequest) -> Settings:
    """Resolve marker, command line and ini options for the requesting test."""
    config, item = request.config, request.node
    marker = item.get_closest_marker("gdcheck")
    marked: dict[str, Any] = {}
    if marker is not None:
        if marker.args:
            raise pytest.UsageError(
                f"gdcheck: @pytest.mark.gdcheck takes keyword arguments only ({', '.join(MARKER_ARGS)}); "
                f"got positional {marker.args!r} on {item.nodeid}."
            )
        unknown = sorted(set(marker.kwargs) - set(MARKER_ARGS))
        if unknown:
            raise pytest.UsageError(
                f"gdcheck: unknown argument(s) {', '.join(unknown)} to @pytest.mark.gdcheck on "
                f"{item.nodeid}; it takes {', '.join(MARKER_ARGS)}."
            )
        marked = dict(marker.kwargs)
    backends = _split(marked.get("backends")) or _split(config.getoption("gdcheck_backends"))
    backends = backends or _split(config.getini("gdcheck_backends"))
    dtype = (
        marked.get("dtype") or config.getoption("gdcheck_dtype") or config.getini("gdcheck_dtype")
    )
    cli_dir = config.getoption("gdcheck_baseline_dir")
    ini_dir = config.getini("gdcheck_baseline_dir")
    module = Path(item.path)
    test = item.nodeid.split("::", 1)[1].replace("::", ".") if "::" in item.nodeid else item.name
    if cli_dir or ini_dir:
        root = config.invocation_params.dir if cli_dir else config.rootpath
        base = (root / (cli_dir or ini_dir)).resolve()
        try:
            relative = module.relative_to(config.rootpath).with_suffix("")
        except ValueError:
            relative = Path(module.stem)
        directory = base / relative / store._safe(test)
    else:
        directory = module.parent / "baselines" / module.stem / store._safe(test)
    command = ["pytest", "--gdcheck-update-baselines"]
    if cli_dir:
        command.append(f"--gdcheck-baseline-dir={cli_dir}")
    command.append(item.nodeid)
    return Settings(
        backends=backends,
        dtype=str(dtype or "float64"),
        lr=marked.get("lr"),
        steps=marked.get("steps"),
        tolerance=marked.get("tolerance"),
        update=bool(config.getoption("gdcheck_update_baselines")),
        ci=in_ci(),
        baseline_dir=directory,
        nodeid=item.nodeid,
        rerecord=shlex.join(command),
    )


def _show(path: Path) -> str:
    """``path`` relative to the working directory where it is inside it (shorter messages)."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _describe(result: CrossCheckResult) -> str:
    c = result.config
    opt = "" if c.optimizer == "sgd" else f", optimizer={_optimizer_text(result)}"
    return (
        f"{c.model}, {c.dtype}, lr={c.lr:g}, steps={c.steps}{opt}, backends={', '.join(c.backends)}"
    )


def _optimizer_text(result: CrossCheckResult) -> str:
    opt = getattr(result.problem, "optimizer", None)
    if opt is None:
        return result.config.optimizer
    return f"{opt.name}({', '.join(f'{k}={v!r}' for k, v in opt.hyper.items())})"


def findings_text(result: CrossCheckResult) -> str:
    fatal = [f for f in result.findings if f.fatal]
    explained = [f for f in result.findings if not f.fatal]
    lines = [f"cross-check failed ({_describe(result)}): {len(fatal)} finding(s)"]
    lines += [f"  [{f.kind}] {f.message}" for f in fatal]
    lines += [f"  [explained] {f.message}" for f in explained]
    return "\n".join(lines)


class CrossCheckFixture:
    """``gd_crosscheck(model, *data, **kwargs)``: run :func:`gdcheck.crosscheck`, fail with its findings.

    ``model`` is any :class:`gdcheck.Model`, ``data`` its data arrays (``X, y``). Keyword
    arguments (``lr``, ``steps``, ``optimizer``, ``backends``, ``dtype``, ``tolerance``) override
    the marker and options. Returns the :class:`~gdcheck.CrossCheckResult` when it passes; use
    :meth:`run` to get it without asserting.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def run(self, model: Model, *data: Any, **kwargs: Any) -> CrossCheckResult:
        return crosscheck(model, *data, **self.settings.crosscheck_kwargs(**kwargs))

    def __call__(self, model: Model, *data: Any, **kwargs: Any) -> CrossCheckResult:
        __tracebackhide__ = True
        result = self.run(model, *data, **kwargs)
        if not result.passed:
            raise CrossCheckFailed(findings_text(result))
        return result


class BaselineFixture(CrossCheckFixture):
    """``gd_baseline(model, *data, name=None, **kwargs)``: cross-check, then compare with the baseline.

    With ``--gdcheck-update-baselines`` the run is recorded instead (a run that fails its
    cross-check is never recorded). The baseline is keyed by the model's name, the
    configuration (lr, steps, optimizer and its hyper-parameters, dtype) and a digest of every
    data array. ``name`` tells apart several baselines of one test that share model and dtype.
    Returns the :class:`~gdcheck.CrossCheckResult`.
    """

    def __init__(self, settings: Settings, item: pytest.Item) -> None:
        super().__init__(settings)
        self.item = item
        self.used: set[str] = set()

    def __call__(
        self, model: Model, *data: Any, name: str | None = None, **kwargs: Any
    ) -> CrossCheckResult:
        __tracebackhide__ = True
        s = self.settings
        result = self.run(model, *data, **kwargs)
        current = snapshot(result, model, *data, test=s.nodeid)
        current.meta["name"] = name
        stem = store.stem_for(current, name)
        self.used.add(stem)
        path = s.baseline_dir / f"{stem}.npz"
        where = f"{s.nodeid} ({_describe(result)})"
        if s.update:
            if not result.passed:
                raise CrossCheckFailed(
                    findings_text(result)
                    + "\n  The baseline was not recorded: fix the gradient first."
                )
            self._record(s.baseline_dir, stem, current, path)
            return result

        stored = store.read(path) if path.exists() else None
        if not result.passed:
            extra = ""
            if stored is not None:
                extra = "\n  Against the baseline: " + compare(stored, current).message.replace(
                    "\n", "\n  "
                )
            raise CrossCheckFailed(findings_text(result) + extra)
        if stored is not None:
            self._check(stored, current, path, where)
            return result

        sibling = self._closest(current, name)
        if sibling is not None:
            old = store.read(sibling)
            schema = old.meta.get("schema_version")
            if schema != SCHEMA_VERSION:
                raise BaselineMismatch(
                    f"no baseline for {where} in this gdcheck's format: this test's baseline "
                    f"{_show(sibling)} was recorded in format {schema} by an older gdcheck "
                    f"(this one records format {SCHEMA_VERSION}).\n"
                    "  Re-record it (this also removes the old baseline):\n"
                    f"    {s.rerecord}"
                )
            comparison = compare(old, current)
            changes = describe_changes(comparison.config_changes)
            raise BaselineMismatch(
                f"no baseline for this configuration of {where}; this test's baseline "
                f"{_show(sibling)} was recorded with a different one: {changes}.\n"
                + "".join(f"  {line}\n" for line in comparison.lines)
                + "  If the change is intended, re-record (this also removes the old baseline):\n"
                f"    {s.rerecord}"
            )
        npz = path.with_suffix(".npz")
        # Updating is explicit: a missing baseline is never created as a side effect.
        raise BaselineMismatch(
            f"no trajectory baseline for {where}: expected {_show(npz)}.\n"
            + (
                "  Not recorded: CI is set, and baselines are never created in CI. "
                if s.ci
                else "  Not recorded: baselines are written only when asked. "
            )
            + f"Record it and commit the .npz and .json:\n    {s.rerecord}"
        )

    def _record(self, directory: Path, stem: str, snap: Snapshot, path: Path) -> None:
        if path.exists():
            try:
                if same_recording(store.read(path), snap):
                    self.item.user_properties.append((PROPERTY, f"unchanged {_show(path)}"))
                    return
            except BaselineMismatch:
                pass  # damaged: overwrite it
        npz = store.write(directory, stem, snap)
        self.item.user_properties.append((PROPERTY, f"recorded {_show(npz)}"))

    def _check(self, stored: Snapshot, current: Snapshot, path: Path, where: str) -> None:
        __tracebackhide__ = True
        comparison = compare(stored, current)
        if comparison.status == "match":
            return
        npz = path.with_suffix(".npz")
        body = "\n".join(f"  {line}" for line in comparison.lines)
        env = describe_changes(comparison.environment_changes)
        if comparison.status == "environment":
            raise BaselineMismatch(
                f"recorded under other versions/platform: {env}.\n"
                f"  {where} differs from {_show(npz)} by a relative drift of up to "
                f"{comparison.max_drift:.3g}, above the tolerance {comparison.tolerance:.3g} "
                f"({comparison.excess:.3g}× it at the step furthest beyond its own) but within "
                f"{stored.meta['tolerance'].get('environment_factor', 100):g}× of it: likely from "
                f"that, not from a change in the code.\n{body}\n"
                f"  Re-record under this environment with:\n    {self.settings.rerecord}"
            )
        env_note = f"\n  (also recorded under other versions/platform: {env})" if env else ""
        raise BaselineMismatch(
            f"trajectory changed: {where} no longer matches {_show(npz)}.\n{body}{env_note}\n"
            f"  If the change is intended, re-record:\n    {self.settings.rerecord}"
        )

    def _closest(self, current: Snapshot, name: str | None) -> Path | None:
        """Among this test's baselines with the same model, dtype and name, the one with the fewest changes."""
        best: tuple[int, Path] | None = None
        for npz_path in store.candidates(self.settings.baseline_dir):
            try:
                old = store.read(npz_path)
            except BaselineMismatch:
                continue
            k, c = old.key, current.key
            if (k["model"]["name"], k["dtype"], old.meta.get("name")) != (
                c["model"]["name"],
                c["dtype"],
                name,
            ):
                continue
            n = len(compare(old, current).config_changes)
            if best is None or n < best[0]:
                best = (n, npz_path)
        return None if best is None else best[1]

    def prune(self) -> list[Path]:
        """After a passing test in update mode: remove this test's baselines it no longer uses."""
        removed = []
        for npz_path in store.candidates(self.settings.baseline_dir):
            if npz_path.stem not in self.used:
                store.remove(npz_path)
                removed.append(npz_path)
        for p in removed:
            self.item.user_properties.append((PROPERTY, f"removed {_show(p)}"))
        return removed


def make_crosscheck(request: pytest.FixtureRequest) -> CrossCheckFixture:
    return CrossCheckFixture(settings_for(request))


def make_baseline(request: pytest.FixtureRequest, passed: Any) -> BaselineFixture:
    """The ``gd_baseline`` fixture; ``passed()`` says whether the test's call phase passed."""
    fixture = BaselineFixture(settings_for(request), request.node)

    def finish() -> None:
        if fixture.settings.update and fixture.used and passed():
            fixture.prune()

    request.addfinalizer(finish)
    return fixture


__all__ = [
    "BaselineFixture",
    "CrossCheckFailed",
    "CrossCheckFixture",
    "Settings",
    "findings_text",
    "in_ci",
    "settings_for",
]
