//! [`BookSync`]: one instrument's local book kept in step with a Binance diff stream, exactly as the
//! venue prescribes (research/binance_protocol.md §2.3 spot, §3.5 futures):
//!
//! 1. until a REST snapshot arrives, diffs are buffered (raw bytes, in a reused arena);
//! 2. on the snapshot (`lastUpdateId` = L) the book is loaded, buffered diffs that are entirely old are
//!    dropped (spot `u <= L`, futures `u < L`), and the first applied diff must bridge L
//!    (spot `U <= L+1 <= u`, futures `U <= L <= u`);
//! 3. afterwards spot requires `U == previous u + 1` and futures `pu == previous u`.
//!
//! Any break — a gap, an unbridged snapshot, an undecodable diff, an integrity error in the book —
//! marks the instrument stale (the quoter must pull quotes), counts it, and requests a new snapshot.
//! Nothing is ever patched over: the book stays stale until a fresh snapshot bridges again.
//!
//! # Hot path
//! Pinned feed thread. A live diff costs the level conversions and book sets only; no allocation.
//! Buffering (waiting for a snapshot) copies bytes into an arena that keeps its capacity — cold.

use crate::book::{IntegrityError, L2Book};
use crate::feed::binance::{self, DepthSnapshot, DepthUpdate, Message};
use crate::feed::{DecodeError, DecodeErrorCounts};
use crate::model::{Price, Qty, Scale, Side};

/// Which continuity rule the venue's diff stream follows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SequenceRule {
    /// Binance spot: `U == previous u + 1`.
    Spot,
    /// Binance USD-M / COIN-M futures: `pu == previous u`.
    Futures,
}

/// Counters of one instrument's synchroniser (monotonic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SyncCounters {
    /// Snapshots loaded.
    pub snapshots: u64,
    /// Diffs applied to the book.
    pub applied: u64,
    /// Diffs buffered while waiting for a snapshot.
    pub buffered: u64,
    /// Diffs dropped as entirely older than the book.
    pub dropped_stale: u64,
    /// Continuity breaks (including a snapshot no diff bridges).
    pub sequence_breaks: u64,
    /// Resyncs requested (any cause).
    pub resyncs: u64,
    /// Book integrity errors (crossed, bad sizes).
    pub integrity_errors: u64,
    /// Of those, crossed books.
    pub crossed_events: u64,
    /// Diffs or snapshots that failed to decode while they mattered to the book.
    pub decode_errors: u64,
    /// Times the wait-for-snapshot buffer overflowed and was emptied.
    pub buffer_overflows: u64,
}

/// What happened to one diff or snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyncEvent {
    /// Applied; the book is live at this `u`.
    Applied,
    /// Kept for later (no snapshot yet).
    Buffered,
    /// Dropped: older than the book.
    DroppedStale,
    /// The sequence broke; the instrument is stale and a snapshot is requested.
    SequenceBreak,
    /// The book failed an integrity check; stale, snapshot requested.
    Integrity(IntegrityError),
    /// The message did not decode onto the instrument's grid; stale, snapshot requested.
    Decode,
    /// A snapshot was loaded (and buffered diffs replayed onto it).
    SnapshotLoaded,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// Buffering diffs until a snapshot.
    AwaitingSnapshot,
    /// A snapshot is loaded; the next applied diff must bridge it.
    Bridging,
    /// In sequence.
    Live,
}

/// Default limit of the wait-for-snapshot arena, in bytes.
pub const DEFAULT_BUFFER_BYTES: usize = 32 << 20;

/// Raw diffs kept until the snapshot, in one reused arena.
#[derive(Debug, Default)]
struct DiffBuffer {
    bytes: Vec<u8>,
    spans: Vec<(usize, usize)>,
    limit: usize,
}

/// An instrument's synchronised L2 book.
#[derive(Debug)]
pub struct BookSync {
    price_scale: Scale,
    qty_scale: Scale,
    rule: SequenceRule,
    book: L2Book,
    state: State,
    /// The book's update id: the snapshot's `lastUpdateId`, then each applied diff's `u`.
    last_update_id: u64,
    /// `u` of the last diff applied since the snapshot (None right after a snapshot).
    last_applied_u: Option<u64>,
    stale: bool,
    counters: SyncCounters,
    decode_errors: DecodeErrorCounts,
    buffer: DiffBuffer,
}

