"""A real ``pymm start`` in a subprocess on a temporary state directory, with two operators."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from pymm.config import DEFAULT_CONFIG
from pymm.runtime.sandbox import stop_instance, write_sandbox_config


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    config: Path
    state: Path
    keys: dict[str, Path]
    log: Path

    def run_info(self) -> dict[str, Any]:
        return json.loads((self.state / "run.json").read_text())

    def api(self, method: str, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        url = self.run_info()["control_url"] + path
        data = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        req = urllib.request.Request(url, data=data, method=method, headers=headers)
        with urllib.request.urlopen(req, timeout=10) as r:
            return json.loads(r.read())

    def status(self) -> dict[str, Any]:
        return self.api("GET", "/api/status")

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "pymm", *args, "--config", str(self.config)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def cli_plain(self, *args: str) -> subprocess.CompletedProcess[str]:
        """A ``pymm`` command without ``--config``."""
        return subprocess.run(
            [sys.executable, "-m", "pymm", *args], capture_output=True, text=True, timeout=60
        )

    def wait_until(self, what: str, pred: Any, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        st: dict[str, Any] = {}
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"pymm exited {self.proc.returncode}:\n{self.log.read_text()[-4000:]}")
            try:
                st = self.status()
            except OSError:
                time.sleep(0.1)
                continue
            if pred(st):
                return st
            time.sleep(0.1)
        pytest.fail(f"{what} not within {timeout} s; last status:\n{json.dumps(st, indent=1)[:6000]}")


def launch(cfg: Path, state: Path, keys: dict[str, Path], log: Path) -> Running:
    with log.open("ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "pymm", "start", "--config", str(cfg)],
            stdout=out,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
    r = Running(proc=proc, config=cfg, state=state, keys=keys, log=log)
    deadline = time.monotonic() + 60
    while not (state / "run.json").exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"pymm start did not come up:\n{log.read_text()[-4000:]}")
        time.sleep(0.05)
    return r


def kill_9_and_restart(r: Running, tmp_path: Path, reason: str) -> Running:
    """``pymm kill --reason``, then SIGKILL and a restart on the same state directory; ``r`` takes the
    new process, so the fixture stops that one."""
    assert json.loads(r.cli("kill", "--reason", reason).stdout)["latched"]
    r.proc.send_signal(signal.SIGKILL)
    r.proc.wait()
    (r.state / "run.json").unlink()
    r2 = launch(r.config, r.state, r.keys, tmp_path / "pymm2.log")
    r.proc = r2.proc
    return r2


@pytest.fixture
def pymm_instance(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Running]:
    """``pymm start`` on the default config; indirect parametrisation replaces config text
    (``{old: new}``)."""
    yield from _running(tmp_path, getattr(request, "param", None), DEFAULT_CONFIG)


ITCH_CONFIG = DEFAULT_CONFIG.parent / "itch-sim.toml"
# The shipped ports made free ones: the engine picks the lines', the supervisor the venue's two.
ITCH_FREE_PORTS = {
    '"239.1.1.1:31001"': '"239.1.1.1:0"',
    '"239.1.1.2:31002"': '"239.1.1.2:0"',
    '"127.0.0.1:31003"': '"127.0.0.1:0"',
    '"127.0.0.1:31004"': '"127.0.0.1:0"',
}


@pytest.fixture
def itch_instance(tmp_path: Path) -> Iterator[Running]:
    """``pymm start`` on the shipped ITCH config (config/itch-sim.toml) on free ports."""
    yield from _running(tmp_path, ITCH_FREE_PORTS, ITCH_CONFIG)


def _running(tmp_path: Path, replace: dict[str, str] | None, source: Path) -> Iterator[Running]:
    cfg, keys = write_sandbox_config(tmp_path, replace, source)
    r = launch(cfg, tmp_path / "state", keys, tmp_path / "pymm.log")
    try:
        yield r
    finally:
        stop_instance(r.proc)
        # A venue left by a kill -9 in a test.
        vrec = tmp_path / "state" / "venue.json"
        if vrec.exists():
            pid = json.loads(vrec.read_text())["pid"]
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGTERM)
