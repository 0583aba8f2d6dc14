"""The eight quality indicators and the 0-100 score on a hand-computed window."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm.monitor.quality import (
    INDICATORS,
    OrderEventKind,
    QualityConfig,
    Ramp,
    StepSeries,
    TimeInForce,
    TopSeries,
    VenueRatioLimits,
    compute_quality,
    message_ratios,
    order_events,
    ramp,
    venue_ratios,
)

S = 1_000_000_000
K = OrderEventKind
T = TimeInForce
NAN = math.nan

# Window [0, 10 s). Market: 99.99 x 100 / 100.01 x 300 until 4 s, then 100.00 x 100 / 100.02 x 100.
MARKET = TopSeries.of([0, 4 * S], [99.99, 100.00], [100, 100], [100.01, 100.02], [300, 100])
# Ours: 99.99 x 10 / 100.01 x 10; from 4 s the ask is 100.02 x 10; from 8 s the bid is pulled.
OURS = TopSeries.of(
    [0, 4 * S, 8 * S], [99.99, 99.99, NAN], [10, 10, 0], [100.01, 100.02, 100.02], [10, 10, 10]
)
FAIR = StepSeries.of([0, 4 * S], [100.00, 100.01])
EVENTS = order_events(
    [
        (0, K.SUBMIT, 1, 10.0, 99.99, False, T.GTX),
        (0, K.SUBMIT, 2, 10.0, 100.01, False, T.GTX),
        (2 * S, K.FILL, 2, 4.0, 100.01, True, T.GTC),
        (4 * S, K.CANCEL, 2, 6.0, 100.01, False, T.GTC),  # 4 s after placement: an "invalid" cancel
        (4 * S, K.SUBMIT, 3, 10.0, 100.02, False, T.GTX),
        (6 * S, K.MODIFY, 3, 8.0, 100.02, False, T.GTC),
        (8 * S, K.CANCEL, 1, 10.0, 99.99, False, T.GTC),  # 8 s after placement: not counted by ICR
        (9 * S, K.SUBMIT, 4, 5.0, 100.03, False, T.IOC),
        (9 * S, K.FILL, 4, 5.0, 100.02, False, T.GTC),
        (10 * S, K.CANCEL, 3, 8.0, 100.02, False, T.GTC),  # outside [0, 10 s)
    ]
)


def test_message_ratios_hand_computed() -> None:
    r = message_ratios(EVENTS[EVENTS["ts_ns"] < 10 * S])
    assert (r.submits, r.modifies, r.cancels, r.fills, r.orders_filled) == (4, 1, 2, 2, 2)
    assert r.cancel_to_fill == 1.0
    assert r.order_to_trade_number == pytest.approx(7 / 2 - 1)  # RTS 9: 7 messages, 2 transactions
    assert r.order_to_trade_volume == pytest.approx((35 + 8 + 16) / 9 - 1)
    assert r.fill_ratio == pytest.approx(9 / 35)
    assert r.fill_ratio_count == pytest.approx(2 / 4)
    assert r.maker_ratio == pytest.approx(4 / 9)


def test_message_ratios_edge_cases() -> None:
    none = message_ratios(order_events([]))
    assert math.isnan(none.cancel_to_fill)
    assert math.isnan(none.maker_ratio)
    only_cancels = message_ratios(order_events([(0, K.CANCEL, 1, 1.0, 1.0, False, T.GTC)]))
    assert only_cancels.cancel_to_fill == math.inf


def test_venue_ratios_hand_computed() -> None:
    v = venue_ratios(EVENTS[EVENTS["ts_ns"] < 10 * S])
    assert v.unfilled == pytest.approx(1 - 9 / 35)
    assert v.invalid_cancel == pytest.approx(1 / 3)  # order 2 only, of three GTX orders
    assert v.ioc_expire == 0.0
    assert v.dust == 0.0
    assert v.counts == {"unfilled": 4, "invalid_cancel": 3, "ioc_expire": 1, "dust": 4}
    # far below the minimum counts: no utilisation, no breach
    assert set(v.utilisation.values()) == {0.0}
    assert v.breaches == ()


def test_venue_ratio_breach_when_count_and_ratio_reach_limits() -> None:
    rows = [(i, K.SUBMIT, i, 1.0, 10.0, False, T.GTC) for i in range(10)]
    rows += [(i + 1, K.CANCEL, i, 1.0, 10.0, False, T.GTC) for i in range(10)]
    rows += [(20, K.SUBMIT, 99, 1.0, 10.0, False, T.IOC), (20, K.EXPIRE, 99, 1.0, 10.0, False, T.IOC)]
    limits = VenueRatioLimits(
        invalid_cancel_min_orders=10, dust_min_orders=11, unfilled_min_orders=12, ioc_expire_min_orders=1
    )
    v = venue_ratios(order_events(rows), limits)
    assert v.invalid_cancel == 1.0
    assert v.dust == 1.0  # 10 notional < 50
    assert v.ioc_expire == 1.0
    assert v.utilisation["invalid_cancel"] == pytest.approx(1 / 0.99)
    assert v.utilisation["dust"] == pytest.approx(1 / 0.9)
    assert v.utilisation["unfilled"] == 0.0  # 11 orders < 12
    assert set(v.breaches) == {"invalid_cancel", "dust", "ioc_expire"}


def test_indicators_hand_computed() -> None:
    q = compute_quality(0, 10 * S, MARKET, OURS, EVENTS, fair_value=FAIR)
    # micro (size-weighted mid): 99.995 on [0, 4), 100.01 on [4, 8); our centre 100.00, then 100.005
    assert q.micro_price_deviation == pytest.approx(0.5 * (0.005 / 99.995 + 0.005 / 100.01))
    assert q.fair_value_deviation == pytest.approx(0.5 * (0.0 + 0.005 / 100.01))
    # two-sided, inside 10 bps and above 100 notional for 8 of 10 s
    assert q.quote_uptime == pytest.approx(0.8)
    assert q.time_at_touch_bid == pytest.approx(0.4)
    assert q.time_at_touch_ask == pytest.approx(1.0)
    assert q.time_at_touch == pytest.approx(0.7)
    assert q.quoted_spread == pytest.approx(0.5 * (0.02 / 100.00 + 0.03 / 100.01))
    assert q.quoted_depth_bid == pytest.approx(999.9)
    assert q.quoted_depth_ask == pytest.approx((4 * 1000.1 + 6 * 1000.2) / 10)
    assert q.window_ns == 10 * S


def test_score_hand_computed() -> None:
    q = compute_quality(0, 10 * S, MARKET, OURS, EVENTS, fair_value=FAIR)
    expected = {
        "micro_price_deviation": 1.0,  # ~0.5 bp, better than the 1 bp target
        "fair_value_deviation": 1.0,  # ~0.25 bp < 0.5 bp
        "message_ratios": 1.0,  # cancel-to-fill 1 < 20, no venue utilisation
        "fill_ratio": 1.0,  # 0.257 > 0.02
        "maker_ratio": 0.0,  # 0.444 < 0.5
        "quote_uptime": 0.0,  # 0.80 is the limit
        "time_at_touch": 1.0,  # 0.7 > 0.5
        "quoted_spread_depth": 1.0,  # 2.5 bp < 5 bp; thinner side 999.9 > 100
    }
    assert set(q.subscores) == set(INDICATORS)
    for name, value in expected.items():
        assert q.subscores[name] == pytest.approx(value), name
    assert q.score == pytest.approx(70.0)
    # without a fair value, indicator 2 drops out of numerator and denominator: 60 / 90
    q2 = compute_quality(0, 10 * S, MARKET, OURS, EVENTS)
    assert math.isnan(q2.subscores["fair_value_deviation"])
    assert q2.score == pytest.approx(100 * 60 / 90)


def test_score_partial_ramps() -> None:
    cfg = QualityConfig(maker_ratio=Ramp(target=0.5, limit=0.4), quote_uptime=Ramp(target=0.9, limit=0.7))
    q = compute_quality(0, 10 * S, MARKET, OURS, EVENTS, fair_value=FAIR, config=cfg)
    assert q.subscores["maker_ratio"] == pytest.approx((4 / 9 - 0.4) / 0.1)
    assert q.subscores["quote_uptime"] == pytest.approx(0.5)
    expected = 15 + 10 + 15 + 10 + 15 * (4 / 9 - 0.4) / 0.1 + 15 * 0.5 + 10 + 10
    assert q.score == pytest.approx(expected)


def test_given_micro_price_series_replaces_weighted_mid() -> None:
    micro = StepSeries.of([0], [100.00])
    q = compute_quality(0, 10 * S, MARKET, OURS, EVENTS, micro_price=micro)
    assert q.micro_price_deviation == pytest.approx(0.5 * (0.0 + 0.005 / 100.00))


def test_ramp() -> None:
    assert ramp(5.0, target=0.0, limit=10.0) == 0.5
    assert ramp(-1.0, target=0.0, limit=10.0) == 1.0
    assert ramp(0.9, target=0.95, limit=0.8) == pytest.approx(2 / 3)
    assert math.isnan(ramp(NAN, 1.0, 0.0))
    with pytest.raises(ValueError, match="differ"):
        ramp(1.0, 1.0, 1.0)


def test_empty_window_rejected() -> None:
    with pytest.raises(ValueError, match="empty window"):
        compute_quality(5, 5, MARKET, OURS, EVENTS)


@given(
    x=st.floats(-1e3, 1e3, allow_nan=False),
    target=st.floats(-10, 10, allow_nan=False),
    span=st.floats(0.01, 10, allow_nan=False),
    lower_is_better=st.booleans(),
)
def test_ramp_is_bounded_and_monotone(x: float, target: float, span: float, lower_is_better: bool) -> None:
    limit = target + span if lower_is_better else target - span
    s = ramp(x, target, limit)
    assert 0.0 <= s <= 1.0
    nudged = x - 0.5 if lower_is_better else x + 0.5
    assert ramp(nudged, target, limit) >= s


def test_score_stays_in_range_on_random_books() -> None:
    rng = np.random.default_rng(8)
    for _ in range(20):
        n = 30
        ts = np.sort(rng.integers(0, 10 * S, n))
        mid = 100 + np.cumsum(rng.normal(0, 0.01, n))
        market = TopSeries.of(ts, mid - 0.01, rng.integers(1, 100, n), mid + 0.01, rng.integers(1, 100, n))
        gone = rng.random(n) < 0.2
        ours = TopSeries.of(ts, np.where(gone, NAN, mid - 0.02), np.full(n, 5.0), mid + 0.02, np.full(n, 5.0))
        q = compute_quality(0, 10 * S, market, ours, EVENTS, fair_value=StepSeries.of(ts, mid))
        assert 0.0 <= q.score <= 100.0
        assert 0.0 <= q.quote_uptime <= 1.0
