//! The live ITCH/OUCH quoting engine: one thread that receives MoldUDP64 datagrams from the ITCH
//! feed, fills sequence gaps through the MoldUDP64 re-request server, applies the messages to an L3
//! book, runs the quoter on the top of book, and sends the quoter's orders **through the live
//! [`OuchSession`]** (so its pre-trade risk, persisted tokens, UNKNOWN and barrier rules apply), polling
//! the session on the same thread. Python talks to it as to the Binance engine: the parameter block
//! (seqlock), the command ring (SPSC), the status block (seqlock).
//!
//! Rules (`docs/architecture/itch-live-engine.md`):
//! - The feed is sequenced from message 1 through an A/B [`Arbiter`]: line A, the optional line B
//!   and the re-request replies all go through it, the first copy of each message wins and later
//!   copies are dropped; a datagram ahead of the next expected number is parked until the hole
//!   before it fills. With one line the hole is re-requested at once; with two, only once the
//!   stream ran `arbiter_window` messages past it, a heartbeat shows it, or it stayed open
//!   `gap_grace_us` (line B usually fills it first). While a hole is open (or after the re-request
//!   client gave up) the book is stale and every quote is pulled.
//! - The quoter's working quotes follow the session's order table ([`ItchLiveCore::sync_orders`]):
//!   an order that left the table is done, a fill reduces the quote, an order the session holds live
//!   that the quoter does not own (a refused replacement's original) is cancelled.
//! - Kill, lift and stop go to the session (kill = one Cancel per token).
//!
//! # Hot path
//! Per datagram: one `recvmmsg` into preallocated buffers, in-place MoldUDP64/ITCH decoding, the L3
//! book, the quoter (fixed arrays), the session's fixed-buffer encoding and one `write`. No
//! allocation, no lock, no logging (`native/tests/itch_live_no_alloc.rs`). Connecting and client-id
//! refills happen on the same thread, rarely, and may allocate.
//!
//! # Journal (#11)
//! With `journal_dir` set, every input that can change the engine's state is appended to the
//! journal (ADR 0003; the records are in [`jtag`] and ADR 0010) on this thread, through the journal
//! writer's SPSC ring: each ITCH message of the quoted stock in feed order, before the book applies
//! it; each sequenced OUCH message, before the session applies it; feed-state changes (gap opened or
//! filled, gave up); link changes; parameter pushes; commands; the requote timer. A refused append
//! (ring full, writer failed) halts quoting fail-closed: the kill is latched, a later `lift` is
//! refused until restart, and nothing more is journalled, so the journal stays a clean prefix.
//!
//! Not done: recovery from the journal at start (a restart logs in from the session's in-memory
//! sequence, 1 for a new process, and relies on the SoupBinTCP replay), snapshots, and a replay
//! driver for this engine's journal.

use std::net::{Ipv4Addr, SocketAddrV4, UdpSocket};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Deserialize;

use super::affinity;
use super::ouch_session::{now, OuchConfig, OuchCore, OuchSession, Phase, Refusal, INST};
use super::params::ParamReader;
use super::session::{Command as SessionCommand, Input, RecordCtx, Stamped};
use crate::book::{L3Book, L3Config};
use crate::feed::arbiter::{Arbiter, ArbiterConfig, Line};
use crate::feed::itch;
use crate::feed::moldudp64::{
    MoldPacket, PacketKind, RerequestAction, RerequestClient, RerequestConfig,
};
use crate::gateway::OrderState;
use crate::journal::payloads::TimerTickV1;
use crate::journal::{
    open_engine_journal, AppendError, JournalConfig, JournalHandle, JournalRecord, JournalStats,
    JournalWriter, OpenJournal, RecordKind,
};
use crate::model::{ClientOrderId, InstrumentId, Price, Qty, Side, UnixNanos};
use crate::net::ring::Consumer;
use crate::net::transport::RxTransport;
use crate::net::udp::{KernelUdpRx, UdpRxConfig};
use crate::quoter::{QuoteAction, QuoteParams, Quoter, Top, MAX_QUOTES, QUOTE_PARAM_WORDS};
use crate::time::latency::LatencyRecorder;
use crate::time::seqlock::SeqLock;

/// Commands from the owner (through the SPSC ring).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Latch the kill switch: entry denied, one Cancel per open token, quotes pulled.
    Kill,
    /// Clear the kill latch (the two-person rule is enforced before this).
    Lift,
    /// Orderly stop: cancel all, log out, finish.
    Stop,
    /// Drop the OUCH connection now, as a reset would (operators and fault tests): working orders
    /// become UNKNOWN until the reconnect's replay and barrier resolve them.
    DropLink,
}

/// The journal records of this engine that are not typed kinds: `RecordKind::SessionInput`
/// payloads, the first byte a sub-tag (disjoint from the Binance session's, `engine::session`).
/// Parameter pushes, kill/lift/stop and the requote timer use the typed `ParamPush`,
/// `OperatorCommand` and `TimerTick` kinds. Layouts (little-endian) in ADR 0010.
pub mod jtag {
    /// An ITCH message of the quoted stock, in feed order, before the book applies it:
    /// `tag u8, len u8, pad 6, mold_seq u64, message [u8; len]`.
    pub const ITCH_MESSAGE: u8 = 0x51;
    /// The feed's sequencing state changed (gap opened or filled, gave up):
    /// `tag u8, flags u8 (1 stale, 2 broken), pad 6, next_seq u64, seen_to u64`.
    pub const FEED_STATE: u8 = 0x52;
    /// A sequenced OUCH message, before the session applies it:
    /// `tag u8, len u8, pad 6, stream_seq u64, message [u8; len]`.
    pub const OUCH_MESSAGE: u8 = 0x61;
    /// The OUCH link changed (connected, logged in, disconnected):
    /// `tag u8, phase u8, link_up u8, pad 5, connects u64, disconnects u64, logins u64`.
    pub const OUCH_LINK: u8 = 0x62;
    /// The operator command `drop_link`: `tag u8, pad 7`.
    pub const DROP_LINK: u8 = 0x63;
    /// Longest message a `*_MESSAGE` record carries whole.
    pub const MAX_MESSAGE: usize = crate::journal::MAX_PAYLOAD_LEN - 16;
    /// The timer id of the requote timer in `TimerTick` records.
    pub const REQUOTE_TIMER: u32 = 2;
}

/// Words of the status block.
pub const STATUS_WORDS: usize = 192;
/// First word of the quotes table (4 words per quote: id, side (1 buy, 2 sell), price ticks, qty).
pub const STATUS_QUOTES_AT: usize = 48;
/// Quotes in the status table (both sides' working tables, whole).
pub const STATUS_QUOTES: usize = 2 * MAX_QUOTES;
const _: () = assert!(STATUS_QUOTES_AT + 4 * STATUS_QUOTES <= sw::KILL_TOLD);
const _: () = assert!(sw::KILL_DONE < STATUS_WORDS);

