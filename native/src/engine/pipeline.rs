//! One venue session's hot pipeline: market data in → decode → book → quoter → pre-trade risk →
//! order bytes out, run to completion per message on the session's pinned thread.
//!
//! - [`QuotingCore`]: the venue-independent half (quoter, risk, parameter block, client ids) that
//!   turns a top of book into orders through an [`OrderEncoder`]:
//!   [`BinanceWsEncoder`] (WebSocket-API frames on a `session.logon` connection: no per-order
//!   signature) or [`OuchEncoder`] (OUCH 4.2 in SoupBinTCP packets).
//! - [`BinanceQuotingPipeline`]: Binance JSON depth → snapshot/diff sync → L2 book → core.
//! - [`ItchQuotingPipeline`]: MoldUDP64 datagram → ITCH 5.0 → L3 book → core.
//!
//! Fills, acks and cancels come back through the order-entry session and are applied with the
//! `on_*` methods.
//!
//! # Hot path
//! No allocation after construction (proved by `native/tests/pipeline_no_alloc.rs`), no lock, no
//! clock read (time arrives as arguments), no logging; only the transport's own syscall.

use std::io;

use crate::book::l3::{L3Book, L3Config};
use crate::book::L2Book;
use crate::engine::params::ParamReader;
use crate::feed::binance::{self, Message};
use crate::feed::moldudp64::{MoldPacket, PacketKind};
use crate::feed::{itch, BookSync, SequenceRule, SyncEvent};
use crate::gateway::binance_ws::{self, Auth, OrderPlace};
use crate::gateway::ouch::{CancelOrder, EnterOrder, ReplaceOrder, TIF_DAY};
use crate::gateway::soupbintcp::{write_packet, PacketType};
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
    /// Pre-trade risk decided on an action.
    Risk = 2,
    /// An order was encoded.
    Encode = 3,
    /// The transport accepted an order's bytes.
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
    /// Spot (`U == u + 1`) or futures (`pu == u`) sequencing (Binance only).
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
    /// Sequence gaps (the instrument went stale; quotes pulled).
    pub gaps: u64,
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

    /// The next masking key.
    #[inline]
    pub fn next_mask(&mut self) -> [u8; 4] {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        (x as u32).to_le_bytes()
    }
}

/// One order the core wants on the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OutOrder {
    /// Its client order id.
    pub id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// Post-only.
    pub post_only: bool,
    /// Milliseconds since the epoch (request timestamps).
    pub now_ms: u64,
}

/// An encoding failure: the action is not sent (counted).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EncodeFailed;

/// The order-entry wire format of a venue session: writes complete, ready-to-send bytes.
pub trait OrderEncoder {
    /// A new order.
    fn new_order(&mut self, o: &OutOrder, out: &mut [u8]) -> Result<usize, EncodeFailed>;
    /// Cancel `old` and place `o` in its stead.
    fn replace(
        &mut self,
        old: ClientOrderId,
        o: &OutOrder,
        out: &mut [u8],
    ) -> Result<usize, EncodeFailed>;
    /// Cancel `id`.
    fn cancel(
        &mut self,
        id: ClientOrderId,
        now_ms: u64,
        out: &mut [u8],
    ) -> Result<usize, EncodeFailed>;
}

/// Binance spot WebSocket-API requests in masked client frames, unsigned (the connection is
/// authenticated once by Ed25519 `session.logon`).
pub struct BinanceWsEncoder {
    symbol: [u8; 20],
    symbol_len: usize,
    tick: Scale,
    lot: Scale,
    prefix: [u8; 8],
    prefix_len: usize,
    mask: MaskGen,
    json: [u8; 1024],
}

impl BinanceWsEncoder {
    /// An encoder for `inst` with client ids rendered as `prefix` + decimal.
    pub fn new(inst: &PipelineInstrument, client_prefix: &[u8], mask: MaskGen) -> Self {
        let mut prefix = [0u8; 8];
        let n = client_prefix.len().min(8);
        prefix[..n].copy_from_slice(&client_prefix[..n]);
        Self {
            symbol: inst.symbol,
            symbol_len: inst.symbol_len.min(20),
            tick: inst.tick,
            lot: inst.lot,
            prefix,
            prefix_len: n,
            mask,
            json: [0; 1024],
        }
    }

