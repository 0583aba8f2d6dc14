"""validate_order: the venue's exact code and message, through the binding."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm import _native
from pymm.errors import PymmError, VenueRejectError

REPO = Path(__file__).resolve().parents[2]
BUY, SELL = _native.Side.BUY, _native.Side.SELL


def _load(market: str) -> _native.Instrument:
    path = REPO / "config" / "instruments" / f"DOGEUSDT.{market}.toml"
    return _native.InstrumentMaster.from_toml(path).get("DOGEUSDT", market)


SPOT = _load("spot")
USDM = _load("usdm")

# (instrument, side, type, price, qty, keywords, expected (code, msg) or None)
CASES = [
    (SPOT, BUY, "LIMIT", "0.2", "5", {"time_in_force": "GTC"}, None),
    (SPOT, BUY, "LIMIT", "0.19999", "5", {"time_in_force": "GTC"}, (-1013, "Filter failure: NOTIONAL")),
    (
        SPOT,
        BUY,
        "LIMIT",
        "0.169125",
        "100",
        {"time_in_force": "GTC"},
        (-1013, "Filter failure: PRICE_FILTER"),
    ),
    (SPOT, BUY, "LIMIT", "0.2", "5.5", {"time_in_force": "GTC"}, (-1013, "Filter failure: LOT_SIZE")),
    (SPOT, BUY, "LIMIT", "1000", "1", {"time_in_force": "GTC"}, None),
    (
        SPOT,
        BUY,
        "LIMIT",
        "1000.00001",
        "1",
        {"time_in_force": "GTC"},
        (-1013, "Filter failure: PRICE_FILTER"),
    ),
    (
        SPOT,
        BUY,
        "LIMIT",
        "0.000000001",
        "5",
        {"time_in_force": "GTC"},
        (-1111, "Parameter 'price' has too much precision."),
    ),
    (SPOT, BUY, "LIMIT", "0.5", "10", {"time_in_force": "GTC", "reference_price": "0.1"}, None),
    (
        SPOT,
        BUY,
        "LIMIT",
        "0.50001",
        "10",
        {"time_in_force": "GTC", "reference_price": "0.1"},
        (-1013, "Filter failure: PERCENT_PRICE_BY_SIDE"),
    ),
    (
        SPOT,
        SELL,
        "LIMIT_MAKER",
        "0.2",
        "5",
        {"open_orders": 200},
        (-1013, "Filter failure: MAX_NUM_ORDERS"),
    ),
    (SPOT, SELL, "LIMIT_MAKER", "0.2", "5", {"open_orders": 199}, None),
    (SPOT, BUY, "LIMIT", "0.2", "5", {"time_in_force": "GTX"}, (-1115, "Invalid timeInForce.")),
    (USDM, BUY, "LIMIT", "0.2", "25", {"time_in_force": "GTX"}, None),
    (
        USDM,
        BUY,
        "LIMIT",
        "0.2",
        "24",
        {"time_in_force": "GTC"},
        (-4164, "Order's notional must be no smaller than 5 (unless you choose reduce only)."),
    ),
    (USDM, SELL, "LIMIT", "0.2", "24", {"time_in_force": "GTC", "reduce_only": True}, None),
    (
        USDM,
        BUY,
        "LIMIT",
        "0.169125",
        "100",
        {"time_in_force": "GTC"},
        (-4014, "Price not increased by tick size."),
    ),
    (USDM, BUY, "LIMIT", "0.00243", "3000", {"time_in_force": "GTC"}, (-4013, "Price less than min price.")),
    (
        USDM,
        BUY,
        "LIMIT",
        "0.2",
        "25.5",
        {"time_in_force": "GTC"},
        (-1111, "Precision is over the maximum defined for this asset."),
    ),
    (
        USDM,
        BUY,
        "LIMIT",
        "0.21001",
        "100",
        {"time_in_force": "GTC", "reference_price": "0.2"},
        (-4016, "Price is higher than mark price multiplier cap."),
    ),
    (USDM, BUY, "MARKET", None, "30000000", {"reference_price": "0.2"}, None),
    (
        USDM,
        BUY,
        "MARKET",
        None,
        "30000001",
        {"reference_price": "0.2"},
        (-4005, "Quantity greater than max quantity."),
    ),
]


@pytest.mark.parametrize(("inst", "side", "otype", "price", "qty", "kw", "expect"), CASES)
def test_cases(inst, side, otype, price, qty, kw, expect):
    if expect is None:
        assert _native.validate_order(inst, side, otype, price, qty, **kw) is None
        return
    with pytest.raises(VenueRejectError) as info:
        _native.validate_order(inst, side, otype, price, qty, **kw)
    assert (info.value.code, info.value.msg) == expect
    assert info.value.args == expect
    assert isinstance(info.value, PymmError)


def test_ticks_and_lots_are_accepted():
    assert _native.validate_order(SPOT, SELL, "LIMIT_MAKER", 20000, 5) is None
    with pytest.raises(VenueRejectError) as info:
        _native.validate_order(SPOT, SELL, "LIMIT_MAKER", 20000, 4)
    assert info.value.code == -1013


def test_bad_arguments_are_value_errors():
    with pytest.raises(ValueError, match="STOP_LOSS"):
        _native.validate_order(SPOT, BUY, "STOP_LOSS", "0.2", "5")
    with pytest.raises(ValueError, match="GTD"):
        _native.validate_order(SPOT, BUY, "LIMIT", "0.2", "5", time_in_force="GTD")
    with pytest.raises(_native.ScaleError):
        _native.validate_order(SPOT, BUY, "LIMIT", "0.2", "5", time_in_force="GTC", reference_price="x")


@given(st.integers(min_value=1, max_value=200_000), st.integers(min_value=1, max_value=20_000))
def test_notional_rule_is_exact(ticks, lots):
    """price x qty >= 1 USDT passes, below is NOTIONAL; text and ticks agree."""
    text_price, text_qty = SPOT.price_to_str(ticks), SPOT.qty_to_str(lots)
    ok = ticks * lots >= 100_000  # tick 0.00001 x lot 1: notional = ticks * lots / 1e5
    for price, qty in ((text_price, text_qty), (ticks, lots)):
        if ok:
            assert _native.validate_order(SPOT, BUY, "LIMIT", price, qty, time_in_force="GTC") is None
        else:
            with pytest.raises(VenueRejectError, match="NOTIONAL"):
                _native.validate_order(SPOT, BUY, "LIMIT", price, qty, time_in_force="GTC")
