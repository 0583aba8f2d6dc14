//! The record: the fixed-size [`JournalRecord`] the hot thread pushes, its on-disk frame, and the
//! payload encodings of the model types.
//!
//! On disk (all integers little-endian):
//!
//! ```text
//! 0      4     6   7   8        16          24          32         32+len  36+len        52+len
//! +------+-----+---+---+--------+-----------+-----------+----------+-------+-------------+
//! | len  |kind |ver|flg|  seq   |  ts_recv  | ts_event  | payload  | crc32c| chain (16)  |
//! | u32  | u16 |u8 |u8 |  u64   |  u64 ns   |  u64 ns   | len bytes|  u32  | blake3[..16]|
//! +------+-----+---+---+--------+-----------+-----------+----------+-------+-------------+
//! ```
//!
//! `crc32c` covers header and payload (accidental damage, torn writes); `chain` is
//! `blake3(previous chain ‖ header ‖ payload)` truncated to 16 bytes (tamper evidence: changing any
//! record changes every later chain value, so the head hash pins the whole history). The chain starts
//! at [`GENESIS`] and runs across segments through each segment's header record. See
//! `docs/adr/0003-journal-format.md`.

use crate::model::{
    BookDelta, InstrumentId, OrderAction, OrderEvent, OrderRef, Price, Qty, Side, Trade, UnixNanos,
};

/// Bytes of the record header.
pub const HEADER_LEN: usize = 32;
/// Bytes of the record trailer (crc32c + chain).
pub const TRAILER_LEN: usize = 20;
/// Bytes of the chain hash kept per record.
pub const CHAIN_LEN: usize = 16;
/// Largest payload of format version 1: everything journalled passes through the ring's inline buffer.
pub const MAX_PAYLOAD_LEN: usize = 96;
/// Largest record on disk.
pub const MAX_RECORD_LEN: usize = HEADER_LEN + MAX_PAYLOAD_LEN + TRAILER_LEN;
/// The chain value before the first record of a journal.
pub const GENESIS: ChainHash = [0; CHAIN_LEN];

/// A truncated blake3 chain value.
pub type ChainHash = [u8; CHAIN_LEN];

/// What a record is. Every input that can change engine state has a kind; `SegmentHeader` is the
/// only non-input (it opens each segment file and carries the chain across files).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
#[repr(u16)]
pub enum RecordKind {
    /// Opens a segment: format version, first seq, the previous segment's last chain hash.
    SegmentHeader = 1,
    /// Market data, L2: a [`BookDelta`] after sequencing.
    BookDelta = 16,
    /// Market data, L3: an [`OrderEvent`] after sequencing.
    OrderEvent = 17,
    /// Market data, tape: a [`Trade`].
    Trade = 18,
    /// A venue acknowledged (accepted, cancelled, replaced) one of our orders. Opaque until the gateway lands.
    OrderAck = 32,
    /// One of our orders was filled. Opaque until the gateway lands.
    Fill = 33,
    /// The venue rejected one of our requests. Opaque until the gateway lands.
    Reject = 34,
    /// Python pushed a parameter set. Opaque until the engine's parameter layout is fixed.
    ParamPush = 48,
    /// An operator command (kill, un-latch, pause). Opaque until the engine lands.
    OperatorCommand = 49,
    /// A timer fired; the time is the header's `ts_recv`. Opaque payload (timer id) until the engine lands.
    TimerTick = 50,
    /// A venue session's other inputs (top of book after sequencing, connect/disconnect, open-order
    /// listings, rate usage): `engine::session::Stamped` layouts, opaque to the journal.
    SessionInput = 51,
}

impl RecordKind {
    /// Every kind, in code order.
    pub const ALL: [RecordKind; 11] = [
        RecordKind::SegmentHeader,
        RecordKind::BookDelta,
        RecordKind::OrderEvent,
        RecordKind::Trade,
        RecordKind::OrderAck,
        RecordKind::Fill,
        RecordKind::Reject,
        RecordKind::ParamPush,
        RecordKind::OperatorCommand,
        RecordKind::TimerTick,
        RecordKind::SessionInput,
    ];