    fn frame(&mut self, n: usize, out: &mut [u8]) -> Result<usize, EncodeFailed> {
        let mask = self.mask.next_mask();
        encode_frame(Opcode::Text, &self.json[..n], mask, out).map_err(|_| EncodeFailed)
    }

    fn place<'a>(&'a self, o: &OutOrder, request_id: u64) -> OrderPlace<'a> {
        OrderPlace {
            request_id,
            symbol: &self.symbol[..self.symbol_len],
            side: o.side,
            order_type: if o.post_only {
                OrderType::LimitMaker
            } else {
                OrderType::Limit
            },
            tif: TimeInForce::Gtc,
            price_ticks: o.price.ticks(),
            tick: self.tick,
            qty_lots: o.qty.lots(),
            lot: self.lot,
            client_id: o.id,
            client_prefix: &self.prefix[..self.prefix_len],
        }
    }
}

/// Request-id tag of `order.cancel` (the low bits are the cancelled order's client id).
pub const RID_CANCEL: u64 = 1 << 62;
/// Request-id tag of `order.status` (the low bits are the queried order's client id).
pub const RID_STATUS: u64 = 2 << 62;
/// Request-id tag of control requests (logon, subscribe, open orders, cancel-all).
pub const RID_CONTROL: u64 = 3 << 62;
/// The tag bits of a request id.
pub const RID_TAG_MASK: u64 = 3 << 62;

impl OrderEncoder for BinanceWsEncoder {
    // Request ids are the client ids (tagged for cancels), so a response maps to its order without
    // a lookup table: `order.place` and `order.cancelReplace` use the new order's id.
    fn new_order(&mut self, o: &OutOrder, out: &mut [u8]) -> Result<usize, EncodeFailed> {
        let rid = o.id.0 & !RID_TAG_MASK;
        let auth = Auth {
            api_key: None,
            timestamp_ms: o.now_ms,
            recv_window_ms: None,
        };
        let mut json = [0u8; 1024];
        let n = binance_ws::encode_order_place(&self.place(o, rid), &auth, None, &mut json)
            .map_err(|_| EncodeFailed)?;
        self.json[..n].copy_from_slice(&json[..n]);
        self.frame(n, out)
    }

    fn replace(
        &mut self,
        old: ClientOrderId,
        o: &OutOrder,
        out: &mut [u8],
    ) -> Result<usize, EncodeFailed> {
        let rid = o.id.0 & !RID_TAG_MASK;
        let auth = Auth {
            api_key: None,
            timestamp_ms: o.now_ms,
            recv_window_ms: None,
        };
        let mut json = [0u8; 1024];
        let n = binance_ws::encode_cancel_replace(old, &self.place(o, rid), &auth, None, &mut json)
            .map_err(|_| EncodeFailed)?;
        self.json[..n].copy_from_slice(&json[..n]);
        self.frame(n, out)
    }

    fn cancel(
        &mut self,
        id: ClientOrderId,
        now_ms: u64,
        out: &mut [u8],
    ) -> Result<usize, EncodeFailed> {
        let rid = RID_CANCEL | (id.0 & !RID_TAG_MASK);
        let auth = Auth {
            api_key: None,
            timestamp_ms: now_ms,
            recv_window_ms: None,
        };
        let mut json = [0u8; 1024];
        let n = binance_ws::encode_order_cancel(
            rid,
            &self.symbol[..self.symbol_len],
            id,
            &self.prefix[..self.prefix_len],
            &auth,
            None,
            &mut json,
        )
        .map_err(|_| EncodeFailed)?;
        self.json[..n].copy_from_slice(&json[..n]);
        self.frame(n, out)
    }
}

/// OUCH 4.2 Enter/Replace/Cancel messages in SoupBinTCP unsequenced-data packets.
pub struct OuchEncoder {
    stock: [u8; 8],
    firm: [u8; 4],
    /// 1/10000-dollar units per tick.
    units_per_tick: u32,
}

