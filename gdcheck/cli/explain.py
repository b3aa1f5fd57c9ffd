"""``gdcheck explain [--model NAME | FILE.py]``: a lesson on a handwritten gradient and autodiff.

``--model NAME`` teaches one of the series' models on its data; ``FILE.py`` teaches the
``gdcheck.Model`` a user's file defines as ``model``, on its ``data`` (a tuple), with its
``lr`` if it sets one. Exit codes: 0 taught, 2 bad usage or a bad file.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import EXIT_OK

DEFAULT_HTML = "explain.html"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="a lesson: the backward pass autodiff runs beside your gradient, reverse mode, "
        "the lr bound, the Taylor test",
        description="Teach, for the tutorial's linear regression (the default), another model "
        "of the series (--model NAME) or the model a FILE.py defines: the backward pass as "
        "JAX's VJP computes it, node by node, with each handwritten expression matched to the "
        "nodes that compute it by value; the first step's numbers from each backend; why "
        "reverse mode (n JVPs against one VJP); the learning-rate bound 2/λmax (from the "
        "Hessian, or along the run by power iteration for a non-quadratic loss) against the "
        "rate that diverges; and the Taylor test's picture.",
    )
    p.add_argument(
        "file",
        nargs="?",
        default=None,
        help="a .py file defining model (a gdcheck.Model) and data (a tuple); optionally lr",
    )
    p.add_argument(
        "--model",
        default=None,
        help="the model to explain: linear_regression (the tutorial's, the default), ridge, "
        "logistic_regression, softmax_regression or mlp",
    )
    p.add_argument("--seed", type=int, default=0, help="seed of the tutorial's data (default 0)")
    p.add_argument(
        "--html",
        nargs="?",
        const=DEFAULT_HTML,
        default=None,
        metavar="PATH",
        help=f"write the lesson as a self-contained page instead (default path {DEFAULT_HTML})",
    )
    p.add_argument("-q", "--quiet", action="store_true", help="no progress bar")


FILE_CONVENTION = (
    "it must define model (a gdcheck.Model) and data (a tuple of arrays, as the model takes "
    "them); optionally lr (default 0.1)."
)


def _from_file(path: Path) -> tuple[Any, tuple, float]:
    """``model``, ``data`` and ``lr`` from a user's file, refused with how to fix it."""
    import runpy

    from ..errors import InputError
    from ..models import Model

    if not path.is_file() or path.suffix != ".py":
        raise InputError(f"{str(path)!r} is not a .py file; {FILE_CONVENTION}")
    try:
        namespace = runpy.run_path(str(path), run_name="__gdcheck__")
    except Exception as exc:  # the user's code: report it in one line
        raise InputError(f"running {str(path)!r} failed: {type(exc).__name__}: {exc}") from None
    model, data = namespace.get("model"), namespace.get("data")
    if not isinstance(model, Model):
        what = (
            "does not define model"
            if model is None
            else f"defines model as a {type(model).__name__}"
        )
        raise InputError(f"{str(path)!r} {what}; {FILE_CONVENTION}")
    if not isinstance(data, tuple) or not data:
        what = (
            "does not define data" if data is None else f"defines data as a {type(data).__name__}"
        )
        raise InputError(f"{str(path)!r} {what}; {FILE_CONVENTION}")
    lr = namespace.get("lr", 0.1)
    if isinstance(lr, bool) or not isinstance(lr, int | float) or not lr > 0:
        raise InputError(f"{str(path)!r} sets lr = {lr!r}; use a number > 0.")
    return model, data, float(lr)


def run(args: argparse.Namespace) -> int:
    from ..errors import InputError
    from ..explain._lesson import lesson
    from ..explain._terminal import print_lesson
    from ..report import terminal

    if args.file is not None and args.model is not None:
        raise InputError("give a FILE.py or --model NAME, not both.")

    if args.html is not None:  # refuse an unusable path before the five-second lesson
        from ..explain._html import html_target

        html_target(Path(args.html))
    with terminal.progress_bar(args.quiet) as progress:
        if args.file is not None:
            model, data, lr = _from_file(Path(args.file))
            taught = lesson(model, data=data, lr=lr)
        else:
            taught = lesson(args.model or "linear_regression", seed=args.seed, progress=progress)
    if args.html is None:
        print_lesson(taught)
        return EXIT_OK
    from ..explain._html import write_html

    path = write_html(taught, Path(args.html))
    terminal.print_lines([f"Lesson written to {path}"])
    return EXIT_OK
