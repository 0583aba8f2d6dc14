"""The native engine (``pymm._native.Engine``) trading live against the simulated venue.

Everything here is real: the venue runs in-process on its own asyncio loop thread with a seeded
liquidity provider and taker flow; the engine connects over loopback WebSocket/HTTP, logs on with
Ed25519, subscribes to the user stream, quotes, gets filled, and is compared with the venue's own
books and accounts. Fault-matrix rows: 10 (late -1007), 11 (client ids never reused), 15 (order
connection dropped), 17 (venue rate limit), 18 (a silent feed: new orders denied as stale), 21 (kill
switch).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from pymm._native import Engine
from pymm.events import EVENT_DTYPE, EventKind
from pymm.venues.sim import ApiKey, FlowConfig, SimVenueConfig
from tests.venues._harness import Venue, run_venue

ed = pytest.importorskip("cryptography.hazmat.primitives.asymmetric.ed25519")
ser = pytest.importorskip("cryptography.hazmat.primitives.serialization")

INSTRUMENT = Path(__file__).resolve().parents[1] / "config" / "instruments" / "DOGEUSDT.spot.toml"
ACCOUNT = 1
START = {"USDT": Decimal("10000"), "DOGE": Decimal("100000")}

QUOTING = {
    "enabled": 1,
    "anchor": 2,  # mid
    "half_spread_mt": 1000,  # one tick: join the touch
    "levels": 3,
    "level_spacing_ticks": 1,
    "size_lots": 100,
    "max_inventory_lots": 5000,
    "requote_ticks": 2,
    "post_only": 1,
}


def _keypair() -> tuple[str, str]:
    private = ed.Ed25519PrivateKey.generate()
    priv_pem = private.private_bytes(ser.Encoding.PEM, ser.PrivateFormat.PKCS8, ser.NoEncryption()).decode()
    public = private.public_key()
    pub_pem = public.public_bytes(ser.Encoding.PEM, ser.PublicFormat.SubjectPublicKeyInfo).decode()
    return priv_pem, pub_pem


@pytest.fixture(scope="module")
def keypair() -> tuple[str, str]:
    return _keypair()


def _venue(pub_pem: str, **cfg: Any) -> Iterator[Venue]:
    key = ApiKey(api_key="engine-test-key", account=ACCOUNT, ed25519_public_key=pub_pem)
    flow = cfg.pop("flow", FlowConfig(seed=11, interval_s=0.1))
    yield from run_venue(SimVenueConfig(keys=[key], flow=flow, **cfg))


@contextlib.contextmanager
def venue_ctx(pub_pem: str, **cfg: Any) -> Iterator[Venue]:
    """A venue for one test with its own settings."""
    yield from _venue(pub_pem, **cfg)


@pytest.fixture
def venue(keypair: tuple[str, str]) -> Iterator[Venue]:
    yield from _venue(keypair[1])


def engine_config(venue: Venue, priv_pem: str, tmp: Path, **over: Any) -> dict[str, Any]:
    risk = {
        "max_order_qty": "1000",
        "max_order_notional": "1000",
        "price_collar_bps": 500,
        "max_long": "20000",
        "max_short": "20000",
        "max_position_notional": "100000",
        "max_open_orders": 40,
        "venue_orders_per_second": 8,
        "venue_orders_burst": 40,
    }
    risk.update(over.pop("risk", {}))
    cfg = {
        "market_ws": venue.ws + "/ws",
        "rest": venue.url,
        "ws_api": venue.ws + "/ws-api/v3",
        "api_key": venue.key.api_key,
        "ed25519_private_pem": priv_pem,
        "instrument": str(INSTRUMENT),
        "risk": risk,
        "client_id_file": str(tmp / "client_ids"),
        "client_prefix": "pm",
        "order_timeout_ms": 2000,
    }
    cfg.update(over)
    return cfg


def on_loop(venue: Venue, fn: Callable[[], Any]) -> Any:
    """Runs ``fn`` on the venue's loop thread (the exchange is not thread-safe)."""

    async def call() -> Any:
        return fn()

    return asyncio.run_coroutine_threadsafe(call(), venue.loop).result(timeout=10)


