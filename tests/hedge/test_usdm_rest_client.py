"""The USD-M REST transport (issue #7) against the simulated venue's real futures front: the start-up
check sets and verifies 1x, the margin type and one-way mode or refuses; hedge orders are GTX or
IOC LIMIT only and their answers reach the hedge service as order updates."""

from __future__ import annotations

from collections.abc import Iterator
from decimal import Decimal

import pytest

from pymm._native import RequestSigner
from pymm.hedge.delta_bus import Side
from pymm.hedge.mode_controller import HedgeMode
from pymm.hedge.service import HedgeOrder, OrderStatus, OrderUpdate
from pymm.hedge.usdm_connector import MarginType, UsdmAccountError, UsdmApiError
from pymm.venues.binance_usdm import UsdmRestClient, connect
from pymm.venues.sim import SimVenueConfig
from tests.venues._harness import Venue, make_key, run_venue

SYM = "DOGEUSDT"


@pytest.fixture
def venue() -> Iterator[Venue]:
    """Two funded accounts; account 2 provides liquidity."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1), make_key(2)]))


def _client(v: Venue, account: int = 1, updates: list[OrderUpdate] | None = None) -> UsdmRestClient:
    key = next(k for k in v.running.venue.keys.keys.values() if k.account == account)
    sink = updates if updates is not None else []
    return UsdmRestClient(
        v.usdm_url, key.api_key, RequestSigner.hmac(key.hmac_secret or ""), on_update=sink.append
    )


def _order(cid: str, side: Side, tif: str, price: str, qty: str, reduce_only: bool = False) -> HedgeOrder:
    return HedgeOrder(
        client_order_id=cid,
        venue="binance-usdm",
        symbol=SYM,
        side=side,
        order_type="LIMIT",
        time_in_force=tif,
        price=Decimal(price),
        qty=Decimal(qty),
        price_text=price,
        qty_text=qty,
        reduce_only=reduce_only,
        mode=HedgeMode.ACTIVE if tif == "IOC" else HedgeMode.PASSIVE,
        ts_trigger=0,
        ts_intent=0,
    )


def test_start_check_sets_1x_margin_type_and_one_way(venue):
    c = _client(venue)
    ok = connect(c, SYM, MarginType.ISOLATED)
    assert (ok.leverage, ok.margin_type, ok.position_amt) == (1, MarginType.ISOLATED, Decimal(0))
    assert ok.actions == ("set margin type ISOLATED", "set leverage 1x")
    row = c.get_position_risk(SYM)[0]
    assert (row["leverage"], row["marginType"], row["positionSide"]) == ("1", "isolated", "BOTH")
    again = connect(c, SYM, MarginType.ISOLATED)
    assert again.actions == ()  # already so: nothing changed
    # A dry run that finds a difference refuses.
    with pytest.raises(UsdmAccountError, match="margin type"):
        connect(c, SYM, MarginType.CROSSED, allow_changes=False)


def test_start_check_refuses_hedge_mode_it_cannot_leave(venue):
    c = _client(venue)
    c.set_position_side_dual(True)
    maker = _client(venue, 2)
    maker.request(
        "POST",
        "/fapi/v1/order",
        {
            "symbol": SYM,
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "100",
            "price": "0.2",
        },
    )
    c.request(
        "POST",
        "/fapi/v1/order",
        {
            "symbol": SYM,
            "side": "BUY",
            "positionSide": "LONG",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "100",
            "price": "0.2",
        },
    )
    with pytest.raises(UsdmAccountError) as e:
        connect(c, SYM, MarginType.CROSSED)
    assert "-4068" in str(e.value) and "one-way" in str(e.value)
    with pytest.raises(UsdmApiError) as api:
        c.set_leverage(SYM, 0)
    assert api.value.code == -4028


def test_hedge_orders_gtx_and_collared_ioc(venue):
    updates: list[OrderUpdate] = []
    c = _client(venue, updates=updates)
    connect(c, SYM, MarginType.CROSSED)
    maker = _client(venue, 2)
    maker.request(
        "POST",
        "/fapi/v1/order",
        {
            "symbol": SYM,
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "300",
            "price": "0.2",
        },
    )
    # Post-only that would take: -5022, reported REJECTED (not recorded by the venue).
    c.submit(_order("h1", Side.BUY, "GTX", "0.2", "100"))
    # Post-only below the ask rests.
    c.submit(_order("h2", Side.BUY, "GTX", "0.19", "100"))
    # IOC at the collar bound 0.2: fills 300 at 0.2 and expires the rest, never trading above 0.2.
    c.submit(_order("h3", Side.BUY, "IOC", "0.2", "400"))
    c.cancel("h2")
    assert [(u.client_order_id, u.status, u.cum_filled) for u in updates] == [
        ("h1", OrderStatus.REJECTED, Decimal(0)),
        ("h2", OrderStatus.ACCEPTED, Decimal(0)),
        ("h3", OrderStatus.EXPIRED, Decimal(300)),
        ("h2", OrderStatus.CANCELED, Decimal(0)),
    ]
    trades = c.request("GET", "/fapi/v1/userTrades", {"symbol": SYM})
    assert [t["price"] for t in trades] == ["0.20000"]
    with pytest.raises(ValueError, match="LIMIT GTX or IOC"):
        c.submit(_order("h4", Side.SELL, "GTC", "0.3", "1"))
    # Reduce-only hedge that would not reduce: REJECTED (-2022).
    c.submit(_order("h5", Side.BUY, "IOC", "0.2", "1", reduce_only=True))
    assert updates[-1].status is OrderStatus.REJECTED
    venue.running.venue.futures.check_invariants()


def test_unreachable_venue_is_unknown_not_rejected():
    updates: list[OrderUpdate] = []
    c = UsdmRestClient(
        "http://127.0.0.1:9", "k", RequestSigner.hmac("s"), timeout_s=1.0, on_update=updates.append
    )
    c.submit(_order("x1", Side.BUY, "IOC", "0.2", "1"))
    assert [(u.client_order_id, u.status) for u in updates] == [("x1", OrderStatus.UNKNOWN)]
