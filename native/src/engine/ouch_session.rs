//! A live OUCH 4.2 order-entry session over SoupBinTCP 3.0: [`OuchCore`], the deterministic session
//! (bytes in, bytes out, time as an argument), and [`OuchSession`], which owns the TCP connection and
//! drives the core from its owner's loop (the engine's pinned thread, or `pymm._native.OuchSession`).
//!
//! Rules (issue #6, ADR 0008, `docs/architecture/ouch-session.md`):
//! - SoupBinTCP: login with the next sequence number we expect (kept across reconnects); a rejection
//!   for authorisation (`A`) is final, any other (`S`, session busy) retries with backoff; a client
//!   heartbeat after a second of send silence; about 15 s of server silence loses the session; `Z`
//!   ends it; an orderly stop logs out. Sequenced messages are applied in order, once: a message whose
//!   number was already applied (a replay that starts early) is skipped by its number.
//! - Every Enter and Replace passes [`PreTradeRisk`] first (fail closed) and is reserved at once;
//!   tokens come from the persisted client-id counter (unique forever); states move only through
//!   [`transition`].
//! - No answer within the timeout, or a connection lost while a message was unanswered, makes the
//!   order UNKNOWN: still reserved, never resent. A reconnect makes every working order UNKNOWN.
//! - OUCH 4.2 has no order-status query. The session resolves UNKNOWN orders with a **sequence
//!   barrier**: after each login (and after a timeout on a live link) it sends a *probe*, an Enter of
//!   zero shares under a fresh token that the venue answers (rejects) and that can never trade. The
//!   venue processes one session's messages in order and logs every answer in sequence, so once the
//!   probe's answer has been applied, every earlier message of ours has its answer in the stream or
//!   was never received: an unanswered Enter/Replace is resolved as never live, an unanswered Cancel
//!   as not received (the order is live again and the cancel is sent again). Until then nothing new
//!   is entered (the session is *reconciling*).
//! - Kill latches risk and sends one Cancel per working or UNKNOWN token (OUCH 4.2 has no mass cancel).
//!
//! # Hot path
//! [`OuchCore`] keeps everything in fixed arrays (orders, receive and send buffers): no allocation,
//! no lock, no clock read, no logging (`native/tests/ouch_session_no_alloc.rs`). [`OuchSession`] adds
//! one non-blocking `read`/`write` per poll; connecting and id-block refills (a file write) happen on
//! the same thread, rarely, and may allocate.

use std::net::SocketAddr;
use std::time::Duration;

use serde::Deserialize;

use super::live::{limits_from_config, RiskConfig};
use super::pipeline::{IdRange, OrderEncoder, OuchEncoder, OutOrder, PipelineInstrument};
use crate::feed::SequenceRule;
use crate::gateway::ouch::{EnterOrder, Outbound, TIF_IOC};
use crate::gateway::soupbintcp::{
    parse_packet, read_login_accepted, write_login_request, write_packet, PacketType,
};
use crate::gateway::{transition, ClientIdAllocator, OrderEventKind, OrderState};
use crate::model::{ClientOrderId, InstrumentId, Price, Qty, Scale, Side, UnixNanos, VenueOrderId};
use crate::net::tcp::KernelTcpClient;
use crate::net::transport::{RxTransport, TxTransport};
use crate::risk::{DenyReason, OrderCheck, PreTradeRisk, RateLimits, RiskLimits};
use crate::time::posix_clock::PosixClock;

/// Orders tracked at once (working, pending, UNKNOWN, and open orders of an earlier run).
pub const MAX_ORDERS: usize = 128;
/// Tokens resolved as never live that are remembered (an answer for one is a contradiction).
const NEVER_LIVE_RING: usize = 64;
/// Receive buffer: SoupBinTCP packets are at most 64 KiB, OUCH ones under 100 bytes.
const IN_CAP: usize = 65_600;
/// Send buffer (about 450 OUCH messages).
const OUT_CAP: usize = 1 << 15;
/// Room an order message needs in the send buffer (Enter in a SoupBinTCP packet, with margin).
const MSG_ROOM: usize = 64;
/// The instrument id inside the session's risk.
pub const INST: InstrumentId = InstrumentId(0);
const MS: u64 = 1_000_000;

/// Static settings of an [`OuchCore`] (times in nanoseconds).
#[derive(Clone, Copy, Debug)]
pub struct OuchSettings {
    /// SoupBinTCP username (at most 6 bytes, `user_len` used).
    pub user: [u8; 6],
    /// Used bytes of `user`.
    pub user_len: usize,
    /// Password (at most 10 bytes).
    pub password: [u8; 10],
    /// Used bytes of `password`.
    pub password_len: usize,
    /// Requested session (blank: any; learned from the first acceptance).
    pub session: [u8; 10],
    /// Stock (8, space-padded).
    pub stock: [u8; 8],
    /// Firm (4).
    pub firm: [u8; 4],
    /// The price tick (OUCH prices are 1/10000 dollar; the tick has at most 4 decimals).
    pub tick: Scale,
    /// No answer within this → UNKNOWN.
    pub order_timeout_ns: u64,
    /// Client heartbeat after this much send silence.
    pub heartbeat_ns: u64,
    /// Server silence that loses the session.
    pub server_timeout_ns: u64,
    /// No login answer within this → drop and retry.
    pub login_timeout_ns: u64,
    /// A probe unanswered this long is sent again under a new token (backoff doubles, ×8 at most).
    pub probe_timeout_ns: u64,
    /// First reconnect delay (doubles per failure up to `reconnect_max_ns`).
    pub reconnect_min_ns: u64,
    /// Longest reconnect delay.
    pub reconnect_max_ns: u64,
    /// An orderly stop logs out at the latest this long after it began.
    pub stop_timeout_ns: u64,
}

/// Why the core refused an order command (nothing was sent).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Our pre-trade risk denied it.
    Denied(DenyReason),
    /// Not logged in, or reconciling after a (re)connect or timeout: nothing new is entered.
    NotReady,
    /// Stopping, stopped, ended or failed.
    Closed,
    /// The order table is full.
    TableFull,
    /// The reserved block of client ids is used up (the owner refills it off the hot path).
    ClientIds,
    /// No such order, or not in a state the command applies to.
    NoSuchOrder,
    /// The price or quantity does not fit OUCH (off range), or the send buffer is full.
    Encode,
}

impl Refusal {
    /// A stable snake_case name (deny reasons by their own names).
    pub const fn as_str(self) -> &'static str {
        match self {
            Refusal::Denied(d) => d.as_str(),
            Refusal::NotReady => "not_ready",
            Refusal::Closed => "closed",
            Refusal::TableFull => "order_table_full",
            Refusal::ClientIds => "client_ids",
            Refusal::NoSuchOrder => "no_such_order",
            Refusal::Encode => "encode",
        }
    }
}

/// Why the session gave up (it does not reconnect; entry stays blocked).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Failure {
    /// Login rejected with `A` (not authorised): wrong user or password.
    NotAuthorized,
    /// The server's login acceptance starts after the next message we need: messages were lost.
    SequenceGap {
        /// The number we asked for.
        expected: u64,
        /// The number the server starts at.
        offered: u64,
    },
    /// The server named another session than the one our sequence numbers belong to.
    SessionChanged,
}

impl Failure {
    /// A stable snake_case name.
    pub const fn as_str(self) -> &'static str {
        match self {
            Failure::NotAuthorized => "login_not_authorized",
            Failure::SequenceGap { .. } => "sequence_gap",
            Failure::SessionChanged => "session_changed",
        }
    }
}

/// The SoupBinTCP link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Link {
    /// No connection.
    Down = 0,
    /// Connected, login request sent.
    LoginSent = 1,
    /// Logged in.
    Up = 2,
}

/// Where the session stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum Phase {
    /// Not logged in (connecting, or waiting to reconnect).
    Connecting = 0,
    /// Logged in; replaying and resolving UNKNOWN orders (probe outstanding, or open orders of an
    /// earlier run being cancelled): nothing new is entered.
    Reconciling = 1,
    /// Entering orders.
    Ready = 2,
    /// The kill switch is latched (cancels sent; entry denied by risk).
    Killed = 3,
    /// Orderly stop: cancels sent, logout when nothing is open.
    Stopping = 4,
    /// Logged out after an orderly stop.
    Stopped = 5,
    /// The server ended the session (`Z`) or the day (system event `E`).
    Ended = 6,
    /// Gave up: see [`OuchCore::failure`].
    Failed = 7,
}

impl Phase {
    /// The name used in status.
    pub const fn as_str(self) -> &'static str {
        match self {
            Phase::Connecting => "connecting",
            Phase::Reconciling => "reconciling",
            Phase::Ready => "ready",
            Phase::Killed => "killed",
            Phase::Stopping => "stopping",
            Phase::Stopped => "stopped",
            Phase::Ended => "ended",
            Phase::Failed => "failed",
        }
    }
}

