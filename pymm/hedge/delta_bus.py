"""The delta bus: fills from any venue in, sequenced delta events out.

Every fill pymm learns of (spot quotes filled, perp hedges filled, from the engine's fill events or a
venue's user stream) is published here once. The bus deduplicates fills by ``(venue, market,
trade_id)``, gives each accepted fill the next sequence number, keeps the running net delta per
underlying asset and hands a :class:`DeltaEvent` to every subscriber in subscription order.

Quantities are exact :class:`~decimal.Decimal` base-asset units (DOGE), never floats. Delta is the
signed base quantity a fill adds to our exposure (less any fee charged in the base
asset): a spot buy of 100 DOGE adds +100, a perp sell of 100
adds -100 (a linear USD-M perpetual has a delta of one base unit per contract unit at any leverage).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum

__all__ = ["DeltaBus", "DeltaEvent", "Fill", "Market", "Side"]


class Side(StrEnum):
    """Buy or sell, as the venue reports it."""

    BUY = "BUY"
    SELL = "SELL"

    @property
    def sign(self) -> int:
        """+1 for a buy, -1 for a sell."""
        return 1 if self is Side.BUY else -1

    @property
    def opposite(self) -> Side:
        """The other side."""
        return Side.SELL if self is Side.BUY else Side.BUY


class Market(StrEnum):
    """The market kinds pymm trades (the instrument master's ``market`` names)."""

    SPOT = "spot"
    USDM = "usdm"


@dataclass(frozen=True, slots=True)
class Fill:
    """One execution of one of our orders, as a venue reported it.

    Attributes:
        venue: the configured venue name (``"binance-spot"``).
        market: spot or USD-M.
        symbol: venue symbol (``"DOGEUSDT"``).
        base_asset: the asset whose delta the fill changes (``"DOGE"``).
        side: our side.
        qty: filled quantity in base units, > 0.
        price: fill price in quote units, > 0.
        trade_id: the venue's trade id; with venue and market, the deduplication key.
        ts_event: venue timestamp of the trade, ns since the Unix epoch.
        ts_recv: our receive timestamp, ns.
        client_order_id: our order's client id, when the venue reported it.
        fee_base: commission charged in the base asset (spot buys without BNB pay it in DOGE), >= 0;
            it lowers the position the fill leaves.
    """

    venue: str
    market: Market
    symbol: str
    base_asset: str
    side: Side
    qty: Decimal
    price: Decimal
    trade_id: str
    ts_event: int
    ts_recv: int
    client_order_id: str | None = None
    fee_base: Decimal = Decimal(0)

    def __post_init__(self) -> None:
        """Refuse floats and non-positive amounts: a position must be exact."""
        for name in ("qty", "price"):
            value = getattr(self, name)
            if not isinstance(value, Decimal):
                raise TypeError(f"Fill.{name} must be a Decimal, got {type(value).__name__}")
            if not value.is_finite() or value <= 0:
                raise ValueError(f"Fill.{name} must be positive and finite, got {value}")
        if not isinstance(self.fee_base, Decimal) or not self.fee_base.is_finite() or self.fee_base < 0:
            raise ValueError(f"Fill.fee_base must be a Decimal >= 0, got {self.fee_base!r}")

    @property
    def signed_qty(self) -> Decimal:
        """``+qty`` for a buy, ``-qty`` for a sell."""
        return self.qty if self.side is Side.BUY else -self.qty

    @property
    def position_change(self) -> Decimal:
        """What the fill does to our base position: :attr:`signed_qty` less the base-asset fee."""
        return self.signed_qty - self.fee_base

    @property
    def key(self) -> tuple[str, str, str]:
        """The deduplication key ``(venue, market, trade_id)``."""
        return (self.venue, self.market.value, self.trade_id)


@dataclass(frozen=True, slots=True)
class DeltaEvent:
    """A fill accepted by the bus, with its sequence number and its effect on delta.

    Attributes:
        seq: 1, 2, 3, ... in publication order, without gaps.
        fill: the fill.
        delta_change: signed base quantity the fill added to the delta of ``fill.base_asset``.
        net_delta: the bus's running net delta of that asset after this fill (fills only: offsets and
            start-up positions live in the position book).
    """

    seq: int
    fill: Fill
    delta_change: Decimal
    net_delta: Decimal


Subscriber = Callable[[DeltaEvent], None]


class DeltaBus:
    """Publishes fills as sequenced :class:`DeltaEvent` s to subscribers, exactly once each."""

    def __init__(self) -> None:
        """An empty bus: sequence 0, no subscribers."""
        self._seq = 0
        self._subscribers: list[Subscriber] = []
        self._seen: set[tuple[str, str, str]] = set()
        self._net: dict[str, Decimal] = {}
        self.duplicates = 0
        """Fills dropped because their trade id was already published."""

    @property
    def seq(self) -> int:
        """The sequence number of the last published event (0 before the first)."""
        return self._seq

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Call ``subscriber`` with every event published from now on.

        Returns:
            A function that removes the subscription.
        """
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def net_delta(self, base_asset: str) -> Decimal:
        """The sum of the signed quantities of every published fill in ``base_asset``."""
        return self._net.get(base_asset, Decimal(0))

    def publish(self, fill: Fill) -> DeltaEvent | None:
        """Sequence one fill and deliver it to every subscriber, in subscription order.

        Returns:
            The event, or ``None`` when the fill's trade id was already published (counted in
            :attr:`duplicates`; a user stream and the engine may both report one fill).
        """
        if fill.key in self._seen:
            self.duplicates += 1
            return None
        self._seen.add(fill.key)
        self._seq += 1
        change = fill.position_change
        net = self._net.get(fill.base_asset, Decimal(0)) + change
        self._net[fill.base_asset] = net
        event = DeltaEvent(seq=self._seq, fill=fill, delta_change=change, net_delta=net)
        for subscriber in list(self._subscribers):
            subscriber(event)
        return event
