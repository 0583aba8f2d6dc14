"""The simulated venue's Binance spot WebSocket API (``/ws-api/v3``): order entry and the user data
subscription (research brief §1.13, §2.4).

A request is ``{"id", "method", "params"}`` (a ``v3/`` prefix on the method is accepted); a reply is
``{"id", "status", "result" | "error", "rateLimits"}``. Signed requests carry ``apiKey``,
``timestamp`` and ``signature`` in ``params``; the signature covers every other parameter sorted by
name and joined as ``k=v&...`` without percent-encoding. ``session.logon`` (Ed25519 keys, as Binance
requires) authenticates the connection, after which ``apiKey``/``signature`` may be omitted.
``userDataStream.subscribe.signature`` (any key type: what ccxt and python-binance send) and, after
logon, ``userDataStream.subscribe`` stream the account's events as
``{"subscriptionId": n, "event": {...}}``.

The envelope, signature check, ``session.logon`` and the connection loop (:func:`serve_api`) are
shared with the USD-M futures WebSocket API (``/ws-fapi/v1``, :mod:`pymm.venues.sim.usdm`).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from pymm.venues.sim.rest import ApiError, check_timestamp

if TYPE_CHECKING:
    from pymm.venues.sim.server import SimVenue

__all__ = [
    "Session",
    "UserHub",
    "WsFaults",
    "authenticate",
    "error_reply",
    "logon",
    "plain",
    "routes",
    "serve_api",
    "ws_signature_payload",
]

_ORDER_METHODS = ("order.place", "order.cancelReplace")


@dataclass
class WsFaults:
    """Seeded fault injection on the WebSocket API, for the fault-matrix tests (off by default).

    Attributes:
        unknown_replies: the next this many ``order.place``/``order.cancelReplace`` requests are
            executed (the order rests, fills and reports on the user stream as usual), then answered
            with ``-1007`` (status 503, "execution status unknown"): fault-matrix row 10.
        reply_delay_s: how long such an answer is held back.
        withhold_replies: the next this many order requests are executed and never answered (the
            client's timeout makes them UNKNOWN).
        rate_429: 429 answers sent (order rate over the limit).
        rate_418: 418 answers sent (requests after a 429 inside its back-off window).
    """

    unknown_replies: int = 0
    reply_delay_s: float = 0.0
    withhold_replies: int = 0
    rate_429: int = 0
    rate_418: int = 0
    banned_until_ms: dict[int, int] = field(default_factory=dict)
    strikes: dict[int, int] = field(default_factory=dict)


#: Order requests tolerated inside a 429's back-off window before the account is banned (418).
BAN_AFTER_STRIKES = 10


# Request parameters that are not the endpoint's own (``returnRateLimits`` is what ccxt sends).
_AUTH_KEYS = ("apiKey", "signature", "returnRateLimits")


def ws_signature_payload(params: dict[str, Any]) -> bytes:
    """What a WS API request signs: all parameters but ``signature``, sorted, ``k=v`` joined by ``&``."""
    return "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature").encode()


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@dataclass(eq=False)
class Session:
    """One WS API connection: its logon, user-data subscriptions and outgoing queue."""

    ws: web.WebSocketResponse
    request: web.Request  # the upgrade request (its peer address carries the IP weight)
    account: int | None = None  # after session.logon
    api_key: str | None = None
    subscriptions: dict[int, int] = field(default_factory=dict)  # subscriptionId → account
    next_subscription: int = 0
    # Unbounded: a user-data event is never dropped, however slowly the client reads (a bounded
    # queue that discards on overflow would silently lose fills).
    queue: asyncio.Queue[str] = field(default_factory=asyncio.Queue)


class UserHub:
    """Delivers accounts' user-data events to subscribed WS API sessions."""

    def __init__(self) -> None:
        """No sessions."""
        self._sessions: set[Session] = set()

    async def drop_all(self) -> int:
        """Closes every WS API connection abruptly (fault-matrix row 15); returns how many."""
        sessions = list(self._sessions)
        for s in sessions:
            transport = s.ws._req.transport if s.ws._req is not None else None  # aiohttp keeps it here
            if transport is not None:
                transport.abort()
        return len(sessions)

    def publish(self, account: int, event: dict[str, Any]) -> None:
        """Queues ``event`` to every subscription to ``account``."""
        for s in self._sessions:
            for sub, acct in s.subscriptions.items():
                if acct == account:
                    s.queue.put_nowait(json.dumps({"subscriptionId": sub, "event": event}))

    def sessions(self) -> list[Session]:
        """The connected sessions."""
        return list(self._sessions)

    def add(self, s: Session) -> None:
        """Registers a session."""
        self._sessions.add(s)

    def remove(self, s: Session) -> None:
        """Forgets a session."""
        self._sessions.discard(s)


def error_reply(rid: object, status: int, code: int, msg: str) -> dict[str, Any]:
    """An error reply in the WS API envelope."""
    return {"id": rid, "status": status, "error": {"code": code, "msg": msg}}


def authenticate(venue: SimVenue, session: Session, params: dict[str, Any]) -> int:
    """The account of a signed WS API request (or of the logged-on session).

    Raises:
        ApiError: -1102 (missing key, timestamp or signature), -2015 (unknown key), -1021
            (timestamp), -1022 (bad signature).
    """
    if "signature" not in params and session.account is not None:
        check_timestamp(venue.now_ms(), {k: _text(v) for k, v in params.items()})
        return session.account
    api_key = params.get("apiKey")
    if not isinstance(api_key, str) or not api_key:
        raise ApiError(400, -1102, "Mandatory parameter 'apiKey' was not sent, was empty/null, or malformed.")
    account = venue.keys.account(api_key)
    if account is None:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    check_timestamp(venue.now_ms(), {k: _text(v) for k, v in params.items()})
    sig = params.get("signature")
    if not isinstance(sig, str) or not sig:
        raise ApiError(
            400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        )
    if not venue.keys.verify(api_key, ws_signature_payload(params), sig.encode()):
        raise ApiError(400, -1022, "Signature for this request is not valid.")
    return account


def plain(params: dict[str, Any]) -> dict[str, str]:
    """The endpoint's own parameters as text (no key, signature or ``returnRateLimits``)."""
    return {k: _text(v) for k, v in params.items() if k not in _AUTH_KEYS}


def logon(venue: SimVenue, session: Session, params: dict[str, Any]) -> dict[str, Any]:
    """``session.logon``: authenticates the connection (any key type the venue verifies; Binance
    itself takes Ed25519 only) and returns the session's status.

    Raises:
        ApiError: as :func:`authenticate`.
    """
    account = authenticate(venue, session, params)
    session.account, session.api_key = account, params.get("apiKey")
    now = venue.now_ms()
    return {
        "apiKey": session.api_key,
        "authorizedSince": now,
        "connectedSince": now,
        "returnRateLimits": False,
        "serverTime": now,
        "userDataStream": bool(session.subscriptions),
    }


Call = Callable[["SimVenue", int, dict[str, str]], tuple[int, Any]]


def _signed_methods(venue: SimVenue) -> dict[str, Call]:
    ex = venue.exchange

    def ns() -> int:
        return venue.now_ns()

    return {
        "order.place": lambda v, a, p: ex.new_order(a, p, ns()),
        "order.cancel": lambda v, a, p: ex.cancel_order(a, p, ns()),
        "order.status": lambda v, a, p: ex.query_order(a, p),
        "order.cancelReplace": lambda v, a, p: ex.cancel_replace(a, p, ns()),
        "openOrders.status": lambda v, a, p: ex.open_orders(a, p),
        "openOrders.cancelAll": lambda v, a, p: ex.cancel_open_orders(a, p, ns()),
        "account.status": lambda v, a, p: ex.account(a, p, ns()),
        "myTrades": lambda v, a, p: ex.my_trades(a, p),
        "allOrders": lambda v, a, p: ex.all_orders(a, p),
        "order.test": lambda v, a, p: ex.test_order(a, p),
    }


def _handle(venue: SimVenue, session: Session, req: dict[str, Any], *, pump: bool = True) -> dict[str, Any]:
    rid = req.get("id")
    method = str(req.get("method", ""))
    method = method.removeprefix("v3/")
    params = req.get("params") or {}
    if not isinstance(params, dict):
        return error_reply(
            rid, 400, -1102, "Mandatory parameter 'params' was not sent, was empty/null, or malformed."
        )
    ex = venue.exchange
    rate_limits: list[dict[str, Any]] = []
    try:
        if method == "ping":
            return {"id": rid, "status": 200, "result": {}}
        if method == "time":
            return {"id": rid, "status": 200, "result": {"serverTime": venue.now_ms()}}
        if method == "exchangeInfo":
            status, body = ex.exchange_info(plain(params), venue.now_ns())
        elif method == "depth":
            status, body = ex.depth(plain(params))
        elif method == "ticker.book":
            status, body = ex.book_ticker(plain(params))
        elif method == "avgPrice":
            status, body = ex.avg_price(plain(params), venue.now_ns())
        elif method == "session.logon":
            status, body = 200, logon(venue, session, params)
        elif method in ("userDataStream.subscribe.signature", "userDataStream.subscribe"):
            if method == "userDataStream.subscribe" and session.account is None:
                raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            account = (
                session.account
                if method == "userDataStream.subscribe"
                else authenticate(venue, session, params)
            )
            if account is None:  # unreachable: a missing logon was refused above
                raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            sub = session.next_subscription
            session.next_subscription += 1
            session.subscriptions[sub] = account
            status, body = 200, {"subscriptionId": sub}
        elif method == "userDataStream.unsubscribe":
            wanted = params.get("subscriptionId")
            if wanted is None:
                session.subscriptions.clear()
            elif session.subscriptions.pop(int(wanted), None) is None:
                raise ApiError(400, -2036, "User Data Stream subscription not active.")
            status, body = 200, {}
        elif method in (methods := _signed_methods(venue)):
            account = authenticate(venue, session, params)
            if method in _ORDER_METHODS:
                rate = _count_order(venue, account)
                if isinstance(rate, dict):
                    return rate | {"id": rid}
                rate_limits = rate
            status, body = methods[method](venue, account, plain(params))
            if pump:
                venue.pump()
        else:
            return error_reply(
                rid, 400, -1100, f"Illegal characters found in parameter 'method'; unknown method {method!r}."
            )
    except ApiError as e:
        return error_reply(rid, e.status, e.code, e.msg)
    if status != 200 and isinstance(body, dict) and "code" in body:
        reply = error_reply(rid, status, body["code"], body["msg"])
        if "data" in body:
            reply["error"]["data"] = body["data"]
        return reply
    return {"id": rid, "status": status, "result": body, "rateLimits": rate_limits}


def _count_order(venue: SimVenue, account: int) -> list[dict[str, Any]] | dict[str, Any]:
    """Counts one new order; returns the ``rateLimits`` to report, or a 429/418 error reply.

    Over the ORDERS/10 s limit the answer is 429 with a one-second ``retryAfter``; order requests
    inside that back-off window are refused with 429 again and counted as strikes, and more than
    :data:`BAN_AFTER_STRIKES` of them ban the account for a minute (418), as Binance does to
    clients that do not back off.
    """
    faults = venue.ws_faults
    now = venue.now_ms()
    limit = venue.limits.orders_per_10s

    def refuse(status: int, code: int, msg: str, retry: int) -> dict[str, Any]:
        if status == 418:
            faults.rate_418 += 1
        else:
            faults.rate_429 += 1
        return {
            "status": status,
            "error": {"code": code, "msg": msg, "data": {"serverTime": now, "retryAfter": retry}},
        }

    until = faults.banned_until_ms.get(account, 0)
    if until > now:
        faults.strikes[account] = faults.strikes.get(account, 0) + 1
        if faults.strikes[account] > BAN_AFTER_STRIKES:
            faults.banned_until_ms[account] = max(until, now + 60_000)
            return refuse(418, -1003, "Way too many requests; IP banned.", faults.banned_until_ms[account])
        return refuse(
            429, -1015, f"Too many new orders; current limit is {limit} orders per 10 SECOND.", until
        )
    c10s, _c1m, c1d = venue.limits.add_order(account)
    rate_limits = [
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": limit, "count": c10s},
        {"rateLimitType": "ORDERS", "interval": "DAY", "intervalNum": 1, "limit": 200000, "count": c1d},
    ]
    if c10s > limit:
        faults.banned_until_ms[account] = now + 1000
        faults.strikes[account] = 0
        reply = refuse(
            429, -1015, f"Too many new orders; current limit is {limit} orders per 10 SECOND.", now + 1000
        )
        return reply | {"rateLimits": rate_limits}
    return rate_limits


def _faulted(venue: SimVenue, session: Session, req: dict[str, Any], reply: dict[str, Any]) -> bool:
    """Applies ``venue.ws_faults`` to an executed order request; True when the reply is handled."""
    faults = venue.ws_faults
    method = str(req.get("method", "")).removeprefix("v3/")
    if method not in _ORDER_METHODS or reply.get("status") != 200:
        return False
    if faults.withhold_replies > 0:
        faults.withhold_replies -= 1
        return True
    if faults.unknown_replies > 0:
        faults.unknown_replies -= 1
        late = error_reply(
            reply.get("id"),
            503,
            -1007,
            "Timeout waiting for response from backend server. "
            "Send status unknown; execution status unknown.",
        )
        text = json.dumps(late, separators=(",", ":"))
        asyncio.get_running_loop().call_later(faults.reply_delay_s, lambda: session.queue.put_nowait(text))
        return True
    return False


Handler = Callable[[Session, dict[str, Any]], Awaitable[dict[str, Any] | None]]


async def serve_api(request: web.Request, handle: Handler, hub: UserHub | None = None) -> web.StreamResponse:
    """Runs one WS API connection: each text frame is a request, ``handle`` returns its reply (or
    None when it answers later or never: fault injection), replies and events go out in order."""
    ws = web.WebSocketResponse(heartbeat=20.0)
    await ws.prepare(request)
    session = Session(ws=ws, request=request)
    if hub is not None:
        hub.add(session)

    async def send() -> None:
        while True:
            text = await session.queue.get()
            if ws.closed:
                return
            try:
                await ws.send_str(text)
            except ConnectionError:  # the peer is gone (or the transport was aborted): stop sending
                return

    sender = asyncio.create_task(send())
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                req = json.loads(msg.data)
            except ValueError:
                req = None
            if not isinstance(req, dict):
                reply: dict[str, Any] | None = error_reply(
                    None, 400, -1102, "Mandatory parameter 'id' was not sent, was empty/null, or malformed."
                )
            else:
                reply = await handle(session, req)
            if reply is not None:
                await session.queue.put(json.dumps(reply, separators=(",", ":")))
    finally:
        if hub is not None:
            hub.remove(session)
        sender.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sender
    return ws


def routes(app: web.Application, venue: SimVenue) -> None:
    """Adds ``/ws-api/v3`` to ``app``."""

    async def handle(session: Session, req: dict[str, Any]) -> dict[str, Any] | None:
        if str(req.get("method", "")).removeprefix("v3/") == "openOrders.cancelAll":
            # A mass cancel's answer (the book holds none of the account's orders any more) goes
            # out before its execution reports are built and published: with N orders that is
            # ~0.1 ms of Python each, which the kill switch's confirmation used to wait behind.
            # With nothing queued for this connection it is written at once, not on the sender
            # task's next turn of a busy loop: an uncompressed frame is written to the transport
            # before `send_str` first yields, so nothing dequeued earlier can be overtaken.
            reply = _handle(venue, session, req, pump=False)
            text = json.dumps(reply, separators=(",", ":"))
            if session.queue.empty() and not session.ws.compress:
                with contextlib.suppress(ConnectionError):
                    await session.ws.send_str(text)
            else:
                # Behind what is queued; the sender task wakes before the pump runs (both are
                # scheduled on the loop, in this order).
                session.queue.put_nowait(text)
            asyncio.get_running_loop().call_soon(venue.pump)
            return None
        reply = _handle(venue, session, req)
        return None if _faulted(venue, session, req, reply) else reply

    async def serve(request: web.Request) -> web.StreamResponse:
        return await serve_api(request, handle, venue.user_hub)

    app.router.add_get("/ws-api/v3", serve)
