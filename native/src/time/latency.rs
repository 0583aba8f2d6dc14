//! Per-stage latency histograms: recorded on hot threads without locks or allocation, read and
//! exported (percentile tables, HdrHistogram interval logs) by a metrics thread.
//!
//! # Design
//! Each stage has one shared block of `AtomicU64` counters laid out exactly like an
//! `hdrhistogram::Histogram<u64>` with the same bounds (lowest 1 ns, `highest_ns`, `sigfig`). The hot
//! thread owns the stage's [`LatencyRecorder`] (one writer per stage, enforced by `&mut self` and no
//! `Clone`): a record is an index computation (a `leading_zeros`, two shifts), then a `Relaxed` load
//! and store of one counter — no `lock` prefix, because nobody else writes it. Readers
//! ([`LatencyTracker`]) load the counters (`Relaxed`) and rebuild an `hdrhistogram::Histogram` with
//! `record_n`, off the hot thread; each counter only grows, so an interval is the difference to the
//! previous read, and the writer never has to reset anything.
//!
//! The alternative, a hot-thread-owned `Histogram` swapped with a spare one on request (the Java
//! `Recorder` design), needs a handshake on the hot thread and a phaser on the reader; the atomic
//! layout needs neither, costs one cache line touched per record, and lets any number of readers
//! look at any time. Its price: a read is not an instantaneous snapshot across buckets (a record
//! landing during the copy shows up in this read or the next, never twice, never lost), and the
//! memory is fixed up front (sigfig 3, 1 ns to 60 s: 27 648 counters, 216 KiB per stage).
//!
//! A value above `highest_ns` is recorded as `highest_ns` and counted in `clamped`; the recorder
//! never fails and never allocates after construction (`native/tests/time_no_alloc.rs` proves it
//! under a counting allocator).
//!
//! Thread roles: the recorder lives on a hot thread (feed, quoter, gateway); the tracker on the
//! metrics/journal thread or in Python. Must never: lock or allocate on `record`, or let two threads
//! record into one stage.

use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;
use hdrhistogram::Histogram;

use crate::model::UnixNanos;

/// Why a tracker could not be built or exported.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LatencyError {
    /// The bounds are not ones an HdrHistogram accepts.
    #[error("invalid histogram bounds: highest {highest_ns} ns, {sigfig} significant figures ({reason})")]
    InvalidBounds {
        /// Requested highest value.
        highest_ns: u64,
        /// Requested precision.
        sigfig: u8,
        /// What is wrong.
        reason: &'static str,
    },
    /// A stage name is empty, contains characters an `.hlog` tag cannot hold, or repeats.
    #[error("invalid stage name {name:?}: {reason}")]
    InvalidStage {
        /// The offending name.
        name: String,
        /// What is wrong.
        reason: &'static str,
    },
    /// No stage has this name or index.
    #[error("unknown stage {0:?}")]
    UnknownStage(String),
    /// This stage's recorder was already handed out (one writer per stage).
    #[error("the recorder of stage {0:?} was already taken")]
    RecorderTaken(String),
    /// Serialising a histogram failed.
    #[error("cannot export histogram: {0}")]
    Export(String),
}

/// Bounds shared by every stage of a tracker.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LatencyConfig {
    /// Largest value tracked exactly; larger values are clamped to it and counted.
    pub highest_ns: u64,
    /// Significant decimal digits kept (0-5); 3 means ±0.1 %.
    pub sigfig: u8,
}

impl Default for LatencyConfig {
    fn default() -> Self {
        Self {
            highest_ns: 60_000_000_000,
            sigfig: 3,
        }
    }
}

/// The HdrHistogram bucket layout for lowest discernible value 1 (so `unit_magnitude` = 0). Mirrors
/// `hdrhistogram::Histogram::{index_for, value_for}`; a test checks the two agree.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Layout {
    highest: u64,
    sigfig: u8,
    sub_bucket_half_count_magnitude: u32,
    sub_bucket_half_count: u64,
    sub_bucket_mask: u64,
    leading_zero_count_base: u32,
    len: usize,
}

