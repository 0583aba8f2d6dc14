import itertools
import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.glft import GlftExact, glft_approximation, glft_coefficients

# Reference values: research notes (models_and_tables.md) section 2.3 table and section 7 rows 10-12,
# derived from the paper's formulas; tolerance 1e-4 as the notes state (values printed to 4 decimals).
FIG = {"sigma": 0.3, "a": 0.9, "k": 0.3, "gamma": 0.01}


@pytest.mark.parametrize(
    ("q", "bid", "ask"), [(0, 3.3129, 3.3129), (1, 3.3808, 3.2450), (2, 3.4486, 3.1772), (-2, 3.1772, 3.4486)]
)
def test_approximation_matches_derived_table(q, bid, ask):
    g = glft_approximation(**FIG)
    assert g.bid_distance(q) == pytest.approx(bid, abs=1e-4)
    assert g.ask_distance(q) == pytest.approx(ask, abs=1e-4)
    assert g.spread == pytest.approx(6.6258, abs=1e-4)
    assert g.skew_per_unit == pytest.approx(0.0679, abs=1e-4)


def test_approximation_second_parameter_set():
    g = glft_approximation(sigma=0.6, a=0.9, k=0.9, gamma=0.01)
    assert g.bid_distance(0) == pytest.approx(1.1440, abs=1e-4)
    assert g.spread == pytest.approx(2.2879, abs=1e-4)
    assert g.bid_distance(1) == pytest.approx(1.2219, abs=1e-4)
    assert g.ask_distance(1) == pytest.approx(1.0660, abs=1e-4)
    assert g.skew_per_unit == pytest.approx(0.0779, abs=1e-4)


@pytest.mark.parametrize(
    ("q", "bid", "ask"), [(0, 3.3130, 3.3130), (1, 3.3812, 3.2449), (2, 3.4493, 3.1768), (-2, 3.1768, 3.4493)]
)
def test_exact_asymptotic_matches_derived_table(q, bid, ask):
    exact = GlftExact(**FIG, q_max=30)
    assert exact.bid_distance(q) == pytest.approx(bid, abs=1e-4)
    assert exact.ask_distance(q) == pytest.approx(ask, abs=1e-4)


def test_exact_and_approximation_agree_near_zero_inventory():
    # The approximation is the large-horizon, small-q expansion of the exact solution: within 1e-3 here.
    exact = GlftExact(**FIG, q_max=30)
    approx = glft_approximation(**FIG)
    for q in range(-3, 4):
        assert exact.bid_distance(q) == pytest.approx(approx.bid_distance(q), abs=1e-3)
        assert exact.ask_distance(q) == pytest.approx(approx.ask_distance(q), abs=1e-3)


def test_hftbacktest_coefficients():
    # Notes section 2.4 / row 12: hftbacktest's ETHUSDT example, printed to full precision.
    c = glft_coefficients(gamma=0.05, xi=0.05, order_size=1.0, a=2.986162360812285, k=0.04235741115084049)
    assert c.half_spread(10.69) == pytest.approx(20.47208533844371, rel=1e-9)
    assert c.skew(10.69) == pytest.approx(9.76326865029227, rel=1e-9)
    assert c.c1 == pytest.approx(15.590451, abs=1e-6)
    assert c.c2 == pytest.approx(0.913309, abs=1e-6)


def test_coefficients_reduce_to_2013_formulas():
    c = glft_coefficients(gamma=0.01, xi=0.01, order_size=1.0, a=0.9, k=0.3)
    g = glft_approximation(**FIG)
    assert c.half_spread(0.3) == pytest.approx(g.half_spread, rel=1e-12)
    assert c.skew(0.3) == pytest.approx(g.skew_per_unit, rel=1e-12)


