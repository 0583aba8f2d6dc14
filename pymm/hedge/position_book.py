"""The position book: our positions per venue and instrument, from our own fills, checked against a drop copy.

Positions start from an explicit opening snapshot (the account's balances or positions when pymm
started, recorded as such) and change only by fills. :meth:`PositionBook.reconcile` compares the book
with the venue's own view — the user data stream or an account query, our drop copy — and reports
every difference with both values. It never overwrites our numbers: a break stays open, and blocks
hedging, until a later drop copy agrees again or an operator accepts the venue's value through
:meth:`PositionBook.accept_venue_value`, which is recorded as an adjustment.

Timing: a drop copy describes the venue at its ``ts_event``. Our side of the comparison is the position
from fills with ``ts_event`` at or before that time, so a fill that crossed the snapshot in flight is not
a break.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import StrEnum

from pymm.hedge.delta_bus import DeltaEvent, Fill, Market

__all__ = [
    "BreakKind",
    "DropCopySnapshot",
    "PositionAdjustment",
    "PositionBook",
    "PositionKey",
    "ReconciliationBreak",
    "ReconciliationReport",
]

ZERO = Decimal(0)


@dataclass(frozen=True, slots=True, order=True)
class PositionKey:
    """One position: an instrument on a venue."""

    venue: str
    market: Market
    symbol: str


def key_of(fill: Fill) -> PositionKey:
    """The position a fill changes."""
    return PositionKey(fill.venue, fill.market, fill.symbol)


class BreakKind(StrEnum):
    """What disagreed between our book and the drop copy."""

    POSITION = "position"
    """The venue's position differs from ours at the snapshot time."""
    FILL_MISSING = "fill_missing"
    """The drop copy reports a fill we never booked."""
    FILL_MISMATCH = "fill_mismatch"
    """A fill we booked differs (side, quantity or price) from the drop copy's."""


@dataclass(frozen=True, slots=True)
class ReconciliationBreak:
    """One disagreement, with both values as text (``ours`` is ``"-"`` for a fill we lack)."""

    kind: BreakKind
    key: PositionKey
    ours: str
    venue: str
    detail: str = ""

    def __str__(self) -> str:
        """``position binance-usdm/usdm/DOGEUSDT: ours -100, venue -150``."""
        where = f"{self.key.venue}/{self.key.market}/{self.key.symbol}"
        extra = f" ({self.detail})" if self.detail else ""
        return f"{self.kind} {where}: ours {self.ours}, venue {self.venue}{extra}"


@dataclass(frozen=True, slots=True)
class DropCopySnapshot:
    """The venue's view at ``ts_event``: positions and, optionally, the fills it reported.

    Attributes:
        ts_event: venue time the snapshot describes, ns.
        positions: position per key in base units (a spot key: the asset balance; a USD-M key:
            ``positionAmt``). Keys the snapshot covers; a key absent here is not compared.
        fills: fills the drop copy reported (user-stream executions), checked one by one.
        position_ts: per-key venue time of a position when it differs from ``ts_event`` (a user stream
            reports each position with its own update time).
    """

    ts_event: int
    positions: Mapping[PositionKey, Decimal]
    fills: Sequence[Fill] = ()
    position_ts: Mapping[PositionKey, int] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ReconciliationReport:
    """The outcome of one reconciliation."""

    ts_event: int
    compared: int
    breaks: tuple[ReconciliationBreak, ...]

    @property
    def ok(self) -> bool:
        """True when nothing disagreed."""
        return not self.breaks


@dataclass(frozen=True, slots=True)
class PositionAdjustment:
    """An operator's acceptance of the venue's value for a broken position (the audit record)."""

    key: PositionKey
    before: Decimal
    after: Decimal
    operator: str
    reason: str


@dataclass(slots=True)
class _Position:
    opening: Decimal = ZERO
    # (ts_event, signed qty) in booking order; the as-of position sums those at or before a time.
    history: list[tuple[int, Decimal]] = field(default_factory=list)
    qty: Decimal = ZERO


