"""The simulated venue's server: two aiohttp apps on loopback. The spot host serves the Binance spot
REST front (:mod:`pymm.venues.sim.rest`), market streams (:mod:`pymm.venues.sim.streams`) and the
WebSocket API (:mod:`pymm.venues.sim.ws_api`) over one :class:`pymm._native.SimExchange`, plus the
USD-M REST routes; the futures host (its own port, as ``fapi``/``fstream`` are their own hosts)
serves USD-M REST, futures market streams and the listenKey user stream
(:mod:`pymm.venues.sim.usdm`) over one :class:`pymm._native.SimFutures`. A background task publishes
mark prices every ``mark_interval_s`` and settles funding when due.

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

from pymm._native import InstrumentMaster, SimExchange, SimFutures
from pymm.venues.sim import rest, streams, usdm, ws_api
from pymm.venues.sim.flow import FlowConfig, FuturesFlow, FuturesFlowConfig, LiquidityProvider
from pymm.venues.sim.keys import ApiKey, KeyRing

__all__ = ["LatencyConfig", "Limits", "RunningVenue", "SimVenue", "SimVenueConfig", "start_server"]

_INSTRUMENT_DIR = Path(__file__).resolve().parents[3] / "config" / "instruments"
DEFAULT_INSTRUMENTS = _INSTRUMENT_DIR / "DOGEUSDT.spot.toml"
DEFAULT_USDM_INSTRUMENTS = _INSTRUMENT_DIR / "DOGEUSDT.usdm.toml"


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
        instruments: instrument definition files (TOML); spot ones are listed on the spot side, USD-M
            ones on the futures side.
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
        usdm_balances: starting USD-M margin wallet (USDT, decimal text) of every key's account.
        usdm_maker_bps: USD-M maker fee in basis points (Binance's base tier: 2).
        usdm_taker_bps: USD-M taker fee in basis points (Binance's base tier: 5).
        usdm_port: the futures host's listen port (0: ephemeral).
        funding_interval_s: seconds between funding settlements (Binance: 8 h).
        mark_interval_s: seconds between mark-price publications and funding checks.
        ban_after_429s: 429 answers per IP per minute after which it is banned (HTTP 418).
        ban_s: length of that ban, seconds.
    """

    instruments: list[Path] = field(default_factory=lambda: [DEFAULT_INSTRUMENTS, DEFAULT_USDM_INSTRUMENTS])
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
    usdm_balances: dict[str, str] = field(default_factory=lambda: {"USDT": "10000"})
    usdm_maker_bps: int = 2
    usdm_taker_bps: int = 5
    usdm_port: int = 0
    funding_interval_s: float = 8 * 3600.0
    mark_interval_s: float = 1.0
    ban_after_429s: int = 5
    ban_s: int = 120


