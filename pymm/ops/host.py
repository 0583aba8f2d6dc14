"""The host description: one YAML file that names how a trading host must be set up.

Ansible reads it (``site.yml`` loads it as ``pymm_host``) and ``pymm doctor --against`` reads it; it is
the one source of truth for isolated cores, the trading NIC and its IRQ map, the PTP interface, THP,
governor and C-state limit. The kernel command line and the IRQ map are *derived* from it twice: by the
Ansible templates (``ansible/roles/tuning/templates/kernel_cmdline.j2``,
``ansible/roles/nic/templates/irq_map.j2``) and here, in Python, for the doctor. ``tests/ops`` renders both
for two sample hosts and requires them to agree with each other and with the expected files.
"""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from pymm.config import parse_cores
from pymm.errors import PymmError
from pymm.ops.probe import Probe

__all__ = [
    "FIXED_CMDLINE_TOKENS",
    "Drift",
    "DriftStatus",
    "HostDescription",
    "HostDescriptionError",
    "NicSpec",
    "OnloadSpec",
    "PtpSpec",
    "ThpMode",
    "compare",
    "format_cores",
    "irq_map",
    "kernel_cmdline",
    "load_host",
]

# Always on the command line of a trading host, whatever the description says (see hw/README.md):
# nosoftlockup: no watchdog thread waking isolated cores; nmi_watchdog=0: no periodic NMI;
# skew_tick=1: ticks of different CPUs do not fire together (less jiffies lock contention);
# tsc=reliable: no clocksource watchdog re-checking the TSC (only safe with an invariant TSC,
# which `pymm doctor` checks).
FIXED_CMDLINE_TOKENS: tuple[str, ...] = ("nosoftlockup", "nmi_watchdog=0", "skew_tick=1", "tsc=reliable")


class HostDescriptionError(PymmError, ValueError):
    """A host description file was refused; the message names the file, field and reason."""


class ThpMode(StrEnum):
    """Transparent huge pages mode (``/sys/kernel/mm/transparent_hugepage/enabled``)."""

    NEVER = "never"
    MADVISE = "madvise"
    ALWAYS = "always"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


CpuList = Annotated[
    str, Field(pattern=r"^\d+(-\d+)?(,\d+(-\d+)?)*$", description="Linux cpulist, e.g. '2-5,8'")
]


class NicSpec(_Strict):
    """The trading NIC: name, driver, ring and coalescing settings, and its IRQ -> core map."""

    name: str = Field(description="interface name, e.g. ens1f0")
    driver: str = Field(description="expected kernel driver, e.g. sfc")
    irq_name: str = Field(
        description="IRQ action name of queue {queue} as /proc/interrupts shows it, e.g. 'ens1f0-{queue}'"
    )
    irq_cores: list[Annotated[int, Field(ge=0)]] = Field(
        min_length=1, description="core for queue i's IRQ, one entry per queue"
    )
    rx_ring: int = Field(gt=0)
    tx_ring: int = Field(gt=0)
    rx_usecs: int = Field(ge=0, description="interrupt moderation (ethtool -C rx-usecs)")
    adaptive_rx: bool = False


class PtpSpec(_Strict):
    """The PTP interface and ptp4l's network settings."""

    interface: str
    domain: int = Field(ge=0, le=255)
    transport: Literal["UDPv4", "UDPv6", "L2"]
    delay_mechanism: Literal["E2E", "P2P"] = "E2E"


class OnloadSpec(_Strict):
    """Whether the host runs Onload and with which profile."""

    enabled: bool
    profile: str = "latency"


class HostDescription(_Strict):
    """How one trading host must be set up (the file under ``hw/hosts/``)."""

    name: str
    cpus: int = Field(gt=0, description="online logical CPUs")
    housekeeping_cores: CpuList
    isolated_cores: CpuList
    hot_cores: CpuList = Field(description="cores given to `pymm start --cores`; inside isolated_cores")
    smt: bool = Field(description="false: 'nosmt' on the kernel command line")
    governor: str
    cstate_limit: int = Field(ge=0, le=9, description="deepest C-state allowed; 0 means idle=poll")
    thp: ThpMode
    hugepages_2m: int = Field(ge=0)
    nic: NicSpec
    ptp: PtpSpec
    onload: OnloadSpec
    kernel_cmdline_extra: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def _check_cores(self) -> HostDescription:
        hk = set(parse_cores(self.housekeeping_cores))
        iso = set(parse_cores(self.isolated_cores))
        hot = set(parse_cores(self.hot_cores))
        every = set(range(self.cpus))
        if hk & iso:
            raise ValueError(f"housekeeping_cores and isolated_cores overlap on {sorted(hk & iso)}")
        if (hk | iso) != every:
            raise ValueError(
                f"housekeeping_cores + isolated_cores must cover cpus 0-{self.cpus - 1} exactly; "
                f"missing {sorted(every - hk - iso)}, extra {sorted((hk | iso) - every)}"
            )
        if not hot <= iso:
            raise ValueError(f"hot_cores {sorted(hot - iso)} are not isolated")
        bad_irq = [c for c in self.nic.irq_cores if c not in every]
        if bad_irq:
            raise ValueError(f"nic.irq_cores {bad_irq} are outside cpus 0-{self.cpus - 1}")
        if "{queue}" not in self.nic.irq_name:
            raise ValueError("nic.irq_name must contain '{queue}'")
        return self


