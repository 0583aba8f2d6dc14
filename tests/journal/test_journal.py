"""The journal binding: open, append, close, read back, verify, recover a torn tail."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from pymm._native import Journal
from pymm.errors import JournalError, PymmError


def _fill(path: Path, n: int, **opts: object) -> dict[str, int]:
    with Journal.open(path, **opts) as j:  # type: ignore[arg-type]
        for i in range(n):
            seq = j.append_book_delta(
                instrument=3,
                side="BUY" if i % 2 else "SELL",
                price=1000 + i,
                qty=i,
                sequence=i,
                ts_event=10 * i,
                ts_recv=10 * i + 1,
            )
            assert seq == i + 1
        return j.close()


def _segments(path: Path) -> list[Path]:
    return sorted(path.glob("journal-*.seg"))


def test_round_trip_all_kinds(tmp_path):
    with Journal.open(tmp_path, fsync="always", segment_bytes=1024) as j:
        assert j.recovery["next_seq"] == 1 and j.recovery["cut"] is None
        j.append_book_delta(instrument=1, side="BUY", price=-5, qty=7, sequence=1, ts_event=100, ts_recv=101)
        j.append_order_event(
            instrument=2,
            action="replace",
            order=10,
            new_ref=11,
            side="SELL",
            price=3,
            qty=4,
            sequence=2,
            ts_event=102,
            ts_recv=103,
        )
        j.append_trade(instrument=1, price=9, qty=1, trade_id=42, ts_event=104, ts_recv=105)
        j.append("operator_command", b"kill", ts_recv=106)
        assert j.next_seq == 5
    recs = Journal.read(tmp_path)
    assert [r["kind"] for r in recs] == ["book_delta", "order_event", "trade", "operator_command"]
    assert [r["seq"] for r in recs] == [1, 2, 3, 4]
    assert recs[0].items() >= {"side": "BUY", "price": -5, "qty": 7, "ts_event": 100, "ts_recv": 101}.items()
    assert recs[1]["action"] == "replace" and recs[1]["new_ref"] == 11
    assert recs[2]["aggressor"] is None and recs[2]["trade_id"] == 42
    assert recs[3]["payload"] == b"kill" and recs[3]["ts_event"] == 106
    report = Journal.verify(tmp_path)
    assert report["intact"] and report["records"] == 4 and report["last_seq"] == 4
    assert report["head_hash"] == recs[-1]["chain"]


def test_close_writes_and_syncs_everything(tmp_path):
    stats = _fill(tmp_path, 500, fsync="never", segment_bytes=4096)
    assert stats["appended"] == stats["written"] == 500
    assert stats["durable_seq"] == 500
    assert stats["dropped_full"] == 0
    assert len(_segments(tmp_path)) == stats["segments_created"] > 1


def test_reopen_continues(tmp_path):
    _fill(tmp_path, 10)
    head = Journal.verify(tmp_path)["head_hash"]
    with Journal.open(tmp_path) as j:
        assert j.recovery["next_seq"] == 11
        assert j.recovery["head_hash"] == head
        assert j.append("timer_tick", b"", ts_recv=1) == 11
    assert Journal.verify(tmp_path)["records"] == 11


def test_torn_tail_is_reported_then_cut_on_open(tmp_path):
    _fill(tmp_path, 20, segment_bytes=100_000)
    seg = _segments(tmp_path)[-1]
    os.truncate(seg, seg.stat().st_size - 5)
    bad = Journal.verify(tmp_path)["first_bad"]
    assert bad["seq"] == 20 and bad["torn_tail"] and "truncated" in bad["reason"]
    with Journal.open(tmp_path) as j:
        cut = j.recovery["cut"]
        assert cut["seq"] == 20 and cut["bytes"] == 84 - 5 and not cut["removed_segment"]
        assert j.next_seq == 20
    assert Journal.verify(tmp_path)["intact"]


def test_corruption_is_never_skipped(tmp_path):
    _fill(tmp_path, 20, segment_bytes=100_000)
    seg = _segments(tmp_path)[-1]
    data = bytearray(seg.read_bytes())
    data[92 + 84 * 4 + 40] ^= 0xFF  # inside record seq 5's payload
    seg.write_bytes(bytes(data))
    bad = Journal.verify(tmp_path)["first_bad"]
    assert (bad["seq"], bad["offset"], bad["torn_tail"]) == (5, 92 + 84 * 4, False)
    assert "crc32c mismatch" in bad["reason"]
    with pytest.raises(JournalError, match=r"offset 428 \(seq 5\)"):
        Journal.read(tmp_path)
    with pytest.raises(JournalError, match="corrupt"):
        Journal.open(tmp_path)


def test_bad_arguments_raise_journal_error(tmp_path):
    assert issubclass(JournalError, PymmError)
    with pytest.raises(JournalError, match="fsync policy"):
        Journal.open(tmp_path, fsync="sometimes")
    with pytest.raises(JournalError, match="segment_bytes"):
        Journal.open(tmp_path, segment_bytes=1)
    with Journal.open(tmp_path) as j:
        with pytest.raises(JournalError, match="side"):
            j.append_trade(instrument=1, price=1, qty=1, trade_id=1, ts_event=1, ts_recv=1, aggressor="UP")
        with pytest.raises(JournalError, match="raw bytes"):
            j.append("trade", b"", ts_recv=1)
        with pytest.raises(JournalError, match="unknown record kind"):
            j.append("bogus", b"", ts_recv=1)
        with pytest.raises(JournalError, match="exceeds"):
            j.append("fill", bytes(97), ts_recv=1)
        j.close()
        with pytest.raises(JournalError, match="closed"):
            j.append("fill", b"", ts_recv=1)
    with pytest.raises(JournalError):
        Journal.verify(tmp_path / "missing")
