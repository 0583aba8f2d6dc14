"""linuxptp, wrapped: write ptp4l configs, run ptp4l/phc2sys, read their state through ``pmc``.

pymm never re-implements PTP; it runs linuxptp (Debian ``linuxptp``) and watches it. ``pmc`` is queried
over ptp4l's Unix socket (``-u -b 0``: only the local clock answers). Replies may interleave with
``sending:`` echo lines, so they are parsed by their ``RESPONSE MANAGEMENT <ID>`` headers.

Health (recommendation, not a standard): port ``SLAVE``, ``gmPresent true``, |offset| sub-µs with
hardware stamps; warn above 100 ns, alarm above 1 µs or when the port leaves SLAVE.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from prometheus_client import CollectorRegistry, Gauge

__all__ = [
    "PORT_STATES",
    "Ptp4lConfig",
    "PtpDaemon",
    "PtpError",
    "PtpMetrics",
    "PtpStatus",
    "parse_pmc",
    "pmc",
    "query_status",
    "set_synchronization_uncertain",
]

PORT_STATES = (
    "INITIALIZING",
    "FAULTY",
    "DISABLED",
    "LISTENING",
    "PRE_MASTER",
    "MASTER",
    "PASSIVE",
    "UNCALIBRATED",
    "SLAVE",
)

_HEADER = re.compile(r"^\s*(\S+)\s+seq\s+\d+\s+RESPONSE\s+MANAGEMENT\s+(\S+)\s*$")
_FIELD = re.compile(r"^\s+(\S+)\s+(.*?)\s*$")


class PtpError(RuntimeError):
    """linuxptp is missing, did not answer, or answered something we cannot read."""


def _which(cmd: str) -> str:
    path = shutil.which(cmd)
    if path is None and Path(f"/usr/sbin/{cmd}").exists():
        path = f"/usr/sbin/{cmd}"
    if path is None:
        raise PtpError(f"{cmd} not found: install the Debian package linuxptp")
    return path


def _netns_prefix(netns: str | None) -> list[str]:
    return ["ip", "netns", "exec", netns] if netns else []


@dataclass(frozen=True)
class Ptp4lConfig:
    """A ptp4l configuration: the ``[global]`` options, in order.

    Built from a base file (``hw/ptp4l.conf``) plus overrides, so the file users review is the file
    that runs. Values are kept as text, exactly as ptp4l reads them.
    """

    options: tuple[tuple[str, str], ...]

    @classmethod
    def from_text(cls, text: str) -> Ptp4lConfig:
        """Parse the ``[global]`` section of a ptp4l config (other sections are refused)."""
        options: dict[str, str] = {}
        section = None
        for raw in text.splitlines():
            line = raw.split("#", 1)[0].strip()
            if not line:
                continue
            if line.startswith("["):
                section = line.strip("[]").strip()
                if section != "global":
                    raise PtpError(f"only the [global] section is supported, found [{section}]")
                continue
            if section is None:
                raise PtpError(f"option outside a section: {raw!r}")
            key, _, value = line.partition(" ")
            options[key] = value.strip()
        return cls(tuple(options.items()))

    @classmethod
    def from_file(cls, path: Path) -> Ptp4lConfig:
        """Read a config file."""
        return cls.from_text(Path(path).read_text(encoding="utf-8"))

    def with_options(self, **overrides: str | int) -> Ptp4lConfig:
        """A copy with options replaced or added (``uds_address``, ``free_running``, ...)."""
        merged = dict(self.options)
        merged.update({k: str(v) for k, v in overrides.items()})
        return Ptp4lConfig(tuple(merged.items()))

    def get(self, key: str) -> str | None:
        """An option's value."""
        return dict(self.options).get(key)

    def render(self) -> str:
        """The config file text."""
        body = "\n".join(f"{k} {v}" for k, v in self.options)
        return f"# written by pymm.ops.ptp\n[global]\n{body}\n"

    def write(self, path: Path) -> Path:
        """Write the config file; returns its path."""
        path = Path(path)
        path.write_text(self.render(), encoding="utf-8")
        return path


def parse_pmc(text: str) -> dict[str, dict[str, str]]:
    """Parse ``pmc`` output into ``{management_id: {field: value}}`` (last reply per id wins)."""
    out: dict[str, dict[str, str]] = {}
    current: dict[str, str] | None = None
    for line in text.splitlines():
        if m := _HEADER.match(line):
            current = out.setdefault(m.group(2), {})
            current["_port_identity"] = m.group(1)
            continue
        if line.startswith("sending:") or not line.strip():
            continue
        if current is not None and (f := _FIELD.match(line)):
            current[f.group(1)] = f.group(2)
    return out