    /// The kind with wire code `code`, if any.
    pub const fn from_u16(code: u16) -> Option<Self> {
        Some(match code {
            1 => RecordKind::SegmentHeader,
            16 => RecordKind::BookDelta,
            17 => RecordKind::OrderEvent,
            18 => RecordKind::Trade,
            32 => RecordKind::OrderAck,
            33 => RecordKind::Fill,
            34 => RecordKind::Reject,
            48 => RecordKind::ParamPush,
            49 => RecordKind::OperatorCommand,
            50 => RecordKind::TimerTick,
            51 => RecordKind::SessionInput,
            _ => return None,
        })
    }

    /// The wire code.
    pub const fn code(self) -> u16 {
        self as u16
    }

    /// The snake_case name used by the bindings and the CLI.
    pub const fn name(self) -> &'static str {
        match self {
            RecordKind::SegmentHeader => "segment_header",
            RecordKind::BookDelta => "book_delta",
            RecordKind::OrderEvent => "order_event",
            RecordKind::Trade => "trade",
            RecordKind::OrderAck => "order_ack",
            RecordKind::Fill => "fill",
            RecordKind::Reject => "reject",
            RecordKind::ParamPush => "param_push",
            RecordKind::OperatorCommand => "operator_command",
            RecordKind::TimerTick => "timer_tick",
            RecordKind::SessionInput => "session_input",
        }
    }

    /// The kind named `name` (see [`RecordKind::name`]).
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.name() == name)
    }

    /// Market data (after sequencing), as opposed to our own order flow and control inputs.
    pub const fn is_market_data(self) -> bool {
        matches!(
            self,
            RecordKind::BookDelta | RecordKind::OrderEvent | RecordKind::Trade
        )
    }

    /// Whether the payload is uninterpreted bytes (not yet given a typed encoding).
    pub const fn is_opaque(self) -> bool {
        !self.is_market_data() && !matches!(self, RecordKind::SegmentHeader)
    }

    /// The payload encoding version this build writes for the kind (it also reads only this one).
    pub const fn current_version(self) -> u8 {
        1
    }
}

/// An opaque record was refused by [`JournalRecord::new`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    /// The payload is longer than [`MAX_PAYLOAD_LEN`].
    #[error("payload of {len} bytes exceeds the {max}-byte inline buffer", max = MAX_PAYLOAD_LEN)]
    TooLong {
        /// The offered length.
        len: usize,
    },
    /// The kind has a typed encoding (or is the journal's own): build it with its constructor.
    #[error("{0:?} records are built from their model type, not from raw bytes")]
    NotOpaque(RecordKind),
}

/// One journal record as the hot thread hands it to the writer: plain data, `Copy`, two cache lines,
/// the payload inline (no allocation between the hot thread and the disk).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(C, align(64))]
pub struct JournalRecord {
    /// The journal sequence number; assigned by [`JournalHandle::append`](super::JournalHandle::append).
    pub seq: u64,
    /// When the input reached us (the time the engine acts at).
    pub ts_recv: UnixNanos,
    /// Venue event time; equals `ts_recv` for inputs we originate (timers, parameters, commands).
    pub ts_event: UnixNanos,
    /// What the record is.
    pub kind: RecordKind,
    /// Payload encoding version.
    pub version: u8,
    /// Reserved, zero in format version 1.
    pub flags: u8,
    /// Used bytes of `payload`; always `<= MAX_PAYLOAD_LEN`.
    len: u16,
    /// The payload; bytes past `len` are zero.
    payload: [u8; MAX_PAYLOAD_LEN],
}

const _: () = assert!(std::mem::size_of::<JournalRecord>() == 128);

impl JournalRecord {
    /// A record of an opaque `kind` (order flow, parameters, commands, timers) with `payload` copied
    /// inline; the seq is assigned at append. Kinds with a typed encoding are refused.
    #[inline]
    pub fn new(
        kind: RecordKind,
        ts_recv: UnixNanos,
        ts_event: UnixNanos,
        payload: &[u8],
    ) -> Result<Self, RecordError> {
        if !kind.is_opaque() {
            return Err(RecordError::NotOpaque(kind));
        }
        Self::raw(kind, ts_recv, ts_event, payload)
    }

    /// Any kind from raw payload bytes, unchecked against the kind's layout (tests of the decoder).
    fn raw(
        kind: RecordKind,
        ts_recv: UnixNanos,
        ts_event: UnixNanos,
        payload: &[u8],
    ) -> Result<Self, RecordError> {
        if payload.len() > MAX_PAYLOAD_LEN {
            return Err(RecordError::TooLong { len: payload.len() });
        }
        let mut buf = [0u8; MAX_PAYLOAD_LEN];
        buf[..payload.len()].copy_from_slice(payload);
        Ok(Self {
            seq: 0,
            ts_recv,
            ts_event,
            kind,
            version: kind.current_version(),
            flags: 0,
            // Fits: checked against MAX_PAYLOAD_LEN (96) above.
            len: payload.len() as u16,
            payload: buf,
        })
    }

