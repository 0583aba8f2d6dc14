from pathlib import Path

import pytest

from pymm.config import DEFAULT_CONFIG, load_config, parse_cores
from pymm.errors import ConfigError


def test_default_config_loads():
    cfg = load_config(DEFAULT_CONFIG)
    assert [v.name for v in cfg.venues] == ["binance-spot", "binance-usdm"]
    assert {(i.market, i.symbol) for i in cfg.instruments} == {("spot", "DOGEUSDT"), ("usdm", "DOGEUSDT")}
    assert all(i.definition.is_absolute() for i in cfg.instruments)


@pytest.mark.parametrize(
    ("spec", "cores"),
    [("1", (1,)), ("2-5", (2, 3, 4, 5)), ("2,4-5", (2, 4, 5)), ("3,3", (3,))],
)
def test_parse_cores(spec, cores):
    assert parse_cores(spec) == cores


@pytest.mark.parametrize("spec", ["", "a", "5-2", "-1", "1,,2"])
def test_parse_cores_refuses(spec):
    with pytest.raises(ValueError):
        parse_cores(spec)


def _write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "c.toml"
    p.write_text(body)
    return p


BASE = """
[[venues]]
name = "v"
[[instruments]]
venue = "v"
market = "spot"
symbol = "DOGEUSDT"
definition = "x.toml"
"""


def test_unknown_key_is_refused_with_its_path(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, BASE + "\n[metrics]\nprot = 1\n"))
    assert ("metrics.prot", "Extra inputs are not permitted") in e.value.errors


def test_bad_value_names_field(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, BASE + "\n[metrics]\nport = 70000\n"))
    (path, reason), *_ = e.value.errors
    assert path == "metrics.port"
    assert "65535" in reason


def test_a_burst_beyond_the_engine_bucket_is_refused(tmp_path):
    # The engine's token buckets hold at most 1e9 tokens; a larger burst is refused, not capped.
    body = DEFAULT_CONFIG.read_text().replace("messages_burst = 100", "messages_burst = 2000000000")
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, body))
    (path, reason), *_ = e.value.errors
    assert path == "risk.messages_burst"
    assert "1000000000" in reason


def test_bad_cores_names_field(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, '[engine]\ncores = "5-2"\n' + BASE))
    assert e.value.errors[0][0] == "engine.cores"
    assert "bad core range" in e.value.errors[0][1]


def test_unknown_venue_reference(tmp_path):
    with pytest.raises(ConfigError) as e:
        load_config(_write(tmp_path, BASE.replace('venue = "v"', 'venue = "w"')))
    assert e.value.errors[0][0] == "instruments.0.venue"


def test_not_toml_and_missing(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path, "[[venues"))
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")
