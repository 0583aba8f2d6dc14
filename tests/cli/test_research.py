import json

from typer.testing import CliRunner

from pymm.cli import app

runner = CliRunner()


def test_as2008_prints_ours_beside_the_paper():
    r = runner.invoke(app, ["research", "as2008", "--paths", "1000", "--seed", "2008"])
    assert r.exit_code == 0, r.output
    assert "inventory" in r.output and "symmetric" in r.output
    assert "(65.0)" in r.output


def test_as2008_json():
    r = runner.invoke(app, ["research", "as2008", "--paths", "500", "--json"])
    assert r.exit_code in (0, 1), r.output
    data = json.loads(r.output)
    assert data["n_paths"] == 500
    assert set(data["ours"]) == {"0.1", "0.01", "1"}
    assert data["paper_qf2008"]["1"]["symmetric"]["profit"] == 44.0
