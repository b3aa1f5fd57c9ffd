"""Running a cross-check from the command line and writing its output, shared by ``gdcheck
demo``, ``gdcheck run`` and ``gdcheck check --steps`` (their options: :mod:`._options`).

Only the standard library at import time; numpy, the models and the backends load when a
command runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ._common import EXIT_MISMATCH, EXIT_OK
from ._options import OPTIMIZERS, optimizer_call

EXIT_NOT_CHECKED = 3
"""Exit code when nothing was compared: only the NumPy reference ran (no jax, no torch)."""


def build_model(name: str) -> Any:
    """The :mod:`gdcheck.models` factory called with its defaults."""
    from .. import models

    return getattr(models, name)()


def build_optimizer(name: str) -> Any:
    """The :mod:`gdcheck.optim` object ``--optimizer NAME`` stands for
    (:data:`~._options.OPTIMIZERS`)."""
    from .. import optim
    from ..errors import InputError

    if name not in OPTIMIZERS:  # argparse's choices catch it first; this is for callers
        raise InputError(f"--optimizer {name!r}: choose one of {', '.join(OPTIMIZERS)}.")
    factory, kwargs = OPTIMIZERS[name]
    return getattr(optim, factory)(**kwargs)


def textbook_model(model: Any, optimizer: Any, option: str) -> tuple[Any, list[str]]:
    """The model the CLI runs with ``--optimizer``, and a note saying which rule the reference ran.

    A model's handwritten update is gradient descent; with any other optimizer the reference
    runs the optimizer's textbook rule from :mod:`gdcheck.optim` instead (the model's
    ``update`` dropped), and the note says so.
    """
    import dataclasses

    if optimizer.name == "sgd" and not optimizer.hyper:
        return model, []
    had_update = model.update is not None
    model = dataclasses.replace(model, update=None)
    whose = (
        f"{model.name}'s handwritten update (plain gradient descent) is not used"
        if had_update
        else f"{model.name} has no handwritten update"
    )
    return model, [
        f"--optimizer {option}: {whose}; the reference runs gdcheck.optim's textbook rule "
        f"{optimizer.rule} ({optimizer_call(option)}) on the handwritten gradient."
    ]


def crosscheck_and_report(
    args: argparse.Namespace,
    model: Any,
    *data: Any,
    print_costs: bool,
    notes: list[str] | None = None,
    optimizer: Any = None,
) -> int:
    """Run the cross-check, print costs, tables and verdict, save the report; return the exit code.

    ``args`` carries ``lr``, ``steps``, ``dtype``, ``backends``, ``quiet`` and ``out`` (None or
    ``--no-save``: no report written).
    """
    from .. import crosscheck
    from ..report import terminal
    from ..report.files import check_output_dir, save_report
    from ..report.text import quiet_text

    screenshot = getattr(args, "screenshot", False)
    save = args.out is not None and not getattr(args, "no_save", False)
    standardize = bool(getattr(args, "standardize", False))
    layout = getattr(args, "layout", None)
    notes = list(notes or [])
    if save:  # refuse an unusable --out before the work, not after it
        check_output_dir(Path(args.out), screenshot=screenshot)
    if args.lr == "auto":
        args.lr, why = _auto_lr(model, data, optimizer, standardize, layout)
        notes.append(why)
        if not args.quiet:
            terminal.print_lines([why, ""])
    with terminal.progress_bar(args.quiet) as progress:  # drawn only on a terminal, after ~1 s
        result = crosscheck(
            model,
            *data,
            lr=args.lr,
            steps=args.steps,
            optimizer=optimizer,
            backends=args.backends,
            dtype=args.dtype or "float64",
            progress=progress,
            standardize=standardize,
            layout=layout,
            workers=getattr(args, "workers", None),
            device=getattr(args, "device", "cpu"),
            matmul_precision=getattr(args, "matmul_precision", None),
            record_every=getattr(args, "record_every", 1),
        )
    result.notes.extend(notes)
    report = result.to_dict()
    if args.quiet:
        print(quiet_text(report))
    else:
        if print_costs:
            costs = result.cost_checkpoints(2000)  # the tutorial prints every 2,000
            said = "The tutorial's own lines (its handwritten loop, every 2,000 iterations):"
            lines = [f"Cost at iteration {k} is {cost}" for k, cost in costs]
            terminal.print_lines([said, *lines, ""])
        terminal.print_report(report)  # rich tables; plain text without rich
    if save:
        out, why = report_directory(Path(args.out), report, force=getattr(args, "force", False))
        written = save_report(report, out, screenshot=screenshot, force=True)
        if why:
            print(why, file=sys.stderr)
        if not args.quiet:
            print("\n" + report_line(written))
    return exit_code(result, require_converged=getattr(args, "require_converged", False))


def report_directory(out: Path, report: dict[str, Any], *, force: bool) -> tuple[Path, str]:
    """Where to write: ``out``, unless it holds the report of another run and not ``force``.

    A report of the same run (the same configuration: model, data layout, lr, steps, dtype,
    backends, optimizer) is refreshed in place — re-running is how a report is regenerated.
    A report of another run is never replaced without ``--force``: the new one goes beside it,
    in the first free ``OUT-2``, ``OUT-3``, …, and the reason is printed.
    """
    from ..errors import InputError
    from ..report.schema import load_report

    existing = out / "report.json"
    if force or not existing.is_file():
        return out, ""
    try:
        old = load_report(existing)
    except InputError:
        old = {}
    if old.get("config") == report.get("config"):
        return out, ""
    for k in range(2, 1000):
        beside = out.with_name(f"{out.name}-{k}")
        if not (beside / "report.json").exists():
            return beside, (
                f"gdcheck: {out} holds the report of another run "
                f"({_config_words(old.get('config') or {})}); this run's report goes beside it "
                f"in {beside} (use --force to replace it)."
            )
    raise InputError(f"{out}-2 … {out}-999 all hold reports; choose another --out or use --force.")


def _config_words(config: dict[str, Any]) -> str:
    keys = ("model", "lr", "steps", "dtype", "optimizer")
    return ", ".join(f"{k} {config[k]}" for k in keys if k in config) or "unreadable"


def report_line(written: dict[str, Path]) -> str:
    """``Report: OUT/report.html (also report.md, report.json, …, in OUT)``: the page to open
    first, then the other files by name."""
    html = written.get("html")
    if html is None:
        return f"Report: {', '.join(str(p) for p in written.values())}"
    others = [p.name for k, p in written.items() if k != "html"]
    return f"Report: {html} (also {', '.join(others)}, in {html.parent})"


def exit_code(result: Any, *, require_converged: bool = False) -> int:
    """1 on a disagreement; 3 when nothing was compared; 1 with ``require_converged`` on a run
    that has not converged; else 0."""
    if not result.passed:
        return EXIT_MISMATCH
    if not result.compared:
        return EXIT_NOT_CHECKED
    if require_converged and not result.convergence.converged:
        return EXIT_MISMATCH
    return EXIT_OK


def _auto_lr(
    model: Any, data: tuple, optimizer: Any, standardize: bool, layout: str | None
) -> tuple[float, str]:
    """``--lr auto`` for plain gradient descent on a model with a Hessian; refused otherwise."""
    from ..errors import InputError
    from ..trajectory._convergence import lr_from_data

    if optimizer is not None and (optimizer.name != "sgd" or optimizer.hyper):
        raise InputError(
            f"--lr auto picks the best fixed step of plain gradient descent, 2/(λmin+λmax); "
            f"with --optimizer {optimizer.name} pass --lr VALUE."
        )
    return lr_from_data(model, *data, standardize=standardize, layout=layout)