impl Layout {
    fn new(cfg: LatencyConfig) -> Result<Self, LatencyError> {
        let bad = |reason| LatencyError::InvalidBounds {
            highest_ns: cfg.highest_ns,
            sigfig: cfg.sigfig,
            reason,
        };
        // The reference implementation validates the same way; use it as the oracle for `len`.
        let reference = Histogram::<u64>::new_with_bounds(1, cfg.highest_ns, cfg.sigfig)
            .map_err(|_| bad("rejected by hdrhistogram (need highest >= 2, sigfig <= 5)"))?;
        if cfg.highest_ns > u64::MAX / 4 {
            return Err(bad("highest must be below 2^62"));
        }
        let largest_single_unit = 2 * 10u64.pow(u32::from(cfg.sigfig));
        let sub_bucket_count_magnitude = 64 - (largest_single_unit - 1).leading_zeros(); // ceil(log2)
        let sub_bucket_half_count_magnitude = sub_bucket_count_magnitude.max(1) - 1;
        let sub_bucket_count = 1u64 << (sub_bucket_half_count_magnitude + 1);
        let sub_bucket_half_count = sub_bucket_count / 2;
        let layout = Self {
            highest: cfg.highest_ns,
            sigfig: cfg.sigfig,
            sub_bucket_half_count_magnitude,
            sub_bucket_half_count,
            sub_bucket_mask: sub_bucket_count - 1,
            leading_zero_count_base: 64 - sub_bucket_half_count_magnitude - 1,
            len: reference.distinct_values(),
        };
        if layout.index_for(cfg.highest_ns) >= layout.len {
            return Err(bad("layout disagrees with hdrhistogram"));
        }
        Ok(layout)
    }

    /// Counter index of `value` (≤ `highest`).
    #[inline(always)]
    fn index_for(&self, value: u64) -> usize {
        let bucket = self.leading_zero_count_base - (value | self.sub_bucket_mask).leading_zeros();
        let sub_bucket = value >> bucket;
        (((u64::from(bucket) + 1) << self.sub_bucket_half_count_magnitude) + sub_bucket
            - self.sub_bucket_half_count) as usize
    }

    /// Lowest value that lands in counter `index`.
    fn value_for(&self, index: usize) -> u64 {
        let index = index as u64;
        let mut bucket = (index >> self.sub_bucket_half_count_magnitude) as i64 - 1;
        let mut sub_bucket =
            (index & (self.sub_bucket_half_count - 1)) + self.sub_bucket_half_count;
        if bucket < 0 {
            sub_bucket -= self.sub_bucket_half_count;
            bucket = 0;
        }
        sub_bucket << bucket
    }

    fn empty_histogram(&self) -> Histogram<u64> {
        // Bounds were validated in `new`; this cannot fail, but fall back rather than panic.
        Histogram::new_with_bounds(1, self.highest, self.sigfig)
            .unwrap_or_else(|_| fallback_histogram())
    }
}

#[cold]
fn fallback_histogram() -> Histogram<u64> {
    // Infallible: sigfig 3 is always in hdrhistogram's accepted range [0, 5].
    Histogram::new(3).unwrap()
}

/// The counters one stage shares between its recorder and its readers.
#[derive(Debug)]
struct StageCounts {
    layout: Layout,
    counts: Box<[AtomicU64]>,
    clamped: AtomicU64,
}

/// The write end of one stage. Owned by exactly one thread; `Send`, not `Clone`.
#[derive(Debug)]
pub struct LatencyRecorder {
    shared: Arc<StageCounts>,
    stage: usize,
}

impl LatencyRecorder {
    /// Records one latency in nanoseconds. Values above the tracker's `highest_ns` are recorded as
    /// `highest_ns` and counted as clamped.
    ///
    /// # Hot path
    /// The owning thread. No lock, no allocation, no syscall, no atomic read-modify-write: one
    /// `leading_zeros`, two shifts, one relaxed load and store.
    #[inline]
    pub fn record(&mut self, ns: u64) {
        let s = &*self.shared;
        let v = if ns > s.layout.highest {
            bump(&s.clamped);
            s.layout.highest
        } else {
            ns
        };
        if let Some(c) = s.counts.get(s.layout.index_for(v)) {
            bump(c);
        }
    }

