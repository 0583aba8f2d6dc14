//! A/B line arbitration over MoldUDP64 sequence numbers, with a bounded reorder window.
//!
//! Runs on the pinned feed thread. Packets from line A, line B and the re-request (recovery) socket
//! all go through [`Arbiter::on_packet`]; the first copy of each sequence number wins, later copies
//! are dropped and counted. A packet that arrives ahead of the next expected sequence is copied into
//! one of a fixed number of preallocated slots and delivered once the hole before it fills. When the
//! hole stays open past the window (the stream has moved more than `window` messages beyond it, or
//! no slot is free) the arbiter reports a [`Gap`] for the re-request client. No allocation after
//! [`Arbiter::new`], no lock, no logging.

use super::moldudp64::{MoldPacket, PacketKind};
use super::wire_error::WireError;

/// Where a packet came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Line {
    /// Primary multicast line.
    A = 0,
    /// Secondary multicast line.
    B = 1,
    /// Unicast retransmissions from the re-request server.
    Recovery = 2,
}

/// Reorder window and buffer sizes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ArbiterConfig {
    /// Messages the stream may run ahead of a hole before the hole is reported as a gap.
    pub window: u64,
    /// Out-of-order packets buffered at most.
    pub slots: usize,
    /// Largest packet buffered (bytes; a standard MTU payload).
    pub slot_bytes: usize,
}

impl Default for ArbiterConfig {
    fn default() -> Self {
        Self {
            window: 64,
            slots: 32,
            slot_bytes: 1500,
        }
    }
}

/// Counters (read off the hot path).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ArbiterStats {
    /// Messages delivered in order.
    pub delivered: u64,
    /// Messages dropped because an earlier copy was delivered.
    pub duplicates: u64,
    /// First copies won, per [`Line`].
    pub won: [u64; 3],
    /// Packets parked in the reorder buffer.
    pub reordered: u64,
    /// Out-of-order packets dropped (no slot, or too large).
    pub overflow_drops: u64,
    /// Gaps reported.
    pub gaps: u64,
    /// Heartbeats seen.
    pub heartbeats: u64,
    /// Packets that failed to parse.
    pub bad_packets: u64,
    /// Messages skipped by [`Arbiter::skip_to`] (lost for good).
    pub lost: u64,
}

/// Missing messages `[from, to)`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Gap {
    /// First missing sequence.
    pub from: u64,
    /// One past the last missing sequence.
    pub to: u64,
}

#[derive(Debug)]
struct Slot {
    used: bool,
    line: Line,
    seq: u64,
    end: u64,
    len: usize,
    buf: Vec<u8>,
}

/// The arbiter of one MoldUDP64 session.
#[derive(Debug)]
pub struct Arbiter {
    config: ArbiterConfig,
    next: u64,
    slots: Vec<Slot>,
    parked: usize,
    ended: bool,
    stats: ArbiterStats,
}

impl Arbiter {
    /// An arbiter expecting `first_sequence` next (MoldUDP64 sessions start at 1).
    pub fn new(first_sequence: u64, config: ArbiterConfig) -> Self {
        let slots = (0..config.slots)
            .map(|_| Slot {
                used: false,
                line: Line::A,
                seq: 0,
                end: 0,
                len: 0,
                buf: vec![0; config.slot_bytes],
            })
            .collect();
        Self {
            config,
            next: first_sequence,
            slots,
            parked: 0,
            ended: false,
            stats: ArbiterStats::default(),
        }
    }

    /// The next sequence number to deliver.
    pub fn next_sequence(&self) -> u64 {
        self.next
    }

    /// Whether an end-of-session packet was delivered in order.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Counters.
    pub fn stats(&self) -> ArbiterStats {
        self.stats
    }

    /// Takes one datagram from `line`; calls `deliver(sequence, message)` for every message that
    /// becomes deliverable in order. Returns the gap to re-request, if the hole outlived the window.
    ///
    /// # Hot path
    /// No allocation (out-of-order packets are copied into preallocated slots), no lock.
    #[inline]
    pub fn on_packet(
        &mut self,
        line: Line,
        datagram: &[u8],
        deliver: &mut impl FnMut(u64, &[u8]),
    ) -> Result<Option<Gap>, WireError> {
        let p = match MoldPacket::parse(datagram) {
            Ok(p) => p,
            Err(e) => {
                self.stats.bad_packets += 1;
                return Err(e);
            }
        };
        if p.kind != PacketKind::Data {
            self.stats.heartbeats += 1;
            if p.kind == PacketKind::EndOfSession && p.sequence <= self.next {
                self.ended = true;
            }
            // The server's next sequence is ahead of ours: messages were lost.
            return Ok(self.check_gap(p.sequence));
        }
        let end = p.next_sequence();
        if end <= self.next {
            self.stats.duplicates += u64::from(p.count);
            return Ok(None);
        }
        if p.sequence > self.next {
            return Ok(self.park(line, datagram, p.sequence, end));
        }
        self.stats.won[line as usize] += 1;
        self.deliver_from(&p, deliver);
        if self.parked > 0 {
            self.drain(deliver);
        }
        Ok(self.check_gap(0))
    }