/// One order the session tracks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OuchOrder {
    /// Its token (our client order id).
    pub id: ClientOrderId,
    /// Side.
    pub side: Side,
    /// Limit price.
    pub price: Price,
    /// Shares asked for.
    pub qty: Qty,
    /// Shares filled (as applied).
    pub filled: Qty,
    /// Shares still open.
    pub leaves: Qty,
    /// State.
    pub state: OrderState,
    /// The venue's order reference number (0 until accepted).
    pub venue_ref: u64,
    /// Post-only (display `P`).
    pub post_only: bool,
    /// Number of our unanswered Enter (or the Replace that created it), 0: answered.
    pub entry_no: u64,
    /// Number of our unanswered Cancel (or the Replace that retires it), 0: none.
    pub cancel_no: u64,
    /// When the last unanswered message about it was sent.
    pub sent_at: UnixNanos,
    /// The order this one replaces (its Replace is unanswered), 0: none.
    pub replaces: ClientOrderId,
    /// The order replacing this one (unanswered), 0: none.
    pub replaced_by: ClientOrderId,
    /// An open order of an earlier run found in the replay (not reserved by risk; cancelled).
    pub foreign: bool,
}

/// Counters of the session.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OuchCounters {
    /// TCP connections made.
    pub connects: u64,
    /// Connect attempts that failed.
    pub connect_failures: u64,
    /// Logins accepted.
    pub logins: u64,
    /// Logins rejected.
    pub login_rejects: u64,
    /// Links lost (reset, EOF, silence, protocol error, login timeout).
    pub disconnects: u64,
    /// Links dropped for server silence.
    pub server_timeouts: u64,
    /// Client heartbeats sent.
    pub heartbeats: u64,
    /// Sequenced messages applied.
    pub applied: u64,
    /// Sequenced messages skipped because their number was already applied.
    pub replay_skipped: u64,
    /// Sequenced messages that did not decode (their number is consumed).
    pub bad_messages: u64,
    /// Enter messages sent (probes excluded).
    pub entered: u64,
    /// Replace messages sent.
    pub replaces: u64,
    /// Cancel messages sent (re-sent ones included).
    pub cancels: u64,
    /// Cancels sent again after the barrier showed the venue never received them.
    pub cancels_resent: u64,
    /// Orders denied by our risk.
    pub denied: u64,
    /// Accepted answers applied.
    pub accepted: u64,
    /// Replaced answers applied.
    pub replaced: u64,
    /// Orders rejected by the venue.
    pub rejected: u64,
    /// Orders cancelled (fully) by the venue.
    pub canceled: u64,
    /// Executions applied.
    pub executions: u64,
    /// Orders that became UNKNOWN.
    pub unknown: u64,
    /// UNKNOWN orders resolved as never live by the barrier.
    pub resolved_never_live: u64,
    /// UNKNOWN orders resolved as live (an answer, or the barrier).
    pub resolved_live: u64,
    /// Probes sent.
    pub probes: u64,
    /// Barriers completed (probe answered).
    pub barriers: u64,
    /// Open orders of an earlier run found in a replay (cancelled).
    pub foreign: u64,
    /// Answers for a token the barrier had resolved as never live (the kill switch latches).
    pub contradictions: u64,
    /// Answers naming a token we do not track.
    pub unknown_tokens: u64,
    /// Of those, executions: the position is unknown, so the kill switch latches.
    pub unattributed_fills: u64,
    /// Illegal state transitions ignored.
    pub illegal: u64,
    /// End-of-day system events.
    pub end_of_day: u64,
}

/// The outstanding barrier probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Probe {
    token: ClientOrderId,
    no: u64,
    sent_at: UnixNanos,
}

/// The deterministic OUCH session (see the module docs). Bytes to send accumulate in an internal
/// buffer ([`OuchCore::pending_out`]); the owner writes them and reports what was written.
pub struct OuchCore {
    s: OuchSettings,
    enc: OuchEncoder,
    units_per_tick: u32,
    risk: PreTradeRisk,
    ids: IdRange,
    orders: [Option<OuchOrder>; MAX_ORDERS],
    never_live: [u64; NEVER_LIVE_RING],
    never_live_next: usize,
    link: Link,
    session: [u8; 10],
    session_known: bool,
    /// Highest sequenced message number applied.
    applied_through: u64,
    /// Number the next sequenced message on this connection carries.
    stream_seq: u64,
    login_at: UnixNanos,
    last_rx: UnixNanos,
    last_tx: UnixNanos,
    reconnect_at: UnixNanos,
    backoff_ns: u64,
    drop_link: bool,
    /// Set by a login until the first barrier of the connection completes.
    synced: bool,
    probe: Option<Probe>,
    probe_backoff_ns: u64,
    msg_no: u64,
    stopping: bool,
    stop_at: UnixNanos,
    stopped: bool,
    ended: bool,
    failure: Option<Failure>,
    last_reject: u8,
    counters: OuchCounters,
    inbuf: Box<[u8]>,
    in_len: usize,
    out: Box<[u8]>,
    out_len: usize,
}

fn copy_field<const N: usize>(text: &str, what: &str) -> Result<([u8; N], usize), String> {
    let b = text.as_bytes();
    if b.len() > N || !text.is_ascii() {
        return Err(format!("{what} {text:?}: at most {N} ASCII characters"));
    }
    let mut a = [b' '; N];
    a[..b.len()].copy_from_slice(b);
    Ok((a, b.len()))
}

impl OuchCore {
    /// A core with `risk` (limits set here for [`INST`]) and client ids from `ids`.
    pub fn new(
        s: OuchSettings,
        limits: RiskLimits,
        mut risk: PreTradeRisk,
        ids: IdRange,
    ) -> Result<Self, String> {
        let enc = OuchEncoder::new(s.stock, s.firm, s.tick)
            .ok_or_else(|| format!("tick {:?} does not fit OUCH price units", s.tick))?;
        let units_per_tick = enc.units_per_tick();
        risk.set_limits(INST, limits);
        Ok(Self {
            s,
            enc,
            units_per_tick,
            risk,
            ids,
            orders: [None; MAX_ORDERS],
            never_live: [0; NEVER_LIVE_RING],
            never_live_next: 0,
            link: Link::Down,
            session: s.session,
            // A blank configured session is learned from the first acceptance.
            session_known: !s.session.trim_ascii().is_empty(),
            applied_through: 0,
            stream_seq: 0,
            login_at: UnixNanos(0),
            last_rx: UnixNanos(0),
            last_tx: UnixNanos(0),
            reconnect_at: UnixNanos(0),
            backoff_ns: s.reconnect_min_ns,
            drop_link: false,
            synced: false,
            probe: None,
            probe_backoff_ns: s.probe_timeout_ns,
            msg_no: 0,
            stopping: false,
            stop_at: UnixNanos(0),
            stopped: false,
            ended: false,
            failure: None,
            last_reject: 0,
            counters: OuchCounters::default(),
            inbuf: vec![0u8; IN_CAP].into_boxed_slice(),
            in_len: 0,
            out: vec![0u8; OUT_CAP].into_boxed_slice(),
            out_len: 0,
        })
    }

    // ---- state -----------------------------------------------------------------------------

    /// Where the session stands.
    pub fn phase(&self) -> Phase {
        if self.failure.is_some() {
            Phase::Failed
        } else if self.stopped {
            Phase::Stopped
        } else if self.ended {
            Phase::Ended
        } else if self.stopping {
            Phase::Stopping
        } else if self.link != Link::Up {
            Phase::Connecting
        } else if self.reconciling() {
            Phase::Reconciling
        } else if self.risk.is_killed() {
            Phase::Killed
        } else {
            Phase::Ready
        }
    }

    fn reconciling(&self) -> bool {
        !self.synced || self.probe.is_some() || self.orders.iter().flatten().any(|o| o.foreign)
    }

    /// The link.
    pub fn link(&self) -> Link {
        self.link
    }

    /// Why the session gave up, if it did.
    pub fn failure(&self) -> Option<Failure> {
        self.failure
    }

    /// The reason byte of the last login rejection (0: none).
    pub fn last_login_reject(&self) -> u8 {
        self.last_reject
    }

    /// Highest sequenced message number applied (the next login asks for the one after it).
    pub fn applied_through(&self) -> u64 {
        self.applied_through
    }

    /// Counters so far.
    pub fn counters(&self) -> OuchCounters {
        self.counters
    }

    /// Pre-trade risk (position, reservations, kill latch).
    pub fn risk(&self) -> &PreTradeRisk {
        &self.risk
    }

    /// Pre-trade risk, to set the reference price or the position.
    pub fn risk_mut(&mut self) -> &mut PreTradeRisk {
        &mut self.risk
    }

    /// The order with token `id`, while it is tracked (terminal orders leave the table).
    pub fn order(&self, id: ClientOrderId) -> Option<OuchOrder> {
        self.find(id).and_then(|i| self.orders[i])
    }

