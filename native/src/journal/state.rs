//! [`LedgerState`]: the state the journal's records describe by themselves — books, our orders,
//! positions and cash, the parameter block, the kill latch, the client-id high-water mark — as a
//! [`Replayable`]. It is what `pymm journal inspect` shows, what `pymm replay` digests, and the
//! reference the engine's own replay is checked against until the engine's `SessionCore` lands.
//!
//! - L2 books from `BookDelta` (level set, zero deletes), L3 books from `OrderEvent` (add, cancel,
//!   delete, execute, replace, clear), the last trade and traded volume from `Trade`;
//! - orders from `OrderAck` / `Fill` / `Reject` (payloads in [`super::payloads`]), keyed by client id;
//! - per instrument: position (lots) and cash (Σ ∓ price × qty in tick·lot units), fees per asset;
//! - the last `ParamPush` block, the kill latch and pause from `OperatorCommand`, timers' last fire;
//! - `client_id_hwm`: the largest client order id any order-flow record carried.
//!
//! Surprising but well-formed input (an L3 delete of an unknown order, a fill for an order never
//! acked, a lift with no latch) is counted in [`Anomalies`] and applied as far as it makes sense; a
//! payload that does not decode or a seq gap is an error and changes nothing (validate, then mutate).
//!
//! Canonical encoding: `serde_json` of this struct — field order fixed by the struct, every map a
//! `BTreeMap` (sorted keys), integers only (i128 as decimal strings): the same state always gives the
//! same bytes. The digest is `blake3` of them; a snapshot stores them.
//! Off the hot path: `apply` allocates (map nodes, strings for order-flow records). Sums of
//! notionals and fees saturate at the i128 limits instead of overflowing (only hostile input gets
//! there; the result is still deterministic).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::payloads::{
    reject_origin, FillV1, OperatorAction, OperatorCommandV1, OrderAckV1, ParamPushV1, RejectV1,
    TimerTickV1, TypedPayloadError,
};
use super::record::{JournalRecord, Payload, PayloadError, RecordKind};
use super::replay::Replayable;
use crate::model::{OrderAction, OrderStatus, Side};

/// Why [`LedgerState`] refused a record or a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    /// Records must come in seq order without gaps.
    #[error("seq {found} where {expected} was expected")]
    SeqGap {
        /// The next seq.
        expected: u64,
        /// The record's seq.
        found: u64,
    },
    /// A market-data payload does not decode.
    #[error("seq {seq}: {error}")]
    Payload {
        /// The record.
        seq: u64,
        /// Why.
        error: PayloadError,
    },
    /// An order-flow or control payload does not decode.
    #[error("seq {seq}: {error}")]
    Typed {
        /// The record.
        seq: u64,
        /// Why.
        error: TypedPayloadError,
    },
    /// Snapshot bytes are not a ledger state.
    #[error("ledger snapshot: {0}")]
    Restore(String),
}

mod i128_text {
    //! i128 as a decimal string: JSON numbers beyond 2^53 are not portable.
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(v: &i128, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&v.to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<i128, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

mod i128_text_map {
    use std::collections::BTreeMap;

    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(v: &BTreeMap<String, i128>, s: S) -> Result<S::Ok, S::Error> {
        v.iter()
            .map(|(k, x)| (k.clone(), x.to_string()))
            .collect::<BTreeMap<_, _>>()
            .serialize(s)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<BTreeMap<String, i128>, D::Error> {
        BTreeMap::<String, String>::deserialize(d)?
            .into_iter()
            .map(|(k, v)| Ok((k, v.parse().map_err(serde::de::Error::custom)?)))
            .collect()
    }
}

/// Well-formed input that does not fit the state (counted, never dropped silently).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Anomalies {
    /// L3 add of an order ref already resting (the new one replaces it).
    pub l3_duplicate_add: u64,
    /// L3 cancel/delete/execute/replace of an order ref not resting.
    pub l3_unknown_order: u64,
    /// L3 cancel/execute of more than the order's remaining quantity (the order is removed).
    pub l3_overfill: u64,
    /// A fill for a client id never seen before (the order is created from the fill).
    pub fill_unknown_order: u64,
    /// A fill whose `cum_qty` is below the order's already known `cum_qty`.
    pub fill_cum_regressed: u64,
    /// A parameter push whose block version is not above the previous one.
    pub param_version_regressed: u64,
    /// A lift while no kill latch was set.
    pub lift_without_latch: u64,
}

/// An order resting in an L3 book.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct L3Order {
    /// Bid (`true`) or ask.
    pub buy: bool,
    /// Price in ticks.
    pub price: i64,
    /// Remaining quantity in lots.
    pub qty: i64,
}

/// The last trade print of an instrument.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LastTrade {
    /// Price in ticks.
    pub price: i64,
    /// Quantity in lots.
    pub qty: i64,
    /// 0 unknown, 1 buy, 2 sell.
    pub aggressor: u8,
    /// The venue's trade id.
    pub trade_id: u64,
    /// `ts_event`.
    pub ts: u64,
}