    /// Abandons messages before `sequence` (after a snapshot resync); delivers nothing.
    pub fn skip_to(&mut self, sequence: u64) {
        if sequence > self.next {
            self.stats.lost += sequence - self.next;
            self.next = sequence;
        }
        for s in &mut self.slots {
            if s.used && s.end <= self.next {
                s.used = false;
                self.parked -= 1;
            }
        }
    }

    /// Delivers the parked packets that became contiguous after a skip.
    pub fn drain_parked(&mut self, deliver: &mut impl FnMut(u64, &[u8])) {
        self.drain(deliver);
    }

    #[inline]
    fn deliver_from(&mut self, p: &MoldPacket<'_>, deliver: &mut impl FnMut(u64, &[u8])) {
        for (seq, msg) in p.messages() {
            if seq < self.next {
                self.stats.duplicates += 1;
                continue;
            }
            deliver(seq, msg);
            self.stats.delivered += 1;
            self.next = seq.saturating_add(1);
        }
    }

    #[cold]
    #[inline(never)]
    fn park(&mut self, line: Line, datagram: &[u8], seq: u64, end: u64) -> Option<Gap> {
        // Already parked (the other line's copy)?
        if self
            .slots
            .iter()
            .any(|s| s.used && s.seq <= seq && end <= s.end)
        {
            self.stats.duplicates += end.saturating_sub(seq);
            return self.check_gap(0);
        }
        match self.slots.iter_mut().find(|s| !s.used) {
            Some(s) if datagram.len() <= s.buf.len() => {
                s.buf[..datagram.len()].copy_from_slice(datagram);
                s.len = datagram.len();
                s.seq = seq;
                s.end = end;
                s.line = line;
                s.used = true;
                self.parked += 1;
                self.stats.reordered += 1;
                self.check_gap(0)
            }
            _ => {
                self.stats.overflow_drops += 1;
                self.report(seq.max(self.first_parked().unwrap_or(seq)))
            }
        }
    }

    fn first_parked(&self) -> Option<u64> {
        self.slots.iter().filter(|s| s.used).map(|s| s.seq).min()
    }

    /// A gap exists when something beyond `next` is known (a parked packet or a heartbeat's
    /// sequence) and it is more than `window` messages ahead, or the slots are full.
    #[inline]
    fn check_gap(&mut self, heartbeat_next: u64) -> Option<Gap> {
        if self.parked == 0 && heartbeat_next <= self.next {
            return None;
        }
        self.gap_cold(heartbeat_next)
    }

    #[cold]
    #[inline(never)]
    fn gap_cold(&mut self, heartbeat_next: u64) -> Option<Gap> {
        let furthest = self
            .slots
            .iter()
            .filter(|s| s.used)
            .map(|s| s.end)
            .max()
            .unwrap_or(0)
            .max(heartbeat_next);
        let hole_end = self.first_parked().unwrap_or(heartbeat_next);
        let full = self.parked == self.slots.len();
        if heartbeat_next > self.next
            || full
            || furthest.saturating_sub(self.next) > self.config.window
        {
            return self.report(hole_end);
        }
        None
    }

    fn report(&mut self, hole_end: u64) -> Option<Gap> {
        if hole_end <= self.next {
            return None;
        }
        self.stats.gaps += 1;
        Some(Gap {
            from: self.next,
            to: hole_end,
        })
    }