/// Status block word indexes.
pub mod sw {
    /// The OUCH session's [`super::Phase`] code.
    pub const PHASE: usize = 0;
    /// Flag bits: 1 OUCH link up, 2 book stale, 4 killed, 8 feed gave up (stale until restart),
    /// 16 thread running, 32 finished, 64 journal on, 128 the journal halted quoting.
    pub const FLAGS: usize = 1;
    /// Datagrams received.
    pub const DATAGRAMS: usize = 2;
    /// ITCH messages applied to the book.
    pub const APPLIED: usize = 3;
    /// Next expected feed sequence number.
    pub const NEXT_SEQ: usize = 4;
    /// Gaps seen.
    pub const GAPS: usize = 5;
    /// Re-requests sent.
    pub const REREQUESTS: usize = 6;
    /// Position in shares (risk's view, i64 as u64).
    pub const POSITION: usize = 7;
    /// Orders the session tracks (working, pending, UNKNOWN).
    pub const OPEN_ORDERS: usize = 8;
    /// Of those, UNKNOWN.
    pub const UNKNOWN_ORDERS: usize = 9;
    /// Best bid ticks, shares; best ask ticks, shares; flags (1 bid, 2 ask).
    pub const BID: usize = 10;
    /// See [`BID`].
    pub const BID_QTY: usize = 11;
    /// See [`BID`].
    pub const ASK: usize = 12;
    /// See [`BID`].
    pub const ASK_QTY: usize = 13;
    /// See [`BID`].
    pub const TOP_FLAGS: usize = 14;
    /// Quotes in the table at [`super::STATUS_QUOTES_AT`].
    pub const QUOTES: usize = 15;
    /// Requotes run.
    pub const REQUOTES: usize = 16;
    /// Orders the session refused (risk, not ready, ...).
    pub const REFUSED: usize = 17;
    /// Orders the quoter did not own, cancelled.
    pub const ORPHANS: usize = 18;
    /// Datagrams that did not parse, or ITCH messages that did not decode.
    pub const DECODE_ERRORS: usize = 19;
    /// Parameter block version last read.
    pub const PARAM_VERSION: usize = 20;
    /// Feed messages dropped as copies of ones already applied (the other line's, re-sent ones).
    pub const DUPLICATES: usize = 21;
    /// Book integrity errors (the book is stale until restart).
    pub const BOOK_ERRORS: usize = 22;
    /// First word of the session's counters ([`super::OUCH_COUNTERS`] in order).
    pub const OUCH: usize = 24;
    /// The last journal seq appended (0: none).
    pub const JOURNAL_SEQ: usize = 42;
    /// Inputs not journalled since the journal refused one (fail closed).
    pub const JOURNAL_DROPPED: usize = 43;
    /// Datagrams whose copy was the first to arrive, from line A, line B and the re-request
    /// server ([`super::FeedCounters::won`]).
    pub const WON: usize = 44;
    /// Datagrams parked ahead of a hole.
    pub const REORDERED: usize = 47;
    /// The last kill on `CLOCK_MONOTONIC` (ns; 0: none yet): the loop took the command.
    pub const KILL_TOLD: usize = 176;
    /// ... the session's Cancels were written to the socket (flushed).
    pub const KILL_SENT: usize = 177;
    /// ... the session first had nothing open or UNKNOWN: the venue answered every Cancel.
    pub const KILL_DONE: usize = 178;
}

/// The session counters copied into the status block from [`sw::OUCH`], in order.
pub const OUCH_COUNTERS: [&str; 18] = [
    "connects",
    "disconnects",
    "logins",
    "applied",
    "entered",
    "replaces",
    "cancels",
    "cancels_resent",
    "denied",
    "accepted",
    "rejected",
    "canceled",
    "executions",
    "unknown",
    "resolved_never_live",
    "resolved_live",
    "barriers",
    "unattributed_fills",
];

fn ouch_counters(c: &super::ouch_session::OuchCounters) -> [u64; 18] {
    [
        c.connects,
        c.disconnects,
        c.logins,
        c.applied,
        c.entered,
        c.replaces,
        c.cancels,
        c.cancels_resent,
        c.denied,
        c.accepted,
        c.rejected,
        c.canceled,
        c.executions,
        c.unknown,
        c.resolved_never_live,
        c.resolved_live,
        c.barriers,
        c.unattributed_fills,
    ]
}

fn d_interface() -> String {
    "127.0.0.1".into()
}
fn d_locate() -> u16 {
    1
}
fn d_requote_ms() -> u64 {
    5
}
fn d_rerequest_retry_ms() -> u64 {
    30
}

/// Default reorder window with line B: messages the stream may run past a hole before it is
/// re-requested (the arbiter's default).
const AB_WINDOW: u64 = 64;
/// Default time a hole may stay open with line B before it is re-requested, µs.
const AB_GRACE_US: u64 = 1_000;
/// `ItchLoop::stale_since` once the open hole was reported for re-request.
const REPORTED: u64 = u64::MAX;

/// The engine's config, as `pymm._native.ItchEngine` takes it (a dict).
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItchEngineConfig {
    /// The OUCH session (the same dict as `pymm._native.OuchSession`'s).
    pub ouch: OuchConfig,
    /// The ITCH feed (line A), `group:port` (a multicast group) or `ip:port` (unicast, bound
    /// locally).
    pub feed: String,
    /// Line B of the same feed, `group:port` or `ip:port` (`None`: one line). Arbitrated with line
    /// A message by message: the first copy wins.
    #[serde(default)]
    pub feed_b: Option<String>,
    /// Messages the stream may run past a hole before it is re-requested (default 0 with one line:
    /// at once; 64 with line B).
    #[serde(default)]
    pub arbiter_window: Option<u64>,
    /// With line B: a hole still open after this long is re-requested even inside the window, µs
    /// (default 1000).
    #[serde(default)]
    pub gap_grace_us: Option<u64>,
    /// Interface address to join the group on.
    #[serde(default = "d_interface")]
    pub interface: String,
    /// MoldUDP64 re-request server, `ip:port` (`None`: a gap leaves the book stale for good).
    #[serde(default)]
    pub rerequest: Option<String>,
    /// ITCH stock locate code of the quoted stock.
    #[serde(default = "d_locate")]
    pub locate: u16,
    /// Requote on a timer this often even without feed or session input (ms).
    #[serde(default = "d_requote_ms")]
    pub requote_ms: u64,
    /// Ask for a gap again after this long without the reply (ms).
    #[serde(default = "d_rerequest_retry_ms")]
    pub rerequest_retry_ms: u64,
    /// Pin the thread to this core.
    #[serde(default)]
    pub core: Option<usize>,
    /// Nap this long when a pass found nothing to do (µs; default 0 when pinned, 20 otherwise).
    #[serde(default)]
    pub idle_sleep_us: Option<u64>,
    /// Journal directory (none: no journal).
    #[serde(default)]
    pub journal_dir: Option<String>,
    /// Pin the journal writer thread to this core (its own). `None`: unpinned.
    #[serde(default)]
    pub journal_core: Option<usize>,
    /// The journal writer's sleep when its ring is empty, µs (default 100; 0 when pinned).
    #[serde(default)]
    pub journal_idle_sleep_us: Option<u64>,
}

// ---------------------------------------------------------------------------------------------
// The deterministic part: feed sequencing, book, quoter ↔ session.

/// What one datagram did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FeedStep {
    /// Nothing that changes the quotes.
    Nothing,
    /// The book changed (or a heartbeat confirmed it).
    Applied,
    /// Messages `[from, to)` are missing: re-request them.
    Gap {
        /// First missing number.
        from: u64,
        /// One past the last missing number.
        to: u64,
    },
}

/// Counters of the feed side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FeedCounters {
    /// Datagrams seen (all lines).
    pub datagrams: u64,
    /// ITCH messages applied to the book.
    pub applied: u64,
    /// Gaps reported for re-request.
    pub gaps: u64,
    /// Messages dropped as copies of ones already applied (the other line's, re-sent ones).
    pub duplicates: u64,
    /// Datagrams whose copy arrived first, by [`Line`] (A, B, re-request server).
    pub won: [u64; 3],
    /// Datagrams parked ahead of a hole until it filled.
    pub reordered: u64,
    /// Datagrams or messages that did not decode.
    pub decode_errors: u64,
    /// Book integrity errors.
    pub book_errors: u64,
}

/// Counters of the quoting side.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuoteCounters {
    /// Requotes run.
    pub requotes: u64,
    /// Orders the session refused.
    pub refused: u64,
    /// Session orders the quoter did not own, cancelled.
    pub orphans: u64,
}

/// Book + quoter, in front of an [`OuchCore`] (see the module docs). No I/O, time as an argument.
pub struct ItchLiveCore {
    book: L3Book,
    locate: u16,
    /// Sequences the lines: the next number to apply (the feed starts at 1), parked datagrams.
    arbiter: Arbiter,
    /// One past the highest sequence number seen (a gap is open while `next_seq() < seen_to`).
    seen_to: u64,
    /// The book cannot be trusted until restart (integrity error, or the gap could not be filled).
    broken: bool,
    session: Option<[u8; 10]>,
    midnight: UnixNanos,
    units_per_tick: i64,
    quoter: Quoter,
    /// When the feed last confirmed the book.
    top_at: UnixNanos,
    feed: FeedCounters,
    quotes: QuoteCounters,
}

impl ItchLiveCore {
    /// A core for the stock with ITCH `locate`, whose ITCH prices are `units_per_tick` per tick;
    /// one line (a hole is reported at once).
    pub fn new(locate: u16, units_per_tick: u32, book: L3Config) -> Self {
        Self::with_window(locate, units_per_tick, book, 0)
    }

