"""The live ITCH/OUCH quoting engine end to end: ``pymm._native.ItchEngine`` takes the ITCH feed of
``pymm._native.ItchVenue`` over loopback multicast (with loss on the line, filled by re-request),
quotes two-sided on several levels through its OUCH session over SoupBinTCP, gets filled by the
crowd, survives a dropped OUCH connection (UNKNOWN, resolved by the barrier), and kills to zero open
orders; the position equals the venue's own view and no token arrives twice. The journal is on: it
passes ``pymm ledger verify`` and holds every kind of input in input order (#11)."""

from __future__ import annotations

import itertools
import json
import socket
import struct
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from pymm._native import ItchEngine, ItchVenue, Journal
from pymm.cli import app

# `SessionInput` sub-tags of the ITCH engine (`engine::itch_live::jtag`).
ITCH_MESSAGE, FEED_STATE, OUCH_MESSAGE, OUCH_LINK, DROP_LINK = 0x51, 0x52, 0x61, 0x62, 0x63

GROUP_A, GROUP_B = "239.1.23.1", "239.1.23.2"


def free_port(kind: int) -> int:
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _until(
    eng: ItchEngine, what: str, cond: Callable[[dict[str, Any]], bool], timeout_s: float = 60.0
) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while True:
        st = eng.status()
        if cond(st):
            return st
        assert eng.running, f"engine thread ended while waiting for {what}: {st}"
        assert time.monotonic() < deadline, f"timed out waiting for {what}: {st}"
        time.sleep(0.002)


def _sides(st: dict[str, Any]) -> tuple[set[str], set[str]]:
    bids = {q["price"] for q in st["quotes"] if q["side"] == "BUY"}
    asks = {q["price"] for q in st["quotes"] if q["side"] == "SELL"}
    return bids, asks


QUOTING = {
    "enabled": 1,
    "anchor": 2,  # mid
    "half_spread_mt": 1000,
    "levels": 3,
    "level_spacing_ticks": 1,
    "size_lots": 10,
    "max_inventory_lots": 1000,
    "requote_ticks": 1,
    "post_only": 1,
}


def engine_config(tmp_path: Path, feed: str, ouch_port: int, rr_port: int) -> dict[str, Any]:
    """The engine's config (journal in ``tmp_path / "journal"``)."""
    return {
        "feed": feed,
        "rerequest": f"127.0.0.1:{rr_port}",
        "locate": 1,
        "journal_dir": str(tmp_path / "journal"),
        "ouch": {
            "addr": f"127.0.0.1:{ouch_port}",
            "user": "PYMM",
            "password": "pymm",
            "symbol": "PYMM",
            "tick": "0.01",
            "client_id_file": str(tmp_path / "client_ids"),
            # Long enough that the UNKNOWN window after a drop is seen in the status.
            "reconnect_min_ms": 300,
            "risk": {
                "max_order_qty": "1000",
                "max_order_notional": "500000",
                "price_collar_bps": 500,
                "max_reference_age_ms": 600000,
                "max_long": "2000",
                "max_short": "2000",
                "max_position_notional": "1000000",
                "max_open_orders": 40,
            },
        },
    }


def venue_config(feed_port: int, ouch_port: int, rr_port: int) -> dict[str, Any]:
    """The simulated exchange's config: line A lossy, filled by re-request."""
    return {
        "itch_a": f"{GROUP_A}:{feed_port}",
        "itch_b": f"{GROUP_B}:9",
        "rerequest": f"127.0.0.1:{rr_port}",
        "ouch": f"127.0.0.1:{ouch_port}",
        "heartbeat_ms": 100,
        "interval_us": 500,
        "faults_a": {"seed": 5, "drop": 0.02},
    }


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[tuple[ItchEngine, ItchVenue, Path]]:
    ouch_port, rr_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    eng = ItchEngine(engine_config(tmp_path, f"{GROUP_A}:0", ouch_port, rr_port))
    venue = ItchVenue(venue_config(eng.feed_port, ouch_port, rr_port))
    venue.start()
    eng.start()
    yield eng, venue, tmp_path / "journal"
    eng.stop(10.0)
    venue.stop()