    /// The used payload bytes.
    #[inline]
    pub fn payload(&self) -> &[u8] {
        &self.payload[..usize::from(self.len)]
    }

    /// An L2 market-data record.
    #[inline]
    pub fn book_delta(d: &BookDelta) -> Self {
        let mut w = Writer::new(RecordKind::BookDelta, d.ts_recv, d.ts_event);
        w.u32(d.instrument.0);
        w.u8(d.side as u8);
        w.zeros(3);
        w.i64(d.price.ticks());
        w.i64(d.qty.lots());
        w.u64(d.sequence);
        w.finish()
    }

    /// An L3 market-data record.
    #[inline]
    pub fn order_event(e: &OrderEvent) -> Self {
        let (action, new_ref) = match e.action {
            OrderAction::Add => (0, 0),
            OrderAction::Cancel => (1, 0),
            OrderAction::Delete => (2, 0),
            OrderAction::Execute => (3, 0),
            OrderAction::Replace { new_ref } => (4, new_ref.0),
            OrderAction::Clear => (5, 0),
        };
        let mut w = Writer::new(RecordKind::OrderEvent, e.ts_recv, e.ts_event);
        w.u32(e.instrument.0);
        w.u8(action);
        w.u8(e.side as u8);
        w.zeros(2);
        w.u64(e.order.0);
        w.u64(new_ref);
        w.i64(e.price.ticks());
        w.i64(e.qty.lots());
        w.u64(e.sequence);
        w.finish()
    }

    /// A trade-print record.
    #[inline]
    pub fn trade(t: &Trade) -> Self {
        let aggressor = match t.aggressor {
            None => 0,
            Some(Side::Buy) => 1,
            Some(Side::Sell) => 2,
        };
        let mut w = Writer::new(RecordKind::Trade, t.ts_recv, t.ts_event);
        w.u32(t.instrument.0);
        w.u8(aggressor);
        w.zeros(3);
        w.i64(t.price.ticks());
        w.i64(t.qty.lots());
        w.u64(t.trade_id);
        w.finish()
    }

    /// Decodes the payload by kind and version.
    pub fn decode(&self) -> Result<Payload<'_>, PayloadError> {
        decode_payload(
            self.kind,
            self.version,
            self.ts_recv,
            self.ts_event,
            self.payload(),
        )
    }
}

/// A decoded payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Payload<'a> {
    /// A segment's opening record.
    SegmentHeader(SegmentHeaderPayload),
    /// L2 market data.
    BookDelta(BookDelta),
    /// L3 market data.
    OrderEvent(OrderEvent),
    /// A trade print.
    Trade(Trade),
    /// A kind whose payload is not interpreted yet (order flow, parameters, commands, timers).
    Opaque(&'a [u8]),
}

/// A payload that does not decode as its kind and version say.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PayloadError {
    /// The payload's length is not the kind's fixed length.
    #[error("{kind:?} v{version} payload must be {want} bytes, found {found}")]
    Length {
        /// The kind.
        kind: RecordKind,
        /// Its version.
        version: u8,
        /// The expected length.
        want: usize,
        /// The length found.
        found: usize,
    },
    /// A field holds a value its type does not have.
    #[error("{kind:?} payload: invalid {field} = {value}")]
    Field {
        /// The kind.
        kind: RecordKind,
        /// The field.
        field: &'static str,
        /// The value found.
        value: u64,
    },
    /// This build does not read that payload version.
    #[error("{kind:?} payload version {version} is not supported")]
    Version {
        /// The kind.
        kind: RecordKind,
        /// The version found.
        version: u8,
    },
}

/// The payload of a [`RecordKind::SegmentHeader`] record (32 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentHeaderPayload {
    /// The journal format version of the segment.
    pub format_version: u16,
    /// The seq of the segment's first input record (also the header record's own seq).
    pub first_seq: u64,
    /// The chain value after the previous segment's last record ([`GENESIS`] for the first segment).
    pub prev_chain: ChainHash,
}

