import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

import pymm.cli.doctor as cli_doctor
from pymm.cli import app
from pymm.ops import doctor
from pymm.ops.doctor import Grade
from pymm.ops.probe import Probe

runner = CliRunner()


def by_name(probe: Probe) -> dict[str, doctor.Fact]:
    return {f.name: f for f in doctor.collect(probe)}


def test_tuned_host_passes_every_fact(tuned_probe):
    facts = by_name(tuned_probe)
    assert list(facts) == doctor.fact_names()
    assert {n: f.grade for n, f in facts.items() if f.grade is not Grade.PASS} == {}
    assert facts["nics"].value == [{"name": "ens1f0", "driver": "sfc"}, {"name": "lo", "driver": None}]
    assert facts["ptp_devices"].value == ["/dev/ptp0"]
    assert all(f.fix is None for f in facts.values())


def test_empty_root_grades_every_fact_with_a_reason(bare_probe):
    facts = by_name(bare_probe)
    assert list(facts) == doctor.fact_names()
    assert facts["cpu_model"].grade is Grade.WARN
    assert "unreadable" in facts["cpu_model"].detail and "cpuinfo" in facts["cpu_model"].detail
    assert facts["nohz_full"].grade is Grade.FAIL and "CONFIG_NO_HZ_FULL" in facts["nohz_full"].detail
    assert facts["ptp_devices"].grade is Grade.FAIL
    assert facts["linuxptp"].grade is Grade.FAIL
    assert all(f.fix for f in facts.values() if f.grade is not Grade.PASS)


def _write(root: Path, path: str, text: str) -> None:
    p = root / path.lstrip("/")
    p.parent.mkdir(parents=True, exist_ok=True)
    p.write_text(text + "\n")


@pytest.mark.parametrize(
    ("path", "text", "fact", "grade"),
    [
        ("/sys/devices/system/cpu/isolated", "", "isolated_cores", Grade.FAIL),
        ("/sys/devices/system/cpu/nohz_full", "(null)", "nohz_full", Grade.FAIL),
        ("/sys/devices/system/cpu/nohz_full", "2-5", "nohz_full", Grade.WARN),
        ("/sys/devices/system/cpu/cpufreq/policy3/scaling_governor", "powersave", "cpu_governor", Grade.FAIL),
        ("/sys/devices/system/cpu/cpu0/cpuidle/state3/disable", "0", "cstates", Grade.WARN),
        ("/sys/kernel/mm/transparent_hugepage/enabled", "always [madvise] never", "thp", Grade.WARN),
        ("/sys/kernel/mm/transparent_hugepage/enabled", "[always] madvise never", "thp", Grade.FAIL),
        ("/sys/kernel/mm/hugepages/hugepages-2048kB/nr_hugepages", "0", "hugepages", Grade.WARN),
        ("/sys/devices/system/cpu/smt/control", "on", "smt", Grade.WARN),
        ("/proc/4242/comm", "irqbalance", "irqbalance", Grade.FAIL),
        (
            "/sys/devices/system/clocksource/clocksource0/current_clocksource",
            "hpet",
            "clocksource",
            Grade.WARN,
        ),
        ("/proc/cpuinfo", "model name\t: X\nflags\t\t: tsc constant_tsc", "invariant_tsc", Grade.FAIL),
        (
            "/proc/cpuinfo",
            "model name\t: X\nflags\t\t: constant_tsc nonstop_tsc hypervisor",
            "cpu_model",
            Grade.WARN,
        ),
    ],
)
def test_each_degradation_is_graded(tuned_root, tuned_probe, path, text, fact, grade):
    _write(tuned_root, path, text)
    got = by_name(tuned_probe)[fact]
    assert got.grade is grade, got
    assert got.fix


def test_missing_devices_and_binaries(tuned_root):
    for dev in ("ptp0", "onload", "sfc_char"):
        (tuned_root / "dev" / dev).unlink()
    probe = Probe(
        root=tuned_root,
        which=lambda n: "/usr/sbin/ptp4l" if n == "ptp4l" else None,
        find_library=lambda _n: None,
    )
    facts = by_name(probe)
    assert facts["ptp_devices"].grade is Grade.FAIL
    assert facts["linuxptp"].grade is Grade.FAIL and "phc2sys, pmc" in facts["linuxptp"].detail
    assert facts["onload"].grade is Grade.WARN and facts["onload"].value["libonload"] is None
    assert facts["efvi"].grade is Grade.WARN


def test_no_cpufreq_is_a_warning_not_a_guess(tuned_root, tuned_probe):
    import shutil

    shutil.rmtree(tuned_root / "sys/devices/system/cpu/cpufreq")
    f = by_name(tuned_probe)["cpu_governor"]
    assert f.grade is Grade.WARN and f.value is None


def test_cli_json_on_this_host_names_every_fact():
    r = runner.invoke(app, ["doctor", "--json"])
    assert r.exit_code == 0, r.output
    doc = json.loads(r.stdout)
    assert [f["name"] for f in doc["facts"]] == doctor.fact_names()
    assert all(f["grade"] in ("pass", "warn", "fail") for f in doc["facts"])
    assert sum(doc["summary"].values()) == len(doctor.fact_names())
    assert doc["drift"] is None


def test_cli_strict_exit_codes(monkeypatch, tuned_probe, bare_probe):
    monkeypatch.setattr(cli_doctor, "Probe", lambda: tuned_probe)
    assert runner.invoke(app, ["doctor", "--strict"]).exit_code == 0
    monkeypatch.setattr(cli_doctor, "Probe", lambda: bare_probe)
    r = runner.invoke(app, ["doctor"])
    assert r.exit_code == 0 and "FAIL" in r.output
    assert runner.invoke(app, ["doctor", "--strict"]).exit_code == 1


def test_cli_against_reports_drift_and_is_strict_only_on_request(
    monkeypatch, tuned_probe, bare_probe, example_host
):
    monkeypatch.setattr(cli_doctor, "Probe", lambda: tuned_probe)
    r = runner.invoke(app, ["doctor", "--json", "--strict", "--against", str(example_host)])
    assert r.exit_code == 0, r.output
    assert {d["status"] for d in json.loads(r.stdout)["drift"]} == {"ok"}
    monkeypatch.setattr(cli_doctor, "Probe", lambda: bare_probe)
    r = runner.invoke(app, ["doctor", "--against", str(example_host)])
    assert r.exit_code == 0
    assert "DRIFT isolated_cores: expected 2-11; live (absent)" in r.output
    assert runner.invoke(app, ["doctor", "--against", str(example_host), "--strict"]).exit_code == 1


def test_cli_bad_host_description_is_one_error_line(tmp_path):
    bad = tmp_path / "host.yml"
    bad.write_text("name: x\ncpus: 0\n")
    r = runner.invoke(app, ["doctor", "--against", str(bad)])
    assert r.exit_code == 2
    assert r.stderr.count("\n") == 1 and "invalid host description" in r.stderr and "cpus" in r.stderr


def test_cli_against_on_this_host_is_honest_and_strict_only_on_request(example_host):
    r = runner.invoke(app, ["doctor", "--json", "--against", str(example_host)])
    assert r.exit_code == 0, r.output
    drift = {d["key"]: d for d in json.loads(r.stdout)["drift"]}
    live_iso = Path("/sys/devices/system/cpu/isolated").read_text().strip()
    assert (drift["isolated_cores"]["status"] == "ok") == (live_iso == "2-11")
    strict = runner.invoke(app, ["doctor", "--against", str(example_host), "--strict"])
    assert strict.exit_code == (1 if any(d["status"] == "drift" for d in drift.values()) else 0)
