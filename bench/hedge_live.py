"""Live hedging on the simulated venue: `pymm start` (default config) for a while, then its hedge block.

Reports what issue #7 asks: the share of 100 ms samples with |net delta| within 1% of the configured
max inventory, and where the time from a spot fill to its hedge order goes, hop by hop, as HDR
histograms (µs; p50, p99, p99.9, max) kept by the running instance (``pymm.runtime.hedging.HopTrace``):

- ``exec_to_recv``: the venue's execution time ``T`` of the spot fill (milliseconds: up to 1 ms
  early) → our drop copy reads the frame (the venue's publish and its user-data stream);
- ``recv_to_intent``: parse, delta bus, hedge decision;
- ``intent_to_written``: with ``--gateway python``, sign the request and hand it to the kernel; with
  ``--gateway native``, hand the order to the native gateway's thread (its risk check, signing and
  write follow unobserved: the gateway reports no write time) — the output's ``hops.written`` says
  which;
- ``recv_to_written``: our part, receipt of the fill → hedge order leaving (target p99 ≤ 5 ms);
- ``exec_to_written``: venue execution → hedge order leaving;
- ``written_to_venue``: → the venue's ``updateTime`` on the answer (milliseconds);
- ``exec_to_venue``: the spot fill's venue time → the hedge order's venue time (both on the venue's
  clock, milliseconds): end to end, comparable between the two gateways.

Only orders issued in the fill's own callback are traced; intents sent later by policy (in band,
passive timeout, governor) are counted as ``deferred``. The service's older ``fill_to_intent_ns``
(all intents, trigger = latest fill) is printed too. Load averages are taken before and after.
Prints one JSON object (``--hdr`` adds the compressed histograms).

Run: ``python bench/hedge_live.py [--seconds 120] [--gateway native|python] [--hdr]`` (needs the
built package; starts its own venue; without ``--gateway`` the config's default is used).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from pymm.config import DEFAULT_CONFIG


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=120.0)
    ap.add_argument("--hdr", action="store_true", help="include the compressed HDR histograms")
    ap.add_argument("--gateway", choices=("native", "python"), help="[hedge] gateway (default: the config's)")
    args = ap.parse_args()
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        src = DEFAULT_CONFIG.read_text().replace('dir = "var/pymm"', f'dir = "{t / "state"}"')
        src = src.replace("port = 8790", "port = 0").replace("port = 9464", "port = 0")
        src = src.replace('"instruments/', f'"{DEFAULT_CONFIG.parent / "instruments"}/')
        if args.gateway is not None:
            lines = [ln for ln in src.splitlines() if not ln.startswith("gateway = ")]
            at = lines.index("[hedge]") + 1
            src = "\n".join([*lines[:at], f'gateway = "{args.gateway}"', *lines[at:]]) + "\n"
        (t / "c.toml").write_text(src)
        with (t / "log").open("ab") as log:
            proc = subprocess.Popen(
                [sys.executable, "-m", "pymm", "start", "--config", str(t / "c.toml")], stdout=log, stderr=log
            )
        try:
            while not (t / "state" / "run.json").exists():
                if proc.poll() is not None:
                    raise SystemExit((t / "log").read_text()[-3000:])
                time.sleep(0.1)
            time.sleep(args.seconds)
            url = json.loads((t / "state" / "run.json").read_text())["control_url"] + "/api/status?detail=1"
            with urllib.request.urlopen(url, timeout=10) as r:
                st = json.loads(r.read())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    inst = st["instruments"][0]
    hedge = dict(st["hedge"])
    hops = dict(hedge.pop("hops", {}))
    hdr = hops.pop("hdr", None)
    out = {
        "bench": "hedge_live",
        "seconds": args.seconds,
        "gateway": hedge.get("gateway"),
        "cpus": os.cpu_count(),
        "load_avg_before": load_before,
        "load_avg_after": os.getloadavg(),
        "spot_fills": inst["fills"],
        "spot_position": inst["position"],
        "kill": st["kill"],
        "hops": hops,
        "hedge": hedge,
    }
    if args.hdr:
        out["hdr"] = hdr
    print(json.dumps(out))


if __name__ == "__main__":
    main()
