"""The simulated venue's WebSocket API: signed order entry and the user data subscription."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterator

import aiohttp
import pytest

from pymm.venues.sim import ApiKey, SimVenueConfig
from pymm.venues.sim.ws_api import ws_signature_payload
from tests.venues._harness import Venue, make_key, run_venue

ORDER = {
    "symbol": "DOGEUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "100",
    "price": "0.15",
}


def _signed(key: ApiKey, params: dict) -> dict:
    p = dict(params, apiKey=key.api_key, timestamp=int(time.time() * 1000))
    secret = (key.hmac_secret or "").encode()
    p["signature"] = hmac.new(secret, ws_signature_payload(p), hashlib.sha256).hexdigest()
    return p


_events: list[dict] = []


async def _call(ws: aiohttp.ClientWebSocketResponse, rid: object, method: str, params: dict) -> dict:
    """Sends a request and returns its reply; events that arrive first are kept for ``_event``."""
    await ws.send_str(json.dumps({"id": rid, "method": method, "params": params}))
    while True:
        msg = json.loads((await asyncio.wait_for(ws.receive(), timeout=10)).data)
        if msg.get("id") == rid and "status" in msg:
            return msg
        _events.append(msg)


async def _event(ws: aiohttp.ClientWebSocketResponse) -> dict:
    """The next user-data event (kept or newly received)."""
    while True:
        msg = (
            _events.pop(0) if _events else json.loads((await asyncio.wait_for(ws.receive(), timeout=10)).data)
        )
        if "subscriptionId" in msg and "event" in msg:
            return msg


def test_binance_ws_api_signature_vector():
    # Research brief §2.4: the documented payload is the sorted, unencoded parameters.
    params = {
        "symbol": "BTCUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "0.01000000",
        "price": "52000.00",
        "recvWindow": 100,
        "timestamp": 1645423376532,
        "apiKey": "vmPUZE6mv9SD5VNHk4HlWFsOr6aKE2zvsw0MuIgwCIPy6utIco14y7Ju91duEh8A",
        "signature": "x",
    }
    secret = b"NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    sig = hmac.new(secret, ws_signature_payload(params), hashlib.sha256).hexdigest()
    assert sig == "aa1b5712c094bc4e57c05a1a5c1fd8d88dcd628338ea863fec7b88e59fe2db24"


def test_order_entry_and_user_data_with_hmac(venue):
    _events.clear()

    async def run() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(venue.ws + "/ws-api/v3") as ws:
            sub = await _call(ws, 1, "userDataStream.subscribe.signature", _signed(venue.key, {}))
            assert sub["status"] == 200 and sub["result"] == {"subscriptionId": 0}
            placed = await _call(ws, "a", "v3/order.place", _signed(venue.key, ORDER))
            assert placed["status"] == 200 and placed["result"]["status"] == "NEW"
            ev = await _event(ws)
            assert ev["subscriptionId"] == 0 and ev["event"]["e"] == "executionReport"
            assert (ev["event"]["x"], ev["event"]["i"]) == ("NEW", placed["result"]["orderId"])
            bad = dict(_signed(venue.key, ORDER), signature="00" * 32)
            rej = await _call(ws, 3, "order.place", bad)
            assert rej["status"] == 400 and rej["error"]["code"] == -1022
            gone = await _call(
                ws, 4, "order.status", _signed(venue.key, {"symbol": "DOGEUSDT", "orderId": 99})
            )
            assert gone["error"] == {"code": -2013, "msg": "Order does not exist."}
            cancel = _signed(venue.key, {"symbol": "DOGEUSDT", "orderId": placed["result"]["orderId"]})
            done = await _call(ws, 5, "order.cancel", cancel)
            assert done["result"]["status"] == "CANCELED"
            ev = await _event(ws)
            while ev["event"]["e"] != "executionReport":
                ev = await _event(ws)
            assert ev["event"]["x"] == "CANCELED"

    asyncio.run(run())


@pytest.fixture
def ed_venue() -> Iterator[tuple[Venue, object]]:
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    private = ed.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    key = ApiKey(api_key="ed-key-for-this-test", account=1, ed25519_public_key=pem)
    for v in run_venue(SimVenueConfig(keys=[key, make_key(2)])):
        yield v, private


def test_ed25519_session_logon_then_unsigned_requests(ed_venue):
    venue, private = ed_venue
    _events.clear()

    async def run() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(venue.ws + "/ws-api/v3") as ws:
            p = {"apiKey": venue.key.api_key, "timestamp": int(time.time() * 1000)}
            p["signature"] = base64.b64encode(private.sign(ws_signature_payload(p))).decode()
            logon = await _call(ws, 1, "session.logon", p)
            assert logon["status"] == 200, logon
            assert (await _call(ws, 2, "userDataStream.subscribe", {}))["result"] == {"subscriptionId": 0}
            placed = await _call(ws, 3, "order.place", dict(ORDER, timestamp=int(time.time() * 1000)))
            assert placed["result"]["status"] == "NEW"
            assert (await _event(ws))["event"]["x"] == "NEW"

    asyncio.run(run())
