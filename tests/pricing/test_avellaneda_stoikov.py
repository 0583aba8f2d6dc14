import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.avellaneda_stoikov import (
    arrival_term,
    average_spread,
    fill_intensity,
    optimal_quotes,
    optimal_spread,
    reservation_price,
)

# Deterministic checks from the research notes (models_and_tables.md section 1.7 and section 7 rows
# 1-4); derived from the paper's formulas, exact to the digits printed there.


@pytest.mark.parametrize(("gamma", "expected"), [(0.1, 1.2908), (0.01, 1.3289), (0.5, 1.1507), (1.0, 1.0217)])
def test_arrival_term(gamma, expected):
    assert arrival_term(gamma, 1.5) == pytest.approx(expected, abs=5e-5)


@pytest.mark.parametrize(("gamma", "expected"), [(0.1, 1.4908), (0.01, 1.3489), (0.5, 2.1507), (1.0, 3.0217)])
def test_continuous_average_spread_matches_printed_column(gamma, expected):
    assert average_spread(gamma, 2.0, 1.0, 1.5) == pytest.approx(expected, abs=5e-5)


def test_reservation_price_row_3():
    assert reservation_price(100.0, 5, 0.1, 2.0, 1.0) == pytest.approx(98.0, abs=1e-12)


@pytest.mark.parametrize(
    ("q", "bid", "ask", "lam_a", "lam_b"),
    [
        (0, 99.154615, 100.845385, 39.3921, 39.3921),
        (1, 98.754615, 100.445385, 71.7770, 21.6188),
        (5, 97.154615, 98.845385, 791.2, 1.9612),
    ],
)
def test_step_zero_quotes(q, bid, ask, lam_a, lam_b):
    quote = optimal_quotes(100.0, q, 0.1, 2.0, 1.0, 1.5)
    assert quote.spread == pytest.approx(1.690770, abs=1e-6)
    assert quote.bid == pytest.approx(bid, abs=1e-6)
    assert quote.ask == pytest.approx(ask, abs=1e-6)
    assert fill_intensity(quote.ask_distance, 140.0, 1.5) == pytest.approx(lam_a, rel=1e-4)
    assert fill_intensity(quote.bid_distance, 140.0, 1.5) == pytest.approx(lam_b, rel=1e-4)


def test_q5_ask_crosses_the_mid():
    quote = optimal_quotes(100.0, 5, 0.1, 2.0, 1.0, 1.5)
    assert quote.ask_distance == pytest.approx(-1.154615, abs=1e-6)


def test_spread_is_vectorised_over_time():
    taus = np.array([1.0, 0.5, 0.0])
    np.testing.assert_allclose(optimal_spread(0.1, 2.0, taus, 1.5), 0.4 * taus + arrival_term(0.1, 1.5))


def test_bad_parameters_are_refused():
    with pytest.raises(ValueError, match="gamma"):
        arrival_term(0.0, 1.5)
    with pytest.raises(ValueError, match="k must"):
        arrival_term(0.1, -1.0)


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(
    st.floats(-50, 50),
    st.floats(1e-3, 5.0),
    st.floats(1e-2, 5.0),
    st.floats(0.0, 2.0),
    st.floats(0.05, 5.0),
)
def test_quotes_centre_on_reservation_and_skew_down_with_inventory(q, gamma, sigma, tau, k):
    a = optimal_quotes(100.0, q, gamma, sigma, tau, k)
    b = optimal_quotes(100.0, q + 1.0, gamma, sigma, tau, k)
    assert a.bid < a.ask
    assert math.isclose((a.bid + a.ask) / 2, a.reservation, abs_tol=1e-9)
    assert b.reservation <= a.reservation
    assert b.bid <= a.bid and b.ask <= a.ask
    assert math.isclose(a.spread, b.spread)  # eq. 30 does not depend on q