impl OuchEncoder {
    /// An encoder for `stock` (space-padded) whose tick is `tick` (at most 4 decimal places).
    pub fn new(stock: [u8; 8], firm: [u8; 4], tick: Scale) -> Option<Self> {
        let exp = u32::from(tick.exp());
        let units = u64::try_from(tick.mantissa())
            .ok()?
            .checked_mul(10u64.checked_pow(4u32.checked_sub(exp)?)?)?;
        Some(Self {
            stock,
            firm,
            units_per_tick: u32::try_from(units).ok()?,
        })
    }

    /// OUCH price units (1/10000 dollar) per tick.
    pub fn units_per_tick(&self) -> u32 {
        self.units_per_tick
    }

    fn price(&self, p: Price) -> Result<u32, EncodeFailed> {
        u32::try_from(p.ticks())
            .ok()
            .and_then(|t| t.checked_mul(self.units_per_tick))
            .ok_or(EncodeFailed)
    }
}

fn shares(q: Qty) -> Result<u32, EncodeFailed> {
    u32::try_from(q.lots()).map_err(|_| EncodeFailed)
}

fn soup(msg: &[u8], out: &mut [u8]) -> Result<usize, EncodeFailed> {
    write_packet(PacketType::UnsequencedData, msg, out).map_err(|_| EncodeFailed)
}

impl OrderEncoder for OuchEncoder {
    fn new_order(&mut self, o: &OutOrder, out: &mut [u8]) -> Result<usize, EncodeFailed> {
        let m = EnterOrder {
            token: o.id,
            side: o.side,
            shares: shares(o.qty)?,
            stock: self.stock,
            price: self.price(o.price)?,
            time_in_force: TIF_DAY,
            firm: self.firm,
            display: if o.post_only { b'P' } else { b'Y' },
            capacity: b'P',
            ise: b'N',
            min_qty: 0,
            cross_type: b'N',
            customer_type: b' ',
        };
        let mut b = [0u8; EnterOrder::LEN];
        m.encode(&mut b).map_err(|_| EncodeFailed)?;
        soup(&b, out)
    }

    fn replace(
        &mut self,
        old: ClientOrderId,
        o: &OutOrder,
        out: &mut [u8],
    ) -> Result<usize, EncodeFailed> {
        let m = ReplaceOrder {
            existing: old,
            replacement: o.id,
            shares: shares(o.qty)?,
            price: self.price(o.price)?,
            time_in_force: TIF_DAY,
            display: if o.post_only { b'P' } else { b'Y' },
            ise: b'N',
            min_qty: 0,
        };
        let mut b = [0u8; ReplaceOrder::LEN];
        m.encode(&mut b).map_err(|_| EncodeFailed)?;
        soup(&b, out)
    }

    fn cancel(
        &mut self,
        id: ClientOrderId,
        _now_ms: u64,
        out: &mut [u8],
    ) -> Result<usize, EncodeFailed> {
        let mut b = [0u8; CancelOrder::LEN];
        CancelOrder {
            token: id,
            shares: 0,
        }
        .encode(&mut b)
        .map_err(|_| EncodeFailed)?;
        soup(&b, out)
    }
}

const OUT_BUF: usize = 1100;

/// What one [`QuotingCore::requote`] did with one quoter action (the session registers the orders).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sent {
    /// A new order went out.
    New {
        /// Its client id.
        id: ClientOrderId,
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
    },
    /// A cancel-replace went out: `old` is being cancelled, `id` placed.
    Replace {
        /// The order being cancelled.
        old: ClientOrderId,
        /// The new order's client id.
        id: ClientOrderId,
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
    },
    /// A cancel went out.
    Cancel {
        /// The order being cancelled.
        id: ClientOrderId,
    },
    /// Pre-trade risk refused a new order.
    Denied {
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// Quantity.
        qty: Qty,
        /// Why.
        reason: crate::risk::DenyReason,
    },
}

/// The actions of the last requote (fixed capacity, reused).
#[derive(Clone, Copy, Debug)]
pub struct SentLog {
    buf: [Sent; crate::quoter::MAX_ACTIONS],
    len: usize,
}

