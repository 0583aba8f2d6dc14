from pathlib import Path

from typer.testing import CliRunner

from pymm import supervisor
from pymm.cli import app
from pymm.config import load_config

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_version_reports_native_core():
    r = runner.invoke(app, ["version"])
    assert r.exit_code == 0
    assert "native core 0." in r.output


def test_start_checks_every_part_before_starting_anything():
    report = supervisor.check(load_config())
    text = "\n".join(report.lines())
    assert report.exit_code == 0, text
    assert "native core      ready" in text
    assert "host             ready" in text and "pass," in text


def test_start_refuses_a_config_without_limits(tmp_path):
    cfg = tmp_path / "pymm.toml"
    cfg.write_text(
        '[[venues]]\nname = "spot"\n[[instruments]]\nvenue = "spot"\nmarket = "spot"\nsymbol = "DOGEUSDT"\n'
        f'definition = "{REPO / "config" / "instruments" / "DOGEUSDT.spot.toml"}"\n'
    )
    r = runner.invoke(app, ["start", "--config", str(cfg)])
    assert r.exit_code == 1, r.output
    assert "limits           FAILED         [risk] and [quoting] missing" in r.output
    assert "nothing was started" in r.output


def test_status_and_stop_without_an_instance(tmp_path):
    cfg = tmp_path / "pymm.toml"
    src = (REPO / "config" / "default.toml").read_text()
    src = src.replace('dir = "var/pymm"', f'dir = "{tmp_path / "state"}"')
    cfg.write_text(src.replace('"instruments/', f'"{REPO / "config" / "instruments"}/'))
    r = runner.invoke(app, ["status", "--json", "--config", str(cfg)])
    assert r.exit_code == 3 and '"state": "stopped"' in r.output
    r = runner.invoke(app, ["stop", "--config", str(cfg)])
    assert r.exit_code == 0 and "not running" in r.output


def test_start_refuses_absent_cores():
    r = runner.invoke(app, ["start", "--cores", "4096"])
    assert r.exit_code == 1
    assert "not available here" in r.output


def test_start_bad_config_is_one_error(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[engine]\nbogus = 1\n")
    r = runner.invoke(app, ["start", "--config", str(bad)])
    assert r.exit_code != 0
    assert isinstance(r.exception, Exception)
    assert "engine.bogus" in str(r.exception)


def test_start_loads_the_configured_instruments():
    text = "\n".join(supervisor.check(load_config()).lines())
    assert (
        "instruments      ready          DOGEUSDT spot tick 0.00001 lot 1; DOGEUSDT usdm tick 0.00001 lot 1"
        in text
    )


def test_start_reports_a_refused_instrument_definition(tmp_path):
    bad = tmp_path / "DOGEUSDT.spot.toml"
    bad.write_text('venue = "binance"\n')
    json_def = tmp_path / "usdm.json"
    json_def.write_text((REPO / "tests" / "fixtures" / "exchangeinfo_usdm_dogeusdt.json").read_text())
    cfg = tmp_path / "pymm.toml"
    cfg.write_text(
        '[[venues]]\nname = "spot"\n[[venues]]\nname = "usdm"\n'
        '[[instruments]]\nvenue = "usdm"\nmarket = "usdm"\nsymbol = "DOGEUSDT"\ndefinition = "usdm.json"\n'
        '[[instruments]]\nvenue = "spot"\nmarket = "spot"\nsymbol = "DOGEUSDT"\n'
        'definition = "DOGEUSDT.spot.toml"\n'
    )
    r = runner.invoke(app, ["start", "--config", str(cfg)])
    assert r.exit_code == 1, r.output
    assert "instruments      FAILED" in r.output
    assert "spot DOGEUSDT: instrument TOML: line 1: missing field `market`" in r.output


def test_start_loads_exchange_info_json(tmp_path):
    json_def = tmp_path / "spot.json"
    json_def.write_text((REPO / "tests" / "fixtures" / "exchangeinfo_spot_dogeusdt.json").read_text())
    cfg = tmp_path / "pymm.toml"
    cfg.write_text(
        '[[venues]]\nname = "spot"\n'
        '[[instruments]]\nvenue = "spot"\nmarket = "spot"\nsymbol = "DOGEBTC"\ndefinition = "spot.json"\n'
    )
    r = runner.invoke(app, ["start", "--config", str(cfg)])
    assert r.exit_code == 1, r.output  # no [risk]: checked, then refused
    assert "DOGEBTC spot tick 0.00000001 lot 1" in r.output
