"""The simulated venue's Binance spot REST front (``/api/v3/...``).

Protocol rules (research brief ``binance_protocol.md`` §1.2-§1.11):

- parameters in the query string and/or an ``x-www-form-urlencoded`` body; the query wins;
- signed endpoints need ``X-MBX-APIKEY`` (unknown key: ``-2015``, HTTP 401; missing: ``-2014``),
  ``timestamp`` and ``signature``; the signature is checked over the **raw bytes received**: the raw
  query minus ``signature=…`` joined to the raw body minus ``signature=…`` (``-1022``);
- ``timestamp < serverTime + 1000`` and ``serverTime - timestamp <= recvWindow`` (default 5000, at
  most 60000), else ``-1021``;
- every reply carries ``X-MBX-USED-WEIGHT-1M``; order replies ``X-MBX-ORDER-COUNT-10S`` / ``-1D``
  (``-1M`` on futures); past the weight limit 429 ``-1003`` with ``Retry-After``, and an IP that keeps
  going is banned: 418 with ``Retry-After`` until the ban ends.

The handlers only decode HTTP and call :class:`pymm._native.SimExchange`, which owns every trading
rule and renders Binance's JSON.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote_to_bytes

from aiohttp import web

if TYPE_CHECKING:
    from pymm.venues.sim.server import SimVenue

__all__ = [
    "UNKNOWN_MSG",
    "ApiError",
    "OrderFaults",
    "authenticate_key",
    "check_timestamp",
    "faulted",
    "public",
    "reply",
    "routes",
    "signed",
    "signed_payload",
]

VENUE_KEY: web.AppKey[SimVenue] = web.AppKey("venue")

Handler = Callable[[web.Request], Awaitable[web.Response]]


class ApiError(Exception):
    """A Binance error reply: HTTP status, code, message."""

    def __init__(self, status: int, code: int, msg: str) -> None:
        """Holds the reply's parts."""
        super().__init__(f"{code} {msg}")
        self.status = status
        self.code = code
        self.msg = msg


def _strip_signature(raw: bytes) -> tuple[bytes, bytes | None]:
    """``raw`` (a query string or form body) without its ``signature=…`` pair, and the pair's value."""
    if not raw:
        return raw, None
    parts = raw.split(b"&")
    kept = [p for p in parts if not p.startswith(b"signature=")]
    sig = next((p[len(b"signature=") :] for p in parts if p.startswith(b"signature=")), None)
    return b"&".join(kept), sig


def signed_payload(raw_query: bytes, raw_body: bytes) -> tuple[bytes, bytes | None]:
    """The bytes Binance signs (query minus signature, then body minus signature) and the signature.

    The signature text is percent-decoded (an Ed25519 base64 signature arrives encoded).
    """
    q, qsig = _strip_signature(raw_query)
    b, bsig = _strip_signature(raw_body)
    sig = qsig if qsig is not None else bsig
    return q + b, None if sig is None else unquote_to_bytes(sig)


def _params(raw_query: bytes, raw_body: bytes) -> dict[str, str]:
    """Parameters from the form body overlaid by the query string (the query wins)."""
    out: dict[str, str] = {}
    for raw in (raw_body, raw_query):
        if raw:
            out.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
    return out


def reply(status: int, body: Any, headers: dict[str, str]) -> web.Response:
    """A JSON response."""
    return web.Response(
        status=status,
        text=json.dumps(body, separators=(",", ":")),
        content_type="application/json",
        headers=headers,
    )


async def _request(request: web.Request) -> tuple[bytes, bytes, dict[str, str]]:
    raw_path = request.raw_path
    raw_query = raw_path.split("?", 1)[1].encode() if "?" in raw_path else b""
    raw_body = await request.read() if request.can_read_body else b""
    return raw_query, raw_body, _params(raw_query, raw_body)


