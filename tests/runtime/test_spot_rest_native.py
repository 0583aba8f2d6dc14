"""The native order gateway on Binance **spot** REST (``pymm._native.UsdmGateway`` with ``market =
"spot"``, ADR 0009) against the simulated venue's real ``/api/v3`` routes and its WS API user stream
(``/ws-api/v3``): LIMIT_MAKER and IOC, cancel, cancel-replace, status, a batch (one request per order),
UNKNOWN from each fault (``-1007``, 5xx, reset, stall) resolved without resending, 429 ⇒ nothing sent
until ``Retry-After`` (no 418), kill ⇒ open orders cancelled, risk denial ⇒ nothing sent, and the
position as start value plus fills."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pymm._native import UsdmGateway
from pymm.venues.sim import ApiKey, SimVenueConfig
from tests.runtime.test_usdm_native import (
    HMAC_SECRET,
    ME,
    OTHER,
    RISK,
    SYM,
    state,
    unknown_is_resolved_never_resent,
    wait_for,
)
from tests.venues._harness import Venue, run_venue

ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")

SPOT = Path(__file__).resolve().parents[2] / "config" / "instruments" / "DOGEUSDT.spot.toml"


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    private = ed.Ed25519PrivateKey.generate()
    priv = private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    pub = private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


@pytest.fixture
def venue(keypair: tuple[str, str]) -> Iterator[Venue]:
    keys = [
        ApiKey(api_key="spot-gw-key", account=ME, ed25519_public_key=keypair[1], hmac_secret=HMAC_SECRET),
        ApiKey(api_key="spot-other-key", account=OTHER, hmac_secret="other-secret"),
    ]
    yield from run_venue(SimVenueConfig(keys=keys))


def config(venue: Venue, priv: str, tmp: Path, **over: Any) -> dict[str, Any]:
    cfg: dict[str, Any] = {
        "market": "spot",
        "rest": venue.url,
        "user_ws": venue.ws + "/ws-api/v3",
        "api_key": "spot-gw-key",
        "ed25519_private_pem": priv,
        "instrument": str(SPOT),
        "risk": RISK,
        "client_id_file": str(tmp / "spot_client_ids"),
        "client_prefix": "pms-",
        "request_timeout_ms": 1000,
        "query_backoff_ms": 50,
        "query_backoff_max_ms": 400,
    }
    cfg.update(over)
    return cfg


@pytest.fixture
def gw(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> Iterator[UsdmGateway]:
    g = UsdmGateway(config(venue, keypair[0], tmp_path))
    g.set_reference("0.1")
    yield g
    g.close()


def spot(venue: Venue, call: str, account: int, params: dict[str, str]) -> tuple[int, Any]:
    """One request straight into the venue's spot core (and its events out to the streams)."""
    v = venue.running.venue

    async def go() -> tuple[int, Any]:
        fn = getattr(v.exchange, call)
        timed = call in ("new_order", "cancel_open_orders")
        out = fn(account, params, v.now_ns()) if timed else fn(account, params)
        v.pump()
        return tuple(out)  # type: ignore[return-value]

    status, body = asyncio.run_coroutine_threadsafe(go(), venue.loop).result(timeout=10)
    return status, body


def venue_orders(venue: Venue) -> list[dict[str, Any]]:
    status, body = spot(venue, "all_orders", ME, {"symbol": SYM, "limit": "1000"})
    assert status == 200, body
    return list(body)


def other_limit(venue: Venue, side: str, qty: str, price: str, tif: str = "GTC") -> None:
    p = {"symbol": SYM, "side": side, "type": "LIMIT", "timeInForce": tif, "quantity": qty, "price": price}
    status, body = spot(venue, "new_order", OTHER, p)
    assert status == 200, body


