//! One venue session's hot pipeline for Binance spot: market-data frame in → decode → snapshot/diff
//! sync and L2 book → quoter → pre-trade risk → WebSocket-API order frame out.
//!
//! Everything runs on the session's pinned thread, to completion, per message. Orders go out over a
//! connection authenticated once by Ed25519 `session.logon`, so no per-order signature is computed.
//! Fills, acks and cancels come back through the order-entry session and are applied with the
//! `on_*` methods (same thread, or the engine's order-entry thread through a ring).
//!
//! # Hot path
//! No allocation after construction (proved by `native/tests/pipeline_no_alloc.rs`), no lock, no
//! clock read (time arrives as arguments), no logging; only the transport's own syscall.

use std::io;

use crate::book::L2Book;
use crate::engine::params::ParamReader;
use crate::feed::binance::{self, Message};
use crate::feed::{BookSync, SequenceRule, SyncEvent};
use crate::gateway::binance_ws::{self, Auth, OrderPlace};
use crate::model::order::{OrderType, TimeInForce};
use crate::model::{ClientOrderId, InstrumentId, Price, Qty, Scale, Side, UnixNanos};
use crate::net::transport::TxTransport;
use crate::net::websocket::{encode_frame, Opcode};
use crate::quoter::{QuoteAction, QuoteParams, Quoter, Top, QUOTE_PARAM_WORDS};
use crate::risk::{OrderCheck, PreTradeRisk};

/// Pipeline stages, for per-stage latency recording.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Stage {
    /// The message was decoded and applied to the book.
    Book = 0,
    /// The quoter produced its actions.
    Quote = 1,
    /// Pre-trade risk decided on every action.
    Risk = 2,
    /// The order frames were encoded.
    Encode = 3,
    /// The transport accepted the bytes.
    Send = 4,
}

/// Receives stage boundaries (a no-op in production, a TSC recorder in benchmarks).
///
/// Marks come in time order; a stage may be marked several times per message (once per order), so
/// a recorder should charge each interval since the previous mark to the stage being marked.
pub trait StageClock {
    /// Marks the end of `stage`.
    fn mark(&mut self, stage: Stage);
}

/// Records nothing.
pub struct NoStages;

impl StageClock for NoStages {
    #[inline(always)]
    fn mark(&mut self, _stage: Stage) {}
}

/// Static description of the quoted instrument.
#[derive(Clone, Copy, Debug)]
pub struct PipelineInstrument {
    /// Engine-wide id.
    pub id: InstrumentId,
    /// Venue symbol bytes (at most 20), e.g. `DOGEUSDT`.
    pub symbol: [u8; 20],
    /// Length of `symbol`.
    pub symbol_len: usize,
    /// Tick size.
    pub tick: Scale,
    /// Lot size.
    pub lot: Scale,
    /// Spot (`U == u + 1`) or futures (`pu == u`) sequencing.
    pub rule: SequenceRule,
}

/// Counters of the pipeline (read by the metrics snapshotter).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PipelineStats {
    /// Market-data messages seen.
    pub messages: u64,
    /// Messages that did not decode (counted, dropped).
    pub decode_errors: u64,
    /// Book updates applied.
    pub applied: u64,
    /// Orders sent (new and replace).
    pub orders_sent: u64,
    /// Cancels sent.
    pub cancels_sent: u64,
    /// Orders denied by risk.
    pub denied: u64,
    /// Denials by `DenyReason` code (index = code).
    pub denied_by: [u64; 32],
    /// Encoding failures (buffer or id) — the action was not sent.
    pub encode_errors: u64,
    /// Client ids exhausted (refill needed off the hot path).
    pub ids_exhausted: u64,
    /// Short writes by the transport (the rest of the frame was not sent; the session must be reset).
    pub short_writes: u64,
    /// New quotes not sent because the quoter's table for that side was full (cancels not yet
    /// confirmed by the venue).
    pub quote_table_full: u64,
}

/// Client order ids handed to the hot path in a pre-reserved range `[next, end)`.
#[derive(Clone, Copy, Debug)]
pub struct IdRange {
    /// Next id to hand out.
    pub next: u64,
    /// One past the last id of the reserved block.
    pub end: u64,
}