def check_timestamp(now_ms: int, params: dict[str, str]) -> None:
    """Binance's timing rule (brief §1.4): ``timestamp < now + 1000`` and ``now - timestamp <=
    recvWindow`` (default 5000, at most 60000); timestamps in ms or µs.

    Raises:
        ApiError: -1102 (missing), -1100/-1131 (bad recvWindow), -1021 (outside the window).
    """
    ts_text = params.get("timestamp", "")
    try:
        ts = float(ts_text)
    except ValueError:
        raise ApiError(
            400, -1102, "Mandatory parameter 'timestamp' was not sent, was empty/null, or malformed."
        ) from None
    if ts > 1e14:  # microseconds (brief §1.2: timestamps are accepted in ms or µs)
        ts /= 1000.0
    try:
        recv_window = float(params.get("recvWindow", "5000") or "5000")
    except ValueError:
        raise ApiError(400, -1100, "Illegal characters found in parameter 'recvWindow'.") from None
    if recv_window > 60000:
        raise ApiError(400, -1131, "recvWindow must be less than 60000")
    if ts >= now_ms + 1000:
        raise ApiError(400, -1021, "Timestamp for this request was 1000ms ahead of the server's time.")
    if now_ms - ts > recv_window:
        raise ApiError(400, -1021, "Timestamp for this request is outside of the recvWindow.")


def authenticate_key(venue: SimVenue, request: web.Request) -> int:
    """The account of a USER_STREAM request (API key header only, no signature).

    Raises:
        ApiError: -2014 (no key), -2015 (unknown key), both HTTP 401.
    """
    api_key = request.headers.get("X-MBX-APIKEY", "")
    if not api_key:
        raise ApiError(401, -2014, "API-key format invalid.")
    account = venue.keys.account(api_key)
    if account is None:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    return account


def _authenticate(
    venue: SimVenue, request: web.Request, raw_query: bytes, raw_body: bytes, params: dict[str, str]
) -> int:
    """The account a signed request acts for, after key, timestamp and signature checks."""
    api_key = request.headers.get("X-MBX-APIKEY", "")
    if not api_key:
        raise ApiError(401, -2014, "API-key format invalid.")
    account = venue.keys.account(api_key)
    if account is None:
        raise ApiError(401, -2015, "Invalid API-key, IP, or permissions for action.")
    check_timestamp(venue.now_ms(), params)
    payload, sig = signed_payload(raw_query, raw_body)
    if sig is None:
        raise ApiError(
            400, -1102, "Mandatory parameter 'signature' was not sent, was empty/null, or malformed."
        )
    if not venue.keys.verify(api_key, payload, sig):
        raise ApiError(400, -1022, "Signature for this request is not valid.")
    return account


def _too_much_weight(limit: int) -> ApiError:
    return ApiError(
        429,
        -1003,
        f"Too much request weight used; current limit is {limit} request weight per 1 MINUTE. "
        "Please use WebSocket Streams for live updates to avoid polling the API.",
    )


def _banned(until_ms: int) -> ApiError:
    return ApiError(
        418,
        -1003,
        f"Way too much request weight used; IP banned until {until_ms}. "
        "Please use WebSocket Streams for live updates to avoid bans.",
    )