impl SegmentHeaderPayload {
    /// Encoded length.
    pub const LEN: usize = 32;

    /// The record carrying this header, stamped at `ts` (the first input's `ts_recv`).
    pub fn to_record(&self, ts: UnixNanos) -> JournalRecord {
        let mut w = Writer::new(RecordKind::SegmentHeader, ts, ts);
        w.u16(self.format_version);
        w.zeros(6);
        w.u64(self.first_seq);
        w.bytes(&self.prev_chain);
        let mut rec = w.finish();
        rec.seq = self.first_seq;
        rec
    }
}

fn decode_payload<'a>(
    kind: RecordKind,
    version: u8,
    ts_recv: UnixNanos,
    ts_event: UnixNanos,
    p: &'a [u8],
) -> Result<Payload<'a>, PayloadError> {
    let fixed = |want: usize| {
        if version != kind.current_version() {
            Err(PayloadError::Version { kind, version })
        } else if p.len() != want {
            Err(PayloadError::Length {
                kind,
                version,
                want,
                found: p.len(),
            })
        } else {
            Ok(Reader { p, at: 0, kind })
        }
    };
    match kind {
        RecordKind::SegmentHeader => {
            let mut r = fixed(SegmentHeaderPayload::LEN)?;
            let format_version = r.u16();
            r.zeros(6)?;
            let first_seq = r.u64();
            let mut prev_chain = GENESIS;
            prev_chain.copy_from_slice(r.take(CHAIN_LEN));
            Ok(Payload::SegmentHeader(SegmentHeaderPayload {
                format_version,
                first_seq,
                prev_chain,
            }))
        }
        RecordKind::BookDelta => {
            let mut r = fixed(32)?;
            let instrument = InstrumentId(r.u32());
            let side = r.side("side")?;
            r.zeros(3)?;
            Ok(Payload::BookDelta(BookDelta {
                instrument,
                side,
                price: Price::from_ticks(r.i64()),
                qty: Qty::from_lots(r.i64()),
                sequence: r.u64(),
                ts_event,
                ts_recv,
            }))
        }
        RecordKind::OrderEvent => {
            let mut r = fixed(48)?;
            let instrument = InstrumentId(r.u32());
            let action = r.u8();
            let side = r.side("side")?;
            r.zeros(2)?;
            let order = OrderRef(r.u64());
            let new_ref = r.u64();
            let action = match action {
                0 => OrderAction::Add,
                1 => OrderAction::Cancel,
                2 => OrderAction::Delete,
                3 => OrderAction::Execute,
                4 => OrderAction::Replace {
                    new_ref: OrderRef(new_ref),
                },
                5 => OrderAction::Clear,
                v => return Err(r.bad("action", u64::from(v))),
            };
            if new_ref != 0 && !matches!(action, OrderAction::Replace { .. }) {
                return Err(r.bad("new_ref", new_ref));
            }
            Ok(Payload::OrderEvent(OrderEvent {
                instrument,
                action,
                order,
                side,
                price: Price::from_ticks(r.i64()),
                qty: Qty::from_lots(r.i64()),
                sequence: r.u64(),
                ts_event,
                ts_recv,
            }))
        }
        RecordKind::Trade => {
            let mut r = fixed(32)?;
            let instrument = InstrumentId(r.u32());
            let aggressor = match r.u8() {
                0 => None,
                1 => Some(Side::Buy),
                2 => Some(Side::Sell),
                v => return Err(r.bad("aggressor", u64::from(v))),
            };
            r.zeros(3)?;
            Ok(Payload::Trade(Trade {
                instrument,
                price: Price::from_ticks(r.i64()),
                qty: Qty::from_lots(r.i64()),
                aggressor,
                trade_id: r.u64(),
                ts_event,
                ts_recv,
            }))
        }
        RecordKind::OrderAck
        | RecordKind::Fill
        | RecordKind::Reject
        | RecordKind::ParamPush
        | RecordKind::OperatorCommand
        | RecordKind::TimerTick
        | RecordKind::SessionInput => {
            if version != kind.current_version() {
                return Err(PayloadError::Version { kind, version });
            }
            Ok(Payload::Opaque(p))
        }
    }
}

/// Little-endian encoder into a record's inline buffer. Callers write at most `MAX_PAYLOAD_LEN` bytes
/// (the fixed layouts above are 32–48 bytes), so indexing cannot go out of bounds.
struct Writer {
    rec: JournalRecord,
    at: usize,
}

