r"""Which steps a cross-check keeps (``record_every``), and what a recorded step's checks are fed.

With ``record_every=k`` every backend keeps rows at the steps 0, k, 2k, … and the last
(:func:`gdcheck.backends._memory.recorded_steps`), so memory is about ``K/k + 1`` rows for K
steps. What a recorded step ``t`` needs is kept with it: the reference's ``w_t``, ``g_t``,
``w_{t+1}`` and the claimed optimizer's textbook state at ``t`` (fed the handwritten gradient of
every step, recorded or not). So at each recorded ``t``

* the shadow gradient check compares autodiff's gradient at the reference's own ``w_t``;
* the shadow update check runs one step of the library's optimizer from ``(w_t, g_t)`` with its
  state set to the textbook state at ``t`` (Adam's :math:`m_t, v_t, t`; momentum's :math:`b_t`)
  and compares it with the reference's ``w_{t+1}``;
* the independent runs are compared row by row, and the drift bound spans each gap
  (:func:`~gdcheck.trajectory._tolerance.drift_tolerances`).

Nothing is checked at the steps in between: a mistake that shows only there is missed, and the
result's notes say so.
"""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np

from .._types import NDArray, Trajectory
from .._words import ordinal
from ..errors import InputError, InputTypeError


def check_record_every(record_every: Any, steps: int) -> int:
    """``record_every``: a whole number of steps, 1 ≤ k ≤ ``steps`` (1 when ``steps`` is 0)."""
    fix = (
        f"pass a whole number of steps between recorded rows, from 1 (every step) to steps "
        f"({steps}), e.g. record_every={max(1, min(steps, 100))} (--record-every on the "
        "command line)."
    )
    if isinstance(record_every, bool) or not isinstance(record_every, numbers.Integral):
        raise InputTypeError(f"record_every={record_every!r} is not a whole number; {fix}")
    k = int(record_every)
    if k < 1 or k > max(1, steps):
        why = "must be at least 1" if k < 1 else f"is more than the run's {steps} steps"
        raise InputError(f"record_every={k} {why}; {fix}")
    return k


def recorded_at(trajectory: Trajectory) -> NDArray:
    """The step of each row of ``trajectory`` (0 … K when every step was recorded)."""
    if trajectory.steps_at is not None:
        return np.asarray(trajectory.steps_at)
    return np.arange(len(trajectory.losses))


def recording_note(at: NDArray, every: int) -> str:
    """What ``record_every`` > 1 checked, and what it cannot see, in one note."""
    steps = int(at[-1])
    shown = ", ".join(str(int(t)) for t in at[:3])
    return (
        f"record_every={every}: {len(at):,} of the {steps + 1:,} steps were recorded and "
        f"checked ({shown}, … every {ordinal(every)}, and the last, {steps:,}). The shadow gradient "
        "and update checks and the comparison of the independent runs ran at those steps only "
        "(the update check: one step from each recorded w_t to w_{t+1}); a mistake that shows only "
        "at steps that were not recorded (a branch taken at some steps only) can be missed. "
        "Pass record_every=1 (--record-every 1) to check every step."
    )


def record_every_of(reference: Trajectory) -> int:
    """The ``record_every`` a trajectory was run with (its first gap; 1 for every step)."""
    at = reference.steps_at
    return 1 if at is None or len(at) < 2 else int(at[1] - at[0])


def rows_before(at: NDArray, step: int) -> int:
    """How many rows lie before ``step`` (the rows a run that diverged there has finite)."""
    return int(np.searchsorted(at, step, side="left"))


def update_rows(
    reference: Trajectory, valid: int, steps: int
) -> tuple[NDArray, NDArray, dict | None, tuple[NDArray, NDArray]]:
    """The rows the shadow update check feeds the libraries, and what it compares against.

    Every step recorded: ``w_0 … w_{v-1}`` with their gradients, compared step to step
    (``w_{k+1}`` is the next row). Otherwise each recorded ``t`` whose ``w_{t+1}`` is finite:
    ``w_t``, ``g_t`` and the textbook state at ``t``, compared with ``w_{t+1}`` (``after``).
    Returns ``(weights, grads, state or None, (w_t, w_{t+1}))``.
    """
    assert reference.grads is not None
    if reference.steps_at is None:
        w = reference.weights[:valid]
        return w, reference.grads[:valid], None, (w[: valid - 1], reference.weights[1:valid])
    assert reference.after is not None and reference.state is not None
    at = np.asarray(reference.steps_at)
    end = steps + 1 if reference.diverged_at is None else reference.diverged_at
    n = int(np.count_nonzero(at[: min(valid, len(reference.after))] + 1 < end))
    w = reference.weights[:n]
    state = {k: v[:n] for k, v in reference.state.items()}
    return w, reference.grads[:n], state, (w, reference.after[:n])


def seeded(state: dict | None) -> dict[str, Any]:
    """``update_shadow``'s keyword: nothing at K = 1 (the libraries carry their own state)."""
    return {} if state is None else {"state": state}