impl IdRange {
    #[inline]
    fn take(&mut self) -> Option<ClientOrderId> {
        (self.next < self.end).then(|| {
            self.next += 1;
            ClientOrderId(self.next - 1)
        })
    }
}

/// A 64-bit xorshift for WebSocket masking keys (RFC 6455 §5.3: unpredictable to the network path,
/// not a secret). Seeded by the caller from the OS at connect.
#[derive(Clone, Copy, Debug)]
pub struct MaskGen(u64);

impl MaskGen {
    /// A generator from a non-zero seed (zero is replaced by a constant).
    pub fn new(seed: u64) -> Self {
        Self(if seed == 0 {
            0x9E37_79B9_7F4A_7C15
        } else {
            seed
        })
    }

    #[inline]
    fn next(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x as u32).to_le_bytes()
    }
}

const JSON_BUF: usize = 1024;
const FRAME_BUF: usize = JSON_BUF + 16;

/// The quoting pipeline of one Binance spot session.
pub struct BinanceQuotingPipeline {
    inst: PipelineInstrument,
    sync: BookSync,
    quoter: Quoter,
    risk: PreTradeRisk,
    params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
    ids: IdRange,
    client_prefix: [u8; 8],
    client_prefix_len: usize,
    mask: MaskGen,
    next_request: u64,
    json: [u8; JSON_BUF],
    frame: [u8; FRAME_BUF],
    stats: PipelineStats,
}