def test_quotes_fills_drop_and_kill(setup: tuple[ItchEngine, ItchVenue, Path]) -> None:
    eng, venue, journal = setup
    eng.push_params(QUOTING)
    st = _until(eng, "two-sided quotes on several levels", lambda s: all(len(x) >= 2 for x in _sides(s)))
    bids, asks = _sides(st)
    assert max(bids) < min(asks), st
    _until(eng, "fills", lambda s: s["ouch"]["executions"] >= 3)
    # Tick-to-trade: book changes that made the engine send, receive time → orders written.
    ttt = eng.status()["latency_ns"]["tick_to_trade"]
    assert ttt["count"] >= 1 and 0 < ttt["p50"] <= ttt["p99"] <= ttt["max"], ttt
    # The feed lost packets on line A; the re-request server filled the gaps.
    st = _until(eng, "a filled gap", lambda s: s["feed"]["gaps"] >= 1 and s["feed"]["rerequests"] >= 1)
    assert st["feed"]["book_errors"] == 0 and not st["feed_gave_up"]

    # A dropped OUCH connection: working orders become UNKNOWN, then the replay and the barrier
    # resolve them, and quoting resumes.
    st = _until(eng, "working orders", lambda s: s["phase"] == "ready" and s["open_orders"] >= 2)
    before = st["ouch"]
    eng.drop_link()
    st = _until(eng, "UNKNOWN after the drop", lambda s: s["unknown_orders"] >= 1)
    assert not st["link_up"] and st["phase"] == "connecting"
    st = _until(
        eng,
        "reconciled",
        lambda s: (
            s["phase"] == "ready"
            and s["unknown_orders"] == 0
            and s["ouch"]["barriers"] > before["barriers"]
            and s["ouch"]["logins"] > before["logins"]
        ),
    )
    assert st["ouch"]["unknown"] > before["unknown"]
    assert (
        st["ouch"]["resolved_live"] + st["ouch"]["resolved_never_live"]
        > before["resolved_live"] + before["resolved_never_live"]
    )
    _until(eng, "quoting again", lambda s: all(len(x) >= 2 for x in _sides(s)))

    # Kill: one Cancel per token; nothing stays open, here or at the venue.
    eng.kill()
    st = _until(
        eng, "killed with nothing open", lambda s: s["killed"] and s["open_orders"] == 0 and not s["quotes"]
    )
    deadline = time.monotonic() + 30
    while venue.user_view("PYMM")["open_orders"] != 0:
        assert time.monotonic() < deadline, venue.user_view("PYMM")
        time.sleep(0.01)
    view = venue.user_view("PYMM")
    # Nothing is open, so no fill can still be on its way: the positions must agree now.
    st = _until(eng, "the last fills applied", lambda s: s["position"] == view["position"], timeout_s=10)
    assert view["tokens_repeated"] == 0, view
    assert st["ouch"]["executions"] >= 3
    stats = venue.stats()
    assert stats["ouch_bad"] == 0 and stats["protocol_errors"] == 0
    # Lift: quoting resumes; an orderly stop cancels everything and logs out.
    eng.lift()
    _until(eng, "quoting after the lift", lambda s: not s["killed"] and all(len(x) >= 2 for x in _sides(s)))
    assert eng.stop(10.0)
    st = eng.status()
    assert st["finished"] and st["phase"] == "stopped" and st["open_orders"] == 0, st
    assert venue.user_view("PYMM")["open_orders"] == 0
    _check_journal(journal, st)


