"""The simulated venue's USD-M futures WebSocket API (``/ws-fapi/v1``): the spot WS API's envelope
and signing over the REST routes' order logic, ``rateLimits`` in every answer, ``session.logon``,
the listenKey calls, and the :class:`~pymm.venues.sim.usdm.UsdmFaults` hooks."""

from __future__ import annotations

import asyncio
import base64
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from pymm.venues.sim import ApiKey, SimVenueConfig
from pymm.venues.sim.ws_api import ws_signature_payload
from tests.venues._harness import Venue, make_key, run_venue
from tests.venues.test_sim_ws_api import _signed

ORDER = {
    "symbol": "DOGEUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTX",
    "quantity": "100",
    "price": "0.15",
    "newClientOrderId": "wsf-1",
    "newOrderRespType": "RESULT",
}


@pytest.fixture
def venue() -> Iterator[Venue]:
    yield from run_venue(SimVenueConfig(keys=[make_key(1), make_key(2)]))


async def _call(
    ws: aiohttp.ClientWebSocketResponse, rid: object, method: str, params: dict
) -> dict[str, Any]:
    await ws.send_json({"id": rid, "method": method, "params": params})
    while True:
        msg = await asyncio.wait_for(ws.receive_json(), timeout=10)
        if msg.get("id") == rid:
            return msg


def _limits(reply: dict[str, Any]) -> dict[tuple[str, str, int], int]:
    return {(r["rateLimitType"], r["interval"], r["intervalNum"]): r["count"] for r in reply["rateLimits"]}


def test_order_lifecycle_errors_and_rate_limits(venue: Venue) -> None:
    async def run() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(venue.usdm_ws + "/ws-fapi/v1") as ws:
            placed = await _call(ws, "p", "order.place", _signed(venue.key, ORDER))
            assert placed["status"] == 200, placed
            assert (placed["result"]["status"], placed["result"]["clientOrderId"]) == ("NEW", "wsf-1")
            lim = _limits(placed)
            assert lim[("ORDERS", "SECOND", 10)] == 1 and lim[("ORDERS", "MINUTE", 1)] == 1
            assert lim[("REQUEST_WEIGHT", "MINUTE", 1)] >= 0
            by_cid = {"symbol": "DOGEUSDT", "origClientOrderId": "wsf-1"}
            status = await _call(ws, 2, "order.status", _signed(venue.key, by_cid))
            assert status["result"]["orderId"] == placed["result"]["orderId"]
            assert ("ORDERS", "SECOND", 10) not in _limits(status), "a query is not an order"
            mod = dict(by_cid, side="BUY", price="0.151", quantity="120")
            modified = await _call(ws, 3, "order.modify", _signed(venue.key, mod))
            got = (modified["result"]["price"], modified["result"]["origQty"])
            assert got == ("0.15100", "120"), modified
            # Same errors and codes as REST: a post-only order that would take, a bad signature.
            k2 = next(k for k in venue.running.venue.keys.keys.values() if k.account == 2)
            ask = {"symbol": "DOGEUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTC"}
            ask |= {"quantity": "100", "price": "0.155"}
            status_code, body, _ = venue.call(
                "POST",
                "/fapi/v1/order",
                ask,
                signed=True,
                key=k2.api_key,
                secret=k2.hmac_secret,
                base=venue.usdm_url,
            )
            assert status_code == 200, body
            taker = dict(ORDER, price="0.155", newClientOrderId="wsf-2")
            gtx = await _call(ws, 4, "order.place", _signed(venue.key, taker))
            assert (gtx["status"], gtx["error"]["code"]) == (400, -5022), gtx
            bad = dict(_signed(venue.key, ORDER), signature="00" * 32)
            assert (await _call(ws, 5, "order.place", bad))["error"]["code"] == -1022
            missing = {"symbol": "DOGEUSDT", "orderId": 999}
            gone = await _call(ws, 6, "order.status", _signed(venue.key, missing))
            assert gone["error"]["code"] == -2013
            done = await _call(ws, 7, "order.cancel", _signed(venue.key, by_cid))
            assert done["result"]["status"] == "CANCELED"
            pos = await _call(ws, 8, "v2/account.position", _signed(venue.key, {"symbol": "DOGEUSDT"}))
            assert pos["status"] == 200 and isinstance(pos["result"], list)
            acct = await _call(ws, 9, "account.status", _signed(venue.key, {}))
            assert acct["status"] == 200 and "assets" in acct["result"]
            quiet = await _call(ws, 10, "ping", {"returnRateLimits": False})
            assert quiet == {"id": 10, "status": 200, "result": {}}
            unknown = await _call(ws, 11, "order.cancelReplace", _signed(venue.key, by_cid))
            assert unknown["error"]["code"] == -1100

    asyncio.run(run())


