//! MoldUDP64 framing (Nasdaq MoldUDP64 Protocol Specification v1.00): downstream packets, heartbeats,
//! end of session, re-request packets, and [`RerequestClient`], the gap-fill state machine.
//!
//! Packet parsing and encoding run on the pinned feed thread: no allocation, no lock, no logging.
//! The re-request client is driven by the same thread (it only decides *what* to request and when;
//! the caller sends the 20-byte request on its unicast socket).
//!
//! Wire format (see `docs/protocols/moldudp64.md`):
//! - downstream header, 20 bytes: session (10 ASCII), sequence number of the first message (u64 BE),
//!   message count (u16 BE); then `count` message blocks of `length (u16 BE) + bytes`;
//! - heartbeat: count 0, sequence = the next sequence number the server will send;
//! - end of session: count 0xFFFF, sequence = the next sequence number (no blocks follow);
//! - request (client → re-request server), 20 bytes: session, first sequence wanted, count wanted.

use super::wire_error::WireError;

/// Length of the downstream and request headers.
pub const HEADER_LEN: usize = 20;
/// Message count of an end-of-session packet.
pub const END_OF_SESSION: u16 = 0xFFFF;

/// A MoldUDP64 session name (10 ASCII bytes).
pub type Session = [u8; 10];

/// What kind of downstream packet this is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketKind {
    /// Carries `count ≥ 1` messages.
    Data,
    /// No messages; `sequence` is the next one expected.
    Heartbeat,
    /// The session ended; `sequence` is one past the last message.
    EndOfSession,
}

/// A parsed downstream packet borrowing the datagram.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MoldPacket<'a> {
    /// Session name.
    pub session: &'a Session,
    /// Sequence number of the first message (heartbeats: the next expected).
    pub sequence: u64,
    /// Number of messages (0 for heartbeats and end of session).
    pub count: u16,
    /// Kind.
    pub kind: PacketKind,
    blocks: &'a [u8],
}

#[cold]
#[inline(never)]
fn truncated(what: &'static str, need: usize, have: usize) -> WireError {
    WireError::Truncated { what, need, have }
}

impl<'a> MoldPacket<'a> {
    /// Parses and validates a datagram: every one of `count` blocks must fit.
    ///
    /// # Hot path
    /// No allocation; O(count) to validate the block lengths.
    #[inline]
    pub fn parse(buf: &'a [u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(truncated("MoldUDP64 header", HEADER_LEN, buf.len()));
        }
        let (session, rest) = buf.split_at(10);
        let session: &Session = session
            .try_into()
            .map_err(|_| truncated("session", 10, 0))?;
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&rest[..8]);
        let sequence = u64::from_be_bytes(seq);
        let count = u16::from_be_bytes([rest[8], rest[9]]);
        let blocks = &buf[HEADER_LEN..];
        let kind = match count {
            0 => PacketKind::Heartbeat,
            END_OF_SESSION => PacketKind::EndOfSession,
            _ => PacketKind::Data,
        };
        if kind == PacketKind::Data {
            let mut at = 0usize;
            for _ in 0..count {
                if blocks.len() < at + 2 {
                    return Err(truncated("MoldUDP64 block length", at + 2, blocks.len()));
                }
                let len = usize::from(u16::from_be_bytes([blocks[at], blocks[at + 1]]));
                at += 2 + len;
                if blocks.len() < at {
                    return Err(truncated("MoldUDP64 block", at, blocks.len()));
                }
            }
        }
        Ok(Self {
            session,
            sequence,
            count,
            kind,
            blocks,
        })
    }

    /// The sequence number after this packet's messages.
    #[inline]
    pub fn next_sequence(&self) -> u64 {
        match self.kind {
            PacketKind::Data => self.sequence.saturating_add(u64::from(self.count)),
            _ => self.sequence,
        }
    }

    /// The messages with their sequence numbers (blocks were validated by [`MoldPacket::parse`]).
    #[inline]
    pub fn messages(&self) -> MoldMessages<'a> {
        MoldMessages {
            blocks: self.blocks,
            at: 0,
            left: if self.kind == PacketKind::Data {
                self.count
            } else {
                0
            },
            seq: self.sequence,
        }
    }
}

/// Iterator over `(sequence, message bytes)` of a [`MoldPacket`].
#[derive(Clone, Debug)]
pub struct MoldMessages<'a> {
    blocks: &'a [u8],
    at: usize,
    left: u16,
    seq: u64,
}

impl<'a> Iterator for MoldMessages<'a> {
    type Item = (u64, &'a [u8]);

    #[inline]
    fn next(&mut self) -> Option<Self::Item> {
        if self.left == 0 {
            return None;
        }
        let len_bytes = self.blocks.get(self.at..self.at + 2)?;
        let len = usize::from(u16::from_be_bytes([len_bytes[0], len_bytes[1]]));
        let msg = self.blocks.get(self.at + 2..self.at + 2 + len)?;
        self.at += 2 + len;
        self.left -= 1;
        let seq = self.seq;
        self.seq = self.seq.wrapping_add(1);
        Some((seq, msg))
    }
}

/// Builds a downstream packet in a caller buffer, one message at a time (no allocation).
#[derive(Debug)]
pub struct PacketWriter<'a> {
    buf: &'a mut [u8],
    len: usize,
    count: u16,
}