    /// Records the time from `start` to `end` (0 if `end` is earlier).
    #[inline]
    pub fn record_between(&mut self, start: u64, end: u64) {
        self.record(end.saturating_sub(start));
    }

    /// Index of the stage this recorder writes, in the tracker's order.
    #[must_use]
    pub const fn stage(&self) -> usize {
        self.stage
    }
}

/// Single-writer increment: the only writer of `c` is the thread holding `&mut LatencyRecorder`,
/// so a load and a store cannot lose an update; readers see either value.
#[inline(always)]
fn bump(c: &AtomicU64) {
    c.store(c.load(Ordering::Relaxed).wrapping_add(1), Ordering::Relaxed);
}

/// The percentiles reported for a stage.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct PercentileTable {
    /// Values recorded.
    pub count: u64,
    /// Smallest value (bucket-equivalent), 0 when empty.
    pub min: u64,
    /// Mean of the recorded values.
    pub mean: f64,
    /// 50th percentile.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// 99.9th percentile.
    pub p999: u64,
    /// 99.99th percentile.
    pub p9999: u64,
    /// Largest value (bucket-equivalent).
    pub max: u64,
    /// Values above `highest_ns`, recorded as `highest_ns`.
    pub clamped: u64,
}

impl PercentileTable {
    /// Reads the table off a histogram.
    #[must_use]
    pub fn from_histogram(h: &Histogram<u64>, clamped: u64) -> Self {
        if h.is_empty() {
            return Self {
                clamped,
                ..Self::default()
            };
        }
        Self {
            count: h.len(),
            min: h.min(),
            mean: h.mean(),
            p50: h.value_at_quantile(0.50),
            p90: h.value_at_quantile(0.90),
            p99: h.value_at_quantile(0.99),
            p999: h.value_at_quantile(0.999),
            p9999: h.value_at_quantile(0.9999),
            max: h.max(),
            clamped,
        }
    }

    /// `(label, value)` rows in a fixed order: `p50 p90 p99 p99.9 p99.99 max`.
    #[must_use]
    pub fn rows(&self) -> [(&'static str, u64); 6] {
        [
            ("p50", self.p50),
            ("p90", self.p90),
            ("p99", self.p99),
            ("p99.9", self.p999),
            ("p99.99", self.p9999),
            ("max", self.max),
        ]
    }
}

#[derive(Debug)]
struct StageReader {
    name: String,
    shared: Arc<StageCounts>,
    /// Counter values at the end of the previous interval.
    last: Box<[u64]>,
    last_clamped: u64,
    recorder: Option<LatencyRecorder>,
}

impl StageReader {
    fn read(&self, since: Option<&[u64]>) -> (Histogram<u64>, Box<[u64]>) {
        let layout = self.shared.layout;
        let mut h = layout.empty_histogram();
        let now: Box<[u64]> = self
            .shared
            .counts
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .collect();
        for (i, &n) in now.iter().enumerate() {
            let prev = since.map_or(0, |s| s[i]);
            let d = n.wrapping_sub(prev);
            if d != 0 {
                // In range by construction (value_for(i) <= highest for every i < len).
                let _ = h.record_n(layout.value_for(i), d);
            }
        }
        (h, now)
    }
}

/// The read side of a set of stages: snapshots, percentile tables, interval logs.
#[derive(Debug)]
pub struct LatencyTracker {
    config: LatencyConfig,
    stages: Vec<StageReader>,
    /// When the tracker (and its log) started; the `.hlog` BaseTime.
    start: UnixNanos,
    /// End of the last interval written to the log.
    interval_start: UnixNanos,
    log: Vec<u8>,
}

impl LatencyTracker {
    /// A tracker for `stages` (names: non-empty, no whitespace or `,`), starting at `start` (realtime,
    /// from [`super::Clock::now`]). Allocates all counters here. Take each stage's recorder with
    /// [`LatencyTracker::take_recorder`] and move it to its thread.
    pub fn new<S: AsRef<str>>(
        config: LatencyConfig,
        stages: &[S],
        start: UnixNanos,
    ) -> Result<Self, LatencyError> {
        let layout = Layout::new(config)?;
        let mut readers: Vec<StageReader> = Vec::with_capacity(stages.len());
        for (i, name) in stages.iter().enumerate() {
            let name = name.as_ref();
            if name.is_empty() || Tag::new(name).is_none() || name.contains(char::is_whitespace) {
                return Err(LatencyError::InvalidStage {
                    name: name.to_owned(),
                    reason: "must be non-empty, without whitespace or ','",
                });
            }
            if readers.iter().any(|r| r.name == name) {
                return Err(LatencyError::InvalidStage {
                    name: name.to_owned(),
                    reason: "duplicate",
                });
            }
            let shared = Arc::new(StageCounts {
                layout,
                counts: (0..layout.len).map(|_| AtomicU64::new(0)).collect(),
                clamped: AtomicU64::new(0),
            });
            readers.push(StageReader {
                name: name.to_owned(),
                recorder: Some(LatencyRecorder {
                    shared: Arc::clone(&shared),
                    stage: i,
                }),
                shared,
                last: vec![0; layout.len].into_boxed_slice(),
                last_clamped: 0,
            });
        }
        let mut log = Vec::new();
        write_log_header(&mut log, start)?;
        Ok(Self {
            config,
            stages: readers,
            start,
            interval_start: start,
            log,
        })
    }

