"""The simulated venue's market flow: the calibrated Rust generator, or a recorded file replayed.

The flow runs inside :class:`pymm._native.SimExchange` (``native/src/venue/flow.rs``,
``native/src/venue/replay.rs``); this module only advances it to the venue's clock and publishes what
happened: before each order a client sends, and when the next flow event is due (the generator draws
its next event time ahead, ``SimExchange.next_event_ns``; the loop sleeps until then, at most
``interval_s``, and a client's request wakes it to re-read the time). A fill the flow causes is thus
published when it happens, not up to one interval later.

* Generated (default): ``config/flow/<SYMBOL>.toml`` parameters (calibration:
  ``docs/venue/flow-calibration.md``), seeded; limit orders, cancels and MARKET orders of a house
  account, so a client's resting order queues behind real orders and is filled when marketable
  flow reaches it.
* Replayed (``replay``): a Binance capture, DBN MBO or LOBSTER file, the recorded liquidity queued
  with the client's orders (queue model: ``queue_model``).

The USD-M book is kept alive by :class:`FuturesFlow`, a plain seeded random-walk liquidity provider
and taker in Python. It is **not calibrated** (the calibrated generator drives the spot book only).
"""

from __future__ import annotations

import asyncio
import gzip
import random
import re
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pymm._native import SimFutures
    from pymm.venues.sim.server import SimVenue

__all__ = [
    "DEFAULT_FLOW",
    "FlowConfig",
    "FuturesFlow",
    "FuturesFlowConfig",
    "LiquidityProvider",
    "MarketFlow",
    "replay_symbol",
]

DEFAULT_FLOW = Path(__file__).resolve().parents[3] / "config" / "flow" / "DOGEUSDT.toml"


@dataclass(frozen=True)
class FlowConfig:
    """Where the venue's market comes from.

    Attributes:
        seed: the generator's seed (same seed, same market).
        params: generator parameters (``config/flow/*.toml``); one symbol per file.
        interval_s: the longest the flow sleeps between steps (it wakes when its next event is due).
        replay: recorded files to replay instead of generating (one session, in order).
        replay_format: ``binance``, ``dbn`` or ``lobster``.
        replay_symbol: the listed symbol the recording is for (None: read from a Binance file).
        queue_model: L2 queue model, ``power3`` (hftbacktest's probabilistic) or ``risk_averse``.
        tick: DBN/LOBSTER tick in the file's price units (1e-9 / 1e-4 USD).
    """

    seed: int = 7
    params: Path = DEFAULT_FLOW
    interval_s: float = 0.05
    replay: list[Path] = field(default_factory=list)
    replay_format: str = "binance"
    replay_symbol: str | None = None
    queue_model: str = "power3"
    tick: int = 1


def replay_symbol(path: Path) -> str:
    """The symbol of a Binance capture (the first ``"s":"..."`` field in its first lines)."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:  # type: ignore[operator]
        for _, line in zip(range(200), f, strict=False):
            m = re.search(r'"s":"([A-Z0-9]+)"', line)
            if m:
                return m.group(1)
    raise ValueError(f"{path}: no symbol found in the first 200 lines")


class MarketFlow:
    """Advances the exchange's flow (generator or replay) to the venue clock and publishes it."""

    def __init__(self, venue: SimVenue, config: FlowConfig) -> None:
        """Attaches the generator (or the replay) to ``venue``'s exchange, starting now."""
        self.venue = venue
        self.config = config
        self._wake: asyncio.Future[None] | None = None
        now = venue.now_ns()
        if config.replay:
            symbol = config.replay_symbol or replay_symbol(config.replay[0])
            venue.exchange.attach_replay(
                [str(p) for p in config.replay],
                config.replay_format,
                symbol,
                now,
                config.queue_model,
                config.tick,
            )
        else:
            venue.exchange.attach_flow(config.params.read_text(), config.seed, now)
        venue.pump()

    def step(self) -> int:
        """Runs the flow up to the venue's clock and publishes; returns the events simulated."""
        n = self.venue.exchange.advance(self.venue.now_ns())
        self.venue.pump()
        return n

    def wait_s(self) -> float:
        """Seconds until the next flow event (or held market data) is due, at most ``interval_s``."""
        due = self.venue.exchange.next_event_ns()
        if due is None:
            return self.config.interval_s
        return min(max(due - self.venue.now_ns(), 0) / 1e9, self.config.interval_s)

    def nudge(self) -> None:
        """A client changed the book: wake the loop to step and re-read when the next event is due."""
        if self._wake is not None and not self._wake.done():
            self._wake.set_result(None)

    async def run(self) -> None:
        """Steps whenever the next event is due (or a client changed the book) until cancelled."""
        loop = asyncio.get_running_loop()
        while True:
            self._wake = None
            self.step()
            self._wake = wake = loop.create_future()
            timer = loop.call_later(self.wait_s(), _resolve, wake)
            try:
                await wake
            finally:
                timer.cancel()


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


LiquidityProvider = MarketFlow
"""The name the server knows the flow by."""


LP_ACCOUNT = 4_000_000_001
TAKER_ACCOUNT = 4_000_000_002


@dataclass(frozen=True)
class FuturesFlowConfig:
    """The USD-M random-walk flow's parameters (not calibrated).

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


class FuturesFlow:
    """Quotes around a random-walk mid; see the module docstring."""

    def __init__(self, venue: SimVenue, config: FuturesFlowConfig) -> None:
        """Funds the generator's two USD-M accounts (USDT margin only); its seed stream differs from
        the spot flow's so the two books do not move in lockstep."""
        self.venue = venue
        self.config = config
        self.exchange: SimFutures = venue.futures
        self.rng = random.Random(config.seed * 2 + 1)
        self.tick = Decimal(config.tick)
        self.mid_ticks = int(Decimal(config.mid) / self.tick)
        for account in (LP_ACCOUNT, TAKER_ACCOUNT):
            venue.futures.deposit(account, "USDT", "1000000000")

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
