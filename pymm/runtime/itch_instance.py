"""The ITCH/OUCH market's instance behind ``pymm start`` when the config has ``[itch]`` (ADR 0011).

The same supervisor as the Binance market (:class:`pymm.runtime.instance.Instance`: kill latch and
two-operator lift, parameter loop, control API and dashboard, Prometheus, orderly stop), with these
parts in place of the Binance ones:

- the simulated exchange ``pymm._native.ItchVenue`` runs *inside* this process (ITCH 5.0 over
  MoldUDP64 multicast lines A and B on ``[itch] interface``, the re-request server, OUCH 4.2 over
  SoupBinTCP), started before the engine and stopped after it;
- the engine is ``pymm._native.ItchEngine`` (one thread on the session core, the journal writer on
  the next, as :func:`pymm.runtime.instance.core_layout` lays them out), seen through
  :class:`ItchEngineView`, which gives it the Binance engine's interface the supervisor drives;
- the drop copy is the exchange's own statement of our executions (``ItchVenue.user_executions``:
  side, shares and price of each, from its sequenced OUCH log) folded into the portfolio: position,
  PnL and markouts as on the Binance market, and the supervisor's guards (position break against
  the engine's position, ``max_loss``) run unchanged.

Not here yet (docs/status.md): the engine's event ring (its status carries tick-to-trade), VPIN (no
public trade stream to the monitor), fees (the simulated exchange charges none), an exchange outside
this process.
"""

from __future__ import annotations

import asyncio
import socket
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

from pymm.config import Config, InstrumentRef, ItchConfig, RiskConfig
from pymm.errors import PymmError
from pymm.monitor.markouts import Fill as MarkoutFill
from pymm.runtime.instance import Instance, core_layout, risk_limits, set_aside_journal
from pymm.runtime.state import StateDir

__all__ = ["ItchEngineView", "ItchInstance", "itch_engine_config", "itch_venue_config"]


def _split(addr: str) -> tuple[str, int]:
    host, _, port = addr.rpartition(":")
    return host, int(port)


def _bound_port(addr: str, kind: socket.SocketKind) -> str:
    """``addr`` with port 0 replaced by a port free now (the engine needs the venue's ports before
    the venue binds them; a race with another process is possible and fails the start loudly)."""
    host, port = _split(addr)
    if port:
        return addr
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind((host, 0))
        return f"{host}:{s.getsockname()[1]}"


def itch_engine_config(
    itch: ItchConfig, risk: RiskConfig, state: StateDir, *, cores: str | None, ouch: str, rerequest: str
) -> dict[str, Any]:
    """``pymm._native.ItchEngine``'s config: lines A and B (arbitrated), the re-request server, the
    OUCH session with ``[risk]`` in shares and dollars, tokens persisted and the journal in the state
    directory, and the cores of ``--cores`` (session loop on the first, journal writer on the
    second)."""
    return {
        "feed": itch.feed_a,
        "feed_b": itch.feed_b,
        "interface": itch.interface,
        "rerequest": rerequest,
        "locate": itch.locate,
        **core_layout(cores),
        "journal_dir": str(state.journal_dir),
        "ouch": {
            "addr": ouch,
            "user": itch.user,
            "password": itch.password,
            "symbol": itch.symbol,
            "tick": str(itch.tick),
            "client_id_file": str(state.path / "ouch_client_ids"),
            "order_timeout_ms": risk.order_timeout_ms,
            "risk": risk_limits(risk),
        },
    }


def itch_venue_config(
    itch: ItchConfig, *, line_a: str, line_b: str, ouch: str, rerequest: str, seed: int
) -> dict[str, Any]:
    """``pymm._native.ItchVenue``'s config: the stock, both lines, the OUCH login, the seeded crowd."""
    return {
        "symbol": itch.symbol,
        "locate": itch.locate,
        "tick": itch.tick_units,
        "round_lot": itch.round_lot,
        "session": itch.session,
        "interface": itch.interface,
        "itch_a": line_a,
        "itch_b": line_b,
        "rerequest": rerequest,
        "ouch": ouch,
        "users": [{"user": itch.user, "password": itch.password}],
        "heartbeat_ms": itch.heartbeat_ms,
        "flow": itch.flow,
        "interval_us": itch.flow_interval_us,
        "random_flow": {"seed": seed, "round_lot": itch.round_lot},
        "faults_a": {"seed": seed, "drop": itch.line_a_drop},
        "faults_b": {"seed": seed + 1, "drop": itch.line_b_drop},
    }


