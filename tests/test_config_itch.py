"""``[itch]`` configs: the shipped example loads; a bad one is refused naming the field and the reason;
the engine's and the venue's native configs follow it (cores as ``core_layout`` lays them out)."""

from pathlib import Path

import pytest

from pymm.config import DEFAULT_CONFIG, load_config
from pymm.errors import ConfigError
from pymm.runtime.itch_instance import itch_engine_config, itch_venue_config
from pymm.runtime.state import StateDir

ITCH_CONFIG = DEFAULT_CONFIG.parent / "itch-sim.toml"


def test_shipped_itch_config_loads():
    cfg = load_config(ITCH_CONFIG)
    assert cfg.itch is not None and cfg.itch.venue == "itch-sim" and cfg.itch.symbol == "PYMM"
    assert cfg.instruments == [] and cfg.hedge is None
    assert cfg.risk is not None and cfg.quoting is not None
    assert cfg.itch.tick_units == 100


def _refused(tmp_path: Path, old: str, new: str) -> list[tuple[str, str]]:
    src = ITCH_CONFIG.read_text()
    assert old in src, old
    p = tmp_path / "c.toml"
    p.write_text(src.replace(old, new, 1))
    with pytest.raises(ConfigError) as e:
        load_config(p)
    return e.value.errors


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ('symbol = "PYMM"', 'symbol = "TOOLONGSYM"', "itch.symbol", "should match pattern"),
        ('tick = "0.01"', 'tick = "0.00001"', "itch.tick", "more than 4 decimals"),
        ('tick = "0.01"', 'tick = "-0.01"', "itch.tick", "positive"),
        ('feed_a = "239.1.1.1:31001"', 'feed_a = "10.0.0.1:31001"', "itch.feed_a", "not a multicast group"),
        ('feed_b = "239.1.1.2:31002"', 'feed_b = "239.1.1.2:70000"', "itch.feed_b", "0-65535"),
        ('feed_b = "239.1.1.2:31002"', 'feed_b = "239.1.1.1:31001"', "itch", "must differ"),
        ('ouch = "127.0.0.1:31004"', 'ouch = "239.1.1.9:31004"', "itch.ouch", "unicast address is needed"),
        ('rerequest = "127.0.0.1:31003"', 'rerequest = "localhost"', "itch.rerequest", "not ip:port"),
        ('interface = "127.0.0.1"', 'interface = "eth0"', "itch.interface", "not an IPv4 interface"),
        ('user = "PYMM"', 'user = "TOOLONGUSER"', "itch.user", "should match pattern"),
        ('password = "pymm"', 'password = "p4ssw0rd1234"', "itch.password", "should match pattern"),
        ("locate = 1", "locate = 0", "itch.locate", "greater than or equal to 1"),
        ("flow_interval_us = 500", "flow_interval_us = 1", "itch.flow_interval_us", "greater than or equal"),
        ("line_a_drop = 0.0", "line_a_drop = 0.9", "itch.line_a_drop", "less than 0.5"),
        ('venue = "itch-sim"', 'venue = "nowhere"', "itch.venue", "unknown venue 'nowhere'"),
        ('order_size = "100"', 'order_size = "100.5"', "quoting.order_size", "whole number of shares"),
        ('order_size = "100"', 'order_size = "5000"', "quoting.order_size", "exceed [risk] max_order_qty"),
        ("heartbeat_ms = 100", "heartbeat_ms = 100\nmulticast = true", "itch.multicast", "Extra inputs"),
    ],
)
def test_bad_itch_config_is_refused_naming_field_and_reason(tmp_path, old, new, field, reason):
    errors = _refused(tmp_path, old, new)
    assert any(f == field and reason in r for f, r in errors), errors


def test_itch_runs_alone(tmp_path):
    extra = (
        '\n[[instruments]]\nvenue = "itch-sim"\nmarket = "spot"\nsymbol = "DOGEUSDT"\n'
        'definition = "instruments/DOGEUSDT.spot.toml"\n'
        '\n[hedge]\nmax_order_qty = "1"\nmax_position_qty = "1"\n'
    )
    errors = _refused(tmp_path, "# [[operators]]", extra + "# [[operators]]")
    fields = {f for f, _ in errors}
    assert {"instruments", "hedge"} <= fields, errors


def test_no_instruments_without_itch_is_refused(tmp_path):
    p = tmp_path / "c.toml"
    p.write_text('[[venues]]\nname = "v"\n')
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.errors == [("instruments", "at least one instrument is needed (or an [itch] section)")]


def test_native_configs_follow_the_itch_section(tmp_path):
    cfg = load_config(ITCH_CONFIG)
    assert cfg.itch is not None and cfg.risk is not None
    state = StateDir(tmp_path / "state")
    eng = itch_engine_config(
        cfg.itch, cfg.risk, state, cores="2-5", ouch="127.0.0.1:1", rerequest="127.0.0.1:2"
    )
    # Session loop on the first core, journal writer on the second (runtime.instance.core_layout).
    assert (eng["core"], eng["journal_core"]) == (2, 3)
    assert eng["feed"] == "239.1.1.1:31001" and eng["feed_b"] == "239.1.1.2:31002"
    assert eng["rerequest"] == "127.0.0.1:2"
    assert eng["journal_dir"] == str(state.journal_dir)
    assert eng["ouch"]["risk"]["max_long"] == eng["ouch"]["risk"]["max_short"] == "2000"
    assert eng["ouch"]["tick"] == "0.01" and eng["ouch"]["addr"] == "127.0.0.1:1"
    ven = itch_venue_config(
        cfg.itch,
        line_a="239.1.1.1:4000",
        line_b="239.1.1.2:4001",
        ouch="127.0.0.1:1",
        rerequest="127.0.0.1:2",
        seed=9,
    )
    assert ven["itch_a"] == "239.1.1.1:4000" and ven["itch_b"] == "239.1.1.2:4001"
    assert ven["random_flow"]["seed"] == 9 and ven["tick"] == 100
    # Both are accepted by the native constructors (they refuse unknown or malformed keys).
    from pymm._native import ItchVenue

    ItchVenue(ven)
