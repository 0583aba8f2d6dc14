"""pymm.ops.onload: the cffi bindings (Onload extensions API, ef_vi shim query) and ``start --onload``.

The bindings are exercised for real against small C libraries compiled here: a stand-in for
``libonload_ext`` (the symbols Onload exports) and the repository's fake of the ef_vi shim
(``native/shim/fake_efvi.c``). Without a C compiler these tests skip with the reason.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
from pathlib import Path

import pytest
from typer.testing import CliRunner

from pymm.cli import app
from pymm.ops import onload
from pymm.ops.onload import OnloadError, OnloadExt, efvi_shim_caps

REPO = Path(__file__).resolve().parents[2]
SHIM = REPO / "native" / "shim"

# The five extension calls pymm binds, with Onload's semantics for a stack named by the test.
ONLOAD_EXT_C = r"""
#include <errno.h>
#include <stdint.h>
#include <string.h>
static char name[64] = "";
static int scope_seen = -1;
int onload_is_present(void) { return 1; }
int onload_set_stackname(int who, int scope, const char* n) {
  if (who != 1) { errno = EINVAL; return -1; }
  scope_seen = scope;
  if (n) { strncpy(name, n, sizeof name - 1); } else { name[0] = 0; }
  return 0;
}
int onload_stack_opt_get_int(const char* opt, int64_t* v) {
  if (strcmp(opt, "EF_RX_TIMESTAMPING") == 0) { *v = 3; return 0; }
  if (strcmp(opt, "EF_POLL_USEC") == 0) { *v = 100000; return 0; }
  return -EINVAL;
}
int onload_stack_opt_set_int(const char* opt, int64_t v) { (void)opt; (void)v; return 0; }
int onload_timestamping_request(int fd, unsigned flags) {
  return fd < 0 ? -EBADF : (flags & 2 ? 0 : -EINVAL);
}
const char* test_stackname(void) { return name; }
int test_scope(void) { return scope_seen; }
"""


def _cc(tmp: Path, name: str, sources: list[Path], *flags: str) -> Path:
    cc = shutil.which(os.environ.get("CC", "cc"))
    if cc is None:
        pytest.skip("no C compiler to build the test libraries")
    out = tmp / name
    subprocess.run([cc, "-shared", "-fPIC", "-O1", "-o", str(out), *map(str, sources), *flags], check=True)
    return out


@pytest.fixture(scope="module")
def fake_shim(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("shim")
    return _cc(tmp, "libfake_efvi.so", [SHIM / "fake_efvi.c"], f"-I{SHIM}")


@pytest.fixture(scope="module")
def fake_onload_ext(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("onload")
    src = tmp / "onload_ext.c"
    src.write_text(ONLOAD_EXT_C)
    return _cc(tmp, "libonload_ext_test.so", [src])


def test_without_onload_every_call_is_harmless():
    ext = OnloadExt()
    assert not ext.is_present(), "this test process does not run under libonload"
    assert ext.stack_opt("EF_POLL_USEC") is None
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        assert ext.timestamping_request(s.fileno()) < 0
    with pytest.raises(OnloadError, match="not running under Onload"):
        ext.set_stackname("pymm")
    assert ext.facts()["onload_is_present"] is False


def test_extensions_api_through_cffi(fake_onload_ext):
    import cffi

    ext = OnloadExt(str(fake_onload_ext))
    assert ext.available and ext.is_present()
    assert ext.stack_opt("EF_RX_TIMESTAMPING") == 3
    assert ext.stack_opt("EF_NO_SUCH") is None
    ext.set_stackname("pymm-feed", scope=onload.ONLOAD_SCOPE_PROCESS)
    probe = cffi.FFI()
    probe.cdef("const char* test_stackname(void); int test_scope(void);")
    lib = probe.dlopen(str(fake_onload_ext))
    assert probe.string(lib.test_stackname()) == b"pymm-feed"
    assert lib.test_scope() == onload.ONLOAD_SCOPE_PROCESS
    ext.set_stackname(None)  # ONLOAD_DONT_ACCELERATE
    assert probe.string(lib.test_stackname()) == b""
    assert ext.timestamping_request(5, onload.ONLOAD_TIMESTAMPING_FLAG_RX_NIC) == 0
    assert ext.timestamping_request(-1) == -9
    facts = ext.facts()
    assert facts["EF_POLL_USEC"] == 100000 and facts["extensions_api"] == str(fake_onload_ext)


def test_efvi_shim_query_through_cffi(fake_shim):
    ok = efvi_shim_caps("fake0", str(fake_shim))
    assert ok.ok and ok.rx_prefix_len == 14
    assert ok.caps["hw_rx_timestamps"] and ok.caps["udp_filter"] and not ok.caps["rx_ref_x3"]
    x3 = efvi_shim_caps("fakex3a", str(fake_shim))
    assert x3.ok and x3.caps["rx_ref_x3"]
    nodev = efvi_shim_caps("nodev0", str(fake_shim))
    assert not nodev.ok and "sfc_char" in (nodev.error or "")
    notsfc = efvi_shim_caps("eth0", str(fake_shim))
    assert not notsfc.ok and "not an ef_vi-capable" in (notsfc.error or "")
    missing = efvi_shim_caps("fake0", "/nonexistent/libpymm_efvi.so")
    assert not missing.ok and "make efvi-shim" in (missing.error or "")


def test_reexec_builds_the_launcher_command(tmp_path, monkeypatch):
    launcher = tmp_path / "onload"
    launcher.write_text("#!/bin/sh\nexit 0\n")
    launcher.chmod(0o755)
    monkeypatch.setenv("PATH", f"{tmp_path}{os.pathsep}{os.environ['PATH']}")
    monkeypatch.delenv(onload.REEXEC_MARKER, raising=False)
    seen: dict[str, object] = {}

    def fake_exec(cmd, env):
        seen["cmd"], seen["env"] = cmd, env
        raise SystemExit(0)

    monkeypatch.setattr(onload, "_exec", fake_exec)
    with pytest.raises(SystemExit):
        onload.reexec_under_onload("latency", ["pymm", "start"])
    assert seen["cmd"] == [str(launcher), "--profile=latency", "pymm", "start"]
    assert seen["env"][onload.REEXEC_MARKER] == "1"  # type: ignore[index]
    # Already re-executed: no second exec.
    monkeypatch.setenv(onload.REEXEC_MARKER, "1")
    onload.reexec_under_onload("latency", ["pymm", "start"])


def test_start_onload_without_the_launcher_says_so(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(onload.REEXEC_MARKER, raising=False)
    res = CliRunner().invoke(app, ["start", "--onload"])
    assert res.exit_code == 2
    assert "`onload` launcher is not on PATH" in res.output


def test_doctor_reports_the_bypass_section():
    import json

    res = CliRunner().invoke(app, ["doctor", "--json"])
    assert res.exit_code == 0, res.output
    doc = json.loads(res.output)
    assert set(doc["bypass"]) == {"onload", "launcher", "efvi"}
    assert doc["bypass"]["onload"]["onload_is_present"] is False


def _sfc_interfaces() -> list[str]:
    from pymm.ops.probe import Probe

    return [n.name for n in Probe().nics() if n.driver in ("sfc", "xilinx_efct")]


@pytest.mark.hw
def test_real_efvi_shim_on_a_solarflare_nic():
    """On a host with Onload, an sfc NIC and `make efvi-shim` done: the real shim answers."""
    shim = os.environ.get("PYMM_EFVI_SHIM")
    reasons = []
    if not shim or not Path(shim).is_file():
        reasons.append("PYMM_EFVI_SHIM unset or missing (build it: make efvi-shim, docs/ops/ef_vi.md)")
    if not Path("/dev/sfc_char").exists():
        reasons.append("no /dev/sfc_char (Onload drivers not loaded)")
    ifaces = _sfc_interfaces()
    if not ifaces:
        reasons.append("no Solarflare/AMD (sfc) interface")
    if reasons:
        pytest.skip("; ".join(reasons))
    caps = efvi_shim_caps(ifaces[0], shim)
    assert caps.ok, caps.error
    assert caps.caps["udp_filter"]
