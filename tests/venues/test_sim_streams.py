"""The simulated venue's market streams, through a real server on an ephemeral port."""

from __future__ import annotations

import asyncio
import itertools
import json

import aiohttp

LIMIT = {
    "symbol": "DOGEUSDT",
    "side": "SELL",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "100",
    "price": "0.20000",
}


async def _recv(ws: aiohttp.ClientWebSocketResponse) -> dict:
    msg = await asyncio.wait_for(ws.receive(), timeout=10)
    assert msg.type == aiohttp.WSMsgType.TEXT, msg
    return json.loads(msg.data)


def _place(venue, account=1, **over):
    k = next(k for k in venue.running.venue.keys.keys.values() if k.account == account)
    status, body, _ = venue.call(
        "POST", "/api/v3/order", dict(LIMIT, **over), signed=True, key=k.api_key, secret=k.hmac_secret
    )
    assert status == 200, body
    return body


def test_raw_depth_stream_is_contiguous_with_the_snapshot(venue):
    async def run() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(venue.ws + "/ws/dogeusdt@depth@100ms") as ws:
            await asyncio.sleep(0)  # the server registers the connection before its first event
            _place(venue)
            first = await _recv(ws)
            snap = venue.call("GET", "/api/v3/depth", {"symbol": "DOGEUSDT"})[1]
            _place(venue, price="0.21000")
            _place(venue, account=2, side="BUY", price="0.20000", quantity="150", timeInForce="IOC")
            events = [first] + [await _recv(ws) for _ in range(2)]
        assert [e["e"] for e in events] == ["depthUpdate"] * 3
        for a, b in itertools.pairwise(events):
            assert b["U"] == a["u"] + 1
        assert snap["lastUpdateId"] == first["u"]
        assert snap["asks"] == [["0.20000000", "100.00000000"]]
        assert events[2]["a"] == [["0.20000000", "0.00000000"]]

    asyncio.run(run())


def test_subscribe_on_a_bare_path_and_combined_envelope(venue):
    async def run() -> None:
        async with aiohttp.ClientSession() as s, s.ws_connect(venue.ws + "/ws/0") as ws:
            await ws.send_str(json.dumps({"method": "SUBSCRIBE", "params": ["dogeusdt@trade"], "id": 7}))
            assert await _recv(ws) == {"result": None, "id": 7}
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": "x"}))
            assert await _recv(ws) == {"result": ["dogeusdt@trade"], "id": "x"}
            url = venue.ws + "/stream?streams=dogeusdt@trade/dogeusdt@bookTicker"
            async with s.ws_connect(url) as comb:
                await comb.send_str(json.dumps({"method": "GET_PROPERTY", "params": ["combined"], "id": 1}))
                assert await _recv(comb) == {"result": True, "id": 1}
                _place(venue)
                _place(venue, account=2, side="BUY", quantity="40")
                trade = await _recv(ws)
                got = [await _recv(comb) for _ in range(3)]
        assert trade["e"] == "trade" and trade["p"] == "0.20000000" and trade["q"] == "40.00000000"
        assert trade["m"] is False
        streams = [g["stream"] for g in got]
        assert streams == ["dogeusdt@bookTicker", "dogeusdt@trade", "dogeusdt@bookTicker"]
        assert got[2]["data"]["A"] == "60.00000000" and got[2]["data"]["s"] == "DOGEUSDT"

    asyncio.run(run())


def test_flow_generator_keeps_a_two_sided_book(busy_venue):
    async def run() -> dict:
        async with (
            aiohttp.ClientSession() as s,
            s.ws_connect(busy_venue.ws + "/ws/dogeusdt@bookTicker") as ws,
        ):
            return await _recv(ws)

    tick = asyncio.run(run())
    assert float(tick["b"]) < float(tick["a"])
    depth = busy_venue.call("GET", "/api/v3/depth", {"symbol": "DOGEUSDT", "limit": "5"})[1]
    assert len(depth["bids"]) == 5 and len(depth["asks"]) == 5


def test_partial_depth_and_agg_trade(venue):
    async def run() -> tuple[dict, dict]:
        url = venue.ws + "/stream?streams=dogeusdt@depth5@100ms/dogeusdt@aggTrade"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await ws.send_str(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 1}))
            await _recv(ws)
            _place(venue)
            snap = await _recv(ws)
            _place(venue, account=2, side="BUY", quantity="30")
            agg = await _recv(ws)
            return snap, agg

    snap, agg = asyncio.run(run())
    assert snap["stream"] == "dogeusdt@depth5@100ms"
    assert snap["data"]["asks"] == [["0.20000000", "100.00000000"]] and "lastUpdateId" in snap["data"]
    assert agg["stream"] == "dogeusdt@aggTrade" and agg["data"]["a"] == agg["data"]["f"] == agg["data"]["l"]
    assert agg["data"]["q"] == "30.00000000"
