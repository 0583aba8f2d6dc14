//! The colocated-exchange front of the simulated venue, without sockets: one stock's
//! [`MatchingEngine`] driven by the crowd ([`FlowAction`]s) and by OUCH 4.2 sessions, every book change
//! published as ITCH 5.0 messages in MoldUDP64 packets, a bounded message history for the re-request
//! server, and each OUCH user's sequenced outbound log (SoupBinTCP sequence numbers survive re-login).
//! [`super::itch_venue`] puts it on real sockets and threads.
//!
//! Prices are ITCH/OUCH units (1/10000 dollar) throughout: a [`Price`] tick here is one such unit, and
//! the stock's tick size (`tick`, e.g. 100 = one cent) is enforced on OUCH orders. The ITCH order
//! reference of a displayed order is its venue order id; our orders appear on the feed as anonymous
//! `A` adds like anyone else's. Non-displayed OUCH orders (display `N`) never appear; executions
//! against them print as `P` trades.
//!
//! Mapping of matching events to ITCH (spec section 4): rest → `A`; execution of a displayed maker →
//! `E`; of a hidden maker → `P`; cancel → `D`; partial cancel (OUCH Cancel with shares, self-trade
//! decrement) → `X`; cancel-replace that rests without trading → `U`, otherwise `D` then the new
//! order's executions and `A`; a maker expired by self-trade prevention → `D`.
//!
//! Runs inside the simulated venue (not on pymm's hot path): allocation is fine here.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use thiserror::Error;

use super::itch_flow::{FlowAction, FlowView};
use super::matching::{MatchEvent, MatchingEngine, NewOrder, StpMode};
use crate::book::l3::{L3Book, LevelView};
use crate::feed::itch::{ItchHeader, Stock};
use crate::feed::itch_encode as enc;
use crate::feed::moldudp64::{self, PacketWriter, Request, Session, HEADER_LEN};
use crate::gateway::ouch::{
    CancelOrder, EnterOrder, Outbound, ReplaceOrder, MAX_OUTBOUND, TIF_IOC,
};
use crate::model::order::{OrderType, TimeInForce};
use crate::model::{ClientOrderId, Price, Qty, Side, UnixNanos};

/// OUCH reject reason: invalid price (not positive, off the tick, too large).
pub const REJECT_PRICE: u8 = b'X';
/// OUCH reject reason: shares zero or above the safety threshold.
pub const REJECT_SHARES: u8 = b'Z';
/// OUCH reject reason: unknown stock.
pub const REJECT_STOCK: u8 = b'S';
/// OUCH reject reason: display type not supported.
pub const REJECT_DISPLAY: u8 = b'D';
/// OUCH reject reason "other": here, a post-only order that would take liquidity.
pub const REJECT_OTHER: u8 = b'O';
/// OUCH cancel reason: the user asked.
pub const CANCEL_USER: u8 = b'U';
/// OUCH cancel reason: immediate-or-cancel remainder.
pub const CANCEL_IOC: u8 = b'I';
/// OUCH cancel reason: self-match prevention.
pub const CANCEL_SELF_MATCH: u8 = b'Q';

/// Largest order accepted over OUCH (shares).
pub const MAX_SHARES: u32 = 1_000_000;

/// Static parameters of the front.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FrontParams {
    /// The stock (8 bytes, space-padded).
    pub stock: Stock,
    /// Its ITCH stock locate code.
    pub locate: u16,
    /// Tick size in ITCH price units.
    pub tick: u32,
    /// Round lot, shares.
    pub round_lot: u32,
    /// MoldUDP64 session name (also the SoupBinTCP session).
    pub session: Session,
    /// Largest MoldUDP64 datagram (bytes).
    pub max_packet: usize,
    /// Messages kept for re-requests.
    pub history: usize,
    /// OUCH users: `(username, password)`.
    pub users: Vec<(Vec<u8>, Vec<u8>)>,
}

/// Counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FrontStats {
    /// ITCH messages published.
    pub messages: u64,
    /// MoldUDP64 data packets built.
    pub packets: u64,
    /// Crowd actions applied.
    pub flow_actions: u64,
    /// Crowd actions naming an order that no longer rests (skipped).
    pub flow_stale: u64,
    /// OUCH inbound messages handled.
    pub ouch_in: u64,
    /// OUCH inbound messages that did not decode (counted, ignored).
    pub ouch_bad: u64,
    /// OUCH orders accepted (entered or replaced).
    pub ouch_accepted: u64,
    /// OUCH orders rejected.
    pub ouch_rejected: u64,
    /// OUCH executions reported.
    pub ouch_executions: u64,
    /// OUCH cancels reported.
    pub ouch_canceled: u64,
    /// OUCH requests ignored (duplicate token, unknown or dead order).
    pub ouch_ignored: u64,
    /// Trades (match numbers) so far.
    pub trades: u64,
    /// Re-requests answered.
    pub rerequests: u64,
    /// Messages re-sent.
    pub resent: u64,
    /// Re-requests refused (bad packet, wrong session, out of range).
    pub rerequest_refused: u64,
}

