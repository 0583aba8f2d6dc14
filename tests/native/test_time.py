"""The `time` binding surface: Clock, VenueClockOffset, LatencyTracker, LatencyHistogram."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from hdrh.histogram import HdrHistogram
from hdrh.log import HistogramLogReader

from pymm import _native

T0 = 1_700_000_000_000_000_000


@pytest.fixture(scope="module")
def clock() -> _native.Clock:
    return _native.Clock(calibration_s=0.01, samples=8)


def test_clock_reports_a_plausible_rate_and_source(clock: _native.Clock) -> None:
    assert clock.source in ("tsc", "monotonic_raw")
    assert 1e8 <= clock.tsc_hz <= 1e10
    assert clock.generation >= 1
    support = clock.tsc_support()
    assert set(support) == {"available", "cpuid_invariant", "constant_tsc", "nonstop_tsc", "rdtscp"}
    assert clock.is_invariant == (
        support["available"]
        and (support["cpuid_invariant"] or (support["constant_tsc"] and support["nonstop_tsc"]))
    )


def test_now_is_monotonic_and_realtime_is_unix_nanos(clock: _native.Clock) -> None:
    last = clock.now_ns()
    for _ in range(10_000):
        now = clock.now_ns()
        assert now >= last
        last = now
    # After 2020-01-01 and before 2100: nanoseconds since the epoch, not micro- or milliseconds.
    assert 1_577_836_800 * 10**9 < clock.realtime_ns() < 4_102_444_800 * 10**9
    t = clock.ticks()
    assert clock.ticks_to_ns(t) <= clock.now_ns()


def test_calibrate_returns_a_report_and_bumps_the_generation(clock: _native.Clock) -> None:
    before = clock.generation
    report = clock.calibrate(0.02, 8)
    assert report["samples"] == 8
    assert report["generation"] == before + 1 == clock.generation
    assert 1e8 <= report["tick_hz"] <= 1e10
    assert report["realtime_stepped"] is False


def test_fallback_source_and_bad_arguments() -> None:
    c = _native.Clock(source="monotonic_raw", calibration_s=0.005, samples=4)
    assert c.source == "monotonic_raw"
    assert c.tsc_hz == pytest.approx(1e9)
    with pytest.raises(ValueError, match="source must be"):
        _native.Clock(source="hpet")
    with pytest.raises(_native.ClockError, match="at least 4 samples"):
        _native.Clock(samples=2)
    assert issubclass(_native.ClockError, _native.PymmError)


def test_background_recalibration_starts_and_stops(clock: _native.Clock) -> None:
    clock.start_recalibration(0.01)
    assert clock.stop_recalibration() == 0
    assert clock.stop_recalibration() == 0  # idempotent


def test_venue_offset_tracks_the_minimum_delay() -> None:
    est = _native.VenueClockOffset(window=50, latency_floor_ns=80_000)
    assert est.offset_ns is None
    assert est.update(0, T0) is None
    assert est.rejected == 1
    last = None
    for i in range(200):
        venue = T0 + i * 1_000_000
        jitter = (i * 7919) % 37 * 5_000  # zero every 37 events
        last = est.update(venue, venue + 2_000_000 + 80_000 + jitter)
    assert last is not None
    assert last["offset_ns"] == est.offset_ns == 2_000_000
    assert last["min_delay_ns"] == 2_080_000
    assert last["latency_ns"] == last["delay_ns"] - 2_000_000
    assert est.to_local(T0) == T0 + 2_000_000
    assert est.window == 50


def test_tracker_percentiles_and_errors() -> None:
    t = _native.LatencyTracker(["decode", "quote"], T0)
    assert t.stages == ["decode", "quote"]
    t.record_many("decode", [v * 100 for v in range(1, 10_001)])
    p = t.percentiles("decode")
    assert list(p) == ["p50", "p90", "p99", "p99.9", "p99.99", "max"]
    assert p["p50"] == pytest.approx(500_000, rel=1e-3)
    assert p["p99"] == pytest.approx(990_000, rel=1e-3)
    assert p["max"] == pytest.approx(1_000_000, rel=1e-3)
    h = t.histogram("decode")
    assert h.count == len(h) == 10_000
    assert h.min == 100
    assert h.value_at_percentile(90.0) == p["p90"]
    assert t.histogram("quote").count == 0
    assert "decode" in t.percentile_table()
    with pytest.raises(KeyError):
        t.record("nope", 1)
    with pytest.raises(ValueError, match="duplicate"):
        _native.LatencyTracker(["a", "a"], T0)
    with pytest.raises(ValueError):
        _native.LatencyTracker(["a b"], T0)


def test_values_above_highest_are_clamped_and_counted() -> None:
    t = _native.LatencyTracker(["s"], T0, highest_ns=1_000_000, sigfig=2)
    t.record("s", 5_000_000)
    t.record("s", 10)
    h = t.histogram("s")
    assert h.clamped == 1
    assert h.count == 2
    assert h.max == pytest.approx(1_000_000, rel=1e-2)


def test_encoding_decodes_in_python_hdrh() -> None:
    t = _native.LatencyTracker(["s"], T0)
    values = [1, 7, 100, 2_500, 40_000, 1_000_000, 3_000_000_000]
    t.record_many("s", values)
    ours = t.histogram("s")
    theirs = HdrHistogram.decode(base64.b64encode(ours.encode()))
    assert theirs.get_total_count() == len(values)
    # Same buckets, same counts. (Percentiles are not compared: hdrh and the Rust crate round the
    # rank differently on small counts.)
    for v in values:
        assert theirs.get_count_at_value(v) == 1
    assert theirs.get_max_value() == ours.max
    assert theirs.get_min_value() == ours.min


def test_hlog_is_readable_by_python_hdrh(tmp_path: Path) -> None:
    t = _native.LatencyTracker(["rx", "tx"], T0)
    t.record_many("rx", [1_000] * 10)
    t.record("tx", 2_000)
    first = t.end_interval(T0 + 1_000_000_000)
    assert first["rx"].count == 10
    t.record_many("rx", [5_000] * 3)
    second = t.end_interval(T0 + 2_000_000_000)
    assert second["rx"].count == 3 and second["tx"].count == 0

    path = tmp_path / "latency.hlog"
    path.write_text(t.hlog())
    reader = HistogramLogReader(str(path), HdrHistogram(1, 60_000_000_000, 3))
    got = []
    try:
        while (h := reader.get_next_interval_histogram()) is not None:
            got.append((h.get_tag(), h.get_total_count()))
    finally:
        reader.close()
    assert got == [("rx", 10), ("tx", 1), ("rx", 3), ("tx", 0)]
    assert reader.get_start_time_sec() == pytest.approx(T0 / 1e9)
