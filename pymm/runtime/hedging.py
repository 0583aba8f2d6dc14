"""The hedge leg of a running instance: spot fills → delta bus → hedge service → USD-M orders (#7).

Wiring (docs/hedging.md has the components):

- spot executions from the instance's drop copy and perp executions from the USD-M listenKey stream
  (``ORDER_TRADE_UPDATE``) are published on the :class:`~pymm.hedge.DeltaBus`; the perp's
  ``ORDER_TRADE_UPDATE`` also reports each hedge order's state to the service;
- the perp's ``bookTicker`` and ``markPrice`` streams feed :meth:`HedgeService.on_market`;
- hedge orders go out through :class:`~pymm.venues.binance_usdm.UsdmRestClient` on one worker thread
  (the client is synchronous; the loop never blocks on it) and its answers come back to the loop;
- at start the connector sets and verifies one-way mode, 1x leverage and the margin type, and the
  leg refuses to run otherwise;
- every 100 ms a timer drives the mode controller and records |net delta| for the 1% check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import aiohttp

from pymm._native import InstrumentMaster, RequestSigner
from pymm.config import HedgeConfig, InstrumentRef
from pymm.hedge import (
    DeltaBus,
    HedgeOrder,
    HedgeRouter,
    HedgeService,
    MarginType,
    Market,
    OrderStatus,
    OrderUpdate,
    PerpMarket,
    PositionBook,
    PositionKey,
)
from pymm.hedge.drop_copy import fill_from_execution_report, fill_from_order_trade_update
from pymm.venues.binance_usdm import UsdmRestClient, connect

__all__ = ["HedgeLeg"]

log = logging.getLogger("pymm.runtime.hedge")

_STATUS = {
    "NEW": OrderStatus.ACCEPTED,
    "PARTIALLY_FILLED": OrderStatus.ACCEPTED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}


class _ThreadSender:
    """The hedge service's :class:`OrderSender`: hands each call to one worker thread."""

    def __init__(self, client: UsdmRestClient) -> None:
        self.client = client
        self._q: queue.Queue[Callable[[], None] | None] = queue.Queue()
        self._t = threading.Thread(target=self._run, name="hedge-sender", daemon=True)
        self._t.start()

    def submit(self, order: HedgeOrder) -> None:
        self._q.put(lambda: self.client.submit(order))

    def cancel(self, client_order_id: str) -> None:
        self._q.put(lambda: self.client.cancel(client_order_id))

    def _run(self) -> None:
        while (job := self._q.get()) is not None:
            try:
                job()
            except Exception:
                log.exception("hedge order call failed")

    def close(self) -> None:
        self._q.put(None)
        self._t.join(5)


