"""The pymm configuration: one TOML file, validated by pydantic, refused with the field path and reason.

Unknown keys are errors (a typo must never silently fall back to a default), and every limit that
risk depends on has no default: a missing limit refuses the file rather than running unbounded.
"""

from __future__ import annotations

import ipaddress
import tomllib
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from pymm.errors import ConfigError

__all__ = [
    "DEFAULT_CONFIG",
    "Config",
    "ControlConfig",
    "EngineConfig",
    "HedgeConfig",
    "InstrumentRef",
    "ItchConfig",
    "MetricsConfig",
    "OperatorConfig",
    "QuotingConfig",
    "RiskConfig",
    "StateConfig",
    "VenueConfig",
    "VenueKind",
    "load_config",
    "parse_cores",
]

# The default config ships in the source tree's `config/` (an editable install, as the README's
# quick start does); `PYMM_CONFIG` or `--config` point elsewhere.
DEFAULT_CONFIG = Path(__file__).resolve().parent.parent / "config" / "default.toml"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def parse_cores(spec: str) -> tuple[int, ...]:
    """Parse a core list such as ``"2-5"``, ``"1"`` or ``"2,4-5"`` into sorted unique core ids."""
    cores: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        if not part:
            raise ValueError(f"empty element in core list {spec!r}")
        lo, sep, hi = part.partition("-")
        try:
            first, last = int(lo), int(hi) if sep else int(lo)
        except ValueError:
            raise ValueError(f"{part!r} is not a core number or range") from None
        if first < 0 or last < first:
            raise ValueError(f"bad core range {part!r}")
        cores.update(range(first, last + 1))
    return tuple(sorted(cores))


class VenueKind(StrEnum):
    """Where orders go: the embedded simulated venue, Binance's testnet, or Binance itself."""

    SIM = "sim"
    BINANCE_TESTNET = "binance-testnet"
    BINANCE = "binance"


class EngineConfig(_Strict):
    """Thread layout of the native engine."""

    cores: str | None = Field(
        default=None, description="cores for the hot threads, e.g. '2-5'; default: sized to the machine"
    )
    sched_fifo: bool = Field(default=False, description="run hot threads under SCHED_FIFO")
    mlockall: bool = Field(default=True, description="lock the process's memory to avoid page faults")

    @field_validator("cores")
    @classmethod
    def _check_cores(cls, v: str | None) -> str | None:
        if v is not None:
            parse_cores(v)
        return v


class VenueConfig(_Strict):
    """One venue session."""

    kind: VenueKind = VenueKind.SIM
    name: Annotated[str, Field(min_length=1, pattern=r"^[a-z0-9_-]+$")]
    api_key_env: str | None = Field(default=None, description="environment variable holding the API key")


class InstrumentRef(_Strict):
    """An instrument to trade, from a venue's instrument definitions."""

    venue: str
    symbol: Annotated[str, Field(min_length=1, pattern=r"^[A-Z0-9_]+$")]
    market: Annotated[str, Field(pattern=r"^(spot|usdm)$")]
    definition: Path = Field(description="TOML or Binance exchangeInfo JSON defining the instrument")


class MetricsConfig(_Strict):
    """The Prometheus exporter."""

    bind: str = "127.0.0.1"
    port: Annotated[int, Field(ge=0, le=65535)] = 9464


class StateConfig(_Strict):
    """Where the running instance keeps what must survive it (ADR 0005)."""

    dir: Path = Field(
        default=Path("var/pymm"),
        description="state directory: API key, client-id mark, kill latch, approvals, journal, run.json; "
        "relative paths resolve against the working directory",
    )


class ControlConfig(_Strict):
    """The control API (`pymm status/kill/stop/approve`, the dashboard)."""

    bind: str = Field(default="127.0.0.1", description="listen address; loopback unless you mean it")
    port: Annotated[int, Field(ge=0, le=65535)] = Field(default=8790, description="0: ephemeral")


