"""`pymm start` on the ITCH/OUCH market (config/itch-sim.toml, ADR 0011), as a subprocess: the embedded
exchange (``ItchVenue``, ITCH over loopback multicast, OUCH over SoupBinTCP) and the ``ItchEngine``
quote two-sided on several levels within 10 s and get filled; ``pymm kill`` leaves zero open orders at
the exchange, whose own view of the position equals the engine's; two operators lift the latch;
``pymm stop`` exits 0. A restart after kill -9 comes up halted."""

from __future__ import annotations

import json
import subprocess
import sys
import time
import urllib.request
from decimal import Decimal
from typing import Any

from tests.runtime.conftest import Running, kill_9_and_restart


def _two_sided(st: dict[str, Any], levels: int = 2) -> bool:
    prices = {"BUY": set(), "SELL": set()}
    for q in st["instruments"][0]["quotes"]:
        prices[q["side"]].add(q["price"])
    return all(len(p) >= levels for p in prices.values())


def _account(st: dict[str, Any]) -> dict[str, Any]:
    acct = st["venue"]["account"]
    assert acct is not None, st["venue"]
    return acct


def test_itch_start_quotes_fills_kills_and_stops(itch_instance: Running):
    r = itch_instance
    t0 = time.monotonic()
    st = r.wait_until("two-sided quotes on >= 2 levels", _two_sided, 10.0)
    quoted_after = time.monotonic() - t0
    assert st["state"] == "quoting" and st["venue"]["kind"] == "itch-sim"
    inst = st["instruments"][0]
    bids = [q["price"] for q in inst["quotes"] if q["side"] == "BUY"]
    asks = [q["price"] for q in inst["quotes"] if q["side"] == "SELL"]
    assert max(map(float, bids)) < min(map(float, asks)), inst["quotes"]
    st = r.wait_until("fills", lambda s: s["instruments"][0]["fills"] > 0, 60.0)
    assert st["engine"]["feed"]["book_errors"] == 0 and st["params"]["pushes"] > 0
    # Both lines are read and arbitrated; tick-to-trade is measured on the engine's thread.
    feed = st["engine"]["feed"]
    assert feed["won_a"] + feed["won_b"] > 0 and feed["duplicates"] > 0, feed
    r.wait_until(
        "a tick-to-trade sample", lambda s: s["engine"]["latency_ns"]["tick_to_trade"]["count"] > 0, 30.0
    )
    # The screen renders, and Prometheus serves the instrument's series.
    screen = r.cli("status")
    assert screen.returncode == 0 and "PYMM on itch-sim" in screen.stdout, screen
    with urllib.request.urlopen(r.run_info()["metrics_url"], timeout=10) as resp:
        metrics = resp.read().decode()
    assert 'pymm_position{symbol="PYMM"}' in metrics and 'pymm_orders_total{state="filled"' in metrics

    out = r.cli("kill", "--reason", "e2e")
    assert out.returncode == 0, out
    killed = json.loads(out.stdout)
    assert killed["latched"] and killed["venue_confirmed"], killed
    # Timed on the engine's clock: command taken → Cancels on the socket → the exchange's last answer.
    assert 0 < killed["send_ms"] <= killed["confirm_ms"] <= killed["venue_confirm_ms"], killed
    print(f"ITCH kill: every Cancel answered {killed['venue_confirm_ms']:.2f} ms after the command")
    st = r.status()
    # Confirmed means the engine has nothing open or UNKNOWN: the exchange answered every Cancel.
    assert _account(st)["open_orders"] == 0, st["venue"]
    assert st["state"] == "halted" and st["instruments"][0]["quotes"] == [], st

    # Nothing is open, so no fill is on its way: the engine's position is the exchange's own, and so
    # is the drop copy's (the exchange's statement of each execution, folded into the portfolio).
    def settled(s: dict[str, Any]) -> bool:
        inst, acct = s["instruments"][0], _account(s)
        return (
            int(inst["engine_position"]) == acct["position"] == int(Decimal(inst["position"]))
            and inst["fills"] == acct["executions"]
        )

    st = r.wait_until("the engine's, the drop copy's and the exchange's positions to agree", settled, 10.0)
    assert _account(st)["tokens_repeated"] == 0, st["venue"]
    inst = st["instruments"][0]
    # PnL from the exchange's fill prices: total = realized + unrealized (no fees on this exchange),
    # and the balance deltas are the fills' shares and cash.
    pnl = {k: Decimal(v) for k, v in inst["pnl"].items() if k in ("realized", "unrealized", "fees", "total")}
    assert pnl["fees"] == 0 and abs(pnl["total"] - pnl["realized"] - pnl["unrealized"]) <= Decimal("2e-8"), (
        pnl
    )
    assert Decimal(inst["balance_deltas"].get("PYMM", "0")) == _account(st)["position"], inst
    print(
        f"quoted two-sided after {quoted_after:.2f} s; {st['instruments'][0]['fills']} fills; kill "
        f"confirmed {killed['ms']:.1f} ms after the engine was told; position {_account(st)['position']}"
    )

    # Two distinct operators lift the latch; quoting resumes.
    for op in ("alice", "bob"):
        lifted = json.loads(r.cli("approve", "--operator", op, "--key", str(r.keys[op])).stdout)
    assert not lifted["latched"], lifted
    r.wait_until("quoting after the lift", _two_sided, 15.0)

    # `pymm stop` waits for the process to go; this test is its parent and reaps it meanwhile.
    stop = subprocess.Popen(
        [sys.executable, "-m", "pymm", "stop", "--config", str(r.config)], stdout=subprocess.PIPE, text=True
    )
    assert r.proc.wait(30) == 0
    stopped, _ = stop.communicate(timeout=30)
    assert stop.returncode == 0 and "pymm stopped." in stopped, stopped
    log = r.log.read_text()
    summary = json.loads(log.split("pymm: stopped (", 1)[1].rsplit(")", 1)[0])
    assert summary["orderly"] and summary["working"] == 0 and summary["unknown"] == 0, summary
    # The journal the engine wrote is intact.
    verify = r.cli_plain("ledger", "verify", str(r.state / "journal"), "--json")
    assert verify.returncode == 0 and json.loads(verify.stdout)["first_bad"] is None, verify


def test_itch_restart_after_kill_9_stays_halted(itch_instance: Running, tmp_path):
    r = itch_instance
    r.wait_until("quoting", lambda s: _two_sided(s, 1), 15.0)
    r2 = kill_9_and_restart(r, tmp_path, "drill")
    st = r2.wait_until("the engine up and killed", lambda s: s["engine_state"] == "killed", 15.0)
    assert st["kill"]["latched"] and st["kill"]["reason"] == "drill", st["kill"]
    time.sleep(1.0)  # a latched engine must not quote however long it runs
    st = r2.status()
    assert st["state"] == "halted" and st["instruments"][0]["quotes"] == [], st
    # Nothing was entered (the one token the exchange saw is the session's barrier probe, ADR 0008).
    assert st["instruments"][0]["orders"]["sent"] == 0, st["instruments"][0]["orders"]
    assert _account(st)["open_orders"] == 0 and _account(st)["position"] == 0, st["venue"]
