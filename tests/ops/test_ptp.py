"""pymm.ops.ptp: pmc parsing, config rendering, and a real ptp4l master/slave pair in namespaces."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from pymm.ops.ptp import (
    Ptp4lConfig,
    PtpDaemon,
    PtpError,
    PtpMetrics,
    parse_pmc,
    query_status,
    set_synchronization_uncertain,
    status_from_replies,
)

# Captured from linuxptp 3.1.1 (Debian 12): note the `sending:` echo lines before the replies.
PMC_OUT = """\
sending: GET TIME_STATUS_NP
sending: GET PORT_DATA_SET
sending: GET CURRENT_DATA_SET
\t7639db.fffe.452911-0 seq 0 RESPONSE MANAGEMENT TIME_STATUS_NP<SP>
\t\tmaster_offset              -192
\t\tingress_time               1732485000123456789
\t\tcumulativeScaledRateOffset +0.000000000
\t\tgmPresent                  true
\t\tgmIdentity                 8206b6.fffe.8d9f9e
\t7639db.fffe.452911-1 seq 1 RESPONSE MANAGEMENT PORT_DATA_SET<SP>
\t\tportIdentity            7639db.fffe.452911-1
\t\tportState               SLAVE
\t\tlogSyncInterval         -3
\t7639db.fffe.452911-0 seq 2 RESPONSE MANAGEMENT CURRENT_DATA_SET<SP>
\t\tstepsRemoved     1
\t\toffsetFromMaster -192.0
\t\tmeanPathDelay    2404.0
""".replace("<SP>", " ")  # pmc ends header lines with a space


def test_parse_pmc_by_headers():
    r = parse_pmc(PMC_OUT)
    assert set(r) == {"TIME_STATUS_NP", "PORT_DATA_SET", "CURRENT_DATA_SET"}
    assert r["TIME_STATUS_NP"]["master_offset"] == "-192"
    assert r["PORT_DATA_SET"]["portState"] == "SLAVE"
    s = status_from_replies(r)
    assert (s.port_state, s.master_offset_ns, s.mean_path_delay_ns, s.gm_present) == (
        "SLAVE",
        -192,
        2404.0,
        True,
    )
    assert s.healthy


def test_incomplete_reply_is_an_error():
    r = parse_pmc(PMC_OUT.split("\t7639db.fffe.452911-1")[0])
    with pytest.raises(PtpError, match="PORT_DATA_SET"):
        status_from_replies(r)


def test_metrics_export_the_status():
    reg = CollectorRegistry()
    m = PtpMetrics(reg)
    m.update("eth0", status_from_replies(parse_pmc(PMC_OUT)))
    text = generate_latest(reg).decode()
    assert 'pymm_ptp_offset_seconds{interface="eth0"} -1.92e-07' in text
    assert 'pymm_ptp_port_state{interface="eth0",state="SLAVE"} 1.0' in text
    assert 'pymm_ptp_port_state{interface="eth0",state="MASTER"} 0.0' in text
    assert 'pymm_ptp_healthy{interface="eth0"} 1.0' in text


def test_config_round_trip_and_overrides(tmp_path):
    base = Ptp4lConfig.from_text("[global]\n# comment\ntime_stamping hardware\nslaveOnly 1\n")
    cfg = base.with_options(time_stamping="software", free_running=1)
    assert cfg.get("time_stamping") == "software"
    assert cfg.get("free_running") == "1"
    again = Ptp4lConfig.from_file(cfg.write(tmp_path / "p.conf"))
    assert again == cfg
    with pytest.raises(PtpError, match="only the"):
        Ptp4lConfig.from_text("[eth0]\nx 1\n")
    with pytest.raises(PtpError, match="outside a section"):
        Ptp4lConfig.from_text("x 1\n")


def _need_netns_and_linuxptp() -> None:
    missing = [c for c in ("ip", "ptp4l", "pmc") if not (shutil.which(c) or Path(f"/usr/sbin/{c}").exists())]
    reason = None
    if os.geteuid() != 0:
        reason = "network namespaces need root (CAP_NET_ADMIN)"
    elif missing:
        reason = f"missing {missing}: install Debian packages linuxptp and iproute2"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI runs as root with linuxptp installed, but: {reason}")
        pytest.skip(reason)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def veth_pair():
    """Two namespaces joined by a veth pair; yields (ns_a, if_a, ns_b, if_b)."""
    _need_netns_and_linuxptp()
    tag = uuid.uuid4().hex[:6]
    ns_a, ns_b, if_a, if_b = f"pymm-ptp-a-{tag}", f"pymm-ptp-b-{tag}", f"pa{tag}", f"pb{tag}"
    _ip("netns", "add", ns_a)
    _ip("netns", "add", ns_b)
    try:
        _ip("link", "add", if_a, "type", "veth", "peer", "name", if_b)
        _ip("link", "set", if_a, "netns", ns_a)
        _ip("link", "set", if_b, "netns", ns_b)
        for ns, dev, addr in ((ns_a, if_a, "10.231.0.1/24"), (ns_b, if_b, "10.231.0.2/24")):
            _ip("-n", ns, "addr", "add", addr, "dev", dev)
            _ip("-n", ns, "link", "set", dev, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
        yield ns_a, if_a, ns_b, if_b
    finally:
        _ip("netns", "del", ns_a)
        _ip("netns", "del", ns_b)


@pytest.mark.netns
def test_software_ptp_between_namespaces_reaches_slave(veth_pair, tmp_path):
    """ptp4l master and slave over veth, software stamps, free_running (never touches the host clock)."""
    ns_a, if_a, ns_b, if_b = veth_pair
    common = {
        "time_stamping": "software",
        "free_running": 1,
        "logSyncInterval": -3,
        "network_transport": "L2",
    }
    base = Ptp4lConfig.from_text("[global]\n")
    m_uds, s_uds = str(tmp_path / "m.sock"), str(tmp_path / "s.sock")
    master_cfg = base.with_options(**common, priority1=10, uds_address=m_uds).write(tmp_path / "m.conf")
    slave_cfg = base.with_options(**common, slaveOnly=1, uds_address=s_uds).write(tmp_path / "s.conf")
    client = str(tmp_path / "pmc.sock")
    master = PtpDaemon.ptp4l(master_cfg, if_a, tmp_path / "m.log", netns=ns_a)
    slave = PtpDaemon.ptp4l(slave_cfg, if_b, tmp_path / "s.log", netns=ns_b)
    with master, slave:
        status = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            assert master.running and slave.running, (tmp_path / "s.log").read_text()
            try:
                status = query_status(s_uds, netns=ns_b, client_uds=client)
            except PtpError:
                continue
            if status.port_state == "UNCALIBRATED":
                # A free-running slave reports locked only once sync is no longer uncertain.
                set_synchronization_uncertain(s_uds, False, netns=ns_b, client_uds=client)
            if status.port_state == "SLAVE" and status.gm_present:
                break
        log = (tmp_path / "s.log").read_text()
        assert status is not None and status.port_state == "SLAVE", f"{status}\n{log}"
        # Sample a few times: each must be within 10 µs.
        offsets = []
        for _ in range(5):
            time.sleep(0.3)
            offsets.append(query_status(s_uds, netns=ns_b, client_uds=client).master_offset_ns)
        assert all(abs(o) < 10_000 for o in offsets), offsets


def _doctor_probe(tmp_path, pmc_output: str | None):
    from pymm.ops.probe import Probe

    (tmp_path / "var" / "run").mkdir(parents=True, exist_ok=True)
    (tmp_path / "var" / "run" / "ptp4l").write_text("")
    return Probe(root=tmp_path, which=lambda _: "/usr/sbin/pmc", run=lambda _argv: pmc_output)


def test_doctor_grades_ptp_sync_from_pmc(tmp_path, monkeypatch):
    from pymm.ops.doctor import Grade, ptp_sync
    from pymm.ops.probe import Probe

    monkeypatch.delenv("PYMM_PTP4L_UDS", raising=False)
    f = ptp_sync(_doctor_probe(tmp_path, PMC_OUT))
    assert f.grade is Grade.PASS
    assert f.value["port_state"] == "SLAVE" and f.value["offset_ns"] == -192
    assert "path delay 2404 ns" in f.detail
    far = PMC_OUT.replace("-192", "-5000")
    assert ptp_sync(_doctor_probe(tmp_path, far)).grade is Grade.WARN
    master = PMC_OUT.replace("portState               SLAVE", "portState               MASTER")
    assert ptp_sync(_doctor_probe(tmp_path, master)).grade is Grade.FAIL
    assert ptp_sync(_doctor_probe(tmp_path, None)).grade is Grade.FAIL
    not_running = ptp_sync(Probe(root=tmp_path / "empty"))
    assert not_running.grade is Grade.WARN and "not running" in not_running.detail


@pytest.mark.netns
def test_doctor_reads_a_live_slave(veth_pair, tmp_path, monkeypatch):
    """The doctor's ptp_sync fact against a real ptp4l slave in a namespace."""
    from pymm.ops.doctor import Grade, ptp_sync
    from pymm.ops.probe import Probe, _run

    ns_a, if_a, ns_b, if_b = veth_pair
    common = {
        "time_stamping": "software",
        "free_running": 1,
        "logSyncInterval": -3,
        "network_transport": "L2",
    }
    base = Ptp4lConfig.from_text("[global]\n")
    m_uds, s_uds = str(tmp_path / "m.sock"), str(tmp_path / "s.sock")
    m_cfg = base.with_options(**common, priority1=10, uds_address=m_uds).write(tmp_path / "m.conf")
    s_cfg = base.with_options(**common, slaveOnly=1, uds_address=s_uds).write(tmp_path / "s.conf")
    client = str(tmp_path / "pmc.sock")
    monkeypatch.setenv("PYMM_PTP4L_UDS", s_uds)
    # pmc runs inside the slave's namespace with its own client socket.
    probe = Probe(run=lambda argv: _run(["ip", "netns", "exec", ns_b, argv[0], "-i", client, *argv[1:]]))
    with (
        PtpDaemon.ptp4l(m_cfg, if_a, tmp_path / "m.log", netns=ns_a),
        PtpDaemon.ptp4l(s_cfg, if_b, tmp_path / "s.log", netns=ns_b),
    ):
        fact = None
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            time.sleep(0.5)
            fact = ptp_sync(probe)
            if fact.value.get("port_state") == "UNCALIBRATED":
                set_synchronization_uncertain(s_uds, False, netns=ns_b, client_uds=client)
            if fact.grade is Grade.PASS:
                break
        assert fact is not None and fact.grade is Grade.PASS, fact
        assert abs(fact.value["offset_ns"]) < 10_000
