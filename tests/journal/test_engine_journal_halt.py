"""Fail closed (#11): an engine whose journal cannot be written halts. A real engine in a child
process trades against the simulated venue with ``RLIMIT_FSIZE`` set (``SIGXFSZ`` ignored, as
``pymm start`` does), so its journal writer gets ``EFBIG`` a few seconds in. Checked: the session
latches its kill switch at once, sends no new order after the halt, cancels what rested, and says
why in ``status()["journal"]["halted"]``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests.test_engine_session import (
    QUOTING,
    engine_config,
    keypair,  # noqa: F401  (fixture)
    open_orders,
    venue,  # noqa: F401  (fixture)
)
from tests.venues._harness import Venue

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, resource, signal, sys, time
cfg, params, limit = json.loads(sys.argv[1]), json.loads(sys.argv[2]), int(sys.argv[3])
from pymm._native import Engine
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
e = Engine(cfg)
e.push_params(params)
e.start()
out = {"quoted": False}
t0 = time.monotonic()
while time.monotonic() - t0 < 60:
    st = e.status()
    out["quoted"] |= st["state"] == "quoting"
    if st["journal"]["halted"] is not None:
        out["at_halt"] = st
        break
    time.sleep(0.005)
time.sleep(2.0)
e.push_params(params)  # a parameter push after the halt must not bring quotes back
time.sleep(0.5)
out["after"] = e.status()
e.stop(5.0)
print(json.dumps(out))
"""


def test_unwritable_journal_halts_new_orders(venue: Venue, keypair, tmp_path: Path) -> None:  # noqa: F811
    cfg = engine_config(venue, keypair[0], tmp_path, journal_dir=str(tmp_path / "journal"))
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    r = subprocess.run(
        [sys.executable, "-c", CHILD, json.dumps(cfg), json.dumps(QUOTING), str(256 << 10)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )
    assert r.returncode == 0, r.stderr
    out: dict[str, Any] = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["quoted"], "the engine never quoted before the journal filled"
    assert "at_halt" in out, "the journal never halted the session"
    halt, after = out["at_halt"], out["after"]
    reason = halt["journal"]["halted"]
    assert "journal writer failed" in reason and "File too large" in reason, reason
    assert "kill latched" in reason
    # No new order after the halt; the kill latch holds; what rested was cancelled.
    assert after["orders"]["sent"] == halt["orders"]["sent"], (halt["orders"], after["orders"])
    assert after["journal"]["halted"] == reason
    assert after["counters"]["journal_dropped"] > 0
    assert after["state"] == "killed", after["state"]
    deadline = time.monotonic() + 5
    while open_orders(venue) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")]
    # The journal on disk is a verified prefix: a segment no bigger than the limit.
    segs = sorted((tmp_path / "journal").glob("journal-*.seg"))
    assert segs and all(s.stat().st_size <= 256 << 10 for s in segs)