    /// The bounds every stage uses.
    #[must_use]
    pub const fn config(&self) -> LatencyConfig {
        self.config
    }

    /// Stage names in index order.
    pub fn stage_names(&self) -> impl Iterator<Item = &str> {
        self.stages.iter().map(|s| s.name.as_str())
    }

    /// Index of a stage by name.
    pub fn stage_index(&self, name: &str) -> Result<usize, LatencyError> {
        self.stages
            .iter()
            .position(|s| s.name == name)
            .ok_or_else(|| LatencyError::UnknownStage(name.to_owned()))
    }

    fn stage(&self, idx: usize) -> Result<&StageReader, LatencyError> {
        self.stages
            .get(idx)
            .ok_or_else(|| LatencyError::UnknownStage(idx.to_string()))
    }

    /// Hands out the recorder of stage `idx`, once.
    pub fn take_recorder(&mut self, idx: usize) -> Result<LatencyRecorder, LatencyError> {
        let s = self
            .stages
            .get_mut(idx)
            .ok_or_else(|| LatencyError::UnknownStage(idx.to_string()))?;
        s.recorder
            .take()
            .ok_or_else(|| LatencyError::RecorderTaken(s.name.clone()))
    }

    /// Everything stage `idx` recorded since construction.
    pub fn snapshot(&self, idx: usize) -> Result<Histogram<u64>, LatencyError> {
        Ok(self.stage(idx)?.read(None).0)
    }

    /// Values of stage `idx` clamped to `highest_ns` since construction.
    pub fn clamped(&self, idx: usize) -> Result<u64, LatencyError> {
        Ok(self.stage(idx)?.shared.clamped.load(Ordering::Relaxed))
    }

    /// Percentiles of everything stage `idx` recorded since construction.
    pub fn percentiles(&self, idx: usize) -> Result<PercentileTable, LatencyError> {
        let s = self.stage(idx)?;
        Ok(PercentileTable::from_histogram(
            &s.read(None).0,
            s.shared.clamped.load(Ordering::Relaxed),
        ))
    }