impl Writer {
    #[inline]
    fn new(kind: RecordKind, ts_recv: UnixNanos, ts_event: UnixNanos) -> Self {
        Self {
            rec: JournalRecord {
                seq: 0,
                ts_recv,
                ts_event,
                kind,
                version: kind.current_version(),
                flags: 0,
                len: 0,
                payload: [0; MAX_PAYLOAD_LEN],
            },
            at: 0,
        }
    }
    #[inline]
    fn bytes(&mut self, b: &[u8]) {
        self.rec.payload[self.at..self.at + b.len()].copy_from_slice(b);
        self.at += b.len();
    }
    #[inline]
    fn zeros(&mut self, n: usize) {
        self.at += n; // the buffer starts zeroed
    }
    #[inline]
    fn u8(&mut self, v: u8) {
        self.bytes(&[v]);
    }
    #[inline]
    fn u16(&mut self, v: u16) {
        self.bytes(&v.to_le_bytes());
    }
    #[inline]
    fn u32(&mut self, v: u32) {
        self.bytes(&v.to_le_bytes());
    }
    #[inline]
    fn u64(&mut self, v: u64) {
        self.bytes(&v.to_le_bytes());
    }
    #[inline]
    fn i64(&mut self, v: i64) {
        self.bytes(&v.to_le_bytes());
    }
    #[inline]
    fn finish(mut self) -> JournalRecord {
        // At most MAX_PAYLOAD_LEN (96) bytes were written, so this fits a u16.
        self.rec.len = self.at as u16;
        self.rec
    }
}

/// Little-endian decoder over a payload whose length was checked against the fixed layout first.
struct Reader<'a> {
    p: &'a [u8],
    at: usize,
    kind: RecordKind,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> &'a [u8] {
        let s = &self.p[self.at..self.at + n];
        self.at += n;
        s
    }
    fn arr<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0; N];
        a.copy_from_slice(self.take(N));
        a
    }
    fn u8(&mut self) -> u8 {
        self.take(1)[0]
    }
    fn u16(&mut self) -> u16 {
        u16::from_le_bytes(self.arr())
    }
    fn u32(&mut self) -> u32 {
        u32::from_le_bytes(self.arr())
    }
    fn u64(&mut self) -> u64 {
        u64::from_le_bytes(self.arr())
    }
    fn i64(&mut self) -> i64 {
        i64::from_le_bytes(self.arr())
    }
    fn zeros(&mut self, n: usize) -> Result<(), PayloadError> {
        let pad = self.take(n);
        match pad.iter().find(|&&b| b != 0) {
            Some(&b) => Err(self.bad("padding", u64::from(b))),
            None => Ok(()),
        }
    }
    fn side(&mut self, field: &'static str) -> Result<Side, PayloadError> {
        match self.u8() {
            0 => Ok(Side::Buy),
            1 => Ok(Side::Sell),
            v => Err(self.bad(field, u64::from(v))),
        }
    }
    fn bad(&self, field: &'static str, value: u64) -> PayloadError {
        PayloadError::Field {
            kind: self.kind,
            field,
            value,
        }
    }
}

/// Bytes of `prev ‖ header ‖ payload` for the largest record: the chain hash's input.
const CHAIN_INPUT_MAX: usize = CHAIN_LEN + HEADER_LEN + MAX_PAYLOAD_LEN;

/// The next chain value: `blake3(prev ‖ header ‖ payload)[..16]`.
///
/// A body of a version-1 record (at most `HEADER_LEN + MAX_PAYLOAD_LEN` bytes) is hashed as one
/// contiguous stack buffer with `blake3::hash` (no `Hasher`); anything longer streams through a
/// `Hasher`. Both give the same value.
pub fn chain_next(prev: &ChainHash, header_and_payload: &[u8]) -> ChainHash {
    let n = CHAIN_LEN + header_and_payload.len();
    let mut out = GENESIS;
    if n <= CHAIN_INPUT_MAX {
        let mut buf = [0u8; CHAIN_INPUT_MAX];
        buf[..CHAIN_LEN].copy_from_slice(prev);
        buf[CHAIN_LEN..n].copy_from_slice(header_and_payload);
        out.copy_from_slice(&blake3::hash(&buf[..n]).as_bytes()[..CHAIN_LEN]);
    } else {
        let mut h = blake3::Hasher::new();
        h.update(prev);
        h.update(header_and_payload);
        out.copy_from_slice(&h.finalize().as_bytes()[..CHAIN_LEN]);
    }
    out
}

