"""The engine over real TLS: ``wss://`` (market stream, WebSocket API) and ``https://`` (REST depth
snapshot) to a TLS server holding a certificate issued, at test time, by a throw-away CA.

The TLS server is a TLS-terminating proxy (Python's ``ssl``, its own loop thread) in front of the
simulated venue: every byte the engine reads or writes crosses a real TLS 1.2/1.3 session. The engine
trusts exactly the CA in ``tls_ca_file``; a certificate from another CA, or the public webpki roots,
must be refused before anything is sent.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import ipaddress
import ssl
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from pymm._native import Engine
from tests.test_engine_session import (
    QUOTING,
    engine_config,
    keypair,  # noqa: F401  (fixture)
    mine,
    quoting_both_sides,
    venue,  # noqa: F401  (fixture)
    wait_for,
)
from tests.venues._harness import Venue

x509 = pytest.importorskip("cryptography.x509")
from cryptography.hazmat.primitives import hashes, serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ec  # noqa: E402
from cryptography.x509.oid import NameOID  # noqa: E402


def _name(cn: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])


def _pem(cert: x509.Certificate) -> bytes:
    return cert.public_bytes(serialization.Encoding.PEM)


def make_ca(tmp: Path, cn: str) -> tuple[x509.Certificate, ec.EllipticCurvePrivateKey, Path]:
    """A self-signed CA; its certificate written to ``tmp/<cn>.pem``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(cn))
        .issuer_name(_name(cn))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False), critical=True
        )
        .sign(key, hashes.SHA256())
    )
    path = tmp / f"{cn}.pem"
    path.write_bytes(_pem(cert))
    return cert, key, path


def make_server_cert(tmp: Path, ca: x509.Certificate, ca_key: ec.EllipticCurvePrivateKey) -> ssl.SSLContext:
    """A server context with a leaf for 127.0.0.1 (IP SAN) issued by ``ca``."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.datetime.now(datetime.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("pymm test venue"))
        .issuer_name(ca.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False
        )
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .sign(ca_key, hashes.SHA256())
    )
    chain = tmp / "server-chain.pem"
    chain.write_bytes(_pem(cert) + _pem(ca))
    keyfile = tmp / "server-key.pem"
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
    )
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(chain, keyfile)
    return ctx


@dataclass
class TlsProxy:
    """TLS on ``port`` → plain TCP to the venue; counts completed handshakes and failed ones."""

    port: int
    handshakes: int = 0
    failures: list[str] = field(default_factory=list)


@contextlib.contextmanager
def tls_proxy(ctx: ssl.SSLContext, target_port: int) -> Iterator[TlsProxy]:
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    state = TlsProxy(0)

    async def pipe(r: asyncio.StreamReader, w: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, OSError):
            while data := await r.read(65536):
                w.write(data)
                await w.drain()
        with contextlib.suppress(ConnectionError, OSError, RuntimeError):
            w.close()

    async def handle(cr: asyncio.StreamReader, cw: asyncio.StreamWriter) -> None:
        state.handshakes += 1
        vr, vw = await asyncio.open_connection("127.0.0.1", target_port)
        await asyncio.gather(pipe(cr, vw), pipe(vr, cw))

    def on_error(loop_: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        state.failures.append(str(context.get("exception") or context.get("message")))

    async def start() -> asyncio.Server:
        loop.set_exception_handler(on_error)
        return await asyncio.start_server(handle, "127.0.0.1", 0, ssl=ctx)

    server = asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    state.port = server.sockets[0].getsockname()[1]
    try:
        yield state
    finally:

        async def stop() -> None:
            server.close()
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(server.wait_closed(), 2)

        asyncio.run_coroutine_threadsafe(stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


def tls_config(sim: Venue, priv_pem: str, tmp: Path, port: int, **over: Any) -> dict[str, Any]:
    cfg = engine_config(sim, priv_pem, tmp, **over)
    cfg["market_ws"] = f"wss://127.0.0.1:{port}/ws"
    cfg["rest"] = f"https://127.0.0.1:{port}"
    cfg["ws_api"] = f"wss://127.0.0.1:{port}/ws-api/v3"
    return cfg


def _venue_port(sim: Venue) -> int:
    return int(sim.url.rsplit(":", 1)[1].split("/", 1)[0])


def test_quotes_and_fills_over_tls_with_the_configured_ca(venue: Venue, keypair, tmp_path) -> None:  # noqa: F811
    ca, ca_key, ca_file = make_ca(tmp_path, "pymm-test-ca")
    with tls_proxy(make_server_cert(tmp_path, ca, ca_key), _venue_port(venue)) as proxy:
        cfg = tls_config(venue, keypair[0], tmp_path, proxy.port, tls_ca_file=str(ca_file))
        e = Engine(cfg)
        e.push_params(QUOTING)
        e.start()
        try:
            wait_for(lambda: quoting_both_sides(venue), 15, "two-sided quotes over TLS")
            wait_for(lambda: e.status()["orders"]["fills"] > 0, 60, "a fill over TLS")
            st = e.status()
            assert st["order_session"] and st["market_data"], st
            assert st["book"]["bid"] is not None and st["book"]["ask"] is not None
            assert st["counters"]["order_connects"] == 1 and st["counters"]["market_connects"] == 1, st
            # Market stream, WebSocket API, and at least one REST snapshot: all through TLS.
            assert proxy.handshakes >= 3, proxy
            assert not proxy.failures, proxy.failures
            assert e.stop(5.0)
            assert not mine(venue)
        finally:
            e.stop(5.0)


@pytest.mark.parametrize("trust", ["other_ca", "webpki"])
def test_an_untrusted_certificate_is_refused(venue: Venue, keypair, tmp_path, trust: str) -> None:  # noqa: F811
    ca, ca_key, _ = make_ca(tmp_path, "pymm-test-ca")
    _, _, other = make_ca(tmp_path, "some-other-ca")
    with tls_proxy(make_server_cert(tmp_path, ca, ca_key), _venue_port(venue)) as proxy:
        over = {"tls_ca_file": str(other)} if trust == "other_ca" else {}
        e = Engine(tls_config(venue, keypair[0], tmp_path, proxy.port, **over))
        e.push_params(QUOTING)
        e.start()
        try:
            wait_for(
                lambda: "certificate" in (e.status()["last_error"] or "").lower(), 10, "a certificate error"
            )
            time.sleep(0.5)
            st = e.status()
            assert not st["order_session"] and not st["market_data"], st
            assert st["orders"]["sent"] == 0
            assert "UnknownIssuer" in st["last_error"] or "unknown" in st["last_error"].lower(), st[
                "last_error"
            ]
            assert not mine(venue)
        finally:
            e.stop(2.0)


def test_a_bad_ca_file_is_refused_naming_the_field(venue: Venue, keypair, tmp_path) -> None:  # noqa: F811
    garbage = tmp_path / "garbage.pem"
    garbage.write_text("not a certificate\n")
    for path, why in ((tmp_path / "missing.pem", "cannot read"), (garbage, "no CERTIFICATE")):
        cfg = engine_config(venue, keypair[0], tmp_path, tls_ca_file=str(path))
        with pytest.raises(ValueError, match=f"tls_ca_file .*{why}"):
            Engine(cfg)