/// Our position in one instrument, from fills.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Position {
    /// Net lots (buys − sells).
    #[serde(with = "i128_text")]
    pub qty: i128,
    /// Σ (sells − buys) price × qty, tick·lot units.
    #[serde(with = "i128_text")]
    pub cash: i128,
    /// Lots bought.
    #[serde(with = "i128_text")]
    pub bought: i128,
    /// Lots sold.
    #[serde(with = "i128_text")]
    pub sold: i128,
    /// Fills.
    pub fills: u64,
    /// Fees per asset in units of 10⁻¹⁸ (exact: every fee has at most 18 decimals).
    #[serde(with = "i128_text_map")]
    pub fees_e18: BTreeMap<String, i128>,
}

/// Book levels, best first: (price ticks, lots).
pub type Levels = Vec<(i64, i64)>;

/// One instrument's market state and our position in it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstrumentState {
    /// L2 bids: price ticks → lots.
    pub bids: BTreeMap<i64, i64>,
    /// L2 asks: price ticks → lots.
    pub asks: BTreeMap<i64, i64>,
    /// L3 orders by venue order ref.
    pub l3: BTreeMap<u64, L3Order>,
    /// The last trade.
    pub last_trade: Option<LastTrade>,
    /// Trade prints seen.
    pub trades: u64,
    /// Σ trade qty, lots.
    #[serde(with = "i128_text")]
    pub traded_qty: i128,
    /// Our position.
    pub position: Position,
}

impl InstrumentState {
    /// The L3 book aggregated into levels: (bids best first, asks best first), at most `depth` each.
    pub fn l3_levels(&self, depth: usize) -> (Levels, Levels) {
        let mut bids = BTreeMap::<i64, i64>::new();
        let mut asks = BTreeMap::<i64, i64>::new();
        for o in self.l3.values() {
            let side = if o.buy { &mut bids } else { &mut asks };
            let q = side.entry(o.price).or_default();
            *q = q.saturating_add(o.qty);
        }
        (
            bids.into_iter().rev().take(depth).collect(),
            asks.into_iter().take(depth).collect(),
        )
    }
}

/// One of our orders as the venue reported it.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct OrderState {
    /// The instrument.
    pub instrument: u32,
    /// `BUY` or `SELL`.
    pub side: String,
    /// `LIMIT`, `LIMIT_MAKER`, `MARKET` (empty if only fills or rejects were seen).
    pub order_type: String,
    /// The venue status (`NEW`, `FILLED`, …).
    pub status: String,
    /// The venue's id (0: none yet).
    pub venue_order_id: u64,
    /// Limit price in ticks.
    pub price: i64,
    /// Original quantity in lots.
    pub qty: i64,
    /// Filled so far.
    pub cum_qty: i64,
    /// Σ fill price × qty, tick·lot units.
    #[serde(with = "i128_text")]
    pub cum_notional: i128,
    /// The venue's reject code (0: none).
    pub reject_code: i32,
    /// Seq of the first record about this order.
    pub first_seq: u64,
    /// Seq of the last record about this order.
    pub last_seq: u64,
}

impl OrderState {
    /// Whether the order may still trade (`Unknown` counts as live).
    pub fn is_live(&self) -> bool {
        OrderStatus::parse(&self.status).is_some_and(OrderStatus::is_live)
    }
}

/// The parameter block as last pushed.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParamState {
    /// The block version.
    pub version: u64,
    /// The words.
    pub words: Vec<u64>,
    /// Pushes seen.
    pub pushes: u64,
    /// Seq of the last push (0: none).
    pub seq: u64,
}

