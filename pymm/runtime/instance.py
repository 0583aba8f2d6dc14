"""The running instance behind ``pymm start`` (ADR 0005).

One asyncio loop supervises everything slow; the Rust engine trades on its own pinned thread:

- the simulated venue, as a child process (unless the config names a real venue);
- the engine (``pymm._native.Engine``), one session per quoted spot instrument;
- the parameter loop: the pricing manager computes half-spread and skew from the live book and trades
  and pushes them to the engine's parameter block at ``[quoting] push_hz``;
- the event loop: engine events → monitor (markouts, VPIN) and counters;
- the drop copy: a second WebSocket-API session whose user-data stream folds every execution, with
  its exact commission, into the :class:`Portfolio` (position and PnL that reconcile with the venue);
- guards: a loss beyond ``[risk] max_loss``, an engine/drop-copy position break longer than
  ``reconcile_break_ms``, or the engine's repeated-execution throttle (``max_fills_in_window`` fills
  within ``fill_window_ms``) latches the kill switch (the metric-triggered kill);
- the control API and the dashboard on ``[control]``, the Prometheus exporter on ``[metrics]``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import signal
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import aiohttp
from aiohttp import web

from pymm.config import Config, InstrumentRef, RiskConfig
from pymm.errors import PymmError
from pymm.instruments import load_instrument
from pymm.monitor.alerts import Alert, AlertEngine, Severity
from pymm.monitor.markouts import Fill as MarkoutFill
from pymm.monitor.metrics import InstrumentScale, MonitorMetrics, TradingMetrics
from pymm.monitor.symbol_monitor import SymbolMonitor
from pymm.pricing.manager import MarketState, PricingConfig, PricingManager
from pymm.runtime.kill import Approval, KillError, KillLatch
from pymm.runtime.portfolio import Portfolio
from pymm.runtime.state import NotRunningError, RunInfo, StateDir
from pymm.runtime.venue_proc import VenueProcess, attach_or_start_venue, ensure_run_key
from pymm.runtime.wsapi import WsApiClient

__all__ = ["Instance", "SessionView", "core_layout", "risk_limits", "set_aside_journal"]

log = logging.getLogger("pymm.runtime")

ANCHOR = {"mid": 2, "micro": 1}


@dataclass
class SessionView:
    """Python's view of one quoted instrument."""

    ref: InstrumentRef
    tick: Decimal
    lot: Decimal
    base_asset: str
    quote_asset: str
    portfolio: Portfolio
    pricing: PricingManager
    monitor: SymbolMonitor
    bid: Decimal | None = None
    ask: Decimal | None = None
    bid_qty: Decimal = Decimal(0)
    ask_qty: Decimal = Decimal(0)
    counters: dict[str, int] = field(default_factory=dict)
    break_since: float | None = None
    engine_offset: Decimal | None = None
    """The engine's position when this run began (recovered from the journal after a restart); the
    drop copy counts this run's fills only, so the break check compares the engine's change."""