class OperatorConfig(_Strict):
    """A person allowed to approve lifting the kill latch; two distinct ones must approve."""

    name: Annotated[str, Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")]
    public_key: Annotated[str, Field(min_length=40)] = Field(
        description="Ed25519 public key: PEM text or the raw 32 bytes in base64 (`pymm operator keygen`)"
    )


class RiskConfig(_Strict):
    """Pre-trade limits of every quoting session. No limit has a default: a missing one refuses the file.

    Quantities are base units and notionals quote units, as decimal strings (``"5000"``).
    """

    max_order_qty: Annotated[Decimal, Field(gt=0)]
    max_order_notional: Annotated[Decimal, Field(gt=0)]
    max_position_qty: Annotated[Decimal, Field(gt=0)] = Field(
        description="largest |position| counting working and UNKNOWN orders as filled"
    )
    max_position_notional: Annotated[Decimal, Field(gt=0)]
    price_collar_bps: Annotated[int, Field(gt=0, le=5000)]
    max_reference_age_ms: Annotated[int, Field(gt=0)]
    max_open_orders: Annotated[int, Field(gt=0, le=256)]
    duplicate_window_ms: Annotated[int, Field(ge=0)]
    max_fills_in_window: Annotated[int, Field(gt=0, le=256)]
    fill_window_ms: Annotated[int, Field(gt=0)]
    venue_orders_burst: Annotated[int, Field(gt=0, le=1_000_000_000)]  # the engine's bucket holds up to 1e9
    venue_orders_per_second: Annotated[int, Field(gt=0)]
    messages_burst: Annotated[int, Field(gt=0, le=1_000_000_000)]  # the engine's bucket holds up to 1e9
    messages_per_second: Annotated[int, Field(gt=0)]
    order_timeout_ms: Annotated[int, Field(gt=0)] = Field(
        default=2000, description="no answer within this: the order is UNKNOWN (reserved, never resent)"
    )
    max_loss: Annotated[Decimal, Field(gt=0)] = Field(
        description="quote units; total PnL below minus this latches the kill switch (metric-triggered kill)"
    )
    reconcile_break_ms: Annotated[int, Field(gt=0)] = Field(
        default=2000,
        description="engine and drop-copy positions disagreeing this long latches the kill switch",
    )


class QuotingConfig(_Strict):
    """What the pricing manager asks of the quoter, and how often it says so (docs/pricing.md)."""

    model: Literal["glft", "avellaneda_stoikov"] = "glft"
    gamma: Annotated[float, Field(gt=0)] = Field(default=0.05, description="risk aversion, per tick")
    order_size: Annotated[Decimal, Field(gt=0)] = Field(description="size of each quote, base units")
    max_inventory: Annotated[Decimal, Field(gt=0)] = Field(description="base units; the skew saturates here")
    levels: Annotated[int, Field(ge=1, le=8)] = 3
    level_spacing_ticks: Annotated[int, Field(ge=1)] = 1
    min_half_spread_ticks: Annotated[int, Field(ge=1)] = Field(
        default=1, description="never quote closer than this to the fair value"
    )
    requote_ticks: Annotated[int, Field(ge=0)] = Field(
        default=1, description="keep a resting quote (and its queue place) until it is this far off"
    )
    order_ttl_ms: Annotated[int, Field(ge=0)] = Field(default=0, description="0: quotes do not expire")
    post_only: bool = True
    fair_value: Literal["mid", "micro"] = "micro"
    push_hz: Annotated[float, Field(ge=10, le=100)] = Field(
        default=20, description="parameter pushes to the engine per second (10-100)"
    )


class HedgeConfig(_Strict):
    """S5 delta hedging of the spot inventory on the USD-M perpetual (docs/hedging.md).

    Bands are quote notionals (USDT) of the net delta at the perp's mid. The two risk limits,
    ``max_order_qty`` and ``max_position_qty``, have no default: a hedge section without them is refused.
    Decimals are best written as TOML strings (``collar_bps = "20"``).
    """

    hedge_venue: Annotated[str, Field(min_length=1)] = Field(
        default="binance-usdm", description="venue whose usdm instrument hedges the spot delta"
    )
    no_trade_band: Annotated[Decimal, Field(ge=0)] = Field(
        default=Decimal(10), description="USDT; |delta| at or below this is not hedged"
    )
    active_band: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(150), description="USDT; above this, hedge with collared IOC at once"
    )
    hard_band: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(1500), description="USDT; above this, emergency (wider collar, stop adding risk)"
    )
    passive_timeout_ms: Annotated[int, Field(ge=0)] = Field(
        default=2000, description="outside the no-trade band this long with passive orders: go active"
    )
    improve_ticks: Annotated[int, Field(ge=0)] = Field(
        default=0, description="passive orders step this many ticks inside the touch when there is room"
    )
    requote_ticks: Annotated[int, Field(ge=0)] | None = Field(
        default=3, description="cancel and re-place a resting passive hedge left this many ticks behind"
    )
    collar_bps: Annotated[Decimal, Field(gt=0, le=500)] = Field(
        default=Decimal(20), description="active IOC limit at most this far through the perp mid"
    )
    emergency_collar_bps: Annotated[Decimal, Field(gt=0, le=500)] = Field(
        default=Decimal(50), description="the collar in emergency mode"
    )
    max_order_qty: Annotated[Decimal, Field(gt=0)] = Field(description="largest hedge order, base units")
    max_position_qty: Annotated[Decimal, Field(gt=0)] = Field(
        description="largest |perp position| a hedge may leave, base units"
    )
    max_orders_per_s: Annotated[Decimal, Field(gt=0)] = Field(
        default=Decimal(5), description="sustained hedge order rate (token bucket on event time)"
    )
    burst: Annotated[int, Field(ge=1)] = Field(default=10, description="hedge orders allowed back to back")
    funding_window_s: Annotated[int, Field(ge=0)] = Field(
        default=60, description="before a funding time, do not grow a position on the paying side"
    )
    stale_after_ms: Annotated[int, Field(gt=0)] = Field(
        default=1000, description="perp market data older than this is stale: no hedging"
    )
    margin_type: Literal["CROSSED", "ISOLATED"] = Field(
        default="CROSSED", description="USD-M margin type set and verified at start"
    )
    leverage: Literal[1] = Field(default=1, description="USD-M leverage; only 1 is accepted")
    gateway: Literal["native", "python"] = Field(
        default="python",
        description=(
            "hedge order path: the native USD-M gateway (pre-trade risk, persisted client ids, UNKNOWN"
            " resolved by its own user stream or queries) or the Python loop sender"
        ),
    )
    max_order_notional: Annotated[Decimal, Field(gt=0)] | None = Field(
        default=None,
        description="native gateway: largest order notional, USDT (default: max_order_qty at 2x start mark)",
    )
    max_position_notional: Annotated[Decimal, Field(gt=0)] | None = Field(
        default=None,
        description=(
            "native gateway: largest position notional, USDT (default: max_position_qty at 2x the start mark)"
        ),
    )
    gateway_request_timeout_ms: Annotated[int, Field(ge=100, le=60_000)] = Field(
        default=5000, description="native gateway: no answer within this long makes an order UNKNOWN"
    )

    @model_validator(mode="after")
    def _ordered_bands(self) -> HedgeConfig:
        if not (self.no_trade_band < self.active_band < self.hard_band):
            raise ValueError(
                "need no_trade_band < active_band < hard_band, "
                f"got {self.no_trade_band}, {self.active_band}, {self.hard_band}"
            )
        return self


