from decimal import Decimal

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from pymm.pricing.ticks import (
    QuoteSide,
    ceil_to_tick,
    floor_to_tick,
    price_to_ticks,
    ticks_to_price,
    to_ticks_array,
)


def test_bids_floor_asks_ceil():
    tick = Decimal("0.01")
    assert price_to_ticks(100.123, tick, QuoteSide.BID) == 10012
    assert price_to_ticks(100.123, tick, QuoteSide.ASK) == 10013


def test_float_noise_snaps_to_the_intended_tick():
    # 100.1 / 0.1 == 1000.9999999999999 in binary floating point; the bid means tick 1001.
    assert floor_to_tick(100.1, Decimal("0.1")) == 1001
    assert ceil_to_tick(0.3, Decimal("0.1")) == 3  # 0.3/0.1 == 2.9999999999999996


def test_integer_tick_means_price_already_in_ticks():
    assert floor_to_tick(41.7, 1) == 41
    assert ceil_to_tick(41.2, 1) == 42
    assert floor_to_tick(-0.5, 1) == -1


def test_ticks_to_price_is_exact():
    assert ticks_to_price(17, Decimal("0.00001")) == Decimal("0.00017")


def test_bad_ticks_are_refused():
    with pytest.raises(ValueError, match="positive"):
        floor_to_tick(1.0, Decimal(0))
    with pytest.raises(TypeError):
        floor_to_tick(1.0, 0.01)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="finite"):
        floor_to_tick(float("nan"), 1)


prices = st.floats(min_value=-1e6, max_value=1e6, allow_nan=False)
ticks = st.sampled_from([Decimal("0.00001"), Decimal("0.01"), Decimal("0.5"), 1, 5])


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(prices, ticks)
def test_rounding_moves_each_side_passive_by_less_than_one_tick(price, tick):
    t = float(tick)
    bid = floor_to_tick(price, tick)
    ask = ceil_to_tick(price, tick)
    # Never more aggressive than the model (up to the documented snapping), never a whole tick away.
    assert bid * t <= price + 1e-6 * t + 1e-9 * abs(price)
    assert ask * t >= price - 1e-6 * t - 1e-9 * abs(price)
    assert 0 <= ask - bid <= 1


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(prices, st.floats(min_value=0.0, max_value=1e3), ticks)
def test_rounded_quotes_never_cross(mid, half_spread, tick):
    bid = price_to_ticks(mid - half_spread, tick, QuoteSide.BID)
    ask = price_to_ticks(mid + half_spread, tick, QuoteSide.ASK)
    assert bid <= ask
    if half_spread > float(tick):
        assert bid < ask


@settings(deadline=None)  # no wall-clock assertions in tests (STYLE §6)
@given(st.lists(prices, min_size=1, max_size=20), ticks, st.sampled_from(list(QuoteSide)))
def test_vector_rounding_matches_scalar(values, tick, side):
    out = to_ticks_array(np.array(values), tick, side)
    assert out.tolist() == [price_to_ticks(v, tick, side) for v in values]