impl BookSync {
    /// A synchroniser with an empty, stale book waiting for its snapshot.
    pub fn new(rule: SequenceRule, price_scale: Scale, qty_scale: Scale, book: L2Book) -> Self {
        Self {
            price_scale,
            qty_scale,
            rule,
            book,
            state: State::AwaitingSnapshot,
            last_update_id: 0,
            last_applied_u: None,
            stale: true,
            counters: SyncCounters::default(),
            decode_errors: DecodeErrorCounts::default(),
            buffer: DiffBuffer {
                bytes: Vec::new(),
                spans: Vec::new(),
                limit: DEFAULT_BUFFER_BYTES,
            },
        }
    }

    /// The book (read it only when [`Self::is_stale`] is false).
    pub fn book(&self) -> &L2Book {
        &self.book
    }

    /// Sets already-decoded levels (ticks, lots) on the book in order, outside the diff sequence: no
    /// decode, no sequence check, the update id and staleness unchanged — the caller owns ordering
    /// (replays of pre-decoded levels, benchmarks). See [`L2Book::set_levels`].
    pub fn apply_levels(
        &mut self,
        levels: impl IntoIterator<Item = (Side, Price, Qty)>,
    ) -> Result<usize, IntegrityError> {
        self.book.set_levels(levels)
    }

    /// True when quotes must be pulled: no snapshot yet, or a break since.
    #[inline]
    pub fn is_stale(&self) -> bool {
        self.stale
    }

    /// True when a (new) REST snapshot is needed.
    pub fn needs_snapshot(&self) -> bool {
        self.state == State::AwaitingSnapshot
    }

    /// The book's update id (snapshot `lastUpdateId`, then each applied diff's `u`).
    pub fn last_update_id(&self) -> u64 {
        self.last_update_id
    }

    /// `u` of the last diff applied since the last snapshot.
    pub fn last_applied_u(&self) -> Option<u64> {
        self.last_applied_u
    }

    /// The counters.
    pub fn counters(&self) -> &SyncCounters {
        &self.counters
    }

    /// Decode errors met on the book path, by kind.
    pub fn decode_errors(&self) -> &DecodeErrorCounts {
        &self.decode_errors
    }

    /// The price and size scales.
    pub fn scales(&self) -> (Scale, Scale) {
        (self.price_scale, self.qty_scale)
    }

    /// The continuity rule.
    pub fn rule(&self) -> SequenceRule {
        self.rule
    }

    /// Replaces the scales and the rule (only before the first snapshot: a replay that infers them).
    pub fn configure(&mut self, rule: SequenceRule, price_scale: Scale, qty_scale: Scale) {
        self.rule = rule;
        self.price_scale = price_scale;
        self.qty_scale = qty_scale;
    }

    /// Raw diffs buffered while waiting for a snapshot, oldest first.
    pub fn buffered(&self) -> impl Iterator<Item = &[u8]> {
        self.buffer
            .spans
            .iter()
            .map(|&(a, b)| &self.buffer.bytes[a..b])
    }

    /// Handles one decoded diff; `raw` is the message's bytes (kept if it must wait for a snapshot).
    ///
    /// # Hot path
    /// Live: O(levels), no allocation.
    #[inline]
    pub fn on_depth_update(&mut self, raw: &[u8], d: &DepthUpdate<'_>) -> SyncEvent {
        match self.state {
            State::AwaitingSnapshot => self.buffer_diff(raw),
            State::Bridging | State::Live => self.sequence_and_apply(raw, d),
        }
    }