impl<'a> PacketWriter<'a> {
    /// Starts a data packet for `session` whose first message has `sequence`.
    /// `None` when `buf` cannot hold the header.
    pub fn new(buf: &'a mut [u8], session: &Session, sequence: u64) -> Option<Self> {
        if buf.len() < HEADER_LEN {
            return None;
        }
        buf[..10].copy_from_slice(session);
        buf[10..18].copy_from_slice(&sequence.to_be_bytes());
        buf[18..20].copy_from_slice(&0u16.to_be_bytes());
        Some(Self {
            buf,
            len: HEADER_LEN,
            count: 0,
        })
    }

    /// Appends one message; false when it does not fit (or the count would reach 0xFFFF).
    pub fn push(&mut self, msg: &[u8]) -> bool {
        let Ok(mlen) = u16::try_from(msg.len()) else {
            return false;
        };
        if self.len + 2 + msg.len() > self.buf.len() || self.count >= END_OF_SESSION - 1 {
            return false;
        }
        self.buf[self.len..self.len + 2].copy_from_slice(&mlen.to_be_bytes());
        self.buf[self.len + 2..self.len + 2 + msg.len()].copy_from_slice(msg);
        self.len += 2 + msg.len();
        self.count += 1;
        self.buf[18..20].copy_from_slice(&self.count.to_be_bytes());
        true
    }

    /// Messages so far.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// Finishes; returns the packet length.
    pub fn finish(self) -> usize {
        self.len
    }
}

/// Writes a header-only packet: heartbeat (`count` 0) or end of session (`count` 0xFFFF).
pub fn encode_header(out: &mut [u8; HEADER_LEN], session: &Session, sequence: u64, count: u16) {
    out[..10].copy_from_slice(session);
    out[10..18].copy_from_slice(&sequence.to_be_bytes());
    out[18..20].copy_from_slice(&count.to_be_bytes());
}

/// A re-request: `count` messages starting at `sequence` of `session`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Request {
    /// Session name.
    pub session: Session,
    /// First sequence number wanted.
    pub sequence: u64,
    /// How many messages.
    pub count: u16,
}

impl Request {
    /// The 20-byte request packet.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut out = [0u8; HEADER_LEN];
        encode_header(&mut out, &self.session, self.sequence, self.count);
        out
    }

    /// Parses a request packet (the re-request server side).
    pub fn parse(buf: &[u8]) -> Result<Self, WireError> {
        if buf.len() < HEADER_LEN {
            return Err(truncated("MoldUDP64 request", HEADER_LEN, buf.len()));
        }
        let mut session = [0u8; 10];
        session.copy_from_slice(&buf[..10]);
        let mut seq = [0u8; 8];
        seq.copy_from_slice(&buf[10..18]);
        Ok(Self {
            session,
            sequence: u64::from_be_bytes(seq),
            count: u16::from_be_bytes([buf[18], buf[19]]),
        })
    }
}

/// Limits of the re-request client.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RerequestConfig {
    /// Most messages asked for in one request (servers cap replies to one datagram).
    pub max_count: u16,
    /// Wait this long for a reply before asking again.
    pub retry_after_ns: u64,
    /// Give up (and ask the book for a snapshot resync) after this many requests for one gap.
    pub max_retries: u32,
    /// Gaps larger than this are not re-requested at all: resync instead.
    pub max_gap: u64,
}

impl Default for RerequestConfig {
    fn default() -> Self {
        Self {
            max_count: 100,
            retry_after_ns: 10_000_000,
            max_retries: 5,
            max_gap: 100_000,
        }
    }
}

/// What the re-request client wants the caller to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RerequestAction {
    /// Nothing.
    Idle,
    /// Send this request.
    Send(Request),
    /// The gap cannot be filled: resync from a snapshot, then call [`RerequestClient::reset`].
    GiveUp {
        /// First missing sequence.
        from: u64,
        /// One past the last missing sequence.
        to: u64,
    },
}

/// Gap → request → fill, with limits. Tracks one outstanding gap `[from, to)` of one session.
#[derive(Clone, Debug)]
pub struct RerequestClient {
    config: RerequestConfig,
    session: Session,
    gap: Option<(u64, u64)>,
    last_sent: u64,
    retries: u32,
    /// Requests sent.
    pub requests: u64,
    /// Gaps given up.
    pub given_up: u64,
}

impl RerequestClient {
    /// A client for `session`.
    pub fn new(session: Session, config: RerequestConfig) -> Self {
        Self {
            config,
            session,
            gap: None,
            last_sent: 0,
            retries: 0,
            requests: 0,
            given_up: 0,
        }
    }

    /// The open gap, if any.
    pub fn gap(&self) -> Option<(u64, u64)> {
        self.gap
    }