def pmc(
    uds: str,
    *commands: str,
    netns: str | None = None,
    client_uds: str | None = None,
    timeout: float = 3.0,
) -> dict[str, dict[str, str]]:
    """Run ``pmc -u -b 0`` against ptp4l's socket ``uds`` and parse the replies."""
    cmd = [*_netns_prefix(netns), _which("pmc"), "-u", "-b", "0", "-s", uds]
    if client_uds:
        cmd += ["-i", client_uds]
    try:
        res = subprocess.run([*cmd, *commands], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise PtpError(f"pmc did not answer within {timeout} s (socket {uds})") from None
    if res.returncode != 0:
        raise PtpError(f"pmc failed ({res.returncode}): {res.stderr.strip() or res.stdout.strip()}")
    return parse_pmc(res.stdout)


@dataclass(frozen=True)
class PtpStatus:
    """What one pmc round says about the local clock."""

    port_state: str
    master_offset_ns: int
    mean_path_delay_ns: float
    gm_present: bool
    gm_identity: str

    @property
    def healthy(self) -> bool:
        """SLAVE with a grandmaster and |offset| ≤ 1 µs."""
        return self.port_state == "SLAVE" and self.gm_present and abs(self.master_offset_ns) <= 1_000


def status_from_replies(replies: dict[str, dict[str, str]]) -> PtpStatus:
    """Build a status from parsed TIME_STATUS_NP, PORT_DATA_SET and CURRENT_DATA_SET replies."""
    try:
        ts, port, cur = replies["TIME_STATUS_NP"], replies["PORT_DATA_SET"], replies["CURRENT_DATA_SET"]
        return PtpStatus(
            port_state=port["portState"],
            master_offset_ns=int(ts["master_offset"]),
            mean_path_delay_ns=float(cur["meanPathDelay"]),
            gm_present=ts["gmPresent"] == "true",
            gm_identity=ts["gmIdentity"],
        )
    except (KeyError, ValueError) as e:
        raise PtpError(f"incomplete pmc reply: missing or bad {e} in {sorted(replies)}") from None


def query_status(
    uds: str, *, netns: str | None = None, client_uds: str | None = None, timeout: float = 3.0
) -> PtpStatus:
    """TIME_STATUS_NP + PORT_DATA_SET + CURRENT_DATA_SET in one pmc call."""
    replies = pmc(
        uds,
        "GET TIME_STATUS_NP",
        "GET PORT_DATA_SET",
        "GET CURRENT_DATA_SET",
        netns=netns,
        client_uds=client_uds,
        timeout=timeout,
    )
    return status_from_replies(replies)


def set_synchronization_uncertain(
    uds: str, uncertain: bool, *, netns: str | None = None, client_uds: str | None = None
) -> None:
    """``SET SYNCHRONIZATION_UNCERTAIN_NP``: a free-running slave reports locked only once this is 0."""
    pmc(uds, f"SET SYNCHRONIZATION_UNCERTAIN_NP {int(uncertain)}", netns=netns, client_uds=client_uds)


class PtpDaemon:
    """A running ``ptp4l`` or ``phc2sys`` process (optionally inside a network namespace)."""

    def __init__(self, argv: list[str], log_path: Path, netns: str | None = None) -> None:
        """Prepare (not start) a daemon; see :meth:`ptp4l` and :meth:`phc2sys`."""
        self.argv = [*_netns_prefix(netns), *argv]
        self.log_path = Path(log_path)
        self._proc: subprocess.Popen[bytes] | None = None

    @classmethod
    def ptp4l(cls, config: Path, interface: str, log_path: Path, *, netns: str | None = None) -> PtpDaemon:
        """``ptp4l -f config -i interface -m``."""
        return cls([_which("ptp4l"), "-f", str(config), "-i", interface, "-m"], log_path, netns)

    @classmethod
    def phc2sys(
        cls, source: str, log_path: Path, *, sink: str = "CLOCK_REALTIME", netns: str | None = None
    ) -> PtpDaemon:
        """``phc2sys -s source -c sink -w -m`` (waits for ptp4l)."""
        return cls([_which("phc2sys"), "-s", source, "-c", sink, "-w", "-m"], log_path, netns)

    def start(self) -> PtpDaemon:
        """Start the process, logging to ``log_path``."""
        if self.running:
            raise PtpError("already running")
        with self.log_path.open("ab") as log:
            self._proc = subprocess.Popen(self.argv, stdout=log, stderr=subprocess.STDOUT)
        return self

    @property
    def running(self) -> bool:
        """Whether the process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def stop(self, timeout: float = 5.0) -> int | None:
        """Terminate (then kill) the process; returns its exit code."""
        if self._proc is None:
            return None
        if self._proc.poll() is None:
            self._proc.terminate()
            try:
                self._proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self._proc.kill()
                self._proc.wait(timeout)
        return self._proc.returncode

    def __enter__(self) -> PtpDaemon:
        """Start on entering a ``with`` block."""
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        """Stop on leaving it."""
        self.stop()


class PtpMetrics:
    """Prometheus gauges for one PTP port: offset, path delay, state, grandmaster presence."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        """Register the gauges (in ``registry``, or the default one)."""
        kw = {"registry": registry} if registry is not None else {}
        self.offset = Gauge("pymm_ptp_offset_seconds", "ptp4l master offset", ["interface"], **kw)
        self.path_delay = Gauge("pymm_ptp_path_delay_seconds", "ptp4l mean path delay", ["interface"], **kw)
        self.state = Gauge(
            "pymm_ptp_port_state", "1 for the port's current state", ["interface", "state"], **kw
        )
        self.gm_present = Gauge("pymm_ptp_gm_present", "1 when a grandmaster is present", ["interface"], **kw)
        self.healthy = Gauge("pymm_ptp_healthy", "1 when SLAVE with |offset| <= 1 us", ["interface"], **kw)

    def update(self, interface: str, status: PtpStatus) -> None:
        """Export one status sample."""
        self.offset.labels(interface).set(status.master_offset_ns / 1e9)
        self.path_delay.labels(interface).set(status.mean_path_delay_ns / 1e9)
        for s in PORT_STATES:
            self.state.labels(interface, s).set(1 if s == status.port_state else 0)
        self.gm_present.labels(interface).set(1 if status.gm_present else 0)
        self.healthy.labels(interface).set(1 if status.healthy else 0)
