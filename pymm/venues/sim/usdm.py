"""The simulated venue's Binance USD-M futures front: REST ``/fapi/v1|v2|v3/...``, the listenKey
user stream and the futures market streams (research brief ``binance_protocol.md`` §3).

REST shares :mod:`pymm.venues.sim.rest`'s request decoding, signature check over the raw bytes,
``timestamp``/``recvWindow`` rule, weights and 429 handling; trading rules and JSON live in
:class:`pymm._native.SimFutures`. The REST routes are mounted on the spot host too (so a client that
swaps only the host, like ccxt with default options, sees the linear markets); the streams live on
the futures host (:func:`futures_app`) because futures and spot both use ``/ws`` and ``/stream``.

Futures host paths (brief §3.1, §3.7, §4.1): every market stream on ``/ws``, ``/ws/<stream>``,
``/stream?streams=``, and the same under ``/public`` and ``/market`` (ccxt's ``/public/ws/0``,
python-binance's ``/market/stream?streams=``); ``@depth`` diffs carry ``U``/``u``/``pu`` from a
venue-wide sequence; ``@bookTicker``, ``@trade``, ``@aggTrade``, ``@markPrice`` (sent every second),
``@depth<5|10|20>``. The user stream: ``POST``/``PUT``/``DELETE /fapi/v1/listenKey`` (API key only, 60
minutes, POST returns the account's live key), then ``/private/ws?listenKey=``,
``/private/ws/<key>`` or the legacy ``/ws/<key>``, delivering ``ORDER_TRADE_UPDATE``,
``ACCOUNT_UPDATE`` and ``ACCOUNT_CONFIG_UPDATE`` for that account.

The futures WebSocket API (brief §3.8) on the futures host at ``/ws-fapi/v1``: the spot WS API's
envelope, signature rule and ``session.logon`` (:func:`pymm.venues.sim.ws_api.serve_api`) over the
same order logic as REST (``order.place``/``cancel``/``modify``/``status`` run the REST routes'
code in :class:`pymm._native.SimFutures`: same matching, errors and codes), plus ``account.status``,
``account.balance``, ``account.position`` (and their ``v2/`` forms), ``depth``, ``ticker.book``,
``ticker.price``, ``time``, ``ping`` and ``userDataStream.start``/``ping``/``stop`` (the listenKey,
API key only). Every reply carries ``rateLimits`` (request weight per minute; order counts per 10 s
and per minute on order requests) unless the request said ``returnRateLimits: false``.

Fault injection (:class:`UsdmFaults`, the spot REST front's :class:`~pymm.venues.sim.rest.OrderFaults`,
off by default): an order request (new order, batch, modify, cancel) that the venue executed can be
answered ``-1007`` (HTTP 503), answered HTTP 502 with no Binance body, answered only after a stall,
or not answered at all (the connection is reset) — the cases a gateway must turn into UNKNOWN and
resolve without resending; or refused 429 with ``Retry-After`` before it executes. The same counters apply to
``order.place``/``order.modify``/``order.cancel`` on the WS API, except the 502 (REST only: no proxy
answers for the venue inside a WebSocket): ``-1007`` comes as ``status: 503``, a stalled answer
arrives late while the connection keeps serving, a reset closes the connection after the order
was executed.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from aiohttp import WSMsgType, web

from pymm.venues.sim import streams
from pymm.venues.sim.rest import (
    UNKNOWN_MSG,
    VENUE_KEY,
    ApiError,
    OrderFaults,
    authenticate_key,
    faulted,
    public,
    reply,
    signed,
    weigh,
)
from pymm.venues.sim.ws_api import Session, authenticate, error_reply, logon, plain, serve_api

if TYPE_CHECKING:
    from pymm.venues.sim.server import SimVenue

__all__ = ["FUTURES_KINDS", "ListenKeys", "UsdmFaults", "futures_app", "rest_routes", "ws_fapi_handler"]

FUTURES_KINDS = streams.SPOT_KINDS | {"@markPrice"}
"""Futures stream kinds: spot's plus the mark price."""

LISTEN_KEY_TTL_MS = 60 * 60 * 1000

