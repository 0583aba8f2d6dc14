from pathlib import Path

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from pymm.config import parse_cores
from pymm.ops.host import (
    DriftStatus,
    HostDescriptionError,
    compare,
    format_cores,
    irq_map,
    kernel_cmdline,
    load_host,
)
from pymm.ops.probe import Probe

REPO = Path(__file__).resolve().parents[2]
EXPECTED = Path(__file__).parent / "expected"
SAMPLE_HOSTS = ("example", "kernel-udp")


@pytest.mark.parametrize("name", SAMPLE_HOSTS)
def test_derivations_match_expected_files(name):
    host = load_host(REPO / "hw" / "hosts" / f"{name}.yml")
    assert " ".join(kernel_cmdline(host)) + "\n" == (EXPECTED / f"{name}.cmdline").read_text()
    assert (
        "".join(f"{irq} {core}\n" for irq, core in irq_map(host)) == (EXPECTED / f"{name}.irqmap").read_text()
    )


@given(st.sets(st.integers(min_value=0, max_value=200), min_size=1))
def test_format_cores_round_trips(cores):
    text = format_cores(cores)
    assert parse_cores(text) == tuple(sorted(cores))


def test_format_cores_compacts_ranges():
    assert format_cores([7, 2, 3, 4]) == "2-4,7"
    assert format_cores([]) == ""


def _edited(tmp_path: Path, **changes) -> Path:
    raw = yaml.safe_load((REPO / "hw" / "hosts" / "example.yml").read_text())
    for dotted, value in changes.items():
        node = raw
        *parents, leaf = dotted.split("__")
        for p in parents:
            node = node[p]
        node[leaf] = value
    out = tmp_path / "host.yml"
    out.write_text(yaml.safe_dump(raw))
    return out


@pytest.mark.parametrize(
    ("changes", "reason"),
    [
        ({"isolated_cores": "1-11"}, "overlap on [1]"),
        ({"isolated_cores": "2-10"}, "missing [11]"),
        ({"hot_cores": "1-3"}, "hot_cores [1] are not isolated"),
        ({"nic__irq_name": "ens1f0"}, "'{queue}'"),
        ({"nic__irq_cores": [1, 12]}, "nic.irq_cores [12]"),
        ({"thp": "sometimes"}, "thp"),
        ({"isolated_cores": "2-x"}, "isolated_cores"),
        ({"bogus": 1}, "bogus"),
    ],
)
def test_invalid_descriptions_are_refused_with_the_reason(tmp_path, changes, reason):
    with pytest.raises(HostDescriptionError, match="invalid host description") as e:
        load_host(_edited(tmp_path, **changes))
    assert reason in str(e.value)


def test_unreadable_and_non_yaml_files(tmp_path):
    with pytest.raises(HostDescriptionError, match="cannot read"):
        load_host(tmp_path / "absent.yml")
    bad = tmp_path / "bad.yml"
    bad.write_text("a: [1\n")
    with pytest.raises(HostDescriptionError, match="not YAML"):
        load_host(bad)


def test_cstate_zero_means_idle_poll(tmp_path):
    tokens = kernel_cmdline(load_host(_edited(tmp_path, cstate_limit=0)))
    assert "idle=poll" in tokens
    assert not any("max_cstate" in t for t in tokens)


def test_tuned_host_has_no_drift(tuned_probe, example_host):
    drift = compare(load_host(example_host), tuned_probe)
    assert [d for d in drift if d.status is DriftStatus.DRIFT] == []
    keys = {d.key for d in drift}
    assert {
        "isolated_cores",
        "kernel_cmdline",
        "nic.irq.ens1f0-0",
        "nic.rx_ring",
        "ptp.phc",
        "onload",
    } <= keys


def test_drift_names_what_changed(tuned_root, tuned_probe, example_host):
    (tuned_root / "proc/irq/91/smp_affinity_list").write_text("0-11\n")
    (tuned_root / "sys/devices/system/cpu/isolated").write_text("2-5\n")
    cmdline = (tuned_root / "proc/cmdline").read_text().replace(" nosmt", "")
    (tuned_root / "proc/cmdline").write_text(cmdline)
    (tuned_root / "dev/ptp0").unlink()
    drift = {d.key: d for d in compare(load_host(example_host), tuned_probe) if d.status is DriftStatus.DRIFT}
    assert set(drift) == {"nic.irq.ens1f0-1", "isolated_cores", "kernel_cmdline", "ptp.phc"}
    assert drift["nic.irq.ens1f0-1"].actual == "0-11"
    assert drift["isolated_cores"].actual == "2-5"
    assert drift["kernel_cmdline"].actual == "missing: nosmt"


def test_nic_rings_and_moderation_are_compared(tuned_probe, example_host):
    import dataclasses

    drifted = dataclasses.replace(
        tuned_probe,
        run=lambda argv: (
            "Current hardware settings:\nRX:\t512\nTX:\t2048\n"
            if argv[1] == "-g"
            else "Adaptive RX: on  TX: off\nrx-usecs: 60\n"
        ),
    )
    drift = {d.key: d for d in compare(load_host(example_host), drifted) if d.status is DriftStatus.DRIFT}
    assert set(drift) == {"nic.rx_ring", "nic.adaptive_rx"}
    assert (drift["nic.rx_ring"].expected, drift["nic.rx_ring"].actual) == ("4096", "512")
    silent = dataclasses.replace(tuned_probe, run=lambda _argv: None)
    drift = {d.key: d for d in compare(load_host(example_host), silent) if d.status is DriftStatus.DRIFT}
    assert set(drift) == {"nic.rx_ring", "nic.tx_ring", "nic.rx_usecs", "nic.adaptive_rx"}
    assert drift["nic.rx_usecs"].actual == "(ethtool -g/-c gave no answer)"


def test_empty_host_drifts_everywhere_but_never_raises(bare_probe, example_host):
    drift = compare(load_host(example_host), bare_probe)
    by_key = {d.key: d for d in drift}
    assert by_key["isolated_cores"].actual == "(absent)"
    assert by_key["nic.present"].actual == "(absent)"
    assert by_key["nic.irq.ens1f0-0"].actual == "(no such IRQ)"
    assert by_key["ptp.phc"].actual == "(no PHC)"


def test_probe_reads_live_host():
    probe = Probe()
    assert probe.cmdline_tokens()
    assert all(n.name for n in probe.nics())
