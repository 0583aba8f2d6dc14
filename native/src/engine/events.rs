//! Engine events for Python: one 64-byte record per event, handed over through the SPSC ring and
//! drained by Python as a numpy structured array (`pymm.events.EVENT_DTYPE` mirrors this layout).
//!
//! # Hot path
//! The hot thread pushes a `Copy` record; a full ring refuses it and the caller counts the drop
//! (Python falling behind never blocks trading).

use crate::model::{InstrumentId, Price, Qty, Side, UnixNanos};
use crate::net::ring::{self, Consumer, Producer};

/// What an [`EngineEvent`] reports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u16)]
pub enum EventKind {
    /// Top of book sample: `price`/`qty` best bid, `aux` best ask ticks, `order_id` best ask lots.
    TopOfBook = 1,
    /// The venue acknowledged our order `order_id` at `price` for `qty`.
    OrderAccepted = 2,
    /// Our order `order_id` filled `qty` at `price`; `aux` is the open quantity left.
    OrderFilled = 3,
    /// Our order `order_id` was cancelled; `qty` was open.
    OrderCanceled = 4,
    /// The venue refused our order; `aux` is the venue's error code.
    OrderRejected = 5,
    /// Our pre-trade risk refused the order; `aux` is the `DenyReason` code.
    OrderDenied = 6,
    /// The order's fate is unknown (timeout, reset after send); it stays reserved.
    OrderUnknown = 7,
    /// The instrument's data went stale or out of sequence: quotes pulled; `aux` is the reason code.
    Stale = 8,
    /// The kill switch latched (`aux` = 1) or was lifted (`aux` = 0).
    Kill = 9,
}

/// One event, exactly one cache line.
#[repr(C, align(64))]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EngineEvent {
    /// [`EventKind`] as its integer.
    pub kind: u16,
    /// 0 buy, 1 sell, 255 none.
    pub side: u8,
    /// Reserved flag bits (0).
    pub flags: u8,
    /// The instrument.
    pub instrument: u32,
    /// The engine's input sequence number this event came from.
    pub seq: u64,
    /// Venue event time (ns since the epoch).
    pub ts_event: u64,
    /// Our receive time (ns since the epoch).
    pub ts_recv: u64,
    /// Price in ticks.
    pub price: i64,
    /// Quantity in lots.
    pub qty: i64,
    /// Our client order id (or as `kind` says).
    pub order_id: u64,
    /// Kind-specific value.
    pub aux: i64,
}

const _: () = assert!(std::mem::size_of::<EngineEvent>() == 64);

impl EngineEvent {
    /// An event with every field given.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        kind: EventKind,
        instrument: InstrumentId,
        side: Option<Side>,
        seq: u64,
        ts_event: UnixNanos,
        ts_recv: UnixNanos,
        price: Price,
        qty: Qty,
        order_id: u64,
        aux: i64,
    ) -> Self {
        Self {
            kind: kind as u16,
            side: side.map_or(255, |s| s as u8),
            flags: 0,
            instrument: instrument.0,
            seq,
            ts_event: ts_event.0,
            ts_recv: ts_recv.0,
            price: price.ticks(),
            qty: qty.lots(),
            order_id,
            aux,
        }
    }

    /// The record's 64 bytes, little-endian, in field order (the numpy dtype's layout).
    pub fn to_bytes(&self) -> [u8; 64] {
        let mut b = [0u8; 64];
        b[0..2].copy_from_slice(&self.kind.to_le_bytes());
        b[2] = self.side;
        b[3] = self.flags;
        b[4..8].copy_from_slice(&self.instrument.to_le_bytes());
        for (i, v) in [self.seq, self.ts_event, self.ts_recv].iter().enumerate() {
            b[8 + 8 * i..16 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        for (i, v) in [self.price, self.qty].iter().enumerate() {
            b[32 + 8 * i..40 + 8 * i].copy_from_slice(&v.to_le_bytes());
        }
        b[48..56].copy_from_slice(&self.order_id.to_le_bytes());
        b[56..64].copy_from_slice(&self.aux.to_le_bytes());
        b
    }
}

/// The hot thread's end: pushes events, counts what a full ring refused.
pub struct EventSink {
    tx: Producer<EngineEvent>,
    dropped: u64,
}

impl EventSink {
    /// Pushes one event; a full ring drops it (counted), never blocks.
    #[inline]
    pub fn emit(&mut self, ev: EngineEvent) {
        if self.tx.push(ev).is_err() {
            self.dropped += 1;
        }
    }

    /// Events refused because Python fell behind.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }
}

/// A ring of `capacity` events: the sink for the hot thread, the consumer for Python.
pub fn event_ring(capacity: usize) -> (EventSink, Consumer<EngineEvent>) {
    let (tx, rx) = ring::channel(capacity);
    (EventSink { tx, dropped: 0 }, rx)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layout_and_bytes() {
        let e = EngineEvent::new(
            EventKind::OrderFilled,
            InstrumentId(3),
            Some(Side::Sell),
            9,
            UnixNanos(10),
            UnixNanos(11),
            Price::from_ticks(-12),
            Qty::from_lots(13),
            14,
            -15,
        );
        assert_eq!(std::mem::align_of::<EngineEvent>(), 64);
        let b = e.to_bytes();
        assert_eq!(u16::from_le_bytes([b[0], b[1]]), 3);
        assert_eq!(b[2], 1);
        assert_eq!(i64::from_le_bytes(b[32..40].try_into().unwrap()), -12);
        assert_eq!(i64::from_le_bytes(b[56..64].try_into().unwrap()), -15);
    }

    #[test]
    fn full_ring_counts_drops() {
        let (mut sink, mut rx) = event_ring(2);
        let e = EngineEvent::new(
            EventKind::Kill,
            InstrumentId(0),
            None,
            0,
            UnixNanos(0),
            UnixNanos(0),
            Price::ZERO,
            Qty::ZERO,
            0,
            1,
        );
        for _ in 0..3 {
            sink.emit(e);
        }
        assert_eq!(sink.dropped(), 1);
        assert_eq!(rx.pop(), Some(e));
        assert_eq!(rx.pop().map(|e| e.side), Some(255));
        assert_eq!(rx.pop(), None);
    }
}
