"""The simulated venue's USD-M front over real HTTP and WebSocket: /fapi REST, errors, positions,
margin settings, funding, the listenKey user stream and the futures depth stream's ``pu`` chain."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator

import aiohttp
import pytest

from pymm.venues.sim import FlowConfig, SimVenueConfig
from tests.venues._harness import Venue, make_key, run_venue

SYM = "DOGEUSDT"


@pytest.fixture
def venue() -> Iterator[Venue]:
    """Two funded keys; funding settles every 0.5 s, marks every 0.1 s."""
    cfg = SimVenueConfig(keys=[make_key(1), make_key(2)], funding_interval_s=0.5, mark_interval_s=0.1)
    yield from run_venue(cfg)


def _fapi(v: Venue, method: str, path: str, params: dict[str, str] | None = None, account: int = 1, **kw):
    key = next(k for k in v.running.venue.keys.keys.values() if k.account == account)
    return v.call(
        method,
        path,
        params,
        signed=kw.pop("signed", True),
        key=key.api_key,
        secret=key.hmac_secret,
        base=v.usdm_url,
        **kw,
    )


def _limit(side: str, qty: str, price: str, tif: str = "GTC", **extra: str) -> dict[str, str]:
    return {
        "symbol": SYM,
        "side": side,
        "type": "LIMIT",
        "timeInForce": tif,
        "quantity": qty,
        "price": price,
        **extra,
    }


def test_public_endpoints_and_error_shapes(venue):
    status, info, headers = venue.call("GET", "/fapi/v1/exchangeInfo", base=venue.usdm_url)
    assert status == 200 and info["futuresType"] == "U_MARGINED"
    sym = info["symbols"][0]
    assert (sym["symbol"], sym["contractType"], sym["marginAsset"]) == (SYM, "PERPETUAL", "USDT")
    assert {"filterType": "MIN_NOTIONAL", "notional": "5"} in sym["filters"]
    assert "GTX" in sym["timeInForce"] and int(headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    # The same routes answer on the spot host (clients that swap only the host).
    assert venue.call("GET", "/fapi/v1/exchangeInfo")[1]["symbols"][0]["symbol"] == SYM
    status, book, _ = venue.call("GET", "/fapi/v1/depth", {"symbol": SYM}, base=venue.usdm_url)
    assert status == 200 and {"lastUpdateId", "E", "T", "bids", "asks"} <= set(book)
    assert venue.call("GET", "/fapi/v1/depth", {"symbol": "NOPE"}, base=venue.usdm_url)[1] == {
        "code": -1121,
        "msg": "Invalid symbol.",
    }
    status, body, _ = _fapi(venue, "GET", "/fapi/v3/account", tamper=True)
    assert (status, body["code"]) == (400, -1022)
    status, body, _ = _fapi(venue, "GET", "/fapi/v3/account", {"timestamp": "1000"})
    assert (status, body["code"]) == (400, -1021)
    status, body, _ = venue.call("GET", "/fapi/v3/account", signed=True, key="nope", base=venue.usdm_url)
    assert (status, body["code"]) == (401, -2015)
    status, body, _ = _fapi(venue, "POST", "/fapi/v1/order", _limit("BUY", "10", "0.1"), body=True)
    assert (status, body["code"]) == (400, -4164)
    status, body, _ = _fapi(
        venue, "POST", "/fapi/v1/order", _limit("BUY", "100", "0.1", tif="GTD"), body=True
    )
    assert (status, body["code"]) == (400, -1115)
    status, body, _ = _fapi(venue, "GET", "/fapi/v1/order", {"symbol": SYM, "orderId": "77"})
    assert body == {"code": -2013, "msg": "Order does not exist."}
    status, body, _ = venue.call("GET", "/fapi/v1/premiumIndex", {"symbol": SYM}, base=venue.usdm_url)
    assert body["lastFundingRate"] == "0.00010000" and body["nextFundingTime"] > 0


def test_orders_positions_margin_and_modes(venue):
    assert (
        _fapi(venue, "POST", "/fapi/v1/order", _limit("SELL", "1000", "0.2"), account=2, body=True)[0] == 200
    )
    status, body, headers = _fapi(
        venue, "POST", "/fapi/v1/order", _limit("BUY", "100", "0.2", "GTX"), body=True
    )
    assert (status, body["code"]) == (400, -5022)
    assert "X-MBX-ORDER-COUNT-1M" in headers and "X-MBX-ORDER-COUNT-10S" in headers
    status, body, _ = _fapi(
        venue,
        "POST",
        "/fapi/v1/order",
        _limit("BUY", "100", "0.2", "IOC", newOrderRespType="RESULT"),
        body=True,
    )
    assert (status, body["status"], body["executedQty"], body["avgPrice"]) == (
        200,
        "FILLED",
        "100",
        "0.20000",
    )
    rows = _fapi(venue, "GET", "/fapi/v3/positionRisk", {"symbol": SYM})[1]
    assert [(r["positionAmt"], r["entryPrice"], r["positionSide"]) for r in rows] == [
        ("100", "0.20000", "BOTH")
    ]
    v2 = _fapi(venue, "GET", "/fapi/v2/positionRisk", {"symbol": SYM})[1]
    assert (v2[0]["leverage"], v2[0]["marginType"]) == ("20", "cross")
    # Settings Binance refuses with a position open.
    assert (
        _fapi(venue, "POST", "/fapi/v1/marginType", {"symbol": SYM, "marginType": "ISOLATED"}, body=True)[1][
            "code"
        ]
        == -4048
    )
    assert (
        _fapi(venue, "POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"}, body=True)[1]["code"]
        == -4068
    )
    assert (
        _fapi(venue, "POST", "/fapi/v1/leverage", {"symbol": SYM, "leverage": "126"}, body=True)[1]["code"]
        == -4028
    )
    assert _fapi(venue, "POST", "/fapi/v1/leverage", {"symbol": SYM, "leverage": "1"}, body=True)[1] == {
        "leverage": 1,
        "maxNotionalValue": "500000000",
        "symbol": SYM,
    }
    # reduceOnly: a buy cannot reduce a long.
    status, body, _ = _fapi(
        venue, "POST", "/fapi/v1/order", _limit("BUY", "10", "0.2", reduceOnly="true"), body=True
    )
    assert body["code"] == -2022
    # Close the long with a batch (a reduce-only sell at a bid from account 2).
    _fapi(venue, "POST", "/fapi/v1/order", _limit("BUY", "100", "0.21"), account=2, body=True)
    batch = json.dumps(
        [
            {**_limit("SELL", "100", "0.21", "IOC"), "reduceOnly": "true"},
            _limit("BUY", "100", "0.2"),
            _limit("BUY", "1", "0.2"),
        ]
    )
    status, answers, _ = _fapi(venue, "POST", "/fapi/v1/batchOrders", {"batchOrders": batch}, body=True)
    assert status == 200 and [a.get("code", a.get("status")) for a in answers] == ["NEW", "NEW", -4164]
    account = _fapi(venue, "GET", "/fapi/v3/account")[1]
    # +0.01 x 100 realized, taker fees 5 bps on 20 and on 21 USDT.
    assert account["totalWalletBalance"] == "10000.97950000"
    assert account["assets"][0]["updateTime"] > 0
    trades = _fapi(venue, "GET", "/fapi/v1/userTrades", {"symbol": SYM})[1]
    assert [(t["side"], t["realizedPnl"]) for t in trades] == [("BUY", "0.00000000"), ("SELL", "1.00000000")]
    open_orders = _fapi(venue, "GET", "/fapi/v1/openOrders", {"symbol": SYM})[1]
    assert [o["price"] for o in open_orders] == ["0.20000"]
    ids = json.dumps([open_orders[0]["orderId"], 999])
    cancelled = _fapi(venue, "DELETE", "/fapi/v1/batchOrders", {"symbol": SYM, "orderIdList": ids})[1]
    assert cancelled[0]["status"] == "CANCELED" and cancelled[1]["code"] == -2011
    assert _fapi(venue, "DELETE", "/fapi/v1/allOpenOrders", {"symbol": SYM})[1]["code"] == 200
    # Flat and no orders: hedge mode may be switched on, and then one-way orders are refused.
    assert _fapi(venue, "POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true"}, body=True)[1] == {
        "code": 200,
        "msg": "success",
    }
    assert _fapi(venue, "GET", "/fapi/v1/positionSide/dual")[1] == {"dualSidePosition": True}
    assert _fapi(venue, "POST", "/fapi/v1/order", _limit("BUY", "100", "0.1"), body=True)[1]["code"] == -4061
    hedge = _limit("BUY", "100", "0.2", positionSide="LONG")
    assert _fapi(venue, "POST", "/fapi/v1/order", hedge, body=True)[1]["positionSide"] == "LONG"
    venue.running.venue.futures.check_invariants()


def test_funding_settles_and_user_stream_delivers(venue):
    fut = venue.running.venue.futures
    fut.set_funding_rate(SYM, "0.001")

    async def run() -> list[dict]:
        status, body, _ = _fapi(venue, "POST", "/fapi/v1/listenKey", signed=False)
        assert status == 200
        key = body["listenKey"]
        assert _fapi(venue, "POST", "/fapi/v1/listenKey", signed=False)[1]["listenKey"] == key
        assert _fapi(venue, "PUT", "/fapi/v1/listenKey", signed=False)[1]["listenKey"] == key
        url = f"{venue.usdm_ws}/private/ws?listenKey={key}"
        async with aiohttp.ClientSession() as s, s.ws_connect(url) as ws:
            await asyncio.sleep(0.1)
            # Account 2 quotes 0.19 / 0.2; account 1 lifts 1000 of the 1030 offered, so the book
            # stays two-sided (mark 0.195) while funding settles every 0.5 s.
            for side, qty, px in (("BUY", "30", "0.19"), ("SELL", "1030", "0.2")):
                await asyncio.to_thread(
                    _fapi, venue, "POST", "/fapi/v1/order", _limit(side, qty, px), 2, body=True
                )
            await asyncio.to_thread(
                _fapi, venue, "POST", "/fapi/v1/order", _limit("BUY", "1000", "0.2"), body=True
            )
            events = []
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline:
                msg = await ws.receive_json(timeout=5)
                events.append(msg)
                if msg["e"] == "ACCOUNT_UPDATE" and msg["a"]["m"] == "FUNDING_FEE":
                    return events
        return events

    events = asyncio.run(run())
    kinds = [(e["e"], e.get("o", {}).get("x") or e.get("a", {}).get("m")) for e in events]
    assert kinds[:3] == [
        ("ORDER_TRADE_UPDATE", "NEW"),
        ("ORDER_TRADE_UPDATE", "TRADE"),
        ("ACCOUNT_UPDATE", "ORDER"),
    ]
    assert events[1]["o"]["ps"] == "BOTH" and events[1]["o"]["X"] == "FILLED"
    assert events[2]["a"]["P"][0]["pa"] == "1000"
    funding = events[-1]["a"]
    assert funding["m"] == "FUNDING_FEE" and funding["S"] == SYM
    income = _fapi(venue, "GET", "/fapi/v1/income", {"incomeType": "FUNDING_FEE"})[1]
    # Mark (0.19 + 0.2) / 2 x 1000 x 0.001 = 0.195 USDT paid by the long per settlement.
    assert income and all(i["income"] == "-0.19500000" for i in income)
    history = venue.call("GET", "/fapi/v1/fundingRate", {"symbol": SYM}, base=venue.usdm_url)[1]
    assert history and history[-1]["fundingRate"] == "0.00100000"
    fut.check_invariants()
    assert _fapi(venue, "DELETE", "/fapi/v1/listenKey", signed=False)[1] == {}
    assert _fapi(venue, "PUT", "/fapi/v1/listenKey", signed=False)[1]["code"] == -1125


@pytest.fixture
def busy_venue() -> Iterator[Venue]:
    """A venue whose liquidity providers re-quote both books every 50 ms."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1)], flow=FlowConfig(seed=3, interval_s=0.05)))


