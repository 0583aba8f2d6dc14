"""The native USD-M gateway (``pymm._native.UsdmGateway``) and its hedge adapter against the simulated
venue's real ``/fapi`` REST and listenKey stream: place, cancel, modify, batch (with a bad order),
status, fills, UNKNOWN from each fault (``-1007``, 5xx, reset, stall) resolved without resending,
risk and the venue rate guard, client ids unique across restarts."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from pymm._native import UsdmGateway
from pymm.hedge.delta_bus import Side
from pymm.hedge.mode_controller import HedgeMode
from pymm.hedge.service import HedgeOrder, OrderStatus, OrderUpdate
from pymm.runtime.usdm_native import UsdmNativeSender, gateway_config
from pymm.venues.sim import ApiKey, SimVenueConfig
from tests.venues._harness import Venue, run_venue

ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")

PERP = Path(__file__).resolve().parents[2] / "config" / "instruments" / "DOGEUSDT.usdm.toml"
SYM = "DOGEUSDT"
ME, OTHER = 1, 2
HMAC_SECRET = "usdm-gateway-test-secret"
RISK = {
    "max_order_qty": "1000",
    "max_order_notional": "1000",
    "price_collar_bps": 500,
    "max_long": "5000",
    "max_short": "5000",
    "max_position_notional": "10000",
    "max_open_orders": 40,
    "venue_orders_per_second": 50,
    "venue_orders_burst": 100,
}


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    private = ed.Ed25519PrivateKey.generate()
    priv = private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    pub = private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


def _venue(pub: str, **cfg: Any) -> Iterator[Venue]:
    keys = [
        ApiKey(api_key="usdm-gw-key", account=ME, ed25519_public_key=pub, hmac_secret=HMAC_SECRET),
        ApiKey(api_key="usdm-other-key", account=OTHER, hmac_secret="other-secret"),
    ]
    yield from run_venue(SimVenueConfig(keys=keys, mark_interval_s=0.2, **cfg))


@pytest.fixture
def venue(keypair: tuple[str, str]) -> Iterator[Venue]:
    yield from _venue(keypair[1])


def config(venue: Venue, priv: str, tmp: Path, **over: Any) -> dict[str, Any]:
    cfg = gateway_config(
        rest_url=venue.usdm_url,
        user_ws_url=venue.usdm_ws + "/private/ws",
        api_key="usdm-gw-key",
        private_pem=priv,
        instrument=str(PERP),
        risk=RISK,
        client_id_file=str(tmp / "usdm_client_ids"),
        client_prefix="pmf-",
        request_timeout_ms=1000,
        query_backoff_ms=50,
        query_backoff_max_ms=400,
    )
    cfg.update(over)
    return cfg


@pytest.fixture
def gw(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> Iterator[UsdmGateway]:
    g = UsdmGateway(config(venue, keypair[0], tmp_path))
    g.set_reference("0.1")
    yield g
    g.close()


def on_loop(venue: Venue, fn: Callable[[], Any]) -> Any:
    async def call() -> Any:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), venue.loop).result(timeout=10)


def fapi(venue: Venue, route: str, account: int, params: dict[str, str]) -> Any:
    """One request straight into the venue core (and its events out to the streams)."""
    v = venue.running.venue

    def go() -> Any:
        status, body = v.futures.request(route, account, params, v.now_ns())
        v.pump()
        return status, body

    status, body = on_loop(venue, go)
    assert status == 200, body
    return body


def venue_orders(venue: Venue) -> list[dict[str, Any]]:
    return list(fapi(venue, "GET /fapi/v1/allOrders", ME, {"symbol": SYM, "limit": "1000"}))


def wait_for(pred: Callable[[], bool], what: str, timeout: float = 10.0) -> None:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.02)


def state(gw: UsdmGateway, cid: int) -> str:
    o = gw.order(cid)
    assert o is not None
    return str(o["state"])


def unknown_is_resolved_never_resent(
    gw: UsdmGateway, faults: Any, fault: str, tif: str, orders: Callable[[], list[dict[str, Any]]]
) -> dict[str, Any]:
    """Arms ``fault`` once on the venue's ``faults`` and places a buy: it is UNKNOWN after the send,
    resolves to NEW, the venue's order list (``orders()``) holds it exactly once, and the connection
    comes back for the next order. Returns the gateway's status right after the resolution."""
    faults.stall_s = 2.0
    setattr(faults, fault, 1)
    out = gw.place("BUY", "0.099", "100", tif)
    assert out["state"] == "UNKNOWN", out
    cid, text = out["client_order_id"], out["client_order_text"]
    wait_for(lambda: state(gw, cid) == "NEW", "the UNKNOWN order to resolve")
    assert faults.applied == 1
    st = gw.status()
    assert (st["unknown"], st["unknown_resolved"], st["unknown_now"]) == (1, 1, 0), st
    assert [o["clientOrderId"] for o in orders()] == [text], "never resent"
    assert gw.place("BUY", "0.0985", "100", tif)["state"] == "NEW", "the connection comes back"
    return st


