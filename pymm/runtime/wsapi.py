"""A small Binance WebSocket-API client for the slow path: the drop copy and reconciliation.

The engine trades on its own connection (Rust, on the hot thread). Python opens a second, independent
session with the same key to read the user-data stream as a drop copy (every execution with its exact
commission) and to ask the venue for its view (``account.status``, ``openOrders.status``) when
reconciling. Requests are signed with Ed25519 over the sorted ``k=v&...`` parameters, as Binance
specifies for the WebSocket API.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pymm.errors import PymmError

__all__ = ["WsApiClient", "WsApiError", "signature_payload"]


class WsApiError(PymmError):
    """The venue answered a WebSocket-API request with an error."""

    def __init__(self, method: str, status: int, code: int, msg: str) -> None:
        super().__init__(f"{method}: {status} {code} {msg}")
        self.status, self.code, self.msg = status, code, msg


def signature_payload(params: dict[str, Any]) -> bytes:
    """All parameters but ``signature``, sorted by name, ``k=v`` joined by ``&``."""

    def text(v: object) -> str:
        return ("true" if v else "false") if isinstance(v, bool) else str(v)

    return "&".join(f"{k}={text(v)}" for k, v in sorted(params.items()) if k != "signature").encode()


class WsApiClient:
    """One logged-on WebSocket-API session; user-stream events go to ``on_event``."""

    def __init__(
        self,
        url: str,
        api_key: str,
        private_pem: str,
        on_event: Callable[[dict[str, Any]], Awaitable[None] | None] | None = None,
    ) -> None:
        key = serialization.load_pem_private_key(private_pem.encode(), password=None)
        if not isinstance(key, Ed25519PrivateKey):
            raise PymmError("the WebSocket-API key must be Ed25519")
        self._key = key
        self.url, self.api_key, self._on_event = url, api_key, on_event
        self._ids = itertools.count(1)
        self._pending: dict[int, asyncio.Future[dict[str, Any]]] = {}
        self._session: aiohttp.ClientSession | None = None
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._reader: asyncio.Task[None] | None = None
        self.closed = asyncio.Event()
        self.recv_ns = 0
        """When the frame being handled was read (``time.time_ns``), for ``on_event``."""

    async def connect(self, *, subscribe: bool = True) -> None:
        """Connect, ``session.logon``, and subscribe to the user-data stream."""
        self._session = aiohttp.ClientSession()
        self._ws = await self._session.ws_connect(self.url, heartbeat=20.0, max_msg_size=0)
        self._reader = asyncio.create_task(self._read())
        params: dict[str, Any] = {"apiKey": self.api_key, "timestamp": int(time.time() * 1000)}
        params["signature"] = base64.b64encode(self._key.sign(signature_payload(params))).decode()
        await self._call("session.logon", params)
        if subscribe:
            await self._call("userDataStream.subscribe", {})

    async def request(self, method: str, params: dict[str, Any] | None = None) -> Any:
        """A request on the logged-on session (timestamped; the logon authenticates it)."""
        p = dict(params or {})
        p.setdefault("timestamp", int(time.time() * 1000))
        return await self._call(method, p)

    async def _call(self, method: str, params: dict[str, Any], timeout: float = 10.0) -> Any:
        if self._ws is None:
            raise PymmError("not connected")
        rid = next(self._ids)
        fut: asyncio.Future[dict[str, Any]] = asyncio.get_running_loop().create_future()
        self._pending[rid] = fut
        await self._ws.send_str(json.dumps({"id": rid, "method": method, "params": params}))
        try:
            reply = await asyncio.wait_for(fut, timeout)
        finally:
            self._pending.pop(rid, None)
        if "error" in reply:
            err = reply["error"]
            raise WsApiError(
                method, int(reply.get("status", 0)), int(err.get("code", 0)), str(err.get("msg"))
            )
        return reply.get("result")

    async def _read(self) -> None:
        assert self._ws is not None
        try:
            async for msg in self._ws:
                if msg.type != aiohttp.WSMsgType.TEXT:
                    continue
                self.recv_ns = time.time_ns()
                data = json.loads(msg.data)
                if "event" in data:
                    if self._on_event is not None:
                        r = self._on_event(data["event"])
                        if r is not None:
                            await r
                    continue
                fut = self._pending.get(data.get("id"))
                if fut is not None and not fut.done():
                    fut.set_result(data)
        finally:
            self.closed.set()
            for fut in self._pending.values():
                if not fut.done():
                    fut.set_exception(PymmError("WebSocket-API connection closed"))

    async def close(self) -> None:
        """Close the session."""
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            self._reader.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._reader
        if self._session is not None:
            await self._session.close()
