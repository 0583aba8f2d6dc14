"""``pymm doctor``: collect facts about the live host and grade each one for a trading host.

Each fact is one small function of a :class:`~pymm.ops.probe.Probe` returning a :class:`Fact` with a
grade (pass / warn / fail), a one-line detail and, when it is not a pass, the fix. Nothing is faked: a
value that cannot be read is reported as unreadable, with the reason, and graded ``warn``.

Grades mean, for a colocated trading host:
    pass: as it should be.
    warn: works, but costs latency or jitter, or an optional accelerator (Onload, ef_vi) is absent.
    fail: a trading host must not run like this (no isolated cores, no PTP hardware clock, ...).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict

from pymm.config import parse_cores
from pymm.ops.probe import Probe

__all__ = ["FACTS", "Fact", "Grade", "collect", "fact_names", "facts_json"]


class Grade(StrEnum):
    """How a fact stands for a trading host."""

    PASS = "pass"
    WARN = "warn"
    FAIL = "fail"


class Fact(BaseModel):
    """One graded fact about the host.

    Attributes:
        name: stable identifier (JSON key, docs/ops/doctor.md).
        value: what was read, JSON-serialisable; None when it could not be read.
        grade: pass, warn or fail.
        detail: one line saying what was found.
        fix: what to do about a warn or fail; None on a pass.
    """

    model_config = ConfigDict(frozen=True)

    name: str
    value: Any
    grade: Grade
    detail: str
    fix: str | None = None


def _fact(name: str, value: Any, grade: Grade, detail: str, fix: str | None = None) -> Fact:
    return Fact(name=name, value=value, grade=grade, detail=detail, fix=None if grade is Grade.PASS else fix)


def cpu_model(p: Probe) -> Fact:
    """CPU model name; a hypervisor flag means this is a VM and its latency is the host's to give."""
    model = p.cpuinfo_field("model name")
    if model is None:
        return _fact("cpu_model", None, Grade.WARN, "no 'model name' in /proc/cpuinfo", "check /proc/cpuinfo")
    if "hypervisor" in p.cpu_flags():
        return _fact(
            "cpu_model",
            model,
            Grade.WARN,
            f"{model} (virtual machine: the hypervisor flag is set; vCPUs can be descheduled)",
            "run trading on bare metal",
        )
    return _fact("cpu_model", model, Grade.PASS, model)


def invariant_tsc(p: Probe) -> Fact:
    """constant_tsc + nonstop_tsc: the TSC ticks at one rate in every P- and C-state."""
    flags = p.cpu_flags()
    have = {f: f in flags for f in ("constant_tsc", "nonstop_tsc")}
    if all(have.values()):
        return _fact("invariant_tsc", True, Grade.PASS, "constant_tsc and nonstop_tsc set")
    missing = [f for f, ok in have.items() if not ok]
    return _fact(
        "invariant_tsc",
        False,
        Grade.FAIL,
        f"missing CPU flags: {', '.join(missing)}",
        "use a CPU with an invariant TSC; pymm's clock calibrates the TSC and needs one rate",
    )


def clocksource(p: Probe) -> Fact:
    """The kernel clocksource; ``tsc`` makes clock_gettime a vDSO read without a VM exit."""
    base = "/sys/devices/system/clocksource/clocksource0"
    current = p.read(f"{base}/current_clocksource")
    available = (p.read_or_none(base + "/available_clocksource") or "").split()
    if current == "tsc":
        return _fact("clocksource", current, Grade.PASS, "tsc")
    return _fact(
        "clocksource",
        current,
        Grade.WARN,
        f"{current} (available: {' '.join(available) or 'unknown'})",
        "boot with tsc=reliable clocksource=tsc on a host with an invariant TSC",
    )


def isolated_cores(p: Probe) -> Fact:
    """Cores removed from the scheduler's load balancing (isolcpus=)."""
    iso = p.read("/sys/devices/system/cpu/isolated")
    if iso:
        return _fact("isolated_cores", iso, Grade.PASS, f"isolated: {iso}")
    return _fact(
        "isolated_cores",
        "",
        Grade.FAIL,
        "no isolated cores: the hot threads share cores with everything else",
        "set isolated_cores in the host description and run the ansible tuning role (then reboot)",
    )


