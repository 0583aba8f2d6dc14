"""Unmodified third-party Binance clients (ccxt, python-binance) trading on the simulated venue.

Both are pointed at the loopback server by overriding their base URLs only (research brief §4.1,
§4.3); everything they send is theirs. Installed by the ``thirdparty`` extra; skipped without it.
"""

from __future__ import annotations

import asyncio

import pytest

from pymm.venues.sim import FlowConfig, SimVenueConfig
from tests.venues._harness import make_key, run_venue


@pytest.fixture
def venue():
    """A venue with one funded account and an ask from a second account to trade against."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1), make_key(2)]))


def _maker_ask(venue) -> None:
    k2 = next(k for k in venue.running.venue.keys.keys.values() if k.account == 2)
    status, body, _ = venue.call(
        "POST",
        "/api/v3/order",
        {
            "symbol": "DOGEUSDT",
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "500",
            "price": "0.20000",
        },
        signed=True,
        key=k2.api_key,
        secret=k2.hmac_secret,
    )
    assert status == 200, body


def test_ccxt_places_queries_cancels_and_reads(venue):
    ccxt = pytest.importorskip("ccxt", reason="pip install '.[thirdparty]' for the third-party client tests")
    _maker_ask(venue)
    ex = ccxt.binance(
        {
            "apiKey": venue.key.api_key,
            "secret": venue.key.hmac_secret,
            "options": {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["spot"]}},
        }
    )
    for name in ("public", "private"):
        ex.urls["api"][name] = venue.url + "/api/v3"
    ex.load_markets()
    assert "DOGE/USDT" in ex.markets
    order = ex.create_order("DOGE/USDT", "limit", "buy", 100, 0.15)
    assert order["status"] == "open" and order["price"] == 0.15
    fetched = ex.fetch_order(order["id"], "DOGE/USDT")
    assert fetched["id"] == order["id"] and fetched["remaining"] == 100
    assert [o["id"] for o in ex.fetch_open_orders("DOGE/USDT")] == [order["id"]]
    book = ex.fetch_order_book("DOGE/USDT")
    assert book["bids"][0][:2] == [0.15, 100] and book["asks"][0][:2] == [0.2, 500]
    balance = ex.fetch_balance()
    assert balance["USDT"]["used"] == 15 and balance["USDT"]["free"] == 10000 - 15
    cancelled = ex.cancel_order(order["id"], "DOGE/USDT")
    assert cancelled["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(order["id"], "DOGE/USDT")
    with pytest.raises(ccxt.OrderImmediatelyFillable):
        ex.create_order("DOGE/USDT", "limit", "buy", 100, 0.2, {"postOnly": True})
    with pytest.raises(ccxt.InsufficientFunds):
        ex.create_order("DOGE/USDT", "limit", "buy", 1_000_000, 0.15)
    taken = ex.create_order("DOGE/USDT", "market", "buy", 100)
    assert taken["status"] == "closed" and taken["filled"] == 100 and taken["average"] == 0.2
    trades = ex.fetch_my_trades("DOGE/USDT")
    assert [(t["side"], t["amount"], t["takerOrMaker"]) for t in trades] == [("buy", 100, "taker")]
    by_cost = ex.create_market_buy_order_with_cost("DOGE/USDT", 10)  # quoteOrderQty=10
    assert by_cost["filled"] == 50 and by_cost["cost"] == 10
    edited = ex.create_order("DOGE/USDT", "limit", "buy", 100, 0.15)
    replaced = ex.edit_order(edited["id"], "DOGE/USDT", "limit", "buy", 100, 0.14)
    assert replaced["price"] == 0.14 and replaced["status"] == "open"


def test_python_binance_places_queries_cancels_and_reads(venue):
    client_mod = pytest.importorskip(
        "binance.client", reason="pip install '.[thirdparty]' for the third-party client tests"
    )
    _maker_ask(venue)
    client = client_mod.Client(venue.key.api_key, venue.key.hmac_secret, ping=False)
    try:
        _drive_python_binance(client, venue)
    finally:
        # python-binance opens (and never closes) an event loop for this thread in its constructor.
        client.close_connection()
        client.loop.close()
        asyncio.set_event_loop(None)


def _drive_python_binance(client, venue) -> None:
    client.API_URL = venue.url + "/api"
    client.ping()
    assert client.get_server_time()["serverTime"] > 0
    info = client.get_symbol_info("DOGEUSDT")
    assert info is not None and info["quoteAsset"] == "USDT"
    order = client.order_limit_buy(symbol="DOGEUSDT", quantity=100, price="0.15000")
    assert order["status"] == "NEW"
    got = client.get_order(symbol="DOGEUSDT", orderId=order["orderId"])
    assert got["clientOrderId"] == order["clientOrderId"]
    assert [o["orderId"] for o in client.get_open_orders(symbol="DOGEUSDT")] == [order["orderId"]]
    book = client.get_order_book(symbol="DOGEUSDT", limit=5)
    assert book["bids"] == [["0.15000000", "100.00000000"]]
    assert client.get_asset_balance(asset="USDT") == {
        "asset": "USDT",
        "free": "9985.00000000",
        "locked": "15.00000000",
    }
    cancelled = client.cancel_order(symbol="DOGEUSDT", orderId=order["orderId"])
    assert cancelled["status"] == "CANCELED"
    exc = pytest.importorskip("binance.exceptions")
    with pytest.raises(exc.BinanceAPIException) as e:
        client.get_order(symbol="DOGEUSDT", orderId=123456)
    assert e.value.code == -2013
    filled = client.order_market_buy(symbol="DOGEUSDT", quantity=100)
    assert filled["status"] == "FILLED" and filled["fills"][0]["price"] == "0.20000000"


@pytest.fixture
def busy_venue():
    """A venue whose seeded liquidity provider re-quotes every 50 ms."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1)], flow=FlowConfig(seed=3, interval_s=0.05)))


