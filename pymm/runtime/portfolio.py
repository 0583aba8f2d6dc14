"""Position, cash and PnL of one instrument from our fills, exact in decimals.

Balances move exactly as the venue moves them: a buy adds ``qty`` base and removes ``price*qty`` quote,
a sell the reverse, and each fill's commission is taken in the asset the venue names. Realized PnL uses
the average cost of the open position; unrealized marks the open position at the mid. The sum
``realized + unrealized - fees`` equals ``quote delta + base delta * mid`` at every instant (tested),
which is what reconciling with the venue's own balances checks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction

__all__ = ["Portfolio"]

ZERO = Decimal(0)


@dataclass
class Portfolio:
    """One instrument's fills folded into position, balance deltas and PnL."""

    base_asset: str
    quote_asset: str
    position: Decimal = ZERO
    avg_price: Fraction = Fraction(0)
    """Average cost of the open position (exact: a rational, shown rounded)."""
    realized: Fraction = Fraction(0)
    fees_quote: Decimal = ZERO
    """Commissions valued in the quote asset at the fill price."""
    deltas: dict[str, Decimal] = field(default_factory=dict)
    """Exact balance change per asset since start (what the venue's account must show)."""
    fills: int = 0
    volume_quote: Decimal = ZERO

    def on_fill(self, buy: bool, price: Decimal, qty: Decimal, fee: Decimal, fee_asset: str) -> None:
        """Apply one fill of ``qty`` at ``price`` with ``fee`` charged in ``fee_asset``."""
        if qty <= 0:
            raise ValueError(f"fill qty must be > 0, got {qty}")
        signed = qty if buy else -qty
        notional = price * qty
        self._move(self.base_asset, signed)
        self._move(self.quote_asset, -notional if buy else notional)
        if fee:
            self._move(fee_asset, -fee)
            self.fees_quote += fee * price if fee_asset == self.base_asset else fee
        self.fills += 1
        self.volume_quote += notional
        pos = self.position
        if pos == 0 or (pos > 0) == buy:
            # Opening or adding: new average cost.
            total = abs(pos) + qty
            self.avg_price = (self.avg_price * Fraction(abs(pos)) + Fraction(notional)) / Fraction(total)
            self.position = pos + signed
            return
        closing = min(qty, abs(pos))
        px = Fraction(price)
        pnl_per_unit = (px - self.avg_price) if pos > 0 else (self.avg_price - px)
        self.realized += pnl_per_unit * Fraction(closing)
        self.position = pos + signed
        if self.position == 0:
            self.avg_price = Fraction(0)
        elif (self.position > 0) != (pos > 0):
            # Flipped through zero: the remainder opens at this price.
            self.avg_price = px

    def _move(self, asset: str, amount: Decimal) -> None:
        self.deltas[asset] = self.deltas.get(asset, ZERO) + amount

    def unrealized(self, mid: Decimal | None) -> Fraction:
        """Open position marked at ``mid`` against its average cost (0 without a mid)."""
        if mid is None or self.position == 0:
            return Fraction(0)
        return (Fraction(mid) - self.avg_price) * Fraction(self.position)

    def total(self, mid: Decimal | None) -> Fraction:
        """Realized + unrealized - fees, in the quote asset (exact)."""
        return self.realized + self.unrealized(mid) - Fraction(self.fees_quote)

    def to_json(self, mid: Decimal | None) -> dict[str, str]:
        """The status screen's PnL block (decimal strings, rounded to 1e-8 for display)."""
        return {
            "realized": _show(self.realized),
            "unrealized": _show(self.unrealized(mid)),
            "fees": str(self.fees_quote),
            "total": _show(self.total(mid)),
            "avg_price": _show(self.avg_price),
        }


def _show(x: Fraction) -> str:
    return str((Decimal(x.numerator) / Decimal(x.denominator)).quantize(Decimal("1e-8")))
