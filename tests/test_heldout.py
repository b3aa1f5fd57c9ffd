"""A held-out test of ``check_gradient``'s diagnosis on published gradients it was not tuned on.

Hard assertions: every correct held-out gradient passes with no diagnosis (no false alarms) and
every planted mistake fails (no misses). The kinds are *measured*, not asserted: the expected
kind of each mistake (:mod:`gdcheck.examples.published_heldout`, written before gdcheck was run)
is compared with gdcheck's in a printed table.

Measured figures (``python -m pytest -p no:cacheprovider -q tests/test_heldout.py -s``; float32
by casting the parameters as ``tests/test_published.py`` does):

* 8 published gradients, 28 planted mistakes; correct code flagged: 0; mistakes missed: 0.
* **Before** (measured blind, the set truly held out, 2026-12-01 at commit bc68d1a; the same in
  float32 at ad335f9): named (not ``unexplained``) 22 of 28 (79 %); named as expected 23 of
  28 (of the 3 expected ``unexplained``, all 3 came out so); wrong names: 2.

  - The 2 wrong names (expected ``term_scaled``, named ``wrong_entries``): the lasso's L1 sign
    flipped (yours − autodiff's = −2α·sign(w), bias right) and elastic net's λ2·w for 2λ2·w
    (yours − autodiff's = −λ2·w exactly, bias right: the fit is exact but ``w`` has 4
    entries, under the 2 + 3 that one block's fit required).
  - 3 expected ``term_scaled`` came out ``unexplained``: the lasso as published (the data
    term ½ ×), the lasso summing (n ×) and elastic net's doubled data term (2 ×). In each the
    bias block is exactly k × autodiff's, and w's block is exactly k·autodiff's + e·sign(w)
    (+ c·w): an L1 penalty's term, which the fit (autodiff's, params) could not reach.
  - Messages with the right kind but a slip: layernorm's ``dx`` "6 = m ×" (6 is the feature
    count D, not the 8 examples), the convolution's ``db`` "0.03125 ×" (1/32 = 1/(N·H·W)),
    Huber's first-column bug listing w[1, 0], w[2, 0] without saying they are w[0, 0]'s value.
* **After** tuning on those findings (``term_scaled`` fits sign(w) as an L1 direction, and
  accepts an exact fit on a small block when another block shows the same data-term factor:
  :mod:`gdcheck.check._penalty_fit`; the factor names and the reused-entry message in
  :mod:`gdcheck.check._diagnosis`), float64 and float32 alike: named 25 of 28 (89 %); named
  as expected 28 of 28; wrong names: 0. The expected kinds are unchanged.

**This set is no longer held out**: the "after" figures were measured on the set the changes
were made for, so they say the diagnosis now fits these cases, not how it does on new code;
the "before" figures are the held-out measurement. The 5 kinds fixed by the tuning and the
three messages are asserted below (:data:`TUNED_ON`, :data:`MESSAGES`), in both dtypes.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest

import gdcheck
from gdcheck.examples.published_heldout import CASES

BACKENDS = ("torch",)
BY_NAME = {c.name: c for c in CASES}
MISTAKES = [(c.name, m.name) for c in CASES for m in c.mistakes]

KNOWN_FALSE_ALARMS: dict[str, str] = {}
"""Correct held-out gradients gdcheck flags (a real bug, to be fixed): case -> what happens."""
KNOWN_MISSES: dict[tuple[str, str], str] = {}
"""Planted mistakes gdcheck passes (a real bug, to be fixed): (case, mistake) -> what happens."""


def _mistake(case_name: str, mistake_name: str):
    return next(m for m in BY_NAME[case_name].mistakes if m.name == mistake_name)


TUNED_ON = [
    ("lasso", "as_published_missing_2"),
    ("lasso", "sum_not_mean"),
    ("lasso", "l1_sign_flipped"),
    ("elastic_net", "l2_missing_2"),
    ("elastic_net", "data_term_doubled"),
]
"""Mistakes the diagnosis was changed to name after the blind measurement: their expected kind
(``term_scaled``, committed before gdcheck was run) is now asserted, float64 and float32."""
MESSAGES = [
    ("lasso", "as_published_missing_2", "an L1 penalty's 1·sign(w)"),
    ("lasso", "sum_not_mean", "the data term is m × its right value"),
    ("lasso", "l1_sign_flipped", "w: yours = autodiff's − 2·sign(w)"),
    ("elastic_net", "l2_missing_2", "w: yours = autodiff's − 0.1·w"),
    ("elastic_net", "data_term_doubled", "an L2 penalty's 0.2·w + an L1 penalty's 0.1·sign(w)"),
    ("layernorm", "dx_not_divided_by_D", "6 is axis 1 of the data's (8, 6) array"),
    ("conv_naive", "db_mean", "1/32 × autodiff's (32 = 2 × 4 × 4, axes 0, 2, 3"),
    ("huber", "as_published_first_column_only", "they all equal w[0, 0]'s right value"),
]
"""Message fragments of the tuned cases: the fitted terms, a feature count not called m, a
reciprocal integer named, and entries that all hold one entry's right value."""