def test_ccxt_pro_watches_the_book_and_orders(busy_venue):
    ccxtpro = pytest.importorskip(
        "ccxt.pro", reason="pip install '.[thirdparty]' for the third-party client tests"
    )
    v = busy_venue

    async def run() -> tuple[list[int], list[tuple[str, str]], str]:
        ex = ccxtpro.binance(
            {
                "apiKey": v.key.api_key,
                "secret": v.key.hmac_secret,
                "options": {
                    "fetchCurrencies": False,
                    "fetchMargins": False,
                    "fetchMarkets": {"types": ["spot"]},
                },
            }
        )
        for name in ("public", "private"):
            ex.urls["api"][name] = v.url + "/api/v3"
        # A spot stream URL containing "/stream" (brief §4.1, the spot URL pitfall).
        ex.urls["api"]["ws"]["spot"] = v.ws + "/stream/ws"
        ex.urls["api"]["ws"]["ws-api"]["spot"] = v.ws + "/ws-api/v3"
        try:
            await ex.load_markets()
            nonces = []
            for _ in range(3):
                # ccxt raises ChecksumError on any gap between a diff's U and the previous u.
                book = await asyncio.wait_for(ex.watch_order_book("DOGE/USDT"), 10)
                assert book["bids"][0][0] < book["asks"][0][0]
                nonces.append(book["nonce"])
            order = await ex.create_order("DOGE/USDT", "limit", "buy", 100, 0.1)
            watch = asyncio.create_task(ex.watch_orders("DOGE/USDT"))
            await asyncio.sleep(0.2)  # let the user-data subscription be acknowledged first
            await ex.cancel_order(order["id"], "DOGE/USDT")
            orders = await asyncio.wait_for(watch, 10)
            return nonces, [(o["id"], o["status"]) for o in orders], order["id"]
        finally:
            await ex.close()

    nonces, orders, oid = asyncio.run(run())
    assert nonces == sorted(nonces) and len(set(nonces)) == 3
    assert orders[-1] == (oid, "canceled")


