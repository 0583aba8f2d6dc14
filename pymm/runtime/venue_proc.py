"""The simulated venue as a child process of ``pymm start`` (ADR 0005).

The venue runs in its own process so that killing the engine (``kill -9`` in the recovery tests) leaves
the venue's books, orders and accounts intact, as a real exchange would. ``pymm venue --json`` prints
its URLs as one JSON object on its first stdout line; this module starts it with the run's API key and
waits for that line.
"""

from __future__ import annotations

import json
import os
import secrets
import select
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from pymm.errors import PymmError
from pymm.runtime.state import StateDir, atomic_write

__all__ = [
    "RunKey",
    "VenueProcess",
    "VenueStartError",
    "attach_or_start_venue",
    "ensure_run_key",
    "start_venue",
]


class VenueStartError(PymmError):
    """The simulated venue did not come up."""


@dataclass(frozen=True)
class RunKey:
    """The API key the engine trades with on the simulated venue (Ed25519, Binance's recommendation)."""

    api_key: str
    private_pem: str
    public_pem: str


def ensure_run_key(state: StateDir) -> RunKey:
    """The state directory's venue key, created on first use (mode 0600; never committed).

    The same key across restarts keeps the same venue account, so a restarted engine finds its orders.
    """
    pem_path = state.path / "api_key.pem"
    if pem_path.exists() and state.api_key_file.exists():
        key = serialization.load_pem_private_key(pem_path.read_bytes(), password=None)
        assert isinstance(key, Ed25519PrivateKey)
        api_key = state.api_key_file.read_text().split('api_key = "', 1)[1].split('"', 1)[0]
    else:
        key = Ed25519PrivateKey.generate()
        api_key = "pymm-" + secrets.token_urlsafe(24)
        atomic_write(
            pem_path,
            key.private_bytes(
                serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
            ),
            mode=0o600,
        )
    public_pem = (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )
    private_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    atomic_write(
        state.api_key_file,
        (
            "# the simulated venue's key for this state directory (written by pymm start)\n"
            f'[[keys]]\napi_key = "{api_key}"\naccount = 1\n'
            f"ed25519_public_key = '''{public_pem}'''\n"
        ).encode(),
        mode=0o600,
    )
    return RunKey(api_key=api_key, private_pem=private_pem, public_pem=public_pem)


@dataclass
class VenueProcess:
    """A running ``pymm venue`` (our child, or one a killed predecessor left) and its URLs."""

    proc: subprocess.Popen[bytes] | None
    urls: dict[str, Any]
    pid: int = 0
    attached: bool = False

    def url(self, key: str) -> str:
        """One URL from the venue's JSON line, or a clear error naming the key."""
        v = self.urls.get(key)
        if not isinstance(v, str):
            raise VenueStartError(f"the venue did not report {key!r} (got {sorted(self.urls)})")
        return v

    def alive(self) -> bool:
        if self.proc is not None:
            return self.proc.poll() is None
        return _pid_alive(self.pid)

    def stop(self, state: StateDir, timeout: float = 5.0) -> None:
        """SIGTERM, then SIGKILL after ``timeout``; forgets the venue in the state directory."""
        (state.path / "venue.json").unlink(missing_ok=True)
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(signal.SIGTERM)
                try:
                    self.proc.wait(timeout)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            return
        if _pid_alive(self.pid):
            os.kill(self.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while _pid_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.02)
            if _pid_alive(self.pid):
                os.kill(self.pid, signal.SIGKILL)


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ", 1)[1][:1] != "Z"
    except OSError:
        return True


def attach_or_start_venue(
    state: StateDir, key: RunKey, *, seed: int = 7, extra: list[str] | None = None
) -> VenueProcess:
    """The venue a predecessor left running (after ``kill -9``: same books, orders and accounts), or a
    new one."""
    rec = state.path / "venue.json"
    try:
        raw = json.loads(rec.read_text())
        if _pid_alive(int(raw["pid"])):
            return VenueProcess(proc=None, urls=dict(raw["urls"]), pid=int(raw["pid"]), attached=True)
    except (FileNotFoundError, ValueError, KeyError, TypeError):
        pass
    v = start_venue(state, key, seed=seed, extra=extra)
    atomic_write(rec, json.dumps({"pid": v.pid, "urls": v.urls}).encode())
    return v


def start_venue(
    state: StateDir, key: RunKey, *, seed: int = 7, extra: list[str] | None = None, timeout: float = 30.0
) -> VenueProcess:
    """Starts ``pymm venue --json`` on ephemeral loopback ports with the run's key file."""
    log = (state.path / "venue.log").open("ab")
    cmd = [
        sys.executable,
        "-m",
        "pymm",
        "venue",
        "--json",
        "--port",
        "0",
        "--keys",
        str(state.api_key_file),
        "--usdm-port",
        "0",
        "--no-itch",  # the Binance session does not use the ITCH/OUCH front; its fixed ports stay free
        "--seed",
        str(seed),
        *(extra or []),
    ]
    env = dict(os.environ)
    # The venue must not inherit the engine's pinning: it is the "exchange", on the other cores.
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=log, env=env, start_new_session=True)
    assert proc.stdout is not None
    deadline = time.monotonic() + timeout
    line = b""
    while not line.endswith(b"\n"):
        left = deadline - time.monotonic()
        if left <= 0 or proc.poll() is not None:
            proc.kill()
            raise VenueStartError(
                f"the simulated venue did not start within {timeout:.0f} s (see {state.path / 'venue.log'})"
            )
        ready, _, _ = select.select([proc.stdout], [], [], min(left, 0.2))
        if ready:
            chunk = os.read(proc.stdout.fileno(), 65536)
            if not chunk:
                continue
            line += chunk
    first = line.split(b"\n", 1)[0]
    try:
        urls = json.loads(first)
    except json.JSONDecodeError:
        proc.kill()
        raise VenueStartError(f"the venue's first line is not JSON: {first[:200]!r}") from None
    # Keep draining stdout so the child never blocks on a full pipe.
    _drain(proc, state.path / "venue.log")
    return VenueProcess(proc=proc, urls=urls, pid=proc.pid)


def _drain(proc: subprocess.Popen[bytes], path: Path) -> None:
    import threading

    def run() -> None:
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        with path.open("ab") as f:
            while chunk := os.read(fd, 65536):
                f.write(chunk)

    threading.Thread(target=run, name="venue-stdout", daemon=True).start()