    #[inline]
    fn sequence_and_apply(&mut self, raw: &[u8], d: &DepthUpdate<'_>) -> SyncEvent {
        let (first, last) = (d.first_update_id, d.final_update_id);
        let l = self.last_update_id;
        let in_sequence = match (self.state, self.rule) {
            (State::Bridging, SequenceRule::Spot) => {
                if last <= l {
                    return self.drop_stale();
                }
                first <= l.saturating_add(1)
            }
            (State::Bridging, SequenceRule::Futures) => {
                if last < l {
                    return self.drop_stale();
                }
                first <= l
            }
            (_, _) if last <= l => return self.drop_stale(),
            (_, SequenceRule::Spot) => first == l.saturating_add(1),
            (_, SequenceRule::Futures) => d.prev_final_update_id == Some(l),
        };
        if !in_sequence {
            return self.sequence_break(raw);
        }
        if let Err(ev) = self.apply(d) {
            return ev;
        }
        self.state = State::Live;
        self.last_update_id = last;
        self.last_applied_u = Some(last);
        self.counters.applied += 1;
        SyncEvent::Applied
    }

    #[inline]
    fn apply(&mut self, d: &DepthUpdate<'_>) -> Result<(), SyncEvent> {
        let (ps, qs) = (self.price_scale, self.qty_scale);
        let book = &mut self.book;
        let res = d
            .bids
            .for_each_scaled::<ApplyError>(ps, qs, |p, q| Ok(book.set(Side::Buy, p, q)?))
            .and_then(|()| {
                d.asks
                    .for_each_scaled::<ApplyError>(ps, qs, |p, q| Ok(book.set(Side::Sell, p, q)?))
            })
            .and_then(|()| Ok(book.check_crossed()?));
        match res {
            Ok(()) => Ok(()),
            Err(e) => Err(self.fail(e)),
        }
    }

    #[cold]
    #[inline(never)]
    fn fail(&mut self, e: ApplyError) -> SyncEvent {
        let ev = match e {
            ApplyError::Decode(e) => {
                self.decode_errors.count(&e);
                self.counters.decode_errors += 1;
                SyncEvent::Decode
            }
            ApplyError::Integrity(e) => {
                self.counters.integrity_errors += 1;
                if matches!(e, IntegrityError::Crossed { .. }) {
                    self.counters.crossed_events += 1;
                }
                SyncEvent::Integrity(e)
            }
        };
        self.request_resync();
        ev
    }

    #[cold]
    #[inline(never)]
    fn drop_stale(&mut self) -> SyncEvent {
        self.counters.dropped_stale += 1;
        SyncEvent::DroppedStale
    }

    #[cold]
    #[inline(never)]
    fn sequence_break(&mut self, raw: &[u8]) -> SyncEvent {
        self.counters.sequence_breaks += 1;
        self.request_resync();
        // This diff is newer than the book: it may bridge the next snapshot.
        self.buffer_diff(raw);
        SyncEvent::SequenceBreak
    }

    #[cold]
    #[inline(never)]
    fn request_resync(&mut self) {
        self.counters.resyncs += 1;
        self.stale = true;
        self.state = State::AwaitingSnapshot;
        self.last_applied_u = None;
    }

    #[cold]
    #[inline(never)]
    fn buffer_diff(&mut self, raw: &[u8]) -> SyncEvent {
        let buf = &mut self.buffer;
        if buf.bytes.len() + raw.len() > buf.limit {
            buf.bytes.clear();
            buf.spans.clear();
            self.counters.buffer_overflows += 1;
        }
        let start = buf.bytes.len();
        buf.bytes.extend_from_slice(raw);
        buf.spans.push((start, buf.bytes.len()));
        self.counters.buffered += 1;
        SyncEvent::Buffered
    }