    /// [`Self::new`] whose arbiter reports a hole only once the stream ran `window` messages past
    /// it (or a heartbeat shows it): room for line B to fill it first.
    pub fn with_window(locate: u16, units_per_tick: u32, book: L3Config, window: u64) -> Self {
        Self {
            book: L3Book::new(InstrumentId(u32::from(locate)), book),
            locate,
            arbiter: Arbiter::new(
                1,
                ArbiterConfig {
                    window,
                    ..ArbiterConfig::default()
                },
            ),
            seen_to: 1,
            broken: false,
            session: None,
            midnight: UnixNanos(0),
            units_per_tick: i64::from(units_per_tick.max(1)),
            quoter: Quoter::new(),
            top_at: UnixNanos(0),
            feed: FeedCounters::default(),
            quotes: QuoteCounters::default(),
        }
    }

    /// Whether the book is stale (a gap open, or broken).
    pub fn is_stale(&self) -> bool {
        self.broken || self.arbiter.next_sequence() < self.seen_to
    }

    /// Whether the book is stale until restart.
    pub fn is_broken(&self) -> bool {
        self.broken
    }

    /// The gap could not be filled: stale until restart.
    pub fn give_up(&mut self) {
        self.broken = true;
    }

    /// The MoldUDP64 session name, once a packet was seen.
    pub fn mold_session(&self) -> Option<[u8; 10]> {
        self.session
    }

    /// Next feed sequence number expected.
    pub fn next_seq(&self) -> u64 {
        self.arbiter.next_sequence()
    }

    /// One past the highest feed sequence number seen.
    pub fn seen_to(&self) -> u64 {
        self.seen_to
    }

    /// Feed counters.
    pub fn feed_counters(&self) -> FeedCounters {
        let a = self.arbiter.stats();
        FeedCounters {
            gaps: a.gaps,
            duplicates: a.duplicates,
            won: a.won,
            reordered: a.reordered,
            ..self.feed
        }
    }

    /// Quoting counters.
    pub fn quote_counters(&self) -> QuoteCounters {
        self.quotes
    }

    /// The quoter (working quotes).
    pub fn quoter(&self) -> &Quoter {
        &self.quoter
    }

    /// The top of book in ticks (empty while stale).
    pub fn top(&self) -> Top {
        if self.is_stale() {
            return Top::default();
        }
        let u = self.units_per_tick;
        Top {
            // Bids round down, asks up: a sub-tick level never makes a quote cross.
            bid: self
                .book
                .best_bid()
                .map(|l| (Price::from_ticks(l.price.ticks().div_euclid(u)), l.qty)),
            ask: self.book.best_ask().map(|l| {
                let t = l.price.ticks();
                (
                    Price::from_ticks(t.div_euclid(u) + i64::from(t % u != 0)),
                    l.qty,
                )
            }),
        }
    }

    /// Applies one MoldUDP64 datagram of line A received at `ts_recv`.
    ///
    /// # Hot path
    /// In-place parsing; no allocation.
    pub fn on_datagram(&mut self, datagram: &[u8], ts_recv: UnixNanos) -> FeedStep {
        self.on_line_datagram(Line::A, datagram, ts_recv, &mut |_, _| {})
    }

    /// [`Self::on_datagram`], handing `tap` each ITCH message of the quoted stock (its MoldUDP64
    /// sequence number and bytes) in feed order, before the book applies it.
    ///
    /// # Hot path
    /// As [`Self::on_datagram`].
    pub fn on_datagram_with(
        &mut self,
        datagram: &[u8],
        ts_recv: UnixNanos,
        tap: &mut impl FnMut(u64, &[u8]),
    ) -> FeedStep {
        self.on_line_datagram(Line::A, datagram, ts_recv, tap)
    }

    /// Applies one datagram from `line` (A, B or the re-request server's reply): the arbiter keeps
    /// the first copy of each message, parks one that is ahead of a hole, and delivers in order;
    /// `tap` sees each delivered ITCH message of the quoted stock before the book applies it.
    ///
    /// # Hot path
    /// In-place parsing (a parked datagram is copied into a preallocated slot); no allocation.
    pub fn on_line_datagram(
        &mut self,
        line: Line,
        datagram: &[u8],
        ts_recv: UnixNanos,
        tap: &mut impl FnMut(u64, &[u8]),
    ) -> FeedStep {
        self.feed.datagrams += 1;
        let Ok(packet) = MoldPacket::parse(datagram) else {
            self.feed.decode_errors += 1;
            return FeedStep::Nothing;
        };
        if self.session.is_none() {
            self.session = Some(*packet.session);
        }
        let end = match packet.kind {
            PacketKind::Data => packet.sequence + u64::from(packet.count),
            // A heartbeat's sequence is the next one to be sent: it shows loss at the tail.
            PacketKind::Heartbeat => packet.sequence,
            _ => return FeedStep::Nothing,
        };
        if end > self.seen_to {
            self.seen_to = end;
        }
        let Self {
            arbiter,
            book,
            locate,
            feed,
            broken,
            midnight,
            ..
        } = self;
        let mut delivered = false;
        let gap = arbiter.on_packet(line, datagram, &mut |seq, msg| {
            delivered = true;
            let Ok(m) = itch::decode(msg) else {
                feed.decode_errors += 1;
                return;
            };
            if m.header().locate != *locate {
                return;
            }
            tap(seq, msg);
            if let Some(ev) = m.order_event(*midnight, seq, ts_recv) {
                match book.apply(&ev) {
                    Ok(_) => feed.applied += 1,
                    Err(_) => {
                        feed.book_errors += 1;
                        *broken = true;
                    }
                }
            }
        });
        if let Ok(Some(g)) = gap {
            return FeedStep::Gap {
                from: g.from,
                to: g.to,
            };
        }
        if packet.kind == PacketKind::Heartbeat {
            if self.is_stale() {
                return FeedStep::Nothing;
            }
            self.top_at = ts_recv;
            return FeedStep::Applied;
        }
        if !delivered {
            return FeedStep::Nothing;
        }
        self.top_at = ts_recv;
        FeedStep::Applied
    }

    /// Brings the quoter's working quotes in line with the session's order table: an order gone
    /// from the table is done, fills reduce the quote, a pending cancel the session no longer has
    /// (the venue never received it, or refused the replacement) makes the quote matchable again,
    /// and a live order the quoter does not own is cancelled.
    ///
    /// # Hot path
    /// O(quotes × orders); no allocation.
    pub fn sync_orders(&mut self, ouch: &mut OuchCore, now: UnixNanos) {
        let mut ids = [ClientOrderId(0); 2 * MAX_QUOTES];
        let mut n = 0;
        for side in [Side::Buy, Side::Sell] {
            for q in self.quoter.working(side) {
                if n < ids.len() {
                    ids[n] = q.id;
                    n += 1;
                }
            }
        }
        for &id in &ids[..n] {
            let Some(o) = ouch.order(id) else {
                self.quoter.on_done(id);
                continue;
            };
            let Some(q) = self.find(id) else { continue };
            if o.leaves.lots() < q.qty.lots() && o.state != OrderState::PendingNew {
                self.quoter
                    .on_fill(id, Qty::from_lots(q.qty.lots() - o.leaves.lots()));
            }
            let live = matches!(o.state, OrderState::New | OrderState::PartiallyFilled);
            if q.pending && live && o.cancel_no == 0 && o.replaced_by.0 == 0 {
                self.quoter.on_cancel_rejected(id);
            }
        }
        // Orders the quoter does not own (at most a few; cancels are never denied).
        let mut orphans = [ClientOrderId(0); 8];
        let mut k = 0;
        for o in ouch.orders() {
            let open = matches!(o.state, OrderState::New | OrderState::PartiallyFilled);
            if k < orphans.len()
                && open
                && !o.foreign
                && o.cancel_no == 0
                && o.replaced_by.0 == 0
                && self.find(o.id).is_none()
            {
                orphans[k] = o.id;
                k += 1;
            }
        }
        for &id in &orphans[..k] {
            if ouch.cancel(id, now).is_ok() {
                self.quotes.orphans += 1;
            }
        }
    }

    fn find(&self, id: ClientOrderId) -> Option<crate::quoter::WorkingQuote> {
        [Side::Buy, Side::Sell]
            .into_iter()
            .find_map(|s| self.quoter.working(s).find(|q| q.id == id).copied())
    }

