"""An engine journal is a journal (#11): a real engine run against the simulated venue writes the
journal's typed records; the session core replays it to the digest the live engine reported (twice,
with identical output bytes); the ledger, ``pymm journal inspect`` and ``pymm ledger export
--parquet`` read it; and an engine restarted with ``recover`` rebuilds its state from it, keeps the
client-id high-water mark and the kill latch, reconciles, and only then quotes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pymm._native import Engine, Journal, replay_engine_journal
from pymm.cli import app
from tests.test_engine_session import (
    QUOTING,
    all_orders,
    engine_config,
    keypair,  # noqa: F401  (fixture)
    open_orders,
    quoting_both_sides,
    venue,  # noqa: F401  (fixture)
    wait_for,
)
from tests.venues._harness import Venue

runner = CliRunner()


def _run(cfg: dict[str, Any], until_fills: int, sim: Venue) -> dict[str, Any]:
    engine = Engine(cfg)
    engine.push_params(QUOTING)
    engine.start()
    try:
        wait_for(lambda: quoting_both_sides(sim, 2), 15, "two-sided quotes")
        wait_for(lambda: engine.status()["orders"]["fills"] >= until_fills, 30, "fills")
    finally:
        assert engine.stop(5.0)
    return engine.status()


def test_engine_journal_replays_to_the_live_digest_and_decodes(venue: Venue, keypair, tmp_path: Path) -> None:  # noqa: F811
    jdir = tmp_path / "journal"
    # The writer naps 10 µs instead of 100 (journal_idle_sleep_us; 0 spins: a writer with its own core).
    cfg = engine_config(venue, keypair[0], tmp_path, journal_dir=str(jdir), journal_idle_sleep_us=10)
    st = _run(cfg, 2, venue)
    live = st["journal"]
    assert live["seq"] > 0 and st["counters"]["journal_dropped"] == 0
    a = replay_engine_journal(cfg, str(jdir))
    b = replay_engine_journal(cfg, str(jdir))
    assert (a["seq"], a["digest"]) == (live["seq"], live["digest"])
    assert a == {**b, "elapsed_ns": a["elapsed_ns"]}, "two replays differ"
    assert a["frames"] > 0
    # Replays to a prefix agree with each other too.
    mid = a["seq"] // 2
    half = [replay_engine_journal(cfg, str(jdir), mid)["digest"] for _ in range(2)]
    assert half[0] == half[1]
    # The ledger reads every record: orders, fills and parameters of the engine.
    state = json.loads(Journal.replay(jdir)["state_json"])
    assert state["counts"]["fill"] >= 2 and state["counts"]["order_ack"] > 0
    assert state["counts"]["session_input"] > 0 and state["counts"]["param_push"] >= 2
    assert len(state["params"]["words"]) == 12
    venue_ids = {o["clientOrderId"] for o in all_orders(venue) if o["clientOrderId"].startswith("pm")}
    assert {f"pm{i}" for i in state["orders"]} >= venue_ids - {None}
    r = runner.invoke(app, ["journal", "inspect", str(jdir)])
    assert r.exit_code == 0, r.output
    out = tmp_path / "pq"
    r = runner.invoke(app, ["ledger", "export", str(jdir), "--parquet", str(out)])
    assert r.exit_code == 0, r.output
    fills = pq.read_table(out / "fills.parquet").drop_columns(["ts_recv", "ts_event"]).to_pylist()
    assert len(fills) == state["counts"]["fill"]
    assert sum(f["qty"] if f["side"] == "BUY" else -f["qty"] for f in fills) == int(st["position_lots"])


def test_recover_restores_state_reconciles_then_quotes(venue: Venue, keypair, tmp_path: Path) -> None:  # noqa: F811
    jdir = tmp_path / "journal"
    cfg = engine_config(venue, keypair[0], tmp_path, journal_dir=str(jdir))
    first = _run(cfg, 1, venue)
    prefix = replay_engine_journal(cfg, str(jdir))
    engine = Engine({**cfg, "recover": True})
    engine.push_params(QUOTING)
    engine.start()
    try:
        wait_for(lambda: engine.status()["recovery"] is not None, 10, "recovery")
        rec = engine.status()["recovery"]
        assert rec["error"] is None, rec
        assert (rec["seq"], rec["digest"]) == (prefix["seq"], prefix["digest"])
        assert rec["seq"] == first["journal"]["seq"]
        assert not rec["killed"]
        wait_for(lambda: quoting_both_sides(venue, 2), 15, "quotes after recovery")
        assert engine.status()["counters"]["reconciles"] >= 1
    finally:
        assert engine.stop(5.0)
    ids = [o["clientOrderId"] for o in all_orders(venue) if o["clientOrderId"].startswith("pm")]
    assert len(ids) == len(set(ids)), "a client order id was sent twice"
    assert not [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")]
    # The whole journal (both runs) replays to the digest the second run reported.
    st = engine.status()["journal"]
    full = replay_engine_journal(cfg, str(jdir))
    assert (full["seq"], full["digest"]) == (st["seq"], st["digest"])


def test_recover_keeps_the_kill_latch(venue: Venue, keypair, tmp_path: Path) -> None:  # noqa: F811
    jdir = tmp_path / "journal"
    cfg = engine_config(venue, keypair[0], tmp_path, journal_dir=str(jdir))
    engine = Engine(cfg)
    engine.push_params(QUOTING)
    engine.start()
    try:
        wait_for(lambda: quoting_both_sides(venue, 2), 15, "two-sided quotes")
        assert engine.kill("latched before restart", timeout_s=2.0)
    finally:
        assert engine.stop(5.0)
    engine = Engine({**cfg, "recover": True})
    engine.push_params(QUOTING)
    engine.start()
    try:
        wait_for(lambda: engine.status()["recovery"] is not None, 10, "recovery")
        assert engine.status()["recovery"]["killed"]
        wait_for(lambda: engine.status()["order_session"], 10, "order session")
        st = engine.status()
        assert st["state"] == "killed", st
        assert not [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")]
    finally:
        engine.stop(5.0)


pytestmark = pytest.mark.filterwarnings("ignore::pytest.PytestUnraisableExceptionWarning")


def _journal_thread_cores() -> list[str]:
    """``Cpus_allowed_list`` of every journal writer thread of this process."""
    out = []
    for t in Path("/proc/self/task").iterdir():
        try:
            if (t / "comm").read_text().strip() != "pymm-journal":
                continue
            status = (t / "status").read_text()
        except OSError:
            continue  # the thread ended meanwhile
        out += [
            line.split(":", 1)[1].strip()
            for line in status.splitlines()
            if line.startswith("Cpus_allowed_list:")
        ]
    return out


def test_journal_core_pins_the_writer_and_a_bad_core_is_refused(
    venue: Venue,  # noqa: F811
    keypair,  # noqa: F811
    tmp_path: Path,
) -> None:
    """``journal_core`` (what ``pymm start --cores A,B`` sets to B): the writer thread runs on that core
    only, and the status says so; a core the kernel refuses names the field."""
    jdir = tmp_path / "journal"
    engine = Engine(engine_config(venue, keypair[0], tmp_path, journal_dir=str(jdir), journal_core=1))
    try:
        assert engine.status()["journal"]["writer_core"] == 1
        assert "1" in _journal_thread_cores()
    finally:
        del engine
    bad = engine_config(venue, keypair[0], tmp_path, journal_dir=str(tmp_path / "j2"), journal_core=100_000)
    with pytest.raises(ValueError, match=r"journal_core: .*core 100000"):
        Engine(bad)
