"""The seeded market-flow generator (Rust, driven by the venue's clock): deterministic, and it never breaks
the venue's invariants."""

from __future__ import annotations

import itertools

import pytest

from pymm.venues.sim import FlowConfig, SimVenue, SimVenueConfig


def _venue(seed: int) -> SimVenue:
    ticks = itertools.count(1_700_000_000_000_000_000, 100_000_000)  # 100 ms per clock read
    return SimVenue(SimVenueConfig(flow=FlowConfig(seed=seed)), clock_ns=lambda: next(ticks))


def _run(seed: int, steps: int) -> list:
    v = _venue(seed)
    assert v.flow is not None
    seen = []
    v.hub.publish = lambda stream, payload: seen.append((stream, payload))  # type: ignore[method-assign]
    for _ in range(steps):
        v.flow.step()
        v.exchange.check_invariants()
        bid, ask = v.exchange.top("DOGEUSDT") or (None, None)
        assert bid is not None and ask is not None and float(bid) < float(ask)
    return seen


def test_same_seed_same_market():
    a, b = _run(5, 50), _run(5, 50)
    assert a == b and any(s == "dogeusdt@trade" for s, _ in a)
    assert _run(6, 50) != a


@pytest.mark.slow
def test_soak_invariants_hold():
    events = _run(11, 5_000)
    depth = [p for s, p in events if s == "dogeusdt@depth"]
    for prev, cur in itertools.pairwise(depth):
        assert cur["U"] == prev["u"] + 1