def test_place_query_modify_cancel_and_events(venue: Venue, gw: UsdmGateway) -> None:
    out = gw.place("BUY", "0.099", "100", "GTX")
    assert (out["state"], out["refusal"], out["http_status"]) == ("NEW", None, 200), out
    cid, text = out["client_order_id"], out["client_order_text"]
    assert text == f"pmf-{cid}" and gw.parse_client_order_text(text) == cid
    assert gw.query(cid)["state"] == "NEW"
    mod = gw.modify(cid, "0.0995", "120")
    assert (mod["state"], mod["refusal"]) == ("NEW", None), mod
    row = next(o for o in venue_orders(venue) if o["clientOrderId"] == text)
    assert (Decimal(row["price"]), row["origQty"], row["status"]) == (Decimal("0.0995"), "120", "NEW")
    assert Decimal(gw.order(cid)["price"]) == Decimal("0.0995")
    done = gw.cancel(cid)
    assert done["state"] == "CANCELED", done
    assert gw.cancel(cid)["refusal"] == "no_such_order", "a finished order is not cancelled twice"
    states = [e["state"] for e in gw.events(100, 0.5) if e["client_order_id"] == cid]
    assert states[0] == "NEW" and states[-1] == "CANCELED"
    assert [o["clientOrderId"] for o in venue_orders(venue)] == [text], "one venue order per intent"
    st = gw.status()
    assert (st["orders_sent"], st["modifies_sent"], st["cancels_sent"], st["queries_sent"]) == (1, 1, 1, 1)
    assert st["user_stream_up"] and st["http"]["connects"] == 1, st["http"]
    assert st["http"]["reused"] >= 4, "one keep-alive connection"
    rate = st["rate"]
    assert rate["used_weight_1m"] > 0 and rate["order_count_10s"] >= 1 and rate["order_count_1m"] >= 1


def test_batch_reports_per_order_results_including_a_bad_one(venue: Venue, gw: UsdmGateway) -> None:
    outs = gw.place_batch(
        [
            ("BUY", "0.098", "100", "GTX", False),
            ("BUY", "0.097", "1", "GTX", False),  # notional 0.097 < 5: the venue refuses this one
            ("SELL", "0.102", "100", "GTX", False),
        ]
    )
    assert [o["state"] for o in outs] == ["NEW", "REJECTED", "NEW"], outs
    assert outs[1]["refusal"] == "venue" and outs[1]["code"] == -4164, outs[1]
    assert len({o["client_order_id"] for o in outs}) == 3
    rows = venue_orders(venue)
    assert sorted(o["clientOrderId"] for o in rows) == sorted(
        [outs[0]["client_order_text"], outs[2]["client_order_text"]]
    )
    assert gw.status()["batches_sent"] == 1
    with pytest.raises(ValueError, match=r"1\.\.=5"):
        gw.place_batch([("BUY", "0.098", "100", "GTX", False)] * 6)
    with pytest.raises(ValueError, match="price"):
        gw.place("BUY", "0.0981234", "100")
    with pytest.raises(ValueError, match="tif"):
        gw.place("BUY", "0.098", "100", "FOK")


