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

import asyncio
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections import deque
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from multidict import CIMultiDict

from pymm._native import RequestSigner
from pymm.hedge.service import HedgeOrder, OrderStatus, OrderUpdate
from pymm.hedge.usdm_connector import MarginType, UsdmApiError, VerifiedUsdmAccount, verify_usdm_account

__all__ = ["UsdmLoopSender", "UsdmRequest", "UsdmRestClient", "connect"]

_STATUS = {
    "NEW": OrderStatus.ACCEPTED,
    "PARTIALLY_FILLED": OrderStatus.ACCEPTED,
    "FILLED": OrderStatus.FILLED,
    "CANCELED": OrderStatus.CANCELED,
    "EXPIRED": OrderStatus.EXPIRED,
    "EXPIRED_IN_MATCH": OrderStatus.EXPIRED,
    "REJECTED": OrderStatus.REJECTED,
}


@dataclass(frozen=True, slots=True)
class UsdmRequest:
    """One signed request as it goes on the wire: method, path with query, form body, headers."""

    method: str
    target: str
    body: bytes | None
    headers: dict[str, str]


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
        return self.send(self.encode(method, path, params, signed=signed))

    def encode(
        self, method: str, path: str, params: Mapping[str, str] | None = None, *, signed: bool = True
    ) -> UsdmRequest:
        """One request as sent: timestamped and signed over the exact query or form body."""
        items = list((params or {}).items())
        if signed:
            items += [("recvWindow", str(self.recv_window_ms)), ("timestamp", str(self.clock_ms()))]
        text = urllib.parse.urlencode(items)
        if signed:
            sig = self.signer.sign(text.encode())
            text += ("&" if text else "") + "signature=" + urllib.parse.quote(sig, safe="")
        headers = {"X-MBX-APIKEY": self.api_key}
        if method in ("POST", "PUT"):
            headers["Content-Type"] = "application/x-www-form-urlencoded"
            return UsdmRequest(method, path, text.encode(), headers)
        return UsdmRequest(method, path + ("?" + text if text else ""), None, headers)

    def decode(self, status: int, headers: Any, body: bytes) -> Any:
        """The decoded JSON body of an answer with HTTP ``status``.

        Raises:
            UsdmApiError: an error body (its code and message; an HTTP 5xx without a code is
                ``-1006``), or an answer that is not JSON (code 0).
        """
        self._note(headers)
        try:
            out = json.loads(body)
        except ValueError:
            prefix = f"HTTP {status}: " if status >= 400 else "not JSON: "
            raise UsdmApiError(0, f"{prefix}{body[:200]!r}") from None
        if status >= 400:
            err = out if isinstance(out, dict) else {}
            default = -1006 if status >= 500 else 0
            raise UsdmApiError(int(err.get("code", default)), str(err.get("msg", "")))
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
        req = self.order_request(order)
        self._answer(order.client_order_id, lambda: self.send(req))

    def cancel(self, client_order_id: str) -> None:
        """Cancels one of our orders by client id and reports the answer."""
        req = self.cancel_request(client_order_id)
        if req is not None:
            self._answer(client_order_id, lambda: self.send(req), cancel=True)

    def query(self, client_order_id: str) -> None:
        """Resolves an order (e.g. an UNKNOWN one) with ``GET /fapi/v1/order`` and reports it."""
        symbol = self._symbols.get(client_order_id)
        if symbol is None:
            return
        req = self.encode("GET", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": client_order_id})
        self._answer(client_order_id, lambda: self.send(req), cancel=True)

    def send(self, req: UsdmRequest) -> Any:
        """Sends an encoded request; returns the decoded body (raises as :meth:`request`)."""
        r = urllib.request.Request(
            self.base_url + req.target, data=req.body, method=req.method, headers=req.headers
        )
        try:
            with urllib.request.urlopen(r, timeout=self.timeout_s) as resp:
                return self.decode(resp.status, resp.headers, resp.read())
        except urllib.error.HTTPError as e:
            return self.decode(e.code, e.headers, e.read())

    def order_request(self, order: HedgeOrder) -> UsdmRequest:
        """``POST /fapi/v1/order`` for a hedge order (remembers its symbol for cancels).

        Raises:
            ValueError: the order is not a LIMIT GTX/IOC order.
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
        return self.encode("POST", "/fapi/v1/order", params)

    def cancel_request(self, client_order_id: str) -> UsdmRequest | None:
        """``DELETE /fapi/v1/order`` for one of our orders (None: not one we sent)."""
        symbol = self._symbols.get(client_order_id)
        if symbol is None:
            return None
        return self.encode(
            "DELETE", "/fapi/v1/order", {"symbol": symbol, "origClientOrderId": client_order_id}
        )

    def _answer(self, cid: str, call: Callable[[], Any], *, cancel: bool = False) -> None:
        try:
            body = call()
        except (UsdmApiError, OSError) as e:
            self.report(cid, e, cancel=cancel)
            return
        self.report(cid, body, cancel=cancel)

    def report(self, cid: str, outcome: Any, *, cancel: bool = False) -> None:
        """Reports the venue's answer to a hedge order call (a decoded body, or the
        :class:`UsdmApiError` / :class:`OSError` it ended with) as an :class:`OrderUpdate`."""
        now_ns = self.clock_ms() * 1_000_000
        if isinstance(outcome, UsdmApiError):
            if outcome.code in _UNKNOWN_CODES or outcome.code == 0:
                self._emit(OrderUpdate(cid, OrderStatus.UNKNOWN, Decimal(0), now_ns))
            elif not cancel:
                # A refused new order (-5022 GTX would take, -2019 margin, -2022 reduceOnly...).
                self._emit(OrderUpdate(cid, OrderStatus.REJECTED, Decimal(0), now_ns))
            return
        if isinstance(outcome, OSError):
            self._emit(OrderUpdate(cid, OrderStatus.UNKNOWN, Decimal(0), now_ns))
            return
        status = _STATUS.get(str(outcome.get("status")), OrderStatus.UNKNOWN)
        ts = int(outcome.get("updateTime") or self.clock_ms()) * 1_000_000
        self._emit(OrderUpdate(cid, status, Decimal(str(outcome.get("executedQty", "0"))), ts))

    def _emit(self, update: OrderUpdate) -> None:
        if self.on_update is not None:
            self.on_update(update)


def connect(
    client: UsdmRestClient, symbol: str, margin_type: MarginType, *, allow_changes: bool = True
) -> VerifiedUsdmAccount:
    """Sets and verifies one-way mode, 1x leverage and ``margin_type`` on ``symbol``; raises
    :class:`~pymm.hedge.usdm_connector.UsdmAccountError` (and nothing may hedge) otherwise."""
    return verify_usdm_account(client, symbol, margin_type, leverage=1, allow_changes=allow_changes)


class UsdmLoopSender:
    """The hedge service's :class:`~pymm.hedge.service.OrderSender` on the event loop, over kept-alive
    HTTP/1.1 connections to the USD-M host.

    :meth:`submit` and :meth:`cancel` sign the request with the client and write it to an idle
    connection before they return, i.e. inside the fill callback that prompted the order: no thread
    hand-off, no task, no timer, no TCP handshake on the way out. One request at a time per
    connection; a call that finds none idle waits in order while another connection is opened (up to
    ``max_connections``). Answers are decoded and reported by the client (:meth:`UsdmRestClient.report`),
    so its rules hold: a timeout or a connection lost with a request outstanding is ``UNKNOWN``, never
    resent (the connection is dropped and a fresh one opened). ``on_written(client_order_id, ns)`` is
    told when a request's bytes were handed to the kernel.
    """

    def __init__(
        self,
        client: UsdmRestClient,
        *,
        connections: int = 2,
        max_connections: int = 4,
        clock_ns: Callable[[], int] = time.time_ns,
        on_written: Callable[[str, int], None] | None = None,
    ) -> None:
        """Connections are opened by :meth:`start` (``connections`` of them, kept warm)."""
        if not 1 <= connections <= max_connections:
            raise ValueError(
                f"connections must be in 1..max_connections, got {connections}/{max_connections}"
            )
        url = urllib.parse.urlsplit(client.base_url)
        if url.scheme not in ("http", "https") or not url.hostname:
            raise ValueError(f"base_url must be http(s)://host[:port], got {client.base_url!r}")
        self.client = client
        self.clock_ns = clock_ns
        self.on_written = on_written
        self._host = url.hostname
        self._port = url.port or (443 if url.scheme == "https" else 80)
        self._tls = url.scheme == "https"
        self._authority = url.netloc
        self._prefix = url.path.rstrip("/")
        self._want = connections
        self._max = max_connections
        self._idle: list[_HttpConnection] = []
        self._open: set[_HttpConnection] = set()
        self._opening = 0
        self._waiting: deque[tuple[str, UsdmRequest, bool]] = deque()
        self._closed = False
        self.connects = 0

    async def start(self) -> None:
        """Opens the warm connections.

        Raises:
            OSError: the host cannot be reached.
        """
        for _ in range(self._want):
            self._idle.append(await self._connect())

    def submit(self, order: HedgeOrder) -> None:
        """Writes a hedge order (``LIMIT`` + ``GTX`` or ``IOC`` only) now; the answer is reported later.

        Raises:
            ValueError: the order is not a LIMIT GTX/IOC order (nothing is sent).
        """
        self._dispatch(order.client_order_id, self.client.order_request(order), cancel=False)

    def cancel(self, client_order_id: str) -> None:
        """Writes a cancel of one of our orders now; the answer is reported later."""
        req = self.client.cancel_request(client_order_id)
        if req is not None:
            self._dispatch(client_order_id, req, cancel=True)

    def _dispatch(self, cid: str, req: UsdmRequest, *, cancel: bool) -> None:
        if self._closed:
            self.client.report(cid, OSError("hedge sender closed"), cancel=cancel)
            return
        while self._idle:
            conn = self._idle.pop()
            if conn.usable:
                self._write(conn, cid, req, cancel)
                return
        self._waiting.append((cid, req, cancel))
        if len(self._open) + self._opening < self._max:
            asyncio.get_running_loop().create_task(self._grow())

    def _write(self, conn: _HttpConnection, cid: str, req: UsdmRequest, cancel: bool) -> None:
        headers = {"Host": self._authority, **req.headers}
        body = req.body if req.body is not None else b""
        if req.body is not None or req.method in ("POST", "PUT"):
            headers["Content-Length"] = str(len(body))
        head = f"{req.method} {self._prefix}{req.target} HTTP/1.1\r\n" + "".join(
            f"{k}: {v}\r\n" for k, v in headers.items()
        )
        conn.send(
            (head + "\r\n").encode("latin-1") + body, lambda outcome: self._done(conn, cid, cancel, outcome)
        )
        if self.on_written is not None:
            self.on_written(cid, self.clock_ns())

    def _done(self, conn: _HttpConnection, cid: str, cancel: bool, outcome: Any) -> None:
        if isinstance(outcome, tuple):
            status, headers, body = outcome
            try:
                outcome = self.client.decode(status, headers, body)
            except UsdmApiError as e:
                outcome = e
        # The connection is free again before the answer is reported: a report that prompts the
        # next order (the service re-evaluates) finds it idle.
        if not conn.usable:
            self._open.discard(conn)
            if not self._closed and len(self._open) + self._opening < max(self._want, len(self._waiting)):
                asyncio.get_running_loop().create_task(self._grow())
        elif self._waiting:
            self._write(conn, *self._waiting.popleft())
        else:
            self._idle.append(conn)
        self.client.report(cid, outcome, cancel=cancel)

    async def _grow(self) -> None:
        try:
            conn = await self._connect()
        except OSError as e:
            # Nothing was written: the waiting calls never reached the venue.
            while self._waiting and not self._open and not self._opening:
                cid, _, cancel = self._waiting.popleft()
                self.client.report(cid, e, cancel=cancel)
            return
        if self._waiting:
            self._write(conn, *self._waiting.popleft())
        else:
            self._idle.append(conn)

    async def _connect(self) -> _HttpConnection:
        self._opening += 1
        try:
            loop = asyncio.get_running_loop()
            _, conn = await asyncio.wait_for(
                loop.create_connection(
                    lambda: _HttpConnection(self.client.timeout_s),
                    self._host,
                    self._port,
                    ssl=self._tls or None,
                ),
                self.client.timeout_s,
            )
        except TimeoutError as e:
            raise OSError(f"connect to {self._authority} timed out") from e
        finally:
            self._opening -= 1
        self.connects += 1
        self._open.add(conn)
        if self._closed:
            conn.close()
        return conn

    def unsent_bytes(self) -> int:
        """Bytes written by calls but not yet taken by the kernel, over every connection."""
        return sum(c.transport.get_write_buffer_size() for c in self._open if c.transport is not None)

    async def close(self) -> None:
        """Closes every connection; a call still waiting for one is reported as a connection error
        (``UNKNOWN``, the client's conservative rule) and one outstanding as a lost connection."""
        self._closed = True
        while self._waiting:
            cid, _, cancel = self._waiting.popleft()
            self.client.report(cid, OSError("hedge sender closed"), cancel=cancel)
        for conn in list(self._open):
            conn.close()
        self._open.clear()
        self._idle.clear()


class _HttpConnection(asyncio.Protocol):
    """One kept-alive HTTP/1.1 connection carrying one request at a time."""

    def __init__(self, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self.transport: asyncio.Transport | None = None
        self.usable = False
        self._buf = bytearray()
        self._then: Callable[[Any], None] | None = None
        self._timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        self.usable = True

    def send(self, data: bytes, then: Callable[[Any], None]) -> None:
        """Writes ``data`` (the kernel gets it now unless the socket is full); ``then`` gets
        ``(status, headers, body)`` or the :class:`OSError` the request ended with."""
        assert self.transport is not None and self._then is None
        self._then = then
        self._timer = asyncio.get_running_loop().call_later(self.timeout_s, self._timeout)
        self.transport.write(data)

    def data_received(self, data: bytes) -> None:
        self._buf += data
        try:
            got = _parse_response(self._buf)
        except ValueError as e:
            self._finish(OSError(f"bad HTTP answer: {e}"), keep=False)
            return
        if got is not None:
            status, headers, body, used = got
            del self._buf[:used]
            keep = headers.get("Connection", "").lower() != "close" and not self._buf
            self._finish((status, headers, body), keep=keep)

    def connection_lost(self, exc: Exception | None) -> None:
        self.usable = False
        if self._then is not None:
            self._finish(OSError(f"connection lost: {exc}" if exc else "connection closed"), keep=False)

    def _timeout(self) -> None:
        self._timer = None
        self._finish(OSError(f"no answer in {self.timeout_s} s"), keep=False)

    def _finish(self, outcome: Any, *, keep: bool) -> None:
        then, self._then = self._then, None
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if not keep:
            self.close()
        if then is not None:
            then(outcome)

    def close(self) -> None:
        self.usable = False
        if self.transport is not None:
            self.transport.abort()


def _parse_response(buf: bytearray) -> tuple[int, CIMultiDict[str], bytes, int] | None:
    """One complete HTTP/1.1 response at the start of ``buf`` (None: not complete yet): status,
    headers, body and the bytes it took.

    Raises:
        ValueError: not an HTTP/1.1 response, or a body whose length cannot be known.
    """
    end = buf.find(b"\r\n\r\n")
    if end < 0:
        return None
    status_line, *lines = bytes(buf[:end]).decode("latin-1").split("\r\n")
    parts = status_line.split(" ", 2)
    if len(parts) < 2 or not parts[0].startswith("HTTP/1.") or not parts[1].isdigit():
        raise ValueError(f"status line {status_line[:80]!r}")
    headers: CIMultiDict[str] = CIMultiDict()
    for line in lines:
        k, sep, v = line.partition(":")
        if not sep:
            raise ValueError(f"header line {line[:80]!r}")
        headers.add(k.strip(), v.strip())
    start = end + 4
    if headers.get("Transfer-Encoding", "").lower() == "chunked":
        body, pos = bytearray(), start
        while True:
            eol = buf.find(b"\r\n", pos)
            if eol < 0:
                return None
            size = int(bytes(buf[pos:eol]).split(b";", 1)[0], 16)
            if size == 0:
                trailer = buf.find(b"\r\n\r\n", eol)
                if trailer < 0:
                    return None
                return int(parts[1]), headers, bytes(body), trailer + 4
            if len(buf) < eol + 2 + size + 2:
                return None
            body += buf[eol + 2 : eol + 2 + size]
            pos = eol + 2 + size + 2
    length = headers.get("Content-Length")
    if length is None or not length.isdigit():
        raise ValueError("no Content-Length and not chunked")
    n = int(length)
    if len(buf) < start + n:
        return None
    return int(parts[1]), headers, bytes(buf[start : start + n]), start + n