/// Why a re-request was not answered (the server stays silent, as the spec has it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum RerequestRefused {
    /// Not a 20-byte request.
    #[error("malformed request")]
    Malformed,
    /// Another session.
    #[error("unknown session")]
    Session,
    /// Count 0, or a sequence not yet sent.
    #[error("nothing to send for that range")]
    Range,
    /// Older than the bounded history.
    #[error("sequence no longer in history")]
    TooOld,
}

/// Who owns an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Owner {
    user: usize,
    token: ClientOrderId,
}

/// One OUCH user's state.
#[derive(Clone, Debug, Default)]
struct UserState {
    /// Outbound sequenced messages; SoupBinTCP sequence number = index + 1.
    log: Vec<Vec<u8>>,
    /// Token → venue order id, for every token this user has used today.
    tokens: BTreeMap<u64, u64>,
}

/// The front (see the module docs).
pub struct ItchFront {
    params: FrontParams,
    engine: MatchingEngine,
    next_order_id: u64,
    hidden: BTreeSet<u64>,
    crowd: BTreeSet<u64>,
    owners: BTreeMap<u64, Owner>,
    users: Vec<UserState>,
    ev: Vec<MatchEvent>,
    now: u64,
    // MoldUDP64 output
    next_seq: u64,
    history: VecDeque<Vec<u8>>,
    history_first: u64,
    packet: Vec<u8>,
    packet_first: u64,
    packet_count: u16,
    ready: Vec<Vec<u8>>,
    stats: FrontStats,
}

fn units(p: Price) -> u32 {
    u32::try_from(p.ticks().max(0)).unwrap_or(u32::MAX)
}

fn shares(q: Qty) -> u32 {
    u32::try_from(q.lots().max(0)).unwrap_or(u32::MAX)
}

impl ItchFront {
    /// A front with an empty book; MoldUDP64 sequence numbers start at 1.
    pub fn new(params: FrontParams) -> Self {
        let users = vec![UserState::default(); params.users.len()];
        Self {
            params,
            engine: MatchingEngine::new(1),
            next_order_id: 1,
            hidden: BTreeSet::new(),
            crowd: BTreeSet::new(),
            owners: BTreeMap::new(),
            users,
            ev: Vec::new(),
            now: 0,
            next_seq: 1,
            history: VecDeque::new(),
            history_first: 1,
            packet: Vec::new(),
            packet_first: 1,
            packet_count: 0,
            ready: Vec::new(),
            stats: FrontStats::default(),
        }
    }

    /// Parameters.
    pub fn params(&self) -> &FrontParams {
        &self.params
    }

    /// Counters.
    pub fn stats(&self) -> FrontStats {
        self.stats
    }

    /// The matching engine (read only).
    pub fn engine(&self) -> &MatchingEngine {
        &self.engine
    }

    /// The next MoldUDP64 sequence number to be published.
    pub fn next_sequence(&self) -> u64 {
        self.next_seq
    }

    /// Sets the ITCH timestamp (nanoseconds since midnight) of the messages that follow.
    pub fn set_time(&mut self, ns_since_midnight: u64) {
        self.now = ns_since_midnight % 86_400_000_000_000;
    }

    fn hdr(&self) -> ItchHeader {
        ItchHeader {
            locate: self.params.locate,
            tracking: 0,
            timestamp: self.now,
        }
    }

    /// Publishes the start of the day: system event `O` (start of messages), stock directory, trading
    /// action `T`, system events `S` and `Q` (start of system hours, market hours).
    pub fn start_of_day(&mut self) {
        let mut b = [0u8; 64];
        let sys = ItchHeader {
            locate: 0,
            ..self.hdr()
        };
        for code in [b'O', b'S'] {
            if let Some(n) = enc::system_event(&mut b, sys, code) {
                self.emit(&b[..n]);
            }
        }
        let h = self.hdr();
        if let Some(n) = enc::stock_directory(&mut b, h, self.params.stock, self.params.round_lot) {
            self.emit(&b[..n]);
        }
        if let Some(n) = enc::trading_action(&mut b, h, self.params.stock, b'T') {
            self.emit(&b[..n]);
        }
        if let Some(n) = enc::system_event(&mut b, sys, b'Q') {
            self.emit(&b[..n]);
        }
        self.flush();
    }