# (method, path, weight, signed, counts as an order); weights from the brief's §3.2-§3.3 and the
# Binance USD-M docs' figures where the brief has none.
_PUBLIC: list[tuple[str, str, Callable[[dict[str, str]], int]]] = [
    ("GET", "/fapi/v1/exchangeInfo", lambda p: 1),
    ("GET", "/fapi/v1/depth", lambda p: _depth_weight(p)),
    ("GET", "/fapi/v1/ticker/bookTicker", lambda p: 2 if "symbol" in p else 5),
    ("GET", "/fapi/v1/ticker/price", lambda p: 1 if "symbol" in p else 2),
    ("GET", "/fapi/v2/ticker/price", lambda p: 1 if "symbol" in p else 2),
    ("GET", "/fapi/v1/premiumIndex", lambda p: 1 if "symbol" in p else 10),
    ("GET", "/fapi/v1/fundingRate", lambda p: 1),
    ("GET", "/fapi/v1/fundingInfo", lambda p: 1),
]
_SIGNED: list[tuple[str, str, int, bool]] = [
    ("POST", "/fapi/v1/order", 0, True),
    ("GET", "/fapi/v1/order", 1, False),
    ("DELETE", "/fapi/v1/order", 1, False),
    ("PUT", "/fapi/v1/order", 1, True),
    ("POST", "/fapi/v1/batchOrders", 5, True),
    ("DELETE", "/fapi/v1/batchOrders", 1, False),
    ("GET", "/fapi/v1/openOrders", 1, False),
    ("GET", "/fapi/v1/openOrder", 1, False),
    ("GET", "/fapi/v1/allOrders", 5, False),
    ("DELETE", "/fapi/v1/allOpenOrders", 1, False),
    ("GET", "/fapi/v2/account", 5, False),
    ("GET", "/fapi/v3/account", 5, False),
    ("GET", "/fapi/v2/balance", 5, False),
    ("GET", "/fapi/v3/balance", 5, False),
    ("GET", "/fapi/v2/positionRisk", 5, False),
    ("GET", "/fapi/v3/positionRisk", 5, False),
    ("POST", "/fapi/v1/leverage", 1, False),
    ("POST", "/fapi/v1/marginType", 1, False),
    ("GET", "/fapi/v1/positionSide/dual", 30, False),
    ("POST", "/fapi/v1/positionSide/dual", 1, False),
    ("GET", "/fapi/v1/userTrades", 5, False),
    ("GET", "/fapi/v1/income", 30, False),
    ("GET", "/fapi/v1/leverageBracket", 1, False),
    ("GET", "/fapi/v1/commissionRate", 20, False),
]


# Order routes the fault hooks apply to.
_FAULT_ROUTES = frozenset(
    {
        ("POST", "/fapi/v1/order"),
        ("PUT", "/fapi/v1/order"),
        ("DELETE", "/fapi/v1/order"),
        ("POST", "/fapi/v1/batchOrders"),
    }
)


UsdmFaults = OrderFaults
"""The USD-M order routes' fault hooks: :class:`pymm.venues.sim.rest.OrderFaults` (shared with spot)."""


def _usdm_faults(venue: SimVenue) -> OrderFaults:
    return venue.usdm_faults


def _depth_weight(p: dict[str, str]) -> int:
    try:
        limit = int(p.get("limit", "500") or "500")
    except ValueError:
        limit = 500
    return 2 if limit <= 50 else 5 if limit <= 100 else 10 if limit <= 500 else 20


@dataclass
class ListenKeys:
    """Futures listenKeys: one live key per account, valid 60 minutes from its last POST/PUT."""

    clock_ms: Callable[[], int]
    _by_key: dict[str, tuple[int, int]] = field(default_factory=dict)  # key → (account, expiry ms)

    def create(self, account: int) -> str:
        """The account's live key (extended), or a new one."""
        now = self.clock_ms()
        for key, (acct, expiry) in self._by_key.items():
            if acct == account and expiry > now:
                self._by_key[key] = (account, now + LISTEN_KEY_TTL_MS)
                return key
        key = secrets.token_urlsafe(48)
        self._by_key[key] = (account, now + LISTEN_KEY_TTL_MS)
        return key

    def keepalive(self, account: int, key: str | None) -> str:
        """Extends the account's key (``-1125`` when it has none or ``key`` is not its key)."""
        now = self.clock_ms()
        for k, (acct, expiry) in self._by_key.items():
            if acct == account and expiry > now and (key is None or key == k):
                self._by_key[k] = (account, now + LISTEN_KEY_TTL_MS)
                return k
        raise ApiError(400, -1125, "This listenKey does not exist.")

    def close(self, account: int, key: str | None) -> None:
        """Forgets the account's key."""
        for k, (acct, _) in list(self._by_key.items()):
            if acct == account and (key is None or key == k):
                del self._by_key[k]

    def account(self, key: str) -> int | None:
        """The account of a live key, or None."""
        entry = self._by_key.get(key)
        if entry is None or entry[1] <= self.clock_ms():
            return None
        return entry[0]


