"""Fail closed (#11) for the ITCH/OUCH engine: a real ``ItchEngine`` in a child process quotes
against the simulated exchange with ``RLIMIT_FSIZE`` set (``SIGXFSZ`` ignored, as ``pymm start``
does), so its journal writer gets ``EFBIG`` after a few thousand records. Checked: the kill latches,
no new order is entered after the halt (a parameter push and a lift do not bring quotes back), and
``status()["journal"]`` says why; what was written is an intact prefix."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from pymm._native import ItchVenue, Journal
from tests.venues.test_itch_engine import GROUP_A, QUOTING, engine_config, free_port, venue_config

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource, signal, sys, time
cfg, params, limit = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
from pymm._native import ItchEngine
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
e = ItchEngine(cfg)
e.push_params(params)
e.start()
out = {}
t0 = time.monotonic()
while time.monotonic() - t0 < 60:
    st = e.status()
    if st["journal"]["halted"] is not None:
        out["at_halt"] = st
        break
    time.sleep(0.002)
deadline = time.monotonic() + 30
while time.monotonic() < deadline and (e.status()["open_orders"] or e.status()["quotes"]):
    time.sleep(0.01)
out["quiet"] = e.status()
e.push_params({**params, "half_spread_mt": 3000})  # must not bring quotes back
e.lift()  # refused until restart
time.sleep(1.0)
out["after"] = e.status()
e.stop(10.0)
out["stopped"] = e.status()
print(json.dumps(out))
"""


def test_unwritable_journal_latches_the_kill(tmp_path: Path) -> None:
    ouch_port, rr_port = free_port(socket.SOCK_STREAM), free_port(socket.SOCK_DGRAM)
    feed_port = free_port(socket.SOCK_DGRAM)
    cfg = engine_config(tmp_path, f"{GROUP_A}:{feed_port}", ouch_port, rr_port)
    venue = ItchVenue(venue_config(feed_port, ouch_port, rr_port))
    venue.start()
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    try:
        r = subprocess.run(
            [sys.executable, "-c", CHILD, json.dumps(cfg), json.dumps(QUOTING), str(256 << 10)],
            capture_output=True,
            text=True,
            timeout=180,
            check=False,
            env=env,
        )
        assert r.returncode == 0, r.stderr
        out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
        assert "at_halt" in out, "the journal never halted the engine"
        halt, quiet, after = out["at_halt"], out["quiet"], out["after"]
        reason = halt["journal"]["halted"]
        assert "journal writer failed" in reason and "File too large" in reason, reason
        assert "kill latched" in reason
        assert halt["killed"], halt
        # Everything pulled, nothing new entered, the latch held through a push and a lift.
        assert quiet["open_orders"] == 0 and not quiet["quotes"], quiet
        assert after["ouch"]["entered"] == halt["ouch"]["entered"], (halt["ouch"], after["ouch"])
        assert after["killed"] and not after["quotes"], after
        assert after["journal"]["halted"] == reason
        assert after["journal"]["dropped"] > 0
        assert after["journal"]["seq"] == halt["journal"]["seq"]
        assert venue.user_view("PYMM")["open_orders"] == 0
    finally:
        venue.stop()
    # The journal on disk is an intact prefix no bigger than the limit, but for the torn tail the
    # refused write left (cut by the next open for append).
    journal = tmp_path / "journal"
    segs = sorted(journal.glob("journal-*.seg"))
    assert segs and all(s.stat().st_size <= 256 << 10 for s in segs)
    report = Journal.verify(journal)
    bad = report["first_bad"]
    if bad is not None:
        assert "truncated record" in bad["reason"] and bad["segment"] == segs[-1], report
    assert 0 < report["records"] <= halt["journal"]["seq"], report
    j = Journal.open(journal)
    assert (j.recovery["cut"] is not None) == (bad is not None), j.recovery
    j.close()
    assert Journal.verify(journal)["intact"]