    /// Publishes the end of the day: system events `M` (end of market hours), `E`, `C` (end of
    /// messages). The caller then sends MoldUDP64 end-of-session packets.
    pub fn end_of_day(&mut self) {
        let mut b = [0u8; 16];
        let sys = ItchHeader {
            locate: 0,
            ..self.hdr()
        };
        for code in [b'M', b'E', b'C'] {
            if let Some(n) = enc::system_event(&mut b, sys, code) {
                self.emit(&b[..n]);
            }
        }
        self.flush();
        for (user, u) in self.users.iter_mut().enumerate() {
            let _ = user;
            let mut out = [0u8; MAX_OUTBOUND];
            if let Ok(n) = (Outbound::SystemEvent {
                timestamp: self.now,
                event: b'E',
            })
            .encode(&mut out)
            {
                u.log.push(out[..n].to_vec());
            }
        }
    }

    // ---- MoldUDP64 output -------------------------------------------------------------------

    fn emit(&mut self, msg: &[u8]) {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.stats.messages += 1;
        self.history.push_back(msg.to_vec());
        while self.history.len() > self.params.history.max(1) {
            self.history.pop_front();
            self.history_first += 1;
        }
        let fits = self.packet.len() + 2 + msg.len() <= self.params.max_packet;
        if self.packet_count > 0 && (!fits || self.packet_count >= moldudp64::END_OF_SESSION - 1) {
            self.close_packet();
        }
        if self.packet_count == 0 {
            self.packet.clear();
            self.packet.resize(HEADER_LEN, 0);
            self.packet_first = seq;
        }
        self.packet
            .extend_from_slice(&(msg.len() as u16).to_be_bytes());
        self.packet.extend_from_slice(msg);
        self.packet_count += 1;
    }

    fn close_packet(&mut self) {
        if self.packet_count == 0 {
            return;
        }
        let mut h = [0u8; HEADER_LEN];
        moldudp64::encode_header(
            &mut h,
            &self.params.session,
            self.packet_first,
            self.packet_count,
        );
        self.packet[..HEADER_LEN].copy_from_slice(&h);
        self.ready.push(std::mem::take(&mut self.packet));
        self.packet_count = 0;
        self.stats.packets += 1;
    }

    /// Closes the packet being built (one action's messages travel together).
    pub fn flush(&mut self) {
        self.close_packet();
    }