def open_orders(venue: Venue) -> list[dict[str, Any]]:
    ex = venue.running.venue.exchange
    status, body = on_loop(venue, lambda: ex.open_orders(ACCOUNT, {"symbol": "DOGEUSDT"}))
    assert status == 200, body
    return list(body)


def all_orders(venue: Venue) -> list[dict[str, Any]]:
    ex = venue.running.venue.exchange
    status, body = on_loop(venue, lambda: ex.all_orders(ACCOUNT, {"symbol": "DOGEUSDT", "limit": "1000"}))
    assert status == 200, body
    return list(body)


def balances(venue: Venue) -> dict[str, Decimal]:
    """The venue's ``account.status`` balances (free + locked)."""
    v = venue.running.venue
    status, body = on_loop(venue, lambda: v.exchange.account(ACCOUNT, {}, v.now_ns()))
    assert status == 200, body
    return {b["asset"]: Decimal(b["free"]) + Decimal(b["locked"]) for b in body["balances"]}


def wait_for(pred: Callable[[], bool], timeout: float, what: str) -> float:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.01)
    return time.monotonic() - t0


def quoting_both_sides(venue: Venue, levels: int = 2) -> bool:
    oo = [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")]
    return sum(o["side"] == "BUY" for o in oo) >= levels and sum(o["side"] == "SELL" for o in oo) >= levels


def mine(venue: Venue) -> list[dict[str, Any]]:
    """Our open orders at the venue."""
    return [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")]


def quiesce(engine: Engine, venue: Venue) -> None:
    """Kill (cancel all), then wait until the venue has nothing open and the engine saw it all."""
    assert engine.kill("test quiesce", timeout_s=2.0)
    wait_for(lambda: not mine(venue), 5, "no open orders")
    wait_for(lambda: engine.status()["orders"]["working"] == 0, 5, "the engine to see every order done")
    time.sleep(0.3)  # late user-stream reports


def assert_account_matches(engine: Engine, venue: Venue, *, fees_exact: bool = True) -> dict[str, Any]:
    st = engine.status()
    bal = balances(venue)
    base = bal["DOGE"] - START["DOGE"]
    quote = bal["USDT"] - START["USDT"]
    assert Decimal(st["position"]) == Decimal(st["position_lots"])  # lot size 1
    if fees_exact:
        assert Decimal(st["balance_change"]["base"]) == base, (st, bal)
        assert Decimal(st["balance_change"]["quote"]) == quote, (st, bal)
    # Position in lots counts fills gross of base commissions.
    gross_base = base + Decimal(st["fees"]["base"])
    assert Decimal(st["position"]) == gross_base, (st, bal)
    return st


def test_quotes_two_sided_gets_filled_and_reconciles_exactly(venue: Venue, keypair, tmp_path) -> None:
    engine = Engine(engine_config(venue, keypair[0], tmp_path, journal_dir=str(tmp_path / "journal")))
    engine.push_params(QUOTING)
    t0 = time.monotonic()
    engine.start()
    try:
        wait_for(lambda: quoting_both_sides(venue, 2), 10, "two-sided quotes on at least two levels")
        t_quote = time.monotonic() - t0
        st = engine.status()
        assert st["state"] == "quoting", st
        assert st["order_session"] and st["market_data"] and not st["stale"]
        wait_for(lambda: engine.status()["orders"]["fills"] >= 3, 10 - (time.monotonic() - t0) + 20, "fills")
        t_fill = time.monotonic() - t0
        ev = engine.poll_events()
        assert ev.dtype == EVENT_DTYPE
        kinds = set(np.unique(ev["kind"]).tolist())
        assert {EventKind.TOP_OF_BOOK, EventKind.ORDER_ACCEPTED, EventKind.ORDER_FILLED} <= kinds
        quiesce(engine, venue)
        st = assert_account_matches(engine, venue)
        assert st["orders"]["fills_without_fee"] == 0
        assert st["counters"]["http_418"] == 0
        lat = st["latency_ns"]["tick_to_trade"]
        assert lat["count"] > 0
        print(
            f"\nfirst two-sided quotes after {t_quote:.2f} s, 3 fills after {t_fill:.2f} s; "
            f"fills={st['orders']['fills']} position={st['position']} "
            f"base={st['balance_change']['base']} quote={st['balance_change']['quote']}; "
            f"tick-to-trade p50={lat['p50']} ns p99={lat['p99']} ns (n={lat['count']})"
        )
    finally:
        assert engine.stop(5.0)
    assert not engine.running
    # The journal holds every input.
    journal = list((tmp_path / "journal").iterdir())
    assert journal


def partially_filled(venue: Venue) -> list[dict[str, Any]]:
    """Our orders (any status) filled only in part so far."""
    out = []
    for o in all_orders(venue):
        if not o["clientOrderId"].startswith("pm"):
            continue
        done = Decimal(o["executedQty"])
        if 0 < done < Decimal(o["origQty"]):
            out.append(o)
    return out


def test_partial_fills_position_equals_the_venue_account(venue: Venue, keypair, tmp_path) -> None:
    """Regression: with the default quote size (500) the seeded flow fills quotes in parts (odd
    lots, so 9-place commissions before the venue rounded them); every partial fill must reach the
    engine's position and balances on the user stream itself (no decode error, no fill learned
    late from order.status), equal to the venue's account exactly."""
    engine = Engine(engine_config(venue, keypair[0], tmp_path, order_timeout_ms=5000))
    engine.push_params(QUOTING | {"size_lots": 500, "requote_ticks": 1, "max_inventory_lots": 10000})
    engine.start()
    try:
        wait_for(lambda: len(partially_filled(venue)) >= 2, 90, "two partially filled quotes")
        quiesce(engine, venue)
        st = assert_account_matches(engine, venue)
        print(
            f"\npartial fills: {len(partially_filled(venue))} orders; fills={st['orders']['fills']} "
            f"position={st['position']} decode_errors={st['counters']['decode_errors']}"
        )
        assert st["counters"]["decode_errors"] == 0
        assert st["orders"]["fills_without_fee"] == 0
        assert st["orders"]["untracked_fills"] == 0
    finally:
        assert engine.stop(5.0)


def test_kill_leaves_zero_open_orders_then_lift_requotes(venue: Venue, keypair, tmp_path) -> None:
    """Fault-matrix row 21: kill → zero open orders at the venue (measured), latched until lifted."""
    engine = Engine(engine_config(venue, keypair[0], tmp_path))
    engine.push_params(QUOTING)
    engine.start()
    try:
        wait_for(lambda: quoting_both_sides(venue, 3), 10, "three levels a side")
        t0 = time.perf_counter()
        confirmed = engine.kill("operator test")
        t_confirm = time.perf_counter() - t0
        mine = [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")]
        t_zero = time.perf_counter() - t0
        print(
            f"\nkill: venue confirmed cancel-all after {t_confirm * 1e3:.2f} ms; "
            f"zero open orders seen at {t_zero * 1e3:.2f} ms"
        )
        assert confirmed
        assert mine == []
        assert t_zero < 0.050, f"{t_zero * 1e3:.1f} ms"
        st = engine.status()
        assert st["kill"]["latched"] and st["kill"]["reason"] == "operator test"
        assert st["state"] == "killed"
        time.sleep(0.5)  # latched: no new orders while the market moves
        assert [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")] == []
        assert EventKind.KILL in set(engine.poll_events()["kind"].tolist())
        engine.lift()
        wait_for(lambda: quoting_both_sides(venue, 2), 10, "quotes after lift")
    finally:
        assert engine.stop(5.0)
    assert [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")] == []


def test_order_connection_drop_unknown_reconcile_requote(venue: Venue, keypair, tmp_path) -> None:
    """Fault-matrix rows 15 and 11: drop → every working order UNKNOWN → reconnect → reconcile →
    quote again; no duplicate orders; a restarted engine never reuses a client id."""
    engine = Engine(engine_config(venue, keypair[0], tmp_path))
    engine.push_params(QUOTING)
    engine.start()
    try:
        wait_for(lambda: quoting_both_sides(venue, 3), 10, "quotes")
        # The status snapshot is published every few ms and can lag what the venue already shows.
        wait_for(lambda: engine.status()["orders"]["working"] > 0, 10, "working orders in the status")
        before = engine.status()
        drop = venue.running.venue.user_hub.drop_all()
        dropped = asyncio.run_coroutine_threadsafe(drop, venue.loop).result(5)
        assert dropped == 1
        wait_for(lambda: engine.status()["counters"]["order_connects"] >= 2, 10, "a reconnect")
        wait_for(lambda: engine.status()["counters"]["reconciles"] >= 2, 10, "a second reconciliation")
        st = engine.status()
        assert st["orders"]["unknown_total"] >= before["orders"]["working"] > 0
        wait_for(lambda: quoting_both_sides(venue, 2), 10, "quotes after the reconnect")
        wait_for(lambda: engine.status()["orders"]["unknown"] == 0, 10, "every UNKNOWN resolved")
        oo = [o for o in open_orders(venue) if o["clientOrderId"].startswith("pm")]
        assert len(oo) <= 2 * QUOTING["levels"] + 2, oo
        quiesce(engine, venue)
        assert_account_matches(engine, venue, fees_exact=engine.status()["orders"]["fills_without_fee"] == 0)
    finally:
        assert engine.stop(5.0)
    first_ids = {o["clientOrderId"] for o in all_orders(venue)}
    # Restart with the same id file: new ids only (row 11: an intent's id is never sent again).
    engine2 = Engine(engine_config(venue, keypair[0], tmp_path))
    engine2.push_params(QUOTING)
    engine2.start()
    try:
        wait_for(lambda: quoting_both_sides(venue, 2), 10, "quotes from the restarted engine")
    finally:
        assert engine2.stop(5.0)
    ids = [o["clientOrderId"] for o in all_orders(venue)]
    assert len(ids) == len(set(ids)), "a client order id reached the venue twice"
    second = set(ids) - first_ids
    assert second and min(int(i[2:]) for i in second) > max(int(i[2:]) for i in first_ids)


def test_silent_feed_new_orders_denied_as_stale_reference(keypair, tmp_path) -> None:
    """Fault-matrix row 18, "stop the feed, then submit": the venue's market flow is stopped, so the
    market stream goes silent; a parameter push that re-prices every quote after
    ``max_reference_age_ms`` is denied by pre-trade risk as ``stale_reference`` before anything is
    sent (the collar's reference is the top as of the feed's last word, not of the push)."""
    with venue_ctx(keypair[1]) as venue:
        engine = Engine(engine_config(venue, keypair[0], tmp_path, risk={"max_reference_age_ms": 300}))
        engine.push_params(QUOTING)
        engine.start()
        try:
            wait_for(lambda: quoting_both_sides(venue, 2), 10, "two-sided quotes")
            task = venue.running.flow_task
            assert task is not None
            on_loop(venue, task.cancel)
            wait_for(task.done, 5, "the venue's flow to stop")
            # The scenario is the silence itself: longer than the reference age.
            time.sleep(1.0)
            engine.poll_events()
            denied = engine.status()["orders"]["denied"]
            engine.push_params(QUOTING | {"half_spread_mt": 6000})  # every quote moves 5 ticks

            def stale_denials() -> int:
                ev = engine.poll_events()
                return int(np.count_nonzero((ev["kind"] == EventKind.ORDER_DENIED) & (ev["aux"] == 5)))

            seen = 0

            def any_stale() -> bool:
                nonlocal seen
                seen += stale_denials()
                return seen > 0

            wait_for(any_stale, 5, "a stale_reference denial")
            # The status snapshot is published every few ms: it may lag the event ring.
            wait_for(lambda: engine.status()["orders"]["denied"] > denied, 5, "the denial in the status")
        finally:
            assert engine.stop(5.0)


def test_late_minus_1007_one_venue_order_and_correct_position(keypair, tmp_path) -> None:
    """Fault-matrix row 10: the venue executes the order (it rests, reports NEW on the user stream),
    then answers -1007 → UNKNOWN, reserved, never resent, resolved by the user stream (fill) or
    order.status; exactly one venue order per client id; position and balances equal the venue's."""
    with venue_ctx(keypair[1]) as venue:
        faults = venue.running.venue.ws_faults
        faults.unknown_replies = 2
        faults.reply_delay_s = 0.0  # right after the execution (NEW is already on the user stream)
        engine = Engine(engine_config(venue, keypair[0], tmp_path))
        # One level a side that stays put (no replaces), so the market walks into it.
        engine.push_params(QUOTING | {"levels": 1, "requote_ticks": 1000})
        engine.start()
        try:
            wait_for(lambda: engine.status()["orders"]["unknown_total"] >= 2, 10, "two UNKNOWN orders")
            assert faults.unknown_replies == 0
            wait_for(lambda: engine.status()["orders"]["unknown"] == 0, 10, "UNKNOWN resolved")
            wait_for(lambda: engine.status()["orders"]["fills"] >= 1, 60, "a fill")
            ids = [o["clientOrderId"] for o in all_orders(venue)]
            assert len(ids) == len(set(ids))
            # The two orders answered -1007 (the first two ids) exist exactly once each.
            assert ids.count("pm1") == 1 and ids.count("pm2") == 1, ids
            quiesce(engine, venue)
            assert_account_matches(engine, venue)
        finally:
            assert engine.stop(5.0)


def test_venue_rate_limit_internal_throttle_trips_first(keypair, tmp_path) -> None:
    """Fault-matrix row 17: our throttle (fed by the venue's rateLimits) refuses orders before the
    venue's limit; zero 418s (and zero 429s)."""
    with venue_ctx(keypair[1], orders_per_10s=50, flow=FlowConfig(seed=5, interval_s=0.05)) as venue:
        # A careless budget (50/s) and requoting on every tick: only the venue-usage guard holds.
        cfg = engine_config(
            venue, keypair[0], tmp_path, risk={"venue_orders_per_second": 50, "venue_orders_burst": 50}
        )
        engine = Engine(cfg)
        engine.push_params(QUOTING | {"requote_ticks": 0, "levels": 4})
        engine.start()
        try:
            wait_for(lambda: engine.status()["orders"]["rate_denied"] > 0, 20, "internal rate denials")
            time.sleep(3)
            st = engine.status()
        finally:
            assert engine.stop(5.0)
        faults = venue.running.venue.ws_faults
        print(
            f"\nrate: internal denials={st['orders']['rate_denied']} venue 429={faults.rate_429} "
            f"418={faults.rate_418} venue ORDERS/10s={st['counters']['venue_orders_10s']}"
            f"/{st['counters']['venue_orders_10s_limit']}"
        )
        assert faults.rate_418 == 0
        assert faults.rate_429 == 0
        assert st["counters"]["http_418"] == 0


def test_bad_configs_are_refused(tmp_path) -> None:
    priv, _ = _keypair()
    base = {
        "market_ws": "ws://127.0.0.1:1/ws",
        "rest": "http://127.0.0.1:1",
        "ws_api": "ws://127.0.0.1:1/ws-api/v3",
        "api_key": "k",
        "ed25519_private_pem": priv,
        "instrument": str(INSTRUMENT),
        "risk": {
            "max_order_qty": "1",
            "max_order_notional": "1",
            "price_collar_bps": 1,
            "max_long": "1",
            "max_short": "1",
            "max_position_notional": "1",
            "max_open_orders": 1,
        },
        "client_id_file": str(tmp_path / "ids"),
        "client_prefix": "pm",
    }
    Engine(base)  # valid
    for bad, msg in [
        ({"hmac_secret": "x", "ed25519_private_pem": None}, "Ed25519"),
        ({"ed25519_private_pem": "not a pem"}, "ed25519_private_pem"),
        ({"client_prefix": "waytoolongprefix"}, "client_prefix"),
        ({"risk": {**base["risk"], "max_order_qty": "0.5"}}, "max_order_qty"),
        ({"bogus": 1}, "bogus"),
    ]:
        cfg = {k: v for k, v in (base | bad).items() if v is not None}
        with pytest.raises(ValueError, match=msg):
            Engine(cfg)
    e = Engine(base)
    with pytest.raises(ValueError, match="unknown quote parameter"):
        e.push_params({"nope": 1})
    assert e.push_params({"levels": 2}) == 1
    assert e.status()["state"] == "created"
    with pytest.raises(RuntimeError):
        e.kill("not started")
