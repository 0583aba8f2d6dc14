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
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import WSMsgType, web

from pymm.venues.sim.rest import ApiError, check_timestamp

if TYPE_CHECKING:
    from pymm.venues.sim.server import SimVenue

__all__ = ["UserHub", "routes", "ws_signature_payload"]

_AUTH_KEYS = ("apiKey", "signature")


def ws_signature_payload(params: dict[str, Any]) -> bytes:
    """What a WS API request signs: all parameters but ``signature``, sorted, ``k=v`` joined by ``&``."""
    return "&".join(f"{k}={_text(v)}" for k, v in sorted(params.items()) if k != "signature").encode()


def _text(v: object) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    return str(v)


@dataclass(eq=False)
class _Session:
    ws: web.WebSocketResponse
    account: int | None = None  # after session.logon
    api_key: str | None = None
    subscriptions: dict[int, int] = field(default_factory=dict)  # subscriptionId → account
    next_subscription: int = 0
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))


class UserHub:
    """Delivers accounts' user-data events to subscribed WS API sessions."""

    def __init__(self) -> None:
        """No sessions."""
        self._sessions: set[_Session] = set()

    def publish(self, account: int, event: dict[str, Any]) -> None:
        """Queues ``event`` to every subscription to ``account``."""
        for s in self._sessions:
            for sub, acct in s.subscriptions.items():
                if acct == account:
                    with contextlib.suppress(asyncio.QueueFull):
                        s.queue.put_nowait(json.dumps({"subscriptionId": sub, "event": event}))

    def add(self, s: _Session) -> None:
        """Registers a session."""
        self._sessions.add(s)

    def remove(self, s: _Session) -> None:
        """Forgets a session."""
        self._sessions.discard(s)


def _error(rid: object, status: int, code: int, msg: str) -> dict[str, Any]:
    return {"id": rid, "status": status, "error": {"code": code, "msg": msg}}


def _authenticate(venue: SimVenue, session: _Session, params: dict[str, Any]) -> int:
    """The account of a signed WS API request (or of the logged-on session)."""
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


def _plain(params: dict[str, Any]) -> dict[str, str]:
    return {k: _text(v) for k, v in params.items() if k not in _AUTH_KEYS}


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


def _handle(venue: SimVenue, session: _Session, req: dict[str, Any]) -> dict[str, Any]:
    rid = req.get("id")
    method = str(req.get("method", ""))
    method = method.removeprefix("v3/")
    params = req.get("params") or {}
    if not isinstance(params, dict):
        return _error(
            rid, 400, -1102, "Mandatory parameter 'params' was not sent, was empty/null, or malformed."
        )
    ex = venue.exchange
    try:
        if method == "ping":
            return {"id": rid, "status": 200, "result": {}}
        if method == "time":
            return {"id": rid, "status": 200, "result": {"serverTime": venue.now_ms()}}
        if method == "exchangeInfo":
            status, body = ex.exchange_info(_plain(params), venue.now_ns())
        elif method == "depth":
            status, body = ex.depth(_plain(params))
        elif method == "ticker.book":
            status, body = ex.book_ticker(_plain(params))
        elif method == "avgPrice":
            status, body = ex.avg_price(_plain(params), venue.now_ns())
        elif method == "session.logon":
            account = _authenticate(venue, session, params)
            session.account, session.api_key = account, params.get("apiKey")
            status, body = (
                200,
                {
                    "apiKey": session.api_key,
                    "authorizedSince": venue.now_ms(),
                    "connectedSince": venue.now_ms(),
                    "returnRateLimits": False,
                    "serverTime": venue.now_ms(),
                    "userDataStream": bool(session.subscriptions),
                },
            )
        elif method in ("userDataStream.subscribe.signature", "userDataStream.subscribe"):
            if method == "userDataStream.subscribe" and session.account is None:
                raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            account = (
                session.account
                if method == "userDataStream.subscribe"
                else _authenticate(venue, session, params)
            )
            if account is None:  # unreachable: a missing logon was refused above
                raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
            sub = session.next_subscription
            session.next_subscription += 1
            session.subscriptions[sub] = account
            status, body = 200, {"subscriptionId": sub}
        elif method == "userDataStream.unsubscribe":
            sub = params.get("subscriptionId")
            if sub is None:
                session.subscriptions.clear()
            elif session.subscriptions.pop(int(sub), None) is None:
                raise ApiError(400, -2036, "User Data Stream subscription not active.")
            status, body = 200, {}
        elif method in (methods := _signed_methods(venue)):
            account = _authenticate(venue, session, params)
            status, body = methods[method](venue, account, _plain(params))
            venue.pump()
        else:
            return _error(
                rid, 400, -1100, f"Illegal characters found in parameter 'method'; unknown method {method!r}."
            )
    except ApiError as e:
        return _error(rid, e.status, e.code, e.msg)
    if status != 200 and isinstance(body, dict) and "code" in body:
        reply = _error(rid, status, body["code"], body["msg"])
        if "data" in body:
            reply["error"]["data"] = body["data"]
        return reply
    return {"id": rid, "status": status, "result": body, "rateLimits": []}


def routes(app: web.Application, venue: SimVenue) -> None:
    """Adds ``/ws-api/v3`` to ``app``."""

    async def serve(request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(heartbeat=20.0)
        await ws.prepare(request)
        session = _Session(ws=ws)
        venue.user_hub.add(session)

        async def send() -> None:
            while True:
                text = await session.queue.get()
                if ws.closed:
                    return
                await ws.send_str(text)

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
                    reply = _error(
                        None,
                        400,
                        -1102,
                        "Mandatory parameter 'id' was not sent, was empty/null, or malformed.",
                    )
                else:
                    reply = _handle(venue, session, req)
                await session.queue.put(json.dumps(reply, separators=(",", ":")))
        finally:
            venue.user_hub.remove(session)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    app.router.add_get("/ws-api/v3", serve)