def test_limit_maker_query_cancel_replace_cancel(venue: Venue, gw: UsdmGateway) -> None:
    assert gw.market == "spot"
    out = gw.place("BUY", "0.099", "100", "LIMIT_MAKER")
    assert (out["state"], out["refusal"], out["http_status"]) == ("NEW", None, 200), out
    old, old_text = out["client_order_id"], out["client_order_text"]
    assert old_text == f"pms-{old}" and gw.order(old)["tif"] == "LIMIT_MAKER"
    assert gw.query(old)["state"] == "NEW"
    rep = gw.modify(old, "0.0995", "120")
    assert (rep["state"], rep["refusal"]) == ("NEW", None), rep
    new = rep["client_order_id"]
    assert new != old, "cancel-replace places the new order under a new id"
    assert state(gw, old) == "CANCELED"
    rows = {o["clientOrderId"]: o for o in venue_orders(venue)}
    assert rows[old_text]["status"] == "CANCELED"
    row = rows[rep["client_order_text"]]
    assert (Decimal(row["price"]), Decimal(row["origQty"]), row["type"]) == (
        Decimal("0.0995"),
        Decimal(120),
        "LIMIT_MAKER",
    )
    assert gw.cancel(new)["state"] == "CANCELED"
    assert gw.cancel(new)["refusal"] == "no_such_order", "a finished order is not cancelled twice"
    states = [e["state"] for e in gw.events(100, 0.5) if e["client_order_id"] == old]
    assert states[0] == "NEW" and states[-1] == "CANCELED", states
    # The stream's executionReports reach the gateway (each matched to an order of ours).
    wait_for(lambda: gw.status()["user_events"] >= 4, "the user stream's reports")
    assert sorted(rows) == sorted([old_text, rep["client_order_text"]]), "one venue order per intent"
    st = gw.status()
    assert (st["orders_sent"], st["modifies_sent"], st["cancels_sent"], st["queries_sent"]) == (2, 1, 1, 1)
    assert st["batches_sent"] == 0 and st["user_stream_up"] and st["http"]["connects"] == 1
    rate = st["rate"]
    assert rate["used_weight_1m"] > 0 and rate["order_count_10s"] >= 2 and rate["order_count_1d"] >= 2, rate
    with pytest.raises(ValueError, match="LIMIT_MAKER"):
        gw.place("BUY", "0.099", "100", "GTX")
    with pytest.raises(ValueError, match="reduce_only"):
        gw.place("BUY", "0.099", "100", "GTC", reduce_only=True)


def test_ioc_fills_in_the_reply_maker_fills_on_the_user_stream(venue: Venue, gw: UsdmGateway) -> None:
    other_limit(venue, "SELL", "60", "0.1")
    take = gw.place("BUY", "0.1", "100", "LIMIT_MAKER")
    assert (take["state"], take["code"]) == ("REJECTED", -2010), "post-only that would take is refused"
    ioc = gw.place("BUY", "0.1", "60", "IOC")
    assert (ioc["state"], ioc["cum_filled"]) == ("FILLED", "60"), ioc
    assert gw.place("BUY", "0.098", "60", "IOC")["state"] == "EXPIRED"
    rest = gw.place("SELL", "0.101", "100", "LIMIT_MAKER")
    assert rest["state"] == "NEW"
    other_limit(venue, "BUY", "40", "0.101", "IOC")
    wait_for(lambda: state(gw, rest["client_order_id"]) == "PARTIALLY_FILLED", "the maker fill")
    mine = [e for e in gw.events(100, 0.2) if e["client_order_id"] == rest["client_order_id"]]
    fills = [e for e in mine if e["last_qty"] != "0"]
    assert fills and fills[-1]["source"] == "user_stream" and fills[-1]["last_qty"] == "40"
    assert Decimal(fills[-1]["last_price"]) == Decimal("0.101")
    st = gw.status()
    assert st["illegal_transitions"] == 0 and st["user_events"] >= 2


def test_a_batch_is_one_request_per_order(venue: Venue, gw: UsdmGateway) -> None:
    outs = gw.place_batch(
        [
            ("BUY", "0.098", "100", "LIMIT_MAKER", False),
            ("BUY", "0.097", "1", "LIMIT_MAKER", False),  # notional 0.097 < 1: the venue refuses it
            ("SELL", "0.102", "100", "GTC", False),
        ]
    )
    assert [o["state"] for o in outs] == ["NEW", "REJECTED", "NEW"], outs
    assert outs[1]["refusal"] == "venue" and outs[1]["code"] == -1013, outs[1]
    st = gw.status()
    assert (st["batches_sent"], st["orders_sent"]) == (0, 3)
    assert sorted(o["clientOrderId"] for o in venue_orders(venue)) == sorted(
        [outs[0]["client_order_text"], outs[2]["client_order_text"]]
    )


@pytest.mark.parametrize("fault", ["unknown_replies", "error_5xx_replies", "reset_replies", "stall_replies"])
def test_unknown_after_send_is_resolved_never_resent(venue: Venue, gw: UsdmGateway, fault: str) -> None:
    faults = venue.running.venue.spot_faults
    unknown_is_resolved_never_resent(gw, faults, fault, "LIMIT_MAKER", lambda: venue_orders(venue))


