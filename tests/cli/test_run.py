from pathlib import Path

from typer.testing import CliRunner

from pymm.cli import app

runner = CliRunner()
REPO = Path(__file__).resolve().parents[2]


def test_version_reports_native_core():
    r = runner.invoke(app, ["version"])
    assert r.exit_code == 0
    assert "native core 0." in r.output


def test_start_reports_what_is_missing():
    r = runner.invoke(app, ["start"])
    assert r.exit_code == 0, r.output
    assert "native core      ready" in r.output
    assert "host             ready" in r.output and "pass," in r.output
    assert "not built yet" in r.output and "not wired yet" in r.output
    assert "Nothing was started" in r.output


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
    r = runner.invoke(app, ["start"])
    assert r.exit_code == 0, r.output
    assert (
        "instruments      ready          DOGEUSDT spot tick 0.00001 lot 1; DOGEUSDT usdm tick 0.00001 lot 1"
        in r.output
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
    assert r.exit_code == 0, r.output
    assert "DOGEBTC spot tick 0.00000001 lot 1" in r.output