/// Appends `rec`'s on-disk frame to `out` and returns its chain value (the next record's `prev`).
/// Allocates only when `out` must grow.
///
/// The frame is assembled on the stack behind `prev` (`prev ‖ header ‖ payload ‖ trailer`), so the
/// chain is one `blake3::hash` of a contiguous slice, crc32c runs over its middle, and `out` grows
/// by one copy.
pub fn encode_frame(out: &mut Vec<u8>, rec: &JournalRecord, prev: &ChainHash) -> ChainHash {
    let payload = rec.payload();
    let body_end = CHAIN_LEN + HEADER_LEN + payload.len();
    let mut buf = [0u8; CHAIN_INPUT_MAX + TRAILER_LEN];
    buf[..CHAIN_LEN].copy_from_slice(prev);
    let h = &mut buf[CHAIN_LEN..CHAIN_LEN + HEADER_LEN];
    // Fits: payload.len() <= MAX_PAYLOAD_LEN (96).
    h[0..4].copy_from_slice(&(payload.len() as u32).to_le_bytes());
    h[4..6].copy_from_slice(&rec.kind.code().to_le_bytes());
    h[6] = rec.version;
    h[7] = rec.flags;
    h[8..16].copy_from_slice(&rec.seq.to_le_bytes());
    h[16..24].copy_from_slice(&rec.ts_recv.0.to_le_bytes());
    h[24..32].copy_from_slice(&rec.ts_event.0.to_le_bytes());
    buf[CHAIN_LEN + HEADER_LEN..body_end].copy_from_slice(payload);
    let crc = crc32c::crc32c(&buf[CHAIN_LEN..body_end]);
    let mut chain = GENESIS;
    chain.copy_from_slice(&blake3::hash(&buf[..body_end]).as_bytes()[..CHAIN_LEN]);
    buf[body_end..body_end + 4].copy_from_slice(&crc.to_le_bytes());
    buf[body_end + 4..body_end + TRAILER_LEN].copy_from_slice(&chain);
    out.extend_from_slice(&buf[CHAIN_LEN..body_end + TRAILER_LEN]);
    chain
}

/// Why bytes at some offset are not a valid frame.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameError {
    /// Fewer bytes remain than the header or the record it announces.
    Truncated {
        /// Bytes the record needs.
        need: usize,
        /// Bytes left in the file.
        have: usize,
    },
    /// The length field is larger than any record of this format.
    LengthOutOfRange(u32),
    /// The stored crc32c does not match header and payload.
    CrcMismatch {
        /// Stored.
        stored: u32,
        /// Computed.
        computed: u32,
    },
    /// The kind code is not one this build knows.
    UnknownKind(u16),
    /// A reserved flag bit is set.
    UnknownFlags(u8),
}

/// One frame as found on disk; the chain is not checked here (it needs the previous value).
#[derive(Clone, Copy, Debug)]
pub struct Frame<'a> {
    /// The record (its payload copied inline).
    pub record: JournalRecord,
    /// Header and payload bytes, the input of crc and chain.
    pub body: &'a [u8],
    /// The stored chain value.
    pub chain: ChainHash,
    /// Bytes the frame occupies.
    pub len: usize,
}