impl SentLog {
    fn new() -> Self {
        Self {
            buf: [Sent::Cancel {
                id: ClientOrderId(0),
            }; crate::quoter::MAX_ACTIONS],
            len: 0,
        }
    }

    #[inline]
    fn push(&mut self, s: Sent) {
        if self.len < self.buf.len() {
            self.buf[self.len] = s;
            self.len += 1;
        }
    }

    /// The entries, in send order.
    pub fn as_slice(&self) -> &[Sent] {
        &self.buf[..self.len]
    }
}

/// The venue-independent half of a session: top of book in, orders out.
pub struct QuotingCore<E: OrderEncoder> {
    instrument: InstrumentId,
    quoter: Quoter,
    risk: PreTradeRisk,
    params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
    ids: IdRange,
    enc: E,
    out: [u8; OUT_BUF],
    stats: PipelineStats,
    sent: SentLog,
}

crate::snap_struct!(PipelineStats {
    messages,
    decode_errors,
    applied,
    gaps,
    orders_sent,
    cancels_sent,
    denied,
    denied_by,
    encode_errors,
    ids_exhausted,
    short_writes,
    quote_table_full
});
crate::snap_struct!(IdRange { next, end });

impl crate::journal::codec::Snap for MaskGen {
    fn put(&self, w: &mut Vec<u8>) {
        self.0.put(w);
    }
    fn get(
        r: &mut crate::journal::codec::SnapReader<'_>,
    ) -> Result<Self, crate::journal::codec::SnapDecodeError> {
        u64::get(r).map(MaskGen)
    }
}

impl QuotingCore<BinanceWsEncoder> {
    /// Appends the core's journalled state for a snapshot (`journal::codec`): working quotes,
    /// risk, the client-id block, the frame-mask generator (the bytes sent depend on it) and the
    /// counters. The parameter reader, the instrument and the scratch buffers are not state.
    pub fn snap_put(&self, w: &mut Vec<u8>) {
        use crate::journal::codec::Snap;
        let Self {
            instrument: _,
            quoter,
            risk,
            params: _,
            ids,
            enc,
            out: _,
            stats,
            sent: _,
        } = self;
        quoter.put(w);
        risk.snap_put(w);
        ids.put(w);
        enc.mask.put(w);
        stats.put(w);
    }

    /// Restores what [`QuotingCore::snap_put`] wrote into a core built from the same config.
    pub fn snap_take(
        &mut self,
        r: &mut crate::journal::codec::SnapReader<'_>,
    ) -> Result<(), crate::journal::codec::SnapDecodeError> {
        use crate::journal::codec::Snap;
        self.quoter = Snap::get(r)?;
        self.risk.snap_take(r)?;
        self.ids = Snap::get(r)?;
        self.enc.mask = Snap::get(r)?;
        self.stats = Snap::get(r)?;
        self.sent = SentLog::new();
        Ok(())
    }
}

impl<E: OrderEncoder> QuotingCore<E> {
    /// A core for one instrument.
    pub fn new(
        instrument: InstrumentId,
        risk: PreTradeRisk,
        params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
        ids: IdRange,
        enc: E,
    ) -> Self {
        Self {
            instrument,
            quoter: Quoter::new(),
            risk,
            params,
            ids,
            enc,
            out: [0; OUT_BUF],
            stats: PipelineStats::default(),
            sent: SentLog::new(),
        }
    }

    /// Re-quotes from `top` (`stale` pulls everything) and sends what changed; returns frames sent.
    ///
    /// # Hot path
    /// See the module docs.
    pub fn requote<T: TxTransport, C: StageClock>(
        &mut self,
        top: Top,
        stale: bool,
        ts_recv: UnixNanos,
        now_ms: u64,
        tx: &mut T,
        clock: &mut C,
    ) -> io::Result<usize> {
        clock.mark(Stage::Book);
        let params = self.params.read();
        self.requote_with(&params, top, stale, ts_recv, ts_recv, now_ms, tx, clock)
    }