def _ipv4_port(v: str, *, multicast: bool) -> str:
    """``ip:port`` with an IPv4 address (a multicast group when ``multicast``); the port may be 0."""
    host, sep, port = v.rpartition(":")
    if not sep:
        raise ValueError(f"{v!r} is not ip:port")
    try:
        ip = ipaddress.IPv4Address(host)
    except ValueError:
        raise ValueError(f"{host!r} is not an IPv4 address") from None
    if multicast and not ip.is_multicast:
        raise ValueError(f"{host} is not a multicast group (224.0.0.0/4)")
    if not multicast and ip.is_multicast:
        raise ValueError(f"{host} is a multicast group; a unicast address is needed here")
    if not port.isdigit() or not 0 <= int(port) <= 65535:
        raise ValueError(f"port {port!r} is not 0-65535")
    return v


class ItchConfig(_Strict):
    """The second market: the colocated exchange's ITCH 5.0 / MoldUDP64 feed and OUCH 4.2 order entry
    over SoupBinTCP, against the embedded simulated exchange (``pymm._native.ItchVenue``) run inside
    ``pymm start`` (ADR 0011). Quantities are shares, prices dollars; ``[risk]`` and ``[quoting]`` apply
    in those units. Field limits are the protocols' (OUCH user 6 characters, password 10, symbol 8,
    prices in 1/10000 dollar)."""

    venue: Annotated[str, Field(min_length=1)] = Field(description="the [[venues]] entry of this market")
    symbol: Annotated[str, Field(pattern=r"^[A-Z0-9]{1,8}$")] = Field(
        default="PYMM", description="the stock (ITCH/OUCH: at most 8 characters)"
    )
    locate: Annotated[int, Field(ge=1, le=65535)] = Field(default=1, description="ITCH stock locate code")
    tick: Decimal = Field(default=Decimal("0.01"), description="price tick, dollars (at most 4 decimals)")
    round_lot: Annotated[int, Field(ge=1)] = Field(default=100, description="the crowd's round lot, shares")
    session: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{0,10}$")] = Field(
        default="PYMMITCH01", description="MoldUDP64 / SoupBinTCP session name"
    )
    interface: str = Field(
        default="127.0.0.1", description="interface address the lines are sent from and joined on"
    )
    feed_a: str = Field(
        default="239.1.1.1:31001", description="line A, group:port (port 0: the engine picks one)"
    )
    feed_b: str = Field(
        default="239.1.1.2:31002",
        description="line B, group:port (port 0: the engine picks one); the engine arbitrates A and B",
    )
    rerequest: str = Field(default="127.0.0.1:31003", description="re-request server, ip:port (0: free)")
    ouch: str = Field(default="127.0.0.1:31004", description="SoupBinTCP listener, ip:port (0: free)")
    user: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,6}$")] = "PYMM"
    password: Annotated[str, Field(pattern=r"^[A-Za-z0-9]{1,10}$")] = "pymm"
    flow: bool = Field(default=True, description="run the venue's seeded crowd (--seed sets its seed)")
    flow_interval_us: Annotated[int, Field(ge=50, le=1_000_000)] = Field(
        default=500, description="one crowd action every this many microseconds"
    )
    heartbeat_ms: Annotated[int, Field(ge=10, le=60_000)] = 100
    line_a_drop: Annotated[float, Field(ge=0, lt=0.5)] = Field(
        default=0.0, description="fault hook: share of line A packets dropped (line B or a re-request fills)"
    )
    line_b_drop: Annotated[float, Field(ge=0, lt=0.5)] = Field(
        default=0.0, description="fault hook: share of line B packets dropped (line A or a re-request fills)"
    )

    @field_validator("tick")
    @classmethod
    def _check_tick(cls, v: Decimal) -> Decimal:
        if not v.is_finite() or v <= 0:
            raise ValueError("the tick must be a positive decimal")
        exp = v.normalize().as_tuple().exponent
        if isinstance(exp, int) and exp < -4:
            raise ValueError(f"{v} has more than 4 decimals (OUCH prices are 1/10000 dollar)")
        return v

    @field_validator("interface")
    @classmethod
    def _check_interface(cls, v: str) -> str:
        try:
            ipaddress.IPv4Address(v)
        except ValueError:
            raise ValueError(f"{v!r} is not an IPv4 interface address") from None
        return v

    @field_validator("feed_a", "feed_b")
    @classmethod
    def _check_group(cls, v: str) -> str:
        return _ipv4_port(v, multicast=True)

    @field_validator("rerequest", "ouch")
    @classmethod
    def _check_unicast(cls, v: str) -> str:
        return _ipv4_port(v, multicast=False)

    @model_validator(mode="after")
    def _distinct_lines(self) -> ItchConfig:
        if self.feed_a == self.feed_b:
            raise ValueError(f"feed_a and feed_b are the same line {self.feed_a}; A and B must differ")
        return self

    @property
    def tick_units(self) -> int:
        """The tick in ITCH price units (1/10000 dollar)."""
        try:
            return int(self.tick * 10_000)
        except InvalidOperation:  # pragma: no cover - the validator bounds it
            raise ValueError(self.tick) from None