/// Parses the frame starting at `bytes[at..]`, checking length, crc, kind and flags.
pub fn parse_frame(bytes: &[u8], at: usize) -> Result<Frame<'_>, FrameError> {
    let rest = bytes.get(at..).unwrap_or_default();
    if rest.len() < HEADER_LEN {
        return Err(FrameError::Truncated {
            need: HEADER_LEN,
            have: rest.len(),
        });
    }
    let le64 = |o: usize| {
        let mut a = [0u8; 8];
        a.copy_from_slice(&rest[o..o + 8]);
        u64::from_le_bytes(a)
    };
    let len = u32::from_le_bytes([rest[0], rest[1], rest[2], rest[3]]);
    if len as usize > MAX_PAYLOAD_LEN {
        return Err(FrameError::LengthOutOfRange(len));
    }
    let total = HEADER_LEN + len as usize + TRAILER_LEN;
    if rest.len() < total {
        return Err(FrameError::Truncated {
            need: total,
            have: rest.len(),
        });
    }
    let body_len = HEADER_LEN + len as usize;
    let body = &rest[..body_len];
    let stored = u32::from_le_bytes([
        rest[body_len],
        rest[body_len + 1],
        rest[body_len + 2],
        rest[body_len + 3],
    ]);
    let computed = crc32c::crc32c(body);
    if stored != computed {
        return Err(FrameError::CrcMismatch { stored, computed });
    }
    let code = u16::from_le_bytes([rest[4], rest[5]]);
    let kind = RecordKind::from_u16(code).ok_or(FrameError::UnknownKind(code))?;
    let flags = rest[7];
    if flags != 0 {
        return Err(FrameError::UnknownFlags(flags));
    }
    let mut payload = [0u8; MAX_PAYLOAD_LEN];
    payload[..len as usize].copy_from_slice(&body[HEADER_LEN..]);
    let mut chain = GENESIS;
    chain.copy_from_slice(&rest[body_len + 4..total]);
    Ok(Frame {
        record: JournalRecord {
            seq: le64(8),
            ts_recv: UnixNanos(le64(16)),
            ts_event: UnixNanos(le64(24)),
            kind,
            version: rest[6],
            flags,
            // Fits: checked against MAX_PAYLOAD_LEN above.
            len: len as u16,
            payload,
        },
        body,
        chain,
        len: total,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn delta(i: i64) -> BookDelta {
        BookDelta {
            instrument: InstrumentId(7),
            side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
            price: Price::from_ticks(1000 + i),
            qty: Qty::from_lots(5 * i),
            sequence: i as u64,
            ts_event: UnixNanos(1_700_000_000_000_000_000 + i as u64),
            ts_recv: UnixNanos(1_700_000_000_000_000_100 + i as u64),
        }
    }

    #[test]
    fn model_types_round_trip() {
        let d = delta(3);
        assert_eq!(
            JournalRecord::book_delta(&d).decode(),
            Ok(Payload::BookDelta(d))
        );
        for action in [
            OrderAction::Add,
            OrderAction::Cancel,
            OrderAction::Delete,
            OrderAction::Execute,
            OrderAction::Replace {
                new_ref: OrderRef(99),
            },
            OrderAction::Clear,
        ] {
            let e = OrderEvent {
                instrument: InstrumentId(1),
                action,
                order: OrderRef(42),
                side: Side::Sell,
                price: Price::from_ticks(-5),
                qty: Qty::from_lots(i64::MAX),
                sequence: u64::MAX,
                ts_event: UnixNanos(1),
                ts_recv: UnixNanos(2),
            };
            let rec = JournalRecord::order_event(&e);
            assert_eq!(rec.payload().len(), 48);
            assert_eq!(rec.decode(), Ok(Payload::OrderEvent(e)));
        }
        for aggressor in [None, Some(Side::Buy), Some(Side::Sell)] {
            let t = Trade {
                instrument: InstrumentId(u32::MAX),
                price: Price::from_ticks(i64::MIN),
                qty: Qty::from_lots(1),
                aggressor,
                trade_id: 77,
                ts_event: UnixNanos(3),
                ts_recv: UnixNanos(4),
            };
            assert_eq!(JournalRecord::trade(&t).decode(), Ok(Payload::Trade(t)));
        }
    }

    #[test]
    fn frame_round_trips_and_chains() {
        let mut rec = JournalRecord::book_delta(&delta(1));
        rec.seq = 9;
        let mut buf = Vec::new();
        let c1 = encode_frame(&mut buf, &rec, &GENESIS);
        assert_eq!(buf.len(), HEADER_LEN + 32 + TRAILER_LEN);
        let f = parse_frame(&buf, 0).unwrap();
        assert_eq!(f.record, rec);
        assert_eq!(f.chain, c1);
        assert_eq!(chain_next(&GENESIS, f.body), c1);
        // The chain depends on the previous value.
        let mut other = Vec::new();
        assert_ne!(encode_frame(&mut other, &rec, &c1), c1);
    }

    /// The format before the stack-buffer encoder: field-by-field into the Vec, chain by a
    /// streaming `Hasher` over `prev` then the body. The fast path must produce the same bytes.
    fn reference_frame(out: &mut Vec<u8>, rec: &JournalRecord, prev: &ChainHash) -> ChainHash {
        let start = out.len();
        let payload = rec.payload();
        out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        out.extend_from_slice(&rec.kind.code().to_le_bytes());
        out.push(rec.version);
        out.push(rec.flags);
        out.extend_from_slice(&rec.seq.to_le_bytes());
        out.extend_from_slice(&rec.ts_recv.0.to_le_bytes());
        out.extend_from_slice(&rec.ts_event.0.to_le_bytes());
        out.extend_from_slice(payload);
        let crc = crc32c::crc32c(&out[start..]);
        let mut h = blake3::Hasher::new();
        h.update(prev);
        h.update(&out[start..]);
        let mut chain = GENESIS;
        chain.copy_from_slice(&h.finalize().as_bytes()[..CHAIN_LEN]);
        out.extend_from_slice(&crc.to_le_bytes());
        out.extend_from_slice(&chain);
        chain
    }

    #[test]
    fn encoder_matches_the_reference_format_for_every_length() {
        let (mut fast, mut slow) = (Vec::new(), Vec::new());
        let (mut cf, mut cs) = (GENESIS, GENESIS);
        for len in 0..=MAX_PAYLOAD_LEN {
            let payload: Vec<u8> = (0..len).map(|i| (i * 31 + len) as u8).collect();
            let mut rec = JournalRecord::new(
                RecordKind::Fill,
                UnixNanos(7 + len as u64),
                UnixNanos(3),
                &payload,
            )
            .unwrap();
            rec.seq = len as u64 + 1;
            cf = encode_frame(&mut fast, &rec, &cf);
            cs = reference_frame(&mut slow, &rec, &cs);
            assert_eq!(cf, cs, "len {len}");
            let f = parse_frame(&fast, fast.len() - (HEADER_LEN + len + TRAILER_LEN)).unwrap();
            assert_eq!(f.record, rec);
        }
        assert_eq!(fast, slow);
        // A body longer than any v1 record takes the streaming path of `chain_next`.
        let long = [5u8; 300];
        let mut h = blake3::Hasher::new();
        h.update(&cf);
        h.update(&long);
        assert_eq!(
            chain_next(&cf, &long)[..],
            h.finalize().as_bytes()[..CHAIN_LEN]
        );
    }

    #[test]
    fn frame_errors_name_the_problem() {
        let mut buf = Vec::new();
        encode_frame(
            &mut buf,
            &JournalRecord::new(RecordKind::TimerTick, UnixNanos(1), UnixNanos(1), b"ab").unwrap(),
            &GENESIS,
        );
        assert!(matches!(
            parse_frame(&buf[..buf.len() - 1], 0),
            Err(FrameError::Truncated { .. })
        ));
        let mut bad = buf.clone();
        bad[HEADER_LEN] ^= 1;
        assert!(matches!(
            parse_frame(&bad, 0),
            Err(FrameError::CrcMismatch { .. })
        ));
        let mut bad = buf.clone();
        bad[0] = 200;
        assert_eq!(
            parse_frame(&bad, 0).unwrap_err(),
            FrameError::LengthOutOfRange(200)
        );
    }

    #[test]
    fn payload_limits_and_bad_fields() {
        assert_eq!(
            JournalRecord::new(RecordKind::Fill, UnixNanos(0), UnixNanos(0), &[0; 97]),
            Err(RecordError::TooLong { len: 97 })
        );
        assert_eq!(
            JournalRecord::new(RecordKind::Trade, UnixNanos(0), UnixNanos(0), &[]),
            Err(RecordError::NotOpaque(RecordKind::Trade))
        );
        let mut p = [0u8; 32];
        p[4] = 9; // side
        let rec =
            JournalRecord::raw(RecordKind::BookDelta, UnixNanos(0), UnixNanos(0), &p).unwrap();
        assert!(matches!(
            rec.decode(),
            Err(PayloadError::Field { field: "side", .. })
        ));
        let rec =
            JournalRecord::raw(RecordKind::Trade, UnixNanos(0), UnixNanos(0), &p[..8]).unwrap();
        assert!(matches!(rec.decode(), Err(PayloadError::Length { .. })));
    }

    #[test]
    fn kinds_have_stable_codes_and_names() {
        for k in RecordKind::ALL {
            assert_eq!(RecordKind::from_u16(k.code()), Some(k));
            assert_eq!(RecordKind::from_name(k.name()), Some(k));
        }
        assert_eq!(RecordKind::from_u16(0), None);
    }
}