    /// Closes the interval `[previous end, end)`: returns each stage's histogram of the values
    /// recorded in it (with its clamped count) and appends them, tagged with the stage names, to the
    /// interval log.
    pub fn end_interval(
        &mut self,
        end: UnixNanos,
    ) -> Result<Vec<(Histogram<u64>, u64)>, LatencyError> {
        let mut out = Vec::with_capacity(self.stages.len());
        for s in &mut self.stages {
            let (h, now) = s.read(Some(&s.last));
            s.last = now;
            let c = s.shared.clamped.load(Ordering::Relaxed);
            out.push((h, c.wrapping_sub(s.last_clamped)));
            s.last_clamped = c;
        }
        let from = Duration::from_nanos(
            self.interval_start
                .as_u64()
                .saturating_sub(self.start.as_u64()),
        );
        let length =
            Duration::from_nanos(end.as_u64().saturating_sub(self.interval_start.as_u64()));
        let mut serializer = V2DeflateSerializer::new();
        let mut writer = IntervalLogWriterBuilder::new()
            .with_max_value_divisor(1.0)
            .begin_log_with(&mut self.log, &mut serializer)
            .map_err(|e| LatencyError::Export(e.to_string()))?;
        for (s, (h, _)) in self.stages.iter().zip(&out) {
            writer
                .write_histogram(h, from, length, Tag::new(&s.name))
                .map_err(|e| LatencyError::Export(format!("{e:?}")))?;
        }
        self.interval_start = end;
        Ok(out)
    }

    /// The interval log so far (`.hlog` text: header, then one line per stage per interval, each a
    /// base64 V2-deflate histogram tagged with the stage name). Readable by `HistogramLogProcessor`,
    /// `hdrhistogram`'s `IntervalLogIterator` and Python's `hdrh`.
    #[must_use]
    pub fn hlog(&self) -> &[u8] {
        &self.log
    }