    /// Tracked orders.
    pub fn orders(&self) -> impl Iterator<Item = &OuchOrder> {
        self.orders.iter().flatten()
    }

    /// Whether `id` was resolved as never live (among the last 64 such tokens).
    pub fn was_never_live(&self, id: ClientOrderId) -> bool {
        id.0 != 0 && self.never_live.contains(&id.0)
    }

    /// Client ids left in the reserved block.
    pub fn ids_left(&self) -> u64 {
        self.ids.end.saturating_sub(self.ids.next)
    }

    /// Adds a freshly reserved block `[next, end)` (never below ids already used).
    pub fn refill_ids(&mut self, ids: IdRange) {
        let next = ids.next.max(self.ids.next);
        self.ids = IdRange {
            next,
            end: ids.end.max(next),
        };
    }

    /// The token of the outstanding probe, if any.
    pub fn probe_token(&self) -> Option<ClientOrderId> {
        self.probe.map(|p| p.token)
    }

    // ---- bytes -----------------------------------------------------------------------------

    /// Bytes waiting to be written to the connection.
    pub fn pending_out(&self) -> &[u8] {
        &self.out[..self.out_len]
    }

    /// The owner wrote the first `n` pending bytes.
    pub fn consumed_out(&mut self, n: usize) {
        let n = n.min(self.out_len);
        self.out.copy_within(n..self.out_len, 0);
        self.out_len -= n;
    }

    fn room(&self) -> usize {
        OUT_CAP - self.out_len
    }

    fn push_packet(&mut self, kind: PacketType, payload: &[u8], now: UnixNanos) -> bool {
        match write_packet(kind, payload, &mut self.out[self.out_len..]) {
            Ok(n) => {
                self.out_len += n;
                self.last_tx = now;
                true
            }
            Err(_) => false,
        }
    }

    /// Whether the owner must close the connection now (then call [`Self::on_disconnected`]).
    pub fn take_drop(&mut self) -> bool {
        std::mem::take(&mut self.drop_link)
    }

    /// Whether the owner should open a connection now.
    pub fn wants_connect(&self, now: UnixNanos) -> bool {
        self.link == Link::Down
            && self.failure.is_none()
            && !self.stopped
            && !self.ended
            && now.0 >= self.reconnect_at.0
    }

    /// A connect attempt failed: retry after the backoff.
    pub fn on_connect_failed(&mut self, now: UnixNanos) {
        self.counters.connect_failures += 1;
        self.schedule_reconnect(now);
    }

    fn schedule_reconnect(&mut self, now: UnixNanos) {
        self.reconnect_at = UnixNanos(now.0.saturating_add(self.backoff_ns));
        self.backoff_ns = self
            .backoff_ns
            .saturating_mul(2)
            .min(self.s.reconnect_max_ns)
            .max(1);
    }

    /// A TCP connection is up: sends the login request asking for the next unapplied message.
    pub fn on_connected(&mut self, now: UnixNanos) {
        self.counters.connects += 1;
        self.drop_link = false;
        self.link = Link::LoginSent;
        self.login_at = now;
        self.last_rx = now;
        self.in_len = 0;
        self.out_len = 0;
        self.synced = false;
        let mut b = [0u8; 64];
        let s = &self.s;
        let n = write_login_request(
            &s.user[..s.user_len],
            &s.password[..s.password_len],
            self.session.trim_ascii_end(),
            self.applied_through + 1,
            &mut b,
        );
        match n {
            Ok(n) => {
                self.out[..n].copy_from_slice(&b[..n]);
                self.out_len = n;
                self.last_tx = now;
            }
            Err(_) => self.drop_link = true,
        }
    }

    /// The connection is gone (reset, EOF, or closed by us): every working order becomes UNKNOWN,
    /// and a reconnect is scheduled (unless the session is over).
    pub fn on_disconnected(&mut self, now: UnixNanos) {
        if self.link == Link::Down {
            return;
        }
        self.counters.disconnects += 1;
        self.link = Link::Down;
        self.in_len = 0;
        self.out_len = 0;
        self.synced = false;
        self.probe = None;
        for i in 0..MAX_ORDERS {
            self.make_unknown(i);
        }
        if self.stopping && !self.stopped && self.open_orders() == 0 {
            self.stopped = true;
        }
        self.schedule_reconnect(now);
    }

    /// Bytes received on the connection. Returns how many sequenced messages were applied.
    ///
    /// # Hot path
    /// Copies into the fixed receive buffer, parses in place; no allocation.
    pub fn on_bytes(&mut self, data: &[u8], now: UnixNanos) -> usize {
        self.on_bytes_with(data, now, &mut |_, _| {})
    }

    /// [`Self::on_bytes`], handing `tap` each sequenced message the session is about to apply (its
    /// stream number and bytes; replayed ones it skips are not handed) before it is applied: the
    /// engine journals them there.
    ///
    /// # Hot path
    /// As [`Self::on_bytes`].
    pub fn on_bytes_with(
        &mut self,
        data: &[u8],
        now: UnixNanos,
        tap: &mut impl FnMut(u64, &[u8]),
    ) -> usize {
        if self.link == Link::Down || data.is_empty() {
            return 0;
        }
        self.last_rx = now;
        let mut applied = 0;
        let mut data = data;
        while !data.is_empty() {
            let take = data.len().min(IN_CAP - self.in_len);
            self.inbuf[self.in_len..self.in_len + take].copy_from_slice(&data[..take]);
            self.in_len += take;
            data = &data[take..];
            let mut at = 0;
            loop {
                let (kind, start, end) = match parse_packet(&self.inbuf[at..self.in_len]) {
                    Ok(Some(p)) => (p.kind, at + 3, at + p.len),
                    Ok(None) => break,
                    Err(_) => {
                        self.drop_link = true;
                        self.in_len = 0;
                        return applied;
                    }
                };
                at = end;
                applied += self.on_packet(kind, start, end, now, tap);
                if self.link == Link::Down || self.drop_link {
                    self.in_len = 0;
                    return applied;
                }
            }
            self.inbuf.copy_within(at..self.in_len, 0);
            self.in_len -= at;
        }
        applied
    }

    fn on_packet(
        &mut self,
        kind: PacketType,
        start: usize,
        end: usize,
        now: UnixNanos,
        tap: &mut impl FnMut(u64, &[u8]),
    ) -> usize {
        match kind {
            PacketType::LoginAccepted => {
                let mut session = [b' '; 10];
                let mut seq = 0;
                match read_login_accepted(&self.inbuf[start..end]) {
                    Some(l) if l.session.len() <= 10 => {
                        session[..l.session.len()].copy_from_slice(l.session);
                        seq = l.seq;
                    }
                    _ => self.drop_link = true,
                }
                if !self.drop_link && self.link == Link::LoginSent {
                    self.logged_in(session, seq, now);
                }
                0
            }
            PacketType::LoginRejected => {
                let reason = self.inbuf.get(start).copied().unwrap_or(b' ');
                self.counters.login_rejects += 1;
                self.last_reject = reason;
                if reason == b'A' {
                    self.failure = Some(Failure::NotAuthorized);
                }
                self.drop_link = true;
                0
            }
            PacketType::SequencedData if self.link == Link::Up => {
                let n = self.stream_seq;
                self.stream_seq += 1;
                if n <= self.applied_through {
                    self.counters.replay_skipped += 1;
                    return 0;
                }
                self.applied_through = n;
                tap(n, &self.inbuf[start..end]);
                match Outbound::decode(&self.inbuf[start..end]) {
                    Ok(m) => {
                        self.counters.applied += 1;
                        self.apply(m, now);
                        1
                    }
                    Err(_) => {
                        self.counters.bad_messages += 1;
                        0
                    }
                }
            }
            PacketType::EndOfSession => {
                self.ended = true;
                self.drop_link = true;
                0
            }
            PacketType::ServerHeartbeat | PacketType::Debug => 0,
            // Data before login, or a client packet type from the server: the stream is not trusted.
            _ => {
                self.drop_link = true;
                0
            }
        }
    }

    fn logged_in(&mut self, session: [u8; 10], seq: u64, now: UnixNanos) {
        let expected = self.applied_through + 1;
        if self.session_known && session.trim_ascii() != self.session.trim_ascii() {
            self.failure = Some(Failure::SessionChanged);
            self.drop_link = true;
            return;
        }
        if seq > expected {
            self.failure = Some(Failure::SequenceGap {
                expected,
                offered: seq,
            });
            self.drop_link = true;
            return;
        }
        self.session = session;
        self.session_known = true;
        self.stream_seq = seq.max(1);
        self.link = Link::Up;
        self.counters.logins += 1;
        self.backoff_ns = self.s.reconnect_min_ns;
        self.probe_backoff_ns = self.s.probe_timeout_ns;
        // The barrier: its answer comes after the whole replay.
        self.send_probe(now);
    }