def _cast(params, dtype: str):
    if isinstance(params, dict):
        return {k: np.asarray(v, dtype) for k, v in params.items()}
    return np.asarray(params, dtype)


@functools.cache
def _run(case_name: str, mistake_name: str | None = None, dtype: str = "float64"):
    case = BY_NAME[case_name]
    grad = case.grad if mistake_name is None else _mistake(case_name, mistake_name).grad
    return gdcheck.check_gradient(
        case.loss,
        grad,
        _cast(case.params, dtype),
        *case.data,
        backends=BACKENDS,
        taylor=dtype == "float64",
        **case.kwargs,
    )


def _xfail(reason: str | None) -> tuple:
    return (pytest.mark.xfail(strict=True, reason=reason),) if reason else ()


def test_the_held_out_catalogue_is_new_and_varied():
    from gdcheck.examples.published import CASES as TUNED

    assert 5 <= len(CASES) <= 8
    assert all(2 <= len(c.mistakes) <= 4 for c in CASES)
    assert not {c.source for c in CASES} & {c.source for c in TUNED}


@pytest.mark.parametrize(
    "case_name",
    [pytest.param(c.name, marks=_xfail(KNOWN_FALSE_ALARMS.get(c.name))) for c in CASES],
)
def test_correct_code_passes(case_name):
    res = _run(case_name)
    assert res.passed, str(res)
    assert res.diagnosis is None


@pytest.mark.parametrize(
    "case_name,mistake_name",
    [pytest.param(c, m, marks=_xfail(KNOWN_MISSES.get((c, m)))) for c, m in MISTAKES],
    ids=[f"{c}-{m}" for c, m in MISTAKES],
)
def test_each_mistake_is_flagged(case_name, mistake_name):
    assert not _run(case_name, mistake_name).passed


def _table() -> tuple[list[tuple[str, str, str, str, str]], dict[str, int]]:
    rows, counts = [], {"mistakes": 0, "named": 0, "right": 0, "wrong_names": 0, "missed": 0}
    for case_name, mistake_name in MISTAKES:
        res = _run(case_name, mistake_name)
        expected = _mistake(case_name, mistake_name).kind
        counts["mistakes"] += 1
        if res.passed or res.diagnosis is None:
            counts["missed"] += 1
            rows.append((case_name, mistake_name, expected, "(passed)", ""))
            continue
        kind = res.diagnosis.kind
        counts["named"] += kind != "unexplained"
        counts["right"] += kind == expected
        counts["wrong_names"] += kind not in ("unexplained", expected)
        message = " ".join(res.diagnosis.message.split())[:90]
        rows.append((case_name, mistake_name, expected, kind, message))
    return rows, counts


def test_named_share_and_wrong_names_are_measured():
    """Prints case, mistake, expected kind, gdcheck's kind and the message's start."""
    rows, counts = _table()
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    print()
    for r in rows:
        print("  ".join(f"{v:<{w}}" for v, w in zip(r[:4], widths, strict=True)), "|", r[4])
    print(
        f"named (not unexplained): {counts['named']} of {counts['mistakes']}; as expected: "
        f"{counts['right']}; wrong names: {counts['wrong_names']}; missed: {counts['missed']}"
    )
    false_alarms = [
        c.name for c in CASES if not _run(c.name).passed and c.name not in KNOWN_FALSE_ALARMS
    ]
    missed = [(c, m) for c, m in MISTAKES if _run(c, m).passed and (c, m) not in KNOWN_MISSES]
    assert not false_alarms, false_alarms
    assert not missed, missed


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case_name,mistake_name", TUNED_ON, ids=[f"{c}-{m}" for c, m in TUNED_ON])
def test_the_kinds_tuned_on_are_named_as_expected(case_name, mistake_name, dtype):
    res = _run(case_name, mistake_name, dtype)
    assert not res.passed and res.dtype == dtype
    assert res.diagnosis.kind == _mistake(case_name, mistake_name).kind, str(res)


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("case_name,mistake_name,fragment", MESSAGES)
def test_the_messages_tuned_on_name_the_mistake(case_name, mistake_name, fragment, dtype):
    message = _run(case_name, mistake_name, dtype).diagnosis.message
    assert fragment in message, message
    if case_name == "layernorm":
        assert "m ×" not in message, message  # D = 6 is no example count