class PositionBook:
    """Positions from fills, per venue and instrument; reconciled, never silently corrected."""

    def __init__(self, opening: Mapping[PositionKey, Decimal] | None = None) -> None:
        """Start from the positions the venues reported when pymm started (default: flat)."""
        self._positions: dict[PositionKey, _Position] = {}
        self._base: dict[PositionKey, str] = {}
        self._fills: dict[tuple[str, str, str], Fill] = {}
        self._breaks: dict[tuple[BreakKind, PositionKey, str], ReconciliationBreak] = {}
        self.adjustments: list[PositionAdjustment] = []
        """Every operator acceptance, in order."""
        for key, qty in (opening or {}).items():
            self.set_opening(key, qty)

    # -- positions -------------------------------------------------------------------------------

    def set_opening(self, key: PositionKey, qty: Decimal, base_asset: str | None = None) -> None:
        """Record a start-up position (before any fill on ``key``)."""
        _check_decimal(qty, "opening qty")
        pos = self._positions.setdefault(key, _Position())
        if pos.history:
            raise ValueError(f"{key}: opening position after fills were booked")
        pos.opening = qty
        pos.qty = qty
        if base_asset is not None:
            self._base[key] = base_asset

    def apply(self, fill: Fill) -> bool:
        """Book one fill; a trade id seen before is ignored.

        Returns:
            True when the fill changed the book.
        """
        if fill.key in self._fills:
            return False
        self._fills[fill.key] = fill
        key = key_of(fill)
        pos = self._positions.setdefault(key, _Position())
        pos.history.append((fill.ts_event, fill.position_change))
        pos.qty += fill.position_change
        self._base[key] = fill.base_asset
        return True

    def on_delta(self, event: DeltaEvent) -> None:
        """Delta-bus subscriber: book the event's fill."""
        self.apply(event.fill)

    def position(self, key: PositionKey) -> Decimal:
        """Our current position on ``key`` (0 when never traded)."""
        pos = self._positions.get(key)
        return pos.qty if pos is not None else ZERO

    def position_as_of(self, key: PositionKey, ts_event: int) -> Decimal:
        """Our position from the opening and the fills with ``ts_event`` at or before ``ts_event``."""
        pos = self._positions.get(key)
        if pos is None:
            return ZERO
        return pos.opening + sum((q for ts, q in pos.history if ts <= ts_event), ZERO)

    def keys(self) -> list[PositionKey]:
        """Every key with an opening or a fill, sorted."""
        return sorted(self._positions)

    def net_delta(self, base_asset: str, keys: Iterable[PositionKey] | None = None) -> Decimal:
        """Sum of the positions in ``base_asset`` (linear instruments only: one base unit each).

        Args:
            base_asset: ``"DOGE"``.
            keys: restrict to these keys; default every key known to be in ``base_asset``.
        """
        chosen = keys if keys is not None else [k for k in self._positions if self._base.get(k) == base_asset]
        return sum((self.position(k) for k in chosen), ZERO)

    # -- reconciliation --------------------------------------------------------------------------

    @property
    def open_breaks(self) -> tuple[ReconciliationBreak, ...]:
        """Breaks found and not yet resolved, oldest first."""
        return tuple(self._breaks.values())

    @property
    def hedging_blocked(self) -> bool:
        """True while any break is open: we do not know our true position."""
        return bool(self._breaks)

    def reconcile(self, snapshot: DropCopySnapshot) -> ReconciliationReport:
        """Compare the book with the venue's view and report every difference, both values each.

        Position breaks on the keys the snapshot covers are replaced by this comparison's outcome (a key
        that agrees now is resolved); fill breaks stay open until resolved by an operator or by the
        missing fill arriving and a later snapshot agreeing.
        """
        found: list[ReconciliationBreak] = []
        compared = 0
        for key, venue_qty in sorted(snapshot.positions.items()):
            _check_decimal(venue_qty, f"drop-copy position {key}")
            compared += 1
            ours = self.position_as_of(key, snapshot.position_ts.get(key, snapshot.ts_event))
            self._breaks.pop((BreakKind.POSITION, key, ""), None)
            if ours != venue_qty:
                found.append(
                    ReconciliationBreak(
                        BreakKind.POSITION, key, _fmt(ours), _fmt(venue_qty), f"diff {_fmt(venue_qty - ours)}"
                    )
                )
        for theirs in snapshot.fills:
            compared += 1
            key = key_of(theirs)
            mine = self._fills.get(theirs.key)
            tag = theirs.trade_id
            if mine is None:
                found.append(
                    ReconciliationBreak(BreakKind.FILL_MISSING, key, "-", _fill_text(theirs), f"trade {tag}")
                )
            elif (mine.side, mine.qty, mine.price) != (theirs.side, theirs.qty, theirs.price):
                found.append(
                    ReconciliationBreak(
                        BreakKind.FILL_MISMATCH, key, _fill_text(mine), _fill_text(theirs), f"trade {tag}"
                    )
                )
            else:
                self._breaks.pop((BreakKind.FILL_MISSING, key, tag), None)
        for brk in found:
            tag = "" if brk.kind is BreakKind.POSITION else brk.detail.removeprefix("trade ")
            self._breaks[(brk.kind, brk.key, tag)] = brk
        return ReconciliationReport(ts_event=snapshot.ts_event, compared=compared, breaks=tuple(found))

    def accept_venue_value(self, key: PositionKey, venue_qty: Decimal, *, operator: str, reason: str) -> None:
        """Resolve breaks on ``key`` by taking the venue's position; recorded in :attr:`adjustments`.

        Raises:
            ValueError: no open break on ``key``, or no operator or reason given.
        """
        _check_decimal(venue_qty, "venue qty")
        if not operator or not reason:
            raise ValueError("an adjustment needs the operator's name and a reason")
        mine = [k for k in self._breaks if k[1] == key]
        if not mine:
            raise ValueError(f"no open break on {key}")
        pos = self._positions.setdefault(key, _Position())
        before = pos.qty
        delta = venue_qty - before
        pos.opening += delta
        pos.qty = venue_qty
        for k in mine:
            del self._breaks[k]
        self.adjustments.append(PositionAdjustment(key, before, venue_qty, operator, reason))


def _check_decimal(value: object, what: str) -> None:
    if not isinstance(value, Decimal) or not value.is_finite():
        raise TypeError(f"{what} must be a finite Decimal, got {value!r}")


def _fmt(value: Decimal) -> str:
    return format(value.normalize(), "f") if value else "0"


def _fill_text(fill: Fill) -> str:
    return f"{fill.side} {_fmt(fill.qty)} @ {_fmt(fill.price)}"