def test_depth_stream_pu_chain_and_routed_paths(busy_venue):
    v = busy_venue

    async def run() -> tuple[list[dict], dict, dict]:
        async with aiohttp.ClientSession() as s:
            async with s.ws_connect(f"{v.usdm_ws}/public/ws/0") as ws:
                await ws.send_json({"method": "SUBSCRIBE", "params": ["dogeusdt@depth@100ms"], "id": 7})
                assert await ws.receive_json(timeout=5) == {"result": None, "id": 7}
                diffs = [await ws.receive_json(timeout=5) for _ in range(5)]
            url = f"{v.usdm_ws}/market/stream?streams=dogeusdt@markPrice@1s/dogeusdt@bookTicker"
            async with s.ws_connect(url) as ws:
                got: dict[str, dict] = {}
                while len(got) < 2:
                    m = await ws.receive_json(timeout=5)
                    got[m["stream"]] = m["data"]
        return diffs, got["dogeusdt@markPrice@1s"], got["dogeusdt@bookTicker"]

    diffs, mark, ticker = asyncio.run(run())
    assert all(d["e"] == "depthUpdate" and d["U"] <= d["u"] for d in diffs)
    assert [d["pu"] for d in diffs[1:]] == [d["u"] for d in diffs[:-1]]
    assert mark["e"] == "markPriceUpdate" and float(mark["p"]) > 0
    assert ticker["e"] == "bookTicker" and float(ticker["b"]) < float(ticker["a"])