class HedgeLeg:
    """One spot → perp route, live on the simulated (or real) USD-M venue."""

    def __init__(
        self,
        cfg: HedgeConfig,
        spot: InstrumentRef,
        perp: InstrumentRef,
        urls: dict[str, Any],
        api_key: str,
        private_pem: str,
        max_inventory: Decimal,
    ) -> None:
        self.cfg, self.urls, self.api_key = cfg, urls, api_key
        self.spot_ref, self.perp_ref = spot, perp
        self.max_inventory = max_inventory
        self.signer = RequestSigner.ed25519_pem(private_pem)
        self.spot_inst = InstrumentMaster.from_toml(spot.definition).get(spot.symbol, "spot")
        self.perp_inst = InstrumentMaster.from_toml(perp.definition).get(perp.symbol, "usdm")
        self.base = self.spot_inst.base_asset
        self.bus = DeltaBus()
        self.book = PositionBook()
        self.service: HedgeService | None = None
        self.sender: _ThreadSender | None = None
        self.samples: deque[float] = deque(maxlen=36_000)  # |delta| / max inventory, every 100 ms
        self.fills = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._bid: Decimal | None = None
        self._ask: Decimal | None = None
        self._mark: Decimal | None = None

    async def start(self) -> None:
        """Verify the USD-M account (refuses to run otherwise), build the service, start the streams."""
        loop = asyncio.get_running_loop()
        base_url = str(self.urls["usdm_rest"]).removesuffix("/fapi")

        def on_update(u: OrderUpdate) -> None:
            loop.call_soon_threadsafe(self._order_update, u)

        client = UsdmRestClient(base_url, self.api_key, self.signer, on_update=on_update)
        account = await asyncio.to_thread(
            connect, client, self.perp_ref.symbol, MarginType(self.cfg.margin_type)
        )
        route = HedgeRouter.spot_to_perp(
            self.spot_inst, self.spot_ref.venue, self.perp_inst, self.perp_ref.venue
        ).route(self.base)
        # Hedge what we trade from now on: spot starts flat; the perp at the venue's position.
        self.book.set_opening(
            PositionKey(self.spot_ref.venue, Market.SPOT, self.spot_ref.symbol), Decimal(0), self.base
        )
        self.book.set_opening(route.hedge_key, account.position_amt, self.base)
        self.sender = _ThreadSender(client)
        self.service = HedgeService.from_config(
            self.cfg,
            route=route,
            account=account,
            bus=self.bus,
            book=self.book,
            sender=self.sender,
            clock=time.time_ns,
        )
        made = await asyncio.to_thread(client.request, "POST", "/fapi/v1/listenKey", None, signed=False)
        listen_key = str(made["listenKey"])
        self._tasks = [
            asyncio.create_task(self._market(), name="perp-market"),
            asyncio.create_task(self._user(listen_key), name="perp-user"),
            asyncio.create_task(self._timer(), name="hedge-timer"),
        ]

    def on_spot_execution(self, event: dict[str, Any]) -> None:
        """A spot ``executionReport`` from the drop copy."""
        fill = fill_from_execution_report(
            event, venue=self.spot_ref.venue, base_asset=self.base, ts_recv=time.time_ns()
        )
        if fill is not None:
            self.fills += 1
            self.bus.publish(fill)

    def _order_update(self, u: OrderUpdate) -> None:
        if self.service is not None:
            self.service.on_order_update(u)

    async def _market(self) -> None:
        sym = self.perp_ref.symbol.lower()
        base = str(self.urls["usdm_ws_market"]).removesuffix("/ws")
        url = f"{base}/stream?streams={sym}@bookTicker/{sym}@markPrice@1s"
        while True:
            try:
                async with aiohttp.ClientSession() as http, http.ws_connect(url, heartbeat=20.0) as ws:
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            continue
                        d = json.loads(msg.data).get("data", {})
                        if d.get("e") == "markPriceUpdate":
                            mark = Decimal(d["p"])
                            self._mark = mark if mark > 0 else None
                        elif "b" in d and "a" in d:
                            self._bid, self._ask = Decimal(d["b"]), Decimal(d["a"])
                        self._push_market()
            except (aiohttp.ClientError, OSError, ValueError) as e:
                log.warning("perp market stream: %s; reconnecting", e)
            await asyncio.sleep(0.5)

    def _push_market(self) -> None:
        if self.service is None or self._bid is None or self._ask is None:
            return
        if self._bid <= 0 or self._ask <= 0 or self._bid >= self._ask:
            return  # an empty or crossed side: no market to hedge against (stale data ages out)
        mark = self._mark if self._mark is not None else (self._bid + self._ask) / 2
        self.service.on_market(PerpMarket(self._bid, self._ask, mark, time.time_ns()))

    async def _user(self, listen_key: str) -> None:
        url = f"{self.urls['usdm_ws_private']}?listenKey={listen_key}"
        while True:
            try:
                async with aiohttp.ClientSession() as http, http.ws_connect(url, heartbeat=20.0) as ws:
                    async for msg in ws:
                        if msg.type == aiohttp.WSMsgType.TEXT:
                            self._on_user(json.loads(msg.data))
            except (aiohttp.ClientError, OSError, ValueError) as e:
                log.warning("perp user stream: %s; reconnecting", e)
            await asyncio.sleep(0.5)

    def _on_user(self, event: dict[str, Any]) -> None:
        if event.get("e") != "ORDER_TRADE_UPDATE" or self.service is None:
            return
        fill = fill_from_order_trade_update(
            event, venue=self.perp_ref.venue, base_asset=self.base, ts_recv=time.time_ns()
        )
        if fill is not None:
            self.bus.publish(fill)
        o = event["o"]
        status = _STATUS.get(str(o.get("X")))
        if status is not None and o.get("c"):
            cum, ts = Decimal(str(o.get("z", "0"))), int(o.get("T", 0)) * 1_000_000
            self.service.on_order_update(OrderUpdate(str(o["c"]), status, cum, ts))

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            if self.service is None:
                continue
            self.service.on_timer(time.time_ns())
            self.samples.append(float(abs(self.service.position_delta()) / self.max_inventory))

    def status(self) -> dict[str, Any]:
        """The status screen's hedge block."""
        svc = self.service
        if svc is None:
            return {"state": "starting"}
        lat = sorted(svc.latencies_ns)
        within = sum(1 for x in self.samples if x <= 0.01)
        return {
            "delta": str(svc.position_delta()),
            "perp_position": str(svc.perp_position_worst()),
            "mode": str(svc.last_decision.mode) if svc.last_decision is not None else None,
            "in_flight": len(svc.in_flight),
            "intents": len(svc.intents),
            "spot_fills": self.fills,
            "within_1pct_of_max_inventory": (within / len(self.samples)) if self.samples else None,
            "samples": len(self.samples),
            "fill_to_intent_ns": {
                "count": len(lat),
                "p50": lat[len(lat) // 2] if lat else 0,
                "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0,
                "max": lat[-1] if lat else 0,
            },
            "last_refusal": svc.last_refusal,
        }

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.sender is not None:
            await asyncio.to_thread(self.sender.close)