    /// Loads a REST snapshot and replays the buffered diffs onto it. A snapshot that no buffered diff
    /// bridges is a sequence break (spot: the snapshot predates the buffer — fetch again).
    #[cold]
    #[inline(never)]
    pub fn on_snapshot(&mut self, s: &DepthSnapshot<'_>) -> SyncEvent {
        self.book.clear();
        self.counters.snapshots += 1;
        if let Err(e) = self.load(s) {
            // The buffered diffs stay: one of them may bridge the next snapshot.
            return self.fail(e);
        }
        self.state = State::Bridging;
        self.stale = false;
        self.last_update_id = s.last_update_id;
        self.last_applied_u = None;
        // Replay the buffer; a break re-buffers into a fresh arena, so take the old one out.
        let mut old = std::mem::take(&mut self.buffer.bytes);
        let spans = std::mem::take(&mut self.buffer.spans);
        let mut result = SyncEvent::SnapshotLoaded;
        for &(a, b) in &spans {
            let raw = &old[a..b];
            match binance::decode(raw) {
                Ok(env) => {
                    if let Message::DepthUpdate(d) = env.message {
                        match self.on_depth_update(raw, &d) {
                            SyncEvent::Applied | SyncEvent::DroppedStale | SyncEvent::Buffered => {}
                            other => result = other,
                        }
                    }
                }
                Err(e) => {
                    self.decode_errors.count(&e);
                    self.counters.decode_errors += 1;
                }
            }
        }
        // Hand the arena's capacity back if nothing was re-buffered.
        if self.buffer.bytes.is_empty() {
            old.clear();
            self.buffer.bytes = old;
            let mut spans = spans;
            spans.clear();
            self.buffer.spans = spans;
        }
        result
    }

    fn load(&mut self, s: &DepthSnapshot<'_>) -> Result<(), ApplyError> {
        let (ps, qs) = (self.price_scale, self.qty_scale);
        let book = &mut self.book;
        for (side, levels) in [(Side::Buy, s.bids), (Side::Sell, s.asks)] {
            levels.for_each_scaled::<ApplyError>(ps, qs, |p, q| {
                if q <= Qty::ZERO {
                    return Err(ApplyError::Integrity(IntegrityError::ZeroQtyInSnapshot {
                        side,
                        price: p,
                    }));
                }
                Ok(book.set(side, p, q)?)
            })?;
        }
        Ok(book.check_crossed()?)
    }
}

/// Why applying a message failed.
#[derive(Debug)]
enum ApplyError {
    Decode(DecodeError),
    Integrity(IntegrityError),
}

impl From<DecodeError> for ApplyError {
    fn from(e: DecodeError) -> Self {
        ApplyError::Decode(e)
    }
}

