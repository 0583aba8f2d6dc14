"""AF_XDP for real: the ITCH feed handler over a veth pair between two network namespaces.

``bench/src/bin/veth_feed.rs`` creates the namespaces and the veth pair, sends MoldUDP64/ITCH frames
from namespace A with kernel UDP multicast, and runs the feed handler in namespace B once per receive
transport; each book is compared with the one built in-process from the same frames. Root only (CI
runs as root); elsewhere the tests skip with the reason.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest

pytestmark = pytest.mark.netns

REPO = Path(__file__).resolve().parents[2]


def _need_root_and_tools() -> None:
    reason = None
    if os.geteuid() != 0:
        reason = "network namespaces and XDP need root (CAP_NET_ADMIN, CAP_BPF)"
    elif shutil.which("ip") is None:
        reason = "missing `ip`: install iproute2"
    elif shutil.which("cargo") is None:
        reason = "needs cargo to build bench/src/bin/veth_feed.rs"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs as root with iproute2 and cargo, but: {reason}")
        pytest.skip(reason)


def _veth_feed(*args: str, timeout: float = 900) -> dict:
    _need_root_and_tools()
    cmd = ["cargo", "run", "--quiet", "--release", "-p", "pymm-bench", "--bin", "veth_feed", "--", *args]
    res = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True, timeout=timeout, check=False)
    assert res.returncode in (0, 1), f"veth_feed failed ({res.returncode}): {res.stderr}"
    return json.loads(res.stdout)


def _check_same_book(report: dict) -> None:
    ref = report["reference"]
    assert ref["applied"] > 0 and ref["integrity_errors"] == 0
    for kind in ("kernel", "afxdp"):
        r = report["transports"][kind]
        assert r["transport"] == {"used": kind, "fallback": None}
        assert r["digest"] == ref, f"{kind} built another book"
        assert r["equal"]
    assert report["equal"]


def test_afxdp_builds_the_same_book_as_kernel_sockets_synthetic():
    report = _veth_feed("book", "--transport", "kernel,afxdp", "--messages", "5000")
    assert report["datagrams"] == 5000
    _check_same_book(report)


def test_frames_sent_from_afxdp_tx_build_the_same_book():
    """AF_XDP's TX path: Ethernet/IPv4/UDP built by pymm, accepted by the kernel stack and by AF_XDP."""
    report = _veth_feed("book", "--transport", "kernel,afxdp", "--messages", "3000", "--sender", "afxdp")
    assert report["sender"] == "afxdp"
    _check_same_book(report)


@pytest.mark.data
def test_afxdp_builds_the_same_book_on_the_lobster_amzn_day(data_dir):
    report = _veth_feed("book", "--transport", "kernel,afxdp", "--lobster", str(data_dir), "--messages", "0")
    assert report["source"] == "lobster_amzn_20120621_l5"
    assert report["datagrams"] > 5000
    _check_same_book(report)


def test_bench_latency_reports_both_transports(tmp_path):
    _need_root_and_tools()
    res = subprocess.run(
        ["pymm", "bench", "latency", "--transport", "afxdp", "--quick", "--json", "--out", str(tmp_path)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert res.returncode == 0, res.stderr
    report = json.loads(res.stdout)
    for kind in ("kernel", "afxdp"):
        h = report["transports"][kind]["send_to_book_ns"]
        assert h["count"] == 2000 and 0 < h["p50"] <= h["p99"] <= h["max"]
        assert report["transports"][kind]["transport"]["used"] == kind
    assert report["afxdp_p50_over_kernel_p50"] > 0
    assert (tmp_path / "veth_latency.json").is_file()