@dataclass(eq=False)
class _UserConn:
    ws: web.WebSocketResponse
    account: int
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))


class FuturesUserHub:
    """Delivers futures user-data events to listenKey connections."""

    def __init__(self) -> None:
        """No connections."""
        self._conns: set[_UserConn] = set()

    def publish(self, account: int, event: dict[str, Any]) -> None:
        """Queues ``event`` to every connection of ``account``."""
        text = None
        for c in self._conns:
            if c.account == account:
                text = text or json.dumps(event, separators=(",", ":"))
                with contextlib.suppress(asyncio.QueueFull):
                    c.queue.put_nowait(text)

    async def serve(self, request: web.Request, account: int) -> web.WebSocketResponse:
        """Runs one user-stream connection until it closes."""
        ws = web.WebSocketResponse(heartbeat=20.0)
        await ws.prepare(request)
        conn = _UserConn(ws=ws, account=account)
        self._conns.add(conn)

        async def send() -> None:
            while True:
                text = await conn.queue.get()
                if ws.closed:
                    return
                await ws.send_str(text)

        sender = asyncio.create_task(send())
        try:
            async for msg in ws:
                if msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws


def rest_routes(app: web.Application, venue: SimVenue) -> None:
    """Adds the ``/fapi`` REST routes (and the listenKey endpoints) to ``app``."""
    app[VENUE_KEY] = venue
    fut = venue.futures
    add = app.router.add_route

    def route_public(route: str) -> Callable[[SimVenue, dict[str, str]], tuple[int, Any]]:
        return lambda v, p: fut.request(route, 0, p, v.now_ns())

    def route_signed(route: str) -> Callable[[SimVenue, int, dict[str, str]], tuple[int, Any]]:
        return lambda v, a, p: fut.request(route, a, p, v.now_ns())

    add("GET", "/fapi/v1/ping", public(lambda p: 1, lambda v, p: (200, {})))
    add("GET", "/fapi/v1/time", public(lambda p: 1, lambda v, p: (200, {"serverTime": v.now_ms()})))
    for method, path, weight in _PUBLIC:
        add(method, path, public(weight, route_public(f"{method} {path}")))
    for method, path, w, order in _SIGNED:
        handler = signed(w, route_signed(f"{method} {path}"), order=order, futures=True)
        add(method, path, faulted(handler, _usdm_faults) if (method, path) in _FAULT_ROUTES else handler)

    async def listen_key(request: web.Request) -> web.Response:
        v = request.app[VENUE_KEY]
        headers, over = weigh(v, request, 1)
        try:
            if over is not None:
                raise over
            account = authenticate_key(v, request)
            raw = await request.read() if request.can_read_body else b""
            params = dict(request.query)
            params.update({k: val for k, val in _form(raw).items() if k not in params})
            key = params.get("listenKey") or None
            if request.method == "POST":
                return reply(200, {"listenKey": v.listen_keys.create(account)}, headers)
            if request.method == "PUT":
                return reply(200, {"listenKey": v.listen_keys.keepalive(account, key)}, headers)
            v.listen_keys.close(account, key)
            return reply(200, {}, headers)
        except ApiError as e:
            return reply(e.status, {"code": e.code, "msg": e.msg}, headers)

    for method in ("POST", "PUT", "DELETE"):
        add(method, "/fapi/v1/listenKey", listen_key)