def test_fills_arrive_on_the_user_stream_and_ioc_fills_in_the_reply(venue: Venue, gw: UsdmGateway) -> None:
    rest = gw.place("SELL", "0.1", "100", "GTX")
    assert rest["state"] == "NEW"
    fapi(
        venue,
        "POST /fapi/v1/order",
        OTHER,
        {
            "symbol": SYM,
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "IOC",
            "quantity": "60",
            "price": "0.1",
        },
    )
    wait_for(lambda: state(gw, rest["client_order_id"]) == "PARTIALLY_FILLED", "the partial fill")
    fills = [e for e in gw.events(100, 0.2) if e["last_qty"] != "0"]
    assert fills and fills[-1]["source"] == "user_stream" and fills[-1]["last_qty"] == "60"
    assert Decimal(fills[-1]["last_price"]) == Decimal("0.1")
    assert gw.order(rest["client_order_id"])["cum_filled"] == "60"
    fapi(
        venue,
        "POST /fapi/v1/order",
        OTHER,
        {
            "symbol": SYM,
            "side": "SELL",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "quantity": "60",
            "price": "0.0999",
        },
    )
    ioc = gw.place("BUY", "0.0999", "60", "IOC")
    assert (ioc["state"], ioc["cum_filled"]) == ("FILLED", "60"), ioc
    miss = gw.place("BUY", "0.098", "60", "IOC")
    assert miss["state"] == "EXPIRED", miss
    assert gw.status()["illegal_transitions"] == 0


@pytest.mark.parametrize("fault", ["unknown_replies", "error_5xx_replies", "reset_replies", "stall_replies"])
def test_unknown_after_send_is_resolved_never_resent(venue: Venue, gw: UsdmGateway, fault: str) -> None:
    faults = venue.running.venue.usdm_faults
    unknown_is_resolved_never_resent(gw, faults, fault, "GTX", lambda: venue_orders(venue))


def test_unknown_resolved_by_query_backoff_without_a_user_stream(
    venue: Venue, keypair: tuple[str, str], tmp_path: Path
) -> None:
    g = UsdmGateway(config(venue, keypair[0], tmp_path, user_ws=None))
    try:
        g.set_reference("0.1")
        venue.running.venue.usdm_faults.unknown_replies = 1
        out = g.place("BUY", "0.099", "100", "GTX")
        assert out["state"] == "UNKNOWN"
        cid = out["client_order_id"]
        wait_for(lambda: state(g, cid) == "NEW", "the query to resolve it")
        assert g.order(cid)["queries"] >= 1 and not g.status()["user_stream_up"]
        # A cancel lost in a 5xx is UNKNOWN too, and the query finds it cancelled.
        venue.running.venue.usdm_faults.error_5xx_replies = 1
        assert g.cancel(cid)["state"] == "UNKNOWN"
        wait_for(lambda: state(g, cid) == "CANCELED", "the cancel to resolve")
        assert len(venue_orders(venue)) == 1
    finally:
        g.close()


