"""``pymm venue`` as a real process: it prints its URLs and serves signed requests with a key file."""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

from typer.testing import CliRunner

from pymm.cli import app


def test_venue_is_registered():
    r = CliRunner().invoke(app, ["venue", "--help"])
    assert r.exit_code == 0 and "--keys" in r.output


def test_venue_serves_with_a_key_file(tmp_path: Path):
    api_key, secret = secrets.token_hex(16), secrets.token_hex(32)
    keys = tmp_path / "keys.toml"
    keys.write_text(f'[[keys]]\napi_key = "{api_key}"\naccount = 3\nhmac_secret = "{secret}"\n')
    cmd = [
        sys.executable,
        "-u",
        "-c",
        "from pymm.cli import main; main()",
        "venue",
        "--port",
        "0",
        "--keys",
        str(keys),
        "--no-flow",
        "--no-itch",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("sim venue: REST http://127.0.0.1:"), line + (
            proc.stderr.read() if proc.poll() else ""
        )
        base = line.split()[3].removesuffix("/api/v3")
        query = urllib.parse.urlencode({"timestamp": int(time.time() * 1000)})
        sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            f"{base}/api/v3/account?{query}&signature={sig}", headers={"X-MBX-APIKEY": api_key}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            acct = json.loads(r.read())
        assert acct["uid"] == 3
        assert {b["asset"]: b["free"] for b in acct["balances"]} == {
            "DOGE": "100000.00000000",
            "USDT": "10000.00000000",
        }
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()


def test_venue_json_first_line_names_every_url():
    cmd = [sys.executable, "-u", "-c", "from pymm.cli import main; main()", "venue", "--port", "0"]
    cmd += ["--usdm-port", "0", "--no-flow", "--json"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        info = json.loads(line or (proc.stderr.read() if proc.stderr else ""))
        for k in ("spot_rest", "spot_ws", "spot_ws_api", "usdm_rest", "usdm_ws", "api_key", "secret"):
            assert k in info, k
        assert info["usdm_rest"].endswith("/fapi") and info["usdm_ws"].startswith("ws://127.0.0.1:")
        base = info["usdm_rest"].removesuffix("/fapi")
        query = urllib.parse.urlencode({"timestamp": int(time.time() * 1000)})
        sig = hmac.new(info["secret"].encode(), query.encode(), hashlib.sha256).hexdigest()
        req = urllib.request.Request(
            f"{base}/fapi/v2/balance?{query}&signature={sig}", headers={"X-MBX-APIKEY": info["api_key"]}
        )
        with urllib.request.urlopen(req, timeout=10) as r:
            assert json.loads(r.read())[0]["balance"] == "10000.00000000"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
