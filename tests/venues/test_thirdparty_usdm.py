"""Unmodified ccxt (REST and ccxt.pro) and python-binance trading the simulated venue's USD-M front.

Only base URLs are changed (research brief §4.1, §4.3): ccxt's ``fapi*`` URLs and its ``linear`` WS
base point at the futures host; python-binance's ``FUTURES_URL`` / ``FSTREAM_URL``. Installed by the
``thirdparty`` extra; skipped without it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from pymm.venues.sim import FlowConfig, SimVenueConfig
from tests.venues._harness import Venue, make_key, run_venue

PERP = "DOGE/USDT:USDT"


@pytest.fixture
def venue() -> Iterator[Venue]:
    """Two funded accounts, an empty book."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1), make_key(2)]))


@pytest.fixture
def busy_venue() -> Iterator[Venue]:
    """Liquidity providers re-quote both books every 50 ms."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1)], flow=FlowConfig(seed=3, interval_s=0.05)))


def _point(ex, v: Venue) -> None:
    for name in ("public", "private"):
        ex.urls["api"][name] = v.url + "/api/v3"
    for name in ("fapiPublic", "fapiPrivate", "fapiData"):
        ex.urls["api"][name] = v.usdm_url + "/fapi/v1"
    for n in ("2", "3"):
        ex.urls["api"][f"fapiPublicV{n}"] = v.usdm_url + f"/fapi/v{n}"
        ex.urls["api"][f"fapiPrivateV{n}"] = v.usdm_url + f"/fapi/v{n}"
    if "ws" in ex.urls["api"]:  # ccxt.pro
        ex.urls["api"]["ws"]["linear"] = v.usdm_ws + "/ws"


_OPTIONS = {"fetchCurrencies": False, "fetchMargins": False, "fetchMarkets": {"types": ["linear"]}}


def _maker_ask(v: Venue) -> None:
    k2 = next(k for k in v.running.venue.keys.keys.values() if k.account == 2)
    params = {
        "symbol": "DOGEUSDT",
        "side": "SELL",
        "type": "LIMIT",
        "timeInForce": "GTC",
        "quantity": "500",
        "price": "0.2",
    }
    status, body, _ = v.call(
        "POST", "/fapi/v1/order", params, signed=True, key=k2.api_key, secret=k2.hmac_secret, base=v.usdm_url
    )
    assert status == 200, body


def test_ccxt_linear_rest(venue):
    ccxt = pytest.importorskip("ccxt", reason="pip install '.[thirdparty]' for the third-party client tests")
    _maker_ask(venue)
    ex = ccxt.binance({"apiKey": venue.key.api_key, "secret": venue.key.hmac_secret, "options": _OPTIONS})
    _point(ex, venue)
    ex.load_markets()
    m = ex.market(PERP)
    assert m["linear"] and m["swap"] and m["settle"] == "USDT" and m["precision"]["price"] == 0.00001
    balance = ex.fetch_balance({"type": "swap"})
    assert balance["USDT"]["free"] == 10000 and balance["USDT"]["total"] == 10000
    assert ex.set_leverage(1, PERP)["leverage"] == 1
    assert ex.set_margin_mode("isolated", PERP)["code"] == 200
    ex.set_margin_mode("cross", PERP)
    order = ex.create_order(PERP, "limit", "buy", 100, 0.19)
    assert order["status"] == "open" and order["price"] == 0.19
    fetched = ex.fetch_order(order["id"], PERP)
    assert fetched["id"] == order["id"] and fetched["remaining"] == 100
    assert [o["id"] for o in ex.fetch_open_orders(PERP)] == [order["id"]]
    with pytest.raises(ccxt.ExchangeError):  # -5022 (a plain ExchangeError on a loopback URL, brief §4.1)
        ex.create_order(PERP, "limit", "buy", 100, 0.2, {"postOnly": True})
    post_only = ex.create_order(PERP, "limit", "buy", 100, 0.195, {"postOnly": True})
    assert post_only["postOnly"] and post_only["timeInForce"] == "PO"
    ioc = ex.create_order(PERP, "limit", "buy", 100, 0.2, {"timeInForce": "IOC"})
    assert ioc["status"] == "closed" and ioc["filled"] == 100 and ioc["average"] == 0.2
    batch = ex.create_orders(
        [
            {"symbol": PERP, "type": "limit", "side": "buy", "amount": 50, "price": 0.193},
            {"symbol": PERP, "type": "limit", "side": "buy", "amount": 60, "price": 0.192},
        ]
    )
    assert [o["status"] for o in batch] == ["open", "open"]
    cancelled = ex.cancel_orders([o["id"] for o in batch], PERP)
    assert [o["status"] for o in cancelled] == ["canceled", "canceled"]
    edited = ex.edit_order(order["id"], PERP, "limit", "buy", 120, 0.191)  # PUT /fapi/v1/order
    assert (edited["id"], edited["price"], edited["amount"], edited["status"]) == (
        order["id"],
        0.191,
        120,
        "open",
    )
    assert ex.cancel_order(order["id"], PERP)["status"] == "canceled"
    with pytest.raises(ccxt.OrderNotFound):
        ex.cancel_order(order["id"], PERP)
    positions = ex.fetch_positions([PERP])
    assert [(p["symbol"], p["side"], p["contracts"], p["entryPrice"]) for p in positions] == [
        (PERP, "long", 100, 0.2)
    ]
    assert ex.fetch_order_book(PERP)["asks"][0][:2] == [0.2, 400]
    rate = ex.fetch_funding_rate(PERP)
    assert rate["fundingRate"] == 0.0001 and rate["markPrice"] == 0.1975  # mid of 0.195 / 0.2
    trades = ex.fetch_my_trades(PERP)
    assert [(t["side"], t["amount"], t["takerOrMaker"]) for t in trades] == [("buy", 100, "taker")]
    ex.cancel_all_orders(PERP)
    venue.running.venue.futures.check_invariants()


def test_ccxt_pro_watches_the_futures_book_and_orders(busy_venue):
    ccxtpro = pytest.importorskip(
        "ccxt.pro", reason="pip install '.[thirdparty]' for the third-party client tests"
    )
    v = busy_venue

    async def run() -> tuple[list[int], list[tuple[str, str]], str]:
        ex = ccxtpro.binance({"apiKey": v.key.api_key, "secret": v.key.hmac_secret, "options": _OPTIONS})
        _point(ex, v)
        try:
            await ex.load_markets()
            nonces = []
            for _ in range(50):
                # ccxt raises ChecksumError unless each diff's pu equals the previous u. The perp's
                # random-walk flow can leave one side empty for a moment; count two-sided books.
                book = await asyncio.wait_for(ex.watch_order_book(PERP), 10)
                if book["bids"] and book["asks"]:
                    assert book["bids"][0][0] < book["asks"][0][0]
                    nonces.append(book["nonce"])
                if len(nonces) == 5:
                    break
            assert len(nonces) == 5, nonces
            order = await ex.create_order(PERP, "limit", "buy", 100, 0.165)
            watch = asyncio.create_task(ex.watch_orders(PERP))  # POST listenKey, /private/ws?listenKey=
            await asyncio.sleep(0.3)
            await ex.cancel_order(order["id"], PERP)
            orders = await asyncio.wait_for(watch, 10)
            return nonces, [(o["id"], o["status"]) for o in orders], order["id"]
        finally:
            await ex.close()

    nonces, orders, oid = asyncio.run(run())
    assert nonces == sorted(nonces) and len(set(nonces)) == 5
    assert orders[-1] == (oid, "canceled")


def test_python_binance_futures(venue):
    client_mod = pytest.importorskip(
        "binance.client", reason="pip install '.[thirdparty]' for the third-party tests"
    )
    _maker_ask(venue)
    client = client_mod.Client(venue.key.api_key, venue.key.hmac_secret, ping=False)
    try:
        client.FUTURES_URL = venue.usdm_url + "/fapi"
        info = client.futures_exchange_info()
        assert info["symbols"][0]["symbol"] == "DOGEUSDT"
        assert client.futures_change_leverage(symbol="DOGEUSDT", leverage=1)["leverage"] == 1
        balance = client.futures_account_balance()
        assert balance[0]["asset"] == "USDT" and balance[0]["balance"] == "10000.00000000"
        order = client.futures_create_order(
            symbol="DOGEUSDT", side="BUY", type="LIMIT", timeInForce="GTX", quantity=100, price="0.19"
        )
        assert order["status"] == "NEW" and order["clientOrderId"].startswith("x-Cb7ytekJ")
        got = client.futures_get_order(symbol="DOGEUSDT", orderId=order["orderId"])
        assert got["timeInForce"] == "GTX"
        assert [o["orderId"] for o in client.futures_get_open_orders(symbol="DOGEUSDT")] == [order["orderId"]]
        batch = client.futures_place_batch_order(
            batchOrders=[
                {
                    "symbol": "DOGEUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "IOC",
                    "quantity": "100",
                    "price": "0.2",
                },
                {
                    "symbol": "DOGEUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "quantity": "100",
                    "price": "0.19",
                },
            ]
        )
        assert [b["status"] for b in batch] == ["NEW", "NEW"]
        positions = client.futures_position_information(symbol="DOGEUSDT")
        assert positions[0]["positionAmt"] == "100"
        cancelled = client.futures_cancel_order(symbol="DOGEUSDT", orderId=order["orderId"])
        assert cancelled["status"] == "CANCELED"
        assert client.futures_cancel_all_open_orders(symbol="DOGEUSDT")["code"] == 200
        exc = pytest.importorskip("binance.exceptions")
        with pytest.raises(exc.BinanceAPIException) as e:
            client.futures_create_order(
                symbol="DOGEUSDT", side="BUY", type="LIMIT", timeInForce="GTX", quantity=100, price="0.2"
            )
        assert e.value.code == -5022
    finally:
        client.close_connection()
        client.loop.close()
        asyncio.set_event_loop(None)


def test_python_binance_futures_streams(busy_venue):
    binance = pytest.importorskip(
        "binance", reason="pip install '.[thirdparty]' for the third-party client tests"
    )
    v = busy_venue

    async def run() -> tuple[list[dict], list[dict]]:
        client = binance.AsyncClient(v.key.api_key, v.key.hmac_secret)
        try:
            client.FUTURES_URL = v.usdm_url + "/fapi"
            bm = binance.BinanceSocketManager(client)
            bm.FSTREAM_URL = v.usdm_ws + "/"
            async with bm.futures_depth_socket("DOGEUSDT", depth="5") as s:  # /public/stream?streams=
                depth = [await asyncio.wait_for(s.recv(), 10) for _ in range(2)]
            async with bm.futures_user_socket() as s:  # listenKey, /private/ws?listenKey=
                await asyncio.sleep(0.3)
                await client.futures_create_order(
                    symbol="DOGEUSDT",
                    side="BUY",
                    type="LIMIT",
                    timeInForce="GTC",
                    quantity=100,
                    price="0.165",
                )
                user = [await asyncio.wait_for(s.recv(), 10)]
            return depth, user
        finally:
            await client.close_connection()

    depth, user = asyncio.run(run())
    assert all(d["data"]["e"] == "depthUpdate" and len(d["data"]["b"]) <= 5 for d in depth)
    assert user[0]["e"] == "ORDER_TRADE_UPDATE" and user[0]["o"]["x"] == "NEW"


def test_ccxt_pro_orders_over_the_futures_ws_api(venue):
    """ccxt.pro's ``create_order_ws`` / ``fetch_order_ws`` / ``edit_order_ws`` / ``cancel_order_ws``
    on a linear market use ``urls['api']['ws']['ws-api']['linear']`` (``/ws-fapi/v1``)."""
    ccxtpro = pytest.importorskip(
        "ccxt.pro", reason="pip install '.[thirdparty]' for the third-party client tests"
    )
    v = venue

    async def run() -> tuple[dict, dict, dict, dict]:
        ex = ccxtpro.binance({"apiKey": v.key.api_key, "secret": v.key.hmac_secret, "options": _OPTIONS})
        _point(ex, v)
        ex.urls["api"]["ws"]["ws-api"]["linear"] = v.usdm_ws + "/ws-fapi/v1"
        try:
            await ex.load_markets()
            placed = await ex.create_order_ws(PERP, "limit", "buy", 100, 0.19, {"postOnly": True})
            fetched = await ex.fetch_order_ws(placed["id"], PERP)
            edited = await ex.edit_order_ws(placed["id"], PERP, "limit", "buy", 120, 0.191)
            canceled = await ex.cancel_order_ws(placed["id"], PERP)
            return placed, fetched, edited, canceled
        finally:
            await ex.close()

    placed, fetched, edited, canceled = asyncio.run(run())
    assert placed["status"] == "open" and placed["price"] == 0.19 and placed["amount"] == 100
    assert placed["timeInForce"] == "PO" or placed["info"]["timeInForce"] == "GTX"
    assert fetched["id"] == placed["id"] and fetched["remaining"] == 100
    assert (edited["id"], edited["price"], edited["amount"]) == (placed["id"], 0.191, 120)
    assert canceled["id"] == placed["id"] and canceled["status"] == "canceled"
    rows = v.call("GET", "/fapi/v1/allOrders", {"symbol": "DOGEUSDT"}, signed=True, base=v.usdm_url)[1]
    assert [(r["orderId"], r["status"], r["origQty"]) for r in rows] == [
        (int(placed["id"]), "CANCELED", "120")
    ], "one venue order, modified in place, then cancelled"