    /// Takes the MoldUDP64 data packets built so far, oldest first.
    pub fn take_packets(&mut self) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.ready)
    }

    /// A heartbeat (`count` 0) or end-of-session (`count` 0xFFFF) packet carrying the next sequence.
    pub fn header_packet(&self, count: u16) -> [u8; HEADER_LEN] {
        let mut h = [0u8; HEADER_LEN];
        moldudp64::encode_header(&mut h, &self.params.session, self.next_seq, count);
        h
    }

    /// Answers a re-request datagram: writes into `out` one packet with as many of the requested
    /// messages as fit in `max_packet` bytes, starting at the requested sequence.
    pub fn serve_rerequest(
        &mut self,
        datagram: &[u8],
        out: &mut Vec<u8>,
    ) -> Result<u16, RerequestRefused> {
        let r = self.check_request(datagram);
        match r {
            Ok(req) => {
                out.clear();
                out.resize(self.params.max_packet.max(HEADER_LEN + 2), 0);
                let mut w = PacketWriter::new(out, &self.params.session, req.sequence)
                    .ok_or(RerequestRefused::Malformed)?;
                let start = (req.sequence - self.history_first) as usize;
                let end = (start + usize::from(req.count)).min(self.history.len());
                for m in self.history.range(start..end) {
                    if !w.push(m) {
                        break;
                    }
                }
                let count = w.count();
                let n = w.finish();
                out.truncate(n);
                self.stats.rerequests += 1;
                self.stats.resent += u64::from(count);
                Ok(count)
            }
            Err(e) => {
                self.stats.rerequest_refused += 1;
                Err(e)
            }
        }
    }

    fn check_request(&self, datagram: &[u8]) -> Result<Request, RerequestRefused> {
        if datagram.len() != HEADER_LEN {
            return Err(RerequestRefused::Malformed);
        }
        let req = Request::parse(datagram).map_err(|_| RerequestRefused::Malformed)?;
        if req.session != self.params.session {
            return Err(RerequestRefused::Session);
        }
        if req.count == 0 || req.count == moldudp64::END_OF_SESSION || req.sequence == 0 {
            return Err(RerequestRefused::Range);
        }
        if req.sequence >= self.next_seq {
            return Err(RerequestRefused::Range);
        }
        if req.sequence < self.history_first {
            return Err(RerequestRefused::TooOld);
        }
        Ok(req)
    }

    // ---- crowd ------------------------------------------------------------------------------

    /// Lets `source` choose and apply one crowd action; returns whether it did something.
    pub fn step_flow(&mut self, source: &mut dyn super::itch_flow::FlowSource) -> bool {
        let action = {
            let view = FlowView {
                engine: &self.engine,
                crowd: &self.crowd,
            };
            source.next_action(&view)
        };
        match action {
            Some(a) => {
                self.apply_flow(a);
                true
            }
            None => false,
        }
    }

    /// Applies one crowd action and closes its packet.
    pub fn apply_flow(&mut self, a: FlowAction) {
        self.stats.flow_actions += 1;
        let crowd_order = |id: u64, s: &Self| s.crowd.contains(&id) && s.engine.order(id).is_some();
        match a {
            FlowAction::Add { side, price, qty } => {
                let o = self.new_order(0, side, OrderType::Limit, TimeInForce::Gtc, price, qty);
                self.submit(&o, true, None, None);
            }
            FlowAction::Execute { side, qty } => {
                let o = self.new_order(
                    0,
                    side,
                    OrderType::Market,
                    TimeInForce::Ioc,
                    Price::ZERO,
                    qty,
                );
                self.submit(&o, true, None, None);
            }
            FlowAction::Cancel { order_id } => {
                if crowd_order(order_id, self) {
                    self.cancel(order_id);
                } else {
                    self.stats.flow_stale += 1;
                }
            }
            FlowAction::Reduce { order_id, to } => {
                if crowd_order(order_id, self) {
                    self.reduce(order_id, to);
                } else {
                    self.stats.flow_stale += 1;
                }
            }
            FlowAction::Replace {
                order_id,
                price,
                qty,
            } => {
                if crowd_order(order_id, self) && price.ticks() > 0 && qty.lots() > 0 {
                    let side = self.engine.order(order_id).map_or(Side::Buy, |o| o.0);
                    let o = self.new_order(0, side, OrderType::Limit, TimeInForce::Gtc, price, qty);
                    self.replace(order_id, &o, true, None);
                } else {
                    self.stats.flow_stale += 1;
                }
            }
        }
        self.flush();
    }

    fn new_order(
        &mut self,
        account: u32,
        side: Side,
        kind: OrderType,
        tif: TimeInForce,
        price: Price,
        qty: Qty,
    ) -> NewOrder {
        let order_id = self.next_order_id;
        self.next_order_id += 1;
        NewOrder {
            order_id,
            account,
            side,
            kind,
            tif,
            price,
            qty,
            // The crowd is anonymous and may trade with itself; OUCH users never self-match.
            stp: if account == 0 {
                StpMode::None
            } else {
                StpMode::ExpireTaker
            },
        }
    }

    fn forget(&mut self, id: u64) {
        self.crowd.remove(&id);
        self.hidden.remove(&id);
    }

    // ---- matching → ITCH + OUCH ---------------------------------------------------------------

    /// Submits `o`; `replaced` is the order an ITCH `U` already replaced (so its rest is not an `A`).
    fn submit(&mut self, o: &NewOrder, display: bool, owner: Option<Owner>, replaced: Option<u64>) {
        let mut ev = std::mem::take(&mut self.ev);
        ev.clear();
        self.engine.submit(o, UnixNanos(0), &mut ev);
        let mut b = [0u8; 64];
        let h = self.hdr();
        let stock = self.params.stock;
        for e in &ev {
            match *e {
                MatchEvent::Fill {
                    trade_id,
                    maker,
                    taker_side,
                    price,
                    qty,
                    maker_leaves,
                    ..
                } => {
                    self.stats.trades += 1;
                    let n = if self.hidden.contains(&maker) {
                        enc::trade(
                            &mut b,
                            h,
                            0,
                            taker_side.opposite(),
                            shares(qty),
                            stock,
                            price,
                            trade_id,
                        )
                    } else {
                        enc::order_executed(&mut b, h, maker, shares(qty), trade_id)
                    };
                    if let Some(n) = n {
                        self.emit(&b[..n]);
                    }
                    if maker_leaves.lots() == 0 {
                        self.forget(maker);
                    }
                    if let Some(m) = self.owners.get(&maker).copied() {
                        self.ouch_executed(m, qty, price, b'A', trade_id);
                    }
                    if let Some(t) = owner {
                        self.ouch_executed(t, qty, price, b'R', trade_id);
                    }
                }
                MatchEvent::Rested { order_id, leaves } => {
                    if owner.is_none() {
                        self.crowd.insert(order_id);
                    }
                    if !display {
                        self.hidden.insert(order_id);
                    } else if replaced.is_none() {
                        if let Some(n) = enc::add_order(
                            &mut b,
                            h,
                            order_id,
                            o.side,
                            shares(leaves),
                            stock,
                            o.price,
                        ) {
                            self.emit(&b[..n]);
                        }
                    }
                }
                MatchEvent::Expired {
                    order_id,
                    leaves,
                    in_match,
                } => {
                    let reason = if in_match {
                        CANCEL_SELF_MATCH
                    } else {
                        CANCEL_IOC
                    };
                    if order_id == o.order_id {
                        if let Some(t) = owner {
                            self.ouch_canceled(t, leaves, reason);
                        }
                    } else {
                        if !self.hidden.contains(&order_id) {
                            if let Some(n) = enc::order_delete(&mut b, h, order_id) {
                                self.emit(&b[..n]);
                            }
                        }
                        self.forget(order_id);
                        if let Some(m) = self.owners.get(&order_id).copied() {
                            self.ouch_canceled(m, leaves, reason);
                        }
                    }
                }
                MatchEvent::Decremented { order_id, qty } => {
                    if order_id == o.order_id {
                        if let Some(t) = owner {
                            self.ouch_canceled(t, qty, CANCEL_SELF_MATCH);
                        }
                    } else {
                        if !self.hidden.contains(&order_id) {
                            if let Some(n) = enc::order_cancel(&mut b, h, order_id, shares(qty)) {
                                self.emit(&b[..n]);
                            }
                        }
                        if let Some(m) = self.owners.get(&order_id).copied() {
                            self.ouch_canceled(m, qty, CANCEL_SELF_MATCH);
                        }
                    }
                }
                MatchEvent::Rejected { .. } => {
                    // Validated before submission; a refusal here leaves nothing on the book.
                    if let Some(t) = owner {
                        self.ouch_canceled(t, o.qty, CANCEL_USER);
                    }
                }
                MatchEvent::Canceled { .. } | MatchEvent::Level { .. } => {}
            }
        }
        self.ev = ev;
    }

    /// Cancels a resting order (ITCH `D`); returns the shares that were open.
    fn cancel(&mut self, id: u64) -> Option<Qty> {
        let mut ev = std::mem::take(&mut self.ev);
        ev.clear();
        let ok = self.engine.cancel(id, &mut ev);
        let leaves = ev.iter().find_map(|e| match e {
            MatchEvent::Canceled { leaves, .. } => Some(*leaves),
            _ => None,
        });
        self.ev = ev;
        if !ok {
            return None;
        }
        if !self.hidden.contains(&id) {
            let mut b = [0u8; 32];
            if let Some(n) = enc::order_delete(&mut b, self.hdr(), id) {
                self.emit(&b[..n]);
            }
        }
        self.forget(id);
        leaves
    }

    /// Reduces a resting order to `to` (ITCH `X`); returns the shares taken off.
    fn reduce(&mut self, id: u64, to: Qty) -> Option<Qty> {
        let cut = self.engine.reduce_to(id, to)?;
        if !self.hidden.contains(&id) {
            let mut b = [0u8; 32];
            if let Some(n) = enc::order_cancel(&mut b, self.hdr(), id, shares(cut)) {
                self.emit(&b[..n]);
            }
        }
        Some(cut)
    }

    /// Cancel-replace: `old` leaves the book, `new` enters it (losing time priority).
    fn replace(&mut self, old: u64, new: &NewOrder, display: bool, owner: Option<Owner>) {
        let old_hidden = self.hidden.contains(&old);
        let marketable = self.engine.would_take(new.side, Some(new.price));
        let rests_quietly = !marketable && display && !old_hidden && new.tif != TimeInForce::Ioc;
        let mut ev = std::mem::take(&mut self.ev);
        ev.clear();
        self.engine.cancel(old, &mut ev);
        self.ev = ev;
        self.forget(old);
        let mut b = [0u8; 64];
        if rests_quietly {
            if let Some(n) = enc::order_replace(
                &mut b,
                self.hdr(),
                old,
                new.order_id,
                shares(new.qty),
                new.price,
            ) {
                self.emit(&b[..n]);
            }
            self.submit(new, display, owner, Some(old));
        } else {
            if !old_hidden {
                if let Some(n) = enc::order_delete(&mut b, self.hdr(), old) {
                    self.emit(&b[..n]);
                }
            }
            self.submit(new, display, owner, None);
        }
    }

    // ---- OUCH ---------------------------------------------------------------------------------

    /// Checks a SoupBinTCP login; returns the user index.
    pub fn authenticate(&self, user: &[u8], password: &[u8]) -> Option<usize> {
        self.params
            .users
            .iter()
            .position(|(u, p)| u.as_slice() == user && p.as_slice() == password)
    }

    /// The user's outbound sequenced messages from sequence `from` (1-based) on.
    pub fn ouch_log(&self, user: usize, from: u64) -> &[Vec<u8>] {
        let log = self.users.get(user).map_or(&[][..], |u| &u.log[..]);
        let start = (from.max(1) - 1) as usize;
        log.get(start..).unwrap_or(&[])
    }

    /// The sequence number the user's next outbound message will carry.
    pub fn ouch_next_seq(&self, user: usize) -> u64 {
        self.users.get(user).map_or(1, |u| u.log.len() as u64 + 1)
    }

    fn ouch_push(&mut self, user: usize, m: Outbound) {
        let mut out = [0u8; MAX_OUTBOUND];
        if let (Ok(n), Some(u)) = (m.encode(&mut out), self.users.get_mut(user)) {
            u.log.push(out[..n].to_vec());
        }
    }

    fn ouch_executed(&mut self, o: Owner, qty: Qty, price: Price, liquidity: u8, m: u64) {
        self.stats.ouch_executions += 1;
        self.ouch_push(
            o.user,
            Outbound::Executed {
                timestamp: self.now,
                token: o.token,
                shares: shares(qty),
                price: units(price),
                liquidity,
                match_number: m,
            },
        );
    }

    fn ouch_canceled(&mut self, o: Owner, qty: Qty, reason: u8) {
        self.stats.ouch_canceled += 1;
        self.ouch_push(
            o.user,
            Outbound::Canceled {
                timestamp: self.now,
                token: o.token,
                decrement: shares(qty),
                reason,
            },
        );
    }

    fn ouch_reject(&mut self, user: usize, token: ClientOrderId, reason: u8) {
        self.stats.ouch_rejected += 1;
        self.ouch_push(
            user,
            Outbound::Rejected {
                timestamp: self.now,
                token,
                reason,
            },
        );
    }

    fn validate(
        &self,
        stock: Option<&Stock>,
        price: u32,
        qty: u32,
        display: u8,
        side: Side,
        post_only: bool,
    ) -> Result<(), u8> {
        if stock.is_some_and(|s| *s != self.params.stock) {
            return Err(REJECT_STOCK);
        }
        if qty == 0 || qty > MAX_SHARES {
            return Err(REJECT_SHARES);
        }
        if price == 0 || price % self.params.tick.max(1) != 0 || price >= 2_000_000_000 {
            return Err(REJECT_PRICE);
        }
        if !matches!(display, b'Y' | b'P' | b'N' | b'A') {
            return Err(REJECT_DISPLAY);
        }
        if post_only
            && self
                .engine
                .would_take(side, Some(Price::from_ticks(i64::from(price))))
        {
            return Err(REJECT_OTHER);
        }
        Ok(())
    }

    /// Handles one inbound OUCH message (the payload of a SoupBinTCP `U` packet) from `user`;
    /// replies land in the user's log, book changes on the ITCH feed.
    pub fn ouch_inbound(
        &mut self,
        user: usize,
        msg: &[u8],
    ) -> Result<(), crate::gateway::ouch::OuchError> {
        self.stats.ouch_in += 1;
        let r = match msg.first() {
            Some(b'O') => EnterOrder::decode(msg).map(|m| self.enter(user, &m)),
            Some(b'U') => ReplaceOrder::decode(msg).map(|m| self.ouch_replace(user, &m)),
            Some(b'X') => CancelOrder::decode(msg).map(|m| self.ouch_cancel(user, &m)),
            Some(&k) => Err(crate::gateway::ouch::OuchError::UnknownType(k)),
            None => Err(crate::gateway::ouch::OuchError::BadLength {
                kind: 0,
                len: 0,
                want: 1,
            }),
        };
        if r.is_err() {
            self.stats.ouch_bad += 1;
        }
        self.flush();
        r
    }

    fn live(&self, user: usize, token: ClientOrderId) -> Option<u64> {
        let id = *self.users.get(user)?.tokens.get(&token.0)?;
        self.engine.order(id).map(|_| id)
    }

    fn enter(&mut self, user: usize, m: &EnterOrder) {
        if user >= self.users.len() || self.users[user].tokens.contains_key(&m.token.0) {
            self.stats.ouch_ignored += 1; // OUCH ignores a token already used today
            return;
        }
        if let Err(reason) = self.validate(
            Some(&m.stock),
            m.price,
            m.shares,
            m.display,
            m.side,
            m.display == b'P',
        ) {
            self.users[user].tokens.insert(m.token.0, 0);
            self.ouch_reject(user, m.token, reason);
            return;
        }
        let tif = if m.time_in_force == TIF_IOC {
            TimeInForce::Ioc
        } else {
            TimeInForce::Gtc
        };
        let price = Price::from_ticks(i64::from(m.price));
        let o = self.new_order(
            user as u32 + 1,
            m.side,
            OrderType::Limit,
            tif,
            price,
            Qty::from_lots(i64::from(m.shares)),
        );
        let owner = Owner {
            user,
            token: m.token,
        };
        self.users[user].tokens.insert(m.token.0, o.order_id);
        self.owners.insert(o.order_id, owner);
        self.stats.ouch_accepted += 1;
        self.ouch_push(
            user,
            Outbound::Accepted {
                timestamp: self.now,
                token: m.token,
                side: m.side,
                shares: m.shares,
                price: m.price,
                order_ref: o.order_id,
                order_state: b'L',
            },
        );
        self.submit(&o, m.display != b'N', Some(owner), None);
    }

    fn ouch_cancel(&mut self, user: usize, m: &CancelOrder) {
        let Some(id) = self.live(user, m.token) else {
            self.stats.ouch_ignored += 1;
            return;
        };
        let owner = Owner {
            user,
            token: m.token,
        };
        if m.shares == 0 {
            if let Some(leaves) = self.cancel(id) {
                self.ouch_canceled(owner, leaves, CANCEL_USER);
            }
        } else if let Some(cut) = self.reduce(id, Qty::from_lots(i64::from(m.shares))) {
            self.ouch_canceled(owner, cut, CANCEL_USER);
        } else {
            self.stats.ouch_ignored += 1;
        }
    }

    fn ouch_replace(&mut self, user: usize, m: &ReplaceOrder) {
        let Some(old) = self.live(user, m.existing) else {
            self.stats.ouch_ignored += 1;
            return;
        };
        if self.users[user].tokens.contains_key(&m.replacement.0) {
            self.stats.ouch_ignored += 1;
            return;
        }
        let Some((side, _, leaves, _)) = self.engine.order(old) else {
            return;
        };
        let prev = Owner {
            user,
            token: m.existing,
        };
        if m.shares == 0 {
            // A replace to zero shares cancels the existing order.
            if self.cancel(old).is_some() {
                self.ouch_canceled(prev, leaves, CANCEL_USER);
            }
            return;
        }
        if let Err(reason) =
            self.validate(None, m.price, m.shares, m.display, side, m.display == b'P')
        {
            self.users[user].tokens.insert(m.replacement.0, 0);
            self.ouch_reject(user, m.replacement, reason);
            return;
        }
        let tif = if m.time_in_force == TIF_IOC {
            TimeInForce::Ioc
        } else {
            TimeInForce::Gtc
        };
        let o = self.new_order(
            user as u32 + 1,
            side,
            OrderType::Limit,
            tif,
            Price::from_ticks(i64::from(m.price)),
            Qty::from_lots(i64::from(m.shares)),
        );
        let owner = Owner {
            user,
            token: m.replacement,
        };
        self.users[user].tokens.insert(m.replacement.0, o.order_id);
        self.owners.insert(o.order_id, owner);
        self.stats.ouch_accepted += 1;
        self.ouch_push(
            user,
            Outbound::Replaced {
                timestamp: self.now,
                replacement: m.replacement,
                side,
                shares: m.shares,
                price: m.price,
                order_ref: o.order_id,
                previous: m.existing,
            },
        );
        self.replace(old, &o, m.display != b'N', Some(owner));
    }

    // ---- digests --------------------------------------------------------------------------------

    /// A digest of the displayed book as the feed shows it: every displayed order, bids best first
    /// then asks best first, each level in time priority, as `(side, price, order ref, shares)`.
    pub fn digest(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        self.engine.for_each_order(|side, price, id, qty| {
            if !self.hidden.contains(&id) {
                digest_order(&mut h, side, price, id, qty);
            }
        });
        *h.finalize().as_bytes()
    }
}

