"""The hedge leg's USD-M order sender over the native gateway (issues #6, #7).

:class:`UsdmNativeSender` is an :class:`~pymm.hedge.service.OrderSender` (``submit(HedgeOrder)``,
``cancel(client_order_id)``) like :class:`~pymm.venues.binance_usdm.UsdmLoopSender`, but the orders
go through :class:`pymm._native.UsdmGateway`: pre-trade risk, client ids from the persisted counter
(unique forever; the service's own ``pymmh-N`` ids restart with each run, so they are mapped, never
sent), signed REST on one keep-alive connection, the order state machine with UNKNOWN resolved by
the gateway's own listenKey stream or by queries with backoff (never resent), and the venue's rate
headers (``docs/adr/0007-usdm-gateway.md``).

The gateway's calls block until its thread answers (a whole REST round trip for an order, up to
``request_timeout_ms`` when the venue stalls), and its ``events()`` wait holds the binding's lock.
So one worker thread owns the gateway: :meth:`UsdmNativeSender.submit`, :meth:`cancel`,
:meth:`set_reference` and :meth:`set_position` only queue a command and return (the caller — the
hedge leg's event loop — is never blocked by the venue; ``submit`` waits at most ``handoff_s``, 1 ms,
for an idle worker to take the order, so the hand-off does not wait for the caller's thread to let
go of the GIL); the worker runs the commands in order and, between them, drains the gateway's events
without waiting (``poll_s`` apart when idle).
``on_written(client_order_id, ns)`` reports the moment the worker handed the order to the gateway
(``ns`` read just before ``place``): the gateway's risk check, encoding, signing and the write to the
kernel follow inside its thread, which reports no write time of its own.

Every state change reaches ``on_update`` (on the worker thread) as an
:class:`~pymm.hedge.service.OrderUpdate` under the service's id, in the order the gateway saw them.
Orders refused before anything was sent (risk, rate guard, transport) are reported ``REJECTED``
right after ``place`` returns; nothing else is taken from a call's return value, so a late reply can
never overwrite a newer stream event. Events carry the venue's cumulative filled quantity, not
fills: the position is booked from the hedge leg's own ``ORDER_TRADE_UPDATE`` stream, where
:meth:`UsdmNativeSender.service_client_id` maps the gateway's venue ids (``c``) back, and
``on_mapped(venue_text, service_id)`` tells the leg when a new mapping exists (a fill can arrive on
the stream before ``place`` has returned).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from pymm._native import UsdmGateway
from pymm.hedge.service import HedgeOrder, OrderStatus, OrderUpdate

__all__ = ["UsdmNativeSender", "gateway_config"]

log = logging.getLogger("pymm.runtime.usdm_native")

_STATUS = {
    "NEW": OrderStatus.ACCEPTED,
    "PARTIALLY_FILLED": OrderStatus.ACCEPTED,
    "UNKNOWN": OrderStatus.UNKNOWN,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
    # The venue never had it (an UNKNOWN order resolved after recvWindow): nothing filled.
    "NEVER_LIVE": OrderStatus.REJECTED,
}


def gateway_config(
    *,
    rest_url: str,
    user_ws_url: str | None,
    api_key: str,
    private_pem: str,
    instrument: str | Mapping[str, str],
    risk: Mapping[str, Any],
    client_id_file: str,
    client_prefix: str = "pymmf-",
    **extra: Any,
) -> dict[str, Any]:
    """A :class:`pymm._native.UsdmGateway` config dict (``extra``: the optional keys, e.g.
    ``request_timeout_ms``); the gateway validates it and names any bad field."""
    return {
        "rest": rest_url,
        "user_ws": user_ws_url,
        "api_key": api_key,
        "ed25519_private_pem": private_pem,
        "instrument": instrument if isinstance(instrument, str) else dict(instrument),
        "risk": dict(risk),
        "client_id_file": client_id_file,
        "client_prefix": client_prefix,
        **extra,
    }


class UsdmNativeSender:
    """The hedge service's :class:`~pymm.hedge.service.OrderSender` over the native gateway."""

    def __init__(
        self,
        gateway: UsdmGateway,
        *,
        on_update: Callable[[OrderUpdate], None] | None = None,
        on_written: Callable[[str, int], None] | None = None,
        on_mapped: Callable[[str, str], None] | None = None,
        clock_ns: Callable[[], int] = time.time_ns,
        poll_s: float = 0.005,
        status_every_s: float = 1.0,
        handoff_s: float = 0.001,
    ) -> None:
        """Starts the worker thread; the callbacks are called from it. ``handoff_s``: how long
        :meth:`submit` waits for an idle worker to take the order (0: never waits)."""
        self.gateway = gateway
        self.on_update = on_update
        self.on_written = on_written
        self.on_mapped = on_mapped
        self.clock_ns = clock_ns
        self._poll_s = poll_s
        self._status_every_s = status_every_s
        self._handoff_s = handoff_s
        self._worker_idle = False
        self._lock = threading.Lock()
        self._to_gateway: dict[str, int] = {}
        self._to_service: dict[int, str] = {}
        self._commands: queue.SimpleQueue[tuple[str, Any]] = queue.SimpleQueue()
        self.refusals: dict[str, int] = {}
        self.foreign_events = 0
        self.last_status: dict[str, Any] = {}
        self._closed = False
        self._t = threading.Thread(target=self._run, name="usdm-native", daemon=True)
        self._t.start()

    # -- OrderSender ---------------------------------------------------------------------------

    def submit(self, order: HedgeOrder) -> None:
        """Queues a hedge order (``LIMIT`` + ``GTX`` or ``IOC`` only) for the gateway.

        Raises:
            ValueError: not a LIMIT GTX/IOC order, or another symbol (nothing is sent).
        """
        if order.order_type != "LIMIT" or order.time_in_force not in ("GTX", "IOC"):
            raise ValueError(
                f"hedge orders are LIMIT GTX or IOC only, got {order.order_type} {order.time_in_force}"
            )
        if order.symbol != self.gateway.symbol:
            raise ValueError(f"symbol {order.symbol!r}: this gateway trades {self.gateway.symbol!r}")
        # Rendezvous with an idle worker: waiting here releases the GIL, so the worker takes the
        # order now rather than whenever the caller's thread next lets go of the interpreter (the
        # rest of the fill callback and the loop's other work). A busy worker (another order's round
        # trip) is not waited for.
        taken = threading.Event() if self._handoff_s > 0 and self._worker_idle else None
        self._commands.put(("place", (order, taken)))
        if taken is not None:
            taken.wait(self._handoff_s)

    def cancel(self, client_order_id: str) -> None:
        """Queues a cancel of one of our orders (by the service's id); the answer arrives as events."""
        self._commands.put(("cancel", client_order_id))

    # -- inputs from the leg ---------------------------------------------------------------------

    def set_reference(self, price: Decimal | str) -> None:
        """The perp's reference price (mid or mark, on the tick grid) for the gateway's collar and
        notional checks."""
        self._commands.put(("reference", str(price)))

    def set_position(self, qty: Decimal | str) -> None:
        """The venue's perp position (signed base units) for the gateway's position limits."""
        self._commands.put(("position", str(qty)))

    def sync(self, timeout: float = 10.0) -> bool:
        """Waits until every command queued before this call has run (False on timeout)."""
        done = threading.Event()
        self._commands.put(("sync", done))
        return done.wait(timeout)

    def is_ours(self, venue_text: str) -> bool:
        """Whether a venue ``clientOrderId`` has this gateway's form (sent by it, in any run)."""
        return self.gateway.parse_client_order_text(venue_text) is not None

    def service_client_id(self, venue_text: str) -> str | None:
        """The service's id of a venue ``clientOrderId`` this sender sent, or None."""
        gid = self.gateway.parse_client_order_text(venue_text)
        if gid is None:
            return None
        with self._lock:
            return self._to_service.get(gid)

    def venue_client_id(self, client_order_id: str) -> str | None:
        """The venue ``clientOrderId`` of a service id, or None when it was never sent."""
        with self._lock:
            gid = self._to_gateway.get(client_order_id)
        return None if gid is None else self.gateway.client_order_text(gid)

    # -- the worker --------------------------------------------------------------------------------

    def _run(self) -> None:
        next_status = 0.0
        while True:
            self._worker_idle = True
            try:
                cmd: tuple[str, Any] | None = self._commands.get(timeout=self._poll_s)
            except queue.Empty:
                cmd = None
            self._worker_idle = False
            while cmd is not None:
                if cmd[0] == "stop":
                    self._drain()
                    return
                try:
                    self._command(*cmd)
                except RuntimeError:
                    log.exception("usdm gateway command %s failed", cmd[0])
                try:
                    cmd = self._commands.get_nowait()
                except queue.Empty:
                    cmd = None
            try:
                self._drain()
                if time.monotonic() >= next_status:
                    next_status = time.monotonic() + self._status_every_s
                    self.last_status = self.gateway.status()
            except RuntimeError:
                return  # the gateway was closed under us

    def _command(self, kind: str, arg: Any) -> None:
        if kind == "place":
            self._place(*arg)
        elif kind == "cancel":
            self._cancel(arg)
        elif kind == "reference":
            self.gateway.set_reference(arg)
        elif kind == "position":
            self.gateway.set_position(arg)
        elif kind == "sync":
            self._drain()
            arg.set()

    def _place(self, order: HedgeOrder, taken: threading.Event | None) -> None:
        sid = order.client_order_id
        ns = self.clock_ns()
        if taken is not None:
            taken.set()
        try:
            out = self.gateway.place(
                order.side.value, order.price_text, order.qty_text, order.time_in_force, order.reduce_only
            )
        except (RuntimeError, ValueError) as e:
            # Refused by the binding (bad text) or the gateway is gone: nothing reached the venue.
            self._refused(sid, "gateway", str(e))
            return
        if self.on_written is not None:
            self.on_written(sid, ns)
        gid = out["client_order_id"]
        if gid is not None:
            with self._lock:
                self._to_gateway[sid] = gid
                self._to_service[gid] = sid
            if self.on_mapped is not None:
                self.on_mapped(str(out["client_order_text"]), sid)
        refusal = out["refusal"]
        if refusal is not None and refusal != "venue":
            self._refused(sid, str(refusal), str(out["msg"]))

    def _refused(self, sid: str, why: str, msg: str) -> None:
        # Refused before anything reached the venue: no event will follow.
        self.refusals[why] = self.refusals.get(why, 0) + 1
        log.warning("hedge order %s not sent: %s %s", sid, why, msg)
        self._emit(OrderUpdate(sid, OrderStatus.REJECTED, Decimal(0), self.clock_ns()))

    def _cancel(self, sid: str) -> None:
        with self._lock:
            gid = self._to_gateway.get(sid)
        if gid is None:
            return
        out = self.gateway.cancel(gid)
        if out["refusal"] not in (None, "venue", "no_such_order"):
            self.refusals[out["refusal"]] = self.refusals.get(out["refusal"], 0) + 1
            log.warning("cancel of %s not sent: %s %s", sid, out["refusal"], out["msg"])

    def _drain(self) -> None:
        while events := self.gateway.events(1024, 0.0):
            for ev in events:
                with self._lock:
                    sid = self._to_service.get(int(ev["client_order_id"]))
                if sid is None:
                    self.foreign_events += 1  # placed on the gateway directly, not by the service
                    continue
                self._deliver(sid, ev)

    def _deliver(self, sid: str, ev: dict[str, Any]) -> None:
        status = _STATUS.get(str(ev["state"]))
        if status is None:
            return  # PENDING_NEW / PENDING_CANCEL: nothing the service tracks
        self._emit(OrderUpdate(sid, status, Decimal(str(ev["cum_filled"])), int(ev["ts_ns"])))

    def _emit(self, update: OrderUpdate) -> None:
        if self.on_update is not None:
            try:
                self.on_update(update)
            except Exception:
                log.exception("hedge order update handler failed")

    def close(self, *, close_gateway: bool = True) -> None:
        """Runs the commands already queued, stops the worker (and the gateway, unless told
        otherwise)."""
        if not self._closed:
            self._closed = True
            self._commands.put(("stop", None))
            self._t.join(30)
        if close_gateway:
            self.gateway.close()
