"""The hedge leg of a running instance: spot fills → delta bus → hedge service → USD-M orders (#7).

Wiring (docs/hedging.md has the components):

- spot executions from the instance's drop copy and perp executions from the USD-M listenKey stream
  (``ORDER_TRADE_UPDATE``) are published on the :class:`~pymm.hedge.DeltaBus`; with the Python
  sender the perp's ``ORDER_TRADE_UPDATE`` also reports each hedge order's state to the service;
- the perp's ``bookTicker`` and ``markPrice`` streams feed :meth:`HedgeService.on_market`;
- hedge orders go out through one of two senders (``[hedge] gateway``):

  - ``"python"``: :class:`~pymm.venues.binance_usdm.UsdmLoopSender`: the order is signed and written
    to a kept-alive HTTP connection inside the drop-copy callback that delivered the fill (no thread
    hand-off, no task, no timer); its answer comes back on the loop, and the leg's own
    ``ORDER_TRADE_UPDATE`` handler reports the orders' states;
  - ``"native"``: :class:`~pymm.runtime.usdm_native.UsdmNativeSender` over
    :class:`pymm._native.UsdmGateway` (pre-trade risk, client ids unique forever, UNKNOWN resolved by
    the gateway's own user stream or queries and never resent, the venue's rate headers): the
    callback queues the order for the sender's worker thread, which hands it to the gateway; the
    orders' states come from the gateway's events only, the fills (the position) from the leg's own
    ``ORDER_TRADE_UPDATE`` stream only, with the gateway's client ids mapped back to the service's
    (a fill that arrives before its order's id is known waits for it) — so neither is counted twice;
- every hedge order a fill prompts is traced hop by hop (venue execution → our WebSocket receive →
  hedge decision → request written → venue receipt) into HDR histograms (:class:`HopTrace`);
- at start the connector sets and verifies one-way mode, 1x leverage and the margin type, and the
  leg refuses to run otherwise;
- every 100 ms a timer drives the mode controller and records |net delta| for the 1% check.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import threading
import time
from collections import deque
from dataclasses import dataclass, field, replace
from decimal import ROUND_HALF_EVEN, Decimal
from pathlib import Path
from typing import Any

import aiohttp
from hdrh.histogram import HdrHistogram

from pymm._native import InstrumentMaster, RequestSigner, UsdmGateway
from pymm.config import HedgeConfig, InstrumentRef
from pymm.hedge import (
    DeltaBus,
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
from pymm.hedge.delta_bus import Fill
from pymm.hedge.drop_copy import fill_from_execution_report, fill_from_order_trade_update
from pymm.runtime.usdm_native import UsdmNativeSender, gateway_config
from pymm.venues.binance_usdm import UsdmLoopSender, UsdmRestClient, connect

__all__ = ["HedgeLeg", "HopTrace"]

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


_US = 1_000
_VENUE_STAMPED = frozenset(
    {OrderStatus.ACCEPTED, OrderStatus.FILLED, OrderStatus.EXPIRED, OrderStatus.CANCELED}
)


@dataclass(slots=True)
class _Hops:
    """One fill-prompted hedge order's stamps, ns since the epoch (0: not yet)."""

    exec_ns: int
    recv_ns: int
    intent_ns: int
    written_ns: int = 0


