"""Test harness: a real simulated venue on an ephemeral loopback port, on its own loop thread."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from pymm.venues.sim import ApiKey, SimVenueConfig, start_server
from pymm.venues.sim.server import RunningVenue


@dataclass
class Venue:
    """A running venue and a test key."""

    running: RunningVenue
    loop: asyncio.AbstractEventLoop
    key: ApiKey
    url: str
    ws: str
    usdm_url: str = ""
    usdm_ws: str = ""

    def call(
        self,
        method: str,
        path: str,
        params: dict[str, str] | None = None,
        *,
        signed: bool = False,
        body: bool = False,
        key: str | None = None,
        secret: str | None = None,
        tamper: bool = False,
        base: str | None = None,
    ) -> tuple[int, Any, dict[str, str]]:
        """Sends one request (to ``base``, default the spot host); signed ones get timestamp + HMAC
        signature (query or form body)."""
        params = dict(params or {})
        headers = {}
        if signed:
            params.setdefault("timestamp", str(int(time.time() * 1000)))
            text = urllib.parse.urlencode(params)
            sig = hmac.new((secret or self.key.hmac_secret or "").encode(), text.encode(), hashlib.sha256)
            signature = sig.hexdigest()
            if tamper:
                signature = signature[:-1] + ("0" if signature[-1] != "0" else "1")
            text += "&signature=" + signature
            headers["X-MBX-APIKEY"] = key if key is not None else self.key.api_key
        else:
            text = urllib.parse.urlencode(params)
            if key is not None:  # USER_STREAM endpoints: the key header, no signature
                headers["X-MBX-APIKEY"] = key
        data = None
        url = (base or self.url) + path
        if body:
            data = text.encode()
            headers["Content-Type"] = "application/x-www-form-urlencoded"
        elif text:
            url += "?" + text
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=10) as r:
                return r.status, json.loads(r.read()), dict(r.headers)
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read()), dict(e.headers)


def run_venue(cfg: SimVenueConfig) -> Iterator[Venue]:
    """Starts a venue on a fresh loop thread; stops it after the test."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    running = asyncio.run_coroutine_threadsafe(start_server(cfg), loop).result(timeout=30)
    try:
        yield Venue(
            running,
            loop,
            cfg.keys[0],
            running.rest_url,
            running.ws_url,
            running.usdm_rest_url,
            running.usdm_ws_url,
        )
    finally:
        asyncio.run_coroutine_threadsafe(running.stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()


def make_key(account: int = 1) -> ApiKey:
    """A random HMAC key generated for this test run."""
    return ApiKey(api_key=secrets.token_hex(32), account=account, hmac_secret=secrets.token_hex(32))
