"""The result of :func:`gdcheck.crosscheck`: one object that every report is rendered from."""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from .._types import BackendInfo, NDArray, Tolerance, Trajectory
from ..check._diagnosis import Diagnosis
from ..params import ParamLayout
from ._convergence import best_lr, convergence
from ._metrics import GradientErrors
from ._recording import recorded_at
from ._taylor_start import taylor_at_start


@dataclass(frozen=True)
class CrossCheckConfig:
    model: str
    lr: float
    steps: int
    dtype: str
    backends: tuple[str, ...]
    optimizer: str
    update: str  # "handwritten", or the gdcheck.optim rule the reference ran
    params: dict[str, list[int]]  # name → shape
    n_params: int
    n_examples: int
    record_every: int = 1  # rows kept at steps 0, k, 2k, … and the last (1: every step)


@dataclass(frozen=True)
class Finding:
    """One thing the checks found: where (check, backend, step, entries) and what, in words.

    ``kind`` is ``gradient`` (the handwritten gradient is wrong), ``update`` (the handwritten
    update is wrong; the gradient may be right), ``trajectory`` (the independent runs drift
    apart beyond tolerance with gradient and update right), ``diverged``, ``incomplete`` (a
    backend failed), or one of the explained kinds that do not fail the run (``fatal=False``):
    ``precision`` (within what the backend's precision explains), ``kink`` (the handwritten
    gradient and autodiff pick different subgradients at an exact kink, e.g. ReLU at 0),
    ``sensitivity`` (the run amplifies rounding: the libraries drift from each other as much as
    from the reference).
    """

    kind: str
    backend: str
    step: int
    entries: tuple[int, ...]
    message: str
    fatal: bool = True
    diagnosis: Diagnosis | None = None
    """For a gradient finding: what the handwritten gradient's mistake looks like."""
    labels: tuple[str, ...] = ()
    """The entries as the parameters name them (``W1[2, 0]``)."""


@dataclass
class BackendRun:
    """Everything one backend produced: shadow check, own trajectory, and their errors."""

    info: BackendInfo
    shadow_seconds: float
    errors: GradientErrors  # against the tolerance with the backend's effective precision
    trajectory: Trajectory
    drift: NDArray
    tolerance: Tolerance
    tolerance_precision: Tolerance
    shadow_grads: NDArray  # (K+1, p): the gradient at the reference's own w_t
    grad_tolerance: NDArray  # (K+1, p): the per-entry gradient tolerance
    drift_tolerance: NDArray  # (K+1,): the per-step relative drift tolerance
    update_ratio: NDArray | None = None  # (K, p): |library's w_{k+1} − yours| / its tolerance
    update_predicted: NDArray | None = None  # (K, p): the library's w_{k+1} from your w_k, g_k

    @property
    def final_weights(self) -> NDArray:
        """The last finite weights of the backend's own trajectory."""
        w = self.trajectory.weights
        finite = np.flatnonzero(np.isfinite(w).all(axis=1))
        return w[finite[-1]] if finite.size else np.full(w.shape[1], np.nan)

    @property
    def final_drift(self) -> float:
        finite = self.drift[np.isfinite(self.drift)]
        return float(finite[-1]) if finite.size else float("nan")