def test_query_resolves_without_a_user_stream_and_hmac_signs(
    venue: Venue, keypair: tuple[str, str], tmp_path: Path
) -> None:
    g = UsdmGateway(
        config(venue, keypair[0], tmp_path, user_ws=None, ed25519_private_pem=None, hmac_secret=HMAC_SECRET)
    )
    faults = venue.running.venue.spot_faults
    try:
        g.set_reference("0.1")
        faults.unknown_replies = 1
        out = g.place("BUY", "0.099", "100", "LIMIT_MAKER")
        assert out["state"] == "UNKNOWN"
        cid = out["client_order_id"]
        wait_for(lambda: state(g, cid) == "NEW", "the query to resolve it")
        assert g.order(cid)["queries"] >= 1 and not g.status()["user_stream_up"]
        # A cancel-replace answered -1007 leaves both halves UNKNOWN; queries find what happened.
        faults.unknown_replies = 1
        rep = g.modify(cid, "0.0992", "100")
        assert rep["state"] == "UNKNOWN" and state(g, cid) == "UNKNOWN", rep
        new = rep["client_order_id"]
        wait_for(lambda: (state(g, cid), state(g, new)) == ("CANCELED", "NEW"), "both halves to resolve")
        # A cancel lost in a 5xx is UNKNOWN too, and the query finds it cancelled.
        faults.error_5xx_replies = 1
        assert g.cancel(new)["state"] == "UNKNOWN"
        wait_for(lambda: state(g, new) == "CANCELED", "the cancel to resolve")
        assert len(venue_orders(venue)) == 2 and faults.applied == 3
    finally:
        g.close()


def test_hmac_key_subscribes_with_the_signature_form(
    venue: Venue, keypair: tuple[str, str], tmp_path: Path
) -> None:
    g = UsdmGateway(config(venue, keypair[0], tmp_path, ed25519_private_pem=None, hmac_secret=HMAC_SECRET))
    try:
        g.set_reference("0.1")
        assert g.status()["user_stream_up"]
        out = g.place("SELL", "0.101", "100", "LIMIT_MAKER")
        other_limit(venue, "BUY", "100", "0.101", "IOC")
        wait_for(lambda: state(g, out["client_order_id"]) == "FILLED", "the fill on the stream")
    finally:
        g.close()


def test_after_a_429_nothing_is_sent_until_retry_after(venue: Venue, gw: UsdmGateway) -> None:
    a = gw.place("BUY", "0.0991", "100", "LIMIT_MAKER")
    assert a["state"] == "NEW"
    faults = venue.running.venue.spot_faults
    faults.rate_429_replies, faults.retry_after_s = 1, 30
    b = gw.place("BUY", "0.0992", "100", "LIMIT_MAKER")
    assert (b["state"], b["code"], b["http_status"]) == ("REJECTED", -1015, 429), b
    c = gw.place("BUY", "0.0993", "100", "LIMIT_MAKER")
    assert c["refusal"] == "http_429" and c["state"] is None, c
    assert gw.query(a["client_order_id"])["refusal"] == "http_429", "every request waits out Retry-After"
    assert gw.cancel(a["client_order_id"])["refusal"] == "http_429"
    st = gw.status()
    assert (st["rate"]["http_429"], st["rate"]["http_418"], st["rate"]["block"]) == (1, 0, "http_429")
    assert st["rate"]["blocked_until_ns"] > time.time_ns() + 20e9
    assert st["orders_sent"] == 2 and len(venue_orders(venue)) == 1 and faults.applied == 1


def test_kill_cancels_every_open_order(venue: Venue, gw: UsdmGateway) -> None:
    ids = [gw.place("BUY", p, "100", "LIMIT_MAKER")["client_order_id"] for p in ("0.0991", "0.0992")]
    ids.append(gw.place("SELL", "0.102", "100", "GTC")["client_order_id"])
    other_limit(venue, "BUY", "100", "0.098")
    gw.kill()
    assert [state(gw, i) for i in ids] == ["CANCELED"] * 3
    st = gw.status()
    assert (st["mass_cancels"], st["live_orders"], st["killed"]) == (1, 0, True)
    status, mine = spot(venue, "open_orders", ME, {"symbol": SYM})
    assert status == 200 and mine == []
    assert len(spot(venue, "open_orders", OTHER, {"symbol": SYM})[1]) == 1, "another account's order stands"
    assert gw.place("BUY", "0.099", "100", "LIMIT_MAKER")["refusal"] == "killed"
    assert len(venue_orders(venue)) == 3


