"""Live hedging on the simulated venue: `pymm start` (default config) for a while, then its hedge block.

Reports what issue #7 asks: the share of 100 ms samples with |net delta| within 1% of the configured
max inventory, and the fill → hedge-intent latency (the hedge service's ``ts_intent - ts_trigger``,
where the trigger is the venue's execution time of the spot fill, so it includes the venue's user
stream and our drop copy). Prints one JSON object.

Run: ``python bench/hedge_live.py [--seconds 120]`` (needs the built package; starts its own venue).
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
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t = Path(tmp)
        src = DEFAULT_CONFIG.read_text().replace('dir = "var/pymm"', f'dir = "{t / "state"}"')
        src = src.replace("port = 8790", "port = 0").replace("port = 9464", "port = 0")
        src = src.replace('"instruments/', f'"{DEFAULT_CONFIG.parent / "instruments"}/')
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
            url = json.loads((t / "state" / "run.json").read_text())["control_url"] + "/api/status"
            with urllib.request.urlopen(url, timeout=10) as r:
                st = json.loads(r.read())
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(60)
    inst = st["instruments"][0]
    out = {
        "bench": "hedge_live",
        "seconds": args.seconds,
        "cpus": os.cpu_count(),
        "load_avg": os.getloadavg()[0],
        "spot_fills": inst["fills"],
        "spot_position": inst["position"],
        "kill": st["kill"],
        "hedge": st["hedge"],
    }
    print(json.dumps(out))


if __name__ == "__main__":
    main()
