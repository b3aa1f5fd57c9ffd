"""``term_scaled``'s fit ``g_b ≈ k·r_b + c·p_b + e·sign(p_b)`` (:mod:`gdcheck.check._penalty_fit`):
the L1 direction, exact fits on small blocks corroborated by another block's ``k``, and the
guard that keeps a random difference on a small block from being named."""

from __future__ import annotations

import numpy as np
import pytest

from gdcheck.check._diagnosis import diagnose, factor_names
from gdcheck.check._penalty_fit import fit_terms
from gdcheck.params import ParamLayout

RNG_SEED = 20261201
SMALL = ParamLayout(("w", "b"), ((4,), ()), True)
"""A lasso's parameters: 4 weights and an unpenalised bias, as the held-out lasso and elastic
net have them (4 entries: under the 2 + 3 a determined fit of k and c needs)."""
BIG = ParamLayout(("w", "b"), ((12,), ()), True)
NAMES = factor_names([30, 4], examples=[30])


def _point(layout: ParamLayout, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Autodiff's ``r``, the parameters ``p`` and a float64-like rounding tolerance."""
    rng = np.random.default_rng(seed)
    r = rng.standard_normal(layout.size)
    p = rng.standard_normal(layout.size)
    return r, p, 1e-12 * (1 + np.abs(r))


def _w(layout: ParamLayout) -> slice:
    return slice(0, layout.sizes[0])


def test_a_flipped_l1_term_is_fitted_on_a_small_block():
    r, p, tol = _point(SMALL)
    g = r.copy()
    g[_w(SMALL)] -= 2 * 0.7 * np.sign(p[_w(SMALL)])  # α = 0.7: +α·sign(w) written −α·sign(w)
    message, fits = fit_terms(SMALL, g, r, tol, p, NAMES)
    assert fits["w"].k == 1 and fits["w"].c == 0
    assert fits["w"].e == pytest.approx(-1.4, rel=1e-9)
    assert not fits["b"].off
    assert "w: yours = autodiff's − 1.4·sign(w)" in message
    assert "−2α·sign(w): its sign flipped" in message
    assert "L2 penalty" not in message  # no term proportional to w itself


def test_the_data_term_scaled_beside_l1_and_l2_terms_is_fitted_when_the_bias_shows_k():
    """Elastic net's doubled data term: on w, k, c and e are three unknowns on four entries
    (one equation spare), exact to rounding; b, exactly 2 × autodiff's, corroborates k = 2."""
    r, p, tol = _point(SMALL)
    w = _w(SMALL)
    g = 2 * r
    g[w] -= 0.2 * p[w] + 0.1 * np.sign(p[w])  # g = 2d + λ2·w + λ1·s where r = d + λ2·w + λ1·s
    message, fits = fit_terms(SMALL, g, r, tol, p, NAMES)
    assert fits["w"].small and fits["w"].k == 2
    assert fits["w"].c == pytest.approx(-0.2, rel=1e-9)
    assert fits["w"].e == pytest.approx(-0.1, rel=1e-9)
    assert fits["b"].k == 2 and fits["b"].witness
    assert message.startswith("the data term is 2 × its right value")
    assert "an L2 penalty's 0.2·w + an L1 penalty's 0.1·sign(w)" in message


def test_a_small_blocks_exact_fit_is_refused_without_another_block_showing_its_k():
    """The same w, but b right: nothing else shows k = 2, so one spare equation is all the
    evidence, and the fit is refused (wrong_entries says it)."""
    r, p, tol = _point(SMALL)
    w = _w(SMALL)
    g = r.copy()
    g[w] = 2 * r[w] - 0.2 * p[w] - 0.1 * np.sign(p[w])
    assert fit_terms(SMALL, g, r, tol, p, NAMES) is None
    g[-1] = 3 * r[-1]  # b shows another k
    assert fit_terms(SMALL, g, r, tol, p, NAMES) is None


def test_a_bias_with_too_few_entries_takes_the_k_of_a_determined_block():
    r, p, tol = _point(BIG)
    w = _w(BIG)
    g = 30 * r
    g[w] -= 29 * 0.5 * np.sign(p[w])
    message, fits = fit_terms(BIG, g, r, tol, p, NAMES)
    assert not fits["w"].small and fits["w"].k == 30
    assert fits["b"].k == 30
    assert "the data term is m × its right value" in message
    assert "an L1 penalty's 0.5·sign(w)" in message


def test_an_l1_gradient_written_as_l2_is_no_coefficient_off():
    """α·w for α·sign(w): g − r = α·w − α·sign(w), two penalty directions at k = 1 — the
    penalty's form is wrong, not its coefficient, so no term_scaled."""
    for layout in (SMALL, BIG):
        r, p, tol = _point(layout)
        w = _w(layout)
        g = r.copy()
        g[w] += 0.4 * (p[w] - np.sign(p[w]))
        assert fit_terms(layout, g, r, tol, p, NAMES) is None


@pytest.mark.parametrize("rel", [1e-12, 1e-5])  # float64's and float32's tolerances
@pytest.mark.parametrize("size", [0.1, 10.0])  # a difference 10⁹–10¹³ × the tolerance or more
def test_a_random_difference_on_a_small_block_is_not_named_term_scaled(rel, size):
    """200 random wrong gradients on the 4-entry w and the bias: with three unknowns on four
    entries least squares nearly fits each of them, but never to rounding with a k that the
    bias shows too."""
    rng = np.random.default_rng(RNG_SEED)
    for _ in range(200):
        r = rng.standard_normal(SMALL.size)
        p = rng.standard_normal(SMALL.size)
        tol = rel * (1 + np.abs(r))
        for g in (r + size * rng.standard_normal(SMALL.size), 2 * r + size * _on_w(rng)):
            assert fit_terms(SMALL, g, r, tol, p, NAMES) is None
            d = diagnose(SMALL, g, r, tol, [30, 4], params=p)
            assert d is not None and d.kind != "term_scaled", d.message


def _on_w(rng: np.random.Generator) -> np.ndarray:
    d = np.zeros(SMALL.size)
    d[_w(SMALL)] = rng.standard_normal(SMALL.sizes[0])
    return d


def test_a_small_block_is_fitted_only_to_rounding():
    """An exact-but-small fit must leave at most 1e-3 of the difference unexplained, whatever
    the tolerance: a 0.04 slip on w[0] of a doubled data term (|g − r| ~ 6) stays within a
    loose tolerance of 0.05 but is not exact, and the fit is refused."""
    r, p, _ = _point(SMALL)
    r = 10 * r
    tol = np.full(SMALL.size, 0.05)
    w = _w(SMALL)
    g = 2 * r
    g[w] -= 0.2 * p[w] + 0.1 * np.sign(p[w])
    assert fit_terms(SMALL, g, r, tol, p, NAMES)[1]["w"].small  # exact: accepted
    g[0] += 0.04
    assert fit_terms(SMALL, g, r, tol, p, NAMES) is None