def test_risk_denies_before_sending(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> None:
    g = UsdmGateway(config(venue, keypair[0], tmp_path))
    try:
        assert g.place("BUY", "0.099", "100", "LIMIT_MAKER")["refusal"] == "no_reference", "fail closed"
        g.set_reference("0.1")
        assert g.place("BUY", "0.2", "100", "LIMIT_MAKER")["refusal"] == "price_collar"
        assert g.place("BUY", "0.099", "5000", "LIMIT_MAKER")["refusal"] == "max_order_qty"
        ok = g.place("BUY", "0.099", "100", "LIMIT_MAKER")
        assert ok["state"] == "NEW"
        denied = g.modify(ok["client_order_id"], "0.2", "100")
        assert denied["refusal"] == "price_collar" and state(g, ok["client_order_id"]) == "NEW", denied
        assert g.status()["denied"] == 4 and len(venue_orders(venue)) == 1
    finally:
        g.close()


def test_position_is_the_start_value_plus_fills(
    venue: Venue, keypair: tuple[str, str], tmp_path: Path
) -> None:
    g = UsdmGateway(config(venue, keypair[0], tmp_path, start_position="4900"))
    try:
        g.set_reference("0.1")
        assert g.place("BUY", "0.099", "150", "LIMIT_MAKER")["refusal"] == "max_long", "4900 + 150 > 5000"
        other_limit(venue, "SELL", "60", "0.1")
        assert g.place("BUY", "0.1", "60", "IOC")["state"] == "FILLED"
        assert g.place("BUY", "0.099", "50", "LIMIT_MAKER")["refusal"] == "max_long", "4960 + 50 > 5000"
        assert g.place("BUY", "0.099", "40", "LIMIT_MAKER")["state"] == "NEW"
    finally:
        g.close()


def test_spot_config_errors(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> None:
    for over, field in [
        ({"transport": "ws", "ws_api": "ws://127.0.0.1:1/ws-api/v3"}, "transport"),
        ({"market": "coinm"}, "market|variant"),
        ({"start_position": "1.5"}, "start_position"),
    ]:
        with pytest.raises(ValueError, match=field):
            UsdmGateway(config(venue, keypair[0], tmp_path, **over))


def test_a_kill_held_back_by_a_429_cancels_once_retry_after_passed(venue: Venue, gw: UsdmGateway) -> None:
    cid = gw.place("BUY", "0.0991", "100", "LIMIT_MAKER")["client_order_id"]
    faults = venue.running.venue.spot_faults
    faults.rate_429_replies, faults.retry_after_s = 1, 1
    assert gw.place("BUY", "0.0992", "100", "LIMIT_MAKER")["http_status"] == 429
    gw.kill()
    st = gw.status()
    assert (st["mass_cancels"], state(gw, cid)) == (0, "NEW"), "nothing is sent inside Retry-After"
    wait_for(lambda: state(gw, cid) == "CANCELED", "the held-back mass cancel")
    st = gw.status()
    assert (st["mass_cancels"], st["rate"]["http_418"]) == (1, 0)


def test_a_user_stream_reconnect_reconciles_from_the_open_orders_list(venue: Venue, gw: UsdmGateway) -> None:
    full = gw.place("SELL", "0.101", "50", "LIMIT_MAKER")["client_order_id"]
    part = gw.place("SELL", "0.102", "100", "LIMIT_MAKER")["client_order_id"]
    v = venue.running.venue

    async def drop_then_fill() -> None:
        # One step on the venue's loop: both fills happen while the stream is down (its reports lost).
        await v.user_hub.drop_all()
        for qty, px in (("50", "0.101"), ("40", "0.102")):
            p = {
                "symbol": SYM,
                "side": "BUY",
                "type": "LIMIT",
                "timeInForce": "IOC",
                "quantity": qty,
                "price": px,
            }
            v.exchange.new_order(OTHER, p, v.now_ns())
        v.pump()

    asyncio.run_coroutine_threadsafe(drop_then_fill(), venue.loop).result(timeout=10)
    wait_for(lambda: gw.status()["user_connects"] >= 2, "the stream to reconnect")
    wait_for(lambda: state(gw, full) == "FILLED", "the order that ended while down, by its query")
    assert state(gw, part) == "PARTIALLY_FILLED" and gw.order(part)["cum_filled"] == "40"
    st = gw.status()
    assert st["reconciles"] == 1 and st["queries_sent"] == 1, (
        "one list, one query for the order missing from it"
    )
