"""Fault-matrix row 19: the repeated-execution throttle latches until a person re-enables it, and the
latch survives ``kill -9``.

A real engine in a child process quotes against the simulated venue (in this process, outliving the
child) with a throttle of 2 fills per 10 minutes. Once it latched, the child is killed with SIGKILL and
a new one starts with ``recover`` on the same journal: the replay brings the latch back (it is not a
flag anyone writes down, it is what the journalled fills imply), the restarted engine sends no order,
and only the operator's lift re-arms it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from pymm._native import replay_engine_journal
from tests.test_engine_session import (
    QUOTING,
    all_orders,
    engine_config,
    keypair,  # noqa: F401  (fixture)
    venue,  # noqa: F401  (fixture)
    wait_for,
)
from tests.venues._harness import Venue

ROOT = Path(__file__).resolve().parents[2]

# Prints one JSON status line per event of interest; lifts after LIFT on stdin.
CHILD = r"""
import json, sys, threading, time
from pymm._native import Engine
cfg, params = json.loads(sys.argv[1]), json.loads(sys.argv[2])
e = Engine(cfg)
e.push_params(params)
e.start()
lift = threading.Event()
threading.Thread(target=lambda: sys.stdin.readline() and lift.set(), daemon=True).start()
said = set()
def say(what):
    st = e.status()
    print(what + " " + json.dumps({k: st[k] for k in ("state", "orders", "risk", "recovery", "last_error")}),
          flush=True)
while True:
    st = e.status()
    if st["recovery"] is not None and "RECOVERY" not in said:
        said.add("RECOVERY"); say("RECOVERY")
    if st["state"] == "quoting" and "QUOTING" not in said:
        said.add("QUOTING"); say("QUOTING")
    if st["risk"]["throttled"] and "THROTTLED" not in said:
        said.add("THROTTLED"); say("THROTTLED")
    if lift.is_set() and "LIFTED" not in said:
        e.lift(); said.add("LIFTED"); say("LIFTED")
    if "LIFTED" in said and "SENT" not in said and e.status()["orders"]["sent"] > 0:
        said.add("SENT"); say("SENT")
    if st["state"] == "stopped":
        say("DEAD"); sys.exit(3)
    time.sleep(0.01)
"""


def _spawn(cfg: dict[str, Any]) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(cfg), json.dumps(QUOTING)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _until(p: subprocess.Popen[str], want: str, timeout: float) -> dict[str, Any]:
    assert p.stdout is not None
    t0 = time.monotonic()
    seen: list[str] = []
    while time.monotonic() - t0 < timeout:
        line = p.stdout.readline()
        if not line:
            break
        seen.append(line.strip())
        if line.startswith(want + " "):
            return json.loads(line[len(want) + 1 :])
        assert not line.startswith("DEAD"), seen
    raise AssertionError(f"child never said {want}: {seen}")


def _kill(p: subprocess.Popen[str]) -> None:
    p.send_signal(signal.SIGKILL)
    p.wait(10)
    for f in (p.stdout, p.stdin):
        if f is not None:
            f.close()


def test_throttle_latch_survives_sigkill_until_lifted(venue: Venue, keypair, tmp_path: Path) -> None:  # noqa: F811
    jdir = tmp_path / "journal"
    cfg = engine_config(
        venue,
        keypair[0],
        tmp_path,
        journal_dir=str(jdir),
        recover=True,
        risk={"max_fills_in_window": 2, "fill_window_ms": 600_000},
    )
    p = _spawn(cfg)
    try:
        _until(p, "QUOTING", 30)
        st = _until(p, "THROTTLED", 90)
        assert st["risk"]["throttled"] and st["orders"]["fills"] >= 2, st
        # Latched: no new order goes out while it is latched.
        time.sleep(0.5)
    finally:
        _kill(p)
    sent_before = len(all_orders(venue))
    assert replay_engine_journal(cfg, str(jdir))["throttled"], "the journal does not imply the latch"

    p = _spawn(cfg)
    try:
        rec = _until(p, "RECOVERY", 30)["recovery"]
        assert rec["error"] is None and rec["applied"] > 0 and rec["throttled"], rec
        st = _until(p, "QUOTING", 30)
        assert st["risk"]["throttled"], st
        time.sleep(2.0)  # reconciled, quoting state, book fresh: it would quote if it could
        assert len(all_orders(venue)) == sent_before, "the restarted engine sent an order while throttled"
        assert p.stdin is not None
        p.stdin.write("LIFT\n")
        p.stdin.flush()
        st = _until(p, "LIFTED", 10)
        st = _until(p, "SENT", 15)
        assert st["orders"]["sent"] > 0
        wait_for(lambda: len(all_orders(venue)) > sent_before, 10, "the lifted engine's orders at the venue")
    finally:
        _kill(p)
