"""The simulated venue's server: one aiohttp app on loopback serving the Binance spot REST front
(:mod:`pymm.venues.sim.rest`), market streams (:mod:`pymm.venues.sim.streams`) and the WebSocket
API (:mod:`pymm.venues.sim.ws_api`) over one
:class:`pymm._native.SimExchange`.

Everything runs on one asyncio loop: a request calls the exchange, then :meth:`SimVenue.pump` hands
the events it produced to the stream hub. The wall clock is read here (and only here) and passed to
the core as ``now``.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from aiohttp import web

from pymm._native import InstrumentMaster, SimExchange
from pymm.venues.sim import rest, streams, ws_api
from pymm.venues.sim.flow import FlowConfig, LiquidityProvider
from pymm.venues.sim.keys import ApiKey, KeyRing

__all__ = ["LatencyConfig", "Limits", "RunningVenue", "SimVenue", "SimVenueConfig", "start_server"]

DEFAULT_INSTRUMENTS = Path(__file__).resolve().parents[3] / "config" / "instruments" / "DOGEUSDT.spot.toml"


@dataclass(frozen=True)
class LatencyConfig:
    """The venue's latency model (``native/src/venue/latency.rs``): each path a constant plus seeded
    jitter, ``(kind, a, b)`` with kind ``none``, ``uniform`` (a = max ns), ``exponential`` (a = mean
    ns) or ``lognormal`` (a = median ns, b = sigma)."""

    entry_base_ns: int = 0
    entry_jitter: tuple[str, float, float] = ("none", 0.0, 0.0)
    market_data_base_ns: int = 0
    market_data_jitter: tuple[str, float, float] = ("none", 0.0, 0.0)
    seed: int = 0


@dataclass
class SimVenueConfig:
    """What a simulated venue serves.

    Attributes:
        instruments: instrument definition files (TOML); spot ones are listed.
        keys: API keys; each key's account is funded with ``balances``.
        balances: starting balances per asset (decimal text) of every key's account.
        maker_bps: maker fee in basis points.
        taker_bps: taker fee in basis points.
        host: listen address (loopback only by design).
        port: listen port (0: ephemeral).
        flow: the market flow (the calibrated generator, or a replayed recording), or None for an
            empty book.
        latency: order-entry and market-data delays, or None for none.
        weight_per_minute: request weight allowed per IP per minute (Binance's example: 6000).
        orders_per_10s: new orders allowed per account per 10 seconds.
    """

    instruments: list[Path] = field(default_factory=lambda: [DEFAULT_INSTRUMENTS])
    keys: list[ApiKey] = field(default_factory=list)
    balances: dict[str, str] = field(default_factory=lambda: {"USDT": "10000", "DOGE": "100000"})
    maker_bps: int = 1
    taker_bps: int = 1
    host: str = "127.0.0.1"
    port: int = 0
    flow: FlowConfig | None = None
    latency: LatencyConfig | None = None
    weight_per_minute: int = 6000
    orders_per_10s: int = 100


class Limits:
    """Request weight per IP per minute and new orders per account per 10 s / day (fixed windows)."""

    def __init__(
        self, clock_ms: Callable[[], int], weight_per_minute: int = 6000, orders_per_10s: int = 100
    ) -> None:
        """Counters reading ``clock_ms``."""
        self._clock_ms = clock_ms
        self.weight_per_minute = weight_per_minute
        self.orders_per_10s = orders_per_10s
        self._weight: dict[str, tuple[int, int]] = {}
        self._orders: dict[int, deque[int]] = {}
        self._orders_day: dict[int, tuple[int, int]] = {}

    def add_weight(self, ip: str, weight: int) -> int:
        """Adds ``weight`` for ``ip``; returns the minute's total."""
        minute = self._clock_ms() // 60_000
        m, used = self._weight.get(ip, (minute, 0))
        used = used + weight if m == minute else weight
        self._weight[ip] = (minute, used)
        return used

    def add_order(self, account: int) -> tuple[int, int]:
        """Counts a new order of ``account``; returns the 10-second and day counts."""
        now = self._clock_ms()
        q = self._orders.setdefault(account, deque())
        q.append(now)
        while q and q[0] <= now - 10_000:
            q.popleft()
        day = now // 86_400_000
        d, n = self._orders_day.get(account, (day, 0))
        n = n + 1 if d == day else 1
        self._orders_day[account] = (day, n)
        return len(q), n


class SimVenue:
    """The exchange core, its keys, its stream hub and its rate counters."""

    def __init__(self, config: SimVenueConfig, clock_ns: Callable[[], int] = time.time_ns) -> None:
        """Loads instruments, funds accounts, registers keys."""
        master = InstrumentMaster()
        for path in config.instruments:
            master.extend(InstrumentMaster.from_toml(path))
        self.config = config
        self._clock_ns = clock_ns
        self.exchange = SimExchange(master, config.maker_bps, config.taker_bps)
        self.keys = KeyRing(config.keys)
        for account in sorted({k.account for k in config.keys}):
            for asset, amount in config.balances.items():
                self.exchange.deposit(account, asset, amount)
        self.hub = streams.StreamHub(
            lambda symbol, n: self.exchange.depth({"symbol": symbol, "limit": str(n)})[1]
        )
        self.user_hub = ws_api.UserHub()
        self.ws_faults = ws_api.WsFaults()
        self.limits = Limits(self.now_ms, config.weight_per_minute, config.orders_per_10s)
        if config.latency is not None:
            lat = config.latency
            self.exchange.set_latency(
                lat.entry_base_ns, lat.market_data_base_ns, lat.seed, lat.entry_jitter, lat.market_data_jitter
            )
        self.flow = LiquidityProvider(self, config.flow) if config.flow is not None else None

    def now_ns(self) -> int:
        """The venue's clock in nanoseconds."""
        return self._clock_ns()

    def now_ms(self) -> int:
        """The venue's clock in milliseconds."""
        return self._clock_ns() // 1_000_000

    async def order_entry(self) -> None:
        """Before an order request acts: the order-entry delay, then the market flow up to the moment
        the request reaches the book (so it meets the book as it is then)."""
        delay = self.exchange.entry_delay_ns()
        if delay:
            await asyncio.sleep(delay / 1e9)
        if self.flow is not None:
            self.exchange.advance(self.now_ns())

    def pump(self) -> None:
        """Publishes the events the exchange produced since the last pump (market data once the
        latency model releases it)."""
        now = self.now_ns() if self.config.latency is not None else None
        for audience, payload in self.exchange.drain_events(now):
            if isinstance(audience, str):
                self.hub.publish(audience, payload)
            else:
                self.user_hub.publish(audience, payload)

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        rest.routes(app, self)
        streams.routes(app, self.hub)
        ws_api.routes(app, self)
        return app


@dataclass
class RunningVenue:
    """A started venue: its base URLs and how to stop it."""

    venue: SimVenue
    runner: web.AppRunner
    port: int
    flow_task: asyncio.Task[None] | None

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API (``http://127.0.0.1:PORT``)."""
        return f"http://{self.venue.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base URL of the streams (``ws://127.0.0.1:PORT``)."""
        return f"ws://{self.venue.config.host}:{self.port}"

    async def stop(self) -> None:
        """Stops the flow generator and the server."""
        if self.flow_task is not None:
            self.flow_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self.flow_task
        await self.runner.cleanup()


async def start_server(config: SimVenueConfig, clock_ns: Callable[[], int] = time.time_ns) -> RunningVenue:
    """Starts a venue on ``config.host:config.port`` (0: an ephemeral port) in the running loop."""
    venue = SimVenue(config, clock_ns)
    runner = web.AppRunner(venue.app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, config.host, config.port)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only here
    port = server.sockets[0].getsockname()[1] if server is not None and server.sockets else config.port
    task = asyncio.create_task(venue.flow.run()) if venue.flow is not None else None
    return RunningVenue(venue=venue, runner=runner, port=port, flow_task=task)
