"""The model binding surface: instruments from TOML and exchangeInfo, exact price/qty conversion."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm import _native
from pymm.errors import InstrumentError, PymmError, ScaleError

REPO = Path(__file__).resolve().parents[2]
SPOT_TOML = REPO / "config" / "instruments" / "DOGEUSDT.spot.toml"
USDM_TOML = REPO / "config" / "instruments" / "DOGEUSDT.usdm.toml"
SPOT_JSON = REPO / "tests" / "fixtures" / "exchangeinfo_spot_dogeusdt.json"
USDM_JSON = REPO / "tests" / "fixtures" / "exchangeinfo_usdm_dogeusdt.json"


@pytest.fixture(scope="module")
def spot() -> _native.Instrument:
    return _native.InstrumentMaster.from_toml(SPOT_TOML).get("DOGEUSDT", "spot")


@pytest.fixture(scope="module")
def usdm() -> _native.Instrument:
    return _native.InstrumentMaster.from_toml(str(USDM_TOML)).get("DOGEUSDT", "usdm")


def test_spot_definition(spot):
    assert (spot.venue, spot.market, spot.symbol, spot.status) == ("binance", "spot", "DOGEUSDT", "TRADING")
    assert (spot.base_asset, spot.quote_asset) == ("DOGE", "USDT")
    assert (spot.tick_size, spot.step_size) == ("0.00001", "1")
    assert (spot.price_precision, spot.qty_precision) == (8, 8)
    assert spot.order_types == ["LIMIT", "LIMIT_MAKER", "MARKET"]
    assert spot.time_in_force == ["GTC", "IOC", "FOK"]
    assert spot.min_notional == "1"
    assert spot.max_num_orders == 200
    assert spot.contract_type is None
    assert "tick 0.00001 lot 1" in repr(spot)


def test_usdm_definition(usdm):
    assert (usdm.market, usdm.tick_size, usdm.step_size) == ("usdm", "0.00001", "1")
    assert usdm.min_notional == "5"
    assert (usdm.contract_type, usdm.margin_asset) == ("PERPETUAL", "USDT")
    assert "GTX" in usdm.time_in_force
    assert "LIMIT_MAKER" not in usdm.order_types


@pytest.mark.parametrize(("path", "market"), [(SPOT_JSON, "spot"), (USDM_JSON, "usdm")])
def test_exchange_info_matches_toml(path, market):
    j = _native.InstrumentMaster.from_exchange_info(path.read_text(), market).get("DOGEUSDT", market)
    toml_path = SPOT_TOML if market == "spot" else USDM_TOML
    t = _native.InstrumentMaster.from_toml(toml_path).get("DOGEUSDT", market)
    for attr in ("tick_size", "step_size", "min_price", "max_price", "min_qty", "max_qty", "min_notional"):
        assert getattr(j, attr) == getattr(t, attr), attr


def test_master_lookup_and_extend():
    m = _native.InstrumentMaster.from_exchange_info(SPOT_JSON.read_text(), "spot")
    assert len(m) == 2
    assert m.lookup("DOGEUSDT", "spot") == 0
    assert m.lookup("DOGEUSDT", "usdm") is None
    assert m.get("DOGEBTC", "spot").status == "BREAK"
    with pytest.raises(KeyError):
        m.get("XRPUSDT", "spot")
    m.extend(_native.InstrumentMaster.from_toml(USDM_TOML))
    assert m.lookup("DOGEUSDT", "usdm") == 2
    assert [i.id for i in m.instruments()] == [0, 1, 2]
    with pytest.raises(InstrumentError, match="defined twice"):
        m.extend(_native.InstrumentMaster.from_toml(USDM_TOML))
    with pytest.raises(ValueError, match="market"):
        m.get("DOGEUSDT", "swap")


def test_toml_text_and_refusals():
    text = SPOT_TOML.read_text()
    assert len(_native.InstrumentMaster.from_toml(text)) == 1
    with pytest.raises(InstrumentError, match="bogus"):
        _native.InstrumentMaster.from_toml("bogus = 1\n" + text)
    with pytest.raises(InstrumentError, match=r"no-such\.toml"):
        _native.InstrumentMaster.from_toml("no-such.toml")
    with pytest.raises(InstrumentError, match="exchangeInfo JSON"):
        _native.InstrumentMaster.from_exchange_info("{}", "spot")
    assert issubclass(InstrumentError, PymmError)


def test_conversion_refuses_instead_of_rounding(spot):
    assert spot.price_from_str("0.16912000") == 16912
    assert spot.price_to_str(16912) == "0.16912"
    assert spot.qty_from_str("120.000") == 120
    assert spot.qty_to_str(120) == "120"
    for bad in ("0.169125", "1e-5", "", "abc", "0.1.2"):
        with pytest.raises(ScaleError):
            spot.price_from_str(bad)
    with pytest.raises(ScaleError, match="not representable"):
        spot.qty_from_str("1.5")


def test_side_enum():
    assert _native.Side.BUY != _native.Side.SELL
    assert int(_native.Side.SELL) == 1


def _canonical(d: Decimal, places: int) -> str:
    return f"{d:.{places}f}"


# A value on the 0.00001 grid, written with 5 to 8 decimals (venue strings carry trailing zeros).
_ticks = st.integers(min_value=0, max_value=10**13)
_pad = st.integers(min_value=0, max_value=3)


@given(_ticks, _pad)
def test_price_round_trip_is_exact(spot_ticks, pad):
    spot = _native.InstrumentMaster.from_toml(SPOT_TOML).get("DOGEUSDT", "spot")
    d = Decimal(spot_ticks).scaleb(-5)
    text = _canonical(d, 5 + pad)
    ticks = spot.price_from_str(text)
    assert ticks == spot_ticks
    assert spot.price_to_str(ticks) == _canonical(d, 5)
    assert Decimal(spot.price_to_str(ticks)) == Decimal(text)


@given(_ticks, st.integers(min_value=1, max_value=9))
def test_non_representable_price_is_refused(spot_ticks, extra_digit):
    spot = _native.InstrumentMaster.from_toml(SPOT_TOML).get("DOGEUSDT", "spot")
    # One more nonzero digit past the tick: never on the grid, must never round.
    text = _canonical(Decimal(spot_ticks).scaleb(-5), 5) + str(extra_digit)
    with pytest.raises(ScaleError):
        spot.price_from_str(text)


@given(st.integers(min_value=0, max_value=10**15), st.integers(min_value=1, max_value=9))
def test_qty_round_trip_and_refusal(lots, frac):
    spot = _native.InstrumentMaster.from_toml(SPOT_TOML).get("DOGEUSDT", "spot")
    assert spot.qty_from_str(f"{lots}.00000000") == lots
    assert spot.qty_to_str(lots) == str(lots)
    with pytest.raises(ScaleError):
        spot.qty_from_str(f"{lots}.{frac}")