    // ---- timers ----------------------------------------------------------------------------

    /// Timers: login and server silence, order timeouts (→ UNKNOWN, probe), probe retry,
    /// heartbeat, orderly-stop logout. Call at least every few milliseconds.
    ///
    /// # Hot path
    /// O(orders); no allocation.
    pub fn tick(&mut self, now: UnixNanos) {
        if self.link == Link::Down {
            return;
        }
        let silent = now.saturating_since(self.last_rx);
        if self.link == Link::LoginSent
            && now.saturating_since(self.login_at) > self.s.login_timeout_ns
        {
            self.drop_link = true;
            return;
        }
        if silent > self.s.server_timeout_ns {
            self.counters.server_timeouts += 1;
            self.drop_link = true;
            return;
        }
        if self.link != Link::Up {
            return;
        }
        let mut timed_out = false;
        for i in 0..MAX_ORDERS {
            let Some(o) = self.orders[i] else { continue };
            let waiting = o.entry_no != 0 || o.cancel_no != 0;
            if waiting
                && o.state != OrderState::Unknown
                && now.saturating_since(o.sent_at) > self.s.order_timeout_ns
            {
                self.make_unknown(i);
                timed_out = true;
            }
        }
        match self.probe {
            None if timed_out => self.send_probe(now),
            Some(p) if now.saturating_since(p.sent_at) > self.probe_backoff_ns => {
                self.probe_backoff_ns = self
                    .probe_backoff_ns
                    .saturating_mul(2)
                    .min(self.s.probe_timeout_ns.saturating_mul(8));
                self.send_probe(now);
            }
            _ => {}
        }
        if self.stopping && !self.stopped && (self.open_orders() == 0 || now.0 >= self.stop_at.0) {
            self.push_packet(PacketType::LogoutRequest, &[], now);
            self.stopped = true;
            return;
        }
        if now.saturating_since(self.last_tx) >= self.s.heartbeat_ns
            && self.push_packet(PacketType::ClientHeartbeat, &[], now)
        {
            self.counters.heartbeats += 1;
        }
    }

    /// Whether the link should be closed once the send buffer is flushed (logged out).
    pub fn logged_out(&self) -> bool {
        self.stopped
    }

    // ---- commands --------------------------------------------------------------------------

    fn ready(&self) -> Result<(), Refusal> {
        match self.phase() {
            Phase::Ready | Phase::Killed => Ok(()),
            Phase::Connecting | Phase::Reconciling => Err(Refusal::NotReady),
            _ => Err(Refusal::Closed),
        }
    }

    fn next_no(&mut self) -> u64 {
        self.msg_no += 1;
        self.msg_no
    }

    fn take_id(&mut self) -> Option<ClientOrderId> {
        (self.ids.next < self.ids.end).then(|| {
            self.ids.next += 1;
            ClientOrderId(self.ids.next - 1)
        })
    }

    /// Enters a DAY limit order (post-only when `post_only`): risk first, reserved at once.
    ///
    /// # Hot path
    /// O(orders); no allocation.
    pub fn enter(
        &mut self,
        side: Side,
        price: Price,
        qty: Qty,
        post_only: bool,
        now: UnixNanos,
    ) -> Result<ClientOrderId, Refusal> {
        self.ready()?;
        let slot = self.free_slot().ok_or(Refusal::TableFull)?;
        if self.room() < MSG_ROOM {
            return Err(Refusal::Encode);
        }
        if self.ids.next >= self.ids.end {
            return Err(Refusal::ClientIds);
        }
        let id = ClientOrderId(self.ids.next);
        let check = OrderCheck {
            instrument: INST,
            client_id: id,
            side,
            price,
            qty,
        };
        if let Err(d) = self.risk.check_new(&check, now) {
            self.counters.denied += 1;
            return Err(Refusal::Denied(d));
        }
        let o = OutOrder {
            id,
            side,
            price,
            qty,
            post_only,
            now_ms: now.0 / MS,
        };
        let Ok(n) = self.enc.new_order(&o, &mut self.out[self.out_len..]) else {
            self.risk.on_done(INST, id);
            return Err(Refusal::Encode);
        };
        let _ = self.take_id();
        self.out_len += n;
        self.last_tx = now;
        let no = self.next_no();
        self.counters.entered += 1;
        self.orders[slot] = Some(OuchOrder {
            id,
            side,
            price,
            qty,
            filled: Qty::ZERO,
            leaves: qty,
            state: OrderState::PendingNew,
            venue_ref: 0,
            post_only,
            entry_no: no,
            cancel_no: 0,
            sent_at: now,
            replaces: ClientOrderId(0),
            replaced_by: ClientOrderId(0),
            foreign: false,
        });
        Ok(id)
    }

    /// Replaces working order `id` by a new token at `price` for `qty` shares. The old order stays
    /// reserved until the venue answers; the new one is checked and reserved now.
    pub fn replace(
        &mut self,
        id: ClientOrderId,
        price: Price,
        qty: Qty,
        now: UnixNanos,
    ) -> Result<ClientOrderId, Refusal> {
        self.ready()?;
        let i = self.find(id).ok_or(Refusal::NoSuchOrder)?;
        let Some(old) = self.orders[i] else {
            return Err(Refusal::NoSuchOrder);
        };
        if old.foreign
            || !matches!(old.state, OrderState::New | OrderState::PartiallyFilled)
            || old.cancel_no != 0
        {
            return Err(Refusal::NoSuchOrder);
        }
        let slot = self.free_slot().ok_or(Refusal::TableFull)?;
        if self.room() < MSG_ROOM {
            return Err(Refusal::Encode);
        }
        if self.ids.next >= self.ids.end {
            return Err(Refusal::ClientIds);
        }
        let new_id = ClientOrderId(self.ids.next);
        let check = OrderCheck {
            instrument: INST,
            client_id: new_id,
            side: old.side,
            price,
            qty,
        };
        if let Err(d) = self.risk.check_new(&check, now) {
            self.counters.denied += 1;
            return Err(Refusal::Denied(d));
        }
        let o = OutOrder {
            id: new_id,
            side: old.side,
            price,
            qty,
            post_only: old.post_only,
            now_ms: now.0 / MS,
        };
        let Ok(n) = self.enc.replace(id, &o, &mut self.out[self.out_len..]) else {
            self.risk.on_done(INST, new_id);
            return Err(Refusal::Encode);
        };
        let _ = self.take_id();
        self.out_len += n;
        self.last_tx = now;
        let no = self.next_no();
        self.counters.replaces += 1;
        self.step(i, OrderEventKind::CancelSent);
        if let Some(a) = self.orders[i].as_mut() {
            a.cancel_no = no;
            a.sent_at = now;
            a.replaced_by = new_id;
        }
        self.orders[slot] = Some(OuchOrder {
            id: new_id,
            side: old.side,
            price,
            qty,
            filled: Qty::ZERO,
            leaves: qty,
            state: OrderState::PendingNew,
            venue_ref: 0,
            post_only: old.post_only,
            entry_no: no,
            cancel_no: 0,
            sent_at: now,
            replaces: id,
            replaced_by: ClientOrderId(0),
            foreign: false,
        });
        Ok(new_id)
    }

    /// Cancels order `id` (never denied: refusing a cancel only adds risk). Works while
    /// reconciling too, as long as the link is up.
    pub fn cancel(&mut self, id: ClientOrderId, now: UnixNanos) -> Result<(), Refusal> {
        let i = self.find(id).ok_or(Refusal::NoSuchOrder)?;
        self.send_cancel(i, now)
    }

    fn send_cancel(&mut self, i: usize, now: UnixNanos) -> Result<(), Refusal> {
        let Some(o) = self.orders[i] else {
            return Err(Refusal::NoSuchOrder);
        };
        if o.state.is_terminal() || o.cancel_no != 0 {
            return Err(Refusal::NoSuchOrder);
        }
        if self.link != Link::Up {
            return Err(Refusal::NotReady);
        }
        if self.room() < MSG_ROOM {
            return Err(Refusal::Encode);
        }
        let Ok(n) = self
            .enc
            .cancel(o.id, now.0 / MS, &mut self.out[self.out_len..])
        else {
            return Err(Refusal::Encode);
        };
        self.out_len += n;
        self.last_tx = now;
        let no = self.next_no();
        self.counters.cancels += 1;
        if !o.foreign {
            self.risk.on_cancel_sent(now);
        }
        self.step(i, OrderEventKind::CancelSent);
        if let Some(o) = self.orders[i].as_mut() {
            o.cancel_no = no;
            o.sent_at = now;
        }
        Ok(())
    }

    /// Latches the kill switch and sends one Cancel per open token (working, pending or UNKNOWN);
    /// orders that cannot be cancelled now (link down) are cancelled once reconciled. Returns how
    /// many cancels went out.
    pub fn kill(&mut self, now: UnixNanos) -> usize {
        self.risk.kill();
        self.cancel_open(now)
    }