class Instance:
    """Everything ``pymm start`` runs, until ``stop``."""

    def __init__(self, cfg: Config, *, cores: str | None, state: StateDir, seed: int = 7) -> None:
        if cfg.risk is None or cfg.quoting is None:
            missing = [n for n, v in (("risk", cfg.risk), ("quoting", cfg.quoting)) if v is None]
            raise PymmError(f"the config has no [{'] and ['.join(missing)}] section: nothing is quoted")
        self.cfg = cfg
        self.risk = cfg.risk
        self.quoting = cfg.quoting
        self.cores = cores
        self.state = state.ensure()
        self.seed = seed
        self.latch = KillLatch(self.state, cfg.operators)
        self.metrics = MonitorMetrics()
        self.trading_metrics = TradingMetrics(self.metrics.registry)
        self._scales: dict[int, InstrumentScale] = {}
        self.alerts_engine = AlertEngine(self.metrics)
        self.alerts: list[Alert] = []
        self._journal_alerted = False
        self.venue: VenueProcess | None = None
        self.engine: Any = None
        self.dropcopy: WsApiClient | None = None
        self.hedge: Any = None
        self.sessions: list[SessionView] = []
        self.pushes = 0
        self.push_version = 0
        self.push_started = time.monotonic()
        self.state_name = "starting"
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._runner: web.AppRunner | None = None
        self.control_url = ""
        self.metrics_url: str | None = None
        self.started_ns = time.time_ns()

    # ---------------------------------------------------------------- start

    async def start(self) -> None:
        """Bring every part up; on failure, tear down what started and raise.

        Raises:
            PymmError: another instance runs on this state directory (nothing is touched), or a part
                failed to start.
        """
        try:
            info = self.state.read_run()
        except NotRunningError:
            pass
        else:
            raise PymmError(f"pymm already runs on {self.state.path} (pid {info.pid}, {info.control_url})")
        try:
            await self._start()
        except BaseException:
            await self.shutdown()
            raise

    async def _start(self) -> None:
        key = ensure_run_key(self.state)
        self.venue = await asyncio.to_thread(attach_or_start_venue, self.state, key, seed=self.seed)
        spot = [r for r in self.cfg.instruments if r.market == "spot"]
        if not spot:
            raise PymmError("no spot instrument in the config: nothing to quote")
        for ref in spot:
            self.sessions.append(self._session_view(ref))
        from pymm._native import Engine

        latched = self.latch.read()
        engine_cfg = self._engine_config(key.api_key, key.private_pem)
        # Crash recovery (#11): a venue a killed predecessor left running still holds that run's
        # orders and fills, so the engine replays its journal (orders in flight become UNKNOWN,
        # the kill latch and client-id mark are kept), reconciles with the venue, then quotes. A
        # new venue knows nothing of the old journal: it is set aside and a fresh one begins.
        if self.venue.attached:
            engine_cfg["recover"] = True
        else:
            set_aside_journal(self.state)
        self.engine = Engine(engine_cfg)
        # Parameters first: a latched restart starts with quoting disabled, then latches the engine
        # before its first quote (it stays killed until two operators approve).
        self._push_params(enabled=not latched.latched)
        self.engine.start()
        if latched.latched:
            self.engine.kill(latched.reason or "latched", 0.0)
        self.dropcopy = WsApiClient(
            self.venue.url("spot_ws_api"), key.api_key, key.private_pem, self._on_exec
        )
        await self.dropcopy.connect()
        if self.cfg.hedge is not None:
            await self._start_hedge(key.api_key, key.private_pem)
            if latched.latched:
                self.hedge.halt(latched.reason or "latched")
        await self._serve(
            self.venue.urls,
            latched=latched.latched,
            loops={
                "params": self._param_loop(),
                "events": self._event_loop(),
                "trades": self._trade_stream(),
                "guards": self._guard_loop(),
            },
        )

    async def _serve(
        self, venue_urls: dict[str, Any], *, latched: bool, loops: dict[str, Coroutine[Any, Any, None]]
    ) -> None:
        """The common tail of a market's start: control API, metrics, ``run.json``, signals, loops."""
        await self._start_control()
        self._start_metrics()
        self.state.write_run(
            RunInfo(
                pid=os.getpid(),
                control_url=self.control_url,
                metrics_url=self.metrics_url,
                dashboard_url=self.control_url + "/",
                venue=venue_urls,
            )
        )
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGTERM, signal.SIGINT):
            with contextlib.suppress(NotImplementedError, RuntimeError):
                loop.add_signal_handler(sig, self._stop.set)
        self._tasks = [asyncio.create_task(c, name=n) for n, c in loops.items()]
        self.state_name = "halted" if latched else "quoting"

    async def _start_hedge(self, api_key: str, private_pem: str) -> None:
        from pymm.runtime.hedging import HedgeLeg

        assert self.cfg.hedge is not None and self.venue is not None
        h = self.cfg.hedge
        perp = next(r for r in self.cfg.instruments if r.venue == h.hedge_venue and r.market == "usdm")
        spot = self.sessions[0].ref
        self.hedge = HedgeLeg(
            h,
            spot,
            perp,
            self.venue.urls,
            api_key,
            private_pem,
            self.quoting.max_inventory,
            state_dir=self.state.path,
        )
        await self.hedge.start()

    def _session_view(self, ref: InstrumentRef) -> SessionView:
        inst = load_instrument(ref)
        lot = Decimal(inst.step_size)
        self._scales[int(inst.id)] = InstrumentScale(ref.symbol, float(inst.tick_size), float(lot))
        return self._new_session(ref, Decimal(inst.tick_size), lot, inst.base_asset, inst.quote_asset)

    def _new_session(
        self, ref: InstrumentRef, tick: Decimal, lot: Decimal, base_asset: str, quote_asset: str
    ) -> SessionView:
        """Python's side of one quoted instrument: pricing manager, monitor, portfolio."""
        q = self.quoting
        pricing = PricingManager(
            PricingConfig(
                gamma=q.gamma,
                max_inventory=float(q.max_inventory / lot),
                order_size=max(int(q.order_size / lot), 1),
                model=q.model,
                fair_value="mid",
                min_spread_ticks=2 * q.min_half_spread_ticks,
            )
        )
        monitor = SymbolMonitor(
            ref.symbol,
            metrics=self.metrics,
            alerts=self.alerts_engine,
            bucket_volume=float(q.order_size) * 20,
            bar_ns=1_000_000_000,
        )
        return SessionView(
            ref=ref,
            tick=tick,
            lot=lot,
            base_asset=base_asset,
            quote_asset=quote_asset,
            portfolio=Portfolio(base_asset, quote_asset),
            pricing=pricing,
            monitor=monitor,
        )

    def _engine_config(self, api_key: str, private_pem: str) -> dict[str, Any]:
        assert self.venue is not None
        r = self.risk
        s = self.sessions[0]
        return {
            "market_ws": self.venue.url("spot_ws"),
            "rest": self.venue.url("spot_rest").removesuffix("/api/v3"),
            "ws_api": self.venue.url("spot_ws_api"),
            "api_key": api_key,
            "ed25519_private_pem": private_pem,
            "instrument": str(s.ref.definition),
            **core_layout(self.cores),
            "client_id_file": str(self.state.client_id_file),
            "client_prefix": "pm",
            "journal_dir": str(self.state.journal_dir),
            "order_timeout_ms": r.order_timeout_ms,
            "risk": risk_limits(r),
        }

    # ---------------------------------------------------------------- loops

    def _params_dict(self, s: SessionView, enabled: bool) -> dict[str, int]:
        q = self.quoting
        lot = s.lot
        out = {
            "enabled": 1 if enabled else 0,
            "anchor": ANCHOR[q.fair_value],
            "fair_value_mt": 0,
            "half_spread_mt": 1000 * q.min_half_spread_ticks,
            "skew_mt_per_lot": 0,
            "levels": q.levels,
            "level_spacing_ticks": q.level_spacing_ticks,
            "size_lots": max(int(q.order_size / lot), 1),
            "max_inventory_lots": max(int(q.max_inventory / lot), 1),
            "requote_ticks": q.requote_ticks,
            "ttl_ns": q.order_ttl_ms * 1_000_000,
            "post_only": 1 if q.post_only else 0,
        }
        if s.bid is not None and s.ask is not None and s.bid < s.ask:
            bid_t, ask_t = int(s.bid / s.tick), int(s.ask / s.tick)
            inv = float(s.portfolio.position / lot)
            ps = s.pricing.compute(
                MarketState(
                    ts=time.time(),
                    best_bid_ticks=bid_t,
                    best_ask_ticks=ask_t,
                    bid_size=float(s.bid_qty / lot),
                    ask_size=float(s.ask_qty / lot),
                    inventory=inv,
                )
            )
            if len(s.pricing.history) > 1000:
                del s.pricing.history[:-1000]
            if math.isfinite(ps.half_spread) and ps.half_spread > 0:
                out["half_spread_mt"] = max(round(ps.half_spread * 1000), 1000 * q.min_half_spread_ticks)
            if math.isfinite(ps.skew_per_unit):
                out["skew_mt_per_lot"] = round(ps.skew_per_unit * 1000)
            out["fair_value_mt"] = round(ps.fair_value * 1000)
        return out

    def _push_params(self, *, enabled: bool) -> None:
        for s in self.sessions:
            self.push_version = int(self.engine.push_params(self._params_dict(s, enabled)))
            self.pushes += 1

    async def _param_loop(self) -> None:
        period = 1.0 / self.quoting.push_hz
        while True:
            enabled = not self.latch.read().latched and self.state_name == "quoting"
            self._refresh_book()
            self._push_params(enabled=enabled)
            await asyncio.sleep(period)

    def _refresh_book(self) -> None:
        st = self.engine.status()
        self._journal_alert(st)
        book = st.get("book") or {}
        for s in self.sessions:
            for name in ("bid", "ask", "bid_qty", "ask_qty"):
                v = book.get(name)
                if v is not None:
                    setattr(s, name, Decimal(str(v)))

    def _journal_alert(self, st: dict[str, Any]) -> None:
        """Raises ``journal_unwritable`` once when the engine halted on its journal (fail closed)."""
        halted = (st.get("journal") or {}).get("halted")
        if halted and not self._journal_alerted:
            self._journal_alerted = True
            now = time.time_ns()
            symbol = self.sessions[0].ref.symbol if self.sessions else ""
            self.alerts.append(
                Alert(
                    rule="journal_unwritable",
                    severity=Severity.CRITICAL,
                    symbol=symbol,
                    status="firing",
                    value=1.0,
                    threshold=0.0,
                    message=str(halted),
                    ts_event_ns=now,
                    ts_emit_ns=now,
                )
            )

    async def _event_loop(self) -> None:
        from pymm.events import EventKind

        while True:
            evs = self.engine.poll_events(4096)
            now = time.time_ns()
            if len(evs):
                self.trading_metrics.observe_events(evs, self._scales)
            for s in self.sessions:
                for ev in evs:
                    kind = int(ev["kind"])
                    name = EventKind(kind).name if kind in EventKind._value2member_map_ else str(kind)
                    s.counters[name] = s.counters.get(name, 0) + 1
                    if kind == EventKind.TOP_OF_BOOK and ev["price"] > 0 and ev["aux"] > 0:
                        mid = float((Decimal(int(ev["price"])) + Decimal(int(ev["aux"]))) * s.tick / 2)
                        self.alerts.extend(s.monitor.on_mid(int(ev["ts_recv"]), mid))
            for s in self.sessions:
                self.alerts.extend(s.monitor.on_timer(now))
            del self.alerts[:-50]
            await asyncio.sleep(0.005)

    async def _on_exec(self, event: dict[str, Any]) -> None:
        """Drop copy: an execution from the user-data stream."""
        if event.get("e") != "executionReport" or event.get("x") != "TRADE":
            return
        if self.hedge is not None:
            recv = self.dropcopy.recv_ns if self.dropcopy is not None else None
            self.hedge.on_spot_execution(event, recv)
        for s in self.sessions:
            if event.get("s") != s.ref.symbol:
                continue
            buy = event.get("S") == "BUY"
            price, qty = Decimal(str(event["L"])), Decimal(str(event["l"]))
            fee, fee_asset = Decimal(str(event.get("n") or "0")), str(event.get("N") or s.quote_asset)
            s.portfolio.on_fill(buy, price, qty, fee, fee_asset)
            s.monitor.on_fill(
                MarkoutFill(
                    ts_ns=int(event.get("T", 0)) * 1_000_000,
                    price=float(price),
                    qty=float(qty),
                    side=1 if buy else -1,
                    fill_id=int(event.get("t") or 0),
                )
            )

    async def _trade_stream(self) -> None:
        """Public trades for calibration and VPIN (the slow path's own market-data connection)."""
        assert self.venue is not None
        streams = "/".join(f"{s.ref.symbol.lower()}@trade" for s in self.sessions)
        url = f"{self.venue.url('spot_stream')}?streams={streams}"
        by_symbol = {s.ref.symbol: s for s in self.sessions}
        while True:
            try:
                async with (
                    aiohttp.ClientSession() as http,
                    http.ws_connect(url, heartbeat=20.0) as ws,
                ):
                    async for msg in ws:
                        if msg.type != aiohttp.WSMsgType.TEXT:
                            continue
                        data = json.loads(msg.data).get("data", {})
                        s = by_symbol.get(data.get("s", ""))
                        if s is None or data.get("e") != "trade":
                            continue
                        price, qty = Decimal(data["p"]), Decimal(data["q"])
                        ts = time.time_ns()
                        s.pricing.on_trade(ts / 1e9, float(price / s.tick), not data.get("m", False))
                        self.alerts.extend(s.monitor.on_trade(ts, float(price), float(qty)))
            except (aiohttp.ClientError, OSError, ValueError) as e:
                log.warning("trade stream: %s; reconnecting", e)
            await asyncio.sleep(1.0)

    async def _guard_loop(self) -> None:
        """Metric-triggered kill: loss beyond ``max_loss``; engine vs drop-copy position break."""
        while True:
            await asyncio.sleep(0.1)
            self.trading_metrics.update_from_status(self.status())
            latch = self.latch.read()
            if self.hedge is not None and latch.latched != (self.hedge.halted is not None):
                # A latch taken or lifted by any path reaches the hedge leg within 100 ms.
                if latch.latched:
                    self.hedge.halt(latch.reason or "latched")
                else:
                    self.hedge.resume()
            if latch.latched:
                continue
            st = self.engine.status()
            if throttle_tripped(st):
                # Fault-matrix row 19: the engine's repeated-execution throttle latched. Carry it in
                # the durable kill latch so it survives kill -9 and a fresh journal, and only the
                # two-person lift re-enables quoting (the engine's lift re-arms the throttle).
                await self.kill(
                    f"repeated-execution throttle: {self.risk.max_fills_in_window} fills within "
                    f"{self.risk.fill_window_ms} ms"
                )
                continue
            for s in self.sessions:
                mid = self._mid(s)
                if s.portfolio.total(mid) < -self.risk.max_loss:
                    await self.kill(f"loss beyond max_loss {self.risk.max_loss} {s.quote_asset}")
                    break
                eng_pos = st.get("position")
                if eng_pos is None or st.get("state") in (None, "created", "connecting", "reconciling"):
                    continue
                if s.engine_offset is None:
                    # A fresh venue: both start flat. A reattached one: the engine recovered the
                    # killed run's position; take it once reconciled, before this run's first order.
                    attached = self.venue is not None and self.venue.attached
                    s.engine_offset = Decimal(str(eng_pos)) - s.portfolio.position if attached else Decimal(0)
                if Decimal(str(eng_pos)) - s.engine_offset != s.portfolio.position:
                    s.break_since = s.break_since or time.monotonic()
                    if (time.monotonic() - s.break_since) * 1000 > self.risk.reconcile_break_ms:
                        await self.kill(
                            f"position break: engine {eng_pos} vs drop copy {s.portfolio.position}"
                        )
                        break
                else:
                    s.break_since = None

    @staticmethod
    def _mid(s: SessionView) -> Decimal | None:
        if s.bid is None or s.ask is None:
            return None
        return (s.bid + s.ask) / 2

    # ---------------------------------------------------------------- control

    async def kill(self, reason: str) -> dict[str, Any]:
        """Block entry and cancel everything at the venue, latch durably, then wait for the venue.

        The engine is told first: its mass cancel is on the wire while the latch file is written and
        synced (two fsyncs: milliseconds, more on a busy disk). Both happen before this returns, on
        this loop's thread, so no other task sees the engine killed and the latch not yet on disk.

        The answer's ``venue_confirm_ms`` is the engine's own measure (its clock): the kill command's
        push onto the ring → the session thread read the venue's answer that the mass cancel is done
        (``None`` if it did not come within 1 s). ``ms`` is this call end to end in Python (engine
        told, latch durable, hedge halted, the confirmation seen here)."""
        t0 = time.monotonic()
        self.engine.kill(reason, 0.0)
        st = self.latch.latch(reason)
        durable_ms = (time.monotonic() - t0) * 1e3
        if self.hedge is not None:
            self.hedge.halt(reason)  # every venue: the perp leg's resting hedges are cancelled too
        # Wait (without blocking the loop: a worker thread, GIL released) until the venue confirmed
        # the mass cancel, or 1 s.
        confirmed = await asyncio.to_thread(self.engine.wait_kill, max(0.0, 1.0 - (time.monotonic() - t0)))
        ms = (time.monotonic() - t0) * 1e3
        self.state_name = "halted"
        self._push_params(enabled=False)
        k = kill_timeline(self.engine.kill_times())
        log.warning(
            "kill switch latched: %s (latch %s, venue confirmed after %s ms)",
            reason,
            st.latch_id,
            k["venue_confirm_ms"],
        )
        return {
            "latched": True,
            "latch_id": st.latch_id,
            "reason": st.reason,
            "venue_confirmed": bool(confirmed),
            "ms": ms,
            "latch_durable_ms": durable_ms,
            **k,
        }

    async def approve(self, a: Approval) -> dict[str, Any]:
        """Record one operator's approval; lift the engine's latch once two distinct operators approved."""
        st, got = self.latch.approve(a)
        if not st.latched:
            self.engine.lift()
            if self.hedge is not None:
                self.hedge.resume()
            self.state_name = "quoting"
            log.warning("kill switch lifted by %s", ", ".join(st.lifted_by))
        return {"latched": st.latched, "latch_id": st.latch_id, "approvals": [x.operator for x in got]}

    def status(self, *, detail: bool = False) -> dict[str, Any]:
        """The trader's screen (ADR 0005 schema); ``detail`` (``/api/status?detail=1``) adds the
        hedge leg's latency histograms."""
        est: dict[str, Any] = self.engine.status() if self.engine is not None else {}
        latch = self.latch.read()
        insts = []
        for s in self.sessions:
            mid = self._mid(s)
            insts.append(
                {
                    "venue": s.ref.venue,
                    "symbol": s.ref.symbol,
                    "book": {
                        "bid": _s(s.bid),
                        "bid_qty": _s(s.bid_qty),
                        "ask": _s(s.ask),
                        "ask_qty": _s(s.ask_qty),
                        "mid": _s(mid),
                    },
                    "quotes": est.get("quotes", []),
                    "position": str(s.portfolio.position),
                    "engine_position": est.get("position"),
                    "avg_price": s.portfolio.to_json(mid)["avg_price"],
                    "pnl": s.portfolio.to_json(mid),
                    "balance_deltas": {k: str(v) for k, v in s.portfolio.deltas.items()},
                    "fills": s.portfolio.fills,
                    "orders": est.get("orders", {}),
                    "risk": est.get("risk", {}),
                    "events": dict(s.counters),
                }
            )
        vpin = None
        markouts: dict[str, float] = {}
        if self.sessions:
            s0 = self.sessions[0]
            if s0.monitor.last_vpin is not None:
                vpin = s0.monitor.last_vpin.vpin
            # Size-weighted mean markout of recent fills per horizon, in basis points of the mid.
            for fam in self.metrics.markout.collect():
                for sample in fam.samples:
                    if sample.labels.get("symbol") == s0.ref.symbol and math.isfinite(sample.value):
                        markouts[sample.labels["horizon"]] = sample.value * 1e4
        elapsed = max(time.monotonic() - self.push_started, 1e-9)
        return {
            "ts": time.time_ns(),
            "state": self.state_name,
            "engine_state": est.get("state"),
            "kill": {
                "latched": latch.latched,
                "latch_id": latch.latch_id,
                "reason": latch.reason,
                "approvals": [a.operator for a in self.latch.approvals()],
                "lifted_by": latch.lifted_by,
                "venue_confirmed": bool(est.get("kill", {}).get("confirmed")),
                "told_ns": est.get("kill", {}).get("told_ns"),
                "ring_ns": est.get("kill", {}).get("ring_ns"),
                "send_ns": est.get("kill", {}).get("send_ns"),
                "confirm_ns": est.get("kill", {}).get("confirm_ns"),
            },
            "venue": {"kind": "sim", **(self.venue.urls if self.venue else {})},
            "instruments": insts,
            "latency_ns": est.get("latency_ns", {}),
            "toxicity": {"vpin": vpin, "markouts_bps": markouts},
            "hedge": self.hedge.status(detail=detail) if self.hedge is not None else None,
            "alerts": [a.to_json() for a in self.alerts[-20:]],
            "params": {"version": self.push_version, "pushes": self.pushes, "rate_hz": self.pushes / elapsed},
            "engine": {k: v for k, v in est.items() if k not in ("quotes", "orders", "risk", "book")},
            "recovery": est.get("recovery"),
        }

    async def _start_control(self) -> None:
        app = web.Application()
        app.router.add_get("/api/status", self._h_status)
        app.router.add_post("/api/kill", self._h_kill)
        app.router.add_post("/api/stop", self._h_stop)
        app.router.add_post("/api/approve", self._h_approve)
        try:
            from pymm.monitor.dashboard import add_dashboard_routes
        except ImportError:
            pass
        else:
            add_dashboard_routes(app)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.cfg.control.bind, self.cfg.control.port)
        await site.start()
        server = site._server
        port = server.sockets[0].getsockname()[1] if server is not None and server.sockets else 0
        self.control_url = f"http://{self.cfg.control.bind}:{port}"

    def _start_metrics(self) -> None:
        from prometheus_client import start_http_server

        m = self.cfg.metrics
        try:
            server, _ = start_http_server(m.port, addr=m.bind, registry=self.metrics.registry)
        except OSError as e:
            log.warning("metrics exporter not started on %s:%s: %s", m.bind, m.port, e)
            return
        self._metrics_server = server
        self.metrics_url = f"http://{m.bind}:{server.server_port}/metrics"

    async def _h_status(self, req: web.Request) -> web.Response:
        return web.json_response(self.status(detail=req.query.get("detail") == "1"))

    async def _h_kill(self, req: web.Request) -> web.Response:
        body = await _json(req)
        return web.json_response(await self.kill(str(body.get("reason") or "operator kill")))

    async def _h_stop(self, _req: web.Request) -> web.Response:
        self._stop.set()
        return web.json_response({"stopping": True})

    async def _h_approve(self, req: web.Request) -> web.Response:
        body = await _json(req)
        try:
            a = Approval(str(body["operator"]), str(body["latch_id"]), str(body["signature"]))
            return web.json_response(await self.approve(a))
        except (KeyError, KillError) as e:
            return web.json_response({"error": str(e)}, status=400)

    # ---------------------------------------------------------------- stop

    async def wait(self) -> None:
        """Run until SIGTERM/SIGINT or ``POST /api/stop``."""
        await self._stop.wait()

    def request_stop(self) -> None:
        self._stop.set()

    async def shutdown(self) -> dict[str, Any]:
        """Orderly: block entry, cancel all and wait for the venue, flush, stop the venue; exit 0."""
        self.state_name = "stopping"
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        summary: dict[str, Any] = {}
        if self.engine is not None:
            clean = await asyncio.to_thread(self.engine.stop, 5.0)
            summary = {"orderly": bool(clean), **self.engine.status().get("orders", {})}
        if self.hedge is not None:
            await self.hedge.close()
        if self.dropcopy is not None:
            await self.dropcopy.close()
        if self._runner is not None:
            await self._runner.cleanup()
        if getattr(self, "_metrics_server", None) is not None:
            self._metrics_server.shutdown()
        if self.venue is not None:
            self.venue.stop(self.state)
        self.state.clear_run()
        return summary


