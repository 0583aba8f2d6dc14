"""The live OUCH session from Python: ``pymm._native.OuchSession`` logs in to ``pymm._native.ItchVenue``
over SoupBinTCP, enters, replaces and cancels orders, reconciles after a dropped connection and kills
(the fault tests are in ``native/tests/ouch_session.rs``)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from pymm._native import ItchVenue, OuchSession


@pytest.fixture
def venue() -> Iterator[ItchVenue]:
    v = ItchVenue({"flow": False, "rerequest": "127.0.0.1:0", "ouch": "127.0.0.1:0", "heartbeat_ms": 200})
    v.start()
    yield v
    v.stop()


def _session(venue: ItchVenue, tmp_path: Path, **extra: Any) -> OuchSession:
    cfg: dict[str, Any] = {
        "addr": venue.endpoints()["ouch"],
        "user": "PYMM",
        "password": "pymm",
        "symbol": "PYMM",
        "tick": "0.01",
        "client_id_file": str(tmp_path / "client_ids"),
        "reconnect_min_ms": 20,
        "risk": {
            "max_order_qty": "1000",
            "max_order_notional": "200000",
            "price_collar_bps": 500,
            "max_reference_age_ms": 600000,
            "max_long": "1000",
            "max_short": "1000",
            "max_position_notional": "500000",
            "max_open_orders": 20,
        },
    }
    cfg.update(extra)
    s = OuchSession(cfg)
    s.set_reference("99.00")
    return s


def _until(s: OuchSession, what: str, cond: Callable[[], bool], timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {s.status()}"
        s.poll(0.005)


def _state(s: OuchSession, token: int) -> str | None:
    o = s.order(token)
    return None if o is None else str(o["state"])


def test_enter_replace_cancel_reconcile_and_kill(venue: ItchVenue, tmp_path: Path) -> None:
    s = _session(venue, tmp_path)
    assert s.enter("BUY", "99.00", 100)["refused"] == "not_ready", "nothing before login + barrier"
    _until(s, "ready", lambda: s.status()["phase"] == "ready")
    out = s.enter("BUY", "99.00", 300)
    assert out["refused"] is None
    a = int(out["token"])
    _until(s, "accepted", lambda: _state(s, a) == "NEW")
    assert s.enter("BUY", "99.00", 800)["refused"] == "max_long", "risk counts the working 300"
    b = int(s.replace(a, "99.01", 200)["token"])
    _until(s, "replaced", lambda: _state(s, a) is None and _state(s, b) == "NEW")
    assert s.order(b) == {
        "token": b,
        "side": "BUY",
        "price": "99.01",
        "qty": 200,
        "filled": 0,
        "leaves": 200,
        "state": "NEW",
        "venue_ref": s.order(b)["venue_ref"],  # type: ignore[index]
        "foreign": False,
    }
    # A reset: the order is UNKNOWN (still reserved) until the replay and the barrier resolve it.
    s.disconnect()
    st = s.status()
    assert (_state(s, b), st["phase"], st["reserved_orders"]) == ("UNKNOWN", "connecting", 1)
    _until(s, "reconciled", lambda: s.status()["phase"] == "ready")
    assert _state(s, b) == "NEW"
    assert s.status()["counters"]["barriers"] == 2
    # Kill: one Cancel per token, entry denied.
    assert s.kill() == 1
    _until(s, "kill done", lambda: s.status()["open_orders"] == 0)
    assert s.status()["phase"] == "killed"
    assert s.enter("SELL", "99.50", 10)["refused"] == "killed"
    s.stop()
    _until(s, "stopped", lambda: s.status()["phase"] == "stopped")
    stats = venue.stats()
    assert stats["ouch_ignored"] == 0 and stats["protocol_errors"] == 0
    assert stats["ouch_accepted"] == 2 and stats["ouch_canceled"] == 1


def test_wrong_password_fails_once_and_does_not_retry(venue: ItchVenue, tmp_path: Path) -> None:
    s = _session(venue, tmp_path, password="nope")
    _until(s, "failed", lambda: s.status()["phase"] == "failed")
    s.poll(0.3)
    st = s.status()
    assert st["failure"] == "login_not_authorized"
    assert st["counters"]["connects"] == 1
    assert venue.stats()["login_rejects"] == 1
