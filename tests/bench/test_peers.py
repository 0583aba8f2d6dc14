"""The peer book comparison (`pymm bench book --peers`): the ratio/report code, and the harness on a slice."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

from pymm.cli import _bench_peers

REPO = Path(__file__).resolve().parents[2]


def _rows(pymm: float, **peers: float) -> dict[str, dict]:
    rows = {
        "pymm_feed": {
            "ns_per_update": pymm,
            "ns_per_message": pymm * 60,
            "per_message_ns": {"p50": 1, "p99": 2},
        }
    }
    for name, ns in peers.items():
        rows[name] = {"ns_per_update": ns, "ns_per_message": ns * 60}
    return rows


def test_ratios_are_peer_over_pymm():
    rows = _rows(80.0, nautilus_apply=240.0, nautilus_parse_apply=8000.0, hftbacktest_roivec=40.0)
    assert _bench_peers.peer_ratios(rows) == {
        "nautilus_apply": 3.0,
        "nautilus_parse_apply": 100.0,
        "hftbacktest_roivec": 0.5,
    }


def test_ratios_use_the_paired_pymm_row():
    rows = _rows(80.0, nautilus_apply=240.0, hftbacktest_roivec=40.0)
    rows["pymm_set_levels_all"] = {"ns_per_update": 10.0, "ns_per_message": 600.0}
    rows["hftbacktest_roivec"]["compare_to"] = "pymm_set_levels_all"
    rows["nautilus_apply"]["compare_to"] = "pymm_missing_row"  # not measured: no ratio
    assert _bench_peers.peer_ratios(rows) == {"hftbacktest_roivec": 4.0}


def test_targets_use_each_peers_fastest_row():
    ratios = {
        "nautilus_apply": 3.0,
        "nautilus_parse_apply": 100.0,
        "hftbacktest_roivec": 0.5,
        "hftbacktest_hashmap": 2,
    }
    v = _bench_peers.target_verdicts(ratios)
    assert v["nautilus_trader"] == {"row": "nautilus_apply", "ratio": 3.0, "target": 3.0, "met": True}
    assert v["hftbacktest"]["row"] == "hftbacktest_roivec"
    assert v["hftbacktest"]["met"] is False


def test_targets_skip_a_peer_that_was_not_run():
    assert _bench_peers.target_verdicts({"nautilus_apply": 4.0}).keys() == {"nautilus_trader"}


def test_format_peers_prints_rows_ratios_and_verdicts():
    rows = _rows(80.0, nautilus_apply=160.0)
    ratios = _bench_peers.peer_ratios(rows)
    report = {
        "stream": "s.gz",
        "timed_diffs": 10,
        "level_updates": 600,
        "passes": 3,
        "load_average": [2.5, 2.0, 1.0],
        "rows": rows,
        "ratios": ratios,
        "targets": _bench_peers.target_verdicts(ratios),
        "skipped": {"hftbacktest": "not installed"},
        "versions": {"nautilus_trader": "1.221.0", "hftbacktest": None},
        "books_agree": True,
    }
    text = _bench_peers.format_peers(report)
    assert "2.00x" in text
    assert "target >= 3.0x nautilus_trader: NOT met (2.00x vs nautilus_apply)" in text
    assert "hftbacktest: skipped, not installed" in text
    assert "load average 2.50" in text


MISSING = ", ".join(_bench_peers.missing_peers())


@pytest.mark.skipif(bool(MISSING), reason=f"bench extra not installed ({MISSING}): pip install -e '.[bench]'")
def test_peer_books_agree_on_a_slice(data_dir, monkeypatch):
    monkeypatch.setenv("PYMM_DATA_DIR", str(data_dir))
    spec = importlib.util.spec_from_file_location("book_python", REPO / "bench" / "peers" / "book_python.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["book_python"] = mod
    spec.loader.exec_module(mod)
    report = mod.run(passes=1, limit=2000)  # raises BooksDisagreeError if any book ends elsewhere
    assert report["books_agree"] is True
    assert report["timed_diffs"] > 0
    assert set(report["rows"]) == {
        "pymm_feed",
        "pymm_set_levels_msg",
        "pymm_set_levels_all",
        "nautilus_apply",
        "nautilus_parse_apply",
        "hftbacktest_roivec",
        "hftbacktest_hashmap",
    }
    assert all(r["ns_per_update"] > 0 for r in report["rows"].values())


def test_harness_detects_a_disagreeing_book():
    spec = importlib.util.spec_from_file_location(
        "book_python_t", REPO / "bench" / "peers" / "book_python.py"
    )
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules["book_python_t"] = mod
    spec.loader.exec_module(mod)
    from decimal import Decimal

    want = mod.Top((Decimal("1.0"), Decimal("2")), (Decimal("1.1"), Decimal("3")))
    mod.check_agrees("same", mod.Top((Decimal("1"), Decimal("2.000")), (Decimal("1.10"), Decimal("3"))), want)
    with pytest.raises(mod.BooksDisagreeError):
        mod.check_agrees("peer", mod.Top((Decimal("1.0"), Decimal("2.001")), want.ask), want)


def test_cli_peers_without_the_extra_says_what_to_install(monkeypatch):
    from typer.testing import CliRunner

    from pymm.cli import app

    monkeypatch.setattr(_bench_peers, "missing_peers", lambda: ["hftbacktest"])
    r = CliRunner().invoke(app, ["bench", "book", "--peers"])
    assert r.exit_code == 2
    assert "hftbacktest" in r.output
    assert "pip install -e '.[bench]'" in r.output
