"""Our DBN decoder agrees record by record with `databento-dbn`; ESH4 replays to the oracle."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymm import _native

databento_dbn = pytest.importorskip("databento_dbn")
zstandard = pytest.importorskip("zstandard")

ESH4 = "databento_glbx_mbo_esh4_2023-12-25/esh4-glbx-mdp3-20231225.mbo.dbn.zst"
FIELDS = (
    "ts_recv",
    "ts_event",
    "publisher_id",
    "instrument_id",
    "price",
    "size",
    "channel_id",
    "order_id",
    "flags",
    "ts_in_delta",
    "sequence",
)


def _reference_records(path: Path) -> list:
    raw = path.read_bytes()
    if raw[:4] == b"\x28\xb5\x2f\xfd":
        raw = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True).read()
    dec = databento_dbn.DBNDecoder(has_metadata=True)
    dec.write(raw)
    return [r for r in dec.decode() if isinstance(r, databento_dbn.MBOMsg)]


def _compare(path: Path) -> int:
    ours = _native.dbn_records(path)
    ref = _reference_records(path)
    assert len(ours["order_id"]) == len(ref)
    for i, r in enumerate(ref):
        for f in FIELDS:
            assert int(ours[f][i]) == int(getattr(r, f)), (i, f)
        assert int(ours["rtype"][i]) == int(r.rtype)
        assert ours["action"][i] == str(r.action), i
        assert ours["side"][i] == str(r.side), i
    return len(ref)


@pytest.mark.parametrize(
    "name",
    [
        "test_data.mbo.v1.dbn.zst",
        "test_data.mbo.v2.dbn.zst",
        "test_data.mbo.v3.dbn.zst",
        "test_data.mbo.v3.dbn",
    ],
)
def test_format_fixtures_agree_with_databento_dbn(data_dir: Path, name: str) -> None:
    assert _compare(data_dir / "databento_dbn_format_fixtures" / name) == 2


def test_esh4_agrees_record_by_record(data_dir: Path) -> None:
    assert _compare(data_dir / ESH4) == 68_792


def test_esh4_replay_ends_in_the_oracle_state(data_dir: Path) -> None:
    rep = _native.replay_dbn(data_dir / ESH4)
    assert rep["integrity_errors"] == 0
    assert rep["resting_orders"] == 11_217
    top = rep["top_of_book"]["17077"]
    assert (top["bid_price"], top["ask_price"]) == ("4810.00", "4810.25")
    assert rep["crossed_in_auction"] == 891