    /// Re-quotes from the book and sends what changed through the session (risk, tokens and the
    /// UNKNOWN rules are the session's). Quotes are pulled while the book is stale or the session
    /// cannot enter orders. Returns the messages the session took.
    ///
    /// # Hot path
    /// Fixed arrays; no allocation.
    pub fn requote(&mut self, params: &QuoteParams, ouch: &mut OuchCore, now: UnixNanos) -> usize {
        self.quotes.requotes += 1;
        let top = self.top();
        if let (Some((b, _)), Some((a, _))) = (top.bid, top.ask) {
            let mid = Price::from_ticks(b.ticks() + (a.ticks() - b.ticks()) / 2);
            ouch.risk_mut().set_reference(INST, mid, self.top_at);
        }
        let pull = self.is_stale() || ouch.phase() != Phase::Ready;
        let inventory = ouch.risk().position(INST).unwrap_or(0);
        let actions = self.quoter.update(params, &top, inventory, pull, now);
        let post_only = params.post_only != 0;
        let mut sent = 0;
        for a in actions.as_slice() {
            match *a {
                QuoteAction::New { side, price, qty } => {
                    if !self.quoter.has_room(side) {
                        continue;
                    }
                    match ouch.enter(side, price, qty, post_only, now) {
                        Ok(id) => {
                            self.quoter.on_sent(id, side, price, qty, now);
                            sent += 1;
                        }
                        Err(_) => self.quotes.refused += 1,
                    }
                }
                QuoteAction::Replace {
                    id,
                    side,
                    price,
                    qty,
                } => {
                    if !self.quoter.has_room(side) {
                        continue;
                    }
                    match ouch.replace(id, price, qty, now) {
                        Ok(new_id) => {
                            self.quoter
                                .on_replace_sent(id, new_id, side, price, qty, now);
                            sent += 1;
                        }
                        Err(Refusal::NoSuchOrder) => self.settle_missing(id, ouch),
                        Err(_) => self.quotes.refused += 1,
                    }
                }
                QuoteAction::Cancel { id } => match ouch.cancel(id, now) {
                    Ok(()) => {
                        self.quoter.on_cancel_sent(id);
                        sent += 1;
                    }
                    Err(Refusal::NoSuchOrder) => self.settle_missing(id, ouch),
                    Err(_) => {}
                },
            }
        }
        sent
    }

