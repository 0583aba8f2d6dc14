"""Position book: positions from fills, as-of positions, reconciliation that reports and never overwrites."""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from pymm.hedge import BreakKind, DropCopySnapshot, Market, PositionBook, PositionKey
from tests.hedge.conftest import PERP_VENUE, SPOT_VENUE, fill

SPOT = PositionKey(SPOT_VENUE, Market.SPOT, "DOGEUSDT")
PERP = PositionKey(PERP_VENUE, Market.USDM, "DOGEUSDT")


def test_positions_from_opening_and_fills() -> None:
    book = PositionBook({SPOT: Decimal(100_000), PERP: Decimal(-100_000)})
    assert book.apply(fill("BUY", 5000, ts=10))
    assert book.apply(fill("SELL", 2000, ts=20, market=Market.USDM))
    f = fill("SELL", 1000, ts=30)
    assert book.apply(f) and not book.apply(f)  # a trade id is booked once
    assert book.position(SPOT) == Decimal(104_000)
    assert book.position(PERP) == Decimal(-102_000)
    assert book.net_delta("DOGE") == Decimal(2000)
    assert book.position_as_of(SPOT, 15) == Decimal(105_000)
    assert book.position_as_of(SPOT, 9) == Decimal(100_000)
    assert book.keys() == sorted([SPOT, PERP])


def test_opening_after_fills_is_refused() -> None:
    book = PositionBook()
    book.apply(fill("BUY", 1))
    with pytest.raises(ValueError, match="opening"):
        book.set_opening(SPOT, Decimal(5))


def test_reconcile_agreeing_snapshot() -> None:
    book = PositionBook({PERP: Decimal(-500)})
    f = fill("SELL", 100, ts=5, market=Market.USDM)
    book.apply(f)
    report = book.reconcile(DropCopySnapshot(ts_event=5, positions={PERP: Decimal(-600)}, fills=[f]))
    assert report.ok and report.compared == 2 and not book.hedging_blocked


def test_fill_after_the_snapshot_time_is_not_a_break() -> None:
    book = PositionBook()
    book.apply(fill("BUY", 100, ts=10))
    book.apply(fill("BUY", 50, ts=20))  # the venue's snapshot at 15 has not seen it
    assert book.reconcile(DropCopySnapshot(15, {SPOT: Decimal(100)})).ok


def test_position_break_reports_both_values_blocks_and_never_overwrites() -> None:
    book = PositionBook()
    book.apply(fill("SELL", 100, ts=1, market=Market.USDM))
    report = book.reconcile(DropCopySnapshot(2, {PERP: Decimal(-150)}))
    (brk,) = report.breaks
    assert (brk.kind, brk.key, brk.ours, brk.venue) == (BreakKind.POSITION, PERP, "-100", "-150")
    assert "ours -100, venue -150" in str(brk) and "diff -50" in str(brk)
    assert book.position(PERP) == Decimal(-100)  # not overwritten
    assert book.hedging_blocked
    # The missing fill arrives and the next drop copy agrees: resolved.
    book.apply(fill("SELL", 50, ts=2, market=Market.USDM))
    assert book.reconcile(DropCopySnapshot(3, {PERP: Decimal(-150)})).ok
    assert not book.hedging_blocked


def test_fill_breaks_missing_and_mismatched() -> None:
    book = PositionBook()
    mine = fill("BUY", 100, "0.16", trade_id="x1")
    book.apply(mine)
    theirs_other_price = fill("BUY", 100, "0.161", trade_id="x1")
    unknown = fill("SELL", 7, trade_id="x2")
    report = book.reconcile(DropCopySnapshot(0, {}, fills=[theirs_other_price, unknown]))
    kinds = {b.kind: b for b in report.breaks}
    assert kinds[BreakKind.FILL_MISMATCH].ours == "BUY 100 @ 0.16"
    assert kinds[BreakKind.FILL_MISMATCH].venue == "BUY 100 @ 0.161"
    assert (
        kinds[BreakKind.FILL_MISSING].ours == "-" and kinds[BreakKind.FILL_MISSING].venue == "SELL 7 @ 0.16"
    )
    assert len(book.open_breaks) == 2


def test_accept_venue_value_is_explicit_and_recorded() -> None:
    book = PositionBook()
    book.apply(fill("SELL", 100, ts=1, market=Market.USDM))
    book.reconcile(DropCopySnapshot(2, {PERP: Decimal(-130)}))
    with pytest.raises(ValueError, match="operator"):
        book.accept_venue_value(PERP, Decimal(-130), operator="", reason="x")
    with pytest.raises(ValueError, match="no open break"):
        book.accept_venue_value(SPOT, Decimal(0), operator="ana", reason="x")
    book.accept_venue_value(PERP, Decimal(-130), operator="ana", reason="liquidation fill not streamed")
    assert book.position(PERP) == Decimal(-130) and not book.hedging_blocked
    (adj,) = book.adjustments
    assert (adj.before, adj.after, adj.operator) == (Decimal(-100), Decimal(-130), "ana")
    assert book.reconcile(DropCopySnapshot(3, {PERP: Decimal(-130)})).ok


def test_reconcile_refuses_float_positions() -> None:
    with pytest.raises(TypeError):
        PositionBook().reconcile(DropCopySnapshot(0, {SPOT: 1.0}))  # type: ignore[dict-item]


_fills = st.lists(
    st.tuples(
        st.sampled_from(["BUY", "SELL"]), st.integers(1, 10_000), st.sampled_from([Market.SPOT, Market.USDM])
    ),
    min_size=1,
    max_size=30,
)


@given(_fills, st.data())
def test_property_every_injected_break_is_detected(
    rows: list[tuple[str, int, Market]], data: st.DataObject
) -> None:
    """The venue saw every fill; our book lost some and mangled some. Each one is reported."""
    venue_fills = [fill(s, q, ts=i, market=m, trade_id=f"t{i}") for i, (s, q, m) in enumerate(rows)]
    idx = list(range(len(venue_fills)))
    dropped = set(data.draw(st.lists(st.sampled_from(idx), unique=True), label="dropped"))
    mangled = set(data.draw(st.lists(st.sampled_from(idx), unique=True), label="mangled")) - dropped
    book = PositionBook()
    for i, f in enumerate(venue_fills):
        if i in dropped:
            continue
        if i in mangled:
            f = fill(f.side, f.qty + 1, ts=f.ts_event, market=f.market, trade_id=f.trade_id)
        book.apply(f)
    venue_pos: dict[PositionKey, Decimal] = {SPOT: Decimal(0), PERP: Decimal(0)}
    for f in venue_fills:
        k = SPOT if f.market is Market.SPOT else PERP
        venue_pos[k] += f.signed_qty
    report = book.reconcile(DropCopySnapshot(len(rows), venue_pos, fills=venue_fills))
    missing = {b.detail for b in report.breaks if b.kind is BreakKind.FILL_MISSING}
    mismatch = {b.detail for b in report.breaks if b.kind is BreakKind.FILL_MISMATCH}
    assert missing == {f"trade t{i}" for i in dropped}
    assert mismatch == {f"trade t{i}" for i in mangled}
    for key in (SPOT, PERP):
        ours = book.position(key)
        has_break = any(b.kind is BreakKind.POSITION and b.key == key for b in report.breaks)
        assert has_break == (ours != venue_pos[key])
    assert book.hedging_blocked == (not report.ok)