def nohz_full(p: Probe) -> Fact:
    """Cores whose scheduler tick stops while one task runs (nohz_full=)."""
    value = p.read_or_none("/sys/devices/system/cpu/nohz_full")
    if value is None:
        return _fact(
            "nohz_full",
            None,
            Grade.FAIL,
            "/sys/devices/system/cpu/nohz_full absent: kernel built without CONFIG_NO_HZ_FULL",
            "boot a kernel with CONFIG_NO_HZ_FULL=y (Debian/RHEL stock kernels have it)",
        )
    if not value or value == "(null)":
        return _fact(
            "nohz_full",
            "",
            Grade.FAIL,
            "no nohz_full cores: the tick interrupts the hot threads",
            "run the ansible tuning role (nohz_full= on the kernel command line), then reboot",
        )
    iso = p.read_or_none("/sys/devices/system/cpu/isolated") or ""
    if iso and set(parse_cores(iso)) - set(parse_cores(value)):
        return _fact(
            "nohz_full",
            value,
            Grade.WARN,
            f"nohz_full {value} does not cover isolated {iso}",
            "use the same list for isolcpus= and nohz_full=",
        )
    return _fact("nohz_full", value, Grade.PASS, f"nohz_full: {value}")


def cpu_governor(p: Probe) -> Fact:
    """cpufreq governor of every policy; ``performance`` keeps the clock at its top."""
    policies = p.glob("/sys/devices/system/cpu/cpufreq", "policy*")
    if not policies:
        return _fact(
            "cpu_governor",
            None,
            Grade.WARN,
            "no cpufreq driver: frequency is left to the BIOS or hypervisor and cannot be checked here",
            "on bare metal, enable the cpufreq driver (intel_pstate/amd-pstate/acpi-cpufreq) "
            "or set max performance in the BIOS",
        )
    governors = {
        pol: p.read_or_none(f"/sys/devices/system/cpu/cpufreq/{pol}/scaling_governor") for pol in policies
    }
    values = sorted({g or "unreadable" for g in governors.values()})
    if values == ["performance"]:
        return _fact("cpu_governor", "performance", Grade.PASS, f"performance on {len(policies)} policies")
    return _fact(
        "cpu_governor",
        governors,
        Grade.FAIL,
        f"governors: {', '.join(values)}",
        "set governor: performance in the host description and run the tuning role",
    )


# An idle state whose exit latency is at most this many microseconds costs little to wake from
# (POLL, C1 on current Intel/AMD parts); deeper ones (C1E, C6) cost 10-100+ us on the first packet.
SHALLOW_IDLE_LATENCY_US = 2


def cstates(p: Probe) -> Fact:
    """Enabled cpuidle states of cpu0 and their exit latencies."""
    base = "/sys/devices/system/cpu/cpu0/cpuidle"
    driver = p.read_or_none("/sys/devices/system/cpu/cpuidle/current_driver") or "none"
    states: list[dict[str, Any]] = []
    for st in p.glob(base, "state*"):
        name = p.read_or_none(f"{base}/{st}/name") or st
        latency = int(p.read_or_none(f"{base}/{st}/latency") or "0")
        disabled = (p.read_or_none(f"{base}/{st}/disable") or "0") != "0"
        states.append({"state": st, "name": name, "latency_us": latency, "enabled": not disabled})
    limits = [t for t in p.cmdline_tokens() if "max_cstate=" in t or t.startswith("idle=")]
    value = {"driver": driver, "states": states, "cmdline": limits}
    if not states:
        return _fact(
            "cstates",
            value,
            Grade.WARN,
            f"no cpuidle states visible (driver {driver}); C-states cannot be checked",
            "check the BIOS C-state settings",
        )
    deep = [s for s in states if s["enabled"] and s["latency_us"] > SHALLOW_IDLE_LATENCY_US]
    if deep:
        names = ", ".join(f"{s['name']} ({s['latency_us']} us)" for s in deep)
        return _fact(
            "cstates",
            value,
            Grade.WARN,
            f"deep idle states enabled: {names}",
            "set cstate_limit in the host description (processor.max_cstate=) and run the tuning role",
        )
    enabled = ", ".join(f"{s['name']} ({s['latency_us']} us)" for s in states if s["enabled"])
    return _fact("cstates", value, Grade.PASS, f"driver {driver}; only shallow states enabled: {enabled}")


def thp(p: Probe) -> Fact:
    """Transparent huge pages: khugepaged compaction stalls; ``never`` for a trading host."""
    raw = p.read("/sys/kernel/mm/transparent_hugepage/enabled")
    mode = next((w.strip("[]") for w in raw.split() if w.startswith("[")), raw)
    fix = "set thp: never in the host description and run the tuning role"
    if mode == "never":
        return _fact("thp", mode, Grade.PASS, "never")
    if mode == "madvise":
        return _fact("thp", mode, Grade.WARN, "madvise: only processes asking for THP get it", fix)
    return _fact("thp", mode, Grade.FAIL, f"{mode}: every process may stall on compaction", fix)