def _s(v: Decimal | None) -> str | None:
    return None if v is None else str(v)


async def _json(req: web.Request) -> dict[str, Any]:
    try:
        body = await req.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return {}
    return body if isinstance(body, dict) else {}


def kill_timeline(times: tuple[bool, bool, int, int, int, int]) -> dict[str, float | None]:
    """The last kill's timeline from ``Engine.kill_times()``, in ms: ``ring_ms`` (the command's
    push → the session thread took it), ``send_ms`` (took it → the mass cancel handed to the
    socket), ``confirm_ms`` (took it → the venue's confirmation read, the engine's clock) and
    ``venue_confirm_ms`` (push → confirmation: ring plus confirm; what the 50 ms target measures).
    ``None`` for a step not reached."""
    _latched, _confirmed, told, sent, done, ring = times
    sent_ms = (sent - told) / 1e6 if told and sent >= told else None
    confirm_ms = (done - told) / 1e6 if told and done >= told else None
    return {
        "ring_ms": ring / 1e6 if told else None,
        "send_ms": sent_ms,
        "confirm_ms": confirm_ms,
        "venue_confirm_ms": None if confirm_ms is None else confirm_ms + ring / 1e6,
    }


def throttle_tripped(engine_status: dict[str, Any]) -> bool:
    """Whether the engine's repeated-execution throttle latched and the durable kill latch must
    follow it (fault-matrix row 19).

    Only while the engine's own kill flag is clear: the engine clears the throttle and its kill flag
    in one step when the lift reaches it, and publishes both in one status snapshot. A snapshot taken
    between the two-person lift and that step still shows the throttle latched next to the kill flag;
    reading it as a new trip would latch the switch again right after the lift."""
    return bool(engine_status.get("risk", {}).get("throttled")) and not engine_status.get("kill", {}).get(
        "latched"
    )


