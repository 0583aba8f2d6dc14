"""``RunInfo.alive``: the recorded process runs; a process that exited is gone, reaped or not (a
zombie waiting for its parent counts as gone, so ``pymm stop`` does not wait for it)."""

from __future__ import annotations

import subprocess
import sys
import time

from pymm.runtime.state import RunInfo


def _info(pid: int) -> RunInfo:
    return RunInfo(pid=pid, control_url="http://127.0.0.1:1", metrics_url=None, dashboard_url=None, venue={})


def test_alive_running_zombie_and_reaped() -> None:
    p = subprocess.Popen([sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE)
    try:
        assert _info(p.pid).alive()
        assert p.stdin is not None
        p.stdin.close()  # the child exits; not reaped yet
        deadline = time.monotonic() + 30
        while _info(p.pid).alive():
            assert time.monotonic() < deadline, "an exited, unreaped child still counts as alive"
            time.sleep(0.01)
        assert p.poll() == 0  # it had exited: now reaped
        assert not _info(p.pid).alive()
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