impl From<IntegrityError> for ApplyError {
    fn from(e: IntegrityError) -> Self {
        ApplyError::Integrity(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sync(rule: SequenceRule) -> BookSync {
        BookSync::new(
            rule,
            Scale::parse("0.01").unwrap(),
            Scale::parse("0.001").unwrap(),
            L2Book::new(64, 16),
        )
    }

    fn feed(s: &mut BookSync, raw: &str) -> SyncEvent {
        let env = binance::decode(raw.as_bytes()).unwrap();
        match env.message {
            Message::DepthUpdate(d) => s.on_depth_update(raw.as_bytes(), &d),
            Message::DepthSnapshot(snap) => s.on_snapshot(&snap),
            m => panic!("{m:?}"),
        }
    }

    fn spot_diff(first: u64, last: u64, bid: &str) -> String {
        format!(
            r#"{{"e":"depthUpdate","E":1,"s":"X","U":{first},"u":{last},"b":[["{bid}","1.000"]],"a":[]}}"#
        )
    }

    fn fut_diff(first: u64, last: u64, prev: u64, bid: &str) -> String {
        format!(
            r#"{{"e":"depthUpdate","E":1,"s":"X","U":{first},"u":{last},"pu":{prev},"b":[["{bid}","1.000"]],"a":[]}}"#
        )
    }

    const SNAP: &str =
        r#"{"lastUpdateId":100,"bids":[["10.00","2.000"]],"asks":[["11.00","3.000"]]}"#;

    #[test]
    fn spot_buffers_bridges_and_chains() {
        let mut s = sync(SequenceRule::Spot);
        assert_eq!(
            feed(&mut s, &spot_diff(90, 95, "9.00")),
            SyncEvent::Buffered
        );
        assert_eq!(
            feed(&mut s, &spot_diff(96, 103, "9.50")),
            SyncEvent::Buffered
        );
        assert!(s.is_stale());
        assert_eq!(feed(&mut s, SNAP), SyncEvent::SnapshotLoaded);
        assert!(!s.is_stale());
        assert_eq!(s.counters().dropped_stale, 1);
        assert_eq!(s.last_update_id(), 103);
        assert_eq!(
            s.book().best_bid(),
            Some((Price::from_ticks(1000), Qty::from_lots(2000)))
        );
        assert_eq!(
            s.book().level(Side::Buy, Price::from_ticks(950)),
            Qty::from_lots(1000)
        );
        assert_eq!(
            feed(&mut s, &spot_diff(104, 110, "9.60")),
            SyncEvent::Applied
        );
        // A gap: stale, counted, resync requested, the diff kept for the next snapshot.
        assert_eq!(
            feed(&mut s, &spot_diff(112, 115, "9.70")),
            SyncEvent::SequenceBreak
        );
        assert!(s.is_stale() && s.needs_snapshot());
        assert_eq!(s.counters().sequence_breaks, 1);
        assert_eq!(s.counters().resyncs, 1);
        assert_eq!(s.buffered().count(), 1);
    }

    #[test]
    fn spot_snapshot_older_than_buffer_is_a_break() {
        let mut s = sync(SequenceRule::Spot);
        feed(&mut s, &spot_diff(150, 160, "9.00"));
        assert_eq!(feed(&mut s, SNAP), SyncEvent::SequenceBreak);
        assert!(s.is_stale());
    }

    #[test]
    fn futures_requires_pu_chain() {
        let mut s = sync(SequenceRule::Futures);
        feed(&mut s, &fut_diff(80, 99, 70, "9.00"));
        feed(&mut s, &fut_diff(100, 120, 99, "9.10"));
        assert_eq!(feed(&mut s, SNAP), SyncEvent::SnapshotLoaded);
        assert_eq!(s.counters().dropped_stale, 1);
        assert_eq!(s.last_applied_u(), Some(120));
        // U jumps (shared sequence) but pu links: fine.
        assert_eq!(
            feed(&mut s, &fut_diff(200, 210, 120, "9.20")),
            SyncEvent::Applied
        );
        assert_eq!(
            feed(&mut s, &fut_diff(300, 310, 299, "9.30")),
            SyncEvent::SequenceBreak
        );
    }

    #[test]
    fn a_refused_snapshot_keeps_the_buffer_for_the_next() {
        let mut s = sync(SequenceRule::Spot);
        feed(&mut s, &spot_diff(95, 105, "9.00"));
        let crossed =
            r#"{"lastUpdateId":100,"bids":[["12.00","1.000"]],"asks":[["11.00","3.000"]]}"#;
        assert!(matches!(
            feed(&mut s, crossed),
            SyncEvent::Integrity(IntegrityError::Crossed { .. })
        ));
        assert!(s.is_stale() && s.needs_snapshot());
        assert_eq!(s.buffered().count(), 1);
        assert_eq!(feed(&mut s, SNAP), SyncEvent::SnapshotLoaded);
        assert!(!s.is_stale());
        assert_eq!(s.last_update_id(), 105);
        let zero = r#"{"lastUpdateId":100,"bids":[["10.00","0.000"]],"asks":[]}"#;
        assert!(matches!(
            feed(&mut s, zero),
            SyncEvent::Integrity(IntegrityError::ZeroQtyInSnapshot { .. })
        ));
    }

    #[test]
    fn crossed_and_off_grid_diffs_mark_stale() {
        let mut s = sync(SequenceRule::Spot);
        feed(&mut s, &spot_diff(100, 101, "9.00"));
        feed(&mut s, SNAP);
        let ev = feed(&mut s, &spot_diff(102, 102, "11.00"));
        assert!(matches!(
            ev,
            SyncEvent::Integrity(IntegrityError::Crossed { .. })
        ));
        assert_eq!(s.counters().crossed_events, 1);
        assert!(s.is_stale());
        let mut s = sync(SequenceRule::Spot);
        feed(&mut s, &spot_diff(100, 101, "9.00"));
        feed(&mut s, SNAP);
        assert_eq!(
            feed(&mut s, &spot_diff(102, 102, "9.001")),
            SyncEvent::Decode
        );
        assert!(s.is_stale());
    }
}