def test_listen_key_calls_feed_the_user_stream(venue: Venue) -> None:
    async def run() -> dict[str, Any]:
        async with aiohttp.ClientSession() as s, s.ws_connect(venue.usdm_ws + "/ws-fapi/v1") as ws:
            start = await _call(ws, 1, "userDataStream.start", {"apiKey": venue.key.api_key})
            key = start["result"]["listenKey"]
            ping = await _call(ws, 2, "userDataStream.ping", {"apiKey": venue.key.api_key})
            assert ping["result"]["listenKey"] == key
            nokey = await _call(ws, 3, "userDataStream.start", {"apiKey": "nope"})
            assert nokey["error"]["code"] == -2015
            async with s.ws_connect(f"{venue.usdm_ws}/private/ws?listenKey={key}") as user:
                await _call(ws, 4, "order.place", _signed(venue.key, ORDER))
                while True:
                    ev = await asyncio.wait_for(user.receive_json(), timeout=10)
                    if ev.get("e") == "ORDER_TRADE_UPDATE":
                        return ev

    ev = asyncio.run(run())
    assert (ev["o"]["c"], ev["o"]["X"]) == ("wsf-1", "NEW")


@pytest.fixture
def ed_venue() -> Iterator[tuple[Venue, Any]]:
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    private = ed.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    key = ApiKey(api_key="ed-fapi-key", account=1, ed25519_public_key=pem)
    for v in run_venue(SimVenueConfig(keys=[key, make_key(2)])):
        yield v, private


def test_session_logon_then_unsigned_orders(ed_venue: tuple[Venue, Any]) -> None:
    venue, private = ed_venue

    async def run() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(venue.usdm_ws + "/ws-fapi/v1") as ws:
            early = await _call(ws, 0, "order.place", dict(ORDER, timestamp=int(time.time() * 1000)))
            assert early["error"]["code"] == -1102, "no logon, no apiKey: refused"
            p = {"apiKey": venue.key.api_key, "timestamp": int(time.time() * 1000)}
            p["signature"] = base64.b64encode(private.sign(ws_signature_payload(p))).decode()
            logon = await _call(ws, 1, "session.logon", p)
            assert logon["status"] == 200 and logon["result"]["apiKey"] == "ed-fapi-key", logon
            placed = await _call(ws, 2, "order.place", dict(ORDER, timestamp=int(time.time() * 1000)))
            assert placed["result"]["status"] == "NEW", placed

    asyncio.run(run())


@pytest.mark.parametrize("fault", ["unknown_replies", "reset_replies", "stall_replies"])
def test_faults_apply_after_the_order_executed(venue: Venue, fault: str) -> None:
    faults = venue.running.venue.usdm_faults
    faults.stall_s = 0.5
    setattr(faults, fault, 1)

    async def run() -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(venue.usdm_ws + "/ws-fapi/v1") as ws:
                await ws.send_json({"id": 1, "method": "order.place", "params": _signed(venue.key, ORDER)})
                try:
                    first: dict[str, Any] | None = await asyncio.wait_for(ws.receive_json(), timeout=0.2)
                except (TimeoutError, TypeError):
                    first = None  # stalled, or the connection closed (a close frame is not JSON)
                late = []
                if fault == "stall_replies":
                    late.append(await asyncio.wait_for(ws.receive_json(), timeout=10))
            async with s.ws_connect(venue.usdm_ws + "/ws-fapi/v1") as ws:
                q = {"symbol": "DOGEUSDT", "origClientOrderId": "wsf-1"}
                late.append(await _call(ws, 2, "order.status", _signed(venue.key, q)))
            return first, late

    first, late = asyncio.run(run())
    assert faults.applied == 1
    if fault == "unknown_replies":
        assert first is not None and (first["status"], first["error"]["code"]) == (503, -1007)
    else:
        assert first is None
    if fault == "stall_replies":
        assert late[0]["result"]["status"] == "NEW", "the stalled answer comes late"
    assert late[-1]["result"]["status"] == "NEW", "the venue executed it"
