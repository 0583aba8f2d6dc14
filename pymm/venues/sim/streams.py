"""The simulated venue's Binance spot market streams: ``/ws/<stream>``, ``/stream?streams=a/b``.

Stream names as Binance spells them (brief §2.1-§2.2): ``<symbol>@depth`` (also ``@depth@100ms``
and ``@depth@1000ms``; each event is sent as it happens, its ``U``/``u`` contiguous with the last),
``<symbol>@trade``, ``<symbol>@aggTrade`` (one trade per aggregate), ``<symbol>@bookTicker`` and the
partial book ``<symbol>@depth<5|10|20>`` (``{lastUpdateId, bids, asks}`` after every change).
Raw connections get payloads; combined ones
(``/stream...`` paths, or after ``SET_PROPERTY ["combined", true]``) get ``{"stream","data"}``.
A path segment after ``/ws/`` that is not a stream name (ccxt's ``/ws/0``) opens with no streams.
``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` / ``SET_PROPERTY`` / ``GET_PROPERTY`` are
answered ``{"result": ..., "id": <same id>}``. Paths under ``/stream`` also accept ``/stream/ws/...``
so a spot URL handed to ccxt can contain ``/stream`` (brief §4.1, the spot URL pitfall).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

__all__ = ["StreamHub", "routes"]

_SUFFIXES = ("@depth", "@trade", "@bookTicker")


SPOT_KINDS = frozenset(("@depth", "@depth5", "@depth10", "@depth20", "@trade", "@aggTrade", "@bookTicker"))
"""The stream kinds the spot front serves."""


def canonical(name: str, kinds: frozenset[str] = SPOT_KINDS) -> str | None:
    """The venue's event name a subscription receives (``dogeusdt@depth@100ms`` → ``dogeusdt@depth``),
    or None for names the venue does not serve (``kinds``: what this front serves)."""
    sym, sep, rest = name.partition("@")
    if not sep or not sym:
        return None
    for suffix in ("@100ms", "@250ms", "@500ms", "@1000ms", "@1s"):
        rest = rest.removesuffix(suffix)
    kind = "@" + rest
    if kind in kinds:
        return f"{sym.lower()}{kind}"
    return None


@dataclass(eq=False)
class _Conn:
    ws: web.WebSocketResponse
    combined: bool
    streams: dict[str, str] = field(default_factory=dict)  # as subscribed → canonical
    queue: asyncio.Queue[str] = field(default_factory=lambda: asyncio.Queue(maxsize=10_000))


class StreamHub:
    """Fans venue events out to subscribed WebSocket connections."""

    def __init__(
        self,
        snapshot: Callable[[str, int], dict[str, Any] | None] | None = None,
        kinds: frozenset[str] = SPOT_KINDS,
    ) -> None:
        """An empty hub; ``snapshot(SYMBOL, n)`` gives the top ``n`` levels for partial depth streams;
        ``kinds`` are the stream kinds served (spot's by default)."""
        self._conns: set[_Conn] = set()
        self._snapshot = snapshot
        self._kinds = kinds

    def publish(self, stream: str, payload: dict[str, Any]) -> None:
        """Queues ``payload`` of venue stream ``stream`` to every subscriber, and what derives from it:
        ``@aggTrade`` from ``@trade`` (one trade per aggregate), ``@depth<N>`` snapshots after a diff."""
        self._deliver(stream, payload)
        sym, _, kind = stream.partition("@")
        if kind == "trade":
            agg = {
                "e": "aggTrade",
                "E": payload["E"],
                "s": payload["s"],
                "a": payload["t"],
                "p": payload["p"],
                "q": payload["q"],
                "f": payload["t"],
                "l": payload["t"],
                "T": payload["T"],
                "m": payload["m"],
                "M": True,
            }
            self._deliver(f"{sym}@aggTrade", agg)
        elif kind == "depth" and self._snapshot is not None:
            wanted = {c for conn in self._conns for c in conn.streams.values()}
            for n in (5, 10, 20):
                if f"{sym}@depth{n}" in wanted:
                    snap = self._snapshot(payload["s"], n)
                    if snap is not None:
                        self._deliver(f"{sym}@depth{n}", snap)

    def _deliver(self, stream: str, payload: dict[str, Any]) -> None:
        data = None
        for c in self._conns:
            for given, canon in c.streams.items():
                if canon != stream:
                    continue
                if c.combined:
                    text = json.dumps({"stream": given, "data": payload}, separators=(",", ":"))
                else:
                    data = data or json.dumps(payload, separators=(",", ":"))
                    text = data
                with contextlib.suppress(asyncio.QueueFull):
                    c.queue.put_nowait(text)

    async def serve(self, request: web.Request, initial: list[str], combined: bool) -> web.WebSocketResponse:
        """Runs one connection until it closes."""
        ws = web.WebSocketResponse(heartbeat=20.0)
        await ws.prepare(request)
        conn = _Conn(ws=ws, combined=combined)
        for s in initial:
            canon = canonical(s, self._kinds)
            if canon is not None:
                conn.streams[s] = canon
        self._conns.add(conn)
        sender = asyncio.create_task(self._send(conn))
        try:
            async for msg in ws:
                if msg.type == WSMsgType.TEXT:
                    reply = self._control(conn, msg.data)
                    if reply is not None:
                        await conn.queue.put(json.dumps(reply, separators=(",", ":")))
                elif msg.type == WSMsgType.ERROR:
                    break
        finally:
            self._conns.discard(conn)
            sender.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sender
        return ws

    @staticmethod
    async def _send(conn: _Conn) -> None:
        while True:
            text = await conn.queue.get()
            if conn.ws.closed:
                return
            await conn.ws.send_str(text)

    def _control(self, conn: _Conn, text: str) -> dict[str, Any] | None:
        try:
            req = json.loads(text)
        except ValueError:
            return {"error": {"code": 3, "msg": "Invalid JSON: expected value at line 1 column 1"}}
        if not isinstance(req, dict):
            return {"error": {"code": 3, "msg": "Invalid request"}}
        rid = req.get("id")
        method = req.get("method")
        params = req.get("params") or []
        if method in ("SUBSCRIBE", "UNSUBSCRIBE"):
            if not isinstance(params, list) or not all(isinstance(p, str) for p in params):
                return {
                    "error": {"code": 2, "msg": "Invalid request: property name must be a string"},
                    "id": rid,
                }
            for p in params:
                if method == "UNSUBSCRIBE":
                    conn.streams.pop(p, None)
                    continue
                canon = canonical(p, self._kinds)
                if canon is None:
                    return {"error": {"code": 2, "msg": f"Invalid request: unknown stream {p}"}, "id": rid}
                conn.streams[p] = canon
            return {"result": None, "id": rid}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.streams), "id": rid}
        if (
            method == "SET_PROPERTY"
            and isinstance(params, list)
            and len(params) == 2
            and params[0] == "combined"
        ):
            conn.combined = bool(params[1])
            return {"result": None, "id": rid}
        if method == "GET_PROPERTY" and params == ["combined"]:
            return {"result": conn.combined, "id": rid}
        return {"error": {"code": 2, "msg": "Invalid request: unknown method"}, "id": rid}


def routes(app: web.Application, hub: StreamHub) -> None:
    """Adds the spot stream routes to ``app``."""

    async def raw(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "")
        return await hub.serve(request, [name] if name else [], combined=False)

    async def combined(request: web.Request) -> web.StreamResponse:
        streams = [s for s in request.query.get("streams", "").split("/") if s]
        return await hub.serve(request, streams, combined=True)

    async def combined_ws(request: web.Request) -> web.StreamResponse:
        name = request.match_info.get("name", "")
        return await hub.serve(request, [name] if name else [], combined=False)

    app.router.add_get("/ws", raw)
    app.router.add_get("/ws/{name}", raw)
    app.router.add_get("/stream", combined)
    app.router.add_get("/stream/ws", combined_ws)
    app.router.add_get("/stream/ws/{name}", combined_ws)
