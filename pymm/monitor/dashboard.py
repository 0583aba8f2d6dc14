"""The live dashboard: a read-only single page over the control API's status JSON (ADR 0005).

The page (``pymm/monitor/dashboard_static/``) is plain HTML and JavaScript with no build step. It
polls ``api/status`` (a relative URL) every 300 ms and keeps the time series in the browser: book top
and our quotes, inventory, PnL, VPIN, markouts, latency percentiles; tables for the ladder, risk
headroom, order counters and alerts. Charts are drawn with Plotly; ``plotly.min.js`` is served from the
``plotly`` Python package's own data, so nothing is fetched from the internet.

Two ways to serve it:

- the supervisor mounts it on its control API: ``add_dashboard_routes(app)`` adds ``GET /`` and the
  static files next to the API's own ``GET /api/status``;
- ``pymm dashboard`` runs :func:`make_dashboard_app` with a status source: a callable (sync or
  async) returning the status dict, or the URL of a running instance's ``/api/status``, which it
  proxies.

Only GET routes exist; the page never sends anything but ``GET api/status``.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import inspect
import json
import math
from collections.abc import Awaitable, Callable, Mapping
from decimal import Decimal
from importlib import resources
from pathlib import Path
from typing import Any

import aiohttp
import numpy as np
from aiohttp import web

from pymm.errors import PymmError

__all__ = [
    "DEFAULT_BIND",
    "DEFAULT_PORT",
    "STATUS_PATH",
    "DashboardError",
    "StatusProvider",
    "add_dashboard_routes",
    "json_safe",
    "make_dashboard_app",
    "plotly_js_path",
    "serve_dashboard",
    "status_from_url",
]

DEFAULT_BIND = "127.0.0.1"
#: The control API's default is 8790 (ADR 0005); the standalone dashboard takes the next port.
DEFAULT_PORT = 8791
STATUS_PATH = "/api/status"

StatusProvider = Callable[[], Mapping[str, Any] | Awaitable[Mapping[str, Any]]]

_STATIC = resources.files("pymm.monitor") / "dashboard_static"
_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    # scripts and data from this origin only; Plotly sets inline styles on its SVG
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
    ),
}


class DashboardError(PymmError):
    """The dashboard cannot start (no plotly.min.js, no running instance to read)."""


def plotly_js_path() -> Path:
    """The ``plotly.min.js`` shipped inside the installed ``plotly`` package.

    Raises:
        DashboardError: plotly is not installed or its package data lacks the bundle.
    """
    spec = importlib.util.find_spec("plotly")
    if spec is None or not spec.submodule_search_locations:
        raise DashboardError("the dashboard needs the plotly package (pip install plotly)")
    path = Path(next(iter(spec.submodule_search_locations))) / "package_data" / "plotly.min.js"
    if not path.is_file():
        raise DashboardError(f"plotly {importlib.metadata.version('plotly')} ships no {path}")
    return path


def json_safe(value: Any) -> Any:
    """``value`` as strict JSON data: NaN and infinities become None, ``Decimal`` its exact text (the
    status schema's decimal strings), numpy scalars Python numbers."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def _static(name: str, content_type: str) -> Callable[[web.Request], Awaitable[web.Response]]:
    body = (_STATIC / name).read_bytes()

    async def handler(_: web.Request) -> web.Response:
        return web.Response(body=body, content_type=content_type, charset="utf-8", headers=_HEADERS)

    return handler


def add_dashboard_routes(app: web.Application, status_provider: StatusProvider | None = None) -> None:
    """Add the dashboard page at ``GET /`` and its static files under ``/dashboard/`` to ``app``.

    Args:
        app: The control API's application (or :func:`make_dashboard_app`'s).
        status_provider: When given, also serve ``GET /api/status`` from it (a callable returning the
            status dict, or an awaitable of it). Leave it out when ``app`` serves ``/api/status`` itself.

    Raises:
        DashboardError: plotly.min.js is not available.
    """
    plotly_js = plotly_js_path().read_bytes()
    page = _static("index.html", "text/html")

    async def plotly(_: web.Request) -> web.Response:
        # large and immutable for a given install: let the browser keep it
        return web.Response(
            body=plotly_js,
            content_type="application/javascript",
            charset="utf-8",
            headers={"Cache-Control": "max-age=86400", "X-Content-Type-Options": "nosniff"},
        )

    app.router.add_get("/", page)
    app.router.add_get("/dashboard/dashboard.js", _static("dashboard.js", "application/javascript"))
    app.router.add_get("/dashboard/dashboard.css", _static("dashboard.css", "text/css"))
    app.router.add_get("/dashboard/plotly.min.js", plotly)
    if status_provider is not None:
        provider = status_provider

        async def status(_: web.Request) -> web.Response:
            try:
                result = provider()
                snapshot = await result if inspect.isawaitable(result) else result
            except (TimeoutError, PymmError, OSError, ValueError, aiohttp.ClientError) as e:
                return web.json_response(
                    {"error": f"status unavailable: {type(e).__name__}: {e}"},
                    status=502,
                    headers={"Cache-Control": "no-store"},
                )
            text = json.dumps(json_safe(snapshot), separators=(",", ":"), allow_nan=False)
            return web.Response(text=text, content_type="application/json", headers=_HEADERS)

        app.router.add_get(STATUS_PATH, status)


def status_from_url(
    url: str, *, timeout_s: float = 2.0
) -> tuple[StatusProvider, Callable[[], Awaitable[None]]]:
    """A provider that GETs a running instance's status JSON, and the coroutine that closes it.

    Args:
        url: The instance's status URL (``http://127.0.0.1:8790/api/status``) or its control base URL
            (``/api/status`` is appended when the path is empty or ``/``).
        timeout_s: Per-request timeout.
    """
    target = url.rstrip("/") if url.rstrip("/").endswith(STATUS_PATH) else url.rstrip("/") + STATUS_PATH
    session: aiohttp.ClientSession | None = None

    async def fetch() -> Mapping[str, Any]:
        nonlocal session
        if session is None:
            session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout_s))
        async with session.get(target, headers={"Accept": "application/json"}) as r:
            if r.status != 200:
                raise DashboardError(f"{target} answered HTTP {r.status}")
            data = await r.json()
        if not isinstance(data, dict):
            raise DashboardError(f"{target} answered {type(data).__name__}, not a JSON object")
        return data

    async def close() -> None:
        if session is not None:
            await session.close()

    return fetch, close


def make_dashboard_app(source: str | StatusProvider) -> web.Application:
    """A standalone dashboard application: the page plus ``GET /api/status`` from ``source``.

    Args:
        source: A running instance's control URL (proxied), or a status provider callable.
    """
    app = web.Application()
    if isinstance(source, str):
        provider, close = status_from_url(source)

        async def _close(_: web.Application) -> None:
            await close()

        app.on_cleanup.append(_close)
    else:
        provider = source
    add_dashboard_routes(app, provider)
    return app


async def serve_dashboard(
    source: str | StatusProvider, *, host: str = DEFAULT_BIND, port: int = DEFAULT_PORT
) -> tuple[web.AppRunner, str]:
    """Start :func:`make_dashboard_app` on ``host:port`` (port 0: any free) in the running loop.

    Returns:
        The runner (``await runner.cleanup()`` stops it) and the page's URL.
    """
    runner = web.AppRunner(make_dashboard_app(source), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    sockets = getattr(site._server, "sockets", None)  # aiohttp exposes the bound port only here
    bound = sockets[0].getsockname()[1] if sockets else port
    shown = f"[{host}]" if ":" in host else host
    return runner, f"http://{shown}:{bound}/"