def load_host(path: Path) -> HostDescription:
    """Read and validate a host description.

    Raises:
        HostDescriptionError: the file is missing, not YAML, or fails validation (field path and reason).
    """
    try:
        raw = yaml.safe_load(path.read_text())
    except OSError as e:
        raise HostDescriptionError(f"cannot read host description {path}: {e.strerror}") from None
    except yaml.YAMLError as e:
        raise HostDescriptionError(f"host description {path} is not YAML: {e}") from None
    try:
        return HostDescription.model_validate(raw)
    except ValidationError as e:
        reasons = "; ".join(
            f"{'.'.join(str(p) for p in err['loc']) or '<root>'}: {err['msg']}" for err in e.errors()
        )
        raise HostDescriptionError(f"invalid host description {path}: {reasons}") from None


def format_cores(cores: set[int] | list[int] | tuple[int, ...]) -> str:
    """Compact core ids into a Linux cpulist, e.g. ``{2, 3, 4, 7}`` -> ``"2-4,7"``; empty -> ``""``."""
    out: list[str] = []
    ids = sorted(set(cores))
    i = 0
    while i < len(ids):
        j = i
        while j + 1 < len(ids) and ids[j + 1] == ids[j] + 1:
            j += 1
        out.append(str(ids[i]) if i == j else f"{ids[i]}-{ids[j]}")
        i = j + 1
    return ",".join(out)


def kernel_cmdline(host: HostDescription) -> list[str]:
    """The kernel command line tokens the host needs, in the order the tuning role renders them."""
    iso = host.isolated_cores
    tokens = [
        f"isolcpus=managed_irq,domain,{iso}",
        f"nohz_full={iso}",
        f"rcu_nocbs={iso}",
        f"irqaffinity={host.housekeeping_cores}",
    ]
    if host.cstate_limit == 0:
        tokens.append("idle=poll")
    else:
        tokens += [f"processor.max_cstate={host.cstate_limit}", "intel_idle.max_cstate=0"]
    tokens.append(f"transparent_hugepage={host.thp.value}")
    tokens += FIXED_CMDLINE_TOKENS
    if not host.smt:
        tokens.append("nosmt")
    if host.hugepages_2m:
        tokens += ["default_hugepagesz=2M", "hugepagesz=2M", f"hugepages={host.hugepages_2m}"]
    tokens += host.kernel_cmdline_extra
    return tokens


def irq_map(host: HostDescription) -> list[tuple[str, int]]:
    """The trading NIC's IRQ pinning: ``(IRQ action name, core)`` per queue, in queue order."""
    return [
        (host.nic.irq_name.replace("{queue}", str(queue)), core)
        for queue, core in enumerate(host.nic.irq_cores)
    ]


class DriftStatus(StrEnum):
    """How one expected setting compares with the live host."""

    OK = "ok"
    DRIFT = "drift"


class Drift(BaseModel):
    """One setting of the host description compared with the live host.

    Attributes:
        key: the setting (``isolated_cores``, ``nic.irq.ens1f0-0``, ...).
        expected: what the host description asks for.
        actual: what the live host shows, or why it could not be read.
        status: ok or drift.
    """

    model_config = ConfigDict(frozen=True)

    key: str
    expected: str
    actual: str
    status: DriftStatus


def _cmp(key: str, expected: object, actual: object, ok: bool | None = None) -> Drift:
    same = (str(expected) == str(actual)) if ok is None else ok
    return Drift(
        key=key,
        expected=str(expected),
        actual=str(actual),
        status=DriftStatus.OK if same else DriftStatus.DRIFT,
    )


def _cpulist(raw: str | None) -> str:
    """Normalise a live cpulist ('(none)' when empty, '(absent)' when the file is missing)."""
    if raw is None:
        return "(absent)"
    if not raw or raw == "(null)":
        return "(none)"
    return format_cores(parse_cores(raw))


