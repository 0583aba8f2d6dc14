"""Issue #7 through the native USD-M gateway (``[hedge] gateway = "native"``): the hedge leg's orders
go through ``pymm._native.UsdmGateway`` on the simulated venue's real fronts.

Real spot fills reach a WebSocket-API drop copy; the leg hedges on the USD-M host through the gateway
(risk, persisted client ids, UNKNOWN never resent). The perp position the leg books from its own
``ORDER_TRADE_UPDATE`` stream (the gateway's ids mapped back to the service's) must equal the venue's
``positionAmt``: a fill counted twice or lost would show. The fault test answers one hedge order
``-1007`` (the sim's ``UsdmFaults``): the leg must hold it as UNKNOWN — its whole quantity counted as
filled — and send nothing more for that exposure until the gateway resolves it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

from pymm._native import RequestSigner
from pymm.config import HedgeConfig, InstrumentRef
from pymm.hedge.service import OrderStatus
from pymm.runtime.hedging import HedgeLeg
from pymm.runtime.wsapi import WsApiClient
from pymm.venues.binance_usdm import UsdmRestClient
from tests.hedge.test_fill_path import (
    INSTRUMENTS,
    SYM,
    _hmac_client,
    _spot,
    _until,
    venue_and_key,  # noqa: F401  (the fixture, used by name)
)
from tests.venues._harness import Venue

# ``_until`` polls every 10 ms: 30 s, for a loaded 2-core VM.

SPOT = InstrumentRef(
    venue="binance-spot", symbol=SYM, market="spot", definition=INSTRUMENTS / "DOGEUSDT.spot.toml"
)
PERP = InstrumentRef(
    venue="binance-usdm", symbol=SYM, market="usdm", definition=INSTRUMENTS / "DOGEUSDT.usdm.toml"
)


def _cfg() -> HedgeConfig:
    return HedgeConfig(
        gateway="native",
        max_order_qty=Decimal(5000),
        max_position_qty=Decimal(10000),
        max_order_notional=Decimal(2000),
        max_position_notional=Decimal(4000),
        active_band=Decimal(15),
        gateway_request_timeout_ms=2000,
    )


def _urls(v: Venue) -> dict[str, str]:
    return {
        "usdm_rest": v.usdm_url + "/fapi",
        "usdm_ws_market": v.usdm_ws + "/market/ws",
        "usdm_ws_private": v.usdm_ws + "/private/ws",
    }


def _venue_position(v: Venue, priv: str) -> Decimal:
    c = UsdmRestClient(v.usdm_url, "hedger-key", RequestSigner.ed25519_pem(priv))
    rows = c.request("GET", "/fapi/v2/positionRisk", {"symbol": SYM})
    return sum((Decimal(str(r["positionAmt"])) for r in rows), Decimal(0))


def _venue_orders(v: Venue, priv: str) -> list[dict[str, Any]]:
    c = UsdmRestClient(v.usdm_url, "hedger-key", RequestSigner.ed25519_pem(priv))
    return list(c.request("GET", "/fapi/v1/allOrders", {"symbol": SYM, "limit": "1000"}))


async def _with_leg(
    v: Venue,
    priv: str,
    state: Path,
    book: tuple[str, str],
    body: Callable[[HedgeLeg], Awaitable[None]],
    gateway_options: dict[str, Any] | None = None,
) -> None:
    """A native-gateway leg with a perp book quoted at ``book`` (bid, ask) by another account and a
    drop copy feeding it the hedger's spot fills; runs ``body``."""
    maker = _hmac_client(v)

    def quote(side: str, price: str) -> None:
        params = {"symbol": SYM, "side": side, "type": "LIMIT", "timeInForce": "GTC", "price": price}
        maker.request("POST", "/fapi/v1/order", {**params, "quantity": "50000"})

    leg = HedgeLeg(_cfg(), SPOT, PERP, _urls(v), "hedger-key", priv, Decimal(1500), state, gateway_options)
    await leg.start()
    try:
        assert leg.service is not None and leg.native is not None
        await asyncio.to_thread(quote, "BUY", book[0])
        await asyncio.to_thread(quote, "SELL", book[1])
        await _until(
            "perp market data", lambda: leg.service is not None and leg.service.market is not None, steps=3000
        )
        # The gateway's risk has the mid before the first hedge (it refuses orders without one).
        assert await asyncio.to_thread(leg.native.sync)
        dc = WsApiClient(v.ws + "/ws-api/v3", "hedger-key", priv, lambda ev: _on_exec(leg, dc, ev))
        await dc.connect()
        try:
            await body(leg)
        finally:
            await dc.close()
    finally:
        await leg.close()


def _on_exec(leg: HedgeLeg, dc: WsApiClient, ev: dict[str, Any]) -> None:
    if ev.get("e") == "executionReport" and ev.get("x") == "TRADE":
        leg.on_spot_execution(ev, dc.recv_ns)


