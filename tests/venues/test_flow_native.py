"""The Rust flow through the binding: market-data latency keeps content and order, order-entry delays
are seeded, and a Binance capture replays into the venue's book with a client order queued in it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pymm._native import InstrumentMaster, SimExchange
from pymm.venues.sim.flow import replay_symbol

REPO = Path(__file__).resolve().parents[2]
T0 = 1_700_000_000_000_000_000
SEC = 1_000_000_000


def _exchange(symbol: str = "DOGEUSDT") -> SimExchange:
    return SimExchange(InstrumentMaster.from_toml(REPO / f"config/instruments/{symbol}.spot.toml"))


def _flow(ex: SimExchange) -> None:
    ex.attach_flow((REPO / "config/flow/DOGEUSDT.toml").read_text(), 4, T0)


def test_market_data_latency_delays_but_keeps_everything_in_order() -> None:
    plain, late = _exchange(), _exchange()
    late.set_latency(0, 20_000_000, 1, None, ("exponential", 5_000_000.0, 0.0))
    _flow(plain)
    _flow(late)
    want, got = [], []
    for i in range(1, 51):
        now = T0 + i * SEC // 10
        plain.advance(now)
        late.advance(now)
        want += [e for e in plain.drain_events() if isinstance(e[0], str)]
        got += [e for e in late.drain_events(now) if isinstance(e[0], str)]
    assert len(got) < len(want)  # the last ~20 ms are still on their way
    got += [e for e in late.drain_events(T0 + 60 * SEC) if isinstance(e[0], str)]
    assert got == want and len(want) > 100


def test_order_entry_delay_is_seeded_and_bounded() -> None:
    a, b = _exchange(), _exchange()
    for ex in (a, b):
        ex.set_latency(1_000, 0, 3, ("uniform", 500.0, 0.0), None)
    da = [a.entry_delay_ns() for _ in range(200)]
    assert da == [b.entry_delay_ns() for _ in range(200)]
    assert all(1_000 <= d <= 1_500 for d in da) and len(set(da)) > 50
    with pytest.raises(Exception, match="unknown jitter"):
        a.set_latency(0, 0, 0, ("gaussian", 1.0, 0.0), None)


def test_flow_gives_a_touch_quote_fills() -> None:
    ex = _exchange()
    _flow(ex)
    ex.deposit(1, "USDT", "100000")
    filled = 0
    order = None
    for i in range(1, 3001):
        now = T0 + i * SEC // 10
        ex.advance(now)
        if order is None or ex.queue_ahead("DOGEUSDT", order) is None:
            if order is not None:
                _, o = ex.query_order(1, {"symbol": "DOGEUSDT", "orderId": str(order)})
                filled += float(o["executedQty"]) > 0
            bid, _ = ex.top("DOGEUSDT") or (None, None)
            assert bid is not None
            status, body = ex.new_order(
                1,
                {
                    "symbol": "DOGEUSDT",
                    "side": "BUY",
                    "type": "LIMIT",
                    "timeInForce": "GTC",
                    "price": bid,
                    "quantity": "100",
                },
                now,
            )
            assert status == 200, body
            order = body["orderId"]
    assert filled >= 1, "a bid rejoining the touch for 300 simulated seconds was never filled"
    ex.check_invariants()


@pytest.mark.data
def test_binance_capture_replays_into_the_book(data_dir: Path) -> None:
    cap = data_dir / "binance_hftbacktest_btc_2024-08-08"
    files = [cap / "spot_btcusdt_20240808.gz", cap / "spot_btcusdt_20240809.gz"]
    assert replay_symbol(files[0]) == "BTCUSDT"
    ex = _exchange("BTCUSDT")
    ex.attach_replay([str(f) for f in files], "binance", "BTCUSDT", T0, "power3")
    ex.advance(T0 + 10 * SEC)
    bid, ask = ex.top("BTCUSDT") or (None, None)
    assert bid is not None and ask is not None and float(bid) < float(ask)
    ex.deposit(1, "USDT", "1000000")
    status, body = ex.new_order(
        1,
        {
            "symbol": "BTCUSDT",
            "side": "BUY",
            "type": "LIMIT",
            "timeInForce": "GTC",
            "price": bid,
            "quantity": "0.01",
        },
        T0 + 10 * SEC,
    )
    assert status == 200, body
    assert (ex.queue_ahead("BTCUSDT", body["orderId"]) or 0) > 0  # behind the recorded touch
    ex.advance(T0 + 700 * SEC)
    stats = ex.replay_stats()
    assert stats is not None and stats["done"] == 1 and stats["events"] > 50_000 and stats["rejects"] == 0
    ex.check_invariants()
