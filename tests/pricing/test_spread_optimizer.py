import math
from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.avellaneda_stoikov import arrival_term
from pymm.pricing.spread_optimizer import SpreadOptimizer, optimal_edge, side_value


def test_optimal_edge_is_the_as_arrival_term_per_side():
    for gamma in (0.01, 0.1, 1.0):
        assert 2 * optimal_edge(1.5, gamma) == pytest.approx(arrival_term(gamma, 1.5), rel=1e-12)
    assert optimal_edge(2.0, 0.0) == 0.5


@pytest.mark.parametrize("gamma", [5e-324, 1e-300, 1e-12, 1e-6])
def test_tiny_risk_aversion_is_the_risk_neutral_limit(gamma):
    # Found by hypothesis: gamma = 5e-324 made (1 - exp(-gamma*edge))/gamma underflow to 0.
    assert optimal_edge(1.0, gamma) == pytest.approx(1.0, rel=1e-6)
    assert side_value(1.0, 2.0, 10.0, 1.0, gamma) == pytest.approx(10.0 * math.exp(-1.0) * 2.0, rel=1e-5)


def test_side_value_is_maximised_at_the_optimal_edge():
    a, k, gamma = 140.0, 1.5, 0.1
    e = optimal_edge(k, gamma)
    best = side_value(e, e, a, k, gamma)  # r = mid here, so distance == edge
    for de in (-0.05, -0.01, 0.01, 0.05):
        assert side_value(e + de, e + de, a, k, gamma) < best


def test_fine_grid_reproduces_as_quotes():
    # With a negligible tick the grid optimum is the continuous A-S quote (eq. 30 at tau = 0, shifted by r).
    opt = SpreadOptimizer(a=140.0, k=1.5, gamma=0.1)
    q = opt.optimize(mid=100.0, reservation=99.6, tick=Decimal("0.000001"))
    half = arrival_term(0.1, 1.5) / 2
    assert q.bid_ticks * 1e-6 == pytest.approx(99.6 - half, abs=2e-6)
    assert q.ask_ticks * 1e-6 == pytest.approx(99.6 + half, abs=2e-6)


def test_cost_widens_both_sides():
    base = SpreadOptimizer(a=1.0, k=0.5, gamma=0.05).optimize(100.0, 100.0, 1)
    costly = SpreadOptimizer(a=1.0, k=0.5, gamma=0.05, cost=1.0).optimize(100.0, 100.0, 1)
    assert costly.bid_ticks < base.bid_ticks and costly.ask_ticks > base.ask_ticks


def test_post_only_and_min_spread():
    opt = SpreadOptimizer(a=1.0, k=3.0, gamma=0.0, min_spread_ticks=3)
    q = opt.optimize(mid=100.0, reservation=100.0, tick=1)  # continuous optimum: 99.67 / 100.33
    assert q.ask_ticks - q.bid_ticks >= 3
    # Long inventory pushes r down: the ask must still stay above the best bid.
    q2 = SpreadOptimizer(a=1.0, k=3.0, gamma=0.0).optimize(
        100.0, 97.0, 1, best_bid_ticks=99, best_ask_ticks=101
    )
    assert q2.ask_ticks >= 100
    assert q2.bid_ticks < q2.ask_ticks


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(
    st.floats(90, 110),
    st.floats(-5, 5),
    st.floats(0.05, 5.0),
    st.floats(0.0, 2.0),
    st.floats(0.0, 1.0),
    st.sampled_from([Decimal("0.01"), Decimal("0.1"), Decimal("0.5"), 1]),
)
def test_grid_optimum_brackets_the_continuous_one(mid, skew, k, gamma, cost, tick):
    opt = SpreadOptimizer(a=10.0, k=k, gamma=gamma, cost=cost)
    q = opt.optimize(mid, mid + skew, tick)
    t = float(tick)
    assert q.bid_ticks < q.ask_ticks
    assert math.floor(q.continuous_bid / t) - 1 <= q.bid_ticks <= math.ceil(q.continuous_bid / t)
    assert math.floor(q.continuous_ask / t) <= q.ask_ticks <= math.ceil(q.continuous_ask / t) + 1
    # No neighbouring tick with a positive edge is better (each side's objective is log-concave), unless
    # that tick would leave no spread.
    r = mid + skew
    for d in (-1, 1):
        p = (q.bid_ticks + d) * t
        if q.bid_ticks + d < q.ask_ticks and p < r - cost:
            assert opt._bid_value(p, mid, r) <= q.bid_value * (1 + 1e-12)
        p = (q.ask_ticks + d) * t
        if q.ask_ticks + d > q.bid_ticks and p > r + cost:
            assert opt._ask_value(p, mid, r) <= q.ask_value * (1 + 1e-12)