impl BinanceQuotingPipeline {
    /// A pipeline with an empty book awaiting its snapshot.
    pub fn new(
        inst: PipelineInstrument,
        risk: PreTradeRisk,
        params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
        ids: IdRange,
        client_prefix: &[u8],
        mask: MaskGen,
    ) -> Self {
        let mut prefix = [0u8; 8];
        let n = client_prefix.len().min(8);
        prefix[..n].copy_from_slice(&client_prefix[..n]);
        Self {
            inst,
            sync: BookSync::new(inst.rule, inst.tick, inst.lot, L2Book::default()),
            quoter: Quoter::new(),
            risk,
            params,
            ids,
            client_prefix: prefix,
            client_prefix_len: n,
            mask,
            next_request: 1,
            json: [0; JSON_BUF],
            frame: [0; FRAME_BUF],
            stats: PipelineStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        self.stats
    }

    /// The synchronised book.
    pub fn sync(&self) -> &BookSync {
        &self.sync
    }

    /// Pre-trade risk (to apply fills, kill, limits).
    pub fn risk_mut(&mut self) -> &mut PreTradeRisk {
        &mut self.risk
    }

    /// The quoter's working quotes.
    pub fn quoter(&self) -> &Quoter {
        &self.quoter
    }

    /// The venue says order `id` left the book (cancelled, replaced away, expired, rejected).
    pub fn on_order_done(&mut self, id: ClientOrderId) {
        self.quoter.on_done(id);
        self.risk.on_done(self.inst.id, id);
    }

    /// The venue reports a fill of `qty` on our order `id` at event time `at`. Returns whether the
    /// repeated-execution throttle latched.
    pub fn on_fill(&mut self, id: ClientOrderId, side: Side, qty: Qty, at: UnixNanos) -> bool {
        self.quoter.on_fill(id, qty);
        self.risk.on_fill(self.inst.id, id, side, qty, at)
    }

    /// The order's fate is unknown (timeout, reset after send): still reserved, never resent.
    pub fn on_order_unknown(&mut self, id: ClientOrderId) {
        self.risk.on_unknown(self.inst.id, id);
    }

    /// Hands the pipeline a new reserved block of client ids.
    pub fn refill_ids(&mut self, ids: IdRange) {
        self.ids = ids;
    }

    /// Ids left in the reserved block.
    pub fn ids_left(&self) -> u64 {
        self.ids.end.saturating_sub(self.ids.next)
    }

    fn top(&self) -> Top {
        if self.sync.is_stale() {
            return Top::default();
        }
        let book = self.sync.book();
        Top {
            bid: book.best_bid(),
            ask: book.best_ask(),
        }
    }

    /// Processes one market-data payload (the text of a WebSocket frame, or a REST snapshot body)
    /// received at `ts_recv`; `now_ms` is the request timestamp the venue checks. Returns how many
    /// frames were sent.
    ///
    /// # Hot path
    /// See the module docs.
    pub fn on_market_data<T: TxTransport, C: StageClock>(
        &mut self,
        payload: &[u8],
        ts_recv: UnixNanos,
        now_ms: u64,
        tx: &mut T,
        clock: &mut C,
    ) -> io::Result<usize> {
        self.stats.messages += 1;
        let event = match binance::decode(payload) {
            Ok(env) => match env.message {
                Message::DepthUpdate(d) => self.sync.on_depth_update(payload, &d),
                Message::DepthSnapshot(s) => self.sync.on_snapshot(&s),
                _ => return Ok(0),
            },
            Err(_) => {
                self.stats.decode_errors += 1;
                return Ok(0);
            }
        };
        let stale = self.sync.is_stale();
        match event {
            SyncEvent::Applied | SyncEvent::SnapshotLoaded => self.stats.applied += 1,
            SyncEvent::Buffered | SyncEvent::DroppedStale if !stale => return Ok(0),
            _ => {}
        }
        let top = self.top();
        if let (Some((b, _)), Some((a, _))) = (top.bid, top.ask) {
            // The mid as the collar reference (rounded down to a tick).
            let mid = Price::from_ticks(b.ticks() + (a.ticks() - b.ticks()) / 2);
            self.risk.set_reference(self.inst.id, mid, ts_recv);
        }
        clock.mark(Stage::Book);
        let params = self.params.read();
        let inventory = self.risk.position(self.inst.id).unwrap_or(0);
        let actions = self.quoter.update(&params, &top, inventory, stale, ts_recv);
        clock.mark(Stage::Quote);
        let mut sent = 0;
        for action in actions.as_slice() {
            sent += self.act(*action, params.post_only != 0, ts_recv, now_ms, tx, clock)?;
        }
        Ok(sent)
    }

    fn order(
        &self,
        id: ClientOrderId,
        side: Side,
        price: Price,
        qty: Qty,
        post_only: bool,
        request_id: u64,
    ) -> OrderPlace<'_> {
        OrderPlace {
            request_id,
            symbol: &self.inst.symbol[..self.inst.symbol_len],
            side,
            order_type: if post_only {
                OrderType::LimitMaker
            } else {
                OrderType::Limit
            },
            tif: TimeInForce::Gtc,
            price_ticks: price.ticks(),
            tick: self.inst.tick,
            qty_lots: qty.lots(),
            lot: self.inst.lot,
            client_id: id,
            client_prefix: &self.client_prefix[..self.client_prefix_len],
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn act<T: TxTransport, C: StageClock>(
        &mut self,
        action: QuoteAction,
        post_only: bool,
        now: UnixNanos,
        now_ms: u64,
        tx: &mut T,
        clock: &mut C,
    ) -> io::Result<usize> {
        let auth = Auth {
            api_key: None,
            timestamp_ms: now_ms,
            recv_window_ms: None,
        };
        let request_id = self.next_request;
        self.next_request += 1;
        let mut json = [0u8; JSON_BUF];
        let encoded = match action {
            QuoteAction::New { side, price, qty }
            | QuoteAction::Replace {
                side, price, qty, ..
            } => {
                let Some(id) = self.ids.take() else {
                    self.stats.ids_exhausted += 1;
                    return Ok(0);
                };
                let check = OrderCheck {
                    instrument: self.inst.id,
                    client_id: id,
                    side,
                    price,
                    qty,
                };
                if let Err(reason) = self.risk.check_new(&check, now) {
                    self.stats.denied += 1;
                    self.stats.denied_by[(reason as usize).min(31)] += 1;
                    clock.mark(Stage::Risk);
                    return Ok(0);
                }
                clock.mark(Stage::Risk);
                let order = self.order(id, side, price, qty, post_only, request_id);
                let n = match action {
                    QuoteAction::Replace { id: old, .. } => {
                        binance_ws::encode_cancel_replace(old, &order, &auth, None, &mut json)
                    }
                    _ => binance_ws::encode_order_place(&order, &auth, None, &mut json),
                };
                match (n, action) {
                    (Ok(n), QuoteAction::Replace { id: old, .. }) => {
                        self.quoter.on_replace_sent(old, id, side, price, qty, now);
                        self.risk.on_cancel_sent(now);
                        Ok(n)
                    }
                    (Ok(n), _) => {
                        self.quoter.on_sent(id, side, price, qty, now);
                        Ok(n)
                    }
                    (Err(e), _) => {
                        // Not sent: release the reservation risk just made.
                        self.risk.on_done(self.inst.id, id);
                        Err(e)
                    }
                }
            }
            QuoteAction::Cancel { id } => {
                let prefix = &self.client_prefix[..self.client_prefix_len];
                let symbol = &self.inst.symbol[..self.inst.symbol_len];
                let r = binance_ws::encode_order_cancel(
                    request_id, symbol, id, prefix, &auth, None, &mut json,
                );
                if r.is_ok() {
                    self.quoter.on_cancel_sent(id);
                    self.risk.on_cancel_sent(now);
                }
                r
            }
        };
        let n = match encoded {
            Ok(n) => n,
            Err(_) => {
                self.stats.encode_errors += 1;
                return Ok(0);
            }
        };
        self.json[..n].copy_from_slice(&json[..n]);
        let mask = self.mask.next();
        let Ok(len) = encode_frame(Opcode::Text, &self.json[..n], mask, &mut self.frame) else {
            self.stats.encode_errors += 1;
            return Ok(0);
        };
        clock.mark(Stage::Encode);
        let written = tx.send(&self.frame[..len])?;
        clock.mark(Stage::Send);
        if written < len {
            self.stats.short_writes += 1;
        }
        match action {
            QuoteAction::Cancel { .. } => self.stats.cancels_sent += 1,
            _ => self.stats.orders_sent += 1,
        }
        Ok(1)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::params::param_block;
    use crate::net::websocket::{parse_frame, unmask};
    use crate::quoter::Anchor;
    use crate::risk::{RateLimits, RiskLimits};

    /// Collects everything "sent".
    struct Sink(Vec<Vec<u8>>);

    impl TxTransport for Sink {
        fn send(&mut self, data: &[u8]) -> io::Result<usize> {
            self.0.push(data.to_vec());
            Ok(data.len())
        }
    }

    fn pipeline() -> BinanceQuotingPipeline {
        let t0 = UnixNanos(1_700_000_000_000_000_000);
        let id = InstrumentId(0);
        let mut risk = PreTradeRisk::new(
            1,
            RateLimits {
                venue_orders_burst: 1_000,
                venue_orders_per_second: 100,
                messages_burst: 1_000,
                messages_per_second: 100,
            },
            t0,
        );
        risk.set_limits(
            id,
            RiskLimits {
                max_order_qty: Qty::from_lots(10_000),
                max_order_notional: i128::MAX,
                price_collar_bps: 1_000,
                max_reference_age_ns: u64::MAX,
                max_long: Qty::from_lots(100_000),
                max_short: Qty::from_lots(100_000),
                max_position_notional: i128::MAX,
                max_open_orders: 20,
                duplicate_window_ns: 0,
                max_fills_in_window: 100,
                fill_window_ns: 1,
            },
        );
        let (_w, reader) = param_block(QuoteParams {
            enabled: 1,
            anchor: Anchor::Mid as i64,
            fair_value_mt: 0,
            half_spread_mt: 2_000,
            skew_mt_per_lot: 0,
            levels: 2,
            level_spacing_ticks: 1,
            size_lots: 100,
            max_inventory_lots: 10_000,
            requote_ticks: 0,
            ttl_ns: 0,
            post_only: 1,
        });
        let mut symbol = [0u8; 20];
        symbol[..8].copy_from_slice(b"DOGEUSDT");
        BinanceQuotingPipeline::new(
            PipelineInstrument {
                id,
                symbol,
                symbol_len: 8,
                tick: Scale::parse("0.00001").unwrap(),
                lot: Scale::parse("1").unwrap(),
                rule: SequenceRule::Spot,
            },
            risk,
            reader,
            IdRange {
                next: 1,
                end: 1_000,
            },
            b"pymm-",
            MaskGen::new(7),
        )
    }

    fn decode_sent(frame: &[u8]) -> serde_json::Value {
        // Turn the masked client frame into what a server reads: drop the mask bit and key, unmask.
        let ext = if frame[1] & 0x7F == 126 { 2 } else { 0 };
        let key_at = 2 + ext;
        let mask = [
            frame[key_at],
            frame[key_at + 1],
            frame[key_at + 2],
            frame[key_at + 3],
        ];
        let mut server = vec![frame[0], frame[1] & 0x7F];
        server.extend_from_slice(&frame[2..key_at]);
        let mut payload = frame[key_at + 4..].to_vec();
        unmask(&mut payload, mask);
        server.extend_from_slice(&payload);
        let f = parse_frame(&server, 1 << 16).unwrap().unwrap();
        serde_json::from_slice(&server[f.payload.0..f.payload.1]).unwrap()
    }

    #[test]
    fn snapshot_then_diffs_quote_and_requote() {
        let mut p = pipeline();
        let mut sink = Sink(Vec::new());
        let t = UnixNanos(1_700_000_000_000_000_000);
        // A diff before the snapshot is buffered: nothing is quoted on a stale book.
        let d1 = br#"{"e":"depthUpdate","E":1,"s":"DOGEUSDT","U":101,"u":101,"b":[["0.16900","500"]],"a":[]}"#;
        assert_eq!(
            p.on_market_data(d1, t, 1, &mut sink, &mut NoStages)
                .unwrap(),
            0
        );
        let snap =
            br#"{"lastUpdateId":100,"bids":[["0.16899","1000"]],"asks":[["0.16905","800"]]}"#;
        let sent = p
            .on_market_data(snap, t, 1, &mut sink, &mut NoStages)
            .unwrap();
        assert_eq!(sent, 4, "two levels a side once the book is live");
        let orders: Vec<_> = sink.0.iter().map(|f| decode_sent(f)).collect();
        assert!(orders
            .iter()
            .all(|o| o["method"] == "order.place" && o["params"]["type"] == "LIMIT_MAKER"));
        assert!(
            orders
                .iter()
                .all(|o| o["params"].get("signature").is_none()),
            "session.logon: unsigned"
        );
        // mid = 0.169025 → reservation 16902.5 ticks ± 2 ticks → bid 16900, ask 16905 (post-only clamp).
        let prices: Vec<&str> = orders
            .iter()
            .map(|o| o["params"]["price"].as_str().unwrap())
            .collect();
        assert!(
            prices.contains(&"0.16900") && prices.contains(&"0.16905"),
            "{prices:?}"
        );
        sink.0.clear();
        // The ask side moves away: one replace per changed ladder side at most.
        let d2 = br#"{"e":"depthUpdate","E":2,"s":"DOGEUSDT","U":102,"u":102,"b":[],"a":[["0.16905","0"],["0.16910","700"]]}"#;
        let sent = p
            .on_market_data(d2, t, 2, &mut sink, &mut NoStages)
            .unwrap();
        assert!(sent > 0);
        let methods: Vec<String> = sink
            .0
            .iter()
            .map(|f| decode_sent(f)["method"].as_str().unwrap().to_owned())
            .collect();
        assert!(
            methods.iter().all(|m| m == "order.cancelReplace"),
            "{methods:?}"
        );
        // A sequence break pulls every quote.
        sink.0.clear();
        let gap = br#"{"e":"depthUpdate","E":3,"s":"DOGEUSDT","U":200,"u":200,"b":[],"a":[]}"#;
        p.on_market_data(gap, t, 3, &mut sink, &mut NoStages)
            .unwrap();
        assert!(p.sync().is_stale());
        let methods: Vec<String> = sink
            .0
            .iter()
            .map(|f| decode_sent(f)["method"].as_str().unwrap().to_owned())
            .collect();
        assert_eq!(methods.len(), 4);
        assert!(methods.iter().all(|m| m == "order.cancel"));
        assert_eq!(p.stats().cancels_sent, 4);
    }

    #[test]
    fn risk_denies_and_garbage_is_counted() {
        let mut p = pipeline();
        p.risk_mut().kill();
        let mut sink = Sink(Vec::new());
        let t = UnixNanos(1);
        let snap = br#"{"lastUpdateId":1,"bids":[["0.16899","1000"]],"asks":[["0.16905","800"]]}"#;
        assert_eq!(
            p.on_market_data(snap, t, 1, &mut sink, &mut NoStages)
                .unwrap(),
            0
        );
        assert_eq!(p.stats().denied, 4);
        assert!(sink.0.is_empty());
        assert_eq!(
            p.on_market_data(b"{not json", t, 1, &mut sink, &mut NoStages)
                .unwrap(),
            0
        );
        assert_eq!(p.stats().decode_errors, 1);
    }
}