def _rk4_v(exact: GlftExact, tau: float, steps: int = 4000) -> np.ndarray:
    # Independent check of v(t) = exp(-M (T - t)) 1: integrate dv/dtau = -M v from v = 1.
    v = np.ones(exact.matrix.shape[0])
    h = tau / steps
    m = exact.matrix
    for _ in range(steps):
        k1 = -m @ v
        k2 = -m @ (v + h / 2 * k1)
        k3 = -m @ (v + h / 2 * k2)
        k4 = -m @ (v + h * k3)
        v = v + h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
    return v


def test_finite_horizon_solution_solves_the_ode():
    exact = GlftExact(**FIG, q_max=5)
    tau = 60.0
    v = exact.v(tau)
    ref = _rk4_v(exact, tau)
    np.testing.assert_allclose(v / v[5], ref / ref[5], rtol=1e-9)


def test_terminal_quotes_are_the_myopic_term_and_limit_is_reached():
    exact = GlftExact(**FIG, q_max=10)
    assert exact.bid_distance(3, tau=0.0) == pytest.approx(math.log1p(0.01 / 0.3) / 0.01, abs=1e-12)
    assert exact.bid_distance(3, tau=1e6) == pytest.approx(exact.bid_distance(3), abs=1e-9)


def test_tiny_components_keep_full_relative_precision():
    # Found by hypothesis: with strong risk aversion v spans 25 orders of magnitude, and an eigenvector
    # only resolves ~1e-16 of its largest component, which made quotes near the bound non-monotone.
    exact = GlftExact(sigma=2.0, a=0.5, k=1.0, gamma=1.0, q_max=10)
    for tau in (math.inf, 0.7, 30.0):
        v = exact.v(tau)
        np.testing.assert_allclose(v, v[::-1], rtol=1e-12)  # v_q = v_-q by symmetry
        bids = [exact.bid_distance(q, tau) for q in range(-10, 10)]
        assert all(b1 > b0 for b0, b1 in itertools.pairwise(bids))
    assert exact.v(math.inf)[0] < 1e-25


def test_no_quote_beyond_the_inventory_bound():
    exact = GlftExact(**FIG, q_max=4)
    assert exact.bid_distance(4) is None
    assert exact.ask_distance(-4) is None
    with pytest.raises(ValueError, match="outside"):
        exact.bid_distance(5)


def test_small_gamma_limit_is_finite():
    # (1 + gamma/k)**(1 + k/gamma) -> e as gamma -> 0; naive pow gives 1 once gamma/k underflows.
    g = glft_approximation(0.3, 0.9, 0.3, 1e-300)
    assert g.base == pytest.approx(1 / 0.3, rel=1e-12)
    assert g.skew_per_unit == pytest.approx(math.sqrt(0.09 * 1e-300 / (2 * 0.3 * 0.9) * math.e), rel=1e-9)


def test_drift_and_adverse_selection():
    base = glft_approximation(**FIG)
    up = glft_approximation(**FIG, drift=0.001)
    assert up.bid_distance(0) < base.bid_distance(0)  # expecting a rise: bid closer, ask further
    assert up.ask_distance(0) > base.ask_distance(0)
    assert up.spread == pytest.approx(base.spread)
    xi = 1.0
    adv = glft_approximation(**FIG, adverse_selection=xi)
    assert adv.spread == pytest.approx(2 * base.base + xi + math.exp(0.3 * xi / 4) * base.skew_per_unit)


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(
    st.floats(0.05, 3.0),
    st.floats(0.1, 10.0),
    st.floats(0.05, 3.0),
    st.floats(0.001, 1.0),
    st.integers(-8, 7),
)
def test_exact_quotes_skew_monotonically(sigma, a, k, gamma, q):
    exact = GlftExact(sigma, a, k, gamma, q_max=10)
    b0, b1 = exact.bid_distance(q), exact.bid_distance(q + 1)
    a0, a1 = exact.ask_distance(q), exact.ask_distance(q + 1)
    assert b0 is not None and b1 is not None and a0 is not None and a1 is not None
    assert b1 >= b0 - 1e-9  # longer inventory: bid backs off
    assert a1 <= a0 + 1e-9  # and the ask comes in