    /// [`QuotingCore::requote`] with parameters given by the caller (a session that journals its
    /// parameter pushes as inputs, so a replay decides with the same values). `top_at` is when the
    /// feed last confirmed `top` (the risk reference's time); `ts_recv` is this input's time.
    ///
    /// # Hot path
    /// See the module docs.
    #[allow(clippy::too_many_arguments)]
    pub fn requote_with<T: TxTransport, C: StageClock>(
        &mut self,
        params: &QuoteParams,
        top: Top,
        stale: bool,
        top_at: UnixNanos,
        ts_recv: UnixNanos,
        now_ms: u64,
        tx: &mut T,
        clock: &mut C,
    ) -> io::Result<usize> {
        self.sent.len = 0;
        if let (Some((b, _)), Some((a, _))) = (top.bid, top.ask) {
            // The mid as the collar reference (rounded down to a tick), as of when the feed last
            // confirmed this top (`top_at`), not of this call: a requote on a parameter push or a
            // timer after the feed went silent must see a stale reference and be denied.
            let mid = Price::from_ticks(b.ticks() + (a.ticks() - b.ticks()) / 2);
            self.risk.set_reference(self.instrument, mid, top_at);
        }
        let params = *params;
        let inventory = self.risk.position(self.instrument).unwrap_or(0);
        let actions = self.quoter.update(&params, &top, inventory, stale, ts_recv);
        clock.mark(Stage::Quote);
        let mut sent = 0;
        for action in actions.as_slice() {
            sent += self.act(*action, params.post_only != 0, ts_recv, now_ms, tx, clock)?;
        }
        Ok(sent)
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
        let encoded = match action {
            QuoteAction::New { side, price, qty }
            | QuoteAction::Replace {
                side, price, qty, ..
            } => {
                if !self.quoter.has_room(side) {
                    // Never send what the quoter could not track (it would leak a live order).
                    self.stats.quote_table_full += 1;
                    return Ok(0);
                }
                let Some(id) = self.ids.take() else {
                    self.stats.ids_exhausted += 1;
                    return Ok(0);
                };
                let check = OrderCheck {
                    instrument: self.instrument,
                    client_id: id,
                    side,
                    price,
                    qty,
                };
                if let Err(reason) = self.risk.check_new(&check, now) {
                    self.sent.push(Sent::Denied {
                        side,
                        price,
                        qty,
                        reason,
                    });
                    self.stats.denied += 1;
                    self.stats.denied_by[(reason as usize).min(31)] += 1;
                    clock.mark(Stage::Risk);
                    return Ok(0);
                }
                clock.mark(Stage::Risk);
                let o = OutOrder {
                    id,
                    side,
                    price,
                    qty,
                    post_only,
                    now_ms,
                };
                let r = match action {
                    QuoteAction::Replace { id: old, .. } => {
                        self.enc.replace(old, &o, &mut self.out)
                    }
                    _ => self.enc.new_order(&o, &mut self.out),
                };
                match (r, action) {
                    (Ok(n), QuoteAction::Replace { id: old, .. }) => {
                        self.sent.push(Sent::Replace {
                            old,
                            id,
                            side,
                            price,
                            qty,
                        });
                        self.quoter.on_replace_sent(old, id, side, price, qty, now);
                        self.risk.on_cancel_sent(now);
                        Ok(n)
                    }
                    (Ok(n), _) => {
                        self.sent.push(Sent::New {
                            id,
                            side,
                            price,
                            qty,
                        });
                        self.quoter.on_sent(id, side, price, qty, now);
                        Ok(n)
                    }
                    (Err(e), _) => {
                        // Not sent: release the reservation risk just made.
                        self.risk.on_done(self.instrument, id);
                        Err(e)
                    }
                }
            }
            QuoteAction::Cancel { id } => {
                let r = self.enc.cancel(id, now_ms, &mut self.out);
                if r.is_ok() {
                    self.sent.push(Sent::Cancel { id });
                    self.quoter.on_cancel_sent(id);
                    self.risk.on_cancel_sent(now);
                }
                r
            }
        };
        let Ok(len) = encoded else {
            self.stats.encode_errors += 1;
            return Ok(0);
        };
        clock.mark(Stage::Encode);
        let written = tx.send(&self.out[..len])?;
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

    /// The venue says order `id` left the book (cancelled, replaced away, expired, rejected).
    pub fn on_order_done(&mut self, id: ClientOrderId) {
        self.quoter.on_done(id);
        self.risk.on_done(self.instrument, id);
    }

    /// The venue reports a fill of `qty` on our order `id` at event time `at`. Returns whether the
    /// repeated-execution throttle latched.
    pub fn on_fill(&mut self, id: ClientOrderId, side: Side, qty: Qty, at: UnixNanos) -> bool {
        self.quoter.on_fill(id, qty);
        self.risk.on_fill(self.instrument, id, side, qty, at)
    }

    /// The order's fate is unknown (timeout, reset after send): still reserved, never resent.
    pub fn on_order_unknown(&mut self, id: ClientOrderId) {
        self.risk.on_unknown(self.instrument, id);
    }

    /// What the last requote sent or had denied.
    pub fn sent(&self) -> &SentLog {
        &self.sent
    }

    /// The venue refused our cancel of `id` and the order stands: it may be matched again.
    pub fn on_cancel_rejected(&mut self, id: ClientOrderId) {
        self.quoter.on_cancel_rejected(id);
    }

    /// The instrument this core quotes.
    pub fn instrument(&self) -> InstrumentId {
        self.instrument
    }

    /// Pre-trade risk, read only.
    pub fn risk(&self) -> &PreTradeRisk {
        &self.risk
    }

    /// Hands the core a new reserved block of client ids.
    pub fn refill_ids(&mut self, ids: IdRange) {
        self.ids = ids;
    }

    /// Ids left in the reserved block.
    pub fn ids_left(&self) -> u64 {
        self.ids.end.saturating_sub(self.ids.next)
    }

    /// The next client id the core would use.
    pub fn ids_next(&self) -> u64 {
        self.ids.next
    }

    /// A cancel for `id` went out outside the quoter (cancel-all): the quote is not matched again.
    pub fn quoter_cancel_sent(&mut self, id: ClientOrderId) {
        self.quoter.on_cancel_sent(id);
    }

    /// Pre-trade risk (to apply kill, limits).
    pub fn risk_mut(&mut self) -> &mut PreTradeRisk {
        &mut self.risk
    }

    /// The quoter's working quotes.
    pub fn quoter(&self) -> &Quoter {
        &self.quoter
    }

    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        self.stats
    }
}

