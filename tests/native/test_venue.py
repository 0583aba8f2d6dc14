"""The binding surface of the simulated venue: SimExchange and SignatureVerifier."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from pymm._native import InstrumentMaster, SignatureVerifier, SimExchange, SimVenueError
from tests.conftest import REPO

SPOT = REPO / "config" / "instruments" / "DOGEUSDT.spot.toml"
T0 = 1_700_000_000_000_000_000


def _exchange() -> SimExchange:
    ex = SimExchange(InstrumentMaster.from_toml(SPOT), maker_bps=1, taker_bps=5)
    for account in (1, 2):
        ex.deposit(account, "USDT", "1000")
        ex.deposit(account, "DOGE", "10000")
    return ex


def _order(side: str, price: str, qty: str) -> dict[str, str]:
    return {
        "symbol": "DOGEUSDT",
        "side": side,
        "type": "LIMIT",
        "timeInForce": "GTC",
        "price": price,
        "quantity": qty,
    }


def test_requests_return_status_and_binance_json():
    ex = _exchange()
    assert ex.symbols() == ["DOGEUSDT"]
    status, body = ex.new_order(1, _order("SELL", "0.2", "100"), T0)
    assert status == 200 and body["status"] == "NEW" and body["transactTime"] == T0 // 1_000_000
    status, body = ex.new_order(2, _order("BUY", "0.2", "40"), T0)
    assert body["status"] == "FILLED" and body["fills"][0]["commission"] == "0.02000000"
    assert ex.top("DOGEUSDT") == (None, "0.20000") and ex.top("NOPE") is None
    status, body = ex.query_order(1, {"symbol": "DOGEUSDT", "orderId": "77"})
    assert (status, body) == (400, {"code": -2013, "msg": "Order does not exist."})
    ex.check_invariants()
    events = ex.drain_events()
    assert {a for a, _ in events} >= {1, 2, "dogeusdt@depth", "dogeusdt@trade", "dogeusdt@bookTicker"}
    assert ex.drain_events() == []


def test_same_requests_same_events():
    runs = []
    for _ in range(2):
        ex = _exchange()
        for i in range(20):
            ex.new_order(
                1 + i % 2, _order("BUY" if i % 3 else "SELL", f"0.{19 + i % 3}", str(10 + i)), T0 + i
            )
        runs.append(ex.drain_events())
    assert runs[0] == runs[1]


def test_setup_errors_raise():
    with pytest.raises(SimVenueError, match="fee rate"):
        SimExchange(InstrumentMaster.from_toml(SPOT), maker_bps=-1)
    with pytest.raises(SimVenueError, match="deposit"):
        _exchange().deposit(1, "USDT", "-5")


def test_signature_verifier():
    secret = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
    payload = (
        b"symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
        b"&recvWindow=5000&timestamp=1499827319559"
    )
    sig = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    v = SignatureVerifier.hmac(secret)
    assert v.verify(payload, sig.encode()) and v.verify(payload, sig.upper().encode())
    assert not v.verify(payload + b"x", sig.encode())
    assert sig == "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
    with pytest.raises(SimVenueError):
        SignatureVerifier.ed25519_pem("not a key")
