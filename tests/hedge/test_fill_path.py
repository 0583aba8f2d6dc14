"""Issue #7 latency: a spot fill's hedge order leaves from the callback that delivered the fill.

Against the simulated venue's real fronts: an Ed25519 key trades spot, so a real ``executionReport``
reaches a WebSocket-API drop copy, and the hedge leg hedges on the USD-M host. When the drop-copy
callback returns, the hedge order has been decided and its request handed to the kernel on a
connection opened before the fill: no thread hand-off, task, timer or TCP handshake stands between
the fill and the order (the regression this guards against: a hop going back to a queue, a worker
thread or a polling loop). The loop sender keeps the REST client's answer rules. No wall clock is
asserted on; speed is measured in ``bench/hedge_live.py``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization as ser
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pymm._native import RequestSigner
from pymm.config import HedgeConfig, InstrumentRef
from pymm.hedge.delta_bus import Side
from pymm.hedge.mode_controller import HedgeMode
from pymm.hedge.service import HedgeOrder, OrderStatus, OrderUpdate
from pymm.hedge.usdm_connector import MarginType
from pymm.runtime.hedging import HedgeLeg, HopTrace
from pymm.runtime.wsapi import WsApiClient
from pymm.venues.binance_usdm import UsdmLoopSender, UsdmRestClient, connect
from pymm.venues.sim import ApiKey, SimVenueConfig
from tests.venues._harness import Venue, make_key, run_venue

SYM = "DOGEUSDT"
INSTRUMENTS = Path(__file__).resolve().parents[2] / "config" / "instruments"


def _keypair() -> tuple[str, str]:
    private = Ed25519PrivateKey.generate()
    priv = private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    pub = private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


@pytest.fixture
def venue_and_key() -> Iterator[tuple[Venue, str]]:
    """Account 1 (Ed25519: the hedger) and account 2 (HMAC: the other side of every trade)."""
    priv, pub = _keypair()
    hedger = ApiKey(api_key="hedger-key", account=1, ed25519_public_key=pub)
    for v in run_venue(SimVenueConfig(keys=[make_key(2), make_key(1), hedger])):
        yield v, priv


def _hmac_client(v: Venue, updates: list[OrderUpdate] | None = None, account: int = 2) -> UsdmRestClient:
    key = next(k for k in v.running.venue.keys.keys.values() if k.account == account and k.hmac_secret)
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


def _spot(v: Venue, account: int, side: str, price: str, qty: str) -> dict[str, Any]:
    key = next(k for k in v.running.venue.keys.keys.values() if k.account == account and k.hmac_secret)
    params = {
        "symbol": SYM,
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "price": price,
        "quantity": qty,
    }
    status, body, _ = v.call(
        "POST", "/api/v3/order", params, signed=True, key=key.api_key, secret=key.hmac_secret
    )
    assert status == 200, body
    return body


async def _until(what: str, ok: Any, steps: int = 500) -> None:
    for _ in range(steps):
        if ok():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"never: {what}")


def test_hedge_order_is_written_inside_the_fill_callback(venue_and_key):
    v, priv = venue_and_key
    maker = _hmac_client(v)

    def quote(side: str, price: str) -> None:
        params = {"symbol": SYM, "side": side, "type": "LIMIT", "timeInForce": "GTC", "price": price}
        maker.request("POST", "/fapi/v1/order", {**params, "quantity": "50000"})

    cfg = HedgeConfig(max_order_qty=Decimal(5000), max_position_qty=Decimal(10000), active_band=Decimal(15))
    spot = InstrumentRef(
        venue="binance-spot", symbol=SYM, market="spot", definition=INSTRUMENTS / "DOGEUSDT.spot.toml"
    )
    perp = InstrumentRef(
        venue="binance-usdm", symbol=SYM, market="usdm", definition=INSTRUMENTS / "DOGEUSDT.usdm.toml"
    )
    urls = {
        "usdm_rest": v.usdm_url + "/fapi",
        "usdm_ws_market": v.usdm_ws + "/market/ws",
        "usdm_ws_private": v.usdm_ws + "/private/ws",
    }

    async def run() -> list[dict[str, Any]]:
        leg = HedgeLeg(cfg, spot, perp, urls, "hedger-key", priv, Decimal(1500))
        seen: list[dict[str, Any]] = []
        dc: WsApiClient | None = None

        def on_event(ev: dict[str, Any]) -> None:
            if ev.get("e") != "executionReport" or ev.get("x") != "TRADE":
                return
            assert leg.service is not None and leg.sender is not None
            before, connects = leg.service.stats.intents, leg.sender.connects
            assert dc is not None
            leg.on_spot_execution(ev, dc.recv_ns)
            # Still inside the callback: nothing else has run on the loop since the frame was read.
            new = list(leg.service.intents)[before:]
            seen.append(
                {
                    "intents": leg.service.stats.intents - before,
                    "written": [leg.hops.open[o.client_order_id].written_ns for o in new],
                    "cids": [o.client_order_id for o in new],
                    "handshakes": leg.sender.connects - connects,
                    "unsent_bytes": leg.sender.unsent_bytes(),
                }
            )

        await leg.start()
        try:
            assert leg.service is not None
            # The perp book, quoted once the leg listens (bookTicker is pushed on change).
            for i in range(50):
                await asyncio.to_thread(quote, "BUY", f"0.16{890 - i:03d}")
                await asyncio.to_thread(quote, "SELL", "0.16910")
                if leg.service.market is not None:
                    break
                await asyncio.sleep(0.05)
            assert leg.service.market is not None, "no perp market data"
            dc = WsApiClient(v.ws + "/ws-api/v3", "hedger-key", priv, on_event)
            await dc.connect()
            try:
                # The hedger's resting sell is hit: 1000 DOGE sold, ~169 USDT of delta, beyond the
                # active band: the hedge is a collared IOC buy on the perp, at once.
                await asyncio.to_thread(_spot, v, 1, "SELL", "0.17000", "1000")
                await asyncio.to_thread(_spot, v, 2, "BUY", "0.17000", "1000")
                await _until("the fill", lambda: bool(seen))
                cid = seen[0]["cids"][0]
                await _until(
                    "the hedge filled", lambda: leg.service is not None and not leg.service.in_flight
                )
                assert leg.service.position_delta() == 0
                assert leg.hops.summary()["written_to_venue"]["count"] == 1
                assert cid not in leg.hops.open
            finally:
                await dc.close()
        finally:
            await leg.close()
        return seen

    seen = asyncio.run(run())
    assert len(seen) == 1, seen
    got = seen[0]
    assert got["intents"] == 1 and all(w > 0 for w in got["written"]), got
    assert got["handshakes"] == 0 and got["unsent_bytes"] == 0, got


def test_loop_sender_keeps_the_client_answer_rules(venue_and_key):
    v, _ = venue_and_key

    async def run() -> tuple[list[OrderUpdate], list[str], int]:
        updates: list[OrderUpdate] = []
        c = _hmac_client(v, updates, account=1)
        await asyncio.to_thread(connect, c, SYM, MarginType.CROSSED)
        written: list[str] = []
        s = UsdmLoopSender(
            c, connections=1, max_connections=2, on_written=lambda cid, _ns: written.append(cid)
        )
        await s.start()
        maker = _hmac_client(v)
        params = {"symbol": SYM, "side": "SELL", "type": "LIMIT", "timeInForce": "GTC", "price": "0.2"}
        await asyncio.to_thread(maker.request, "POST", "/fapi/v1/order", {**params, "quantity": "300"})
        try:
            s.submit(_order("h1", Side.BUY, "GTX", "0.2", "100"))  # post-only that would take: -5022
            s.submit(_order("h2", Side.BUY, "GTX", "0.19", "100"))  # rests
            await _until("two answers", lambda: len(updates) == 2)
            s.submit(_order("h3", Side.BUY, "IOC", "0.2", "400"))  # 300 at the collar, rest expires
            await _until("three answers", lambda: len(updates) == 3)
            s.cancel("h2")
            s.cancel("never-sent")  # not ours: nothing goes out
            await _until("four answers", lambda: len(updates) == 4)
            with pytest.raises(ValueError, match="LIMIT GTX or IOC"):
                s.submit(_order("h4", Side.SELL, "GTC", "0.3", "1"))
        finally:
            await s.close()
        return updates, written, s.connects

    updates, written, connects = asyncio.run(run())
    assert sorted((u.client_order_id, u.status, u.cum_filled) for u in updates[:2]) == [
        ("h1", OrderStatus.REJECTED, Decimal(0)),
        ("h2", OrderStatus.ACCEPTED, Decimal(0)),
    ]
    assert [(u.client_order_id, u.status, u.cum_filled) for u in updates[2:]] == [
        ("h3", OrderStatus.EXPIRED, Decimal(300)),
        ("h2", OrderStatus.CANCELED, Decimal(0)),
    ]
    assert written == ["h1", "h2", "h3", "h2"]
    # h1 and h2 went out together: the second waited for a second connection, then both were reused.
    assert connects == 2
    v.running.venue.futures.check_invariants()


def test_loop_sender_lost_connection_is_unknown_and_unreachable_refuses_start():
    async def run() -> list[OrderUpdate]:
        async def swallow(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            await reader.read(1)  # the request arrives; the venue dies without answering
            writer.transport.abort()

        server = await asyncio.start_server(swallow, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        updates: list[OrderUpdate] = []
        c = UsdmRestClient(f"http://127.0.0.1:{port}", "k", RequestSigner.hmac("s"), on_update=updates.append)
        s = UsdmLoopSender(c, connections=1)
        await s.start()
        s.submit(_order("x1", Side.BUY, "IOC", "0.2", "1"))
        await _until("an answer", lambda: bool(updates))
        await s.close()
        server.close()
        await server.wait_closed()
        dead = UsdmLoopSender(
            UsdmRestClient("http://127.0.0.1:9", "k", RequestSigner.hmac("s"), timeout_s=1.0)
        )
        with pytest.raises(OSError):
            await dead.start()
        return updates

    updates = asyncio.run(run())
    assert [(u.client_order_id, u.status) for u in updates] == [("x1", OrderStatus.UNKNOWN)]


def test_hop_trace_splits_the_path_from_the_stamps():
    t = HopTrace()
    ms = 1_000_000
    # The sender stamps the write inside submit, before the leg knows which fill the order is for.
    t.written("a", 103 * ms)
    t.intent("a", exec_ns=100 * ms, recv_ns=101 * ms, intent_ns=102 * ms)
    t.intent("b", exec_ns=200 * ms, recv_ns=204 * ms, intent_ns=205 * ms)
    t.written("b", 206 * ms)
    t.venue("a", 105 * ms)
    t.venue("unknown", 1)
    s = t.summary()
    assert s["traced"] == 2 and set(t.open) == {"b"}
    assert s["exec_to_recv"]["count"] == 2 and s["exec_to_recv"]["max"] == pytest.approx(4000, rel=1e-3)
    assert s["recv_to_written"]["p50"] == pytest.approx(2000, rel=1e-3)
    assert s["exec_to_written"]["max"] == pytest.approx(6000, rel=1e-3)
    assert s["written_to_venue"]["count"] == 1 and s["written_to_venue"]["p50"] == pytest.approx(
        2000, rel=1e-3
    )
    assert s["exec_to_venue"]["count"] == 1 and s["exec_to_venue"]["p50"] == pytest.approx(5000, rel=1e-3)
    assert s["written"] == "kernel" and HopTrace(written_means="gateway").summary()["written"] == "gateway"
    assert set(t.encoded()) == set(t.hists)
