import json

from typer.testing import CliRunner

from pymm._native import Journal
from pymm.cli import app

runner = CliRunner()


def _journal(path, n=12):
    with Journal.open(path, segment_bytes=600) as j:
        for i in range(n):
            j.append("timer_tick", i.to_bytes(4, "little"), ts_recv=i)


def test_verify_intact_exits_zero(tmp_path):
    _journal(tmp_path)
    r = runner.invoke(app, ["ledger", "verify", str(tmp_path)])
    assert r.exit_code == 0, r.output
    assert "intact" in r.output
    assert "records    12 (seq 1..12)" in r.output


def test_verify_json(tmp_path):
    _journal(tmp_path)
    r = runner.invoke(app, ["ledger", "verify", str(tmp_path), "--json"])
    assert r.exit_code == 0, r.output
    report = json.loads(r.output)
    assert report["intact"] is True
    assert report["last_seq"] == 12
    assert len(report["head_hash"]) == 32


def test_verify_reports_first_bad_record_and_exits_one(tmp_path):
    _journal(tmp_path)
    seg = sorted(tmp_path.glob("journal-*.seg"))[0]
    data = bytearray(seg.read_bytes())
    data[92 + 60 + 50] ^= 1  # the second record's chain hash (records are 56 bytes)
    seg.write_bytes(bytes(data))
    r = runner.invoke(app, ["ledger", "verify", str(tmp_path)])
    assert r.exit_code == 1, r.output
    assert "BAD RECORD" in r.output
    assert f"seq 2 in {seg.name} at offset 148: chain hash mismatch" in r.output
    r = runner.invoke(app, ["ledger", "verify", str(tmp_path), "--json"])
    assert r.exit_code == 1
    bad = json.loads(r.output)["first_bad"]
    assert (bad["seq"], bad["offset"], bad["torn_tail"]) == (2, 148, False)
    assert bad["segment"].endswith(seg.name)


def test_verify_missing_directory_is_an_error(tmp_path):
    r = runner.invoke(app, ["ledger", "verify", str(tmp_path / "nope")])
    assert r.exit_code != 0
    assert "nope" in str(r.exception)