    /// The session refused a command on `id`: the order is gone (done) or already being cancelled.
    fn settle_missing(&mut self, id: ClientOrderId, ouch: &OuchCore) {
        match ouch.order(id) {
            None => self.quoter.on_done(id),
            Some(o) if o.cancel_no != 0 || o.state.is_terminal() => self.quoter.on_cancel_sent(id),
            // UNKNOWN or pending new: wait for the session to resolve it.
            Some(_) => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The thread.

/// What the running thread shares with its owner.
pub struct ItchShared {
    /// The status snapshot.
    pub status: SeqLock<STATUS_WORDS>,
    /// Set by the thread when it exits.
    pub finished: AtomicBool,
    /// Asks the thread to exit at once (no orderly stop).
    pub abort: AtomicBool,
    /// Last error (written off the hot path).
    pub last_error: Mutex<String>,
    /// Why the journal halted quoting (fail closed), once it did.
    pub journal_halt: Mutex<Option<String>>,
}

impl ItchShared {
    /// A fresh shared block.
    pub fn new() -> Self {
        Self {
            status: SeqLock::new([0; STATUS_WORDS]),
            finished: AtomicBool::new(false),
            abort: AtomicBool::new(false),
            last_error: Mutex::new(String::new()),
            journal_halt: Mutex::new(None),
        }
    }

    fn error(&self, e: impl std::fmt::Display) {
        if let Ok(mut g) = self.last_error.lock() {
            *g = e.to_string();
        }
    }
}

impl Default for ItchShared {
    fn default() -> Self {
        Self::new()
    }
}

/// A `SessionInput` record of this engine: `tag, b1, pad 6`, then `words`, then `bytes`
/// (`None` if it does not fit whole).
fn session_record(
    ts: UnixNanos,
    tag: u8,
    b1: u8,
    b2: u8,
    words: &[u64],
    bytes: &[u8],
) -> Option<JournalRecord> {
    let mut buf = [0u8; crate::journal::MAX_PAYLOAD_LEN];
    let n = 8 + 8 * words.len() + bytes.len();
    if n > buf.len() {
        return None;
    }
    buf[0] = tag;
    buf[1] = b1;
    buf[2] = b2;
    for (i, w) in words.iter().enumerate() {
        buf[8 + 8 * i..16 + 8 * i].copy_from_slice(&w.to_le_bytes());
    }
    buf[8 + 8 * words.len()..n].copy_from_slice(bytes);
    JournalRecord::new(RecordKind::SessionInput, ts, ts, &buf[..n]).ok()
}

/// `CLOCK_MONOTONIC` in ns (Python's `time.monotonic_ns()`: the kill's push and stamps compare).
fn mono_ns() -> u64 {
    crate::time::posix_clock::PosixClock::Monotonic.now_ns()
}

/// Orders the session has written so far (entries, replaces, cancels).
#[inline]
fn sent(c: super::ouch_session::OuchCounters) -> u64 {
    c.entered + c.replaces + c.cancels
}

/// One feed datagram from `line` into the core, journalling each delivered message of the quoted
/// stock before the book applies it and the feed state after.
#[inline]
fn feed_datagram(
    core: &mut ItchLiveCore,
    journal: &mut Option<ItchJournal>,
    line: Line,
    d: &[u8],
    at: UnixNanos,
) -> FeedStep {
    let step = match journal.as_mut() {
        Some(j) => core.on_line_datagram(line, d, at, &mut |seq, m| {
            j.message(jtag::ITCH_MESSAGE, seq, m, at);
        }),
        None => core.on_line_datagram(line, d, at, &mut |_, _| {}),
    };
    journal_feed_state(journal, core, at);
    step
}

/// The feed's sequencing state as a [`jtag::FEED_STATE`] record carries it.
fn feed_state(c: &ItchLiveCore) -> (u8, u64, u64) {
    (
        u8::from(c.is_stale()) | u8::from(c.is_broken()) << 1,
        c.next_seq(),
        c.seen_to(),
    )
}

/// Journals the feed's state when its flags (stale, broken) or the gap's end moved.
#[inline]
fn journal_feed_state(journal: &mut Option<ItchJournal>, core: &ItchLiveCore, ts: UnixNanos) {
    let Some(j) = journal.as_mut() else { return };
    let now = feed_state(core);
    let last = &mut j.last_feed;
    let stale_now = now.0 != 0;
    if now.0 != last.0 || (stale_now && now.2 != last.2) {
        *last = now;
        j.push(session_record(
            ts,
            jtag::FEED_STATE,
            now.0,
            0,
            &[now.1, now.2],
            &[],
        ));
    }
    j.last_feed = now;
}

/// Why the journal refused an input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Refused {
    Append(AppendError),
    /// A message longer than a record carries whole (cannot happen with ITCH 5.0 / OUCH 5.0).
    TooLong,
}

/// The engine's journal producer (this thread) and the writer's owner.
struct ItchJournal {
    handle: JournalHandle,
    writer: Option<JournalWriter>,
    /// The first refusal (then nothing more is journalled this run).
    refused: Option<Refused>,
    /// Inputs not journalled since (counted, for the status).
    dropped: u64,
    halted: bool,
    /// Link counters last journalled (connects, disconnects, logins).
    link: [u64; 3],
    /// The feed state last journalled ([`feed_state`]).
    last_feed: (u8, u64, u64),
}

impl ItchJournal {
    /// Appends `rec` (`None`: the input did not fit a record). After a refusal, only counts.
    ///
    /// # Hot path
    /// One ring push; no allocation.
    #[inline]
    fn push(&mut self, rec: Option<JournalRecord>) {
        if self.refused.is_some() {
            self.dropped += 1;
            return;
        }
        let r = match rec {
            Some(r) => self.handle.append(r).err().map(Refused::Append),
            None => Some(Refused::TooLong),
        };
        if r.is_some() {
            self.refused = r;
            self.dropped += 1;
        }
    }

    /// A message record ([`jtag::ITCH_MESSAGE`], [`jtag::OUCH_MESSAGE`]).
    #[inline]
    fn message(&mut self, tag: u8, seq: u64, msg: &[u8], ts: UnixNanos) {
        let rec = if msg.len() <= jtag::MAX_MESSAGE {
            // Fits: at most MAX_MESSAGE (80) bytes.
            session_record(ts, tag, msg.len() as u8, 0, &[seq], msg)
        } else {
            None
        };
        self.push(rec);
    }

    /// The records of an input the Binance session also has (parameters, kill/lift/stop): its
    /// typed encoding.
    fn input(&mut self, input: Input, param_version: u64, ts: UnixNanos) {
        let s = Stamped {
            ts_recv: ts,
            ts_event: ts,
            input,
        };
        let recs = s.to_records_with(&RecordCtx {
            instrument: INST,
            param_version,
            ..RecordCtx::default()
        });
        for r in recs.as_slice() {
            self.push(Some(*r));
        }
    }

    /// The last seq appended (0: none).
    fn seq(&self) -> u64 {
        self.handle.next_seq().saturating_sub(1)
    }
}

/// The engine loop: sockets, session, core. Built on the owner's thread, then [`ItchLoop::run`]
/// (or [`ItchLoop::step`] from a test) on the engine's.
pub struct ItchLoop {
    core: ItchLiveCore,
    session: OuchSession,
    feed: KernelUdpRx,
    /// Line B of the feed, if configured.
    feed_b: Option<KernelUdpRx>,
    /// A hole open this long (ns) is re-requested even inside the arbiter's window (line B only).
    gap_grace_ns: Option<u64>,
    /// Since when the book has been stale without a re-request (0: not stale; [`REPORTED`]: the
    /// hole was reported).
    stale_since: u64,
    /// Tick-to-trade: the receive time of the first datagram of a pass that changed the book →
    /// the decision's orders written (recorded only when the decision sent something).
    tick_to_trade: Option<LatencyRecorder>,
    /// The last kill's stamps on `CLOCK_MONOTONIC`: taken, Cancels flushed, confirmed (0: not yet).
    kill_at: [u64; 3],
    recovery: Option<(UdpSocket, SocketAddrV4)>,
    rr: Option<RerequestClient>,
    rr_cfg: RerequestConfig,
    rx_buf: [u8; 2048],
    params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
    current: QuoteParams,
    param_version: u64,
    commands: Consumer<Command>,
    shared: Arc<ItchShared>,
    requote_ns: u64,
    last_requote: u64,
    last_status: u64,
    stopping: bool,
    pin: Option<usize>,
    idle_sleep_us: Option<u64>,
    journal: Option<ItchJournal>,
}

fn parse_v4(text: &str, what: &str) -> Result<SocketAddrV4, String> {
    text.parse().map_err(|e| format!("{what} {text:?}: {e}"))
}

impl ItchLoop {
    /// Opens the journal (if `journal_dir` is set), the feed socket (joining the group) and the
    /// re-request socket and builds the session (not connected yet).
    pub fn new(
        cfg: &ItchEngineConfig,
        params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
        commands: Consumer<Command>,
        shared: Arc<ItchShared>,
    ) -> Result<Self, String> {
        let journal = match &cfg.journal_dir {
            Some(d) => Some(open_engine_journal(
                d,
                cfg.journal_core,
                cfg.journal_idle_sleep_us,
                JournalConfig::default(),
            )?),
            None => None,
        };
        Self::with_journal(cfg, params, commands, shared, journal)
    }

    /// [`Self::new`] with a journal opened by the caller (`cfg`'s journal fields are not used).
    pub fn with_journal(
        cfg: &ItchEngineConfig,
        params: ParamReader<QuoteParams, QUOTE_PARAM_WORDS>,
        commands: Consumer<Command>,
        shared: Arc<ItchShared>,
        journal: Option<OpenJournal>,
    ) -> Result<Self, String> {
        let session = OuchSession::new(&cfg.ouch)?;
        let units = crate::engine::pipeline::OuchEncoder::new(
            *b"        ",
            *b"    ",
            cfg.ouch.instrument()?.tick,
        )
        .map(|e| e.units_per_tick())
        .ok_or("tick does not fit OUCH price units")?;
        let feed = parse_v4(&cfg.feed, "feed")?;
        let interface: Ipv4Addr = cfg
            .interface
            .parse()
            .map_err(|e| format!("interface {:?}: {e}", cfg.interface))?;
        let open_line = |addr: SocketAddrV4, what: &str| {
            KernelUdpRx::open(&UdpRxConfig {
                port: addr.port(),
                group: addr.ip().is_multicast().then_some(*addr.ip()),
                interface,
                recv_buffer: Some(4 << 20),
                ..UdpRxConfig::default()
            })
            .map_err(|e| format!("{what} {addr}: {e}"))
        };
        let rx = open_line(feed, "feed")?;
        let rx_b = match &cfg.feed_b {
            Some(b) => Some(open_line(parse_v4(b, "feed_b")?, "feed_b")?),
            None => None,
        };
        let default_window = if rx_b.is_some() { AB_WINDOW } else { 0 };
        let window = cfg.arbiter_window.unwrap_or(default_window);
        let recovery = match &cfg.rerequest {
            Some(a) => {
                let server = parse_v4(a, "rerequest")?;
                let s = UdpSocket::bind(SocketAddrV4::new(interface, 0))
                    .and_then(|s| s.set_nonblocking(true).map(|()| s))
                    .map_err(|e| format!("rerequest socket: {e}"))?;
                Some((s, server))
            }
            None => None,
        };
        let ms = |v: u64| v.saturating_mul(1_000_000);
        Ok(Self {
            core: ItchLiveCore::with_window(cfg.locate, units, L3Config::default(), window),
            session,
            feed: rx,
            gap_grace_ns: rx_b.is_some().then(|| {
                cfg.gap_grace_us
                    .unwrap_or(AB_GRACE_US)
                    .saturating_mul(1_000)
            }),
            feed_b: rx_b,
            stale_since: 0,
            tick_to_trade: None,
            kill_at: [0; 3],
            recovery,
            rr: None,
            rr_cfg: RerequestConfig {
                retry_after_ns: ms(cfg.rerequest_retry_ms.max(1)),
                max_retries: 50,
                ..RerequestConfig::default()
            },
            rx_buf: [0; 2048],
            current: params.read(),
            param_version: params.version(),
            params,
            commands,
            shared,
            requote_ns: ms(cfg.requote_ms.max(1)),
            last_requote: 0,
            last_status: 0,
            stopping: false,
            pin: cfg.core,
            idle_sleep_us: cfg.idle_sleep_us,
            journal: journal.map(|j| ItchJournal {
                handle: j.handle,
                writer: Some(j.writer),
                refused: None,
                dropped: 0,
                halted: false,
                link: [0; 3],
                last_feed: (0, 1, 1),
            }),
        })
    }

    /// The last journal seq appended (0: none or no journal).
    pub fn journal_seq(&self) -> u64 {
        self.journal.as_ref().map_or(0, ItchJournal::seq)
    }

    /// Whether the journal halted quoting (fail closed).
    pub fn journal_halted(&self) -> bool {
        self.journal.as_ref().is_some_and(|j| j.halted)
    }

    /// Stops the journal writer after it wrote everything appended (the loop journals nothing
    /// more); `None` without a journal or when already closed.
    pub fn close_journal(&mut self) -> Option<Result<JournalStats, String>> {
        let w = self.journal.as_mut()?.writer.take()?;
        if let Some(j) = self.journal.as_mut() {
            // Nothing more is appended to a closed writer: a later input only counts as dropped.
            j.refused
                .get_or_insert(Refused::Append(AppendError::Closed));
            j.halted = true;
        }
        Some(w.close().map_err(|e| e.to_string()))
    }

    /// The feed port the loop listens on (line A).
    pub fn feed_port(&self) -> u16 {
        self.feed.local_port()
    }

    /// Records tick-to-trade into `r` from now on.
    pub fn set_tick_to_trade(&mut self, r: LatencyRecorder) {
        self.tick_to_trade = Some(r);
    }

    /// Line B's port, if configured.
    pub fn feed_b_port(&self) -> Option<u16> {
        self.feed_b.as_ref().map(KernelUdpRx::local_port)
    }

    /// The core (book, quoter, counters).
    pub fn core(&self) -> &ItchLiveCore {
        &self.core
    }

    /// The session.
    pub fn session(&self) -> &OuchSession {
        &self.session
    }

    /// Whether an orderly stop has finished (logged out, or the session is over).
    pub fn done(&self) -> bool {
        self.stopping
            && matches!(
                self.session.core().phase(),
                Phase::Stopped | Phase::Ended | Phase::Failed
            )
            && !self.session.connected()
    }

    /// One pass: commands, parameters, feed, re-requests, session, requote, status. Returns whether
    /// anything arrived.
    ///
    /// # Hot path
    /// No allocation once connected (see the module docs).
    pub fn step(&mut self) -> bool {
        let mut work = false;
        let mut dirty = false;
        while let Some(c) = self.commands.pop() {
            work = true;
            dirty = true;
            let t = now();
            if let Some(j) = self.journal.as_mut() {
                match c {
                    Command::Kill => j.input(Input::Command(SessionCommand::Kill), 0, t),
                    Command::Lift => j.input(Input::Command(SessionCommand::Lift), 0, t),
                    Command::Stop => j.input(Input::Command(SessionCommand::Stop), 0, t),
                    Command::DropLink => j.push(session_record(t, jtag::DROP_LINK, 0, 0, &[], &[])),
                }
            }
            self.check_journal();
            match c {
                Command::Kill => {
                    let told = mono_ns();
                    self.session.kill();
                    self.kill_at = [told, mono_ns(), 0];
                }
                // The latch a journal halt set holds until restart.
                Command::Lift if self.journal_halted() => {}
                Command::Lift => self.session.core_mut().lift_kill(),
                Command::Stop => {
                    self.stopping = true;
                    self.session.stop();
                }
                Command::DropLink => self.session.disconnect(),
            }
            self.journal_link();
        }
        let v = self.params.version();
        if v != self.param_version {
            self.param_version = v;
            self.current = self.params.read();
            if let Some(j) = self.journal.as_mut() {
                j.input(
                    Input::Params {
                        params: self.current,
                    },
                    v,
                    now(),
                );
            }
            dirty = true;
            work = true;
        }
        // Feed: line A, line B, re-request replies, all through the core's arbiter.
        let t = now();
        let core = &mut self.core;
        let journal = &mut self.journal;
        let mut gap = None;
        // The receive time of the first datagram that changed the book (tick-to-trade's start).
        let mut tick_at: Option<UnixNanos> = None;
        let mut on_step = |step: FeedStep, at: UnixNanos| match step {
            FeedStep::Nothing => {}
            FeedStep::Applied => {
                dirty = true;
                tick_at.get_or_insert(at);
            }
            FeedStep::Gap { from, to } => {
                dirty = true;
                gap = Some((from, to));
            }
        };
        let _ = self.feed.poll(|d, ts| {
            let at = if ts.ts.0 == 0 { t } else { ts.ts };
            on_step(feed_datagram(core, journal, Line::A, d, at), at);
        });
        if let Some(b) = self.feed_b.as_mut() {
            let _ = b.poll(|d, ts| {
                let at = if ts.ts.0 == 0 { t } else { ts.ts };
                on_step(feed_datagram(core, journal, Line::B, d, at), at);
            });
        }
        if let Some((s, _)) = &self.recovery {
            while let Ok((n, _)) = s.recv_from(&mut self.rx_buf) {
                work = true;
                let d = &self.rx_buf[..n];
                on_step(feed_datagram(core, journal, Line::Recovery, d, t), t);
            }
        }
        // With line B a hole is not reported at once; one left open past the grace is, once (the
        // re-request client retries it from then on, as one the arbiter reported).
        if !self.core.is_stale() || self.core.is_broken() {
            self.stale_since = 0;
        } else if gap.is_some() {
            self.stale_since = REPORTED;
        } else if let Some(grace) = self.gap_grace_ns {
            if self.stale_since == 0 {
                self.stale_since = t.0;
            } else if self.stale_since != REPORTED && t.0.saturating_sub(self.stale_since) >= grace
            {
                self.stale_since = REPORTED;
                gap = Some((self.core.next_seq(), self.core.seen_to()));
            }
        }
        self.check_journal();
        if dirty {
            // Decide on the book change before anything else touches a socket (tick-to-trade).
            work = true;
            let sent_before = sent(self.session.core().counters());
            self.decide(t);
            if let (Some(r), Some(at)) = (self.tick_to_trade.as_mut(), tick_at) {
                if sent(self.session.core().counters()) != sent_before {
                    r.record_between(at.0, now().0);
                }
            }
        }
        self.recover(gap, t);
        journal_feed_state(&mut self.journal, &self.core, t);
        // Session.
        let before = self.session.core().counters().applied;
        match self.journal.as_mut() {
            Some(j) => {
                let at = now();
                self.session
                    .poll_with(&mut |seq, m| j.message(jtag::OUCH_MESSAGE, seq, m, at));
            }
            None => {
                self.session.poll();
            }
        }
        self.journal_link();
        self.check_journal();
        let t = now();
        if self.session.core().counters().applied != before {
            work = true;
            self.decide(t);
        } else if t.0.saturating_sub(self.last_requote) >= self.requote_ns {
            if let Some(j) = self.journal.as_mut() {
                j.push(Some(
                    TimerTickV1 {
                        timer_id: jtag::REQUOTE_TIMER,
                    }
                    .to_record(t),
                ));
            }
            self.check_journal();
            self.decide(t);
        }
        if work || t.0.saturating_sub(self.last_status) >= 1_000_000 {
            self.last_status = t.0;
            self.publish();
        }
        work
    }

    /// Journals a change of the OUCH link (the session applies connects, logins and disconnects
    /// inside its calls; recorded right after them).
    fn journal_link(&mut self) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        let c = self.session.core().counters();
        let link = [c.connects, c.disconnects, c.logins];
        if link != j.link {
            j.link = link;
            let core = self.session.core();
            let up = core.link() == super::ouch_session::Link::Up;
            let rec = session_record(
                now(),
                jtag::OUCH_LINK,
                core.phase() as u8,
                u8::from(up),
                &link,
                &[],
            );
            j.push(rec);
        }
    }

    /// Fail closed: the first refused append latches the kill (cancel all, no new orders; `lift`
    /// refused until restart) and nothing more is journalled, so the journal stays a clean prefix
    /// of what the engine did.
    #[inline]
    fn check_journal(&mut self) {
        if let Some(j) = self.journal.as_ref() {
            if j.refused.is_some() && !j.halted {
                self.halt_journal();
            }
        }
    }

    #[cold]
    fn halt_journal(&mut self) {
        let Some(j) = self.journal.as_mut() else {
            return;
        };
        j.halted = true;
        let why = match j.refused {
            Some(Refused::Append(AppendError::Full)) => {
                "journal ring full (the writer is behind)".to_string()
            }
            Some(Refused::Append(AppendError::WriterFailed)) => format!(
                "journal writer failed: {}",
                std::io::Error::from_raw_os_error(j.handle.health().last_errno())
            ),
            Some(Refused::Append(AppendError::Closed)) => "journal closed".to_string(),
            Some(Refused::TooLong) => "a message too long for a journal record".to_string(),
            None => "journal refused a record".to_string(),
        };
        let text = format!(
            "{why}; quoting halted at seq {} (kill latched, no new orders until restart)",
            j.seq()
        );
        if let Ok(mut g) = self.shared.journal_halt.lock() {
            g.get_or_insert(text);
        }
        self.session.kill();
    }

    /// The quoter follows the session's order table, re-quotes, and the session writes.
    fn decide(&mut self, t: UnixNanos) {
        self.last_requote = t.0;
        self.core.sync_orders(self.session.core_mut(), t);
        if !self.stopping {
            self.core.requote(&self.current, self.session.core_mut(), t);
        }
        self.session.flush();
        self.journal_link();
    }

    fn recover(&mut self, gap: Option<(u64, u64)>, t: UnixNanos) {
        let Some((sock, server)) = &self.recovery else {
            if gap.is_some() && !self.core.is_broken() {
                self.core.give_up();
            }
            return;
        };
        if self.rr.is_none() {
            match self.core.mold_session() {
                Some(s) => self.rr = Some(RerequestClient::new(s, self.rr_cfg)),
                None => return,
            }
        }
        let Some(rr) = self.rr.as_mut() else { return };
        rr.on_progress(self.core.next_seq());
        let action = match gap {
            Some((from, to)) => rr.on_gap(from, to, t.0),
            None => rr.poll(t.0),
        };
        match action {
            RerequestAction::Idle => {}
            RerequestAction::Send(req) => {
                let _ = sock.send_to(&req.encode(), *server);
            }
            RerequestAction::GiveUp { .. } => self.core.give_up(),
        }
    }

    fn publish(&mut self) {
        let mut w = [0u64; STATUS_WORDS];
        let oc = self.session.core();
        // The kill is confirmed once nothing is open or UNKNOWN (every Cancel answered).
        if self.kill_at[0] != 0
            && self.kill_at[2] == 0
            && oc.risk().is_killed()
            && oc.open_orders() == 0
        {
            self.kill_at[2] = mono_ns();
        }
        w[sw::KILL_TOLD..=sw::KILL_DONE].copy_from_slice(&self.kill_at);
        let fc = self.core.feed_counters();
        let qc = self.core.quote_counters();
        w[sw::PHASE] = oc.phase() as u64;
        let link_up = oc.link() == super::ouch_session::Link::Up;
        w[sw::FLAGS] = u64::from(link_up)
            | u64::from(self.core.is_stale()) << 1
            | u64::from(oc.risk().is_killed()) << 2
            | u64::from(self.core.is_broken()) << 3
            | 1 << 4
            | u64::from(self.journal.is_some()) << 6
            | u64::from(self.journal_halted()) << 7;
        if let Some(j) = &self.journal {
            w[sw::JOURNAL_SEQ] = j.seq();
            w[sw::JOURNAL_DROPPED] = j.dropped;
        }
        w[sw::DATAGRAMS] = fc.datagrams;
        w[sw::APPLIED] = fc.applied;
        w[sw::NEXT_SEQ] = self.core.next_seq();
        w[sw::GAPS] = fc.gaps;
        w[sw::REREQUESTS] = self.rr.as_ref().map_or(0, |r| r.requests);
        w[sw::POSITION] = oc.risk().position(INST).unwrap_or(0) as u64;
        w[sw::OPEN_ORDERS] = oc.open_orders() as u64;
        w[sw::UNKNOWN_ORDERS] = oc
            .orders()
            .filter(|o| o.state == OrderState::Unknown)
            .count() as u64;
        let top = self.core.top();
        if let Some((p, q)) = top.bid {
            w[sw::BID] = p.ticks() as u64;
            w[sw::BID_QTY] = q.lots() as u64;
            w[sw::TOP_FLAGS] |= 1;
        }
        if let Some((p, q)) = top.ask {
            w[sw::ASK] = p.ticks() as u64;
            w[sw::ASK_QTY] = q.lots() as u64;
            w[sw::TOP_FLAGS] |= 2;
        }
        w[sw::REQUOTES] = qc.requotes;
        w[sw::REFUSED] = qc.refused;
        w[sw::ORPHANS] = qc.orphans;
        w[sw::DECODE_ERRORS] = fc.decode_errors;
        w[sw::PARAM_VERSION] = self.param_version;
        w[sw::DUPLICATES] = fc.duplicates;
        w[sw::WON..sw::WON + 3].copy_from_slice(&fc.won);
        w[sw::REORDERED] = fc.reordered;
        w[sw::BOOK_ERRORS] = fc.book_errors;
        for (i, c) in ouch_counters(&oc.counters()).into_iter().enumerate() {
            w[sw::OUCH + i] = c;
        }
        let mut n = 0;
        for side in [Side::Buy, Side::Sell] {
            for q in self.core.quoter().working(side) {
                if n < STATUS_QUOTES {
                    let at = STATUS_QUOTES_AT + 4 * n;
                    w[at] = q.id.0;
                    w[at + 1] = if side == Side::Buy { 1 } else { 2 };
                    w[at + 2] = q.price.ticks() as u64;
                    w[at + 3] = q.qty.lots() as u64;
                    n += 1;
                }
            }
        }
        w[sw::QUOTES] = n as u64;
        self.shared.status.write(w);
    }

    /// Runs until an orderly stop finishes or `shared.abort` is set (pinned if configured).
    pub fn run(mut self) {
        let _ = affinity::set_timer_slack_ns(1);
        let mut pinned = false;
        if let Some(core) = self.pin {
            match affinity::pin_current_thread(core) {
                Ok(()) => pinned = true,
                Err(e) => self.shared.error(format!("pinning to core {core}: {e}")),
            }
        }
        let idle_us = self.idle_sleep_us.unwrap_or(if pinned { 0 } else { 20 });
        let mut seen_failures = 0;
        while !self.shared.abort.load(Ordering::Acquire) && !self.done() {
            let work = self.step();
            // Errors change only with a failed connect (off the hot path).
            let failures = self.session.core().counters().connect_failures;
            if failures != seen_failures {
                seen_failures = failures;
                if let Some(e) = self.session.last_error() {
                    self.shared.error(e);
                }
            }
            if !work && idle_us > 0 {
                std::thread::sleep(Duration::from_micros(idle_us));
            }
        }
        self.session.disconnect();
        self.journal_link();
        self.publish();
        if let Some(Err(e)) = self.close_journal() {
            self.shared.error(format!("journal: {e}"));
        }
        let mut w = self.shared.status.read();
        w[sw::FLAGS] = (w[sw::FLAGS] & !(1 << 4)) | 1 << 5;
        self.shared.status.write(w);
        self.shared.finished.store(true, Ordering::Release);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::ouch_session::testing::{core as ouch_core, login, server};
    use crate::feed::itch::ItchHeader;
    use crate::feed::itch_encode::{add_order, order_delete, stock};
    use crate::feed::moldudp64::PacketWriter;
    use crate::gateway::ouch::Outbound;
    use crate::quoter::Anchor;

    const T: UnixNanos = UnixNanos(1_000_000_000);
    const SESSION: [u8; 10] = *b"PYMMITCH01";
    const HDR: ItchHeader = ItchHeader {
        locate: 1,
        tracking: 0,
        timestamp: 0,
    };

    /// One datagram at `seq` with one ITCH message per `(order_ref, side, price in cents)`; a
    /// negative price deletes `order_ref`.
    fn packet(seq: u64, msgs: &[(u64, Side, i64)]) -> Vec<u8> {
        let mut buf = vec![0u8; 1500];
        let mut w = PacketWriter::new(&mut buf, &SESSION, seq).unwrap();
        for &(r, side, cents) in msgs {
            let mut m = [0u8; 64];
            let n = if cents < 0 {
                order_delete(&mut m, HDR, r).unwrap()
            } else {
                let px = Price::from_ticks(cents * 100);
                add_order(&mut m, HDR, r, side, 100, stock("PYMM"), px).unwrap()
            };
            assert!(w.push(&m[..n]));
        }
        let n = w.finish();
        buf.truncate(n);
        buf
    }

    fn params() -> QuoteParams {
        QuoteParams {
            enabled: 1,
            anchor: Anchor::Mid as i64,
            fair_value_mt: 0,
            half_spread_mt: 1_000,
            skew_mt_per_lot: 0,
            levels: 2,
            level_spacing_ticks: 1,
            size_lots: 10,
            max_inventory_lots: 1_000,
            requote_ticks: 0,
            ttl_ns: 0,
            post_only: 1,
        }
    }

    fn quoting() -> (ItchLiveCore, OuchCore) {
        let mut c = ItchLiveCore::new(1, 100, L3Config::default());
        let mut o = ouch_core();
        login(&mut o, T);
        assert_eq!(o.phase(), Phase::Ready);
        let p = packet(1, &[(1, Side::Buy, 9_890), (2, Side::Sell, 9_910)]);
        assert_eq!(c.on_datagram(&p, T), FeedStep::Applied);
        (c, o)
    }

    fn accept_all(o: &mut OuchCore) {
        let pending: Vec<_> = o
            .orders()
            .filter(|x| x.state == OrderState::PendingNew)
            .copied()
            .collect();
        for (i, x) in pending.into_iter().enumerate() {
            let m = Outbound::Accepted {
                timestamp: 0,
                token: x.id,
                side: x.side,
                shares: x.qty.lots() as u32,
                price: (x.price.ticks() * 100) as u32,
                order_ref: 100 + i as u64,
                order_state: b'L',
            };
            server(o, m, T);
        }
    }

    #[test]
    fn a_gap_is_stale_until_the_re_sent_messages_fill_it_and_duplicates_are_dropped() {
        let mut c = ItchLiveCore::new(1, 100, L3Config::default());
        let p1 = packet(1, &[(1, Side::Buy, 9_890)]);
        let p2 = packet(2, &[(2, Side::Sell, 9_910)]);
        let p3 = packet(3, &[(3, Side::Sell, 9_920)]);
        assert_eq!(c.on_datagram(&p1, T), FeedStep::Applied);
        // 3 is parked ahead of the hole at 2, which one line reports at once.
        assert_eq!(c.on_datagram(&p3, T), FeedStep::Gap { from: 2, to: 3 });
        assert!(c.is_stale());
        assert_eq!(c.top(), Top::default(), "no top while stale");
        // The re-sent 2 fills the hole and the parked 3 follows it.
        assert_eq!(
            c.on_line_datagram(Line::Recovery, &p2, T, &mut |_, _| {}),
            FeedStep::Applied
        );
        assert!(!c.is_stale());
        assert_eq!(c.on_datagram(&p3, T), FeedStep::Nothing);
        assert_eq!(c.on_datagram(&p2, T), FeedStep::Nothing);
        let fc = c.feed_counters();
        assert_eq!((fc.duplicates, fc.reordered, fc.gaps), (2, 1, 1));
        assert_eq!(fc.won, [2, 0, 1]);
        assert_eq!(c.next_seq(), 4);
        let top = c.top();
        assert_eq!(top.bid.map(|b| b.0), Some(Price::from_ticks(9_890)));
        assert_eq!(top.ask.map(|a| a.0), Some(Price::from_ticks(9_910)));
        // A heartbeat ahead of us shows loss at the tail.
        let mut hb = [0u8; 20];
        crate::feed::moldudp64::encode_header(&mut hb, &SESSION, 6, 0);
        assert_eq!(c.on_datagram(&hb, T), FeedStep::Gap { from: 4, to: 6 });
        assert!(c.is_stale());
        // Deleting an order we never saw is an integrity error: stale for good.
        let mut c = ItchLiveCore::new(1, 100, L3Config::default());
        c.on_datagram(&packet(1, &[(9, Side::Buy, -1)]), T);
        assert!(c.is_broken() && c.is_stale());
    }

    #[test]
    fn line_b_fills_what_line_a_lost_without_a_re_request_and_the_tap_sees_each_message_once() {
        let mut c = ItchLiveCore::with_window(1, 100, L3Config::default(), 64);
        let p: Vec<_> = (1..=4)
            .map(|i| packet(i, &[(i, Side::Buy, 9_880 + i as i64)]))
            .collect();
        let mut seen = Vec::new();
        let mut feed = |c: &mut ItchLiveCore, line, d: &[u8]| {
            c.on_line_datagram(line, d, T, &mut |seq, _| seen.push(seq))
        };
        // A: 1, 3, 4 (2 lost); B: 1, 2, 3 (4 lost), B a little behind A.
        assert_eq!(feed(&mut c, Line::A, &p[0]), FeedStep::Applied);
        assert_eq!(feed(&mut c, Line::B, &p[0]), FeedStep::Nothing);
        assert_eq!(
            feed(&mut c, Line::A, &p[2]),
            FeedStep::Nothing,
            "parked, no gap yet"
        );
        assert_eq!(feed(&mut c, Line::A, &p[3]), FeedStep::Nothing);
        assert!(c.is_stale());
        assert_eq!(feed(&mut c, Line::B, &p[1]), FeedStep::Applied);
        assert!(
            !c.is_stale(),
            "B's 2 filled the hole, the parked 3 and 4 followed"
        );
        assert_eq!(feed(&mut c, Line::B, &p[2]), FeedStep::Nothing);
        assert_eq!(seen, [1, 2, 3, 4]);
        let fc = c.feed_counters();
        assert_eq!(fc.gaps, 0, "nothing to re-request");
        assert_eq!(fc.won, [3, 1, 0]);
        assert_eq!(fc.applied, 4);
        // Both lines lose 5: past the window (or on a heartbeat ahead) it is reported.
        let mut hb = [0u8; 20];
        crate::feed::moldudp64::encode_header(&mut hb, &SESSION, 6, 0);
        assert_eq!(
            c.on_line_datagram(Line::B, &hb, T, &mut |_, _| {}),
            FeedStep::Gap { from: 5, to: 6 }
        );
    }

    #[test]
    fn the_tap_sees_each_message_once_in_feed_order_before_the_book_and_records_carry_it_whole() {
        let mut c = ItchLiveCore::new(1, 100, L3Config::default());
        let mut seen = Vec::new();
        let mut tap = |seq: u64, m: &[u8]| seen.push((seq, m.len()));
        let p1 = packet(1, &[(1, Side::Buy, 9_890), (2, Side::Sell, 9_910)]);
        let p3 = packet(4, &[(3, Side::Sell, 9_920)]);
        let p2 = packet(3, &[(2, Side::Sell, -1)]);
        c.on_datagram_with(&p1, T, &mut tap);
        // Ahead of the next number: dropped, nothing handed on.
        c.on_datagram_with(&p3, T, &mut tap);
        c.on_datagram_with(&p2, T, &mut tap);
        c.on_datagram_with(&p3, T, &mut tap);
        // A duplicate is not handed on again.
        c.on_datagram_with(&p1, T, &mut tap);
        let seqs: Vec<u64> = seen.iter().map(|s| s.0).collect();
        assert_eq!(seqs, [1, 2, 3, 4]);
        assert_eq!(c.feed_counters().applied, 4);
        // The record: tag, len, pad, the number, the bytes.
        let msg = [7u8; 36];
        let rec = session_record(T, jtag::ITCH_MESSAGE, 36, 0, &[42], &msg).unwrap();
        let p = rec.payload();
        assert_eq!((p[0], p[1], p.len()), (jtag::ITCH_MESSAGE, 36, 16 + 36));
        assert_eq!(u64::from_le_bytes(p[8..16].try_into().unwrap()), 42);
        assert_eq!(&p[16..], &msg);
        assert!(session_record(T, jtag::OUCH_MESSAGE, 81, 0, &[1], &[0; 81]).is_none());
        assert!(session_record(T, jtag::OUCH_MESSAGE, 80, 0, &[1], &[0; 80]).is_some());
    }

    #[test]
    fn quotes_go_through_the_session_and_follow_its_order_table() {
        let (mut c, mut o) = quoting();
        assert_eq!(c.requote(&params(), &mut o, T), 4);
        assert_eq!(o.open_orders(), 4);
        assert_eq!(o.counters().entered, 4);
        accept_all(&mut o);
        // Nothing moved: nothing is sent again.
        assert_eq!(c.requote(&params(), &mut o, T), 0);
        // The best bid fills in full: the quote is done and the position moves.
        let best = c
            .quoter()
            .working(Side::Buy)
            .max_by_key(|q| q.price)
            .copied()
            .unwrap();
        server(
            &mut o,
            Outbound::Executed {
                timestamp: 0,
                token: best.id,
                shares: 10,
                price: 0,
                liquidity: b'A',
                match_number: 1,
            },
            T,
        );
        c.sync_orders(&mut o, T);
        assert!(c.quoter().working(Side::Buy).all(|q| q.id != best.id));
        assert_eq!(o.risk().position(INST), Some(10));
        // A stale book pulls every quote through the session.
        c.on_datagram(&packet(5, &[]), T);
        let sent = c.requote(&params(), &mut o, T);
        assert_eq!(sent, 3);
        assert!(o.orders().all(|x| x.cancel_no != 0));
    }

    #[test]
    fn a_drop_leaves_unknown_orders_reserved_and_never_resent_and_orphans_are_cancelled() {
        let (mut c, mut o) = quoting();
        c.requote(&params(), &mut o, T);
        accept_all(&mut o);
        o.on_disconnected(T);
        assert!(o.orders().all(|x| x.state == OrderState::Unknown));
        // Not ready: the quoter wants to pull (phase), the session cannot send; nothing new.
        let entered = o.counters().entered;
        assert_eq!(c.requote(&params(), &mut o, T), 0);
        assert_eq!(o.counters().entered, entered);
        assert_eq!(c.quoter().working(Side::Buy).count(), 2);
        assert_eq!(o.risk().open_orders(INST), 4, "UNKNOWN stays reserved");
        // An order the quoter does not own (entered by hand) is cancelled on the next sync.
        let (mut c, mut o) = quoting();
        let id = o
            .enter(
                Side::Buy,
                Price::from_ticks(9_880),
                Qty::from_lots(5),
                true,
                T,
            )
            .unwrap();
        accept_all(&mut o);
        c.sync_orders(&mut o, T);
        assert_eq!(c.quote_counters().orphans, 1);
        assert_ne!(o.order(id).unwrap().cancel_no, 0);
    }
}