# WS API methods → (the REST route whose logic they run, weight, counts as an order).
_WS_SIGNED: dict[str, tuple[str, int, bool]] = {
    "order.place": ("POST /fapi/v1/order", 0, True),
    "order.cancel": ("DELETE /fapi/v1/order", 1, False),
    "order.modify": ("PUT /fapi/v1/order", 1, True),
    "order.status": ("GET /fapi/v1/order", 1, False),
    "account.status": ("GET /fapi/v2/account", 5, False),
    "v2/account.status": ("GET /fapi/v3/account", 5, False),
    "account.balance": ("GET /fapi/v2/balance", 5, False),
    "v2/account.balance": ("GET /fapi/v3/balance", 5, False),
    "account.position": ("GET /fapi/v2/positionRisk", 5, False),
    "v2/account.position": ("GET /fapi/v3/positionRisk", 5, False),
}
_WS_PUBLIC: dict[str, tuple[str, Callable[[dict[str, str]], int]]] = {
    "depth": ("GET /fapi/v1/depth", _depth_weight),
    "ticker.book": ("GET /fapi/v1/ticker/bookTicker", lambda p: 2 if "symbol" in p else 5),
    "ticker.price": ("GET /fapi/v2/ticker/price", lambda p: 1 if "symbol" in p else 2),
}
_WS_FAULTED = frozenset({"order.place", "order.cancel", "order.modify"})
_ORDERS_PER_MINUTE = 1200  # Binance's USD-M default; the sim counts but does not enforce it


def _rate(kind: str, interval: str, num: int, limit: int, count: int) -> dict[str, Any]:
    return {"rateLimitType": kind, "interval": interval, "intervalNum": num, "limit": limit, "count": count}


def ws_fapi_handler(venue: SimVenue) -> Callable[[Session, dict[str, Any]], Awaitable[dict[str, Any] | None]]:
    """The ``/ws-fapi/v1`` request handler for :func:`pymm.venues.sim.ws_api.serve_api`."""
    fut = venue.futures

    async def handle(session: Session, req: dict[str, Any]) -> dict[str, Any] | None:
        rid = req.get("id")
        method = str(req.get("method", ""))
        params = req.get("params") or {}
        if not isinstance(params, dict):
            return error_reply(
                rid, 400, -1102, "Mandatory parameter 'params' was not sent, was empty/null, or malformed."
            )
        want_limits = params.get("returnRateLimits", True) not in (False, "false")
        limits = venue.limits
        weight = 1
        signed_route = _WS_SIGNED.get(method)
        if signed_route is not None:
            weight = signed_route[1]
        elif method in _WS_PUBLIC:
            weight = _WS_PUBLIC[method][1](plain(params))
        elif method.startswith("userDataStream."):
            weight = 1
        headers, over = weigh(venue, session.request, weight)
        rate = [
            _rate(
                "REQUEST_WEIGHT",
                "MINUTE",
                1,
                limits.weight_per_minute,
                int(headers.get("X-MBX-USED-WEIGHT-1M", "0")),
            )
        ]

        def done(status: int, body: Any) -> dict[str, Any]:
            if status != 200 and isinstance(body, dict) and "code" in body:
                out = error_reply(rid, status, body["code"], body["msg"])
            else:
                out = {"id": rid, "status": status, "result": body}
            if want_limits:
                out["rateLimits"] = rate
            return out

        try:
            if over is not None:
                raise over
            if method == "ping":
                return done(200, {})
            if method == "time":
                return done(200, {"serverTime": venue.now_ms()})
            if method == "session.logon":
                return done(200, logon(venue, session, params))
            if method == "session.status":
                return done(200, {"apiKey": session.api_key, "serverTime": venue.now_ms()})
            if method == "session.logout":
                session.account = session.api_key = None
                return done(200, {"apiKey": None, "serverTime": venue.now_ms()})
            if method in _WS_PUBLIC:
                return done(*fut.request(_WS_PUBLIC[method][0], 0, plain(params), venue.now_ns()))
            if method in ("userDataStream.start", "userDataStream.ping", "userDataStream.stop"):
                # USER_STREAM: the API key only (or the logged-on session's).
                key = params.get("apiKey") or session.api_key
                account = venue.keys.account(key) if isinstance(key, str) else None
                if account is None:
                    raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
                if method == "userDataStream.start":
                    return done(200, {"listenKey": venue.listen_keys.create(account)})
                if method == "userDataStream.ping":
                    return done(200, {"listenKey": venue.listen_keys.keepalive(account, None)})
                venue.listen_keys.close(account, None)
                return done(200, {})
            if signed_route is None:
                return error_reply(
                    rid,
                    400,
                    -1100,
                    f"Illegal characters found in parameter 'method'; unknown method {method!r}.",
                )
            route, _, is_order = signed_route
            account = authenticate(venue, session, params)
            if is_order:
                c10s, c1m, _c1d = limits.add_order(account)
                rate.append(_rate("ORDERS", "SECOND", 10, limits.orders_per_10s, c10s))
                rate.append(_rate("ORDERS", "MINUTE", 1, _ORDERS_PER_MINUTE, c1m))
                if c10s > limits.orders_per_10s:
                    raise ApiError(
                        429,
                        -1015,
                        f"Too many new orders; current limit is {limits.orders_per_10s} orders "
                        "per 10 SECOND.",
                    )
            if method in _WS_FAULTED:
                await venue.order_entry()
            status, body = fut.request(route, account, plain(params), venue.now_ns())
            venue.pump()
        except ApiError as e:
            return done(e.status, {"code": e.code, "msg": e.msg})
        out = done(status, body)
        if method in _WS_FAULTED and status == 200:
            return _ws_fault(venue, session, out)
        return out

    return handle