    fn drain(&mut self, deliver: &mut impl FnMut(u64, &[u8])) {
        loop {
            let next = self.next;
            let Some(i) = self.slots.iter().position(|s| s.used && s.seq <= next) else {
                return;
            };
            self.slots[i].used = false;
            self.parked -= 1;
            let line = self.slots[i].line;
            let len = self.slots[i].len;
            // Parse the parked copy (it parsed before it was parked).
            let buf = std::mem::take(&mut self.slots[i].buf);
            if let Ok(p) = MoldPacket::parse(&buf[..len]) {
                if p.next_sequence() > self.next {
                    self.stats.won[line as usize] += 1;
                    self.deliver_from(&p, deliver);
                } else {
                    self.stats.duplicates += u64::from(p.count);
                }
            }
            self.slots[i].buf = buf;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::moldudp64::{encode_header, PacketWriter};
    use super::*;

    fn pkt(seq: u64, n: u16) -> Vec<u8> {
        let mut buf = vec![0u8; 200];
        let mut w = PacketWriter::new(&mut buf, b"SESSION001", seq).unwrap();
        for i in 0..n {
            assert!(w.push(&(seq + u64::from(i)).to_be_bytes()));
        }
        let len = w.finish();
        buf.truncate(len);
        buf
    }

    fn run(a: &mut Arbiter, line: Line, p: &[u8], out: &mut Vec<u64>) -> Option<Gap> {
        a.on_packet(line, p, &mut |seq, m| {
            assert_eq!(m, seq.to_be_bytes());
            out.push(seq);
        })
        .unwrap()
    }

    #[test]
    fn first_copy_wins_duplicates_counted() {
        let mut a = Arbiter::new(1, ArbiterConfig::default());
        let mut out = vec![];
        run(&mut a, Line::A, &pkt(1, 3), &mut out);
        run(&mut a, Line::B, &pkt(1, 3), &mut out);
        run(&mut a, Line::B, &pkt(4, 2), &mut out);
        run(&mut a, Line::A, &pkt(3, 3), &mut out); // overlaps: 3,4 dup, 5 dup, none new
        run(&mut a, Line::A, &pkt(6, 1), &mut out);
        assert_eq!(out, vec![1, 2, 3, 4, 5, 6]);
        let s = a.stats();
        assert_eq!(s.duplicates, 6);
        assert_eq!(s.won, [2, 1, 0]);
    }

    #[test]
    fn reorders_within_window_and_reports_gap_beyond() {
        let cfg = ArbiterConfig {
            window: 4,
            slots: 4,
            slot_bytes: 200,
        };
        let mut a = Arbiter::new(1, cfg);
        let mut out = vec![];
        assert_eq!(run(&mut a, Line::A, &pkt(3, 2), &mut out), None);
        assert_eq!(run(&mut a, Line::B, &pkt(3, 2), &mut out), None);
        assert!(out.is_empty());
        run(&mut a, Line::B, &pkt(1, 2), &mut out);
        assert_eq!(out, vec![1, 2, 3, 4]);
        // A hole at 5 with the stream running beyond the window ⇒ gap.
        assert_eq!(run(&mut a, Line::A, &pkt(6, 2), &mut out), None);
        assert_eq!(
            run(&mut a, Line::A, &pkt(8, 2), &mut out),
            Some(Gap { from: 5, to: 6 })
        );
        // The retransmission fills it.
        run(&mut a, Line::Recovery, &pkt(5, 1), &mut out);
        assert_eq!(out, (1..=9).collect::<Vec<_>>());
        assert_eq!(a.stats().won[Line::Recovery as usize], 1);
    }

    #[test]
    fn heartbeat_ahead_is_a_gap_and_skip_abandons() {
        let mut a = Arbiter::new(1, ArbiterConfig::default());
        let mut out = vec![];
        run(&mut a, Line::A, &pkt(1, 1), &mut out);
        let mut h = [0u8; 20];
        encode_header(&mut h, b"SESSION001", 5, 0);
        assert_eq!(
            run(&mut a, Line::A, &h, &mut out),
            Some(Gap { from: 2, to: 5 })
        );
        a.skip_to(5);
        assert_eq!(a.stats().lost, 3);
        encode_header(&mut h, b"SESSION001", 5, 0xFFFF);
        assert_eq!(run(&mut a, Line::B, &h, &mut out), None);
        assert!(a.ended());
        assert!(a.on_packet(Line::A, &[1, 2], &mut |_, _| {}).is_err());
    }

    proptest::proptest! {
        /// Any interleaving of two complete lines, each reordered within a few packets, delivers
        /// every message exactly once and in order, with no gap reported.
        #[test]
        fn two_lines_deliver_each_message_once_in_order(
            n in 1u64..60,
            swaps_a in proptest::collection::vec(0usize..60, 0..20),
            swaps_b in proptest::collection::vec(0usize..60, 0..20),
            pick in proptest::collection::vec(proptest::bool::ANY, 120),
        ) {
            let pkts: Vec<Vec<u8>> = (0..n).map(|i| pkt(1 + 2 * i, 2)).collect();
            let mut a: Vec<usize> = (0..pkts.len()).collect();
            let mut b = a.clone();
            for (order, swaps) in [(&mut a, &swaps_a), (&mut b, &swaps_b)] {
                for &k in swaps.iter() {
                    let k = k % order.len();
                    if k + 1 < order.len() {
                        order.swap(k, k + 1); // adjacent swaps keep disorder within the window
                    }
                }
            }
            let cfg = ArbiterConfig { window: 64, slots: 64, slot_bytes: 200 };
            let mut arb = Arbiter::new(1, cfg);
            let mut out = vec![];
            let (mut ia, mut ib) = (0, 0);
            for &take_a in &pick {
                if (take_a && ia < a.len()) || ib >= b.len() {
                    if ia < a.len() {
                        proptest::prop_assert_eq!(run(&mut arb, Line::A, &pkts[a[ia]], &mut out), None);
                        ia += 1;
                    }
                } else {
                    proptest::prop_assert_eq!(run(&mut arb, Line::B, &pkts[b[ib]], &mut out), None);
                    ib += 1;
                }
            }
            while ia < a.len() { run(&mut arb, Line::A, &pkts[a[ia]], &mut out); ia += 1; }
            while ib < b.len() { run(&mut arb, Line::B, &pkts[b[ib]], &mut out); ib += 1; }
            proptest::prop_assert_eq!(out, (1..=2 * n).collect::<Vec<_>>());
            proptest::prop_assert_eq!(arb.stats().duplicates, 2 * n);
        }
    }
}