/// The kill latch and pause, from operator commands.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KillState {
    /// Whether the kill is latched.
    pub latched: bool,
    /// The latch id of the last kill.
    pub latch_id: u64,
    /// The last kill's reason.
    pub reason: String,
    /// `ts_recv` of the last kill (0: never).
    pub since: u64,
    /// Whether quoting is paused.
    pub paused: bool,
    /// Kill commands seen.
    pub kills: u64,
    /// Lift commands seen.
    pub lifts: u64,
}

/// The state journal records describe; see the module docs.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LedgerState {
    /// The last seq applied (0: none).
    pub last_seq: u64,
    /// Its `ts_recv`.
    pub last_ts: u64,
    /// Records applied per kind name.
    pub counts: BTreeMap<String, u64>,
    /// Surprising input, counted.
    pub anomalies: Anomalies,
    /// Per instrument id.
    pub instruments: BTreeMap<u32, InstrumentState>,
    /// Our orders by client order id.
    pub orders: BTreeMap<u64, OrderState>,
    /// The parameter block.
    pub params: ParamState,
    /// Kill latch and pause.
    pub kill: KillState,
    /// The largest client order id seen.
    pub client_id_hwm: u64,
    /// Timer id → `ts_recv` of its last tick.
    pub timers: BTreeMap<u32, u64>,
}