@dataclass
class HopTrace:
    """Where the time from a spot fill to its hedge order goes, hop by hop, as HDR histograms (µs).

    Hops: ``exec_to_recv`` (the venue's execution time ``T`` — milliseconds, so up to 1 ms early — to
    our WebSocket receive: the venue's publish and the drop-copy stream), ``recv_to_intent`` (parse,
    delta bus, hedge decision), ``intent_to_written`` (to the ``written`` stamp: with the Python
    sender the signed request handed to the kernel; with the native gateway the order handed to the
    gateway's thread, which then checks risk, signs and writes without reporting when —
    :attr:`written_means` says which), ``recv_to_written`` (our part: receipt of the fill → hedge
    order leaving), ``exec_to_written`` (end to end), ``written_to_venue`` (to the venue's
    ``updateTime`` of the answer, milliseconds), ``exec_to_venue`` (the spot fill's venue time to the
    hedge order's venue time: both on the venue's clock, so comparable across senders whatever
    ``written`` means).
    Only orders issued in the callback of the fill itself are traced; an intent a fill did not prompt
    at once (in band, refused by the governor, waiting for a cancel, then sent on a timer or market
    data) is policy, not latency; the hedge block counts those as ``deferred``.
    """

    hists: dict[str, HdrHistogram] = field(
        default_factory=lambda: {
            name: HdrHistogram(1, 60_000_000, 3)
            for name in (
                "exec_to_recv",
                "recv_to_intent",
                "intent_to_written",
                "recv_to_written",
                "exec_to_written",
                "written_to_venue",
                "exec_to_venue",
            )
        }
    )
    written_means: str = "kernel"
    open: dict[str, _Hops] = field(default_factory=dict)
    early: dict[str, int] = field(default_factory=dict)
    traced: int = 0

    def intent(self, cid: str, exec_ns: int, recv_ns: int, intent_ns: int) -> None:
        """A hedge order decided in a fill's callback (its request may already be written)."""
        self.open[cid] = h = _Hops(exec_ns, recv_ns, intent_ns)
        self.traced += 1
        for d in (self.open, self.early):
            if len(d) > 10_000:  # answers that never came, intents no fill prompted: keep the newest
                d.pop(next(iter(d)))
        written = self.early.pop(cid, None)
        if written is not None:
            self._written(h, written)

    def written(self, cid: str, ns: int) -> None:
        """A request was handed to the kernel (the sender calls this inside ``submit``, before the
        hedge leg learns which fill the order belongs to)."""
        h = self.open.get(cid)
        if h is None:
            self.early[cid] = ns
        elif not h.written_ns:
            self._written(h, ns)

    def _written(self, h: _Hops, ns: int) -> None:
        h.written_ns = ns
        self._rec("exec_to_recv", h.recv_ns - h.exec_ns)
        self._rec("recv_to_intent", h.intent_ns - h.recv_ns)
        self._rec("intent_to_written", ns - h.intent_ns)
        self._rec("recv_to_written", ns - h.recv_ns)
        self._rec("exec_to_written", ns - h.exec_ns)

    def venue(self, cid: str, venue_ns: int) -> None:
        """The venue's time on its answer to the order."""
        h = self.open.pop(cid, None)
        if h is not None and h.written_ns:
            self._rec("written_to_venue", venue_ns - h.written_ns)
            self._rec("exec_to_venue", venue_ns - h.exec_ns)

    def _rec(self, name: str, ns: int) -> None:
        self.hists[name].record_value(max(ns, 0) // _US)

    def summary(self) -> dict[str, Any]:
        """Count, p50, p99, p99.9 and max of each hop in µs, and each hop's share of the end-to-end
        median."""
        out: dict[str, Any] = {"traced": self.traced, "unit": "us", "written": self.written_means}
        for name, h in self.hists.items():
            p = h.get_percentile_to_value_dict([50.0, 99.0, 99.9])
            out[name] = {
                "count": h.get_total_count(),
                "p50": p.get(50.0, 0),  # an empty histogram has no percentiles
                "p99": p.get(99.0, 0),
                "p999": p.get(99.9, 0),
                "max": h.get_max_value(),
            }
        total = out["exec_to_written"]["p50"]
        if total:
            out["share_of_p50"] = {
                n: round(out[n]["p50"] / total, 3)
                for n in ("exec_to_recv", "recv_to_intent", "intent_to_written")
            }
        return out

    def encoded(self) -> dict[str, str]:
        """Each histogram in HdrHistogram's compressed base64 form (for ``hdr-plot`` and friends)."""
        return {name: h.encode().decode() for name, h in self.hists.items()}


_REFERENCE_EVERY_NS = 100_000_000  # the native gateway's reference price: at most every 100 ms
_REFERENCE_MAX_AGE_NS = 1_000_000_000  # ... and at least every second (risk refuses a stale one)


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
        state_dir: Path | None = None,
        gateway_options: dict[str, Any] | None = None,
    ) -> None:
        """``state_dir`` holds the native gateway's client-id file (required for ``gateway =
        "native"``); ``gateway_options`` overrides its config keys (e.g. ``user_ws``)."""
        if cfg.gateway == "native" and state_dir is None:
            raise ValueError("the native hedge gateway needs a state directory for its client ids")
        self.cfg, self.urls, self.api_key = cfg, urls, api_key
        self.private_pem = private_pem
        self.state_dir = state_dir
        self.gateway_options = dict(gateway_options or {})
        self.spot_ref, self.perp_ref = spot, perp
        self.max_inventory = max_inventory
        self.signer = RequestSigner.ed25519_pem(private_pem)
        self.spot_inst = InstrumentMaster.from_toml(spot.definition).get(spot.symbol, "spot")
        self.perp_inst = InstrumentMaster.from_toml(perp.definition).get(perp.symbol, "usdm")
        self.base = self.spot_inst.base_asset
        self.bus = DeltaBus()
        self.book = PositionBook()
        self.service: HedgeService | None = None
        self.sender: UsdmLoopSender | UsdmNativeSender | None = None
        self.native: UsdmNativeSender | None = None
        self.hops = HopTrace(written_means="kernel" if cfg.gateway == "python" else "gateway")
        self.unknown_updates = 0
        # Perp fills of the native gateway's orders whose id is not mapped yet: venue text → fills.
        self._parked: dict[str, list[tuple[int, Fill]]] = {}
        self._ref_sent: Decimal | None = None
        self._ref_ns = 0
        self.samples: deque[float] = deque(maxlen=36_000)  # |delta| / max inventory, every 100 ms
        self.fills = 0
        self._tasks: list[asyncio.Task[None]] = []
        self._bid: Decimal | None = None
        self._ask: Decimal | None = None
        self._mark: Decimal | None = None
        self._halted: str | None = None

    async def start(self) -> None:
        """Verify the USD-M account (refuses to run otherwise), build the service, start the streams."""
        loop = asyncio.get_running_loop()
        loop_thread = threading.get_ident()
        base_url = str(self.urls["usdm_rest"]).removesuffix("/fapi")

        def on_update(u: OrderUpdate) -> None:
            # The start-up check runs on a thread; hedge order answers come on the loop.
            if threading.get_ident() == loop_thread:
                self._order_update(u)
            else:
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
        if self.cfg.gateway == "native":
            self.native = await self._start_native(base_url, account.position_amt, client, on_update)
            self.sender = self.native
        else:
            self.sender = UsdmLoopSender(client, on_written=self.hops.written)
            await self.sender.start()
        self.service = HedgeService.from_config(
            self.cfg,
            route=route,
            account=account,
            bus=self.bus,
            book=self.book,
            sender=self.sender,
            clock=time.time_ns,
        )
        if self._halted is not None:
            self.service.halt(self._halted)
        made = await asyncio.to_thread(client.request, "POST", "/fapi/v1/listenKey", None, signed=False)
        listen_key = str(made["listenKey"])
        self._tasks = [
            asyncio.create_task(self._market(), name="perp-market"),
            asyncio.create_task(self._user(listen_key), name="perp-user"),
            asyncio.create_task(self._timer(), name="hedge-timer"),
        ]

    def halt(self, reason: str) -> None:
        """The kill switch reached the hedge leg: no new hedge order, resting ones cancelled at the
        venue (:meth:`HedgeService.halt`); also before :meth:`start` (a latched restart)."""
        self._halted = reason
        if self.service is not None:
            self.service.halt(reason)

    def resume(self) -> None:
        """The latch was lifted by two operators: hedge again."""
        self._halted = None
        if self.service is not None:
            self.service.resume()

    @property
    def halted(self) -> str | None:
        """Why the hedge leg is halted (the kill latch's reason), or ``None``."""
        return self._halted

    async def _start_native(
        self,
        base_url: str,
        position: Decimal,
        client: UsdmRestClient,
        on_update: Any,
    ) -> UsdmNativeSender:
        """The native gateway (its thread connects the REST host and its own user stream) and the
        sender over it; risk gets the venue's position now and the perp's mid from the market data."""
        loop = asyncio.get_running_loop()
        cfg, perp = self.cfg, self.perp_inst
        assert self.state_dir is not None
        mark: Decimal | None = None
        if cfg.max_order_notional is None or cfg.max_position_notional is None:
            idx = await asyncio.to_thread(
                client.request, "GET", "/fapi/v1/premiumIndex", {"symbol": perp.symbol}, signed=False
            )
            mark = Decimal(str(idx["markPrice"]))
            if mark <= 0:
                raise ValueError(f"no mark price for {perp.symbol}: set [hedge] max_*_notional")
        order_notional = cfg.max_order_notional or cfg.max_order_qty * 2 * (mark or Decimal(0))
        position_notional = cfg.max_position_notional or cfg.max_position_qty * 2 * (mark or Decimal(0))
        risk = {
            "max_order_qty": str(cfg.max_order_qty),
            "max_order_notional": str(order_notional.quantize(Decimal(1))),
            # Twice the widest collar the planner uses around the mid the gateway also sees.
            "price_collar_bps": int(2 * max(cfg.collar_bps, cfg.emergency_collar_bps)) + 10,
            "max_long": str(cfg.max_position_qty),
            "max_short": str(cfg.max_position_qty),
            "max_position_notional": str(position_notional.quantize(Decimal(1))),
            # Resting passive orders and cancels waiting for their answer: more than the governor allows.
            "max_open_orders": 4 * cfg.burst,
            "venue_orders_per_second": max(8, int(2 * cfg.max_orders_per_s) + 1),
            "venue_orders_burst": max(40, 2 * cfg.burst),
        }
        gcfg = gateway_config(
            rest_url=base_url,
            user_ws_url=str(self.urls["usdm_ws_private"]),
            api_key=self.api_key,
            private_pem=self.private_pem,
            instrument={
                "symbol": perp.symbol,
                "tick": perp.tick_size,
                "lot": perp.step_size,
                "base_asset": perp.base_asset,
                "quote_asset": perp.quote_asset,
            },
            risk=risk,
            client_id_file=str(self.state_dir / "usdm_client_ids"),
            request_timeout_ms=cfg.gateway_request_timeout_ms,
        )
        gcfg.update(self.gateway_options)
        gateway = await asyncio.to_thread(UsdmGateway, gcfg)

        def on_written(cid: str, ns: int) -> None:
            loop.call_soon_threadsafe(self.hops.written, cid, ns)

        def on_mapped(venue_text: str, cid: str) -> None:
            loop.call_soon_threadsafe(self._mapped, venue_text, cid)

        sender = UsdmNativeSender(gateway, on_update=on_update, on_written=on_written, on_mapped=on_mapped)
        sender.set_position(position)
        return sender

    def on_spot_execution(self, event: dict[str, Any], ts_recv: int | None = None) -> None:
        """A spot ``executionReport`` from the drop copy (``ts_recv``: when its frame was read).

        The hedge order it prompts, if any, is decided and written to the venue's connection before
        this returns."""
        recv = ts_recv if ts_recv is not None else time.time_ns()
        fill = fill_from_execution_report(
            event, venue=self.spot_ref.venue, base_asset=self.base, ts_recv=recv
        )
        if fill is None:
            return
        self.fills += 1
        svc = self.service
        before = svc.stats.intents if svc is not None else 0
        self.bus.publish(fill)
        if svc is not None and svc.stats.intents > before:
            for order in list(svc.intents)[before - svc.stats.intents :]:
                self.hops.intent(order.client_order_id, fill.ts_event, recv, order.ts_intent)

    def _order_update(self, u: OrderUpdate) -> None:
        if u.status is OrderStatus.UNKNOWN:
            self.unknown_updates += 1
        if u.status in _VENUE_STAMPED:
            self.hops.venue(u.client_order_id, u.ts_event)
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
        now = time.time_ns()
        if self.native is not None:
            self._send_reference(now)  # queued before any order this market data prompts
        self.service.on_market(PerpMarket(self._bid, self._ask, mark, now))

    def _send_reference(self, now: int) -> None:
        """The perp's mid on the tick grid to the native gateway's risk (collar, notional): when it
        changed, at most every 100 ms, and at least every second."""
        if self.native is None or self._bid is None or self._ask is None or self._bid >= self._ask:
            return
        tick = Decimal(self.perp_inst.tick_size)
        mid = ((self._bid + self._ask) / 2 / tick).to_integral_value(ROUND_HALF_EVEN) * tick
        age = now - self._ref_ns
        if (mid != self._ref_sent and age >= _REFERENCE_EVERY_NS) or age >= _REFERENCE_MAX_AGE_NS:
            self._ref_sent, self._ref_ns = mid, now
            self.native.set_reference(mid)

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
        o = event["o"]
        if self.native is not None:
            # Fills only: the orders' states come from the gateway's events (one ordered source).
            if fill is not None:
                self._native_fill(fill, str(o.get("c") or ""))
            return
        if fill is not None:
            self.bus.publish(fill)
        status = _STATUS.get(str(o.get("X")))
        if status is not None and o.get("c"):
            cum, ts = Decimal(str(o.get("z", "0"))), int(o.get("T", 0)) * 1_000_000
            self.service.on_order_update(OrderUpdate(str(o["c"]), status, cum, ts))

    def _native_fill(self, fill: Fill, venue_text: str) -> None:
        """A perp fill under the gateway's client id: booked under the service's id, or parked until
        the sender has mapped it (the stream can beat ``place``'s answer)."""
        assert self.native is not None
        sid = self.native.service_client_id(venue_text)
        if sid is not None:
            self.bus.publish(replace(fill, client_order_id=sid))
        elif venue_text and self.native.is_ours(venue_text):
            self._parked.setdefault(venue_text, []).append((time.monotonic_ns(), fill))
        else:
            self.bus.publish(fill)  # not sent by this leg (an operator's order): a position change

    def _mapped(self, venue_text: str, cid: str) -> None:
        for _, fill in self._parked.pop(venue_text, []):
            self.bus.publish(replace(fill, client_order_id=cid))

    def _expire_parked(self) -> None:
        """Fills of gateway ids never mapped in this run (an order an earlier run left resting) are
        booked as they are once the request timeout has passed twice: the position changed."""
        limit = time.monotonic_ns() - 2 * self.cfg.gateway_request_timeout_ms * 1_000_000
        for text in [t for t, fills in self._parked.items() if fills[0][0] < limit]:
            log.warning("perp fill of %s: not an order of this run; booked unmatched", text)
            for _, fill in self._parked.pop(text):
                self.bus.publish(fill)

    async def _timer(self) -> None:
        while True:
            await asyncio.sleep(0.1)
            if self.service is None:
                continue
            now = time.time_ns()
            if self.native is not None:
                self._send_reference(now)
                if self._parked:
                    self._expire_parked()
            self.service.on_timer(now)
            self.samples.append(float(abs(self.service.position_delta()) / self.max_inventory))

    def status(self, *, detail: bool = False) -> dict[str, Any]:
        """The status screen's hedge block; ``detail`` adds the latency histograms' percentiles and
        the histograms themselves (milliseconds of work: not for the 100 ms guard loop)."""
        svc = self.service
        if svc is None:
            return {"state": "starting"}
        within = sum(1 for x in self.samples if x <= 0.01)
        out: dict[str, Any] = {
            "gateway": self.cfg.gateway,
            "delta": str(svc.position_delta()),
            "perp_position": str(svc.perp_position_worst()),
            "perp_booked": str(self.book.position(svc.route.hedge_key)),
            "unknown_updates": self.unknown_updates,
            "mode": str(svc.last_decision.mode) if svc.last_decision is not None else None,
            "in_flight": len(svc.in_flight),
            "intents": len(svc.intents),
            "spot_fills": self.fills,
            "within_1pct_of_max_inventory": (within / len(self.samples)) if self.samples else None,
            "samples": len(self.samples),
            "last_refusal": svc.last_refusal,
            "halted": svc.halted,
        }
        if self.native is not None:
            st = self.native.last_status
            out["native"] = {
                "refusals": dict(self.native.refusals),
                "parked_fills": sum(len(f) for f in self._parked.values()),
                **{
                    k: st.get(k)
                    for k in ("orders_sent", "unknown", "unknown_resolved", "unknown_now", "denied")
                },
            }
        if detail:
            lat = sorted(svc.latencies_ns)
            out["fill_to_intent_ns"] = {
                "count": len(lat),
                "p50": lat[len(lat) // 2] if lat else 0,
                "p99": lat[min(len(lat) - 1, int(0.99 * len(lat)))] if lat else 0,
                "max": lat[-1] if lat else 0,
            }
            out["hops"] = {
                **self.hops.summary(),
                "deferred": svc.stats.intents - self.hops.traced,
                "load_avg": os.getloadavg(),
                "hdr": self.hops.encoded(),
            }
        return out

    async def close(self) -> None:
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await t
        if self.native is not None:
            await asyncio.to_thread(self.native.close)
        elif isinstance(self.sender, UsdmLoopSender):
            await self.sender.close()
