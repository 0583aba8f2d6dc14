"""The shell scripts in hw/ that run on the trading host at boot, against fake trees and a fake ethtool."""

import os
import shutil
import subprocess
from pathlib import Path

import pytest

HW = Path(__file__).resolve().parents[2] / "hw"
INTERRUPTS = (
    "            CPU0       CPU1\n"
    " 90:       5000          0   PCI-MSIX-0000:17:00.0   0-edge      ens1f0-0\n"
    " 91:       4000          0   PCI-MSIX-0000:17:00.0   1-edge      ens1f0-1\n"
    "NMI:          0          0   Non-maskable interrupts\n"
)


@pytest.fixture
def fake_proc(tmp_path: Path) -> Path:
    proc = tmp_path / "proc"
    for irq in (90, 91):
        (proc / "irq" / str(irq)).mkdir(parents=True)
        (proc / "irq" / str(irq) / "smp_affinity_list").write_text("0-11\n")
    (proc / "interrupts").write_text(INTERRUPTS)
    return proc


def _run(args: list[str], **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, env={**os.environ, **env}, check=False)


def test_irq_pin_pins_by_name(tmp_path, fake_proc):
    irq_map = tmp_path / "irq-map"
    irq_map.write_text("# managed\nens1f0-0 1\nens1f0-1 2-3\n")
    r = _run([str(HW / "pymm-irq-pin"), str(irq_map)], PYMM_PROC=str(fake_proc))
    assert r.returncode == 0, r.stderr
    assert (fake_proc / "irq/90/smp_affinity_list").read_text() == "1\n"
    assert (fake_proc / "irq/91/smp_affinity_list").read_text() == "2-3\n"
    assert "ens1f0-1 (IRQ 91) -> CPU 2-3" in r.stdout


def test_irq_pin_reports_an_unknown_irq_and_fails(tmp_path, fake_proc):
    irq_map = tmp_path / "irq-map"
    irq_map.write_text("ens9-0 1\nens1f0-0 1\n")
    r = _run([str(HW / "pymm-irq-pin"), str(irq_map)], PYMM_PROC=str(fake_proc))
    assert r.returncode == 1
    assert "no IRQ named ens9-0" in r.stderr
    assert (fake_proc / "irq/90/smp_affinity_list").read_text() == "1\n"  # the known one is still pinned


@pytest.mark.parametrize(("status", "ok"), [(0, True), (80, True), (1, False)])
def test_nic_tune_calls_ethtool_and_treats_80_as_unchanged(tmp_path, status, ok):
    if shutil.which("sh") is None:
        pytest.skip("no /bin/sh")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    log = tmp_path / "ethtool.log"
    ethtool = bin_dir / "ethtool"
    ethtool.write_text(f'#!/bin/sh\necho "$*" >> {log}\nexit {status}\n')
    ethtool.chmod(0o755)
    env_file = tmp_path / "nic.env"
    env_file.write_text(
        "PYMM_NIC=ens1f0\nPYMM_NIC_RX_RING=4096\nPYMM_NIC_TX_RING=2048\n"
        "PYMM_NIC_RX_USECS=60\nPYMM_NIC_ADAPTIVE_RX=off\n"
    )
    r = _run([str(HW / "pymm-nic-tune"), str(env_file)], PATH=f"{bin_dir}:{os.environ['PATH']}")
    assert (r.returncode == 0) is ok, r.stderr
    calls = log.read_text().splitlines()
    assert calls[0] == "-G ens1f0 rx 4096 tx 2048"
    if ok:
        assert calls[1] == "-C ens1f0 adaptive-rx off rx-usecs 60"
    else:
        assert "failed with status 1" in r.stderr