    /// Lifts the kill latch (the two-person rule is enforced by the caller).
    pub fn lift_kill(&mut self) {
        self.risk.lift_kill();
    }

    fn cancel_open(&mut self, now: UnixNanos) -> usize {
        let mut n = 0;
        for i in 0..MAX_ORDERS {
            let open = self.orders[i].is_some_and(|o| !o.state.is_terminal() && o.cancel_no == 0);
            if open && self.send_cancel(i, now).is_ok() {
                n += 1;
            }
        }
        n
    }

    /// Orderly stop: entry blocked, every open order cancelled, logout once none is open (or after
    /// `stop_timeout_ns`).
    pub fn stop(&mut self, now: UnixNanos) {
        if self.stopping {
            return;
        }
        self.stopping = true;
        self.stop_at = UnixNanos(now.0.saturating_add(self.s.stop_timeout_ns));
        self.cancel_open(now);
        if self.link == Link::Down {
            self.stopped = true;
        }
    }

    /// Orders not yet terminal.
    pub fn open_orders(&self) -> usize {
        self.orders.iter().flatten().count()
    }

    // ---- answers ---------------------------------------------------------------------------

    fn apply(&mut self, m: Outbound, now: UnixNanos) {
        match m {
            Outbound::SystemEvent { event, .. } => {
                if event == b'E' {
                    self.end_of_day();
                }
            }
            Outbound::Accepted {
                token,
                side,
                shares,
                price,
                order_ref,
                order_state,
                ..
            } => {
                if self.is_probe(token) {
                    return self.barrier(now);
                }
                let i = match self.find(token) {
                    Some(i) => i,
                    None => match self.adopt(token, side, shares, price, order_ref) {
                        Some(i) => i,
                        None => return,
                    },
                };
                self.accepted(i, order_ref);
                if order_state == b'D' {
                    self.finish(i, OrderEventKind::Expired);
                }
            }
            Outbound::Replaced {
                replacement,
                side,
                shares,
                price,
                order_ref,
                previous,
                ..
            } => {
                self.counters.replaced += 1;
                if let Some(a) = self.find(previous) {
                    if let Some(o) = self.orders[a].as_mut() {
                        o.replaced_by = ClientOrderId(0);
                    }
                    self.finish(a, OrderEventKind::Canceled);
                }
                let i = match self.find(replacement) {
                    Some(i) => i,
                    None => match self.adopt(replacement, side, shares, price, order_ref) {
                        Some(i) => i,
                        None => return,
                    },
                };
                if let Some(o) = self.orders[i].as_mut() {
                    o.replaces = ClientOrderId(0);
                }
                self.accepted(i, order_ref);
            }
            Outbound::Canceled {
                token, decrement, ..
            } => {
                if self.is_probe(token) {
                    return self.barrier(now);
                }
                let Some(i) = self.find(token) else {
                    self.counters.unknown_tokens += 1;
                    return;
                };
                let Some(o) = self.orders[i].as_mut() else {
                    return;
                };
                let left = o.leaves.lots() - i64::from(decrement);
                o.leaves = Qty::from_lots(left.max(0));
                if left <= 0 {
                    self.counters.canceled += 1;
                    self.finish(i, OrderEventKind::Canceled);
                }
            }
            Outbound::Executed { token, shares, .. } => {
                self.counters.executions += 1;
                let qty = Qty::from_lots(i64::from(shares));
                let Some(i) = self.find(token) else {
                    // A fill of a token we do not track: OUCH's Executed carries no side, so the
                    // position cannot be moved and is no longer known. Fail closed: latch the kill
                    // (entry denied until a person lifts it after reconciling with the venue).
                    self.counters.unknown_tokens += 1;
                    self.counters.unattributed_fills += 1;
                    self.risk.kill();
                    return;
                };
                let Some(o) = self.orders[i].as_mut() else {
                    return;
                };
                o.filled = Qty::from_lots(o.filled.lots() + qty.lots());
                let leaves = Qty::from_lots((o.leaves.lots() - qty.lots()).max(0));
                o.leaves = leaves;
                let o = *o;
                if o.foreign {
                    // Not reserved: only the position moves.
                    let d = o.side.sign().saturating_mul(qty.lots());
                    let p = self.risk.position(INST).unwrap_or(0).saturating_add(d);
                    self.risk.set_position(INST, p);
                } else {
                    self.risk.on_fill(INST, o.id, o.side, qty, now);
                }
                if o.state == OrderState::Unknown && !o.foreign {
                    // The fill proves the order exists.
                    self.counters.resolved_live += 1;
                    self.risk.on_live(INST, o.id);
                }
                self.step(i, OrderEventKind::Filled { qty, leaves });
                if leaves.lots() == 0 {
                    self.done(i);
                }
            }
            Outbound::Rejected { token, .. } => {
                if self.is_probe(token) {
                    return self.barrier(now);
                }
                let Some(i) = self.find(token) else {
                    self.counters.unknown_tokens += 1;
                    return;
                };
                self.counters.rejected += 1;
                self.finish(i, OrderEventKind::Rejected);
            }
        }
    }

    fn is_probe(&self, token: ClientOrderId) -> bool {
        self.probe.is_some_and(|p| p.token == token)
    }

    fn accepted(&mut self, i: usize, order_ref: u64) {
        let Some(o) = self.orders[i] else { return };
        self.counters.accepted += 1;
        if o.state == OrderState::Unknown && !o.foreign {
            self.counters.resolved_live += 1;
            self.risk.on_live(INST, o.id);
        }
        if matches!(o.state, OrderState::PendingNew | OrderState::Unknown) {
            self.step(i, OrderEventKind::Accepted(VenueOrderId(order_ref)));
        } else if o.state == OrderState::PendingCancel && o.venue_ref == 0 {
            // A cancel was sent before the acceptance arrived: still pending cancel.
        } else {
            self.counters.illegal += 1;
        }
        if let Some(o) = self.orders[i].as_mut() {
            o.venue_ref = order_ref;
            o.entry_no = 0;
        }
    }

    /// An acceptance for a token we do not track: an open order of an earlier run (tracked, then
    /// cancelled once reconciled), or a token the barrier resolved as never live (a contradiction:
    /// the kill switch latches).
    fn adopt(
        &mut self,
        token: ClientOrderId,
        side: Side,
        shares: u32,
        price: u32,
        order_ref: u64,
    ) -> Option<usize> {
        if self.was_never_live(token) {
            self.counters.contradictions += 1;
            self.risk.kill();
        }
        let Some(slot) = self.free_slot() else {
            self.counters.unknown_tokens += 1;
            return None;
        };
        self.counters.foreign += 1;
        let qty = Qty::from_lots(i64::from(shares));
        self.orders[slot] = Some(OuchOrder {
            id: token,
            side,
            price: Price::from_ticks(i64::from(price / self.units_per_tick.max(1))),
            qty,
            filled: Qty::ZERO,
            leaves: qty,
            state: OrderState::PendingNew,
            venue_ref: order_ref,
            post_only: false,
            entry_no: 0,
            cancel_no: 0,
            sent_at: UnixNanos(0),
            replaces: ClientOrderId(0),
            replaced_by: ClientOrderId(0),
            foreign: true,
        });
        Some(slot)
    }

    fn step(&mut self, i: usize, ev: OrderEventKind) -> bool {
        let Some(o) = self.orders[i].as_mut() else {
            return false;
        };
        match transition(o.state, ev) {
            Ok(next) => {
                o.state = next;
                true
            }
            Err(_) => {
                self.counters.illegal += 1;
                false
            }
        }
    }

    /// Terminal outcome by the venue.
    fn finish(&mut self, i: usize, ev: OrderEventKind) {
        if !self.step(i, ev) {
            if let Some(o) = self.orders[i].as_mut() {
                o.state = OrderState::Canceled;
            }
        }
        self.done(i);
    }

    /// The order left the book: release its reservation (if a fill has not), settle a pending
    /// replace, free the slot.
    fn done(&mut self, i: usize) {
        let Some(o) = self.orders[i].take() else {
            return;
        };
        if !o.foreign && self.risk.reservation(INST, o.id).is_some() {
            self.risk.on_done(INST, o.id);
        }
        if o.replaced_by.0 != 0 {
            // Its replacement's Replace reaches a dead order: the venue ignores it.
            if let Some(b) = self.find(o.replaced_by) {
                self.never_live(b);
            }
        }
        if o.replaces.0 != 0 {
            // A refused replacement leaves the old order as it was.
            if let Some(a) = self.find(o.replaces) {
                if let Some(ao) = self.orders[a].as_mut() {
                    ao.replaced_by = ClientOrderId(0);
                    ao.cancel_no = 0;
                }
                self.restore_live(a);
            }
        }
    }