def test_python_binance_streams_depth_and_multiplex(busy_venue):
    binance = pytest.importorskip(
        "binance", reason="pip install '.[thirdparty]' for the third-party client tests"
    )
    v = busy_venue

    async def run() -> tuple[list[dict], dict]:
        client = binance.AsyncClient(v.key.api_key, v.key.hmac_secret)
        try:
            client.API_URL = v.url + "/api"
            bm = binance.BinanceSocketManager(client)
            bm.STREAM_URL = v.ws + "/"
            async with bm.depth_socket("DOGEUSDT") as s:  # /ws/dogeusdt@depth
                diffs = [await asyncio.wait_for(s.recv(), 10) for _ in range(3)]
            async with bm.multiplex_socket(["dogeusdt@bookTicker"]) as s:  # /stream?streams=
                ticker = await asyncio.wait_for(s.recv(), 10)
            return diffs, ticker
        finally:
            await client.close_connection()

    diffs, ticker = asyncio.run(run())
    assert [d["e"] for d in diffs] == ["depthUpdate"] * 3
    assert diffs[1]["U"] == diffs[0]["u"] + 1 and diffs[2]["U"] == diffs[1]["u"] + 1
    assert ticker["stream"] == "dogeusdt@bookTicker" and float(ticker["data"]["b"]) < float(
        ticker["data"]["a"]
    )


def test_ccxt_with_default_options_only_the_host_swapped(venue):
    ccxt = pytest.importorskip("ccxt", reason="pip install '.[thirdparty]' for the third-party client tests")
    ex = ccxt.binance({"apiKey": venue.key.api_key, "secret": venue.key.hmac_secret})
    for name, url in list(ex.urls["api"].items()):
        if isinstance(url, str) and url.startswith("https://"):
            path = url.split("/", 3)[3]
            ex.urls["api"][name] = f"{venue.url}/{path}"
    ex.load_markets()  # sapi currencies and margin pairs, spot, USD-M and COIN-M exchangeInfo
    assert list(ex.markets) == ["DOGE/USDT", "DOGE/USDT:USDT"]  # /fapi is served on the spot host too
    order = ex.create_order("DOGE/USDT", "limit", "buy", 100, 0.15)
    assert ex.cancel_order(order["id"], "DOGE/USDT")["status"] == "canceled"
    perp = ex.create_order("DOGE/USDT:USDT", "limit", "buy", 100, 0.15)
    assert ex.cancel_order(perp["id"], "DOGE/USDT:USDT")["status"] == "canceled"


@pytest.mark.slow  # python-binance's close waits out its 10 s read timeout on the idle WS API socket
def test_python_binance_user_socket_over_the_ws_api(venue):
    binance = pytest.importorskip(
        "binance", reason="pip install '.[thirdparty]' for the third-party client tests"
    )

    async def run() -> list[dict]:
        class Client(binance.AsyncClient):
            WS_API_URL = venue.ws + "/ws-api/v3"  # read once by the constructor

        client = Client(venue.key.api_key, venue.key.hmac_secret)
        try:
            client.API_URL = venue.url + "/api"
            bm = binance.BinanceSocketManager(client)
            async with bm.user_socket() as s:  # userDataStream.subscribe.signature
                await asyncio.sleep(0.3)  # the subscription is acknowledged before the order
                await client.order_limit_buy(symbol="DOGEUSDT", quantity=100, price="0.15")
                return [await asyncio.wait_for(s.recv(), 10) for _ in range(2)]
        finally:
            await client.close_connection()

    events = asyncio.run(run())
    assert [e["e"] for e in events] == ["executionReport", "outboundAccountPosition"]
    assert events[0]["x"] == "NEW" and events[0]["c"].startswith("x-HNA2TXFJ")