fn digest_order(h: &mut blake3::Hasher, side: Side, price: Price, id: u64, qty: Qty) {
    h.update(&[side as u8]);
    h.update(&price.ticks().to_be_bytes());
    h.update(&id.to_be_bytes());
    h.update(&qty.lots().to_be_bytes());
}

/// The same digest as [`ItchFront::digest`] over a feed handler's [`L3Book`].
pub fn l3_digest(book: &L3Book) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    for side in [Side::Buy, Side::Sell] {
        let mut levels = vec![LevelView::default(); book.level_count(side) as usize];
        let n = book.top(side, &mut levels);
        for l in &levels[..n] {
            book.for_each_order_at(side, l.price, |r, q| {
                digest_order(&mut h, side, l.price, r.0, q);
            });
        }
    }
    *h.finalize().as_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::book::l3::L3Config;
    use crate::feed::itch::{decode, ItchMessage};
    use crate::feed::moldudp64::MoldPacket;
    use crate::gateway::ouch::TIF_DAY;
    use crate::model::InstrumentId;
    use crate::venue::itch_flow::{RandomFlow, RandomFlowConfig};

    fn params() -> FrontParams {
        FrontParams {
            stock: enc::stock("PYMM"),
            locate: 1,
            tick: 100,
            round_lot: 100,
            session: *b"PYMMITCH01",
            max_packet: 1400,
            history: 1_000,
            users: vec![(b"PYMM".to_vec(), b"pymm".to_vec())],
        }
    }

    /// Applies the front's packets to a book; returns the ITCH message types seen.
    fn replay(front: &mut ItchFront, book: &mut L3Book, kinds: &mut Vec<u8>) {
        for p in front.take_packets() {
            let p = MoldPacket::parse(&p).unwrap();
            for (seq, m) in p.messages() {
                kinds.push(m[0]);
                let m = decode(m).unwrap();
                if let ItchMessage::TradingAction { state, .. } = m {
                    book.set_auction(state != b'T');
                }
                if let Some(ev) = m.order_event(UnixNanos(0), seq, UnixNanos(0)) {
                    book.apply(&ev).unwrap();
                }
            }
        }
    }

    fn enter(token: u64, side: Side, shares: u32, price: u32, tif: u32, display: u8) -> Vec<u8> {
        let mut b = [0u8; EnterOrder::LEN];
        EnterOrder {
            token: ClientOrderId(token),
            side,
            shares,
            stock: enc::stock("PYMM"),
            price,
            time_in_force: tif,
            firm: *b"PYMM",
            display,
            capacity: b'P',
            ise: b'N',
            min_qty: 0,
            cross_type: b'N',
            customer_type: b' ',
        }
        .encode(&mut b)
        .unwrap();
        b.to_vec()
    }

    #[test]
    fn the_feed_rebuilds_the_venue_book_and_runs_are_deterministic() {
        let run = |seed: u64| {
            let mut f = ItchFront::new(params());
            let mut book = L3Book::new(InstrumentId(1), L3Config::default());
            let mut kinds = Vec::new();
            f.start_of_day();
            let mut flow = RandomFlow::new(
                RandomFlowConfig {
                    seed,
                    ..RandomFlowConfig::default()
                },
                100,
            );
            for i in 0..5_000u64 {
                f.step_flow(&mut flow);
                if i % 50 == 0 {
                    // An OUCH user quotes both sides near the touch (some hidden, some IOC).
                    let (b, a) = (f.engine.best_bid(), f.engine.best_ask());
                    if let (Some((b, _)), Some(_)) = (b, a) {
                        let t = 1_000 + i;
                        let disp = if i % 150 == 0 { b'N' } else { b'Y' };
                        f.ouch_inbound(0, &enter(t, Side::Buy, 300, units(b), TIF_DAY, disp))
                            .unwrap();
                        f.ouch_inbound(0, &enter(t + 100_000, Side::Sell, 300, units(b), 0, b'Y'))
                            .unwrap();
                    }
                }
                replay(&mut f, &mut book, &mut kinds);
            }
            assert_eq!(l3_digest(&book), f.digest());
            (f.digest(), f.stats(), kinds)
        };
        let (d1, s1, kinds) = run(3);
        let (d2, s2, _) = run(3);
        assert_eq!((d1, s1), (d2, s2), "same seed, same day");
        assert_ne!(run(4).0, d1);
        for k in [b'S', b'R', b'H', b'A', b'E', b'X', b'D', b'U', b'P'] {
            assert!(kinds.contains(&k), "no {} message", k as char);
        }
        assert!(s1.ouch_executions > 0 && s1.trades > 100);
    }

    #[test]
    fn history_is_bounded_and_rerequests_are_checked() {
        let mut f = ItchFront::new(FrontParams {
            history: 10,
            ..params()
        });
        f.start_of_day();
        for i in 0..20 {
            f.apply_flow(FlowAction::Add {
                side: Side::Buy,
                price: Price::from_ticks(900_000 - i * 100),
                qty: Qty::from_lots(100),
            });
        }
        let next = f.next_sequence();
        let req = |seq: u64, n: u16| {
            Request {
                session: *b"PYMMITCH01",
                sequence: seq,
                count: n,
            }
            .encode()
        };
        let mut out = Vec::new();
        assert_eq!(f.serve_rerequest(&req(next - 10, 100), &mut out), Ok(10));
        assert_eq!(
            f.serve_rerequest(&req(next - 11, 1), &mut out),
            Err(RerequestRefused::TooOld)
        );
        assert_eq!(
            f.serve_rerequest(&req(next, 1), &mut out),
            Err(RerequestRefused::Range)
        );
        assert_eq!(
            f.serve_rerequest(&req(next - 1, 0), &mut out),
            Err(RerequestRefused::Range)
        );
        assert_eq!(
            f.serve_rerequest(&req(next - 1, 1)[..19], &mut out),
            Err(RerequestRefused::Malformed)
        );
        assert_eq!(f.stats().rerequest_refused, 4);
    }
}