def irqbalance(p: Probe) -> Fact:
    """irqbalance moves IRQs onto cores at will; it must not run on a host with pinned IRQs."""
    running = "irqbalance" in p.process_names()
    installed = p.which("irqbalance") is not None
    value = {"running": running, "installed": installed}
    if running:
        return _fact(
            "irqbalance",
            value,
            Grade.FAIL,
            "irqbalance is running and may move the NIC's IRQs onto isolated cores",
            "systemctl disable --now irqbalance (the tuning role does)",
        )
    return _fact("irqbalance", value, Grade.PASS, f"not running (installed: {'yes' if installed else 'no'})")


# Drivers of NICs that can do low-latency trading with kernel bypass; sfc = Solarflare/AMD (ef_vi, Onload).
BYPASS_DRIVERS = frozenset({"sfc", "xilinx_efct"})


def nics(p: Probe) -> Fact:
    """Network interfaces with their driver; a Solarflare/AMD (sfc) NIC is what ef_vi and Onload need."""
    found = [{"name": n.name, "driver": n.driver} for n in p.nics()]
    physical = [n for n in found if n["driver"]]
    bypass = [n for n in physical if n["driver"] in BYPASS_DRIVERS]
    listing = ", ".join(f"{n['name']} ({n['driver']})" for n in physical) or "none"
    if bypass:
        return _fact("nics", found, Grade.PASS, f"Solarflare/AMD NIC present: {listing}")
    return _fact(
        "nics",
        found,
        Grade.WARN,
        f"no Solarflare/AMD (sfc) NIC; device NICs: {listing}; kernel sockets only",
        "install a Solarflare/AMD X2/X3/X4 NIC for ef_vi/Onload and hardware timestamps",
    )


def onload(p: Probe) -> Fact:
    """Onload: the libonload library, the ``onload`` launcher and the /dev/onload driver device."""
    value = {
        "libonload": p.find_library("onload"),
        "launcher": p.which("onload"),
        "device": p.exists("/dev/onload"),
    }
    present = [k for k, v in value.items() if v]
    if len(present) == len(value):
        return _fact("onload", value, Grade.PASS, f"libonload {value['libonload']}, /dev/onload present")
    fix = "install Onload from the vendor package (ansible onload role, pymm_onload_package)"
    if not present:
        return _fact("onload", value, Grade.WARN, "Onload not installed: kernel sockets only", fix)
    missing = [k for k, v in value.items() if not v]
    return _fact("onload", value, Grade.WARN, f"Onload partly present; missing: {', '.join(missing)}", fix)


def efvi(p: Probe) -> Fact:
    """ef_vi: the libciul library and the /dev/sfc_char device ef_driver_open() opens."""
    value = {"libciul": p.find_library("ciul"), "device": p.exists("/dev/sfc_char")}
    if all(value.values()):
        return _fact("efvi", value, Grade.PASS, f"libciul {value['libciul']}, /dev/sfc_char present")
    missing = [k for k, v in value.items() if not v]
    return _fact(
        "efvi",
        value,
        Grade.WARN,
        f"ef_vi unavailable; missing: {', '.join(missing)}; the engine uses kernel sockets",
        "install Onload (brings the sfc_char driver; build libciul) on a host with an sfc NIC",
    )


def ptp_devices(p: Probe) -> Fact:
    """PTP hardware clocks (/dev/ptp*); without one there are no hardware timestamps."""
    devices = [f"/dev/{d}" for d in p.glob("/dev", "ptp[0-9]*")]
    if devices:
        return _fact("ptp_devices", devices, Grade.PASS, ", ".join(devices))
    return _fact(
        "ptp_devices",
        [],
        Grade.FAIL,
        "no /dev/ptp*: no PTP hardware clock, so no hardware timestamps or phc2sys",
        "use a NIC with a PHC (ethtool -T <if> shows 'PTP Hardware Clock')",
    )


def linuxptp(p: Probe) -> Fact:
    """linuxptp binaries: ptp4l (PTP daemon), phc2sys (PHC -> system clock), pmc (management client)."""
    value = {b: p.which(b) for b in ("ptp4l", "phc2sys", "pmc")}
    missing = [b for b, path in value.items() if path is None]
    if not missing:
        return _fact("linuxptp", value, Grade.PASS, "ptp4l, phc2sys, pmc on PATH")
    return _fact(
        "linuxptp",
        value,
        Grade.FAIL,
        f"missing: {', '.join(missing)}",
        "apt-get install linuxptp / dnf install linuxptp (the ansible ptp role does)",
    )