class Limits:
    """Request weight per IP per minute and new orders per account per 10 s / day (fixed windows).

    An IP that keeps sending after ``ban_after`` 429 answers in one minute is banned (HTTP 418) for
    ``ban_s`` seconds, as Binance escalates (brief §1.2)."""

    def __init__(
        self,
        clock_ms: Callable[[], int],
        weight_per_minute: int = 6000,
        orders_per_10s: int = 100,
        ban_after: int = 5,
        ban_s: int = 120,
    ) -> None:
        """Counters reading ``clock_ms``."""
        self._clock_ms = clock_ms
        self.weight_per_minute = weight_per_minute
        self.orders_per_10s = orders_per_10s
        self.ban_after = ban_after
        self.ban_s = ban_s
        self._violations: dict[str, tuple[int, int]] = {}
        self._banned: dict[str, int] = {}
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

    def banned_until(self, ip: str) -> int | None:
        """The ms time ``ip``'s ban ends, or None when it is not banned."""
        until = self._banned.get(ip)
        return until if until is not None and until > self._clock_ms() else None

    def note_429(self, ip: str) -> int | None:
        """Counts a 429 answer to ``ip``; returns the end of the ban it now earns, if any."""
        now = self._clock_ms()
        minute = now // 60_000
        m, n = self._violations.get(ip, (minute, 0))
        n = n + 1 if m == minute else 1
        self._violations[ip] = (minute, n)
        if n > self.ban_after:
            self._banned[ip] = now + self.ban_s * 1000
            return self._banned[ip]
        return None

    def retry_after_s(self) -> int:
        """Seconds until the current weight window ends (at least 1)."""
        return max(1, (60_000 - self._clock_ms() % 60_000 + 999) // 1000)

    def add_order(self, account: int) -> tuple[int, int, int]:
        """Counts a new order of ``account``; returns the 10-second, minute and day counts."""
        now = self._clock_ms()
        q = self._orders.setdefault(account, deque())
        q.append(now)
        while q and q[0] <= now - 60_000:
            q.popleft()
        in_10s = sum(1 for t in q if t > now - 10_000)
        day = now // 86_400_000
        d, n = self._orders_day.get(account, (day, 0))
        n = n + 1 if d == day else 1
        self._orders_day[account] = (day, n)
        return in_10s, len(q), n


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
        self.futures = SimFutures(
            master, config.usdm_maker_bps, config.usdm_taker_bps, config.funding_interval_s, self.now_ns()
        )
        self.keys = KeyRing(config.keys)
        for account in sorted({k.account for k in config.keys}):
            for asset, amount in config.balances.items():
                self.exchange.deposit(account, asset, amount)
            for asset, amount in config.usdm_balances.items():
                self.futures.deposit(account, asset, amount, self.now_ns())
        self.hub = streams.StreamHub(
            lambda symbol, n: self.exchange.depth({"symbol": symbol, "limit": str(n)})[1]
        )
        self.user_hub = ws_api.UserHub()
        self.ws_faults = ws_api.WsFaults()
        self.futures_hub = streams.StreamHub(
            lambda symbol, n: self.futures.partial_depth(symbol, n, self.now_ns()), usdm.FUTURES_KINDS
        )
        self.futures_users = usdm.FuturesUserHub()
        self.listen_keys = usdm.ListenKeys(self.now_ms)
        self.usdm_faults = usdm.UsdmFaults()
        self.spot_faults = rest.OrderFaults()
        self.limits = Limits(
            self.now_ms,
            config.weight_per_minute,
            config.orders_per_10s,
            config.ban_after_429s,
            config.ban_s,
        )
        if config.latency is not None:
            lat = config.latency
            self.exchange.set_latency(
                lat.entry_base_ns, lat.market_data_base_ns, lat.seed, lat.entry_jitter, lat.market_data_jitter
            )
        # Spot: the calibrated Rust generator (or a replay). USD-M: the random-walk flow (not calibrated).
        self.flow: LiquidityProvider | None = None  # set first: attaching the flow pumps
        self.flow = LiquidityProvider(self, config.flow) if config.flow is not None else None
        self.futures_flow: FuturesFlow | None = None
        if config.flow is not None and "DOGEUSDT" in self.futures.symbols():
            self.futures_flow = FuturesFlow(self, FuturesFlowConfig(seed=config.flow.seed))

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
        latency model releases it), and wakes the flow (a request may have changed what it does next)."""
        if self.flow is not None:
            self.flow.nudge()
        now = self.now_ns() if self.config.latency is not None else None
        for audience, payload in self.exchange.drain_events(now):
            if isinstance(audience, str):
                self.hub.publish(audience, payload)
            else:
                self.user_hub.publish(audience, payload)
        for audience, payload in self.futures.drain_events():
            if isinstance(audience, str):
                self.futures_hub.publish(audience, payload)
            else:
                self.futures_users.publish(audience, payload)

    def tick(self) -> None:
        """Publishes mark prices, settles any funding that is due, and pumps."""
        now = self.now_ns()
        self.futures.publish_marks(now)
        self.futures.settle_funding(now)
        self.pump()

    async def run_ticks(self) -> None:
        """Calls :meth:`tick` every ``mark_interval_s`` until cancelled."""
        while True:
            await asyncio.sleep(self.config.mark_interval_s)
            self.tick()

    def app(self) -> web.Application:
        """The aiohttp application."""
        app = web.Application()
        rest.routes(app, self)
        usdm.rest_routes(app, self)
        streams.routes(app, self.hub)
        ws_api.routes(app, self)
        return app

    def futures_app(self) -> web.Application:
        """The futures host's aiohttp application."""
        return usdm.futures_app(self)