class ItchEngineView:
    """``pymm._native.ItchEngine`` with the Binance engine's interface and status schema (ADR 0005),
    so the supervisor's kill, lift, parameter push, journal alert and stop drive it unchanged."""

    def __init__(self, engine: Any, risk: RiskConfig) -> None:
        self.native = engine
        self._risk = risk
        # When the last kill command was pushed, on CLOCK_MONOTONIC in ns (0: none yet); the engine
        # stamps the rest on the same clock (``status()["kill_ns"]``).
        self._kill_pushed = 0

    def start(self) -> None:
        """Spawns the engine thread."""
        self.native.start()

    def push_params(self, params: dict[str, int]) -> int:
        """Writes the quote parameters; returns the block version."""
        return int(self.native.push_params(params))

    def kill(self, _reason: str, _delay_s: float = 0.0) -> None:
        """Latches the engine's kill (one Cancel per open token); the reason lives in the latch file."""
        self._kill_pushed = time.monotonic_ns()
        self.native.kill()

    def _confirmed(self, st: dict[str, Any]) -> bool:
        return bool(st["killed"] and st["open_orders"] == 0 and st["unknown_orders"] == 0)

    def _this_kill(self, st: dict[str, Any]) -> dict[str, int]:
        """The engine's stamps of the last kill, zeros until it took the one pushed last."""
        k: dict[str, int] = st["kill_ns"]
        if self._kill_pushed and k["told"] >= self._kill_pushed:
            return k
        return {"told": 0, "sent": 0, "confirmed": 0}

    def wait_kill(self, timeout_s: float = 1.0) -> bool:
        """Waits until the engine saw the exchange answer every Cancel of the last kill (its
        ``confirmed`` stamp), polling every 0.5 ms, at most ``timeout_s``; whether it did."""
        deadline = time.monotonic() + timeout_s
        while not self._this_kill(self.native.status())["confirmed"]:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.0005)
        return True

    def kill_times(self) -> tuple[bool, bool, int, int, int, int]:
        """The Binance engine's ``kill_times()``: latched, confirmed, and on the engine's clock the
        command taken, the Cancels flushed to the socket, the venue's last answer (ns), and the
        command's wait between the push and the loop taking it."""
        st = self.native.status()
        k = self._this_kill(st)
        ring = k["told"] - self._kill_pushed if k["told"] else 0
        return (bool(st["killed"]), bool(k["confirmed"]), k["told"], k["sent"], k["confirmed"], ring)

    def lift(self) -> None:
        """Clears the engine's kill (after the two-operator approval)."""
        self.native.lift()

    def stop(self, timeout_s: float = 5.0) -> bool:
        """Orderly: cancel all, log out, end the thread; whether it finished in time."""
        return bool(self.native.stop(timeout_s))

    def poll_events(self, _max: int) -> list[Any]:
        """The ITCH engine has no event ring yet: nothing to drain."""
        return []

    def status(self) -> dict[str, Any]:
        """The engine's snapshot in the Binance engine's keys (``state``, ``book``, ``quotes``,
        ``orders``, ``risk``, ``kill``, ``position``, ``journal``), the rest passed through."""
        st = dict(self.native.status())
        o = st["ouch"]
        bid, ask = st.pop("bid"), st.pop("ask")
        pos = int(st["position"])
        limit = self._risk.max_position_qty
        k = self._this_kill(st)
        told = k["told"]
        kill = {
            "latched": st["killed"],
            # The venue answered every Cancel: nothing open or of unknown fate remains.
            "confirmed": self._confirmed(st),
            # The Binance engine's timeline keys, on this engine's clock (0: not reached).
            "told_ns": told,
            "sent_ns": k["sent"],
            "confirmed_ns": k["confirmed"],
            "send_ns": k["sent"] - told if told and k["sent"] else 0,
            "confirm_ns": k["confirmed"] - told if told and k["confirmed"] else 0,
            "ring_ns": told - self._kill_pushed if told else 0,
        }
        return {
            **st,
            "state": st["phase"],
            "book": {
                "bid": bid[0] if bid else None,
                "bid_qty": bid[1] if bid else None,
                "ask": ask[0] if ask else None,
                "ask_qty": ask[1] if ask else None,
            },
            "quotes": [{**q, "qty": str(q["qty"]), "state": "WORKING"} for q in st["quotes"]],
            "orders": {
                "sent": o["entered"],
                "replaced": o["replaces"],
                "filled": o["executions"],
                "canceled": o["canceled"],
                "rejected": o["rejected"],
                "denied": o["denied"],
                "working": st["open_orders"],
                "unknown": st["unknown_orders"],
            },
            "risk": {
                "position_limit": str(limit),
                # Headroom against the position alone (the session also counts working orders).
                "headroom_buy": str(limit - pos),
                "headroom_sell": str(limit + pos),
                "open_orders": st["open_orders"],
                "max_open_orders": self._risk.max_open_orders,
            },
            "kill": kill,
            "latency_ns": st["latency_ns"],
        }


