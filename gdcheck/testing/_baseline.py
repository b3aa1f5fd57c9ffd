r"""Trajectory baselines: record a cross-check run of any :class:`gdcheck.Model`, and say whether a later run moved.

A baseline holds, per step ``t = 0 … K``, the reference's flat weights :math:`w_t`, cost
:math:`C(w_t)` and handwritten gradient :math:`g_t`, the run's own per-step tolerances, each
backend's scaled gradient error (the shadow check), and the parameters' layout (names and
shapes), so that an entry is named as the parameters name it (``W1[2, 0]``). It is keyed by the
model (its name and numeric hyper-parameters), the configuration (learning rate, steps,
optimizer and its hyper-parameters, a digest of every data array) and the dtype, and records
the library versions and platform it was made under. Files are written by
:mod:`gdcheck.testing._baseline_store`.

**When has a trajectory moved?** Two correct runs of the same code differ only by rounding,
and the run bounds that at every step: the drift tolerance :math:`\tau_t` (relative to
:math:`\|w_t\|_\infty`, ``result.runs[...].drift_tolerance``) and the per-entry gradient
tolerance :math:`\gamma_{t,i}` (``grad_tolerance``). Step ``t`` has moved when

.. math::

    \|w_t - w^{b}_t\|_\infty > \tau_t \|w^{b}_t\|_\infty
    \quad\text{or}\quad
    |C_t - C^{b}_t| > \tau_c |C^{b}_t| + \|g^{b}_t\|_1\, \tau_t \|w^{b}_t\|_\infty
    + \tfrac12 \lambda_{\max} p\, (\tau_t \|w^{b}_t\|_\infty)^2,

the cost bound being the cost's own rounding (a mean of ``m`` non-negative terms,
:math:`\tau_c = c\,\epsilon\sqrt m` as in :mod:`gdcheck.trajectory._tolerance`) plus what the
allowed weight drift changes it by, to second order (:math:`\lambda_{\max}` where the model
has a Hessian). Where the weights are *exactly* the recorded ones (always ``w_0``; every step
until the code's first difference), the handwritten gradients are compared directly, entry
by entry: :math:`|g_{t,i} - g^b_{t,i}| > \gamma_{t,i}` is a change even when the trajectory
hides it (Adam's normalised step is blind to a constant factor in the gradient). No constant
is invented here: the tolerances are the current run's own (a user's ``tolerance=`` applies
too), and the baseline's metadata says which were used.

**Other versions or platform.** A BLAS or library upgrade reorders sums; that is rounding, but
it can exceed a bound derived for one environment. When the environment differs and every
step stays within :data:`ENVIRONMENT_FACTOR` × the tolerance, the difference is reported as
"recorded under other versions/platform", distinct from "trajectory changed". The factor only
chooses the wording: either way the trajectory differs beyond tolerance and the check fails.

Example::

    >>> import gdcheck
    >>> from gdcheck.testing import compare, snapshot
    >>> X, y = gdcheck.data.tutorial(seed=0)
    >>> model = gdcheck.models.linear_regression()
    >>> run = gdcheck.crosscheck(model, X, y, steps=50, backends=("numpy",))
    >>> snap = snapshot(run, model, X, y)
    >>> compare(snap, snap).status
    'match'
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .. import __version__
from .._types import NDArray
from ..errors import GdcheckError
from ..models import Model
from ..params import ParamLayout
from ..trajectory._result import CrossCheckResult
from ..trajectory._tolerance import gradient_tolerance

SCHEMA_VERSION = 2
"""2: any ``gdcheck.Model`` (layout, optimizer, every data array, per-step tolerances)."""
ENVIRONMENT_FACTOR = 100.0
"""How far beyond the same-environment tolerance a difference may go and still be attributed
to other library versions or another platform (wording only; it fails either way)."""

_REFERENCE_ENVIRONMENT = ("gdcheck", "python", "numpy", "blas", "platform", "machine")
"""What the reference (NumPy, handwritten) trajectory can depend on."""

_SHOWN_ENTRIES = 6
_RULE = (
    "moved at step t when ‖w_t − w_t^b‖∞ > drift_t·‖w_t^b‖∞, or |C_t − C_t^b| > cost·|C_t^b| + "
    "‖g_t^b‖₁·drift_t·‖w_t^b‖∞ + ½λmax·p·(drift_t·‖w_t^b‖∞)², or, where w_t = w_t^b exactly, "
    "|g_t,i − g_t,i^b| > grad_t,i (drift_t and grad_t,i: the arrays drift_tolerance and "
    "grad_tolerance)"
)


class BaselineMismatch(GdcheckError, AssertionError):
    """A trajectory differs from its recorded baseline, or the baseline is missing or unreadable."""

    __module__ = "gdcheck.testing"


@dataclass
class Snapshot:
    """One recorded run: per-step arrays and the metadata that keys and explains them.

    ``arrays``: ``weights`` (K+1, p), ``losses`` (K+1,), ``grads`` (K+1, p),
    ``drift_tolerance`` (K+1,), ``grad_tolerance`` (K+1, p) and ``error.<backend>`` (K+1,).
    """

    arrays: dict[str, NDArray]
    meta: dict[str, Any] = field(default_factory=dict)

    @property
    def key(self) -> dict[str, Any]:
        return self.meta["key"]

    @property
    def digest(self) -> str:
        """Short hash of the key: model, configuration and dtype."""
        return key_digest(self.key)

    @property
    def layout(self) -> ParamLayout | None:
        """The parameters' names and shapes, as recorded (None in a baseline without them)."""
        rec = self.meta.get("layout")
        if not rec:
            return None
        return ParamLayout(
            tuple(rec["names"]), tuple(tuple(s) for s in rec["shapes"]), bool(rec["is_dict"])
        )


