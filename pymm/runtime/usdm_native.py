"""The hedge leg's USD-M order sender over the native gateway (issue #6).

:class:`UsdmNativeSender` is an :class:`~pymm.hedge.service.OrderSender` (``submit(HedgeOrder)``,
``cancel(client_order_id)``) like :class:`~pymm.venues.binance_usdm.UsdmRestClient`, but the orders
go through :class:`pymm._native.UsdmGateway`: pre-trade risk, client ids from the persisted counter
(unique forever; the service's own ``pymmh-N`` ids restart with each run, so they are mapped, never
sent), signed REST on one keep-alive connection, the order state machine with UNKNOWN resolved by
the gateway's own listenKey stream or by queries with backoff (never resent), and the venue's rate
headers (``docs/adr/0007-usdm-gateway.md``).

Every state change reaches ``on_update`` as an :class:`~pymm.hedge.service.OrderUpdate` under the
service's id, in the order the gateway saw them (one event thread). Orders refused before anything
was sent (risk, rate guard, transport) are reported ``REJECTED`` by ``submit`` itself; nothing else
is reported from a call's return value, so a late reply can never overwrite a newer stream event.

The hedge leg's own ``ORDER_TRADE_UPDATE`` handler sees the gateway's venue ids (``c``);
:meth:`UsdmNativeSender.service_client_id` maps them back for the fill → delta-bus path.
"""

from __future__ import annotations

import logging
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
_MAX_ORPHANS = 10_000


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
        clock_ns: Callable[[], int] = time.time_ns,
        poll_s: float = 0.05,
    ) -> None:
        """Starts the event thread; ``on_update`` is called from it (and from ``submit``'s caller
        for refusals)."""
        self.gateway = gateway
        self.on_update = on_update
        self.clock_ns = clock_ns
        self._poll_s = poll_s
        self._lock = threading.Lock()
        self._to_gateway: dict[str, int] = {}
        self._to_service: dict[int, str] = {}
        self._orphans: dict[int, list[dict[str, Any]]] = {}
        self.refusals: dict[str, int] = {}
        self._stop = threading.Event()
        self._t = threading.Thread(target=self._pump, name="usdm-native-events", daemon=True)
        self._t.start()

    # -- OrderSender ---------------------------------------------------------------------------

    def submit(self, order: HedgeOrder) -> None:
        """Sends a hedge order (``LIMIT`` + ``GTX`` or ``IOC`` only).

        Raises:
            ValueError: not a LIMIT GTX/IOC order, or another symbol (nothing is sent).
        """
        if order.order_type != "LIMIT" or order.time_in_force not in ("GTX", "IOC"):
            raise ValueError(
                f"hedge orders are LIMIT GTX or IOC only, got {order.order_type} {order.time_in_force}"
            )
        if order.symbol != self.gateway.symbol:
            raise ValueError(f"symbol {order.symbol!r}: this gateway trades {self.gateway.symbol!r}")
        out = self.gateway.place(
            order.side.value, order.price_text, order.qty_text, order.time_in_force, order.reduce_only
        )
        gid = out["client_order_id"]
        with self._lock:
            if gid is not None:
                self._to_gateway[order.client_order_id] = gid
                self._to_service[gid] = order.client_order_id
            early = self._orphans.pop(gid, []) if gid is not None else []
        refusal = out["refusal"]
        if refusal is not None and refusal != "venue":
            # Refused before anything reached the venue: no event will follow.
            self.refusals[refusal] = self.refusals.get(refusal, 0) + 1
            log.warning("hedge order %s not sent: %s %s", order.client_order_id, refusal, out["msg"])
            self._emit(OrderUpdate(order.client_order_id, OrderStatus.REJECTED, Decimal(0), self.clock_ns()))
        for ev in early:
            self._deliver(order.client_order_id, ev)

    def cancel(self, client_order_id: str) -> None:
        """Cancels one of our orders (by the service's id); the answer arrives as events."""
        with self._lock:
            gid = self._to_gateway.get(client_order_id)
        if gid is None:
            return
        out = self.gateway.cancel(gid)
        if out["refusal"] not in (None, "venue", "no_such_order"):
            self.refusals[out["refusal"]] = self.refusals.get(out["refusal"], 0) + 1
            log.warning("cancel of %s not sent: %s %s", client_order_id, out["refusal"], out["msg"])

    # -- inputs from the leg ---------------------------------------------------------------------

    def set_reference(self, price: Decimal | str) -> None:
        """The perp's reference price (mid or mark) for the gateway's collar and notional checks."""
        self.gateway.set_reference(str(price))

    def set_position(self, qty: Decimal | str) -> None:
        """The venue's perp position (signed base units) for the gateway's position limits."""
        self.gateway.set_position(str(qty))

    def service_client_id(self, venue_text: str) -> str | None:
        """The service's id of a venue ``clientOrderId`` this gateway sent, or None."""
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

    # -- events ------------------------------------------------------------------------------------

    def _pump(self) -> None:
        while not self._stop.is_set():
            try:
                events = self.gateway.events(1024, self._poll_s)
            except RuntimeError:
                return  # the gateway was closed
            for ev in events:
                gid = int(ev["client_order_id"])
                with self._lock:
                    sid = self._to_service.get(gid)
                    if sid is None:
                        # Its submit has not recorded the id yet: delivered by submit.
                        if len(self._orphans) < _MAX_ORPHANS:
                            self._orphans.setdefault(gid, []).append(ev)
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
        """Stops the event thread (and the gateway, unless told otherwise)."""
        self._stop.set()
        self._t.join(5)
        if close_gateway:
            self.gateway.close()
