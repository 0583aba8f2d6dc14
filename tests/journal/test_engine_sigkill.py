"""Crash recovery under SIGKILL (#11): a real engine in a child process trades against the simulated
venue (which lives in this process and outlives every engine), is killed with SIGKILL at seeded
random points and restarted with ``recover`` on the same journal and client-id file. Checked:

- each restart's recovered digest equals a replay of the same journal prefix (same seq) by a fresh
  session core — the state an uninterrupted run had at that seq;
- no client order id ever reached the venue twice (``allOrders`` has unique ``clientOrderId``s);
- no order is lost: after the last (orderly) stop the venue has no open order with our prefix, and
  the whole journal of every run replays to the digest the last run reported;
- snapshots: the journal writer's shadow core snapshots every 150 records, and every restart that
  finds a snapshot starts from it (``status()["recovery"]["snapshot_seq"]``) and replays only the
  tail — to the same digest as the genesis replay of the same prefix.
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from pymm._native import replay_engine_journal
from tests.test_engine_session import (
    QUOTING,
    all_orders,
    engine_config,
    keypair,  # noqa: F401  (fixture)
    open_orders,
    venue,  # noqa: F401  (fixture)
)
from tests.venues._harness import Venue

ROOT = Path(__file__).resolve().parents[2]

CHILD = r"""
import json, sys, time
from pymm._native import Engine
cfg, params, stop_after = json.loads(sys.argv[1]), json.loads(sys.argv[2]), float(sys.argv[3])
e = Engine(cfg)
e.push_params(params)
e.start()
t0 = time.monotonic()
said_rec = said_q = False
while True:
    st = e.status()
    if not said_rec and st["recovery"] is not None:
        print("RECOVERY " + json.dumps(st["recovery"]), flush=True)
        said_rec = True
    if not said_q and st["state"] == "quoting":
        print("QUOTING", flush=True)
        said_q = True
    if st["state"] == "stopped" or (st["recovery"] or {}).get("error"):
        print("DEAD " + json.dumps(st["last_error"]), flush=True)
        sys.exit(3)
    if stop_after > 0 and time.monotonic() - t0 > stop_after:
        ok = e.stop(5.0)
        print("STOPPED " + json.dumps(e.status()["journal"]), flush=True)
        sys.exit(0 if ok else 4)
    time.sleep(0.01)
"""


def _spawn(cfg: dict[str, Any], stop_after: float) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    return subprocess.Popen(
        [sys.executable, "-c", CHILD, json.dumps(cfg), json.dumps(QUOTING), str(stop_after)],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )


def _lines_until(p: subprocess.Popen[str], want: str, timeout: float) -> list[str]:
    out: list[str] = []
    t0 = time.monotonic()
    assert p.stdout is not None
    while time.monotonic() - t0 < timeout:
        line = p.stdout.readline()
        if not line:
            break
        out.append(line.strip())
        if line.startswith(want) or line.startswith("DEAD"):
            return out
    raise AssertionError(f"child never said {want}: {out}")


def _crash_loop(sim: Venue, priv_pem: str, tmp: Path, kills: int, seed: int) -> None:
    rng = random.Random(seed)
    jdir = tmp / "journal"
    cfg = engine_config(sim, priv_pem, tmp, journal_dir=str(jdir), recover=True, snapshot_every=150)
    recoveries: list[dict[str, Any]] = []
    had_snapshot: list[bool] = []
    for k in range(kills):
        had_snapshot.append(any(jdir.glob("snapshot-*.snap")))
        p = _spawn(cfg, 0)
        try:
            lines = _lines_until(p, "QUOTING", 30)
            assert not any(x.startswith("DEAD") for x in lines), lines
            recoveries += [json.loads(x[len("RECOVERY ") :]) for x in lines if x.startswith("RECOVERY ")]
            time.sleep(rng.uniform(0.05, 1.5))
        finally:
            p.send_signal(signal.SIGKILL)
            p.wait(10)
            if p.stdout is not None:
                p.stdout.close()
        print(f"kill {k + 1}/{kills}")
    had_snapshot.append(any(jdir.glob("snapshot-*.snap")))
    p = _spawn(cfg, 1.5)
    lines = _lines_until(p, "STOPPED", 60)
    assert p.wait(30) == 0, lines
    if p.stdout is not None:
        p.stdout.close()
    recoveries += [json.loads(x[len("RECOVERY ") :]) for x in lines if x.startswith("RECOVERY ")]
    last = json.loads(next(x for x in lines if x.startswith("STOPPED "))[len("STOPPED ") :])
    # Every restart after a kill recovered something, and exactly the state a replay of the same
    # journal prefix gives.
    assert len(recoveries) == kills, recoveries
    assert had_snapshot[1:] and all(had_snapshot[1:]), had_snapshot
    for r, snap in zip(recoveries, had_snapshot[1:], strict=True):
        assert r["error"] is None, r
        assert r["snapshots_skipped"] == [], r
        if snap:
            assert r["snapshot_seq"] is not None and r["snapshot_seq"] <= r["seq"], r
        assert r["applied"] > 0 or r["snapshot_seq"] == r["seq"], r
        prefix = replay_engine_journal(cfg, str(jdir), r["seq"])
        assert (prefix["seq"], prefix["digest"]) == (r["seq"], r["digest"]), r
    full = replay_engine_journal(cfg, str(jdir))
    assert (full["seq"], full["digest"]) == (last["seq"], last["digest"])
    # Never sent twice, nothing left behind.
    ids = [o["clientOrderId"] for o in all_orders(sim) if o["clientOrderId"].startswith("pm")]
    assert ids and len(ids) == len(set(ids)), "a client order id reached the venue twice"
    assert not [o for o in open_orders(sim) if o["clientOrderId"].startswith("pm")]
    rows = [
        (r["seq"], r["snapshot_seq"], r["applied"], r["unknown"], round(r["elapsed_ns"] / 1e6, 1))
        for r in recoveries
    ]
    print(f"{kills} SIGKILLs: {len(ids)} orders; recovered (seq, from snapshot, tail, unknown, ms): {rows}")


def test_sigkill_recovery_ci(venue: Venue, keypair, tmp_path: Path) -> None:  # noqa: F811
    _crash_loop(venue, keypair[0], tmp_path, kills=3, seed=11)


@pytest.mark.slow
def test_sigkill_recovery_20_points(venue: Venue, keypair, tmp_path: Path) -> None:  # noqa: F811
    _crash_loop(venue, keypair[0], tmp_path, kills=20, seed=2026)