fn side_name(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// A record decoded and checked, before anything is mutated.
enum Decoded {
    Market(Payload<'static>),
    Ack(OrderAckV1),
    Fill(FillV1),
    Reject(RejectV1),
    Param(ParamPushV1),
    Command(OperatorCommandV1),
    Timer(TimerTickV1),
    /// A venue session's own input (`RecordKind::SessionInput`): replayed by the session core, not
    /// modelled here.
    Session,
}

impl LedgerState {
    /// An empty state.
    pub fn new() -> Self {
        Self::default()
    }

    /// The canonical encoding (also what [`Replayable::snapshot`] writes).
    pub fn canonical(&self) -> Vec<u8> {
        let mut out = Vec::new();
        self.snapshot(&mut out);
        out
    }

    /// The state as pretty JSON (for tools).
    pub fn to_json_pretty(&self) -> String {
        serde_json::to_string_pretty(self).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
    }

    fn decode(rec: &JournalRecord) -> Result<Decoded, LedgerError> {
        let typed = |error| LedgerError::Typed {
            seq: rec.seq,
            error,
        };
        Ok(match rec.kind {
            RecordKind::BookDelta | RecordKind::OrderEvent | RecordKind::Trade => {
                match rec.decode() {
                    Ok(Payload::BookDelta(d)) => Decoded::Market(Payload::BookDelta(d)),
                    Ok(Payload::OrderEvent(e)) => Decoded::Market(Payload::OrderEvent(e)),
                    Ok(Payload::Trade(t)) => Decoded::Market(Payload::Trade(t)),
                    Ok(_) => unreachable!("market kinds decode to market payloads"),
                    Err(error) => {
                        return Err(LedgerError::Payload {
                            seq: rec.seq,
                            error,
                        })
                    }
                }
            }
            RecordKind::OrderAck => Decoded::Ack(OrderAckV1::decode(rec).map_err(typed)?),
            RecordKind::Fill => Decoded::Fill(FillV1::decode(rec).map_err(typed)?),
            RecordKind::Reject => Decoded::Reject(RejectV1::decode(rec).map_err(typed)?),
            RecordKind::ParamPush => Decoded::Param(ParamPushV1::decode(rec).map_err(typed)?),
            RecordKind::OperatorCommand => {
                Decoded::Command(OperatorCommandV1::decode(rec).map_err(typed)?)
            }
            RecordKind::TimerTick => Decoded::Timer(TimerTickV1::decode(rec).map_err(typed)?),
            RecordKind::SessionInput => Decoded::Session,
            RecordKind::SegmentHeader => {
                return Err(LedgerError::Payload {
                    seq: rec.seq,
                    error: PayloadError::Version {
                        kind: RecordKind::SegmentHeader,
                        version: rec.version,
                    },
                })
            }
        })
    }

    fn order(&mut self, client_id: u64, seq: u64) -> &mut OrderState {
        self.client_id_hwm = self.client_id_hwm.max(client_id);
        let o = self.orders.entry(client_id).or_insert_with(|| OrderState {
            first_seq: seq,
            ..OrderState::default()
        });
        o.last_seq = seq;
        o
    }

    fn mutate(&mut self, rec: &JournalRecord, d: Decoded) {
        let seq = rec.seq;
        match d {
            Decoded::Market(Payload::BookDelta(b)) => {
                let inst = self.instruments.entry(b.instrument.0).or_default();
                let side = match b.side {
                    Side::Buy => &mut inst.bids,
                    Side::Sell => &mut inst.asks,
                };
                if b.qty.is_zero() {
                    side.remove(&b.price.ticks());
                } else {
                    side.insert(b.price.ticks(), b.qty.lots());
                }
            }
            Decoded::Market(Payload::OrderEvent(e)) => {
                let inst = self.instruments.entry(e.instrument.0).or_default();
                let an = &mut self.anomalies;
                let order = e.order.0;
                let new = L3Order {
                    buy: e.side == Side::Buy,
                    price: e.price.ticks(),
                    qty: e.qty.lots(),
                };
                match e.action {
                    OrderAction::Add => {
                        if inst.l3.insert(order, new).is_some() {
                            an.l3_duplicate_add += 1;
                        }
                    }
                    OrderAction::Cancel | OrderAction::Execute => match inst.l3.get_mut(&order) {
                        None => an.l3_unknown_order += 1,
                        Some(o) => {
                            let left = o.qty.saturating_sub(e.qty.lots());
                            if left < 0 {
                                an.l3_overfill += 1;
                            }
                            if left <= 0 {
                                inst.l3.remove(&order);
                            } else {
                                o.qty = left;
                            }
                        }
                    },
                    OrderAction::Delete => {
                        if inst.l3.remove(&order).is_none() {
                            an.l3_unknown_order += 1;
                        }
                    }
                    OrderAction::Replace { new_ref } => {
                        let buy = match inst.l3.remove(&order) {
                            Some(o) => o.buy,
                            None => {
                                an.l3_unknown_order += 1;
                                new.buy
                            }
                        };
                        if inst.l3.insert(new_ref.0, L3Order { buy, ..new }).is_some() {
                            an.l3_duplicate_add += 1;
                        }
                    }
                    OrderAction::Clear => inst.l3.clear(),
                }
            }
            Decoded::Market(Payload::Trade(t)) => {
                let inst = self.instruments.entry(t.instrument.0).or_default();
                inst.trades += 1;
                inst.traded_qty += i128::from(t.qty.lots());
                inst.last_trade = Some(LastTrade {
                    price: t.price.ticks(),
                    qty: t.qty.lots(),
                    aggressor: match t.aggressor {
                        None => 0,
                        Some(Side::Buy) => 1,
                        Some(Side::Sell) => 2,
                    },
                    trade_id: t.trade_id,
                    ts: t.ts_event.0,
                });
            }
            Decoded::Market(_) => {}
            Decoded::Ack(a) => {
                let o = self.order(a.client_order_id.0, seq);
                o.instrument = a.instrument.0;
                o.side = side_name(a.side).into();
                o.order_type = a.order_type.as_str().into();
                o.status = a.status.as_str().into();
                if let Some(v) = a.venue_order_id {
                    o.venue_order_id = v.0;
                }
                // An engine's ack about an order it no longer tracks carries no price or size:
                // keep what an earlier record said.
                if !(a.qty.is_zero() && a.price.ticks() == 0) {
                    o.price = a.price.ticks();
                    o.qty = a.qty.lots();
                }
                o.cum_qty = o.cum_qty.max(a.cum_qty.lots());
            }
            Decoded::Fill(f) => {
                if !self.orders.contains_key(&f.client_order_id.0) {
                    self.anomalies.fill_unknown_order += 1;
                }
                let o = self.order(f.client_order_id.0, seq);
                let regressed = f.cum_qty.lots() < o.cum_qty;
                o.instrument = f.instrument.0;
                o.side = side_name(f.side).into();
                o.status = f.status.as_str().into();
                if let Some(v) = f.venue_order_id {
                    o.venue_order_id = v.0;
                }
                o.cum_qty = o.cum_qty.max(f.cum_qty.lots());
                let notional = i128::from(f.last_price.ticks()) * i128::from(f.last_qty.lots());
                o.cum_notional = o.cum_notional.saturating_add(notional);
                if regressed {
                    self.anomalies.fill_cum_regressed += 1;
                }
                let p = &mut self.instruments.entry(f.instrument.0).or_default().position;
                let q = i128::from(f.last_qty.lots());
                match f.side {
                    Side::Buy => {
                        p.qty += q;
                        p.bought += q;
                        p.cash = p.cash.saturating_sub(notional);
                    }
                    Side::Sell => {
                        p.qty -= q;
                        p.sold += q;
                        p.cash = p.cash.saturating_add(notional);
                    }
                }
                p.fills += 1;
                if !f.fee.is_zero() {
                    let scale = 10i128.pow(u32::from(18 - f.fee.exp().min(18)));
                    let fee = p
                        .fees_e18
                        .entry(f.fee_asset.as_str().to_string())
                        .or_default();
                    *fee = fee.saturating_add(i128::from(f.fee.raw()) * scale);
                }
            }
            Decoded::Reject(r) => {
                let o = self.order(r.client_order_id.0, seq);
                o.instrument = r.instrument.0;
                o.side = side_name(r.side).into();
                o.reject_code = r.reject_code;
                if !(r.qty.is_zero() && r.price.ticks() == 0) {
                    o.price = r.price.ticks();
                    o.qty = r.qty.lots();
                }
                match r.origin {
                    // A refused cancel or a failed status query leaves the order as it was.
                    reject_origin::CANCEL | reject_origin::STATUS => {}
                    // No answer in time / venue-side failure: the outcome is not known.
                    _ if r.reject_code == -1006
                        || r.reject_code == -1007
                        || r.http_status >= 500 =>
                    {
                        o.status = OrderStatus::Unknown.as_str().into();
                    }
                    _ => o.status = OrderStatus::Rejected.as_str().into(),
                }
            }
            Decoded::Param(p) => {
                if p.first == 0 && self.params.pushes > 0 && p.block_version <= self.params.version
                {
                    self.anomalies.param_version_regressed += 1;
                }
                self.params.version = p.block_version;
                // A part of a longer block (`first > 0`) extends the words of its first part.
                let first = usize::from(p.first);
                if first == 0 {
                    self.params.words.clear();
                }
                self.params.words.resize(first, 0);
                self.params.words.extend_from_slice(p.words());
                if first == 0 {
                    self.params.pushes += 1;
                }
                self.params.seq = seq;
            }
            Decoded::Command(c) => {
                let k = &mut self.kill;
                match c.action {
                    OperatorAction::Kill => {
                        k.latched = true;
                        k.latch_id = c.latch_id;
                        k.reason = c.text().to_string();
                        k.since = rec.ts_recv.0;
                        k.kills += 1;
                    }
                    OperatorAction::Lift => {
                        if !k.latched {
                            self.anomalies.lift_without_latch += 1;
                        }
                        k.latched = false;
                        k.lifts += 1;
                    }
                    OperatorAction::Pause => k.paused = true,
                    OperatorAction::Resume => k.paused = false,
                    // An orderly stop: nothing more is quoted in this run.
                    OperatorAction::Stop => k.paused = true,
                }
            }
            Decoded::Timer(t) => {
                self.timers.insert(t.timer_id, rec.ts_recv.0);
            }
            Decoded::Session => {}
        }
    }
}

impl Replayable for LedgerState {
    type Error = LedgerError;

    const SNAPSHOT_TAG: [u8; 8] = *b"LEDGER01";

    fn apply(&mut self, rec: &JournalRecord) -> Result<(), LedgerError> {
        if self.last_seq != 0 && Some(rec.seq) != self.last_seq.checked_add(1) {
            return Err(LedgerError::SeqGap {
                expected: self.last_seq.saturating_add(1),
                found: rec.seq,
            });
        }
        let d = Self::decode(rec)?;
        self.mutate(rec, d);
        self.last_seq = rec.seq;
        self.last_ts = rec.ts_recv.0;
        match self.counts.get_mut(rec.kind.name()) {
            Some(n) => *n += 1,
            None => {
                self.counts.insert(rec.kind.name().to_string(), 1);
            }
        }
        Ok(())
    }

    fn digest(&self) -> [u8; 32] {
        *blake3::hash(&self.canonical()).as_bytes()
    }

    fn snapshot(&self, out: &mut Vec<u8>) {
        // Serialising integers, strings and BTreeMaps into a Vec cannot fail.
        if let Err(e) = serde_json::to_writer(&mut *out, self) {
            unreachable!("ledger state serialises: {e}");
        }
    }

    fn restore(&mut self, bytes: &[u8]) -> Result<(), LedgerError> {
        *self = serde_json::from_slice(bytes).map_err(|e| LedgerError::Restore(e.to_string()))?;
        Ok(())
    }
}