    /// Resolved as never received by the venue.
    fn never_live(&mut self, i: usize) {
        let Some(o) = self.orders[i] else { return };
        if o.state != OrderState::Unknown && o.state != OrderState::PendingNew {
            self.step(i, OrderEventKind::Timeout);
        }
        if !self.step(i, OrderEventKind::NotFound) {
            if let Some(o) = self.orders[i].as_mut() {
                o.state = OrderState::NeverLive;
            }
        }
        self.counters.resolved_never_live += 1;
        self.never_live[self.never_live_next] = o.id.0;
        self.never_live_next = (self.never_live_next + 1) % NEVER_LIVE_RING;
        self.done(i);
    }

    /// An accepted order whose pending cancel (or replace) or whose connection was lost is live
    /// after all.
    fn restore_live(&mut self, i: usize) {
        let Some(o) = self.orders[i] else { return };
        let was_unknown = o.state == OrderState::Unknown;
        if o.state == OrderState::PendingCancel {
            self.step(i, OrderEventKind::CancelRejected);
        }
        let Some(o) = self.orders[i] else { return };
        if o.state == OrderState::Unknown && o.venue_ref != 0 {
            self.step(i, OrderEventKind::Accepted(VenueOrderId(o.venue_ref)));
            if !o.foreign {
                self.risk.on_live(INST, o.id);
            }
            if was_unknown {
                self.counters.resolved_live += 1;
            }
        }
    }

    fn make_unknown(&mut self, i: usize) {
        let Some(o) = self.orders[i] else { return };
        if o.state.is_terminal() || o.state == OrderState::Unknown {
            return;
        }
        self.step(i, OrderEventKind::Timeout);
        if !o.foreign {
            self.risk.on_unknown(INST, o.id);
        }
        self.counters.unknown += 1;
    }

    fn send_probe(&mut self, now: UnixNanos) {
        let Some(token) = self.take_id() else {
            return;
        };
        let m = EnterOrder {
            token,
            side: Side::Buy,
            shares: 0,
            stock: self.s.stock,
            price: self.units_per_tick,
            time_in_force: TIF_IOC,
            firm: self.s.firm,
            display: b'Y',
            capacity: b'P',
            ise: b'N',
            min_qty: 0,
            cross_type: b'N',
            customer_type: b' ',
        };
        let mut b = [0u8; EnterOrder::LEN];
        if m.encode(&mut b).is_err() || !self.push_packet(PacketType::UnsequencedData, &b, now) {
            return;
        }
        let no = self.next_no();
        self.counters.probes += 1;
        self.probe = Some(Probe {
            token,
            no,
            sent_at: now,
        });
    }

    /// The probe's answer arrived: every message sent before it has its answer in the stream or was
    /// never received.
    fn barrier(&mut self, now: UnixNanos) {
        let Some(p) = self.probe.take() else { return };
        self.counters.barriers += 1;
        self.synced = true;
        self.probe_backoff_ns = self.s.probe_timeout_ns;
        for i in 0..MAX_ORDERS {
            let Some(o) = self.orders[i] else { continue };
            if o.entry_no != 0 && o.entry_no < p.no {
                self.never_live(i);
            } else if o.cancel_no != 0 && o.cancel_no < p.no {
                // The venue never received the cancel (or the replace's cancel half): still live.
                if let Some(o) = self.orders[i].as_mut() {
                    o.cancel_no = 0;
                }
                self.restore_live(i);
                if o.replaced_by.0 == 0 && self.send_cancel(i, now).is_ok() {
                    self.counters.cancels_resent += 1;
                }
            } else if o.state == OrderState::Unknown && o.entry_no == 0 && o.cancel_no == 0 {
                self.restore_live(i);
            }
        }
        // Open orders of an earlier run, and everything once killed or stopping, are cancelled.
        for i in 0..MAX_ORDERS {
            let cancel = self.orders[i].is_some_and(|o| {
                (o.foreign || self.risk.is_killed() || self.stopping) && o.cancel_no == 0
            });
            if cancel {
                let _ = self.send_cancel(i, now);
            }
        }
    }

    /// System event `E`: the venue's day is over; no OUCH order outlives it.
    fn end_of_day(&mut self) {
        self.counters.end_of_day += 1;
        self.ended = true;
        for i in 0..MAX_ORDERS {
            if self.orders[i].is_some() {
                self.finish(i, OrderEventKind::Expired);
            }
        }
    }

    fn find(&self, id: ClientOrderId) -> Option<usize> {
        self.orders
            .iter()
            .position(|o| o.is_some_and(|o| o.id == id))
    }

    fn free_slot(&self) -> Option<usize> {
        self.orders.iter().position(Option::is_none)
    }
}

// ---------------------------------------------------------------------------------------------
// The driver.

fn d_firm() -> String {
    "PYMM".into()
}
fn d_block() -> u64 {
    crate::gateway::client_id::DEFAULT_BLOCK
}
fn d_order_timeout() -> u64 {
    2_000
}
fn d_heartbeat() -> u64 {
    1_000
}
fn d_server_timeout() -> u64 {
    15_000
}
fn d_login_timeout() -> u64 {
    5_000
}
fn d_probe_timeout() -> u64 {
    2_000
}
fn d_reconnect_min() -> u64 {
    50
}
fn d_reconnect_max() -> u64 {
    2_000
}
fn d_connect_timeout() -> u64 {
    1_000
}
fn d_stop_timeout() -> u64 {
    3_000
}

/// The session's config, as `pymm._native.OuchSession` takes it (a dict). Times in milliseconds.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OuchConfig {
    /// SoupBinTCP server, `ip:port`.
    pub addr: String,
    /// Username (at most 6 characters).
    pub user: String,
    /// Password (at most 10 characters).
    pub password: String,
    /// Requested session (blank: any).
    #[serde(default)]
    pub session: String,
    /// Stock symbol (at most 8 characters).
    pub symbol: String,
    /// Firm (at most 4 characters).
    #[serde(default = "d_firm")]
    pub firm: String,
    /// Price tick, e.g. `"0.01"` (at most 4 decimals: OUCH prices are 1/10000 dollar).
    pub tick: String,
    /// File of the persisted client-id high-water mark.
    pub client_id_file: String,
    /// Ids reserved per persisted block.
    #[serde(default = "d_block")]
    pub id_block: u64,
    /// Pre-trade risk limits (quantities in shares, notionals in dollars).
    pub risk: RiskConfig,
    /// No answer within this → UNKNOWN.
    #[serde(default = "d_order_timeout")]
    pub order_timeout_ms: u64,
    /// Client heartbeat after this much send silence.
    #[serde(default = "d_heartbeat")]
    pub heartbeat_ms: u64,
    /// Server silence that loses the session.
    #[serde(default = "d_server_timeout")]
    pub server_timeout_ms: u64,
    /// No login answer within this → retry.
    #[serde(default = "d_login_timeout")]
    pub login_timeout_ms: u64,
    /// A probe unanswered this long is sent again.
    #[serde(default = "d_probe_timeout")]
    pub probe_timeout_ms: u64,
    /// First reconnect delay.
    #[serde(default = "d_reconnect_min")]
    pub reconnect_min_ms: u64,
    /// Longest reconnect delay.
    #[serde(default = "d_reconnect_max")]
    pub reconnect_max_ms: u64,
    /// TCP connect timeout.
    #[serde(default = "d_connect_timeout")]
    pub connect_timeout_ms: u64,
    /// Orderly stop: logout at the latest this long after it began.
    #[serde(default = "d_stop_timeout")]
    pub stop_timeout_ms: u64,
}

impl OuchConfig {
    /// The instrument the limits are read against: the tick, and one share per lot.
    pub fn instrument(&self) -> Result<PipelineInstrument, String> {
        let tick = Scale::parse(&self.tick).map_err(|e| format!("tick {:?}: {e}", self.tick))?;
        let (sym, len) = copy_field::<20>(&self.symbol, "symbol")?;
        Ok(PipelineInstrument {
            id: INST,
            symbol: sym,
            symbol_len: len,
            tick,
            lot: Scale::ONE,
            rule: SequenceRule::Spot,
        })
    }

    /// The core's settings.
    pub fn settings(&self) -> Result<OuchSettings, String> {
        let (user, user_len) = copy_field::<6>(&self.user, "user")?;
        let (password, password_len) = copy_field::<10>(&self.password, "password")?;
        let (session, _) = copy_field::<10>(&self.session, "session")?;
        let (stock, n) = copy_field::<8>(&self.symbol, "symbol")?;
        let (firm, _) = copy_field::<4>(&self.firm, "firm")?;
        if n == 0 || user_len == 0 {
            return Err("symbol and user must not be empty".into());
        }
        let ms = |v: u64| v.saturating_mul(MS);
        Ok(OuchSettings {
            user,
            user_len,
            password,
            password_len,
            session,
            stock,
            firm,
            tick: self.instrument()?.tick,
            order_timeout_ns: ms(self.order_timeout_ms.max(1)),
            heartbeat_ns: ms(self.heartbeat_ms.max(1)),
            server_timeout_ns: ms(self.server_timeout_ms.max(1)),
            login_timeout_ns: ms(self.login_timeout_ms.max(1)),
            probe_timeout_ns: ms(self.probe_timeout_ms.max(1)),
            reconnect_min_ns: ms(self.reconnect_min_ms.max(1)),
            reconnect_max_ns: ms(self.reconnect_max_ms.max(self.reconnect_min_ms).max(1)),
            stop_timeout_ns: ms(self.stop_timeout_ms),
        })
    }

