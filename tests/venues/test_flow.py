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


def test_the_flow_sleeps_until_its_next_event_not_a_fixed_interval():
    """The server's flow loop wakes when the generator's next event is due (drawn ahead), so a fill
    the flow causes is published when it happens; a client request wakes it to re-read the time."""
    now = [1_700_000_000_000_000_000]
    v = SimVenue(SimVenueConfig(flow=FlowConfig(seed=3)), clock_ns=lambda: now[0])
    flow = v.flow
    assert flow is not None
    for i in range(100):
        due = v.exchange.next_event_ns()
        assert due is not None and due >= now[0]
        assert flow.wait_s() == min((due - now[0]) / 1e9, flow.config.interval_s)
        if due - now[0] < flow.config.interval_s * 1e9:
            now[0] = due - 1
            assert flow.step() == 0, f"step {i}: an event before it was due"
            now[0] = due + 1
            assert flow.step() >= 1, f"step {i}: no event when it was due"
        else:
            now[0] += int(flow.config.interval_s * 1e9)
            flow.step()
        v.exchange.check_invariants()
