"""Binance USD-M REST transport for the hedge leg: signed requests, the start-up account check and
hedge order entry (issue #7).

:class:`UsdmRestClient` speaks ``/fapi`` over HTTP with the standard library (no new dependency):
every signed request carries ``timestamp`` and ``recvWindow``, is signed over the exact bytes sent
(the query for GET/DELETE, the form body for POST/PUT; research brief ``binance_protocol.md`` §1.3,
§3.2) with HMAC-SHA256 or Ed25519 (:class:`pymm._native.RequestSigner`), and a Binance error body
raises :class:`~pymm.hedge.usdm_connector.UsdmApiError` with the venue's code and message.

It implements the two protocols the hedge needs:

- :class:`~pymm.hedge.usdm_connector.UsdmAccountApi`, so :func:`connect` can run
  :func:`~pymm.hedge.usdm_connector.verify_usdm_account` at start: one-way mode, 1x leverage and the
  configured margin type are set, read back, and anything else refuses to run;
- :class:`~pymm.hedge.service.OrderSender`: :meth:`UsdmRestClient.submit` sends only ``LIMIT`` orders
  with ``timeInForce`` ``GTX`` (post-only) or ``IOC`` (the active planner's collar price is the
  limit, so an IOC can never trade through the collar) — never a MARKET order — and reports the
  venue's answer as an :class:`~pymm.hedge.service.OrderUpdate` to ``on_update``. A timeout, a
  connection error, an HTTP 5xx or ``-1007`` is reported ``UNKNOWN`` (the order may be live), never
  as a rejection and never resent (brief §1.2).

Synchronous by design: the account check runs once before the hedge service is built, and hedge
orders are rare (a few per second at most, by the governor); the caller runs it off the event loop.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from pymm._native import RequestSigner
from pymm.hedge.service import HedgeOrder, OrderStatus, OrderUpdate
from pymm.hedge.usdm_connector import MarginType, UsdmApiError, VerifiedUsdmAccount, verify_usdm_account

__all__ = ["UsdmRestClient", "connect"]

_STATUS = {
    "NEW": OrderStatus.ACCEPTED,
    "PARTIALLY_FILLED": OrderStatus.ACCEPTED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}
# Codes after which the execution status is unknown (brief §1.2: -1007 timeout, -1006 unexpected).
_UNKNOWN_CODES = frozenset({-1006, -1007})


class UsdmRestClient:
    """Signed ``/fapi`` REST calls; see the module docstring."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        signer: RequestSigner,
        *,
        recv_window_ms: int = 5000,
        timeout_s: float = 5.0,
        clock_ms: Callable[[], int] = lambda: time.time_ns() // 1_000_000,
        on_update: Callable[[OrderUpdate], None] | None = None,
    ) -> None:
        """A client for ``base_url`` (``https://fapi.binance.com`` or the simulated venue's futures
        host) signing as ``api_key``."""
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key
        self.signer = signer
        self.recv_window_ms = recv_window_ms
        self.timeout_s = timeout_s
        self.clock_ms = clock_ms
        self.on_update = on_update
        self._symbols: dict[str, str] = {}  # client order id → symbol, for cancels
        self.used_weight: int | None = None

    # -- transport ----------------------------------------------------------------------------------

    def request(
        self, method: str, path: str, params: Mapping[str, str] | None = None, *, signed: bool = True
    ) -> Any:
        """Sends one request; returns the decoded JSON body.

        Raises:
            UsdmApiError: the venue answered with an error body (its code and message), or the answer
                was not JSON (code 0).
            OSError: the request could not be completed (timeout, connection refused or reset).
        """
        items = list((params or {}).items())
        if signed:
            items += [("recvWindow", str(self.recv_window_ms)), ("timestamp", str(self.clock_ms()))]
        text = urllib.parse.urlencode(items)
        if signed:
            sig = self.signer.sign(text.encode())
            text += ("&" if text else "") + "signature=" + urllib.parse.quote(sig, safe="")
        url = self.base_url + path
        data = None
        headers = {"X-MBX-APIKEY": self.api_key}
        if method in ("POST", "PUT"):
            data = text.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif text:
            url += "?" + text
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout_s) as r:
                self._note(r.headers)
                body = r.read()
        except urllib.error.HTTPError as e:
            self._note(e.headers)
            raw = e.read()
            try:
                err = json.loads(raw)
            except ValueError:
                raise UsdmApiError(0, f"HTTP {e.code}: {raw[:200]!r}") from None
            if e.code >= 500:
                raise UsdmApiError(int(err.get("code", -1006)), str(err.get("msg", ""))) from None
            raise UsdmApiError(int(err.get("code", 0)), str(err.get("msg", ""))) from None
        try:
            out = json.loads(body)
        except ValueError:
            raise UsdmApiError(0, f"not JSON: {body[:200]!r}") from None
        if isinstance(out, dict) and "code" in out and out["code"] not in (0, 200) and "msg" in out:
            raise UsdmApiError(int(out["code"]), str(out["msg"]))
        return out

    def _note(self, headers: Any) -> None:
        if headers is not None and headers.get("X-MBX-USED-WEIGHT-1M"):
            self.used_weight = int(headers["X-MBX-USED-WEIGHT-1M"])

    # -- UsdmAccountApi -----------------------------------------------------------------------------

    def get_position_side_dual(self) -> Mapping[str, Any]:
        """``GET /fapi/v1/positionSide/dual``."""
        out: Mapping[str, Any] = self.request("GET", "/fapi/v1/positionSide/dual")
        return out

    def set_position_side_dual(self, dual: bool) -> Mapping[str, Any]:
        """``POST /fapi/v1/positionSide/dual``."""
        out: Mapping[str, Any] = self.request(
            "POST", "/fapi/v1/positionSide/dual", {"dualSidePosition": "true" if dual else "false"}
        )
        return out

    def get_position_risk(self, symbol: str) -> Sequence[Mapping[str, Any]]:
        """``GET /fapi/v2/positionRisk?symbol=`` (v2: every symbol's row, with leverage and margin type)."""
        out: Sequence[Mapping[str, Any]] = self.request("GET", "/fapi/v2/positionRisk", {"symbol": symbol})
        return out

    def set_leverage(self, symbol: str, leverage: int) -> Mapping[str, Any]:
        """``POST /fapi/v1/leverage``."""
        out: Mapping[str, Any] = self.request(
            "POST", "/fapi/v1/leverage", {"symbol": symbol, "leverage": str(leverage)}
        )
        return out

    def set_margin_type(self, symbol: str, margin_type: str) -> Mapping[str, Any]:
        """``POST /fapi/v1/marginType``."""
        out: Mapping[str, Any] = self.request(
            "POST", "/fapi/v1/marginType", {"symbol": symbol, "marginType": margin_type}
        )
        return out

    # -- OrderSender --------------------------------------------------------------------------------

    def submit(self, order: HedgeOrder) -> None:
        """Sends a hedge order (``LIMIT`` + ``GTX`` or ``IOC`` only) and reports the answer.

        Raises:
            ValueError: the order is not a LIMIT GTX/IOC order (nothing is sent).
        """
        if order.order_type != "LIMIT" or order.time_in_force not in ("GTX", "IOC"):
            raise ValueError(
                f"hedge orders are LIMIT GTX or IOC only, got {order.order_type} {order.time_in_force}"
            )
        params = {
            "symbol": order.symbol,
            "side": order.side.value,
            "type": "LIMIT",
            "timeInForce": order.time_in_force,
            "quantity": order.qty_text,
            "price": order.price_text,
            "newClientOrderId": order.client_order_id,
            "newOrderRespType": "RESULT",
        }
        if order.reduce_only:
            params["reduceOnly"] = "true"
        self._symbols[order.client_order_id] = order.symbol
        self._answer(order.client_order_id, lambda: self.request("POST", "/fapi/v1/order", params))

    def cancel(self, client_order_id: str) -> None:
        """Cancels one of our orders by client id and reports the answer."""
        symbol = self._symbols.get(client_order_id)
        if symbol is None:
            return
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        self._answer(client_order_id, lambda: self.request("DELETE", "/fapi/v1/order", params), cancel=True)

    def query(self, client_order_id: str) -> None:
        """Resolves an order (e.g. an UNKNOWN one) with ``GET /fapi/v1/order`` and reports it."""
        symbol = self._symbols.get(client_order_id)
        if symbol is None:
            return
        params = {"symbol": symbol, "origClientOrderId": client_order_id}
        self._answer(client_order_id, lambda: self.request("GET", "/fapi/v1/order", params), cancel=True)

    def _answer(self, cid: str, call: Callable[[], Any], *, cancel: bool = False) -> None:
        now_ns = self.clock_ms() * 1_000_000
        try:
            body = call()
        except UsdmApiError as e:
            if e.code in _UNKNOWN_CODES or e.code == 0:
                self._emit(OrderUpdate(cid, OrderStatus.UNKNOWN, Decimal(0), now_ns))
            elif not cancel:
                # A refused new order (-5022 GTX would take, -2019 margin, -2022 reduceOnly...).
                self._emit(OrderUpdate(cid, OrderStatus.REJECTED, Decimal(0), now_ns))
            return
        except OSError:
            self._emit(OrderUpdate(cid, OrderStatus.UNKNOWN, Decimal(0), now_ns))
            return
        status = _STATUS.get(str(body.get("status")), OrderStatus.UNKNOWN)
        ts = int(body.get("updateTime") or self.clock_ms()) * 1_000_000
        self._emit(OrderUpdate(cid, status, Decimal(str(body.get("executedQty", "0"))), ts))

    def _emit(self, update: OrderUpdate) -> None:
        if self.on_update is not None:
            self.on_update(update)


def connect(
    client: UsdmRestClient, symbol: str, margin_type: MarginType, *, allow_changes: bool = True
) -> VerifiedUsdmAccount:
    """Sets and verifies one-way mode, 1x leverage and ``margin_type`` on ``symbol``; raises
    :class:`~pymm.hedge.usdm_connector.UsdmAccountError` (and nothing may hedge) otherwise."""
    return verify_usdm_account(client, symbol, margin_type, leverage=1, allow_changes=allow_changes)