    /// Risk limits and rates in the instrument's units.
    pub fn limits(&self) -> Result<(RiskLimits, RateLimits), String> {
        limits_from_config(&self.risk, &self.instrument()?)
    }
}

/// The session's clock: `CLOCK_REALTIME` nanoseconds (the same for timers and risk).
pub fn now() -> UnixNanos {
    UnixNanos(PosixClock::Realtime.now_ns())
}

/// A live OUCH session on a kernel TCP connection. Call [`OuchSession::poll`] from the owning loop.
pub struct OuchSession {
    core: OuchCore,
    addr: SocketAddr,
    connect_timeout: Duration,
    conn: Option<KernelTcpClient>,
    ids: ClientIdAllocator,
    block: u64,
    last_error: Option<String>,
}

impl OuchSession {
    /// Validates the config, opens the client-id counter (reserving a block) and builds the core.
    /// Does not connect: the first [`OuchSession::poll`] does.
    pub fn new(cfg: &OuchConfig) -> Result<Self, String> {
        let addr: SocketAddr = cfg
            .addr
            .parse()
            .map_err(|e| format!("addr {:?}: {e}", cfg.addr))?;
        let settings = cfg.settings()?;
        let (limits, rates) = cfg.limits()?;
        let mut ids = ClientIdAllocator::open(&cfg.client_id_file, cfg.id_block)
            .map_err(|e| format!("client ids {}: {e}", cfg.client_id_file))?;
        let (next, end) = ids
            .take_block()
            .map_err(|e| format!("client ids {}: {e}", cfg.client_id_file))?;
        let risk = PreTradeRisk::new(1, rates, now());
        let core = OuchCore::new(settings, limits, risk, IdRange { next, end })?;
        Ok(Self {
            core,
            addr,
            connect_timeout: Duration::from_millis(cfg.connect_timeout_ms.max(1)),
            conn: None,
            ids,
            block: cfg.id_block.max(1),
            last_error: None,
        })
    }

    /// The core (state, orders, counters, risk).
    pub fn core(&self) -> &OuchCore {
        &self.core
    }

    /// The core, mutably (set the reference price or position through its risk).
    pub fn core_mut(&mut self) -> &mut OuchCore {
        &mut self.core
    }

    /// The last connect or id-counter error.
    pub fn last_error(&self) -> Option<&str> {
        self.last_error.as_deref()
    }

    /// One pass: connect when due, read what is there, run the timers, write what is pending.
    /// Returns how many sequenced messages were applied.
    ///
    /// # Hot path
    /// Connected and reconciled: one non-blocking `read`, the core's in-place parsing, one `write`.
    pub fn poll(&mut self) -> usize {
        self.poll_with(&mut |_, _| {})
    }

    /// [`Self::poll`], handing `tap` each sequenced message before the core applies it (see
    /// [`OuchCore::on_bytes_with`]).
    ///
    /// # Hot path
    /// As [`Self::poll`].
    pub fn poll_with(&mut self, tap: &mut impl FnMut(u64, &[u8])) -> usize {
        let t = now();
        if self.conn.is_none() && self.core.wants_connect(t) {
            self.connect(t);
        }
        let mut applied = 0;
        if let Some(c) = self.conn.as_mut() {
            let core = &mut self.core;
            let r = c.poll(|data, _| applied += core.on_bytes_with(data, t, tap));
            if r.is_err() {
                self.close(t);
            }
        }
        self.core.tick(now());
        self.flush();
        if self.conn.is_some() && (self.core.take_drop() || self.core.logged_out()) {
            self.flush();
            self.close(now());
        }
        if self.core.ids_left() < self.block.div_ceil(10) {
            self.refill_ids();
        }
        applied
    }

    fn connect(&mut self, t: UnixNanos) {
        match KernelTcpClient::connect(self.addr, self.connect_timeout, IN_CAP) {
            Ok(c) => {
                self.conn = Some(c);
                self.core.on_connected(t);
                self.flush();
            }
            Err(e) => {
                self.last_error = Some(format!("connect {}: {e}", self.addr));
                self.core.on_connect_failed(t);
            }
        }
    }

    fn close(&mut self, t: UnixNanos) {
        self.conn = None;
        self.core.on_disconnected(t);
    }

    /// Writes what the core has pending (the engine loop calls it after handing the core orders).
    pub fn flush(&mut self) {
        let Some(c) = self.conn.as_mut() else { return };
        while !self.core.pending_out().is_empty() {
            match c.send(self.core.pending_out()) {
                Ok(0) => break, // the socket is full: the rest goes on the next poll
                Ok(n) => self.core.consumed_out(n),
                Err(_) => {
                    self.close(now());
                    return;
                }
            }
        }
    }

    fn refill_ids(&mut self) {
        match self.ids.refill().and_then(|()| self.ids.take_block()) {
            Ok((next, end)) => self.core.refill_ids(IdRange { next, end }),
            Err(e) => self.last_error = Some(format!("client ids: {e}")),
        }
    }

    /// Enters an order (see [`OuchCore::enter`]) and writes it.
    pub fn enter(
        &mut self,
        side: Side,
        price: Price,
        qty: Qty,
        post_only: bool,
    ) -> Result<ClientOrderId, Refusal> {
        let r = self.core.enter(side, price, qty, post_only, now());
        self.flush();
        r
    }

    /// Replaces an order (see [`OuchCore::replace`]) and writes it.
    pub fn replace(
        &mut self,
        id: ClientOrderId,
        price: Price,
        qty: Qty,
    ) -> Result<ClientOrderId, Refusal> {
        let r = self.core.replace(id, price, qty, now());
        self.flush();
        r
    }

    /// Cancels an order and writes it.
    pub fn cancel(&mut self, id: ClientOrderId) -> Result<(), Refusal> {
        let r = self.core.cancel(id, now());
        self.flush();
        r
    }

    /// Latches the kill switch and writes one Cancel per open token.
    pub fn kill(&mut self) -> usize {
        let n = self.core.kill(now());
        self.flush();
        n
    }

    /// Starts an orderly stop (cancel all, then logout); keep polling until [`Phase::Stopped`].
    pub fn stop(&mut self) {
        self.core.stop(now());
        self.flush();
    }

    /// Drops the connection now, as a reset would (tests and operators).
    pub fn disconnect(&mut self) {
        if self.conn.is_some() {
            self.close(now());
        }
    }

    /// Whether a TCP connection is open.
    pub fn connected(&self) -> bool {
        self.conn.is_some()
    }
}

/// Fuzz entry: a logged-in core with one working order and one pending, then arbitrary server
/// bytes in chunks of 23, with timer ticks between them (no panic, no out-of-bounds).
pub fn fuzz_ouch_client(data: &[u8]) {
    let mut c = testing::core();
    let t = UnixNanos(1_000_000_000);
    testing::login(&mut c, t);
    let _ = c.enter(
        Side::Buy,
        Price::from_ticks(9_900),
        Qty::from_lots(5),
        false,
        t,
    );
    let _ = c.enter(
        Side::Sell,
        Price::from_ticks(9_950),
        Qty::from_lots(5),
        true,
        t,
    );
    for (k, chunk) in data.chunks(23).enumerate() {
        let now = UnixNanos(t.0 + (k as u64) * 50 * MS);
        c.on_bytes(chunk, now);
        c.tick(now);
        let n = c.pending_out().len();
        c.consumed_out(n);
        if c.take_drop() {
            c.on_disconnected(now);
            c.on_connected(now);
        }
    }
}

/// Fixtures shared by the unit tests and the fuzz entry.
pub(crate) mod testing {
    use super::*;
    use crate::gateway::soupbintcp::write_login_accepted;

    pub(crate) fn settings() -> OuchSettings {
        OuchSettings {
            user: *b"PYMM  ",
            user_len: 4,
            password: *b"pymm      ",
            password_len: 4,
            session: [b' '; 10],
            stock: *b"PYMM    ",
            firm: *b"PYMM",
            tick: Scale::new(1, 2).unwrap_or(Scale::ONE),
            order_timeout_ns: 100 * MS,
            heartbeat_ns: 1_000 * MS,
            server_timeout_ns: 15_000 * MS,
            login_timeout_ns: 5_000 * MS,
            probe_timeout_ns: 1_000 * MS,
            reconnect_min_ns: 10 * MS,
            reconnect_max_ns: 100 * MS,
            stop_timeout_ns: 1_000 * MS,
        }
    }