@dataclass
class CrossCheckResult:
    """What :func:`gdcheck.crosscheck` found. ``passed`` is the verdict; ``findings`` say why."""

    config: CrossCheckConfig
    reference: Trajectory
    runs: dict[str, BackendRun]
    optimum: NDArray | None
    eigenvalues: NDArray | None
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    findings: list[Finding] = field(default_factory=list)
    layout: ParamLayout | None = None
    problem: Any = None  # the backends' Problem: model, prepared data, optimizer
    scaling: Any = None  # what trajectory._prepare did to the user's data (None: nothing)
    parallel: Any = None  # crosscheck(..., workers=W): the gdcheck.distributed ParallelResult

    @property
    def recorded_steps(self) -> NDArray:
        """The step of each row of every trajectory and per-step array: ``0 … K``, or with
        ``record_every=k`` the steps 0, k, 2k, … and the last."""
        return recorded_at(self.reference)

    @property
    def at_fault(self) -> str | None:
        """``"gradient"``, ``"update"``, ``"both"`` or None: what the fatal findings blame."""
        kinds = {f.kind for f in self.findings if f.fatal}
        blamed = {k for k in ("gradient", "update") if k in kinds}
        if len(blamed) == 2:
            return "both"
        return next(iter(blamed), None)

    @property
    def passed(self) -> bool:
        """True when every backend agrees with the reference and nothing diverged."""
        return not any(f.fatal for f in self.findings)

    @property
    def compared(self) -> bool:
        """True when at least one autodiff backend ran beside the NumPy reference.

        A run of the reference alone ``passed`` (nothing disagreed) but checked nothing: its
        verdict says NOT CHECKED and the CLI exits 3."""
        return any(name != "numpy" for name in self.runs)

    @property
    def convergence(self) -> Any:
        """The convergence verdict (:class:`~gdcheck.trajectory._convergence.Convergence`):
        ``.converged``, ``.distance``, ``.rho``, ``.steps_needed``, ``.text``."""
        return convergence(self)

    @cached_property
    def taylor(self) -> Any:
        """The handwritten gradient's Taylor test at ``w_0`` (a
        :class:`~gdcheck.check._taylor.TaylorTest`: order ≈ 2 right, ≈ 1 wrong), or a sentence
        saying why it was not run; None without a problem. Computed on first use (the report
        asks for it), then kept."""
        return None if self.problem is None else taylor_at_start(self.problem)

    @property
    def condition_number(self) -> float | None:
        r""":math:`\kappa(H) = \lambda_{\max}/\lambda_{\min}` of the model's Hessian (inf when
        singular), or None without a Hessian."""
        if self.eigenvalues is None or self.eigenvalues.size == 0:
            return None
        top, low = float(self.eigenvalues.max()), float(self.eigenvalues.min())
        return float("inf") if low <= 0 else top / low

    @property
    def best_lr(self) -> float | None:
        r"""The best fixed step :math:`2/(\lambda_{\min}+\lambda_{\max})` on a quadratic cost."""
        from ..errors import InputError

        if self.eigenvalues is None:
            return None
        try:
            return best_lr(self.eigenvalues)[0]
        except InputError:
            return None

    def weights_in_original_units(self, name: str = "numpy") -> NDArray | None:
        """Backend ``name``'s final weights mapped back to the unstandardised features
        (linear models with the intercept first, ``w`` (n+1, 1)); None when not standardised."""
        if self.scaling is None or not self.scaling.standardized or name not in self.runs:
            return None
        if self.config.params != {"w": [len(self.scaling.scales) + 1, 1]}:
            return None
        return self.scaling.to_original(self.runs[name].final_weights)

    @property
    def diagnosis(self) -> Diagnosis | None:
        """The diagnosis of the first gradient disagreement (``.kind``, ``.factor``, …), or None."""
        return next((f.diagnosis for f in self.findings if f.diagnosis is not None), None)

    @property
    def final_weights(self) -> dict[str, Any]:
        """Final weights of each backend's own trajectory, keyed by backend name, in the
        params' structure (an array shaped like ``init``'s, or a dict keyed by parameter)."""
        return {name: self.as_params(run.final_weights) for name, run in self.runs.items()}

    def as_params(self, flat: NDArray) -> Any:
        """A flat weight row in the params' structure."""
        if self.layout is None:
            return flat
        return self.layout.to_user(self.layout.unflatten(np.asarray(flat)))

    @property
    def lr_bound(self) -> float | None:
        r"""The stable learning-rate bound :math:`2/\lambda_{\max}(H)`, when the Hessian is known."""
        if self.eigenvalues is None or self.eigenvalues.max() <= 0:
            return None
        return float(2.0 / self.eigenvalues.max())

    def distance_to_optimum(self, name: str) -> float | None:
        """``‖w_final − w*‖∞`` for backend ``name`` (w* the model's closed-form optimum)."""
        if self.optimum is None:
            return None
        return float(np.abs(self.runs[name].final_weights - self.optimum).max())

    def divergence_message(self, step: int) -> str:
        from ..report.text import apart

        bound = self.lr_bound
        lr_text, bound_text = apart(self.config.lr, bound) if bound is not None else ("", "")
        why = (
            f" Gradient descent on this model is stable only for lr < 2/λmax = {bound_text} "
            f"(λmax = {self.eigenvalues.max():.6g} of the model's Hessian); lr = {lr_text}."
            if bound is not None and self.eigenvalues is not None
            else ""
        )
        return f"the reference run diverged at step {step}: the cost overflowed to inf/NaN.{why}"

    def growth_message(self, step: int) -> str:
        from ..report.text import apart

        losses = self.reference.losses
        bound = self.lr_bound
        assert bound is not None and self.eigenvalues is not None
        lr_text, bound_text = apart(self.config.lr, bound)
        return (
            f"the reference run is diverging: lr = {lr_text} exceeds the stable bound "
            f"2/λmax = {bound_text} (λmax = {self.eigenvalues.max():.6g} of the model's "
            f"Hessian), and the loss grew past its start from step {step} on "
            f"({losses[0]:.4g} → {losses[-1]:.4g} after {self.config.steps} steps); it has not "
            "overflowed yet."
        )

    def cost_checkpoints(self, every: int | None = None) -> list[tuple[int, float]]:
        """``(iteration, cost)`` every ``every`` iterations, as the tutorial prints them.

        By default five intervals and the last step (every 2,000 for the tutorial's 10,000).
        With ``record_every`` > 1, the recorded steps that fall on those iterations.
        """
        losses = self.reference.losses
        every = every or max(1, self.config.steps // 5)
        at = self.recorded_steps
        return [(int(k), float(losses[j])) for j, k in enumerate(at) if k % every == 0]

    def to_dict(self) -> dict[str, Any]:
        """The JSON report (schema in :mod:`gdcheck.report.schema`)."""
        from ..report.build import build_report

        return build_report(self)

    def summary(self) -> str:
        """A plain-text table per backend and the verdict."""
        from ..report.text import render_text

        return render_text(self.to_dict())

    def save(self, directory: str | Path) -> dict[str, Path]:
        """Write ``report.json`` and every format rendered from it into ``directory``."""
        from ..report.files import save_report

        return save_report(self.to_dict(), Path(directory))

    def plot(self) -> Any:
        """A matplotlib ``Figure``: gradient error and drift per step (log scale, tolerances
        dashed) and the loss per backend. Needs ``pip install 'gdcheck[report]'``."""
        from ..report.plots import figure

        return figure(self.to_dict())

    def _repr_html_(self) -> str:
        """Jupyter shows a result as its HTML report (the same renderer as report.html)."""
        from ..report.html import render_fragment

        return render_fragment(self.to_dict())

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        c = self.config
        return (
            f"CrossCheckResult(passed={self.passed}, model={c.model!r}, lr={c.lr:g}, "
            f"steps={c.steps}, dtype={c.dtype!r}, backends={c.backends}, "
            f"findings={len(self.findings)})"
        )