def weigh(venue: SimVenue, request: web.Request, weight: int) -> tuple[dict[str, str], ApiError | None]:
    """Counts ``weight`` for the caller's IP: the reply headers, and the 429/418 error if over."""
    ip = request.remote or ""
    limits = venue.limits
    until = limits.banned_until(ip)
    if until is not None:
        retry = str(max(1, (until - venue.now_ms() + 999) // 1000))
        return {"Retry-After": retry}, _banned(until)
    used = limits.add_weight(ip, weight)
    headers = {"X-MBX-USED-WEIGHT-1M": str(used)}
    if used <= limits.weight_per_minute:
        return headers, None
    until = limits.note_429(ip)
    if until is not None:
        headers["Retry-After"] = str(limits.ban_s)
        return headers, _banned(until)
    headers["Retry-After"] = str(limits.retry_after_s())
    return headers, _too_much_weight(limits.weight_per_minute)


def public(
    weight: Callable[[dict[str, str]], int], call: Callable[[SimVenue, dict[str, str]], tuple[int, Any]]
) -> Handler:
    """A public endpoint: weight by the parameters, 429 past the limit, then ``call``."""

    async def handler(request: web.Request) -> web.Response:
        venue = request.app[VENUE_KEY]
        _, _, params = await _request(request)
        headers, over = weigh(venue, request, weight(params))
        if over is not None:
            return reply(over.status, {"code": over.code, "msg": over.msg}, headers)
        status, body = call(venue, params)
        return reply(status, body, headers)

    return handler


def signed(
    weight: int,
    call: Callable[[SimVenue, int, dict[str, str]], tuple[int, Any]],
    *,
    order: bool = False,
    futures: bool = False,
) -> Handler:
    """A signed endpoint: weight, key, timestamp and signature checks, then ``call``. Order endpoints
    count new orders (headers ``X-MBX-ORDER-COUNT-10S`` and ``-1D`` on spot, ``-1M`` on futures)."""

    async def handler(request: web.Request) -> web.Response:
        venue = request.app[VENUE_KEY]
        raw_query, raw_body, params = await _request(request)
        headers, over = weigh(venue, request, weight)
        try:
            if over is not None:
                raise over
            account = _authenticate(venue, request, raw_query, raw_body, params)
            if order:
                c10s, c1m, c1d = venue.limits.add_order(account)
                headers["X-MBX-ORDER-COUNT-10S"] = str(c10s)
                if futures:
                    headers["X-MBX-ORDER-COUNT-1M"] = str(c1m)
                else:
                    headers["X-MBX-ORDER-COUNT-1D"] = str(c1d)
                if c10s > venue.limits.orders_per_10s:
                    raise ApiError(
                        429,
                        -1015,
                        f"Too many new orders; current limit is {venue.limits.orders_per_10s} orders "
                        "per 10 SECOND.",
                    )
        except ApiError as e:
            if e.status == 429 and "Retry-After" not in headers:
                headers["Retry-After"] = "10"  # the order-count window
            return reply(e.status, {"code": e.code, "msg": e.msg}, headers)
        if order or request.method == "DELETE":
            await venue.order_entry()
        status, body = call(venue, account, params)
        venue.pump()
        return reply(status, body, headers)

    return handler


@dataclass
class OrderFaults:
    """Fault injection on a front's order routes (off by default): the spot REST front's
    (``SimVenue.spot_faults``) and the USD-M REST and WS API's (``SimVenue.usdm_faults``). Each
    counter applies to the next that many order requests, in this order of precedence. A 429 refuses
    the request before it executes; every other fault applies after the request executed (the order
    rests, fills and reports on the user stream as usual).

    Attributes:
        rate_429_replies: refused HTTP 429 ``-1015`` with ``Retry-After: retry_after_s``, not executed
            (REST only).
        retry_after_s: the ``Retry-After`` of those answers.
        unknown_replies: answered ``-1007`` with HTTP 503 ("execution status unknown").
        error_5xx_replies: answered HTTP 502 with a non-JSON body (a proxy in front of the venue;
            REST only).
        reset_replies: never answered: the connection (HTTP or WebSocket) is reset.
        stall_replies: answered only after ``stall_s`` seconds (the client times out first; on the WS
            API the connection serves other requests meanwhile).
        stall_s: how long a stalled answer is held.
        applied: faults applied so far.
    """

    rate_429_replies: int = 0
    retry_after_s: int = 10
    unknown_replies: int = 0
    error_5xx_replies: int = 0
    reset_replies: int = 0
    stall_replies: int = 0
    stall_s: float = 10.0
    applied: int = 0


UNKNOWN_MSG = (
    "Timeout waiting for response from backend server. Send status unknown; execution status unknown."
)


def faulted(
    handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    faults_of: Callable[[SimVenue], OrderFaults],
) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
    """Wraps an order route with the :class:`OrderFaults` ``faults_of`` picks from the venue."""

    async def wrapped(request: web.Request) -> web.StreamResponse:
        faults = faults_of(request.app[VENUE_KEY])
        if faults.rate_429_replies > 0:
            faults.rate_429_replies -= 1
            faults.applied += 1
            msg = "Too many new orders; current limit is 50 orders per 10 SECOND."
            return reply(429, {"code": -1015, "msg": msg}, {"Retry-After": str(faults.retry_after_s)})
        resp = await handler(request)
        if resp.status != 200:
            return resp
        headers = {k: v for k, v in resp.headers.items() if k.upper().startswith("X-MBX-")}
        if faults.unknown_replies > 0:
            faults.unknown_replies -= 1
            faults.applied += 1
            return reply(503, {"code": -1007, "msg": UNKNOWN_MSG}, headers)
        if faults.error_5xx_replies > 0:
            faults.error_5xx_replies -= 1
            faults.applied += 1
            return web.Response(status=502, text="<html>502 Bad Gateway</html>", content_type="text/html")
        if faults.reset_replies > 0:
            faults.reset_replies -= 1
            faults.applied += 1
            if request.transport is not None:
                request.transport.abort()
            return resp
        if faults.stall_replies > 0:
            faults.stall_replies -= 1
            faults.applied += 1
            await asyncio.sleep(faults.stall_s)
        return resp

    return wrapped


def _spot_faults(venue: SimVenue) -> OrderFaults:
    return venue.spot_faults


def _depth_weight(p: dict[str, str]) -> int:
    try:
        limit = int(p.get("limit", "100") or "100")
    except ValueError:
        limit = 100
    return 5 if limit <= 100 else 25 if limit <= 500 else 50 if limit <= 1000 else 250


def routes(app: web.Application, venue: SimVenue) -> None:
    """Adds the ``/api/v3`` routes to ``app``, answering from ``venue``."""
    app[VENUE_KEY] = venue
    ex = venue.exchange
    add = app.router.add_route

    def ns() -> int:
        return venue.now_ns()

    add("GET", "/api/v3/ping", public(lambda p: 1, lambda v, p: (200, {})))
    add("GET", "/api/v3/time", public(lambda p: 1, lambda v, p: (200, {"serverTime": v.now_ms()})))
    add("GET", "/api/v3/exchangeInfo", public(lambda p: 20, lambda v, p: ex.exchange_info(p, ns())))
    add("GET", "/api/v3/depth", public(_depth_weight, lambda v, p: ex.depth(p)))
    # The order routes carry the spot fault hooks (``SimVenue.spot_faults``, off by default).
    new_order = signed(1, lambda v, a, p: ex.new_order(a, p, ns()), order=True)
    add("POST", "/api/v3/order", faulted(new_order, _spot_faults))
    cancel = signed(1, lambda v, a, p: ex.cancel_order(a, p, ns()))
    add("DELETE", "/api/v3/order", faulted(cancel, _spot_faults))
    add("GET", "/api/v3/order", signed(4, lambda v, a, p: ex.query_order(a, p)))
    add("GET", "/api/v3/openOrders", signed(6, lambda v, a, p: ex.open_orders(a, p)))
    cancel_all = signed(1, lambda v, a, p: ex.cancel_open_orders(a, p, ns()))
    add("DELETE", "/api/v3/openOrders", faulted(cancel_all, _spot_faults))
    add("GET", "/api/v3/account", signed(20, lambda v, a, p: ex.account(a, p, ns())))
    add("GET", "/api/v3/myTrades", signed(20, lambda v, a, p: ex.my_trades(a, p)))
    add("GET", "/api/v3/allOrders", signed(20, lambda v, a, p: ex.all_orders(a, p)))
    add("POST", "/api/v3/order/test", signed(1, lambda v, a, p: ex.test_order(a, p)))
    add(
        "GET",
        "/api/v3/ticker/bookTicker",
        public(lambda p: 2 if "symbol" in p else 4, lambda v, p: ex.book_ticker(p)),
    )
    add("GET", "/api/v3/avgPrice", public(lambda p: 2, lambda v, p: ex.avg_price(p, ns())))
    cancel_replace = signed(1, lambda v, a, p: ex.cancel_replace(a, p, ns()), order=True)
    add("POST", "/api/v3/order/cancelReplace", faulted(cancel_replace, _spot_faults))
    # What a client loading markets with default options also asks for (brief §4.4): the venue has
    # no margin, no wallet endpoints and no COIN-M futures, so these answer empty (USD-M lives in
    # :mod:`pymm.venues.sim.usdm`, mounted on this host too).
    for path in (
        "/sapi/v1/capital/config/getall",
        "/sapi/v1/margin/allPairs",
        "/sapi/v1/margin/isolated/allPairs",
    ):
        add("GET", path, signed(1, lambda v, a, p: (200, [])))
    add(
        "GET",
        "/dapi/v1/exchangeInfo",
        public(lambda p: 1, lambda v, p: (200, _empty_exchange_info(v.now_ms()))),
    )


def _empty_exchange_info(now_ms: int) -> dict[str, Any]:
    return {"timezone": "UTC", "serverTime": now_ms, "rateLimits": [], "exchangeFilters": [], "symbols": []}
