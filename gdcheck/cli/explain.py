"""``gdcheck explain``: a short lesson on the tutorial's gradient and what autodiff computes."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from ._common import EXIT_OK

DEFAULT_HTML = "explain.html"


def register(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="a short lesson: the cost, its derivative, JAX's jaxpr, PyTorch's graph, the lr bound",
        description="Teach, on the tutorial's data: the cost and its derivative; the jaxpr of "
        "jax.grad(cost) mapped to (2/m)·X(ŷ − y)ᵀ; PyTorch's autograd graph; the first step's "
        "numbers from each backend; and the learning-rate bound 2/λmax from the Hessian, checked "
        "by running lr = 0.01, 0.5 and 100.",
    )
    p.add_argument(
        "--model",
        default="linear_regression",
        help="the model to explain (default linear_regression, the tutorial's)",
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


def run(args: argparse.Namespace) -> int:
    from ..explain._lesson import lesson
    from ..report import terminal

    if args.html is not None:  # refuse an unusable path before the five-second lesson
        from ..explain._html import html_target

        html_target(Path(args.html))
    with terminal.progress_bar(args.quiet) as progress:
        taught = lesson(args.model, seed=args.seed, progress=progress)
    if args.html is None:
        terminal.print_lesson(taught)
        return EXIT_OK
    from ..explain._html import write_html

    path = write_html(taught, Path(args.html))
    terminal.print_lines([f"Lesson written to {path}"])
    return EXIT_OK