def _ws_fault(venue: SimVenue, session: Session, out: dict[str, Any]) -> dict[str, Any] | None:
    """Applies :class:`UsdmFaults` to an executed WS API order request (None: not answered now)."""
    faults = venue.usdm_faults
    if faults.unknown_replies > 0:
        faults.unknown_replies -= 1
        faults.applied += 1
        late = error_reply(out["id"], 503, -1007, UNKNOWN_MSG)
        if "rateLimits" in out:
            late["rateLimits"] = out["rateLimits"]
        return late
    if faults.reset_replies > 0:
        faults.reset_replies -= 1
        faults.applied += 1
        transport = session.request.transport
        if transport is not None:
            transport.abort()
        return None
    if faults.stall_replies > 0:
        faults.stall_replies -= 1
        faults.applied += 1
        text = json.dumps(out, separators=(",", ":"))
        asyncio.get_running_loop().call_later(faults.stall_s, lambda: session.queue.put_nowait(text))
        return None
    return out


def _form(raw: bytes) -> dict[str, str]:
    return dict(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True)) if raw else {}


def futures_app(venue: SimVenue) -> web.Application:
    """The futures host: ``/fapi`` REST, the ``/ws-fapi/v1`` WS API, market streams and the listenKey
    user stream."""
    app = web.Application()
    rest_routes(app, venue)
    ws_fapi = ws_fapi_handler(venue)

    async def ws_api(request: web.Request) -> web.StreamResponse:
        return await serve_api(request, ws_fapi)

    app.router.add_get("/ws-fapi/v1", ws_api)
    hub = venue.futures_hub
    users = venue.futures_users

    async def user_or_stream(request: web.Request, name: str) -> web.StreamResponse:
        account = venue.listen_keys.account(name) if name else None
        if account is not None:
            return await users.serve(request, account)
        return await hub.serve(request, [name] if name else [], combined=False)

    async def raw(request: web.Request) -> web.StreamResponse:
        key = request.query.get("listenKey")
        if key is not None:
            return await private(request)
        return await user_or_stream(request, request.match_info.get("name", ""))

    async def combined(request: web.Request) -> web.StreamResponse:
        names = [s for s in request.query.get("streams", "").split("/") if s]
        return await hub.serve(request, names, combined=True)

    async def private(request: web.Request) -> web.StreamResponse:
        key = request.match_info.get("key") or request.query.get("listenKey", "")
        account = venue.listen_keys.account(key)
        if account is None:
            return reply(400, {"code": -1125, "msg": "This listenKey does not exist."}, {})
        return await users.serve(request, account)

    for prefix in ("", "/public", "/market"):
        app.router.add_get(f"{prefix}/ws", raw)
        app.router.add_get(f"{prefix}/ws/", raw)
        app.router.add_get(prefix + "/ws/{name}", raw)
        app.router.add_get(f"{prefix}/stream", combined)
    app.router.add_get("/private/ws", private)
    app.router.add_get("/private/ws/", private)
    app.router.add_get("/private/ws/{key}", private)
    return app
