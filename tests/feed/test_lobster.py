"""LOBSTER AMZN level 5: the L3 book equals the order-book file after every message, directly and via ITCH."""

from __future__ import annotations

from pathlib import Path

from pymm import _native

DIR = "lobster_2012-06-21_amzn_aapl"
ROWS = 155_935


def _files(data_dir: Path) -> tuple[Path, Path]:
    stem = data_dir / DIR / "AMZN_2012-06-21_34200000_57600000"
    return Path(f"{stem}_message_5.csv.gz"), Path(f"{stem}_orderbook_5.csv.gz")


def test_direct_replay_matches_every_row(data_dir: Path) -> None:
    msg, book = _files(data_dir)
    rep = _native.replay_lobster(msg, book)
    assert rep["checked_states"] == ROWS
    assert rep["mismatched_states"] == 0, rep["first_mismatches"]
    assert rep["integrity_errors"] == 0
    assert rep["messages_by_type"] == {"1": 77_381, "2": 450, "3": 66_685, "4": 8_974, "5": 2_445}


def test_itch_round_trip_matches_every_row(data_dir: Path, tmp_path: Path) -> None:
    msg, book = _files(data_dir)
    out = tmp_path / "amzn.mold"
    conv = _native.lobster_to_itch(msg, book, out)
    assert conv["packets"] == ROWS + 2
    rep = _native.replay_itch(out, book)
    assert rep["checked_states"] == ROWS
    assert rep["mismatched_states"] == 0, rep["first_mismatches"]
    assert rep["sequence_errors"] == 0
    assert rep["integrity_errors"] == 0
    assert rep["top_of_book"]["AMZN"] == _native.replay_lobster(msg, book)["top_of_book"]["1"]
