"""Fake /proc, /sys and /dev trees for the host doctor, and the sample host descriptions."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymm.ops.probe import Probe

REPO = Path(__file__).resolve().parents[2]

CMDLINE = (
    "BOOT_IMAGE=/vmlinuz root=/dev/sda1 isolcpus=managed_irq,domain,2-11 nohz_full=2-11 rcu_nocbs=2-11 "
    "irqaffinity=0-1 processor.max_cstate=1 intel_idle.max_cstate=0 transparent_hugepage=never "
    "nosoftlockup nmi_watchdog=0 skew_tick=1 tsc=reliable nosmt default_hugepagesz=2M hugepagesz=2M "
    "hugepages=1024"
)


def _w(root: Path, path: str, text: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text + "\n")


def build_tuned_host(root: Path) -> None:
    """A tree of a host tuned exactly as hw/hosts/example.yml asks (12 CPUs, sfc NIC with a PHC)."""
    _w(
        root,
        "/proc/cpuinfo",
        "processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Gold 6434\n"
        "flags\t\t: fpu tsc constant_tsc nonstop_tsc rdtscp",
    )
    _w(root, "/proc/cmdline", CMDLINE)
    _w(root, "/sys/devices/system/clocksource/clocksource0/current_clocksource", "tsc")
    _w(root, "/sys/devices/system/clocksource/clocksource0/available_clocksource", "tsc hpet acpi_pm")
    _w(root, "/sys/devices/system/cpu/online", "0-11")
    _w(root, "/sys/devices/system/cpu/isolated", "2-11")
    _w(root, "/sys/devices/system/cpu/nohz_full", "2-11")
    _w(root, "/sys/devices/system/cpu/smt/control", "off")
    for cpu in range(12):
        _w(root, f"/sys/devices/system/cpu/cpufreq/policy{cpu}/scaling_governor", "performance")
    _w(root, "/sys/devices/system/cpu/cpuidle/current_driver", "intel_idle")
    for i, (name, lat, disable) in enumerate([("POLL", 0, 0), ("C1", 1, 0), ("C1E", 2, 1), ("C6", 170, 1)]):
        base = f"/sys/devices/system/cpu/cpu0/cpuidle/state{i}"
        _w(root, f"{base}/name", name)
        _w(root, f"{base}/latency", str(lat))
        _w(root, f"{base}/disable", str(disable))
    _w(root, "/sys/kernel/mm/transparent_hugepage/enabled", "always madvise [never]")
    _w(root, "/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "1024")
    _w(root, "/proc/1/comm", "systemd")
    _w(root, "/proc/812/comm", "ptp4l")
    # ens1f0: an sfc device with a PHC; lo: virtual (no device link)
    (root / "sys/bus/pci/drivers/sfc").mkdir(parents=True)
    dev = root / "sys/devices/pci0000:00/0000:17:00.0"
    (dev / "ptp/ptp0").mkdir(parents=True)
    (root / "sys/class/net/ens1f0").mkdir(parents=True)
    (root / "sys/class/net/ens1f0/device").symlink_to(dev)
    (dev / "driver").symlink_to(root / "sys/bus/pci/drivers/sfc")
    (root / "sys/class/net/lo").mkdir(parents=True)
    _w(root, "/dev/ptp0", "")
    _w(root, "/var/run/ptp4l", "")  # ptp4l's management socket (a plain file stands in for it)
    _w(root, "/dev/onload", "")
    _w(root, "/dev/sfc_char", "")
    _w(
        root,
        "/proc/interrupts",
        "            CPU0       CPU1\n"
        "  0:         10          0   IO-APIC   2-edge      timer\n"
        " 90:       5000          0   PCI-MSIX-0000:17:00.0   0-edge      ens1f0-0\n"
        " 91:       4000          0   PCI-MSIX-0000:17:00.0   1-edge      ens1f0-1\n"
        "NMI:          0          0   Non-maskable interrupts",
    )
    _w(root, "/proc/irq/90/smp_affinity_list", "1")
    _w(root, "/proc/irq/91/smp_affinity_list", "1")


def _which(name: str) -> str | None:
    return f"/usr/sbin/{name}" if name in {"ptp4l", "phc2sys", "pmc", "onload"} else None


ETHTOOL = {
    ("-g", "ens1f0"): (
        "Ring parameters for ens1f0:\nPre-set maximums:\nRX:\t\t4096\nRX Mini:\tn/a\nTX:\t\t4096\n"
        "Current hardware settings:\nRX:\t\t4096\nRX Mini:\tn/a\nRX Jumbo:\tn/a\nTX:\t\t2048\n"
    ),
    ("-c", "ens1f0"): (
        "Coalesce parameters for ens1f0:\nAdaptive RX: off  TX: off\nstats-block-usecs:\tn/a\n"
        "rx-usecs:\t60\nrx-frames:\tn/a\ntx-usecs:\t0\n"
    ),
}


# pmc's answer on a PTP-synchronised host (linuxptp 3.1.1 output shape, hardware stamps).
PMC_SLAVE = """\
sending: GET TIME_STATUS_NP
\t001122.fffe.334455-0 seq 0 RESPONSE MANAGEMENT TIME_STATUS_NP
\t\tmaster_offset              -12
\t\tgmPresent                  true
\t\tgmIdentity                 aabbcc.fffe.ddeeff
\t001122.fffe.334455-1 seq 1 RESPONSE MANAGEMENT PORT_DATA_SET
\t\tportState               SLAVE
\t001122.fffe.334455-0 seq 2 RESPONSE MANAGEMENT CURRENT_DATA_SET
\t\tmeanPathDelay    850.0
"""


def fake_run(argv: list[str]) -> str | None:
    """A fake ethtool for the tuned host's sfc NIC and a fake pmc; any other command fails."""
    if argv[0] == "ethtool" and len(argv) == 3:
        return ETHTOOL.get((argv[1], argv[2]))
    if argv[0].endswith("pmc"):
        return PMC_SLAVE
    return None


def _find_library(name: str) -> str | None:
    return {"onload": "libonload.so", "ciul": "libciul.so.1"}.get(name)


@pytest.fixture
def example_host() -> Path:
    """hw/hosts/example.yml, the host the tuned fake tree matches."""
    return REPO / "hw" / "hosts" / "example.yml"


@pytest.fixture
def tuned_root(tmp_path: Path) -> Path:
    """Root of a fake host tuned as hw/hosts/example.yml describes."""
    root = tmp_path / "root"
    build_tuned_host(root)
    return root


@pytest.fixture
def tuned_probe(tuned_root: Path) -> Probe:
    """A probe of the tuned fake host, with Onload and linuxptp 'installed'."""
    return Probe(root=tuned_root, which=_which, find_library=_find_library, run=fake_run)


@pytest.fixture
def bare_probe(tmp_path: Path) -> Probe:
    """A probe of an empty root: nothing readable, nothing installed."""
    (tmp_path / "empty").mkdir()
    return Probe(
        root=tmp_path / "empty", which=lambda _n: None, find_library=lambda _n: None, run=lambda _a: None
    )