class Config(_Strict):
    """A whole pymm configuration file."""

    engine: EngineConfig = EngineConfig()
    venues: Annotated[list[VenueConfig], Field(min_length=1)]
    instruments: list[InstrumentRef] = Field(
        default_factory=list, description="the Binance market's instruments (none with [itch])"
    )
    metrics: MetricsConfig = MetricsConfig()
    state: StateConfig = StateConfig()
    control: ControlConfig = ControlConfig()
    risk: RiskConfig | None = Field(default=None, description="required to quote; absent refuses `start`")
    quoting: QuotingConfig | None = Field(default=None, description="required to quote")
    operators: list[OperatorConfig] = Field(default_factory=list)
    hedge: HedgeConfig | None = None
    itch: ItchConfig | None = Field(
        default=None, description="run the ITCH/OUCH market instead of the Binance one (ADR 0011)"
    )

    @field_validator("instruments")
    @classmethod
    def _unique_instruments(cls, v: list[InstrumentRef]) -> list[InstrumentRef]:
        seen: set[tuple[str, str, str]] = set()
        for inst in v:
            key = (inst.venue, inst.market, inst.symbol)
            if key in seen:
                raise ValueError(f"instrument {inst.symbol} ({inst.market}) on {inst.venue} is listed twice")
            seen.add(key)
        return v