    /// Reports that messages `[from, to)` are missing (the arbiter's gap); widens an open gap.
    #[cold]
    #[inline(never)]
    pub fn on_gap(&mut self, from: u64, to: u64, now_ns: u64) -> RerequestAction {
        if to <= from {
            return RerequestAction::Idle;
        }
        match self.gap {
            Some((f, t)) => self.gap = Some((f.min(from), t.max(to))),
            None => {
                self.gap = Some((from, to));
                self.retries = 0;
            }
        }
        let (f, t) = self.gap.unwrap_or((from, to));
        if t - f > self.config.max_gap {
            return self.give_up();
        }
        self.send(now_ns)
    }

    /// Reports that the stream is now contiguous up to `next` (exclusive); closes or shrinks the gap.
    #[inline]
    pub fn on_progress(&mut self, next: u64) {
        if let Some((f, t)) = self.gap {
            if next >= t {
                self.gap = None;
            } else if next > f {
                self.gap = Some((next, t));
                self.retries = 0;
            }
        }
    }

    /// Call periodically: re-sends after `retry_after_ns`, gives up after `max_retries`.
    pub fn poll(&mut self, now_ns: u64) -> RerequestAction {
        if self.gap.is_none() || now_ns.saturating_sub(self.last_sent) < self.config.retry_after_ns
        {
            return RerequestAction::Idle;
        }
        if self.retries >= self.config.max_retries {
            return self.give_up();
        }
        self.send(now_ns)
    }

    /// Forgets the gap (after a snapshot resync).
    pub fn reset(&mut self) {
        self.gap = None;
        self.retries = 0;
    }

    fn send(&mut self, now_ns: u64) -> RerequestAction {
        let Some((f, t)) = self.gap else {
            return RerequestAction::Idle;
        };
        let count = (t - f).min(u64::from(self.config.max_count)) as u16;
        self.last_sent = now_ns;
        self.retries += 1;
        self.requests += 1;
        RerequestAction::Send(Request {
            session: self.session,
            sequence: f,
            count,
        })
    }

    fn give_up(&mut self) -> RerequestAction {
        let (from, to) = self.gap.take().unwrap_or((0, 0));
        self.given_up += 1;
        self.retries = 0;
        RerequestAction::GiveUp { from, to }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const S: Session = *b"SESSION001";

    #[test]
    fn writes_and_parses_packets() {
        let mut buf = [0u8; 200];
        let mut w = PacketWriter::new(&mut buf, &S, 41).unwrap();
        assert!(w.push(b"hello"));
        assert!(w.push(b""));
        assert!(w.push(b"xyz"));
        let n = w.finish();
        let p = MoldPacket::parse(&buf[..n]).unwrap();
        assert_eq!((p.sequence, p.count, p.kind), (41, 3, PacketKind::Data));
        let got: Vec<_> = p.messages().collect();
        assert_eq!(
            got,
            vec![(41, &b"hello"[..]), (42, &b""[..]), (43, &b"xyz"[..])]
        );
        assert_eq!(p.next_sequence(), 44);
        assert!(MoldPacket::parse(&buf[..n - 1]).is_err());
        assert!(MoldPacket::parse(&buf[..19]).is_err());
    }

    #[test]
    fn heartbeat_and_end_of_session() {
        let mut h = [0u8; HEADER_LEN];
        encode_header(&mut h, &S, 7, 0);
        let p = MoldPacket::parse(&h).unwrap();
        assert_eq!((p.kind, p.next_sequence()), (PacketKind::Heartbeat, 7));
        assert_eq!(p.messages().count(), 0);
        encode_header(&mut h, &S, 9, END_OF_SESSION);
        assert_eq!(
            MoldPacket::parse(&h).unwrap().kind,
            PacketKind::EndOfSession
        );
    }

    #[test]
    fn request_round_trip_and_client_limits() {
        let r = Request {
            session: S,
            sequence: 10,
            count: 5,
        };
        assert_eq!(Request::parse(&r.encode()).unwrap(), r);
        let cfg = RerequestConfig {
            max_count: 3,
            retry_after_ns: 100,
            max_retries: 2,
            max_gap: 50,
        };
        let mut c = RerequestClient::new(S, cfg);
        assert_eq!(
            c.on_gap(10, 20, 0),
            RerequestAction::Send(Request {
                session: S,
                sequence: 10,
                count: 3
            })
        );
        assert_eq!(c.poll(50), RerequestAction::Idle);
        c.on_progress(13);
        assert!(matches!(
            c.poll(200),
            RerequestAction::Send(Request { sequence: 13, .. })
        ));
        assert!(matches!(c.poll(400), RerequestAction::Send(_)));
        assert_eq!(c.poll(600), RerequestAction::GiveUp { from: 13, to: 20 });
        assert_eq!(c.gap(), None);
        assert!(matches!(
            c.on_gap(0, 100, 700),
            RerequestAction::GiveUp { .. }
        ));
        c.on_gap(5, 6, 800);
        c.on_progress(6);
        assert_eq!(c.gap(), None);
    }
}