@dataclass
class RunningVenue:
    """A started venue: its base URLs and how to stop it."""

    venue: SimVenue
    runner: web.AppRunner
    port: int
    flow_task: asyncio.Task[None] | None
    usdm_runner: web.AppRunner | None = None
    usdm_port: int = 0
    tasks: list[asyncio.Task[None]] = field(default_factory=list)

    @property
    def rest_url(self) -> str:
        """Base URL of the REST API (``http://127.0.0.1:PORT``)."""
        return f"http://{self.venue.config.host}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base URL of the streams (``ws://127.0.0.1:PORT``)."""
        return f"ws://{self.venue.config.host}:{self.port}"

    @property
    def usdm_rest_url(self) -> str:
        """Base URL of the futures host's REST API (``http://127.0.0.1:PORT``; paths ``/fapi/...``)."""
        return f"http://{self.venue.config.host}:{self.usdm_port}"

    @property
    def usdm_ws_url(self) -> str:
        """Base URL of the futures streams (``ws://127.0.0.1:PORT``; ``/ws``, ``/public``, ...)."""
        return f"ws://{self.venue.config.host}:{self.usdm_port}"

    def urls(self) -> dict[str, str]:
        """Every base URL and WebSocket path served, by name (what ``pymm venue --json`` prints)."""
        return {
            "spot_rest": f"{self.rest_url}/api/v3",
            "spot_ws": f"{self.ws_url}/ws",
            "spot_stream": f"{self.ws_url}/stream",
            "spot_ws_api": f"{self.ws_url}/ws-api/v3",
            "usdm_rest": f"{self.usdm_rest_url}/fapi",
            "usdm_ws": f"{self.usdm_ws_url}/ws",
            "usdm_ws_public": f"{self.usdm_ws_url}/public/ws",
            "usdm_ws_market": f"{self.usdm_ws_url}/market/ws",
            "usdm_ws_private": f"{self.usdm_ws_url}/private/ws",
            "usdm_ws_api": f"{self.usdm_ws_url}/ws-fapi/v1",
        }

    async def stop(self) -> None:
        """Stops the flow generators, the tick task and both servers."""
        tasks = [t for t in (self.flow_task, *self.tasks) if t is not None]
        for t in tasks:
            t.cancel()
        for t in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.usdm_runner is not None:
            await self.usdm_runner.cleanup()
        await self.runner.cleanup()


async def start_server(config: SimVenueConfig, clock_ns: Callable[[], int] = time.time_ns) -> RunningVenue:
    """Starts a venue on ``config.host:config.port`` and its futures host on ``config.usdm_port``
    (0: ephemeral ports) in the running loop."""
    venue = SimVenue(config, clock_ns)
    runner, port = await _serve(venue.app(), config.host, config.port)
    usdm_runner, usdm_port = await _serve(venue.futures_app(), config.host, config.usdm_port)
    flows = [asyncio.create_task(f.run()) for f in (venue.flow, venue.futures_flow) if f is not None]
    ticks = asyncio.create_task(venue.run_ticks())
    return RunningVenue(
        venue=venue,
        runner=runner,
        port=port,
        flow_task=flows[0] if flows else None,
        usdm_runner=usdm_runner,
        usdm_port=usdm_port,
        tasks=[*flows[1:], ticks],
    )


async def _serve(app: web.Application, host: str, port: int) -> tuple[web.AppRunner, int]:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    server = site._server  # aiohttp exposes the bound port only here
    bound = server.sockets[0].getsockname()[1] if server is not None and server.sockets else port
    return runner, bound