def test_native_gateway_hedges_and_books_the_venue_position(venue_and_key, tmp_path):  # noqa: F811
    v, priv = venue_and_key

    async def body(leg: HedgeLeg) -> None:
        svc = leg.service
        assert svc is not None
        # Sell 1000 spot (hedge: buy 1000 perp), then buy 600 spot (hedge: sell 600 perp); each beyond
        # the active band (15 USDT), so each is a collared IOC against the quoted perp book.
        for side, price, qty in (("SELL", "0.17000", "1000"), ("BUY", "0.16000", "600")):
            fills = leg.fills
            other = "BUY" if side == "SELL" else "SELL"
            await asyncio.to_thread(_spot, v, 1, side, price, qty)
            await asyncio.to_thread(_spot, v, 2, other, price, qty)
            await _until("the spot fill", lambda f=fills: leg.fills > f, steps=3000)
            # Within half a perp lot (1 DOGE): the spot buy's commission is charged in DOGE.
            await _until(
                "the hedge settled", lambda: not svc.in_flight and abs(svc.position_delta()) < 1, steps=3000
            )
        venue_pos = await asyncio.to_thread(_venue_position, v, priv)
        assert svc.book.position(svc.route.hedge_key) == venue_pos == Decimal(400)
        # Every fill matched its order under the service's id (none parked, none booked unmatched).
        assert all(o.filled_seen == o.cum_reported == o.order.qty for o in svc.done), list(svc.done)
        assert not leg._parked
        orders = await asyncio.to_thread(_venue_orders, v, priv)
        texts = [o["clientOrderId"] for o in orders]
        assert len(texts) == len(set(texts)) == svc.stats.intents == 2, texts
        assert all(t.startswith("pymmf-") for t in texts), "the gateway's ids, never the service's"
        assert leg.native is not None and leg.native.sync()
        st = await asyncio.to_thread(leg.native.gateway.status)
        assert (st["orders_sent"], st["unknown"], st["illegal_transitions"]) == (2, 0, 0), st
        hops = leg.hops.summary()
        assert hops["written"] == "gateway" and hops["recv_to_written"]["count"] == 2, hops
        assert hops["exec_to_venue"]["count"] == 2, hops
        # A fill of a gateway id the sender has not mapped yet (the stream beat place's answer) waits
        # for the mapping, then is booked once under the service's id.
        key = svc.route.hedge_key
        before = svc.book.position(key)
        o = {"s": SYM, "c": "pymmf-999999", "S": "BUY", "x": "TRADE", "X": "FILLED", "l": "10", "L": "0.169"}
        leg._on_user({"e": "ORDER_TRADE_UPDATE", "o": {**o, "t": "9999", "T": 1, "z": "10"}})
        assert svc.book.position(key) == before and "pymmf-999999" in leg._parked
        leg._mapped("pymmf-999999", "pymmh-999")
        leg._mapped("pymmf-999999", "pymmh-999")
        assert svc.book.position(key) == before + 10 and not leg._parked

    asyncio.run(_with_leg(v, priv, tmp_path, ("0.16890", "0.16910"), body))
    v.running.venue.futures.check_invariants()


def test_native_unknown_is_held_as_filled_and_never_resent(venue_and_key, tmp_path):  # noqa: F811
    """The first hedge IOC is answered -1007 after the venue ran it (it expired: the perp book is
    far outside the collar). Without its own user stream the gateway resolves it by query after
    1.5 s; until then the leg's service holds it UNKNOWN, counts its 1000 as bought, and sends
    nothing else."""
    v, priv = venue_and_key
    faults = v.running.venue.usdm_faults

    async def body(leg: HedgeLeg) -> None:
        svc = leg.service
        assert svc is not None
        faults.unknown_replies = 1
        await asyncio.to_thread(_spot, v, 1, "SELL", "0.17000", "1000")
        await asyncio.to_thread(_spot, v, 2, "BUY", "0.17000", "1000")
        await _until("the UNKNOWN answer", lambda: leg.unknown_updates == 1, steps=3000)
        first = svc.intents[0]
        held = 0
        while (o := svc.in_flight.get(first.client_order_id)) is not None and o.status is OrderStatus.UNKNOWN:
            # Held as if filled: the exposure is covered, so no second order goes out.
            assert svc.stats.intents == 1, list(svc.intents)
            assert svc.exposure() == 0 and svc.perp_position_worst() == Decimal(1000)
            held += 1
            await asyncio.sleep(0.02)
        assert held >= 2, "the UNKNOWN window was observed"
        # Resolved by the query: it expired unfilled, so the delta is worked again with a new order.
        await _until("a new hedge order", lambda: svc.stats.intents >= 2, steps=3000)
        assert svc.intents[1].client_order_id != first.client_order_id
        assert leg.native is not None and leg.native.sync()
        st = await asyncio.to_thread(leg.native.gateway.status)
        assert st["unknown"] == st["unknown_resolved"] == 1 and st["queries_sent"] >= 1, st
        assert faults.applied == 1
        venue_text = leg.native.venue_client_id(first.client_order_id)
        orders = await asyncio.to_thread(_venue_orders, v, priv)
        texts = [o["clientOrderId"] for o in orders]
        assert texts.count(venue_text) == 1, "the UNKNOWN order was never resent"
        # Every venue order is one intent's, once. The hedging goes on while we look, and the leg maps
        # an intent to its venue id only once `place` returned, which can be after the venue has the
        # order: wait for the map to catch up with what the venue listed.
        assert len(texts) == len(set(texts)), texts
        native = leg.native

        def sent() -> set[str | None]:
            return {native.venue_client_id(i.client_order_id) for i in list(svc.intents)}

        await _until("every venue order mapped to one of our intents", lambda: set(texts) <= sent())
        assert (
            await asyncio.to_thread(_venue_position, v, priv) == svc.book.position(svc.route.hedge_key) == 0
        )

    options = {"user_ws": None, "query_backoff_ms": 1500, "query_backoff_max_ms": 3000}
    asyncio.run(_with_leg(v, priv, tmp_path, ("0.16000", "0.18000"), body, options))
