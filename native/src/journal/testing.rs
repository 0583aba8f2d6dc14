//! Fixtures for the journal's tests: a temporary directory, record generators, a one-call writer.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use proptest::prelude::*;

use super::record::{RecordKind, HEADER_LEN, TRAILER_LEN};
use super::{open, FsyncPolicy, JournalConfig, JournalReader, JournalRecord, JournalStats};
use crate::model::{
    BookDelta, InstrumentId, OrderAction, OrderEvent, OrderRef, Price, Qty, Side, Trade, UnixNanos,
};

/// A directory removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = std::env::temp_dir().join(format!(
            "pymm-journal-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&p);
        std::fs::create_dir_all(&p).unwrap();
        Self(p)
    }
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A small-segment config that rolls often and never sleeps long.
pub fn small(segment_bytes: u64, fsync: FsyncPolicy) -> JournalConfig {
    JournalConfig {
        fsync,
        segment_bytes,
        ring_capacity: 64,
        batch_bytes: 512,
        idle_sleep: Duration::from_micros(50),
        core: None,
    }
}

/// Appends every record (spinning while the ring is full), closes, and returns the stats.
pub fn write_all(dir: &Path, cfg: JournalConfig, recs: &[JournalRecord]) -> JournalStats {
    let j = open(dir, cfg).unwrap();
    let mut h = j.handle;
    for r in recs {
        loop {
            match h.append(*r) {
                Ok(_) => break,
                Err(super::AppendError::Full) => std::thread::yield_now(),
                Err(e) => panic!("append: {e}"),
            }
        }
    }
    drop(h);
    j.writer.close().unwrap()
}

/// Every input record of `dir`, panicking on any error.
pub fn read_all(dir: &Path) -> Vec<JournalRecord> {
    JournalReader::open(dir)
        .unwrap()
        .map(|r| r.unwrap().record)
        .collect()
}

/// Where each record of a clean journal lives: (segment path, byte range, seq); the magic and the
/// segment header count as "records" at offsets 0 and 8 carrying the segment's first seq.
pub fn layout(dir: &Path) -> Vec<(PathBuf, std::ops::Range<u64>, u64)> {
    let reader = JournalReader::open(dir).unwrap();
    let segs = reader.segments().to_vec();
    let recs: Vec<_> = reader.map(|r| r.unwrap()).collect();
    let mut out = Vec::new();
    for (i, s) in segs.iter().enumerate() {
        let header_end = 8 + (HEADER_LEN + 32 + TRAILER_LEN) as u64;
        out.push((s.path.clone(), 0..8, s.first_seq));
        out.push((s.path.clone(), 8..header_end, s.first_seq));
        for r in recs.iter().filter(|r| r.segment == i) {
            let len = (HEADER_LEN + r.record.payload().len() + TRAILER_LEN) as u64;
            out.push((s.path.clone(), r.offset..r.offset + len, r.record.seq));
        }
    }
    out
}

/// The records a test wrote, with the seqs the journal assigns (1, 2, ...) filled in.
pub fn with_seqs(recs: &[JournalRecord], first: u64) -> Vec<JournalRecord> {
    recs.iter()
        .zip(first..)
        .map(|(r, seq)| {
            let mut r = *r;
            r.seq = seq;
            r
        })
        .collect()
}

fn side() -> impl Strategy<Value = Side> {
    prop_oneof![Just(Side::Buy), Just(Side::Sell)]
}

/// Any record of any kind the producer may push.
pub fn any_record() -> impl Strategy<Value = JournalRecord> {
    let ts = (any::<u64>(), any::<u64>()).prop_map(|(a, b)| (UnixNanos(a), UnixNanos(b)));
    let delta = (
        any::<u32>(),
        side(),
        any::<i64>(),
        any::<i64>(),
        any::<u64>(),
        ts.clone(),
    )
        .prop_map(|(i, side, p, q, sequence, (ts_event, ts_recv))| {
            JournalRecord::book_delta(&BookDelta {
                instrument: InstrumentId(i),
                side,
                price: Price::from_ticks(p),
                qty: Qty::from_lots(q),
                sequence,
                ts_event,
                ts_recv,
            })
        });
    let action = prop_oneof![
        Just(OrderAction::Add),
        Just(OrderAction::Cancel),
        Just(OrderAction::Delete),
        Just(OrderAction::Execute),
        any::<u64>().prop_map(|r| OrderAction::Replace {
            new_ref: OrderRef(r)
        }),
        Just(OrderAction::Clear),
    ];
    let event = (
        any::<u32>(),
        action,
        any::<u64>(),
        side(),
        any::<i64>(),
        any::<i64>(),
        ts.clone(),
    )
        .prop_map(|(i, action, o, side, p, q, (ts_event, ts_recv))| {
            JournalRecord::order_event(&OrderEvent {
                instrument: InstrumentId(i),
                action,
                order: OrderRef(o),
                side,
                price: Price::from_ticks(p),
                qty: Qty::from_lots(q),
                sequence: o ^ 5,
                ts_event,
                ts_recv,
            })
        });
    let trade = (
        any::<u32>(),
        proptest::option::of(side()),
        any::<i64>(),
        any::<u64>(),
        ts.clone(),
    )
        .prop_map(|(i, aggressor, p, id, (ts_event, ts_recv))| {
            JournalRecord::trade(&Trade {
                instrument: InstrumentId(i),
                price: Price::from_ticks(p),
                qty: Qty::from_lots(p / 3),
                aggressor,
                trade_id: id,
                ts_event,
                ts_recv,
            })
        });
    let opaque_kind = prop_oneof![
        Just(RecordKind::OrderAck),
        Just(RecordKind::Fill),
        Just(RecordKind::Reject),
        Just(RecordKind::ParamPush),
        Just(RecordKind::OperatorCommand),
        Just(RecordKind::TimerTick),
    ];
    let opaque = (
        opaque_kind,
        proptest::collection::vec(any::<u8>(), 0..=super::MAX_PAYLOAD_LEN),
        ts,
    )
        .prop_map(|(k, p, (ts_event, ts_recv))| {
            JournalRecord::new(k, ts_recv, ts_event, &p).unwrap()
        });
    prop_oneof![delta, event, trade, opaque]
}

/// A deterministic record for seq-like index `i` (crash and bench loops).
pub fn nth_record(i: u64) -> JournalRecord {
    JournalRecord::book_delta(&BookDelta {
        instrument: InstrumentId(1),
        side: if i % 2 == 0 { Side::Buy } else { Side::Sell },
        price: Price::from_ticks(i as i64),
        qty: Qty::from_lots(1 + (i % 7) as i64),
        sequence: i,
        ts_event: UnixNanos(i),
        ts_recv: UnixNanos(i + 1),
    })
}