def risk_limits(r: RiskConfig) -> dict[str, Any]:
    """``[risk]`` as the native sessions' risk config (the Binance engine's and the OUCH session's)."""
    return {
        "max_order_qty": str(r.max_order_qty),
        "max_order_notional": str(r.max_order_notional),
        "max_long": str(r.max_position_qty),
        "max_short": str(r.max_position_qty),
        "max_position_notional": str(r.max_position_notional),
        "price_collar_bps": r.price_collar_bps,
        "max_reference_age_ms": r.max_reference_age_ms,
        "max_open_orders": r.max_open_orders,
        "duplicate_window_ms": r.duplicate_window_ms,
        "max_fills_in_window": r.max_fills_in_window,
        "fill_window_ms": r.fill_window_ms,
        "venue_orders_burst": r.venue_orders_burst,
        "venue_orders_per_second": r.venue_orders_per_second,
        "messages_burst": r.messages_burst,
        "messages_per_second": r.messages_per_second,
    }


def set_aside_journal(state: StateDir) -> None:
    """A fresh venue knows nothing of an old journal: move it aside so a new one begins."""
    jdir = state.journal_dir
    if jdir.exists() and any(jdir.iterdir()):
        jdir.rename(jdir.with_name(f"journal.{time.strftime('%Y%m%dT%H%M%S')}"))


def core_layout(spec: str | None) -> dict[str, int | None]:
    """The engine's cores from ``pymm start --cores`` (DESIGN §3's order): the session's loop on the
    first (it busy-polls it), the journal writer on the second (it spins: the core is its own). With
    one core the writer is left to the scheduler; cores past the second are not used yet."""
    from pymm.config import parse_cores

    cores = parse_cores(spec) if spec else ()
    return {
        "core": cores[0] if cores else None,
        "journal_core": cores[1] if len(cores) > 1 else None,
    }