class ItchInstance(Instance):
    """Everything ``pymm start`` runs for the ITCH/OUCH market, until ``stop``."""

    def __init__(self, cfg: Config, *, cores: str | None, state: StateDir, seed: int = 7) -> None:
        if cfg.itch is None:
            raise PymmError("the config has no [itch] section")
        super().__init__(cfg, cores=cores, state=state, seed=seed)
        self.itch: ItchConfig = cfg.itch
        self.exchange: Any = None
        self.endpoints: dict[str, str] = {}

    async def _start(self) -> None:
        from pymm._native import ItchEngine, ItchVenue

        itch = self.itch
        # A trusted reference (validated as [itch]): the session view names the venue and the stock.
        ref = InstrumentRef.model_construct(
            venue=itch.venue, symbol=itch.symbol, market="itch", definition=Path("[itch]")
        )
        self.sessions.append(self._new_session(ref, itch.tick, Decimal(1), itch.symbol, "USD"))
        latched = self.latch.read()
        # The embedded exchange starts empty every run: an old journal is set aside.
        set_aside_journal(self.state)
        ouch = _bound_port(itch.ouch, socket.SOCK_STREAM)
        rerequest = _bound_port(itch.rerequest, socket.SOCK_DGRAM)
        native = ItchEngine(
            itch_engine_config(itch, self.risk, self.state, cores=self.cores, ouch=ouch, rerequest=rerequest)
        )
        # The lines' ports as the engine bound them (port 0 in the config: a free one).
        line_a = f"{_split(itch.feed_a)[0]}:{native.feed_port}"
        line_b = f"{_split(itch.feed_b)[0]}:{native.feed_b_port}"
        self.exchange = ItchVenue(
            itch_venue_config(
                itch, line_a=line_a, line_b=line_b, ouch=ouch, rerequest=rerequest, seed=self.seed
            )
        )
        await asyncio.to_thread(self.exchange.start)
        self.endpoints = {k: str(v) for k, v in self.exchange.endpoints().items()}
        self.engine = ItchEngineView(native, self.risk)
        # As the Binance market: parameters first, a latched restart comes up killed.
        self._push_params(enabled=not latched.latched)
        self.engine.start()
        if latched.latched:
            self.engine.kill(latched.reason or "latched", 0.0)
        await self._serve(
            {"kind": "itch-sim", **self.endpoints},
            latched=latched.latched,
            loops={
                "params": self._param_loop(),
                "events": self._event_loop(),
                "dropcopy": self._drop_copy(),
                "guards": self._guard_loop(),
            },
        )

    def account(self) -> dict[str, Any] | None:
        """The exchange's own view of our OUCH user: position, open orders, tokens, executions."""
        if self.exchange is None or not self.exchange.running:
            return None
        return dict(self.exchange.user_view(self.itch.user))

    async def _drop_copy(self) -> None:
        """The exchange's statement of our executions (its sequenced OUCH log, price and shares of
        each) folded into the portfolio, as the Binance market's drop copy folds its execution
        reports: position, PnL and markouts. The supervisor's guard compares this position with the
        engine's (a break longer than ``reconcile_break_ms`` latches the kill) and its PnL with
        ``max_loss``."""
        s = self.sessions[0]
        while True:
            now = time.time_ns()
            mid = self._mid(s)
            if mid is not None:
                self.alerts.extend(s.monitor.on_mid(now, float(mid)))
            if self.exchange is not None and self.exchange.running:
                fills = self.exchange.user_executions(self.itch.user, s.portfolio.fills)
                for side, shares, price, match in fills:
                    buy = side == "BUY"
                    s.portfolio.on_fill(buy, Decimal(price), Decimal(shares), Decimal(0), s.quote_asset)
                    s.monitor.on_fill(
                        MarkoutFill(
                            ts_ns=now,
                            price=float(price),
                            qty=float(shares),
                            side=1 if buy else -1,
                            fill_id=match,
                        )
                    )
            await asyncio.sleep(0.05)

    def status(self, *, detail: bool = False) -> dict[str, Any]:
        """ADR 0005's screen; ``venue.account`` is the exchange's own view of our user."""
        st = super().status(detail=detail)
        st["venue"] = {"kind": "itch-sim", **self.endpoints, "account": self.account()}
        return st

    async def shutdown(self) -> dict[str, Any]:
        """The supervisor's orderly stop (engine: cancel all, log out, flush), then the exchange."""
        summary = await super().shutdown()
        if self.exchange is not None:
            await asyncio.to_thread(self.exchange.stop)
        return summary