/// The quoting pipeline of one Binance spot session.
pub struct BinanceQuotingPipeline {
    sync: BookSync,
    core: QuotingCore<BinanceWsEncoder>,
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
        Self {
            sync: BookSync::new(inst.rule, inst.tick, inst.lot, L2Book::default()),
            core: QuotingCore::new(
                inst.id,
                risk,
                params,
                ids,
                BinanceWsEncoder::new(&inst, client_prefix, mask),
            ),
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
        self.core.stats.messages += 1;
        let event = match binance::decode(payload) {
            Ok(env) => match env.message {
                Message::DepthUpdate(d) => self.sync.on_depth_update(payload, &d),
                Message::DepthSnapshot(s) => self.sync.on_snapshot(&s),
                _ => return Ok(0),
            },
            Err(_) => {
                self.core.stats.decode_errors += 1;
                return Ok(0);
            }
        };
        let stale = self.sync.is_stale();
        match event {
            SyncEvent::Applied | SyncEvent::SnapshotLoaded => self.core.stats.applied += 1,
            SyncEvent::SequenceBreak => self.core.stats.gaps += 1,
            SyncEvent::Buffered | SyncEvent::DroppedStale if !stale => return Ok(0),
            _ => {}
        }
        let top = if stale {
            Top::default()
        } else {
            Top {
                bid: self.sync.book().best_bid(),
                ask: self.sync.book().best_ask(),
            }
        };
        self.core.requote(top, stale, ts_recv, now_ms, tx, clock)
    }

    /// The synchronised book.
    pub fn sync(&self) -> &BookSync {
        &self.sync
    }