def _cross_check(cfg: Config) -> list[tuple[str, str]]:
    """Checks that span sections, each naming the offending field."""
    names = [v.name for v in cfg.venues]
    errors = []
    for i, inst in enumerate(cfg.instruments):
        if inst.venue not in names:
            errors.append((f"instruments.{i}.venue", f"unknown venue {inst.venue!r}; declared: {names}"))
    if len(set(names)) != len(names):
        errors.append(("venues", f"venue names must be unique: {names}"))
    ops = [o.name for o in cfg.operators]
    if len(set(ops)) != len(ops):
        errors.append(("operators", f"operator names must be unique: {ops}"))
    keys = [o.public_key.strip() for o in cfg.operators]
    if len(set(keys)) != len(keys):
        errors.append(("operators", "two operators share a public key; the two-person rule needs two keys"))
    if cfg.itch is None and not cfg.instruments:
        errors.append(("instruments", "at least one instrument is needed (or an [itch] section)"))
    if cfg.itch is not None:
        errors.extend(_itch_cross_check(cfg, cfg.itch, names))
    if cfg.hedge is not None:
        venue = cfg.hedge.hedge_venue
        if not any(i.venue == venue and i.market == "usdm" for i in cfg.instruments):
            errors.append(("hedge.hedge_venue", f"no usdm instrument on venue {venue!r} to hedge with"))
    return errors


def _itch_cross_check(cfg: Config, itch: ItchConfig, names: list[str]) -> list[tuple[str, str]]:
    """The ITCH market runs alone: one stock, no Binance instruments, no hedge leg."""
    errors = []
    if itch.venue not in names:
        errors.append(("itch.venue", f"unknown venue {itch.venue!r}; declared: {names}"))
    if cfg.instruments:
        errors.append(("instruments", "a config runs one market: drop [[instruments]] or [itch]"))
    if cfg.hedge is not None:
        errors.append(("hedge", "the ITCH market has no hedge leg; remove [hedge]"))
    q, r = cfg.quoting, cfg.risk
    if q is not None and q.order_size != q.order_size.to_integral_value():
        errors.append(("quoting.order_size", f"{q.order_size} is not a whole number of shares"))
    if q is not None and r is not None and q.order_size > r.max_order_qty:
        errors.append(
            ("quoting.order_size", f"{q.order_size} shares exceed [risk] max_order_qty {r.max_order_qty}")
        )
    return errors


def _loc(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(p) for p in loc) or "<root>"


def load_config(path: Path | str | None = None) -> Config:
    """Read and validate a config file; relative instrument definition paths resolve against it.

    Raises:
        ConfigError: the file is missing, not TOML, or fails validation; every error names its field.
    """
    path = Path(path) if path is not None else DEFAULT_CONFIG
    source = str(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, [("<file>", "no such file")]) from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(source, [("<file>", f"not valid TOML: {e}")]) from None
    for inst in raw.get("instruments", []) if isinstance(raw.get("instruments"), list) else []:
        if isinstance(inst, dict) and isinstance(inst.get("definition"), str):
            d = Path(inst["definition"])
            if not d.is_absolute():
                inst["definition"] = str((path.parent / d).resolve())
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as e:
        errors = [(_loc(err["loc"]), err["msg"]) for err in e.errors()]
        raise ConfigError(source, errors) from None
    if errors := _cross_check(cfg):
        raise ConfigError(source, errors)
    return cfg
