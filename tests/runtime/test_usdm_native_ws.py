"""The native USD-M gateway over the futures WebSocket API (``transport = "ws"``, ``/ws-fapi/v1``)
against the simulated venue: place GTX/IOC, modify, status, cancel; each fault (``-1007``, a
dropped connection after the order was sent, no answer in time) makes the order UNKNOWN, the venue
sees its client id once, and the user stream or ``order.status`` resolves it; Ed25519
``session.logon`` by default, HMAC per request."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from pymm._native import UsdmGateway
from tests.runtime.test_usdm_native import (
    HMAC_SECRET,
    OTHER,
    SYM,
    _venue,
    config,
    fapi,
    state,
    unknown_is_resolved_never_resent,
    venue_orders,
    wait_for,
)
from tests.venues._harness import Venue

ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    private = ed.Ed25519PrivateKey.generate()
    priv = private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    pub = private.public_key().public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv, pub


@pytest.fixture
def venue(keypair: tuple[str, str]) -> Iterator[Venue]:
    yield from _venue(keypair[1])


def ws_config(v: Venue, priv: str, tmp: Path, **over: Any) -> dict[str, Any]:
    return config(v, priv, tmp, transport="ws", ws_api=v.usdm_ws + "/ws-fapi/v1", **over)


@pytest.fixture
def gw(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> Iterator[UsdmGateway]:
    g = UsdmGateway(ws_config(venue, keypair[0], tmp_path))
    g.set_reference("0.1")
    yield g
    g.close()


def test_place_status_modify_cancel_over_the_ws_api(venue: Venue, gw: UsdmGateway) -> None:
    out = gw.place("BUY", "0.099", "100", "GTX")
    assert (out["state"], out["refusal"], out["http_status"]) == ("NEW", None, 200), out
    cid, text = out["client_order_id"], out["client_order_text"]
    assert gw.query(cid)["state"] == "NEW"
    mod = gw.modify(cid, "0.0995", "120")
    assert (mod["state"], mod["refusal"]) == ("NEW", None), mod
    row = next(o for o in venue_orders(venue) if o["clientOrderId"] == text)
    assert (row["price"], row["origQty"], row["status"]) == ("0.09950", "120", "NEW")
    assert gw.cancel(cid)["state"] == "CANCELED"
    states = [e["state"] for e in gw.events(100, 0.5) if e["client_order_id"] == cid]
    assert states[0] == "NEW" and states[-1] == "CANCELED"
    # A post-only order that would take is refused with the venue's code.
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
            "price": "0.1",
        },
    )
    gtx = gw.place("BUY", "0.1", "60", "GTX")
    assert (gtx["state"], gtx["refusal"], gtx["code"]) == ("REJECTED", "venue", -5022), gtx
    ioc = gw.place("BUY", "0.1", "60", "IOC")
    assert (ioc["state"], ioc["cum_filled"]) == ("FILLED", "60"), ioc
    st = gw.status()
    ws = st["ws_api"]
    assert ws["connects"] == 1 and ws["logged_on"] and ws["up"], ws
    assert st["http"]["requests"] == 0, "no REST: the listenKey came from userDataStream.start"
    assert st["user_stream_up"]
    assert (st["orders_sent"], st["modifies_sent"], st["cancels_sent"], st["queries_sent"]) == (3, 1, 1, 1)
    rate = st["rate"]
    assert rate["used_weight_1m"] > 0 and rate["order_count_10s"] >= 3 and rate["order_count_1m"] >= 3, rate
    assert st["illegal_transitions"] == 0


def test_a_batch_goes_as_one_request_per_order(venue: Venue, gw: UsdmGateway) -> None:
    outs = gw.place_batch([("BUY", "0.098", "100", "GTX", False), ("BUY", "0.097", "1", "GTX", False)])
    assert [o["state"] for o in outs] == ["NEW", "REJECTED"], outs
    assert outs[1]["code"] == -4164
    st = gw.status()
    assert (st["batches_sent"], st["ws_api"]["requests"] >= 3) == (0, True), st


@pytest.mark.parametrize("fault", ["unknown_replies", "reset_replies", "stall_replies"])
def test_unknown_over_the_ws_api_is_resolved_never_resent(
    venue: Venue,
    gw: UsdmGateway,
    fault: str,
) -> None:
    faults = venue.running.venue.usdm_faults
    st = unknown_is_resolved_never_resent(gw, faults, fault, "GTX", lambda: venue_orders(venue))
    if fault == "reset_replies":
        assert st["ws_api"]["connects"] >= 2 or not st["ws_api"]["up"], st["ws_api"]
    if fault == "stall_replies":
        assert st["ws_api"]["timeouts"] == 1


def test_unknown_resolved_by_order_status_without_a_user_stream_and_hmac(
    venue: Venue,
    keypair: tuple[str, str],
    tmp_path: Path,
) -> None:
    cfg = ws_config(venue, keypair[0], tmp_path, user_ws=None)
    cfg.pop("ed25519_private_pem")
    cfg["hmac_secret"] = HMAC_SECRET
    g = UsdmGateway(cfg)
    try:
        g.set_reference("0.1")
        venue.running.venue.usdm_faults.unknown_replies = 1
        out = g.place("BUY", "0.099", "100", "GTX")
        assert out["state"] == "UNKNOWN", out
        cid = out["client_order_id"]
        wait_for(lambda: state(g, cid) == "NEW", "order.status to resolve it")
        assert g.order(cid)["queries"] >= 1
        venue.running.venue.usdm_faults.reset_replies = 1
        assert g.cancel(cid)["state"] == "UNKNOWN", "a cancel lost with its connection"
        wait_for(lambda: state(g, cid) == "CANCELED", "the cancel to resolve")
        assert len(venue_orders(venue)) == 1
        ws = g.status()["ws_api"]
        assert not ws["logged_on"] and ws["connects"] == 2, "HMAC: every request signed, no logon"
    finally:
        g.close()


def test_ws_transport_needs_its_url(venue: Venue, keypair: tuple[str, str], tmp_path: Path) -> None:
    cfg = config(venue, keypair[0], tmp_path, transport="ws")
    with pytest.raises(ValueError, match="ws_api"):
        UsdmGateway(cfg)
    with pytest.raises(ValueError, match="`rest` or `ws`"):
        UsdmGateway(dict(cfg, transport="fix"))
