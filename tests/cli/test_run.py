from typer.testing import CliRunner

from pymm.cli import app

runner = CliRunner()


def test_version_reports_native_core():
    r = runner.invoke(app, ["version"])
    assert r.exit_code == 0
    assert "native core 0." in r.output


def test_start_reports_what_is_missing():
    r = runner.invoke(app, ["start"])
    assert r.exit_code == 0, r.output
    assert "native core      ready" in r.output
    assert "not built yet" in r.output
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