def ptp_sync(p: Probe) -> Fact:
    """The running ptp4l's port state, offset and path delay, read with pmc over its Unix socket."""
    from pymm.ops.ptp import PtpError, parse_pmc, status_from_replies

    uds = os.environ.get("PYMM_PTP4L_UDS", "/var/run/ptp4l")
    if not p.path(uds).exists():
        return _fact(
            "ptp_sync",
            {"uds": uds},
            Grade.WARN,
            f"ptp4l is not running (no socket at {uds}): the clock is not PTP-disciplined",
            "start ptp4l/phc2sys (ansible role pymm_ptp); PYMM_PTP4L_UDS names another socket",
        )
    pmc = p.which("pmc")
    out = p.run(
        [
            pmc or "pmc",
            "-u",
            "-b",
            "0",
            "-s",
            uds,
            "GET TIME_STATUS_NP",
            "GET PORT_DATA_SET",
            "GET CURRENT_DATA_SET",
        ]
    )
    try:
        st = status_from_replies(parse_pmc(out or ""))
    except PtpError as e:
        return _fact(
            "ptp_sync", {"uds": uds}, Grade.FAIL, f"ptp4l did not answer pmc: {e}", "check ptp4l's log"
        )
    value = {
        "uds": uds,
        "port_state": st.port_state,
        "offset_ns": st.master_offset_ns,
        "path_delay_ns": st.mean_path_delay_ns,
        "gm_present": st.gm_present,
    }
    detail = f"{st.port_state}, offset {st.master_offset_ns} ns, path delay {st.mean_path_delay_ns:.0f} ns"
    if st.healthy:
        return _fact("ptp_sync", value, Grade.PASS, detail)
    if st.port_state == "SLAVE":
        return _fact("ptp_sync", value, Grade.WARN, detail + ": |offset| above 1 µs", "check the PTP network")
    return _fact("ptp_sync", value, Grade.FAIL, detail + ": not synchronised to a grandmaster", "check ptp4l")


def smt(p: Probe) -> Fact:
    """Simultaneous multithreading: a sibling thread shares the hot core's caches and ports."""
    control = p.read("/sys/devices/system/cpu/smt/control")
    if control in ("off", "forceoff", "notsupported", "notimplemented"):
        return _fact("smt", control, Grade.PASS, f"SMT {control}")
    return _fact(
        "smt",
        control,
        Grade.WARN,
        f"SMT {control}: hot cores may share a physical core with other work",
        "disable SMT in the BIOS or set smt: false (nosmt) in the host description",
    )


def hugepages(p: Probe) -> Fact:
    """Reserved 2 MiB huge pages (Onload, TCPDirect and the engine's rings want them)."""
    total = int(p.read("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages"))
    if total > 0:
        return _fact("hugepages", total, Grade.PASS, f"{total} x 2 MiB reserved")
    return _fact(
        "hugepages",
        0,
        Grade.WARN,
        "no 2 MiB huge pages reserved",
        "set hugepages_2m in the host description and run the tuning role",
    )


FACTS: tuple[Callable[[Probe], Fact], ...] = (
    cpu_model,
    invariant_tsc,
    clocksource,
    isolated_cores,
    nohz_full,
    cpu_governor,
    cstates,
    smt,
    thp,
    hugepages,
    irqbalance,
    nics,
    onload,
    efvi,
    ptp_devices,
    linuxptp,
    ptp_sync,
)


def fact_names() -> list[str]:
    """The name of every fact, in report order."""
    return [fn.__name__ for fn in FACTS]


def collect(probe: Probe | None = None) -> list[Fact]:
    """Collect and grade every fact; a fact whose source cannot be read is a warn with the reason."""
    probe = probe or Probe()
    out: list[Fact] = []
    for fn in FACTS:
        try:
            fact = fn(probe)
        except (OSError, ValueError) as e:
            reason = f"{e.strerror}: {e.filename}" if isinstance(e, OSError) and e.strerror else str(e)
            fact = _fact(
                fn.__name__, None, Grade.WARN, f"unreadable ({reason})", "check permissions / kernel"
            )
        out.append(fact)
    return out


def facts_json(facts: list[Fact]) -> list[dict[str, Any]]:
    """Facts as JSON-ready dicts (round-trips through :func:`json.dumps`)."""
    return [json.loads(f.model_dump_json()) for f in facts]