    /// A fixed-width text table of every stage's percentiles since construction, in nanoseconds.
    pub fn percentile_table(&self) -> Result<String, LatencyError> {
        let mut out = String::new();
        out.push_str(&format!(
            "{:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
            "stage", "count", "p50", "p90", "p99", "p99.9", "p99.99", "max", "clamped"
        ));
        for (i, s) in self.stages.iter().enumerate() {
            let t = self.percentiles(i)?;
            out.push_str(&format!(
                "{:<16} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10} {:>10}\n",
                s.name, t.count, t.p50, t.p90, t.p99, t.p999, t.p9999, t.max, t.clamped
            ));
        }
        Ok(out)
    }
}

/// A histogram in the HdrHistogram V2 compressed (deflate) encoding: the bytes whose base64 is one
/// `.hlog` line's payload, and what Java's `encodeIntoCompressedByteBuffer` and Python's
/// `hdrh.histogram.HdrHistogram.decode` (after base64) speak.
pub fn encode_compressed(h: &Histogram<u64>) -> Result<Vec<u8>, LatencyError> {
    use hdrhistogram::serialization::Serializer as _;
    let mut out = Vec::new();
    V2DeflateSerializer::new()
        .serialize(h, &mut out)
        .map_err(|e| LatencyError::Export(format!("{e:?}")))?;
    Ok(out)
}

/// Writes the `.hlog` preamble: a comment, StartTime and BaseTime (both `start`), and the legend the
/// Java `HistogramLogWriter` writes.
fn write_log_header(log: &mut Vec<u8>, start: UnixNanos) -> Result<(), LatencyError> {
    let t = UNIX_EPOCH + Duration::from_nanos(start.as_u64());
    let mut serializer = V2DeflateSerializer::new();
    IntervalLogWriterBuilder::new()
        .add_comment("pymm latency log: one histogram per stage per interval, values in ns")
        .with_start_time(t)
        .with_base_time(t)
        .begin_log_with(log, &mut serializer)
        .map_err(|e| LatencyError::Export(e.to_string()))?;
    writeln!(
        log,
        "\"StartTimestamp\",\"Interval_Length\",\"Interval_Max\",\"Interval_Compressed_Histogram\""
    )
    .map_err(|e| LatencyError::Export(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};
    use hdrhistogram::serialization::Deserializer;
    use proptest::prelude::*;

    const T0: UnixNanos = UnixNanos(1_700_000_000_000_000_000);

    fn tracker(stages: &[&str]) -> LatencyTracker {
        LatencyTracker::new(LatencyConfig::default(), stages, T0).unwrap()
    }

    #[test]
    fn layout_matches_hdrhistogram() {
        for sigfig in 0..=5u8 {
            for highest in [2, 1000, 3_600_000_000_000u64, 60_000_000_000] {
                let cfg = LatencyConfig {
                    highest_ns: highest,
                    sigfig,
                };
                let l = Layout::new(cfg).unwrap();
                let h = Histogram::<u64>::new_with_bounds(1, highest, sigfig).unwrap();
                assert_eq!(l.len, h.distinct_values());
                for v in [
                    0,
                    1,
                    2,
                    3,
                    127,
                    128,
                    2047,
                    2048,
                    2049,
                    4095,
                    4096,
                    1 << 20,
                    highest / 2,
                    highest,
                ] {
                    if v > highest {
                        continue;
                    }
                    let i = l.index_for(v);
                    assert!(i < l.len);
                    // The bucket's lowest value is hdrhistogram's lowest equivalent of v.
                    assert_eq!(
                        l.value_for(i),
                        h.lowest_equivalent(v),
                        "sigfig {sigfig} v {v}"
                    );
                }
            }
        }
    }

    #[test]
    fn default_layout_size_is_as_documented() {
        let l = Layout::new(LatencyConfig::default()).unwrap();
        assert_eq!(l.len, 27_648);
    }

    proptest! {
        /// Recording through the atomic layout and rebuilding gives exactly the histogram that
        /// recording straight into hdrhistogram gives.
        #[test]
        fn rebuilt_histogram_equals_direct_recording(values in proptest::collection::vec(0u64..100_000_000_000, 0..400)) {
            let mut t = tracker(&["s"]);
            let mut r = t.take_recorder(0).unwrap();
            let mut direct = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).unwrap();
            for &v in &values {
                r.record(v);
                direct.record(v.min(60_000_000_000)).unwrap();
            }
            let got = t.snapshot(0).unwrap();
            prop_assert!(got == direct);
            let clamped = values.iter().filter(|&&v| v > 60_000_000_000).count() as u64;
            prop_assert_eq!(t.clamped(0).unwrap(), clamped);
        }
    }

    #[test]
    fn percentiles_of_a_known_distribution() {
        let mut t = tracker(&["decode", "quote"]);
        let mut r = t.take_recorder(1).unwrap();
        for v in 1..=10_000u64 {
            r.record(v * 100); // 100 ns .. 1 ms uniformly
        }
        let p = t.percentiles(1).unwrap();
        assert_eq!(p.count, 10_000);
        // ±0.1 % (sigfig 3) around the exact quantiles.
        let near = |got: u64, want: u64| got.abs_diff(want) * 1000 <= want;
        assert!(near(p.p50, 500_000), "{p:?}");
        assert!(near(p.p90, 900_000), "{p:?}");
        assert!(near(p.p99, 990_000), "{p:?}");
        assert!(near(p.p999, 999_000), "{p:?}");
        assert!(near(p.max, 1_000_000), "{p:?}");
        assert_eq!(p.min, 100);
        assert_eq!(t.percentiles(0).unwrap(), PercentileTable::default());
        let table = t.percentile_table().unwrap();
        assert!(
            table.lines().nth(2).unwrap().starts_with("quote"),
            "{table}"
        );
    }

    #[test]
    fn recorder_is_handed_out_once_and_names_are_checked() {
        let mut t = tracker(&["a", "b"]);
        assert!(t.take_recorder(0).is_ok());
        assert_eq!(
            t.take_recorder(0).unwrap_err(),
            LatencyError::RecorderTaken("a".into())
        );
        assert!(matches!(
            t.take_recorder(2),
            Err(LatencyError::UnknownStage(_))
        ));
        assert_eq!(t.stage_index("b").unwrap(), 1);
        for bad in ["", "a b", "a,b"] {
            assert!(matches!(
                LatencyTracker::new(LatencyConfig::default(), &[bad], T0),
                Err(LatencyError::InvalidStage { .. })
            ));
        }
        assert!(matches!(
            LatencyTracker::new(LatencyConfig::default(), &["x", "x"], T0),
            Err(LatencyError::InvalidStage {
                reason: "duplicate",
                ..
            })
        ));
        assert!(matches!(
            LatencyTracker::new(
                LatencyConfig {
                    highest_ns: 1,
                    sigfig: 3
                },
                &["x"],
                T0
            ),
            Err(LatencyError::InvalidBounds { .. })
        ));
    }

    #[test]
    fn intervals_hold_only_their_own_values_and_round_trip_through_the_log() {
        let mut t = tracker(&["rx", "tx"]);
        let mut rx = t.take_recorder(0).unwrap();
        let mut tx = t.take_recorder(1).unwrap();
        for v in 0..100 {
            rx.record(1_000 + v);
        }
        tx.record(70_000_000_000); // clamped
        let first = t
            .end_interval(UnixNanos(T0.as_u64() + 1_000_000_000))
            .unwrap();
        assert_eq!(first[0].0.len(), 100);
        assert_eq!((first[1].0.len(), first[1].1), (1, 1));
        for _ in 0..5 {
            rx.record(5_000);
        }
        let second = t
            .end_interval(UnixNanos(T0.as_u64() + 2_500_000_000))
            .unwrap();
        assert_eq!(second[0].0.len(), 5);
        assert_eq!(second[0].0.min(), 5_000);
        assert_eq!((second[1].0.len(), second[1].1), (0, 0));
        // Cumulative snapshot still has everything.
        assert_eq!(t.snapshot(0).unwrap().len(), 105);

        let log = t.hlog().to_vec();
        let text = String::from_utf8(log.clone()).unwrap();
        assert!(text.contains("#[BaseTime: 1700000000.000"), "{text}");
        let mut hists = Vec::new();
        for entry in IntervalLogIterator::new(&log) {
            if let LogEntry::Interval(ih) = entry.unwrap() {
                let bytes = base64_decode(ih.encoded_histogram());
                let h: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
                hists.push((
                    ih.tag().map(|t| t.as_str().to_owned()),
                    ih.start_timestamp(),
                    ih.duration(),
                    h.len(),
                ));
            }
        }
        assert_eq!(
            hists,
            vec![
                (
                    Some("rx".into()),
                    Duration::ZERO,
                    Duration::from_secs(1),
                    100
                ),
                (Some("tx".into()), Duration::ZERO, Duration::from_secs(1), 1),
                (
                    Some("rx".into()),
                    Duration::from_secs(1),
                    Duration::from_millis(1500),
                    5
                ),
                (
                    Some("tx".into()),
                    Duration::from_secs(1),
                    Duration::from_millis(1500),
                    0
                ),
            ]
        );
    }

    #[test]
    fn compressed_encoding_round_trips() {
        let mut t = tracker(&["s"]);
        let mut r = t.take_recorder(0).unwrap();
        for v in [1, 10, 100, 1_000, 1_000_000] {
            r.record(v);
        }
        let h = t.snapshot(0).unwrap();
        let bytes = encode_compressed(&h).unwrap();
        let back: Histogram<u64> = Deserializer::new().deserialize(&mut &bytes[..]).unwrap();
        assert!(back == h);
    }

    /// Standard base64 decoding (test-only; the crate's own dependency is private).
    fn base64_decode(s: &str) -> Vec<u8> {
        let val = |c: u8| match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => panic!("bad base64 {c}"),
        };
        let bytes: Vec<u8> = s.bytes().filter(|&c| c != b'=').collect();
        let mut out = Vec::new();
        for chunk in bytes.chunks(4) {
            let mut acc = 0u32;
            for (i, &c) in chunk.iter().enumerate() {
                acc |= u32::from(val(c)) << (18 - 6 * i);
            }
            out.extend_from_slice(&acc.to_be_bytes()[1..chunk.len()]);
        }
        out
    }

    #[test]
    fn a_reader_on_another_thread_sees_every_record() {
        let mut t = tracker(&["hot"]);
        let mut r = t.take_recorder(0).unwrap();
        let writer = std::thread::spawn(move || {
            for i in 0..200_000u64 {
                r.record(i % 5_000);
            }
        });
        let mut seen = 0;
        while seen < 200_000 {
            let n = t.snapshot(0).unwrap().len();
            assert!(n >= seen, "count went back: {seen} -> {n}");
            seen = n;
            if writer.is_finished() {
                break;
            }
        }
        writer.join().unwrap();
        assert_eq!(t.snapshot(0).unwrap().len(), 200_000);
    }
}