    /// The quoting core (acks, fills, ids, risk, quoter).
    pub fn core(&mut self) -> &mut QuotingCore<BinanceWsEncoder> {
        &mut self.core
    }

    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        self.core.stats
    }

    /// Pre-trade risk (to apply fills, kill, limits).
    pub fn risk_mut(&mut self) -> &mut PreTradeRisk {
        &mut self.core.risk
    }

    /// The quoter's working quotes.
    pub fn quoter(&self) -> &Quoter {
        &self.core.quoter
    }

    /// The venue says order `id` left the book.
    pub fn on_order_done(&mut self, id: ClientOrderId) {
        self.core.on_order_done(id);
    }
}

/// The quoting pipeline of one ITCH/OUCH session (one stock).
pub struct ItchQuotingPipeline {
    book: L3Book,
    locate: u16,
    next_seq: Option<u64>,
    midnight: UnixNanos,
    stale: bool,
    core: QuotingCore<OuchEncoder>,
}

impl ItchQuotingPipeline {
    /// A pipeline for the stock with ITCH `locate` code, quoting through `core`; ITCH times are
    /// nanoseconds after `midnight`.
    pub fn new(
        core: QuotingCore<OuchEncoder>,
        locate: u16,
        midnight: UnixNanos,
        book: L3Config,
    ) -> Self {
        Self {
            book: L3Book::new(core.instrument, book),
            locate,
            next_seq: None,
            midnight,
            stale: false,
            core,
        }
    }

    /// Processes one MoldUDP64 datagram received at `ts_recv` (its kernel or NIC timestamp).
    /// A sequence gap makes the book stale (quotes pulled) until a recovery resets it.
    ///
    /// # Hot path
    /// See the module docs.
    pub fn on_packet<T: TxTransport, C: StageClock>(
        &mut self,
        datagram: &[u8],
        ts_recv: UnixNanos,
        now_ms: u64,
        tx: &mut T,
        clock: &mut C,
    ) -> io::Result<usize> {
        let Ok(packet) = MoldPacket::parse(datagram) else {
            self.core.stats.decode_errors += 1;
            return Ok(0);
        };
        if packet.kind != PacketKind::Data {
            return Ok(0);
        }
        if let Some(next) = self.next_seq {
            if packet.sequence > next && !self.stale {
                self.stale = true;
                self.core.stats.gaps += 1;
            }
            if packet.sequence < next {
                return Ok(0); // a duplicate (the other line, or a re-send)
            }
        }
        self.next_seq = Some(packet.sequence + u64::from(packet.count));
        let mut touched = false;
        for (seq, msg) in packet.messages() {
            self.core.stats.messages += 1;
            let Ok(m) = itch::decode(msg) else {
                self.core.stats.decode_errors += 1;
                continue;
            };
            if m.header().locate != self.locate {
                continue;
            }
            if let Some(ev) = m.order_event(self.midnight, seq, ts_recv) {
                match self.book.apply(&ev) {
                    Ok(_) => {
                        self.core.stats.applied += 1;
                        touched = true;
                    }
                    Err(_) => self.stale = true,
                }
            }
        }
        if !touched && !self.stale {
            return Ok(0);
        }
        let top = if self.stale {
            Top::default()
        } else {
            Top {
                bid: self.book.best_bid().map(|l| (l.price, l.qty)),
                ask: self.book.best_ask().map(|l| (l.price, l.qty)),
            }
        };
        self.core
            .requote(top, self.stale, ts_recv, now_ms, tx, clock)
    }

    /// The order book.
    pub fn book(&self) -> &L3Book {
        &self.book
    }

    /// Whether the book is stale (a gap or integrity error since the last reset).
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// The quoting core (acks, fills, ids, risk, quoter).
    pub fn core(&mut self) -> &mut QuotingCore<OuchEncoder> {
        &mut self.core
    }

