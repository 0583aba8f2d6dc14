"""``pymm venue --json`` with the ITCH/OUCH front: the first stdout line is one JSON object naming the
multicast lines, the re-request server and the SoupBinTCP port, which accepts a login."""

from __future__ import annotations

import json
import socket
import subprocess
import sys

from typer.testing import CliRunner

from pymm.cli import app


def test_venue_has_itch_options():
    r = CliRunner().invoke(app, ["venue", "--help"])
    assert r.exit_code == 0 and "--no-itch" in r.output and "--json" in r.output


def test_venue_json_names_the_itch_endpoints():
    cmd = [
        sys.executable,
        "-u",
        "-c",
        "from pymm.cli import main; main()",
        "venue",
        "--port",
        "0",
        "--no-flow",
        "--json",
        "--itch-a",
        "239.1.22.1:31101",
        "--itch-b",
        "239.1.22.2:31102",
        "--rerequest-port",
        "0",
        "--ouch-port",
        "0",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("{"), line + (proc.stderr.read() if proc.poll() is not None else "")
        ep = json.loads(line)
        assert ep["itch_a"] == "239.1.22.1:31101" and ep["itch_b"] == "239.1.22.2:31102"
        assert ep["spot_rest"].startswith("http://127.0.0.1:")
        host, port = ep["ouch"].split(":")
        assert int(port) > 0 and int(ep["itch_rerequest"].split(":")[1]) > 0
        with socket.create_connection((host, int(port)), timeout=5) as c:
            login = b"L" + b"PYMM  " + b"pymm      " + b" " * 10 + b"0".rjust(20)
            c.sendall(len(login).to_bytes(2, "big") + login)
            assert c.recv(33)[2:3] == b"A"
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        for stream in (proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()
