"""``pymm journal inspect``, ``pymm replay --journal``, ``pymm ledger export --parquet`` and the
verify checks (flipped byte, truncated tail) over a journal of every record kind."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from typer.testing import CliRunner

from pymm._native import Journal
from pymm.cli import app
from pymm.cli.journal import parse_at

runner = CliRunner()


@pytest.fixture
def journal(tmp_path: Path) -> Path:
    path = tmp_path / "j"
    with Journal.open(path, segment_bytes=16 << 10) as j:
        assert j.append_synthetic(42, 3000) == 3000
    return path


def test_inspect_at_seq_text_and_json(journal: Path) -> None:
    r = runner.invoke(app, ["journal", "inspect", str(journal), "--at", "1500"])
    assert r.exit_code == 0, r.output
    assert f"journal {journal} at seq 1500" in r.output
    assert "kill " in r.output and "params   version" in r.output and "instrument 0" in r.output
    r = runner.invoke(app, ["journal", "inspect", str(journal), "--at", "1500", "--json"])
    assert r.exit_code == 0, r.output
    rep = json.loads(r.output)
    assert rep["last_seq"] == 1500 and rep["state"]["last_seq"] == 1500 and rep["stopped"] == "seq"
    s = rep["state"]
    assert sum(s["counts"].values()) == 1500
    assert s["client_id_hwm"] == max(int(c) for c in s["orders"])
    full = json.loads(runner.invoke(app, ["journal", "inspect", str(journal), "--json"]).output)
    assert full["last_seq"] == 3000 and full["digest"] != rep["digest"]


def test_inspect_at_time_stops_before_later_records(journal: Path) -> None:
    recs = Journal.read(journal, limit=700)
    ts = recs[699]["ts_recv"]
    assert parse_at(str(ts)) == (None, ts)
    rep = json.loads(
        runner.invoke(app, ["journal", "inspect", str(journal), "--at", str(ts), "--json"]).output
    )
    assert (rep["last_seq"], rep["stopped"]) == (700, "time")


def test_replay_journal_is_deterministic_and_checks_a_digest(journal: Path) -> None:
    r = runner.invoke(app, ["replay", "--journal", str(journal), "--runs", "3", "--json"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert len({run["digest"] for run in out["runs"]}) == 1 and out["mismatched_runs"] == []
    digest = out["digest"]
    r = runner.invoke(app, ["replay", "--journal", str(journal), "--expect-digest", digest])
    assert r.exit_code == 0 and "MISMATCH" not in r.output
    r = runner.invoke(app, ["replay", "--journal", str(journal), "--expect-digest", "00" * 32])
    assert r.exit_code == 1 and "MISMATCH" in r.output


def test_snapshot_replay_matches_and_a_corrupt_snapshot_is_skipped(journal: Path) -> None:
    full = Journal.replay(journal)
    written = Journal.replay(journal, snapshot_every=1000)
    assert written["snapshots_written"] == 3 and written["digest"] == full["digest"]
    snap = Journal.replay(journal, use_snapshots=True, at_seq=2500)
    assert snap["snapshot"] == 2000 and snap["applied"] == 500
    assert snap["digest"] == Journal.replay(journal, at_seq=2500)["digest"]
    newest = sorted(journal.glob("snapshot-*.snap"))[-1]
    data = bytearray(newest.read_bytes())
    data[200] ^= 1
    newest.write_bytes(bytes(data))
    r = runner.invoke(app, ["replay", "--journal", str(journal), "--snapshots"])
    assert r.exit_code == 0, r.output
    assert "from snapshot 2000" in r.output
    insp = runner.invoke(app, ["journal", "inspect", str(journal)])
    assert "skipped snapshot 3000: snapshot" in insp.output and "checksum mismatch" in insp.output


def test_export_parquet(journal: Path, tmp_path: Path) -> None:
    out = tmp_path / "pq"
    r = runner.invoke(app, ["ledger", "export", str(journal), "--parquet", str(out)])
    assert r.exit_code == 0, r.output
    state = json.loads(Journal.replay(journal)["state_json"])
    ft = pq.read_table(out / "fills.parquet")
    assert str(ft.schema.field("ts_recv").type) == "timestamp[ns, tz=UTC]"
    fills = ft.drop_columns(["ts_recv", "ts_event"]).to_pylist()
    assert len(fills) == state["counts"]["fill"]
    # The fills add up to the ledger state's position.
    pos = sum(f["qty"] if f["side"] == "BUY" else -f["qty"] for f in fills)
    assert pos == sum(int(i["position"]["qty"]) for i in state["instruments"].values())
    orders = pq.read_table(out / "orders.parquet")
    assert orders.num_rows == state["counts"]["order_ack"] + state["counts"]["reject"]
    assert set(orders.column("kind").to_pylist()) == {"order_ack", "reject"}
    params = pq.read_table(out / "params.parquet").drop_columns(["ts_recv"]).to_pylist()
    assert len(params) == state["params"]["pushes"]
    assert (
        params[-1]["version"] == state["params"]["version"]
        and params[-1]["words"] == state["params"]["words"]
    )


def test_export_refuses_a_corrupt_journal(journal: Path, tmp_path: Path) -> None:
    seg = sorted(journal.glob("journal-*.seg"))[0]
    data = bytearray(seg.read_bytes())
    data[500] ^= 0x10
    seg.write_bytes(bytes(data))
    r = runner.invoke(app, ["ledger", "export", str(journal), "--parquet", str(tmp_path / "pq")])
    assert r.exit_code == 2
    r = runner.invoke(app, ["journal", "inspect", str(journal)])
    assert r.exit_code == 2


def test_verify_detects_truncated_tail_and_any_flipped_byte(tmp_path: Path) -> None:
    path = tmp_path / "small"
    with Journal.open(path, segment_bytes=1024) as j:
        j.append_synthetic(5, 30)
    segs = sorted(path.glob("journal-*.seg"))
    assert len(segs) > 1
    # Every single flipped byte of every segment is caught.
    for seg in segs:
        orig = seg.read_bytes()
        for i in range(len(orig)):
            data = bytearray(orig)
            data[i] ^= 0x01
            seg.write_bytes(bytes(data))
            assert not Journal.verify(path)["intact"], (seg.name, i)
        seg.write_bytes(orig)
    assert Journal.verify(path)["intact"]
    # A truncated tail is reported by the CLI (exit 1) as a torn tail.
    last = segs[-1]
    os.truncate(last, last.stat().st_size - 3)
    r = runner.invoke(app, ["ledger", "verify", str(path)])
    assert r.exit_code == 1 and "torn tail" in r.output