    /// Counters so far.
    pub fn stats(&self) -> PipelineStats {
        self.core.stats
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

    fn itch_pipeline() -> ItchQuotingPipeline {
        let p = pipeline();
        // Same risk and parameters as the Binance test, a 0.0001 tick (ITCH price units).
        let BinanceQuotingPipeline { core, .. } = p;
        let QuotingCore { risk, params, .. } = core;
        let enc =
            OuchEncoder::new(*b"AMZN    ", *b"PYMM", Scale::parse("0.0001").unwrap()).unwrap();
        let ids = IdRange {
            next: 1,
            end: 1_000,
        };
        let core = QuotingCore::new(InstrumentId(0), risk, params, ids, enc);
        ItchQuotingPipeline::new(core, 7, UnixNanos(0), L3Config::default())
    }

    fn mold(seq: u64, msgs: &[Vec<u8>]) -> Vec<u8> {
        let mut buf = vec![0u8; 1400];
        let mut w =
            crate::feed::moldudp64::PacketWriter::new(&mut buf, b"SESSION001", seq).unwrap();
        for m in msgs {
            assert!(w.push(m));
        }
        let n = w.finish();
        buf.truncate(n);
        buf
    }

    fn add(order_ref: u64, side: Side, price: i64, shares: u32) -> Vec<u8> {
        let mut b = [0u8; 64];
        let hdr = crate::feed::itch::ItchHeader {
            locate: 7,
            tracking: 0,
            timestamp: 1,
        };
        let stock = crate::feed::itch_encode::stock("AMZN");
        let n = crate::feed::itch_encode::add_order(
            &mut b,
            hdr,
            order_ref,
            side,
            shares,
            stock,
            Price::from_ticks(price),
        )
        .unwrap();
        b[..n].to_vec()
    }

    #[test]
    fn itch_adds_quote_through_ouch_and_a_gap_pulls_quotes() {
        let mut p = itch_pipeline();
        let mut sink = Sink(Vec::new());
        let t = UnixNanos(1_000);
        // Touch 22.3500 / 22.3600 (ticks of 0.0001).
        let pkt = mold(
            1,
            &[
                add(1, Side::Buy, 223_500, 300),
                add(2, Side::Sell, 223_600, 300),
            ],
        );
        let sent = p.on_packet(&pkt, t, 1, &mut sink, &mut NoStages).unwrap();
        assert_eq!(sent, 4, "{:?}", p.stats());
        let mut enters = 0;
        for f in &sink.0 {
            let pk = crate::gateway::soupbintcp::parse_packet(f)
                .unwrap()
                .unwrap();
            assert_eq!(pk.kind, PacketType::UnsequencedData);
            let m = EnterOrder::decode(pk.payload).unwrap();
            assert_eq!(m.stock, *b"AMZN    ");
            assert_eq!(m.display, b'P', "post-only");
            assert!(
                m.price > 223_500 - 100 && m.price < 223_600 + 100,
                "{}",
                m.price
            );
            enters += 1;
        }
        assert_eq!(enters, 4);
        // Other stocks are ignored; a duplicate packet is dropped.
        sink.0.clear();
        assert_eq!(
            p.on_packet(&pkt, t, 1, &mut sink, &mut NoStages).unwrap(),
            0
        );
        // A gap (sequence 10 while 3 is expected) pulls every quote with OUCH cancels.
        let gap = mold(10, &[add(3, Side::Buy, 223_400, 100)]);
        p.on_packet(&gap, t, 2, &mut sink, &mut NoStages).unwrap();
        assert!(p.is_stale());
        assert_eq!(p.stats().gaps, 1);
        let cancels = sink
            .0
            .iter()
            .filter(|f| {
                let pk = crate::gateway::soupbintcp::parse_packet(f)
                    .unwrap()
                    .unwrap();
                CancelOrder::decode(pk.payload).is_ok_and(|c| c.shares == 0)
            })
            .count();
        assert_eq!(cancels, 4);
        assert_eq!(
            p.on_packet(b"short", t, 3, &mut sink, &mut NoStages)
                .unwrap(),
            0
        );
        assert_eq!(p.stats().decode_errors, 1);
    }

    #[test]
    fn ouch_price_units_follow_the_tick() {
        let penny =
            OuchEncoder::new(*b"X       ", *b"PYMM", Scale::parse("0.01").unwrap()).unwrap();
        assert_eq!(penny.price(Price::from_ticks(2_235)), Ok(223_500));
        assert!(
            OuchEncoder::new(*b"X       ", *b"PYMM", Scale::parse("0.00001").unwrap()).is_none()
        );
        assert_eq!(penny.price(Price::from_ticks(-1)), Err(EncodeFailed));
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
