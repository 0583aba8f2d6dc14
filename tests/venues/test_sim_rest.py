"""The simulated venue's spot REST front, through a real server on an ephemeral port."""

from __future__ import annotations

import base64
import json
import time
import urllib.parse
import urllib.request

import pytest

from pymm.venues.sim import ApiKey, SimVenueConfig
from pymm.venues.sim.rest import signed_payload
from tests.venues._harness import make_key, run_venue

LIMIT = {
    "symbol": "DOGEUSDT",
    "side": "BUY",
    "type": "LIMIT",
    "timeInForce": "GTC",
    "quantity": "100",
    "price": "0.15000",
}


def test_public_endpoints(venue):
    assert venue.call("GET", "/api/v3/ping")[:2] == (200, {})
    status, body, headers = venue.call("GET", "/api/v3/time")
    assert status == 200 and abs(body["serverTime"] - time.time() * 1000) < 60_000
    assert int(headers["X-MBX-USED-WEIGHT-1M"]) >= 1
    status, info, _ = venue.call("GET", "/api/v3/exchangeInfo")
    sym = info["symbols"][0]
    assert sym["symbol"] == "DOGEUSDT" and "LIMIT_MAKER" in sym["orderTypes"]
    assert {f["filterType"] for f in sym["filters"]} >= {"PRICE_FILTER", "LOT_SIZE", "NOTIONAL"}
    status, depth, _ = venue.call("GET", "/api/v3/depth", {"symbol": "DOGEUSDT", "limit": "5"})
    assert status == 200 and depth["bids"] == [] and "lastUpdateId" in depth
    assert venue.call("GET", "/api/v3/depth", {"symbol": "NOPE"})[1]["code"] == -1121


def test_place_query_cancel_in_query_or_body(venue):
    for body in (False, True):
        status, o, headers = venue.call("POST", "/api/v3/order", LIMIT, signed=True, body=body)
        assert status == 200, o
        assert o["status"] == "NEW" and o["price"] == "0.15000000" and o["fills"] == []
        assert headers["X-MBX-ORDER-COUNT-10S"] in ("1", "2")
        q = venue.call(
            "GET", "/api/v3/order", {"symbol": "DOGEUSDT", "orderId": str(o["orderId"])}, signed=True
        )[1]
        assert q["status"] == "NEW" and q["cummulativeQuoteQty"] == "0.00000000"
    acct = venue.call("GET", "/api/v3/account", signed=True)[1]
    usdt = next(b for b in acct["balances"] if b["asset"] == "USDT")
    assert (usdt["free"], usdt["locked"]) == ("9970.00000000", "30.00000000")
    opens = venue.call("GET", "/api/v3/openOrders", {"symbol": "DOGEUSDT"}, signed=True)[1]
    assert len(opens) == 2
    status, c, _ = venue.call(
        "DELETE",
        "/api/v3/order",
        {"symbol": "DOGEUSDT", "orderId": str(opens[0]["orderId"])},
        signed=True,
        body=True,
    )
    assert status == 200 and c["status"] == "CANCELED"
    assert venue.call(
        "DELETE", "/api/v3/order", {"symbol": "DOGEUSDT", "orderId": str(opens[0]["orderId"])}, signed=True
    )[1] == {"code": -2011, "msg": "Unknown order sent."}
    assert venue.call("GET", "/api/v3/order", {"symbol": "DOGEUSDT", "orderId": "999"}, signed=True)[1] == {
        "code": -2013,
        "msg": "Order does not exist.",
    }
    status, all_ = venue.call("DELETE", "/api/v3/openOrders", {"symbol": "DOGEUSDT"}, signed=True)[:2]
    assert status == 200 and [x["status"] for x in all_] == ["CANCELED"]


def test_fill_between_accounts_and_my_trades(venue):
    other = venue.running.venue.keys.keys
    k2 = next(k for k in other.values() if k.account == 2)
    sell = dict(LIMIT, side="SELL", quantity="1000")
    status, o, _ = venue.call(
        "POST", "/api/v3/order", sell, signed=True, key=k2.api_key, secret=k2.hmac_secret
    )
    assert status == 200, o
    status, t, _ = venue.call("POST", "/api/v3/order", dict(LIMIT, price="0.16"), signed=True)
    assert t["status"] == "FILLED" and t["fills"][0]["price"] == "0.15000000"
    assert t["fills"][0]["commissionAsset"] == "DOGE"
    assert t["fills"][0]["commission"] == "0.05000000"  # 5 bps taker of 100 DOGE
    trades = venue.call("GET", "/api/v3/myTrades", {"symbol": "DOGEUSDT"}, signed=True)[1]
    assert [(x["isBuyer"], x["isMaker"], x["quoteQty"]) for x in trades] == [(True, False, "15.00000000")]


