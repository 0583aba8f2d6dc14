import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.glft import glft_approximation
from pymm.pricing.levels import LadderSpec
from pymm.pricing.manager import MarketState, PricingConfig, PricingManager

CFG = PricingConfig(gamma=0.05, max_inventory=10, order_size=2, prior_sigma=2.0, prior_a=1.0, prior_k=0.5)


def _state(q=0.0, bid=1000, ask=1001, ts=0.0):
    return MarketState(ts=ts, best_bid_ticks=bid, best_ask_ticks=ask, bid_size=5, ask_size=5, inventory=q)


def test_priors_until_calibrated_and_quotes_are_glft():
    m = PricingManager(CFG)
    p = m.compute(_state())
    assert not p.calibrated
    assert (p.sigma, p.a, p.k) == (2.0, 1.0, 0.5)
    g = glft_approximation(2.0, 1.0, 0.5, 0.05)
    assert p.half_spread == pytest.approx(g.half_spread, rel=1e-12)
    # On the grid: one of the two ticks around the model's bid/ask (post-only at the touch may bind).
    assert p.bid_ticks in (math.floor(1000.5 - g.bid_distance(0)), math.ceil(1000.5 - g.bid_distance(0)))
    assert p.ask_ticks in (math.floor(1000.5 + g.ask_distance(0)), math.ceil(1000.5 + g.ask_distance(0)))


def test_calibrates_from_a_synthetic_feed():
    rng = np.random.default_rng(3)
    m = PricingManager(CFG)
    sigma, a, k = 1.5, 2.0, 0.7
    mid = 1000.5
    ts = 0.0
    for _ in range(6000):  # 600 s at 0.1 s
        ts += 0.1
        mid += rng.normal(0.0, sigma * math.sqrt(0.1))
        m.on_mid(ts, mid)
        for _ in range(rng.poisson(a * 0.1)):
            depth = 0.5 + math.floor(rng.exponential(1.0 / k))
            buy = bool(rng.random() < 0.5)
            m.on_trade(ts, mid + depth if buy else mid - depth, aggressor_is_buy=buy)
    p = m.compute(_state(ts=ts))
    assert p.calibrated
    # ~6000 increments (SE 0.9%) and ~1200 trades (SE ~3%): 10% bands.
    assert p.sigma == pytest.approx(sigma, rel=0.1)
    assert p.k == pytest.approx(k, rel=0.1)
    assert p.a * math.exp(-k * 0.5) == pytest.approx(a, rel=0.1)  # the rate at the first quotable level


def test_inventory_skews_quotes_and_the_bound_stops_buying():
    m = PricingManager(CFG)
    flat = m.compute(_state(q=0))
    long = m.compute(_state(q=5))
    full = m.compute(_state(q=10))
    assert long.reservation < flat.reservation
    assert long.bid_ticks <= flat.bid_ticks and long.ask_ticks <= flat.ask_ticks
    assert full.ladder.bids == ()
    assert full.ladder.asks
    assert len(m.history) == 3 and m.history[1] is long


def test_micro_fair_value_needs_a_model():
    with pytest.raises(ValueError, match="MicroPriceModel"):
        PricingManager(PricingConfig(gamma=0.1, max_inventory=1, order_size=1, fair_value="micro"))


def test_avellaneda_stoikov_variant():
    cfg = PricingConfig(gamma=0.1, max_inventory=10, order_size=1, model="avellaneda_stoikov", horizon=1.0)
    p = PricingManager(cfg).compute(_state(q=1))
    assert p.skew_per_unit == pytest.approx(0.1 * 1.0**2 * 1.0)
    assert p.reservation == pytest.approx(1000.5 - 0.1)


@settings(max_examples=50, deadline=None)
@given(
    st.floats(-10, 10),
    st.integers(900, 1100),
    st.integers(1, 20),
    st.floats(0.01, 1.0),
    st.integers(1, 4),
)
def test_quotes_never_cross_the_book_or_each_other(q, bid, width, gamma, levels):
    cfg = PricingConfig(gamma=gamma, max_inventory=10, order_size=3, ladder=LadderSpec(n_levels=levels))
    p = PricingManager(cfg).compute(_state(q=q, bid=bid, ask=bid + width))
    assert p.bid_ticks < p.ask_ticks
    assert p.bid_ticks < bid + width  # post-only
    assert p.ask_ticks > bid
    prices_b = [lv.price_ticks for lv in p.ladder.bids]
    prices_a = [lv.price_ticks for lv in p.ladder.asks]
    if prices_b and prices_a:
        assert max(prices_b) < min(prices_a)
    assert q + p.ladder.bid_size <= 10 + 1e-9
    assert q - p.ladder.ask_size >= -10 - 1e-9