def key_digest(key: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:10]


def data_digest(*data: Any) -> dict[str, Any]:
    """Shapes, dtypes and one SHA-256 of every data array, so changed data is a changed configuration."""
    h = hashlib.sha256()
    shapes, dtypes = [], []
    for a in data:
        arr = np.ascontiguousarray(np.asarray(a))
        if arr.dtype == object:
            raise BaselineMismatch(
                f"baseline key: data argument {len(shapes) + 1} of {len(data)} is a "
                f"{type(a).__name__}, not an array; pass the model's data as arrays."
            )
        shapes.append(list(arr.shape))
        dtypes.append(arr.dtype.str)
        h.update(f"{arr.shape}{arr.dtype.str}".encode())
        h.update(arr.tobytes())
    return {"shapes": shapes, "dtypes": dtypes, "sha256": h.hexdigest()[:16]}


def model_key(model: Model) -> dict[str, Any]:
    """The model's name and its numeric hyper-parameters (the number-valued ``info`` entries)."""
    params = {}
    for k, v in sorted(model.info.items()):
        v = v.item() if isinstance(v, np.generic) else v
        if isinstance(v, (bool, int, float, type(None))):
            params[k] = v
    return {"name": model.name, "params": params}


def optimizer_key(result: CrossCheckResult) -> dict[str, Any]:
    """The optimizer's factory name and hyper-parameters (``gdcheck.optim.adam(b1=…, …)``)."""
    opt = getattr(result.problem, "optimizer", None)
    if opt is None:
        return {"name": result.config.optimizer, "hyper": {}}
    return {"name": opt.name, "hyper": {k: opt.hyper[k] for k in sorted(opt.hyper)}}


def make_key(result: CrossCheckResult, model: Model, *data: Any) -> dict[str, Any]:
    cfg = result.config
    return {
        "model": model_key(model),
        "dtype": cfg.dtype,
        "lr": cfg.lr,
        "steps": cfg.steps,
        "optimizer": optimizer_key(result),
        "data": data_digest(*data),
    }