def _check_journal(journal: Path, st: dict[str, Any]) -> None:
    """The journal the run left: intact, every input kind, in input order."""
    assert st["journal"]["enabled"] and st["journal"]["halted"] is None, st["journal"]
    assert st["journal"]["dropped"] == 0
    r = CliRunner().invoke(app, ["ledger", "verify", str(journal), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["first_bad"] is None and report["last_seq"] == st["journal"]["seq"], report
    recs = Journal.read(journal)
    seqs = [x["seq"] for x in recs]
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), "seq not contiguous and increasing"
    tags: dict[int, list[dict[str, Any]]] = {}
    for x in recs:
        if x["kind"] == "session_input":
            tags.setdefault(x["payload"][0], []).append(x)
    kinds = {x["kind"] for x in recs}
    assert {"param_push", "operator_command", "session_input"} <= kinds, kinds
    # The requote timer is journalled only when it drives a decision (a quiet feed; this one ticks
    # every 500 µs, so there may be none): the requote timer's id.
    assert all(x["payload"][:4] == struct.pack("<I", 2) for x in recs if x["kind"] == "timer_tick")
    assert {ITCH_MESSAGE, FEED_STATE, OUCH_MESSAGE, OUCH_LINK, DROP_LINK} <= set(tags), set(tags)
    # ITCH messages in feed order: MoldUDP64 numbers strictly increasing, each message whole.
    mold = [struct.unpack_from("<Q", x["payload"], 8)[0] for x in tags[ITCH_MESSAGE]]
    assert all(a < b for a, b in itertools.pairwise(mold)), "ITCH messages out of feed order"
    assert all(len(x["payload"]) == 16 + x["payload"][1] for x in tags[ITCH_MESSAGE])
    assert len(mold) >= st["feed"]["applied"]
    # OUCH sequenced messages: stream numbers increase within each login (a replay after the drop
    # re-sends only what the session had not applied, so never a number twice).
    ouch = [struct.unpack_from("<Q", x["payload"], 8)[0] for x in tags[OUCH_MESSAGE]]
    assert len(ouch) == len(set(ouch)) == st["ouch"]["applied"], (len(ouch), st["ouch"])
    assert ouch == sorted(ouch)
    # The operator commands in the order given: kill, lift, stop (the drop is a session input).
    actions = [x["payload"][0] for x in recs if x["kind"] == "operator_command"]
    assert actions == [1, 2, 5], actions
    drop = tags[DROP_LINK][0]["seq"]
    kill = next(x["seq"] for x in recs if x["kind"] == "operator_command")
    assert drop < kill
    # Link records: connects, disconnects, logins as the status counts them at the end.
    last = struct.unpack_from("<3Q", tags[OUCH_LINK][-1]["payload"], 8)
    assert last == (st["ouch"]["connects"], st["ouch"]["disconnects"], st["ouch"]["logins"])


def test_line_b_covers_line_a_loss(tmp_path: Path) -> None:
    """A/B arbitration: both lines lose and reorder packets independently; the engine takes each
    message from whichever line brings it first, parks what runs ahead of a hole, and re-requests
    only what both lines lost. The book stays intact (a lost add would make a later delete an
    integrity error) and the engine quotes."""
    ouch_port, rr_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    cfg = engine_config(tmp_path, f"{GROUP_A}:0", ouch_port, rr_port)
    cfg["feed_b"] = f"{GROUP_B}:0"
    eng = ItchEngine(cfg)
    b_port = eng.feed_b_port
    assert b_port is not None
    vcfg = venue_config(eng.feed_port, ouch_port, rr_port)
    vcfg["itch_b"] = f"{GROUP_B}:{b_port}"
    vcfg["faults_a"] = {"seed": 11, "drop": 0.05, "reorder": 0.02}
    vcfg["faults_b"] = {"seed": 12, "drop": 0.05, "reorder": 0.02}
    venue = ItchVenue(vcfg)
    venue.start()
    eng.start()
    try:
        eng.push_params(QUOTING)
        _until(eng, "two-sided quotes on several levels", lambda s: all(len(x) >= 2 for x in _sides(s)))
        deadline = time.monotonic() + 60
        while venue.stats()["line_a"]["dropped"] < 40:
            assert time.monotonic() < deadline, venue.stats()
            time.sleep(0.05)
        lines = venue.stats()
        st = _until(eng, "a current book", lambda s: not s["stale"])
        feed = st["feed"]
        keys = ("won_a", "won_b", "won_rerequest", "gaps", "rerequests", "reordered", "duplicates")
        print({k: feed[k] for k in keys}, lines["line_a"], lines["line_b"])
        assert feed["book_errors"] == 0 and not st["feed_gave_up"], st
        assert feed["won_b"] > 0 and feed["duplicates"] > 0, feed
        # Line B filled most of line A's holes: far fewer re-requests than A's losses (both lines
        # lose the same packet about 5% of the time).
        assert feed["rerequests"] < lines["line_a"]["dropped"] // 2, (feed, lines["line_a"])
        _until(eng, "quoting", lambda s: all(len(x) >= 2 for x in _sides(s)))
    finally:
        eng.stop(10.0)
        venue.stop()