def compare(host: HostDescription, probe: Probe) -> list[Drift]:
    """Compare the live host under ``probe`` with the host description, setting by setting."""
    out: list[Drift] = []
    online = probe.read_or_none("/sys/devices/system/cpu/online")
    out.append(_cmp("cpus", host.cpus, len(parse_cores(online)) if online else "(unreadable)"))

    iso = format_cores(parse_cores(host.isolated_cores))
    out.append(_cmp("isolated_cores", iso, _cpulist(probe.read_or_none("/sys/devices/system/cpu/isolated"))))
    out.append(_cmp("nohz_full", iso, _cpulist(probe.read_or_none("/sys/devices/system/cpu/nohz_full"))))

    live_tokens = set((probe.read_or_none("/proc/cmdline") or "").split())
    missing = [t for t in kernel_cmdline(host) if t not in live_tokens]
    out.append(
        _cmp(
            "kernel_cmdline",
            " ".join(kernel_cmdline(host)),
            "all present" if not missing else "missing: " + " ".join(missing),
            ok=not missing,
        )
    )

    policies = probe.glob("/sys/devices/system/cpu/cpufreq", "policy*")
    governors = sorted(
        {
            probe.read_or_none(f"/sys/devices/system/cpu/cpufreq/{p}/scaling_governor") or "unreadable"
            for p in policies
        }
    )
    out.append(_cmp("governor", host.governor, ",".join(governors) if governors else "(no cpufreq driver)"))

    base = "/sys/devices/system/cpu/cpu0/cpuidle"
    deeper = [
        probe.read_or_none(f"{base}/{st}/name") or st
        for st in probe.glob(base, "state*")
        if int(st.removeprefix("state")) > host.cstate_limit
        and (probe.read_or_none(f"{base}/{st}/disable") or "0") == "0"
    ]
    out.append(
        _cmp(
            "cstate_limit",
            f"no enabled cpuidle state deeper than state{host.cstate_limit}",
            "none deeper" if not deeper else "enabled: " + ", ".join(deeper),
            ok=not deeper,
        )
    )

    raw_thp = probe.read_or_none("/sys/kernel/mm/transparent_hugepage/enabled")
    live_thp = next((w.strip("[]") for w in (raw_thp or "").split() if w.startswith("[")), "(unreadable)")
    out.append(_cmp("thp", host.thp.value, live_thp))

    smt_control = probe.read_or_none("/sys/devices/system/cpu/smt/control") or "(unreadable)"
    smt_on = smt_control == "on"
    out.append(_cmp("smt", "on" if host.smt else "off", smt_control, ok=smt_on == host.smt))

    pages = probe.read_or_none("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages")
    out.append(_cmp("hugepages_2m", host.hugepages_2m, int(pages) if pages else "(unreadable)"))

    running = "irqbalance" in probe.process_names()
    out.append(_cmp("irqbalance", "not running", "running" if running else "not running"))

    nics = {n.name: n.driver for n in probe.nics()}
    nic = host.nic
    out.append(_cmp("nic.present", nic.name, nic.name if nic.name in nics else "(absent)"))
    out.append(_cmp("nic.driver", nic.driver, nics.get(nic.name) or "(absent)"))
    if nic.name in nics:
        out += _compare_nic_settings(nic, probe)
    interrupts = probe.interrupts() if probe.exists("/proc/interrupts") else {}
    for name, core in irq_map(host):
        irq = interrupts.get(name)
        actual = "(no such IRQ)" if irq is None else _cpulist(probe.irq_affinity(irq))
        out.append(_cmp(f"nic.irq.{name}", str(core), actual))

    ptp_if = host.ptp.interface
    out.append(_cmp("ptp.interface", ptp_if, ptp_if if ptp_if in nics else "(absent)"))
    phcs = probe.glob(f"/sys/class/net/{ptp_if}/device/ptp", "ptp*")
    out.append(
        _cmp(
            "ptp.phc",
            f"a PTP hardware clock on {ptp_if}",
            f"/dev/{phcs[0]}" if phcs else "(no PHC)",
            ok=bool(phcs) and probe.exists(f"/dev/{phcs[0]}"),
        )
    )
    ptp4l = probe.which("ptp4l")
    out.append(_cmp("ptp.ptp4l", "installed", ptp4l or "(not installed)", ok=ptp4l is not None))

    if host.onload.enabled:
        lib = probe.find_library("onload")
        ok = lib is not None and probe.exists("/dev/onload")
        actual = (
            f"{lib or 'no libonload'}, {'/dev/onload' if probe.exists('/dev/onload') else 'no /dev/onload'}"
        )
        out.append(_cmp("onload", "installed and loaded", actual, ok=ok))
    return out


def _compare_nic_settings(nic: NicSpec, probe: Probe) -> list[Drift]:
    """Rings and interrupt moderation of a present NIC, read with ethtool."""
    rings = probe.ethtool_rings(nic.name)
    coalesce = probe.ethtool_coalesce(nic.name)
    unknown = "(ethtool -g/-c gave no answer)"
    return [
        _cmp("nic.rx_ring", nic.rx_ring, rings.get("RX", unknown) if rings else unknown),
        _cmp("nic.tx_ring", nic.tx_ring, rings.get("TX", unknown) if rings else unknown),
        _cmp("nic.rx_usecs", nic.rx_usecs, coalesce.get("rx-usecs", unknown) if coalesce else unknown),
        _cmp(
            "nic.adaptive_rx",
            "on" if nic.adaptive_rx else "off",
            coalesce.get("adaptive-rx", unknown) if coalesce else unknown,
        ),
    ]