def environment(result: CrossCheckResult) -> dict[str, Any]:
    """Library versions and platform of this run (see :func:`gdcheck.report.build.environment`)."""
    from ..report.build import environment as _env

    env = {k: v for k, v in _env().items() if k in _REFERENCE_ENVIRONMENT}
    env["gdcheck"] = __version__
    for name, run in result.runs.items():
        info = run.info
        env[f"backend.{name}"] = (
            f"{info.library} {info.version} on {info.device}, {info.matmul_precision}"
        )
    return env


def snapshot(
    result: CrossCheckResult, model: Model, *data: Any, test: str | None = None
) -> Snapshot:
    """What a baseline stores for ``result``, the run of ``model`` on ``data`` (as passed to it)."""
    ref = result.reference
    weights = np.asarray(ref.weights)
    grads = ref.grads if ref.grads is not None else np.full_like(weights, np.nan)
    run = _reference_run(result)
    arrays: dict[str, NDArray] = {
        "weights": weights,
        "losses": np.asarray(ref.losses),
        "grads": np.asarray(grads),
        "drift_tolerance": _rows(run.drift_tolerance, len(weights)),
        "grad_tolerance": _rows(run.grad_tolerance, len(weights), weights.shape[1]),
    }
    for name, r in result.runs.items():
        arrays[f"error.{name}"] = np.asarray(r.errors.rel, dtype=np.float64)
    tol = run.tolerance
    source = tol.derivation.get("source", "derived")
    if source == "user":
        cost = float(tol.grad)
    else:
        cost = gradient_tolerance(result.config.dtype, result.config.n_examples)
    layout = result.layout
    meta = {
        "schema_version": SCHEMA_VERSION,
        "key": make_key(result, model, *data),
        "test": test,
        "backends": list(result.runs),
        "diverged_at": ref.diverged_at,
        "layout": None
        if layout is None
        else {
            "names": list(layout.names),
            "shapes": [list(s) for s in layout.shapes],
            "is_dict": layout.is_dict,
        },
        "tolerance": {
            "drift": float(np.nanmax(arrays["drift_tolerance"], initial=0.0)),
            "gradient": float(tol.grad),
            "cost": cost,
            "source": source,
            "rule": _RULE,
            "environment_factor": ENVIRONMENT_FACTOR,
        },
        "lambda_max": None if result.eigenvalues is None else float(np.max(result.eigenvalues)),
        "environment": environment(result),
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
    }
    return Snapshot(arrays, meta)


def _reference_run(result: CrossCheckResult) -> Any:
    """The reference backend's run: its tolerances are those of the handwritten trajectory."""
    runs = result.runs
    return runs.get("numpy") or next(iter(runs.values()))


def _rows(a: Any, n: int, p: int | None = None) -> NDArray:
    """``a`` as float64 with ``n`` rows: a diverged run's tolerances stop early, repeat the last row."""
    a = np.asarray(a, dtype=np.float64)
    if p is not None:
        a = a.reshape(-1, p)
    if len(a) >= n:
        return np.ascontiguousarray(a[:n])
    fill = a[-1:] if len(a) else np.zeros((1, *a.shape[1:]))
    return np.concatenate([a, np.repeat(fill, n - len(a), axis=0)])


def same_recording(a: Snapshot, b: Snapshot) -> bool:
    """True when ``b`` would store exactly what ``a`` stores (no need to rewrite the files)."""
    keep = ("key", "environment", "layout", "schema_version")
    if any(a.meta.get(k) != b.meta.get(k) for k in keep):
        return False
    if set(a.arrays) != set(b.arrays):
        return False
    return all(
        x.dtype == y.dtype and x.shape == y.shape and np.array_equal(x, y, equal_nan=True)
        for x, y in ((a.arrays[k], b.arrays[k]) for k in a.arrays)
    )