def test_rejections_carry_binance_codes(venue):
    def code(params, **kw):
        return venue.call("POST", "/api/v3/order", params, signed=True, **kw)[:2]

    assert code(dict(LIMIT, quantity="1000000")) == (
        400,
        {"code": -2010, "msg": "Account has insufficient balance for requested action."},
    )
    assert code(dict(LIMIT, price="0.150001"))[1] == {"code": -1013, "msg": "Filter failure: PRICE_FILTER"}
    assert code(dict(LIMIT, price="0.150000001"))[1]["code"] == -1111
    assert code(dict(LIMIT, quantity="1.5"))[1] == {"code": -1013, "msg": "Filter failure: LOT_SIZE"}
    assert code(dict(LIMIT, timeInForce="GTX"))[1]["code"] == -1115
    assert code(LIMIT, tamper=True) == (
        400,
        {"code": -1022, "msg": "Signature for this request is not valid."},
    )
    assert code(LIMIT, key="nobody")[0] == 401
    assert code(LIMIT, key="nobody")[1]["code"] == -2015
    assert code(dict(LIMIT, timestamp=str(int(time.time() * 1000) - 20_000)))[1] == {
        "code": -1021,
        "msg": "Timestamp for this request is outside of the recvWindow.",
    }
    assert code(dict(LIMIT, timestamp=str(int(time.time() * 1000) + 30_000)))[1] == {
        "code": -1021,
        "msg": "Timestamp for this request was 1000ms ahead of the server's time.",
    }
    ok = dict(LIMIT, timestamp=str(int(time.time() * 1000) - 20_000), recvWindow="60000")
    assert code(ok)[0] == 200
    assert code(dict(LIMIT, type="LIMIT_MAKER", timeInForce=""))[0] == 200
    status, _ = venue.call("GET", "/api/v3/account")[:2]
    assert status == 401


def test_cancel_replace(venue):
    o = venue.call("POST", "/api/v3/order", LIMIT, signed=True)[1]
    params = dict(LIMIT, price="0.14", cancelReplaceMode="STOP_ON_FAILURE", cancelOrderId=str(o["orderId"]))
    status, r, _ = venue.call("POST", "/api/v3/order/cancelReplace", params, signed=True, body=True)
    assert status == 200 and r["cancelResult"] == "SUCCESS" and r["newOrderResponse"]["price"] == "0.14000000"
    status, r, _ = venue.call("POST", "/api/v3/order/cancelReplace", params, signed=True, body=True)
    assert status == 400 and r["code"] == -2022 and r["data"]["newOrderResult"] == "NOT_ATTEMPTED"


def test_signed_payload_is_the_raw_bytes():
    q = b"symbol=X&signature=abc&timestamp=1"
    assert signed_payload(q, b"") == (b"symbol=X&timestamp=1", b"abc")
    assert signed_payload(b"a=%5B1%2C2%5D", b"b=2&signature=ab%2Bc%3D") == (b"a=%5B1%2C2%5Db=2", b"ab+c=")
    assert signed_payload(b"", b"") == (b"", None)


@pytest.fixture
def tight_venue():
    """A venue allowing 2 new orders per 10 s and 30 weight per minute."""
    yield from run_venue(SimVenueConfig(keys=[make_key(1)], orders_per_10s=2, weight_per_minute=30))


def test_order_count_and_weight_limits(tight_venue):
    v = tight_venue
    for expected in ("1", "2"):
        status, _, headers = v.call("POST", "/api/v3/order", LIMIT, signed=True)
        assert status == 200 and headers["X-MBX-ORDER-COUNT-10S"] == expected
    status, body, headers = v.call("POST", "/api/v3/order", LIMIT, signed=True)
    assert status == 429 and body["code"] == -1015 and headers["Retry-After"] == "10"
    status, body, _ = v.call("GET", "/api/v3/exchangeInfo")
    assert status == 200
    status, body, headers = v.call("GET", "/api/v3/exchangeInfo")
    assert status == 429 and body["code"] == -1003 and int(headers["X-MBX-USED-WEIGHT-1M"]) > 30
    assert 1 <= int(headers["Retry-After"]) <= 60
    # Ignoring 429s: the sixth in a minute earns a 418 ban (on every endpoint, futures too).
    statuses = [v.call("GET", "/api/v3/time")[0] for _ in range(5)]
    assert statuses == [429, 429, 429, 429, 418]
    status, body, headers = v.call("GET", "/fapi/v1/time", base=v.usdm_url)
    assert status == 418 and body["code"] == -1003 and "IP banned until" in body["msg"]
    assert 100 <= int(headers["Retry-After"]) <= 120


def test_ed25519_key_signs_rest_requests():
    ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
    ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")
    private = ed.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    key = ApiKey(api_key="ed-rest-key", account=1, ed25519_public_key=pem)
    for v in run_venue(SimVenueConfig(keys=[key])):
        query = urllib.parse.urlencode(dict(LIMIT, timestamp=str(int(time.time() * 1000))))
        sig = base64.b64encode(private.sign(query.encode())).decode()
        body = (query + "&signature=" + urllib.parse.quote(sig, safe="")).encode()
        req = urllib.request.Request(
            v.url + "/api/v3/order",
            data=body,
            method="POST",
            headers={"X-MBX-APIKEY": key.api_key, "Content-Type": "application/x-www-form-urlencoded"},
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())["status"] == "NEW"


def test_order_test_all_orders_book_ticker_avg_price(venue):
    assert venue.call("POST", "/api/v3/order/test", LIMIT, signed=True)[:2] == (200, {})
    assert venue.call("GET", "/api/v3/openOrders", {"symbol": "DOGEUSDT"}, signed=True)[1] == []
    venue.call("POST", "/api/v3/order", LIMIT, signed=True)
    orders = venue.call("GET", "/api/v3/allOrders", {"symbol": "DOGEUSDT"}, signed=True)[1]
    assert [o["status"] for o in orders] == ["NEW"]
    ticker = venue.call("GET", "/api/v3/ticker/bookTicker", {"symbol": "DOGEUSDT"})[1]
    assert (ticker["bidPrice"], ticker["askPrice"]) == ("0.15000000", "0.00000000")
    assert venue.call("GET", "/api/v3/avgPrice", {"symbol": "DOGEUSDT"})[1]["mins"] == 5