    pub(crate) fn core() -> OuchCore {
        let limits = RiskLimits {
            max_order_qty: Qty::from_lots(1_000),
            max_order_notional: i128::MAX,
            price_collar_bps: 10_000,
            max_reference_age_ns: u64::MAX,
            max_long: Qty::from_lots(1_000),
            max_short: Qty::from_lots(1_000),
            max_position_notional: i128::MAX,
            max_open_orders: 50,
            duplicate_window_ns: 0,
            max_fills_in_window: 200,
            fill_window_ns: 1,
        };
        let rates = RateLimits {
            venue_orders_burst: 1 << 30,
            venue_orders_per_second: 1 << 30,
            messages_burst: 1 << 30,
            messages_per_second: 1 << 30,
        };
        let mut risk = PreTradeRisk::new(1, rates, UnixNanos(0));
        risk.set_reference(INST, Price::from_ticks(9_900), UnixNanos(0));
        match OuchCore::new(
            settings(),
            limits,
            risk,
            IdRange {
                next: 1,
                end: 1_000,
            },
        ) {
            Ok(c) => c,
            Err(e) => unreachable!("fixed settings are valid: {e}"),
        }
    }

    /// Connects, accepts the login at sequence 1 and answers the probe (sequence 1).
    pub(crate) fn login(c: &mut OuchCore, t: UnixNanos) {
        c.on_connected(t);
        let mut b = [0u8; 64];
        if let Ok(n) = write_login_accepted(b"PYMMITCH01", 1, &mut b) {
            c.on_bytes(&b[..n], t);
        }
        if let Some(p) = c.probe_token() {
            server(
                c,
                Outbound::Rejected {
                    timestamp: 0,
                    token: p,
                    reason: b'Z',
                },
                t,
            );
        }
        let n = c.pending_out().len();
        c.consumed_out(n);
    }

    /// Feeds one sequenced message.
    pub(crate) fn server(c: &mut OuchCore, m: Outbound, t: UnixNanos) {
        let (b, k) = sequenced(m);
        c.on_bytes(&b[..k], t);
    }

    /// One sequenced-data packet holding `m` (`b[..k]`; empty if it does not encode).
    pub(crate) fn sequenced(m: Outbound) -> ([u8; 96], usize) {
        let mut msg = [0u8; crate::gateway::ouch::MAX_OUTBOUND];
        let mut b = [0u8; 96];
        let k = m
            .encode(&mut msg)
            .ok()
            .and_then(|n| write_packet(PacketType::SequencedData, &msg[..n], &mut b).ok())
            .unwrap_or(0);
        (b, k)
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{core, login, server};
    use super::*;
    use proptest::prelude::*;

    const T: UnixNanos = UnixNanos(1_000_000_000);

    #[test]
    fn a_timeout_then_the_probe_answer_resolves_an_unanswered_enter_as_never_live() {
        let mut c = core();
        login(&mut c, T);
        assert_eq!(c.phase(), Phase::Ready);
        let a = c
            .enter(
                Side::Buy,
                Price::from_ticks(9_900),
                Qty::from_lots(600),
                false,
                T,
            )
            .unwrap();
        let t1 = UnixNanos(T.0 + 200 * MS);
        c.tick(t1);
        assert_eq!(c.order(a).unwrap().state, OrderState::Unknown);
        assert_eq!(c.phase(), Phase::Reconciling);
        assert_eq!(
            c.enter(
                Side::Buy,
                Price::from_ticks(9_900),
                Qty::from_lots(1),
                false,
                t1
            ),
            Err(Refusal::NotReady)
        );
        let p = c.probe_token().unwrap();
        // A chunk split mid-packet still parses.
        let mut msg = [0u8; crate::gateway::ouch::MAX_OUTBOUND];
        let n = Outbound::Rejected {
            timestamp: 0,
            token: p,
            reason: b'Z',
        }
        .encode(&mut msg)
        .unwrap();
        let mut b = [0u8; 96];
        let k = write_packet(PacketType::SequencedData, &msg[..n], &mut b).unwrap();
        c.on_bytes(&b[..5], t1);
        assert!(c.probe_token().is_some());
        c.on_bytes(&b[5..k], t1);
        assert_eq!(c.order(a), None);
        assert!(c.was_never_live(a));
        assert_eq!(c.risk().open_orders(INST), 0);
        assert_eq!(c.phase(), Phase::Ready);
        // An answer for it after all: a contradiction latches the kill switch.
        server(
            &mut c,
            Outbound::Accepted {
                timestamp: 0,
                token: a,
                side: Side::Buy,
                shares: 600,
                price: 990_000,
                order_ref: 7,
                order_state: b'L',
            },
            t1,
        );
        assert_eq!(c.counters().contradictions, 1);
        assert!(c.risk().is_killed());
        assert!(c.order(a).is_some_and(|o| o.foreign));
    }

    #[test]
    fn a_fill_of_a_token_we_do_not_track_latches_the_kill() {
        // OUCH's Executed carries no side: the position cannot be moved, so it is unknown.
        let mut c = core();
        login(&mut c, T);
        assert!(!c.risk().is_killed());
        let fill = Outbound::Executed {
            timestamp: 0,
            token: ClientOrderId(987_654),
            shares: 4,
            price: 990_000,
            liquidity: b'A',
            match_number: 1,
        };
        server(&mut c, fill, T);
        let k = c.counters();
        assert_eq!((k.unknown_tokens, k.unattributed_fills), (1, 1));
        assert!(c.risk().is_killed());
        assert_eq!(c.risk().position(INST), Some(0));
    }

    #[test]
    fn a_fill_applies_once_even_when_replayed() {
        let mut c = core();
        login(&mut c, T);
        let a = c
            .enter(
                Side::Buy,
                Price::from_ticks(9_900),
                Qty::from_lots(10),
                false,
                T,
            )
            .unwrap();
        let acc = Outbound::Accepted {
            timestamp: 0,
            token: a,
            side: Side::Buy,
            shares: 10,
            price: 990_000,
            order_ref: 3,
            order_state: b'L',
        };
        let fill = Outbound::Executed {
            timestamp: 0,
            token: a,
            shares: 4,
            price: 990_000,
            liquidity: b'A',
            match_number: 1,
        };
        server(&mut c, acc, T);
        server(&mut c, fill, T);
        assert_eq!(c.risk().position(INST), Some(4));
        assert_eq!(c.applied_through(), 3);
        // Reconnect; the server replays from 2 (one early): 2 and 3 are skipped by number.
        c.on_disconnected(T);
        c.on_connected(T);
        let mut b = [0u8; 64];
        let n = crate::gateway::soupbintcp::write_login_accepted(b"PYMMITCH01", 2, &mut b).unwrap();
        c.on_bytes(&b[..n], T);
        // The tap (the engine's journal) sees only what is applied, before it is applied.
        let mut tapped = Vec::new();
        for m in [acc, fill] {
            let (b, k) = super::testing::sequenced(m);
            c.on_bytes_with(&b[..k], T, &mut |n, m| tapped.push((n, m.len())));
        }
        assert!(tapped.is_empty(), "replayed messages tapped: {tapped:?}");
        assert_eq!(c.counters().replay_skipped, 2);
        assert_eq!(c.risk().position(INST), Some(4));
        assert_eq!(
            c.order(a).unwrap().state,
            OrderState::Unknown,
            "until the barrier"
        );
        let p = c.probe_token().unwrap();
        let (b, k) = super::testing::sequenced(Outbound::Rejected {
            timestamp: 0,
            token: p,
            reason: b'Z',
        });
        c.on_bytes_with(&b[..k], T, &mut |n, m| tapped.push((n, m.len())));
        assert_eq!(tapped, [(4, k - 3)]);
        assert_eq!(c.order(a).unwrap().state, OrderState::New);
        assert_eq!(c.order(a).unwrap().leaves, Qty::from_lots(6));
    }

    #[test]
    fn a_login_offering_a_later_sequence_than_needed_fails_the_session() {
        let mut c = core();
        login(&mut c, T);
        c.on_disconnected(T);
        c.on_connected(T);
        let mut b = [0u8; 64];
        let n = crate::gateway::soupbintcp::write_login_accepted(b"PYMMITCH01", 9, &mut b).unwrap();
        c.on_bytes(&b[..n], T);
        assert_eq!(
            c.failure(),
            Some(Failure::SequenceGap {
                expected: 2,
                offered: 9
            })
        );
        assert!(c.take_drop());
        c.on_disconnected(T);
        assert!(!c.wants_connect(UnixNanos(T.0 + 10_000 * MS)));
    }

    proptest! {
        #[test]
        fn arbitrary_server_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..600)) {
            fuzz_ouch_client(&b);
        }
    }
}
