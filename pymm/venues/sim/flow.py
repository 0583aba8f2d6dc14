"""A seeded market-flow generator for the simulated venue, so its book is never empty.

A liquidity provider (its own account; one on the spot book and one on the USD-M book) re-quotes
``levels`` bids and asks around a mid that follows a random walk in ticks; a taker (another
account) sometimes sends a small MARKET order, so trades print. Same seed, same sequence of
requests. Both place orders through the same exchange rules as any client.

Not calibrated: the step size, the sizes and the taker rate are plain parameters, not fitted to
recorded Binance data (the issue's calibration step is still to do).
"""

from __future__ import annotations

import asyncio
import random
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymm._native import SimExchange, SimFutures
    from pymm.venues.sim.server import SimVenue

__all__ = ["FlowConfig", "LiquidityProvider"]

LP_ACCOUNT = 4_000_000_001
TAKER_ACCOUNT = 4_000_000_002


@dataclass(frozen=True)
class FlowConfig:
    """The generator's parameters.

    Attributes:
        symbol: the symbol quoted.
        seed: RNG seed.
        mid: starting mid price (decimal text).
        tick: the symbol's tick (decimal text).
        levels: levels quoted per side.
        spread_ticks: half-spread of the innermost level, in ticks.
        max_step_ticks: the mid moves by up to this many ticks per step.
        min_qty: smallest level size (lots of 1).
        max_qty: largest level size.
        taker_probability: chance per step of a MARKET order from the taker.
        interval_s: seconds between steps.
    """

    symbol: str = "DOGEUSDT"
    seed: int = 7
    mid: str = "0.16900"
    tick: str = "0.00001"
    levels: int = 5
    spread_ticks: int = 1
    max_step_ticks: int = 2
    min_qty: int = 500
    max_qty: int = 5000
    taker_probability: float = 0.2
    interval_s: float = 0.2


class LiquidityProvider:
    """Quotes around a random-walk mid; see the module docstring."""

    def __init__(self, venue: SimVenue, config: FlowConfig, *, futures: bool = False) -> None:
        """Funds the generator's two accounts (on the USD-M side when ``futures``: USDT margin only,
        and a different seed stream so the two books do not move in lockstep)."""
        self.venue = venue
        self.config = config
        self.exchange: SimExchange | SimFutures = venue.futures if futures else venue.exchange
        self.rng = random.Random(config.seed * 2 + 1 if futures else config.seed)
        self.tick = Decimal(config.tick)
        self.mid_ticks = int(Decimal(config.mid) / self.tick)
        for account in (LP_ACCOUNT, TAKER_ACCOUNT):
            if futures:
                venue.futures.deposit(account, "USDT", "1000000000")
            else:
                venue.exchange.deposit(account, "USDT", "1000000000")
                venue.exchange.deposit(account, "DOGE", "10000000000")

    def _px(self, ticks: int) -> str:
        return str(ticks * self.tick)

    def step(self) -> None:
        """One step: move the mid, re-quote, maybe trade."""
        c = self.config
        ex = self.exchange
        now = self.venue.now_ns()
        self.mid_ticks = max(
            c.levels + c.spread_ticks + 1,
            self.mid_ticks + self.rng.randint(-c.max_step_ticks, c.max_step_ticks),
        )
        ex.cancel_open_orders(LP_ACCOUNT, {"symbol": c.symbol}, now)
        for i in range(c.levels):
            for side, sign in (("BUY", -1), ("SELL", 1)):
                px = self.mid_ticks + sign * (c.spread_ticks + i)
                qty = self.rng.randint(c.min_qty, c.max_qty)
                ex.new_order(
                    LP_ACCOUNT,
                    {
                        "symbol": c.symbol,
                        "side": side,
                        "type": "LIMIT",
                        "timeInForce": "GTC",
                        "price": self._px(px),
                        "quantity": str(qty),
                    },
                    now,
                )
        if self.rng.random() < c.taker_probability:
            ex.new_order(
                TAKER_ACCOUNT,
                {
                    "symbol": c.symbol,
                    "side": self.rng.choice(("BUY", "SELL")),
                    "type": "MARKET",
                    "quantity": str(self.rng.randint(c.min_qty, c.max_qty) // 2),
                },
                now,
            )
        self.venue.pump()

    async def run(self) -> None:
        """Steps every ``interval_s`` until cancelled."""
        while True:
            self.step()
            await asyncio.sleep(self.config.interval_s)