def test_risk_denies_before_sending(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> None:
    g = UsdmGateway(config(venue, keypair[0], tmp_path))
    try:
        assert g.place("BUY", "0.099", "100")["refusal"] == "no_reference", "fail closed"
        g.set_reference("0.1")
        assert g.place("BUY", "0.2", "100")["refusal"] == "price_collar"
        assert g.place("BUY", "0.099", "5000")["refusal"] == "max_order_qty"
        g.set_position("-4950")
        assert g.place("SELL", "0.101", "100")["refusal"] == "max_short"
        g.kill()
        assert g.place("BUY", "0.099", "100")["refusal"] == "killed"
        g.lift_kill()
        ok = g.place("BUY", "0.099", "100")
        assert ok["state"] == "NEW"
        assert g.modify(ok["client_order_id"], "0.2", "100")["refusal"] == "price_collar"
        assert Decimal(g.order(ok["client_order_id"])["price"]) == Decimal("0.099"), (
            "the refused modify changed nothing"
        )
        assert g.status()["denied"] == 6 and len(venue_orders(venue)) == 1
    finally:
        g.close()


def test_order_count_guard_stops_before_the_venue_limit(
    venue: Venue, keypair: tuple[str, str], tmp_path: Path
) -> None:
    g = UsdmGateway(config(venue, keypair[0], tmp_path, orders_per_10s=5))
    try:
        g.set_reference("0.1")
        prices = ["0.0991", "0.0992", "0.0993", "0.0994", "0.0995"]
        outs = [g.place("BUY", p, "100") for p in prices]
        # 80% of 5: the fourth order's count (4) reaches the guard, the fifth is held back.
        assert [o["refusal"] for o in outs] == [None, None, None, None, "order_count_guard"], outs
        st = g.status()
        assert st["rate_blocked"] == 1 and st["rate"]["order_count_10s"] == 4
        assert st["rate"]["blocked_until_ns"] > 0 and len(venue_orders(venue)) == 4
        assert g.cancel(outs[0]["client_order_id"])["state"] == "CANCELED", "cancels still go"
    finally:
        g.close()


def test_after_a_429_nothing_is_sent_until_retry_after(keypair: tuple[str, str], tmp_path: Path) -> None:
    for venue in _venue(keypair[1], orders_per_10s=2):
        g = UsdmGateway(config(venue, keypair[0], tmp_path))
        try:
            g.set_reference("0.1")
            a, b = g.place("BUY", "0.0991", "100"), g.place("BUY", "0.0992", "100")
            assert a["state"] == b["state"] == "NEW"
            c = g.place("BUY", "0.0993", "100")
            assert (c["state"], c["code"], c["http_status"]) == ("REJECTED", -1015, 429), c
            d = g.place("BUY", "0.0994", "100")
            assert d["refusal"] == "http_429" and d["state"] is None, d
            q = g.query(a["client_order_id"])
            assert q["refusal"] == "http_429", "every request waits out Retry-After"
            st = g.status()
            assert (st["rate"]["http_429"], st["rate"]["http_418"]) == (1, 0)
            assert st["orders_sent"] == 3 and len(venue_orders(venue)) == 2
        finally:
            g.close()


def test_client_ids_are_unique_across_restarts_and_hmac_signs_too(
    venue: Venue, keypair: tuple[str, str], tmp_path: Path
) -> None:
    g = UsdmGateway(config(venue, keypair[0], tmp_path))
    g.set_reference("0.1")
    first = g.place("BUY", "0.099", "100")["client_order_id"]
    g.close()
    h = UsdmGateway(config(venue, keypair[0], tmp_path, ed25519_private_pem=None, hmac_secret=HMAC_SECRET))
    try:
        h.set_reference("0.1")
        out = h.place("BUY", "0.0985", "100")
        assert out["state"] == "NEW", out
        assert out["client_order_id"] > first
    finally:
        h.close()


def test_config_errors_name_the_field(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> None:
    for over, field in [
        ({"client_prefix": "much-too-long"}, "client_prefix"),
        ({"ed25519_private_pem": "nope"}, "ed25519_private_pem"),
        ({"recv_window_ms": 0}, "recv_window_ms"),
        ({"risk": {**RISK, "max_order_qty": "x"}}, "max_order_qty"),
        ({"bogus": 1}, "bogus"),
    ]:
        with pytest.raises(ValueError, match=field):
            UsdmGateway(config(venue, keypair[0], tmp_path, **over))


def _hedge(cid: str, side: Side, price: str, tif: str = "GTX") -> HedgeOrder:
    return HedgeOrder(
        client_order_id=cid,
        venue="binance-usdm",
        symbol=SYM,
        side=side,
        order_type="LIMIT",
        time_in_force=tif,
        price=Decimal(price),
        qty=Decimal(100),
        price_text=price,
        qty_text="100",
        reduce_only=False,
        mode=HedgeMode.PASSIVE,
        ts_trigger=0,
        ts_intent=0,
    )


def test_hedge_adapter_reports_under_the_service_ids(venue: Venue, gw: UsdmGateway) -> None:
    updates: list[OrderUpdate] = []
    sender = UsdmNativeSender(gw, on_update=updates.append, poll_s=0.02)
    try:
        sender.submit(_hedge("pymmh-1", Side.BUY, "0.099"))
        wait_for(lambda: any(u.status is OrderStatus.ACCEPTED for u in updates), "ACCEPTED")
        venue_text = sender.venue_client_id("pymmh-1")
        assert venue_text is not None and venue_text.startswith("pmf-")
        assert sender.service_client_id(venue_text) == "pymmh-1"
        sender.cancel("pymmh-1")
        wait_for(lambda: updates[-1].status is OrderStatus.CANCELED, "CANCELED")
        assert {u.client_order_id for u in updates} == {"pymmh-1"}
        sender.submit(_hedge("pymmh-2", Side.BUY, "0.5"))  # outside the collar: never sent
        wait_for(lambda: updates[-1].client_order_id == "pymmh-2", "the refusal")
        assert updates[-1] == OrderUpdate("pymmh-2", OrderStatus.REJECTED, Decimal(0), updates[-1].ts_event)
        assert sender.refusals == {"price_collar": 1}
        with pytest.raises(ValueError, match="GTX or IOC"):
            sender.submit(_hedge("pymmh-3", Side.BUY, "0.099", tif="GTC"))
        assert len(venue_orders(venue)) == 1
    finally:
        sender.close(close_gateway=False)
