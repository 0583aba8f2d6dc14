"""A real status source for the dashboard tests, until the supervisor's control API exists.

Nothing here is made up: a real simulated venue (``pymm.venues.sim.start_server`` with its seeded
liquidity provider and taker) trades; a small quoting client places our bid and ask at the venue's
touch through its REST API (HMAC-signed, like any client) and reads back our fills; the book top and
the trade prints come from the venue's WebSocket streams. VPIN, markouts and alerts are computed by
``pymm.monitor`` (``SymbolMonitor``) from those streams and fills; latency is the measured round trip
of our order requests (HDR histogram). The result is the ADR 0005 status JSON.

Only the *source* is test code: the dashboard, its proxy and the browser test are the product's. When
``pymm start`` serves ``/api/status`` the test switches its source and nothing else.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import json
import time
import urllib.parse
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from pymm.monitor.alerts import Alert, AlertEngine, VpinCdfRule
from pymm.monitor.markouts import Fill
from pymm.monitor.metrics import MonitorMetrics
from pymm.monitor.symbol_monitor import SymbolMonitor
from pymm.venues.sim import ApiKey
from pymm.venues.sim.server import RunningVenue

BASE, QUOTE = "DOGE", "USDT"


@dataclass
class _Book:
    bid: Decimal | None = None
    bid_qty: Decimal | None = None
    ask: Decimal | None = None
    ask_qty: Decimal | None = None

    @property
    def mid(self) -> Decimal | None:
        return None if self.bid is None or self.ask is None else (self.bid + self.ask) / 2


@dataclass
class _Position:
    qty: Decimal = Decimal(0)
    avg: Decimal = Decimal(0)
    realized: Decimal = Decimal(0)
    fees: Decimal = Decimal(0)

    def fill(self, side: int, qty: Decimal, price: Decimal) -> None:
        """Average-cost accounting of one fill (side +1 bought, -1 sold)."""
        signed = side * qty
        if self.qty == 0 or (self.qty > 0) == (side > 0):
            self.avg = (self.avg * abs(self.qty) + price * qty) / (abs(self.qty) + qty)
            self.qty += signed
            return
        closed = min(qty, abs(self.qty))
        direction = 1 if self.qty > 0 else -1
        self.realized += closed * (price - self.avg) * direction
        self.qty += signed
        if self.qty == 0:
            self.avg = Decimal(0)
        elif (self.qty > 0) != (direction > 0):
            self.avg = price


@dataclass
class SimRunStatus:
    """Quotes on a running simulated venue and reports the run as ADR 0005 status JSON."""

    venue: RunningVenue
    key: ApiKey
    symbol: str = "DOGEUSDT"
    quote_qty: str = "1000"
    position_limit: Decimal = Decimal(20000)
    max_open_orders: int = 10
    requote_s: float = 0.3
    book: _Book = field(default_factory=_Book)
    position: _Position = field(default_factory=_Position)
    quotes: list[dict[str, str]] = field(default_factory=list)
    orders: dict[str, int] = field(
        default_factory=lambda: dict.fromkeys(
            ("sent", "working", "unknown", "filled", "canceled", "rejected", "denied"), 0
        )
    )
    alerts: list[Alert] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.metrics = MonitorMetrics()
        engine = AlertEngine(self.metrics, vpin_rule=VpinCdfRule(min_history=10))
        # small buckets and n=10 so VPIN updates within seconds of the flow starting
        self.monitor = SymbolMonitor(
            self.symbol,
            metrics=self.metrics,
            alerts=engine,
            bucket_volume=2000.0,
            bar_ns=None,
            sample_length=10,
        )
        self.rtt = HdrHistogram(1_000, 60_000_000_000, 3)
        self._tasks: list[asyncio.Task[None]] = []
        self._session: aiohttp.ClientSession | None = None
        self._last_trade_id = -1
        self._placed: set[int] = set()

    # ---------------------------------------------------------------------------------------- client

    async def _call(self, method: str, path: str, params: dict[str, str]) -> tuple[int, Any]:
        assert self._session is not None
        q = dict(params, timestamp=str(int(time.time() * 1000)), recvWindow="5000")
        text = urllib.parse.urlencode(q)
        assert self.key.hmac_secret is not None
        sig = hmac.new(self.key.hmac_secret.encode(), text.encode(), hashlib.sha256).hexdigest()
        url = f"{self.venue.rest_url}{path}?{text}&signature={sig}"
        async with self._session.request(method, url, headers={"X-MBX-APIKEY": self.key.api_key}) as r:
            return r.status, await r.json()

    async def _requote(self) -> None:
        status, canceled = await self._call("DELETE", "/api/v3/openOrders", {"symbol": self.symbol})
        gone = (
            {int(o["orderId"]) for o in canceled} if status == 200 and isinstance(canceled, list) else set()
        )
        self.orders["canceled"] += len(gone & self._placed)
        # what we placed last round and is no longer open was filled in full
        self.orders["filled"] += len(self._placed - gone)
        self._placed = set()
        self.quotes = []
        bid, ask = self.book.bid, self.book.ask
        if bid is None or ask is None:
            return
        for side, price in (("BUY", bid), ("SELL", ask)):
            room = (
                self.position_limit - self.position.qty
                if side == "BUY"
                else self.position_limit + self.position.qty
            )
            if room < 2 * Decimal(self.quote_qty):  # one order may be filling while we requote
                self.orders["denied"] += 1
                continue
            params = {
                "symbol": self.symbol,
                "side": side,
                "type": "LIMIT",
                "timeInForce": "GTC",
                "price": str(price),
                "quantity": self.quote_qty,
            }
            t0 = time.perf_counter_ns()
            status, body = await self._call("POST", "/api/v3/order", params)
            self.rtt.record_value(max(1_000, time.perf_counter_ns() - t0))
            self.orders["sent"] += 1
            if status != 200:
                self.orders["rejected"] += 1
                continue
            self._placed.add(int(body["orderId"]))
            self.quotes.append(
                {
                    "side": side,
                    "price": str(body["price"]),
                    "qty": str(body["origQty"]),
                    "client_id": str(body["clientOrderId"]),
                    "state": str(body["status"]),
                }
            )
        self.orders["working"] = len(self._placed)

    async def _poll_fills(self) -> None:
        # the simulated venue answers the latest trades (no fromId yet): keep only the new ones
        status, trades = await self._call("GET", "/api/v3/myTrades", {"symbol": self.symbol, "limit": "1000"})
        if status != 200:
            return
        for t in sorted(trades, key=lambda t: int(t["id"])):
            if int(t["id"]) <= self._last_trade_id:
                continue
            self._last_trade_id = int(t["id"])
            side = 1 if t["isBuyer"] else -1
            qty, price = Decimal(t["qty"]), Decimal(t["price"])
            self.position.fill(side, qty, price)
            fee = Decimal(t["commission"])
            self.position.fees += fee * price if t["commissionAsset"] == BASE else fee
            self.monitor.on_fill(
                Fill(int(t["time"]) * 1_000_000, float(price), float(qty), side, int(t["id"]))
            )

    async def _quoter(self) -> None:
        while True:
            await self._poll_fills()
            await self._requote()
            self.alerts += self.monitor.on_timer(time.time_ns())
            await asyncio.sleep(self.requote_s)

    # ---------------------------------------------------------------------------------------- streams

    async def _streams(self) -> None:
        assert self._session is not None
        s = self.symbol.lower()
        url = f"{self.venue.ws_url}/stream?streams={s}@bookTicker/{s}@trade"
        async with self._session.ws_connect(url) as ws:
            async for msg in ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                data = json.loads(msg.data)["data"]
                now = time.time_ns()
                if data.get("e") == "trade":
                    self.alerts += self.monitor.on_trade(now, float(data["p"]), float(data["q"]))
                elif "b" in data and "a" in data:
                    self.book = _Book(
                        Decimal(data["b"]), Decimal(data["B"]), Decimal(data["a"]), Decimal(data["A"])
                    )
                    mid = self.book.mid
                    if mid is not None:
                        self.alerts += self.monitor.on_mid(now, float(mid))

    async def start(self) -> None:
        """Connect and start quoting (in the running loop)."""
        self._session = aiohttp.ClientSession()
        self._tasks = [asyncio.create_task(self._streams()), asyncio.create_task(self._quoter())]

    async def stop(self) -> None:
        """Stop quoting and close the client."""
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self._session is not None:
            await self._session.close()

    # ---------------------------------------------------------------------------------------- status

    def status(self) -> dict[str, Any]:
        """The run as ADR 0005 status JSON."""
        b, p = self.book, self.position
        mid = b.mid
        unrealized = p.qty * (mid - p.avg) if mid is not None and p.qty != 0 else Decimal(0)
        last = self.monitor.last_vpin
        markouts = {
            h: self.metrics.registry.get_sample_value(
                "pymm_fill_markout_ratio", {"symbol": self.symbol, "horizon": h}
            )
            for h in ("1s", "5s", "30s")
        }

        def text(v: Decimal | None) -> str | None:
            return None if v is None else str(v)

        return {
            "ts": time.time_ns(),
            "state": "quoting",
            "kill": {"latched": False, "latch_id": None, "reason": None, "approvals": []},
            "venue": {"kind": "sim", "rest": self.venue.rest_url, "ws_api": self.venue.ws_url},
            "instruments": [
                {
                    "venue": "binance-spot",
                    "symbol": self.symbol,
                    "book": {
                        "bid": text(b.bid),
                        "bid_qty": text(b.bid_qty),
                        "ask": text(b.ask),
                        "ask_qty": text(b.ask_qty),
                        "mid": text(mid),
                    },
                    "quotes": list(self.quotes),
                    "position": str(p.qty),
                    "avg_price": str(p.avg.quantize(Decimal("1e-8"))),
                    "pnl": {
                        "realized": str(p.realized),
                        "unrealized": str(unrealized),
                        "fees": str(p.fees),
                        "total": str(p.realized + unrealized - p.fees),
                    },
                    "orders": dict(self.orders),
                    "risk": {
                        "position_limit": str(self.position_limit),
                        "headroom_buy": str(self.position_limit - p.qty),
                        "headroom_sell": str(self.position_limit + p.qty),
                        "open_orders": len(self.quotes),
                        "max_open_orders": self.max_open_orders,
                    },
                }
            ],
            "latency_ns": {
                "rest_order_rtt": {
                    "count": self.rtt.get_total_count(),
                    "p50": self.rtt.get_value_at_percentile(50.0),
                    "p99": self.rtt.get_value_at_percentile(99.0),
                    "p999": self.rtt.get_value_at_percentile(99.9),
                    "max": self.rtt.get_max_value(),
                    "mean": self.rtt.get_mean_value(),
                }
            },
            "toxicity": {
                "vpin": last.vpin if last is not None else None,
                "markouts_bps": {h: (v * 1e4 if v is not None else None) for h, v in markouts.items()},
            },
            # The instance's schema (pymm/runtime/instance.py): Alert.to_json(), so the two cannot drift.
            "alerts": [a.to_json() for a in self.alerts[-50:]],
            "params": {"version": 0, "pushes": 0, "rate_hz": 0.0},
        }
