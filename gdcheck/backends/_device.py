r"""Where JAX and PyTorch run, and at which float32 matmul precision (NumPy, the reference, stays
on the CPU at full precision).

A :class:`Placement` — ``device`` (``"cpu"``, ``"cuda"`` or ``"cuda:N"``) and
``matmul_precision`` (``"default"``, ``"high"``, ``"highest"`` or None: as the process has it) —
is put in effect for one run by :func:`placed`: the adapters read it (:func:`jax_device`,
:func:`torch_device`) and the precision is set for JAX with the
``jax.default_matmul_precision`` context manager and for torch with
``torch.set_float32_matmul_precision``, restored afterwards. ``"default"`` is each library's own
default: JAX's is reduced on a GPU, torch's is ``highest``.

Why it matters: a float32 matmul at reduced precision rounds its inputs to a shorter mantissa
(bf16: :math:`\epsilon = 2^{-8}`, TF32: :math:`2^{-10}`) before multiplying. On an H200 JAX's
default gave a :math:`5.2\times10^{-5}` relative gradient error where ``highest`` gave
:math:`4.0\times10^{-8}` (DESIGN.md): a difference that is the setting, not the gradient, and
is named as such (:func:`reduced_precision`).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import re
from collections.abc import Callable, Iterable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BackendUnavailable, InputError
from ._common import installed

PRECISIONS: tuple[str, ...] = ("default", "high", "highest")
TORCH_PRECISION = {"default": "highest", "high": "high", "highest": "highest"}
"""``matmul_precision`` → ``torch.set_float32_matmul_precision``'s value (torch's default is
``highest``; ``high`` allows TF32 on CUDA)."""
REDUCED_EPS = {"bfloat16": 2.0**-8, "fastest": 2.0**-8, "bfloat16_3x": 2.0**-16}
"""ε of a reduced float32 matmul by setting; any other setting but ``highest`` / ``float32`` is
taken as TF32 (:data:`TF32_EPS`): the larger of what XLA and cuBLAS may use for it."""
TF32_EPS = 2.0**-10
FULL = ("highest", "float32")
LIBRARIES = ("jax", "torch")
"""The backends a placement moves; NumPy is the CPU reference."""
INSTALL = {
    "jax": "pip install 'jax[cuda12]'",
    "torch": "pip install torch --index-url https://download.pytorch.org/whl/cu126",
}
_DEVICE = re.compile(r"^(cpu|cuda|gpu)(?::(\d+))?$")


@dataclass(frozen=True)
class Placement:
    """Where JAX and torch run (``"cpu"`` or ``"cuda:N"``) and the matmul precision set for the
    run (None: left as the process has it)."""

    device: str = "cpu"
    matmul_precision: str | None = None

    @property
    def index(self) -> int:
        return int(self.device.partition(":")[2] or 0)

    @property
    def on_gpu(self) -> bool:
        return self.device != "cpu"


_CURRENT: ContextVar[Placement | None] = ContextVar("gdcheck_placement", default=None)


def current() -> Placement:
    """The placement in effect (CPU and the process's precision outside :func:`placed`)."""
    return _CURRENT.get() or Placement()


def parse_device(device: object) -> str:
    """``"cpu"``, or ``"cuda:N"`` for ``"cuda"`` / ``"cuda:N"`` / ``"gpu"``; refused otherwise."""
    match = _DEVICE.match(device.strip().lower()) if isinstance(device, str) else None
    if match is None:
        raise InputError(
            f"device={device!r}: pass 'cpu', 'cuda' or 'cuda:N' (N the GPU's index, e.g. "
            "'cuda:1'); JAX and PyTorch run there, NumPy stays on the CPU."
        )
    if match.group(1) == "cpu":
        if match.group(2) not in (None, "0"):
            raise InputError(f"device={device!r}: there is one CPU device; pass 'cpu'.")
        return "cpu"
    return f"cuda:{int(match.group(2) or 0)}"


def parse_precision(precision: object) -> str | None:
    """One of :data:`PRECISIONS`, or None (the process's setting)."""
    if precision is None:
        return None
    if not isinstance(precision, str) or precision.strip().lower() not in PRECISIONS:
        raise InputError(
            f"matmul_precision={precision!r}: pass one of {', '.join(PRECISIONS)} (or None to "
            "leave each library's setting as it is)."
        )
    return precision.strip().lower()


def check_available(placement: Placement, names: Iterable[str]) -> None:
    """Refuse a GPU placement that a chosen library cannot run on, naming what each one sees."""
    if not placement.on_gpu:
        return
    names = [n for n in names if n in LIBRARIES]
    if not names:
        raise InputError(
            f"device {placement.device!r} moves jax and torch; only numpy (the CPU reference) "
            "would run. Add jax or torch to the backends, or run on the CPU."
        )
    seen = {name: _sees(name) for name in names}
    missing = [name for name, (count, _) in seen.items() if count <= placement.index]
    if not missing:
        return
    keep = [n for n in ("numpy", *names) if n not in missing]
    no_gpu = [n for n in missing if seen[n][0] == 0]
    fixes = [f"install a CUDA build ({'; '.join(INSTALL[n] for n in no_gpu)})"] if no_gpu else []
    if len(no_gpu) < len(missing):
        fixes.append(f"pass a GPU index that {' and '.join(missing)} see(s)")
    if len(keep) > 1:
        fixes.append(f"run only --backends {','.join(keep)}")
    raise BackendUnavailable(
        f"device {placement.device!r} is not available: "
        + "; ".join(words for _, words in seen.values())
        + ". "
        + _sentence(", ".join(fixes))
        + ", or run on --device cpu (device='cpu')."
    )


def _sentence(text: str) -> str:
    return text[:1].upper() + text[1:]


def _sees(name: str) -> tuple[int, str]:
    """(how many CUDA GPUs ``name`` sees, what it sees in words)."""
    if name == "torch":
        import torch

        if not torch.cuda.is_available():
            build = " (a CPU build)" if torch.version.cuda is None else ""
            return 0, f"torch {torch.__version__} has no CUDA{build}"
        count = torch.cuda.device_count()
        names = [torch.cuda.get_device_name(i) for i in range(count)]
        return count, f"torch sees {count} CUDA device(s) {names}"
    gpus = _jax_gpus()
    if not gpus:
        import jax

        return 0, f"jax {jax.__version__} sees {jax.devices()}"
    return len(gpus), f"jax sees {gpus}"


def _jax_gpus() -> list[Any]:
    import jax

    try:
        return list(jax.devices("gpu"))
    except RuntimeError:  # no GPU platform in this jaxlib
        return []


@contextlib.contextmanager
def placed(placement: Placement, names: Iterable[str] = LIBRARIES) -> Iterator[None]:
    """Within the block the adapters run on ``placement``, at its matmul precision."""
    token = _CURRENT.set(placement)
    try:
        with matmul_precision(placement.matmul_precision, names):
            yield
    finally:
        _CURRENT.reset(token)


@contextlib.contextmanager
def matmul_precision(setting: str | None, names: Iterable[str] = LIBRARIES) -> Iterator[None]:
    """JAX's and torch's float32 matmul precision set to ``setting`` for the block, then
    restored (None: unchanged). Only installed libraries among ``names`` are touched."""
    if setting is None:
        yield
        return
    names = [n for n in names if n in LIBRARIES and installed(n)]
    with contextlib.ExitStack() as stack:
        if "jax" in names:
            import jax

            stack.enter_context(jax.default_matmul_precision(setting))
        if "torch" in names:
            import torch

            before = torch.get_float32_matmul_precision()
            torch.set_float32_matmul_precision(TORCH_PRECISION[setting])
            stack.callback(torch.set_float32_matmul_precision, before)
        yield


def runs_on_device(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Decorator for an entry point with ``device``, ``matmul_precision`` and ``backends``
    arguments: they are checked (a GPU that a chosen library lacks is refused up front) and
    the call runs :func:`placed` there; a result with ``notes`` gets one saying so, and each
    backend's own note on a reduced precision."""
    signature = inspect.signature(fn)

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        bound = signature.bind(*args, **kwargs)
        bound.apply_defaults()
        arguments = bound.arguments
        placement = Placement(
            parse_device(arguments["device"]), parse_precision(arguments["matmul_precision"])
        )
        names = _chosen(arguments["backends"])
        check_available(placement, names)
        with placed(placement, names):
            result = fn(*args, **kwargs)
        notes = getattr(result, "notes", None)
        if placement != Placement() and isinstance(notes, list):
            notes.append(placement_note(placement))
            for run in getattr(result, "runs", {}).values():  # a reduced precision, by library
                notes.extend(n for n in run.info.notes if n not in notes)
        return result

    return wrapper


def _chosen(backends: Any) -> list[str]:
    from ..validation import check_backend_names

    if backends is None:
        return [n for n in LIBRARIES if installed(n)]
    return list(check_backend_names(backends, ("numpy", *LIBRARIES)))


def placement_note(placement: Placement) -> str:
    """The run's device and matmul precision, in one sentence for the report's notes."""
    parts = []
    if placement.on_gpu:
        parts.append(
            f"JAX and PyTorch ran on {placement.device} (NumPy, the reference, on the CPU)"
        )
    if placement.matmul_precision is not None:
        value = placement.matmul_precision
        parts.append(
            f"float32 matmul precision {value!r} for this run (jax.default_matmul_precision"
            f"({value!r}); torch.set_float32_matmul_precision({TORCH_PRECISION[value]!r}), "
            "restored afterwards)"
        )
    return "; ".join(parts) + "."


# -- what the adapters ask ------------------------------------------------------------------
def jax_device() -> Any:
    """The JAX device of the current placement, or None where JAX's default device is it."""
    import jax

    placement = current()
    if placement.on_gpu:
        return _jax_gpus()[placement.index]
    default = jax.devices()[0]
    return None if default.platform == "cpu" else jax.devices("cpu")[0]


def torch_device() -> Any:
    """The torch device of the current placement, or None on the CPU (tensors stay where
    ``torch.from_numpy`` puts them)."""
    import torch

    placement = current()
    return torch.device(placement.device) if placement.on_gpu else None


def jax_describe(dtype: str) -> tuple[str, str, float, tuple[str, ...]]:
    """(device, matmul precision, effective ε, notes) of JAX's run in ``dtype``."""
    import jax

    device = jax_device() or jax.devices()[0]
    setting = jax.config.jax_default_matmul_precision or "default"
    eps = float(np.finfo(dtype).eps)
    if not current().on_gpu:
        return "cpu", f"{setting} (full {dtype} on cpu)", eps, ()
    where = f"{current().device} {device.device_kind}"  # cuda:N, as asked
    if dtype != "float32" or setting in FULL:
        return where, f"{setting} (full {dtype})", eps, ()
    eps = max(eps, REDUCED_EPS.get(setting, TF32_EPS))
    return (
        where,
        f"{setting} (reduced: bf16/TF32 passes on this GPU, eps ≈ {eps:.1e})",
        eps,
        (
            f"JAX ran float32 matmuls at {setting} precision; --matmul-precision highest for full float32.",
        ),
    )


def torch_describe(dtype: str) -> tuple[str, str, float, tuple[str, ...]]:
    """(device, matmul precision, effective ε, notes) of torch's run in ``dtype``."""
    import torch

    device = torch_device()
    precision = torch.get_float32_matmul_precision()
    setting = f"{precision}, allow_tf32={torch.backends.cuda.matmul.allow_tf32}"
    eps = float(np.finfo(dtype).eps)
    if device is None:
        onednn = getattr(getattr(torch.backends, "mkldnn", None), "matmul", None)
        cpu_setting = getattr(onednn, "fp32_precision", "ieee")
        if dtype == "float32" and cpu_setting != "ieee":  # "medium": bf16 on a CPU oneDNN has it
            return "cpu", f"{setting} (oneDNN fp32_precision={cpu_setting} on cpu)", eps, ()
        return "cpu", f"{setting} (full {dtype} on cpu)", eps, ()
    where = f"{device} {torch.cuda.get_device_name(device)}"
    if dtype != "float32" or precision == "highest":
        return where, f"{setting} (full {dtype})", eps, ()
    eps = max(eps, 2.0**-8 if precision == "medium" else TF32_EPS)
    return (
        where,
        f"{setting} (reduced: TF32 on CUDA, eps ≈ {eps:.1e})",
        eps,
        (
            f"torch ran float32 matmuls at {precision!r}; --matmul-precision highest for full float32.",
        ),
    )


def reduced_precision(info: Any) -> str | None:
    """What a backend's run used in place of full float32 matmuls, in words, or None when it ran
    at full precision: float64, a CPU, or ``highest``."""
    full = float(np.finfo(info.dtype).eps) if info.dtype in ("float32", "float64") else 0.0
    if info.dtype != "float32" or info.device.startswith("cpu") or info.effective_eps <= full:
        return None
    setting = info.matmul_precision.split(" (")[0].split(",")[0]
    what = "TF32 on this GPU" if info.library == "torch" else "bf16/TF32 passes on this GPU"
    who = "JAX" if info.library == "jax" else info.library
    return f"{who} ran float32 matmuls at {setting} precision ({what})"


FIX = "rerun with --matmul-precision highest (matmul_precision='highest' in the API)"


def full_precision_if_reduced(info: Any) -> contextlib.AbstractContextManager[None]:
    """``highest`` for the block where ``info``'s backend ran at a reduced precision (the
    rounding floor is float32's own, not the setting's); nothing otherwise."""
    if reduced_precision(info) is None:
        return contextlib.nullcontext()
    return matmul_precision("highest", (info.library,))


RECHECKS = 16
"""Failing steps re-evaluated at ``highest`` before a difference is put down to a reduced
precision (spread over the failing steps, the worst included)."""
REDUCED_REL_MAX = 1e-2
"""The largest relative gradient difference (``max|g − r| / max(‖r‖∞, ‖S‖∞)``) a reduced
float32 matmul is taken to explain: bf16 rounds each input by 2⁻⁹ relative, TF32 by 2⁻¹¹, and
the H200 measured 5.2e-5 at JAX's default (DESIGN.md). A factor-2 mistake is 0.5 or more."""


def recheck_at_highest(
    backend: Any, info: Any, problem: Any, reference: Any, tol: Any, steps: Any, worst: int
) -> Any:
    r"""Per re-checked step, :math:`\max_i |g_i - r_i| / \tau_i` with ``r`` the backend's gradient
    at ``highest`` precision (``g`` the reference's, ``τ`` its tolerance) at up to
    :data:`RECHECKS` of ``steps`` and ``worst``; None when the backend cannot be rerun."""
    picks = steps[np.linspace(0, len(steps) - 1, min(RECHECKS, len(steps))).astype(int)]
    picks = np.unique(np.append(picks, worst))
    try:
        with matmul_precision("highest", (info.library,)):
            again = backend.shadow(problem, reference.weights[picks]).grads
    except Exception:  # nothing is explained by what cannot be re-checked
        return None
    diff = np.abs(reference.grads[picks].astype(np.float64) - again.astype(np.float64))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(np.isnan(diff), np.inf, diff / tol[picks]).max(axis=1)
