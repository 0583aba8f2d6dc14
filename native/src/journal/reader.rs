//! Reading a journal back: iterate records across segments verifying length, crc, seq and chain
//! ([`JournalReader`]), and recover the append position after a crash ([`open_for_append`]).
//!
//! Off the hot path (tools, recovery at start-up). A segment is loaded whole (segments are at most
//! [`MAX_SEGMENT_BYTES`](super::segment::MAX_SEGMENT_BYTES)). Corruption is an error naming segment,
//! offset and seq; the only thing ever repaired is a torn tail, and only at the end of the last segment.

use std::fs::{self, OpenOptions};
use std::path::{Path, PathBuf};

use super::error::{BadReason, BadRecord};
use super::record::{chain_next, JournalRecord};
use super::record::{parse_frame, ChainHash, Frame, Payload, RecordKind, GENESIS, HEADER_LEN};
use super::segment::{
    list_segments, remove_temporaries, sync_dir, SegmentInfo, FORMAT_VERSION, MAGIC,
};
use super::JournalError;

/// Where a scan of the chain stands.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Cursor {
    /// The seq the next input record must carry.
    pub next_seq: u64,
    /// The chain value after the last good record.
    pub chain: ChainHash,
    /// Whether a segment header was read yet (before it, the first segment's header is the anchor).
    pub anchored: bool,
}

impl Cursor {
    pub(crate) fn new() -> Self {
        Self {
            next_seq: 1,
            chain: GENESIS,
            anchored: false,
        }
    }
}

/// Position inside one segment's bytes.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SegmentPos {
    /// Offset of the next record.
    pub at: usize,
    /// Whether magic and header were read.
    pub header_done: bool,
    /// Input records read in this segment.
    pub records: u64,
}

/// A good input record and where it was found.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Found {
    pub record: JournalRecord,
    pub chain: ChainHash,
    pub offset: u64,
}

/// Reads the next input record of a segment, checking everything; `None` at the segment's end.
pub(crate) fn step(
    bytes: &[u8],
    info: &SegmentInfo,
    pos: &mut SegmentPos,
    cur: &mut Cursor,
) -> Option<Result<Found, BadRecord>> {
    let bad = |offset: usize, seq: u64, reason: BadReason| BadRecord {
        segment: info.path.clone(),
        offset: offset as u64,
        seq,
        reason,
    };
    if !pos.header_done {
        let seq = if cur.anchored {
            cur.next_seq
        } else {
            info.first_seq
        };
        let header_end = match read_header(bytes, info, cur) {
            Ok(end) => end,
            Err(reason) => {
                let offset = if matches!(reason, BadReason::BadMagic) || bytes.len() < MAGIC.len() {
                    0
                } else {
                    MAGIC.len()
                };
                return Some(Err(bad(offset, seq, reason)));
            }
        };
        pos.header_done = true;
        pos.at = header_end;
    }
    if pos.at >= bytes.len() {
        return None;
    }
    let at = pos.at;
    let seq = cur.next_seq;
    let frame = match parse_frame(bytes, at) {
        Ok(f) => f,
        Err(e) => return Some(Err(bad(at, seq, BadReason::Frame(e)))),
    };
    if let Err(reason) = check_input(&frame, cur) {
        return Some(Err(bad(at, seq, reason)));
    }
    cur.chain = frame.chain;
    cur.next_seq += 1;
    pos.at += frame.len;
    pos.records += 1;
    Some(Ok(Found {
        record: frame.record,
        chain: frame.chain,
        offset: at as u64,
    }))
}

/// Checks magic and header record; returns the offset of the first input record.
fn read_header(bytes: &[u8], info: &SegmentInfo, cur: &mut Cursor) -> Result<usize, BadReason> {
    if bytes.len() < MAGIC.len() {
        return Err(BadReason::Frame(super::record::FrameError::Truncated {
            need: MAGIC.len(),
            have: bytes.len(),
        }));
    }
    if bytes[..MAGIC.len()] != MAGIC {
        return Err(BadReason::BadMagic);
    }
    let frame = parse_frame(bytes, MAGIC.len()).map_err(BadReason::Frame)?;
    if frame.record.kind != RecordKind::SegmentHeader {
        return Err(BadReason::MissingSegmentHeader);
    }
    let Payload::SegmentHeader(h) = frame.record.decode().map_err(BadReason::Payload)? else {
        return Err(BadReason::MissingSegmentHeader);
    };
    if h.format_version != FORMAT_VERSION {
        return Err(BadReason::FormatVersion(h.format_version));
    }
    if h.first_seq != info.first_seq {
        return Err(BadReason::SegmentNameMismatch {
            name_seq: info.first_seq,
            header_seq: h.first_seq,
        });
    }
    if frame.record.seq != h.first_seq {
        return Err(BadReason::SeqMismatch {
            expected: h.first_seq,
            found: frame.record.seq,
        });
    }
    if cur.anchored {
        if h.first_seq != cur.next_seq {
            return Err(BadReason::SeqMismatch {
                expected: cur.next_seq,
                found: h.first_seq,
            });
        }
        if h.prev_chain != cur.chain {
            return Err(BadReason::SegmentDiscontinuity);
        }
    } else if (h.first_seq == 1) != (h.prev_chain == GENESIS) {
        // The journal's first segment starts at genesis; a later first segment (earlier ones archived)
        // is anchored on the chain value its header carries.
        return Err(BadReason::SegmentDiscontinuity);
    }
    if chain_next(&h.prev_chain, frame.body) != frame.chain {
        return Err(BadReason::ChainMismatch);
    }
    cur.next_seq = h.first_seq;
    cur.chain = frame.chain;
    cur.anchored = true;
    Ok(MAGIC.len() + frame.len)
}

fn check_input(frame: &Frame<'_>, cur: &Cursor) -> Result<(), BadReason> {
    let rec = &frame.record;
    if rec.kind == RecordKind::SegmentHeader {
        return Err(BadReason::UnexpectedSegmentHeader);
    }
    if rec.seq != cur.next_seq {
        return Err(BadReason::SeqMismatch {
            expected: cur.next_seq,
            found: rec.seq,
        });
    }
    if chain_next(&cur.chain, frame.body) != frame.chain {
        return Err(BadReason::ChainMismatch);
    }
    rec.decode().map_err(BadReason::Payload)?;
    Ok(())
}

/// Whether any offset in `bytes[from..]` holds a complete, crc-valid frame: if so, damage before it
/// is not a torn tail (a crash leaves nothing valid after the record it interrupted).
pub(crate) fn valid_frame_after(bytes: &[u8], from: usize) -> bool {
    (from..bytes.len()).any(|p| {
        // Cheap pre-checks before the crc: a plausible length, kind and zero flags.
        let h = &bytes[p..];
        h.len() >= HEADER_LEN
            && u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize
                <= super::record::MAX_PAYLOAD_LEN
            && RecordKind::from_u16(u16::from_le_bytes([h[4], h[5]])).is_some()
            && h[7] == 0
            && parse_frame(bytes, p).is_ok()
    })
}

pub(crate) fn read_segment(info: &SegmentInfo) -> Result<Vec<u8>, JournalError> {
    fs::read(&info.path).map_err(|e| JournalError::io("read", &info.path, e))
}

/// One input record read back, with where it was found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReadRecord {
    /// The record.
    pub record: JournalRecord,
    /// Its chain value.
    pub chain: ChainHash,
    /// Index into [`JournalReader::segments`].
    pub segment: usize,
    /// Byte offset in the segment.
    pub offset: u64,
}

/// Iterates the input records of a journal directory in seq order, verifying as it goes. The first
/// problem is yielded as an error and ends the iteration; a torn tail is an error here too (only
/// [`open_for_append`] cuts it).
pub struct JournalReader {
    segments: Vec<SegmentInfo>,
    idx: usize,
    bytes: Vec<u8>,
    pos: SegmentPos,
    cur: Cursor,
    loaded: bool,
    done: bool,
}

impl JournalReader {
    /// Opens `dir` for reading (a missing or empty directory reads as an empty journal).
    pub fn open(dir: &Path) -> Result<Self, JournalError> {
        Ok(Self {
            segments: list_segments(dir)?,
            idx: 0,
            bytes: Vec::new(),
            pos: SegmentPos::default(),
            cur: Cursor::new(),
            loaded: false,
            done: false,
        })
    }

    /// Opens `dir` for reading from the segment that holds `seq` on (segments wholly before it are
    /// not read; the first kept segment's header anchors the chain, as for an archived journal).
    /// `seq` 0 reads everything. Used by replay from a snapshot.
    pub fn open_from(dir: &Path, seq: u64) -> Result<Self, JournalError> {
        let mut r = Self::open(dir)?;
        let keep = r
            .segments
            .iter()
            .rposition(|s| s.first_seq <= seq)
            .unwrap_or(0);
        r.segments.drain(..keep);
        Ok(r)
    }

    /// The segment files, in seq order.
    pub fn segments(&self) -> &[SegmentInfo] {
        &self.segments
    }

    /// The chain value after the last record read so far.
    pub fn head(&self) -> ChainHash {
        self.cur.chain
    }
}

impl Iterator for JournalReader {
    type Item = Result<ReadRecord, JournalError>;

    fn next(&mut self) -> Option<Self::Item> {
        while !self.done {
            let Some(info) = self.segments.get(self.idx) else {
                self.done = true;
                return None;
            };
            if !self.loaded {
                match read_segment(info) {
                    Ok(b) => self.bytes = b,
                    Err(e) => {
                        self.done = true;
                        return Some(Err(e));
                    }
                }
                self.pos = SegmentPos::default();
                self.loaded = true;
            }
            match step(&self.bytes, info, &mut self.pos, &mut self.cur) {
                Some(Ok(found)) => {
                    return Some(Ok(ReadRecord {
                        record: found.record,
                        chain: found.chain,
                        segment: self.idx,
                        offset: found.offset,
                    }))
                }
                Some(Err(bad)) => {
                    self.done = true;
                    return Some(Err(bad.into()));
                }
                None => {
                    self.idx += 1;
                    self.loaded = false;
                }
            }
        }
        None
    }
}

/// A torn tail that [`open_for_append`] cut off.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TailCut {
    /// The segment it was in.
    pub segment: PathBuf,
    /// Where the cut was made (the new length of the segment, 0 when it was removed).
    pub offset: u64,
    /// How many bytes were cut.
    pub bytes: u64,
    /// The seq the cut record would have had.
    pub seq: u64,
    /// What was wrong with it.
    pub reason: BadReason,
    /// Whether the whole segment was removed (its header was incomplete).
    pub removed_segment: bool,
}

/// The last segment to append to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AppendSegment {
    /// The segment.
    pub info: SegmentInfo,
    /// Its length after recovery.
    pub len: u64,
    /// Input records in it.
    pub records: u64,
}

/// Where appending resumes, and what recovery had to do.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Recovery {
    /// The seq the next record gets.
    pub next_seq: u64,
    /// The chain value after the last record (the next record's `prev`).
    pub head: ChainHash,
    /// The segment to append to; `None` for an empty journal.
    pub last: Option<AppendSegment>,
    /// Segment files after recovery.
    pub segments: usize,
    /// Input records found.
    pub records: u64,
    /// The torn tail that was cut, if any.
    pub cut: Option<TailCut>,
    /// Left-over `*.seg.tmp` files removed (an interrupted segment creation).
    pub removed_temporaries: usize,
}

/// Prepares `dir` for appending: checks every record, cuts a torn tail off the last segment (a
/// partial or crc-failing record with nothing valid after it), and says where to continue. Any other
/// damage is [`JournalError::Corrupt`] naming segment, offset and seq. Creates `dir` if missing.
pub fn open_for_append(dir: &Path) -> Result<Recovery, JournalError> {
    fs::create_dir_all(dir).map_err(|e| JournalError::io("create", dir, e))?;
    let removed_temporaries = remove_temporaries(dir)?;
    let segments = list_segments(dir)?;
    let mut cur = Cursor::new();
    let mut records = 0;
    let mut last: Option<AppendSegment> = None;
    let mut cut = None;
    let mut kept = segments.len();
    for (i, info) in segments.iter().enumerate() {
        let is_last = i + 1 == segments.len();
        let bytes = read_segment(info)?;
        let mut pos = SegmentPos::default();
        let before = (cur, records);
        let bad = loop {
            match step(&bytes, info, &mut pos, &mut cur) {
                Some(Ok(_)) => records += 1,
                Some(Err(bad)) => break Some(bad),
                None => break None,
            }
        };
        let Some(bad) = bad else {
            last = Some(AppendSegment {
                info: info.clone(),
                len: bytes.len() as u64,
                records: pos.records,
            });
            continue;
        };
        let offset = bad.offset as usize;
        let torn = is_last
            && bad.reason.could_be_torn_write()
            && !valid_frame_after(&bytes, offset + 1)
            && (pos.header_done || info.first_seq == 1 || last.is_some());
        if !torn {
            return Err(bad.into());
        }
        if pos.header_done {
            let f = OpenOptions::new()
                .write(true)
                .open(&info.path)
                .map_err(|e| JournalError::io("open", &info.path, e))?;
            f.set_len(bad.offset)
                .and_then(|()| f.sync_all())
                .map_err(|e| JournalError::io("truncate", &info.path, e))?;
            last = Some(AppendSegment {
                info: info.clone(),
                len: bad.offset,
                records: pos.records,
            });
            cut = Some(TailCut {
                segment: info.path.clone(),
                offset: bad.offset,
                bytes: (bytes.len() - offset) as u64,
                seq: bad.seq,
                reason: bad.reason,
                removed_segment: false,
            });
        } else {
            // The header itself is incomplete: the segment holds nothing; remove it and resume after
            // the previous one (or from genesis).
            fs::remove_file(&info.path).map_err(|e| JournalError::io("remove", &info.path, e))?;
            sync_dir(dir)?;
            (cur, records) = before;
            kept -= 1;
            cut = Some(TailCut {
                segment: info.path.clone(),
                offset: 0,
                bytes: bytes.len() as u64,
                seq: bad.seq,
                reason: bad.reason,
                removed_segment: true,
            });
        }
    }
    Ok(Recovery {
        next_seq: cur.next_seq,
        head: cur.chain,
        last,
        segments: kept,
        records,
        cut,
        removed_temporaries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::testing::{
        any_record, layout, nth_record, read_all, small, with_seqs, write_all, TempDir,
    };
    use crate::journal::{verify, FsyncPolicy};
    use proptest::prelude::*;

    fn fsync() -> impl Strategy<Value = FsyncPolicy> {
        prop_oneof![
            Just(FsyncPolicy::Never),
            Just(FsyncPolicy::Always),
            (1u32..10).prop_map(FsyncPolicy::EveryN),
            Just(FsyncPolicy::EveryMs(1)),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

        /// Any sequence of records written then read back equals the input.
        #[test]
        fn written_records_read_back_equal(
            recs in proptest::collection::vec(any_record(), 0..120),
            seg in 512u64..3000,
            fsync in fsync(),
        ) {
            let dir = TempDir::new("prop-rt");
            write_all(dir.path(), small(seg, fsync), &recs);
            prop_assert_eq!(read_all(dir.path()), with_seqs(&recs, 1));
            let report = verify(dir.path()).unwrap();
            prop_assert!(report.is_intact());
            prop_assert_eq!(report.records, recs.len() as u64);
        }

        /// Truncating the last segment at any byte is a torn tail: open cuts it back to the last whole
        /// record (removing a segment whose header was cut), and appending continues the chain.
        #[test]
        fn truncated_tail_is_cut_to_last_whole_record(
            n in 1u64..60,
            seg in 512u64..2000,
            cut_at in any::<prop::sample::Index>(),
        ) {
            let dir = TempDir::new("prop-trunc");
            let recs: Vec<_> = (0..n).map(nth_record).collect();
            write_all(dir.path(), small(seg, FsyncPolicy::Never), &recs);
            let lay = layout(dir.path());
            let last_path = lay.last().unwrap().0.clone();
            let len = std::fs::metadata(&last_path).unwrap().len();
            let k = cut_at.index(len as usize) as u64;
            std::fs::OpenOptions::new().write(true).open(&last_path).unwrap().set_len(k).unwrap();

            let header_end = lay.iter().find(|(p, r, _)| *p == last_path && r.start == 8).unwrap().1.end;
            let kept: Vec<u64> = lay.iter()
                .filter(|(p, r, _)| r.start > 8 && (*p != last_path || r.end <= k))
                .map(|(_, _, s)| *s)
                .collect();
            let whole_end = lay.iter()
                .filter(|(p, r, _)| *p == last_path && r.end <= k)
                .map(|(_, r, _)| r.end)
                .max();

            let v = verify(dir.path()).unwrap();
            if k < header_end || Some(k) != whole_end {
                let bad = v.first_bad.clone().expect("truncation must be reported");
                prop_assert!(bad.torn_tail, "{:?}", bad);
            }
            let j = crate::journal::open(dir.path(), small(seg, FsyncPolicy::Never)).unwrap();
            let rec = &j.recovery;
            prop_assert_eq!(rec.next_seq, kept.len() as u64 + 1);
            match &rec.cut {
                None => prop_assert_eq!(Some(k), whole_end),
                Some(cut) => {
                    prop_assert_eq!(cut.removed_segment, k < header_end);
                    if !cut.removed_segment {
                        prop_assert_eq!(Some(cut.offset), whole_end);
                    }
                    prop_assert_eq!(cut.seq, kept.len() as u64 + 1);
                }
            }
            drop(j);
            let got: Vec<u64> = read_all(dir.path()).iter().map(|r| r.seq).collect();
            prop_assert_eq!(&got, &kept);
            // Append more after the cut: the chain continues and verifies.
            write_all(dir.path(), small(seg, FsyncPolicy::Never), &[nth_record(1000), nth_record(1001)]);
            let v = verify(dir.path()).unwrap();
            prop_assert!(v.is_intact(), "{:?}", v);
            prop_assert_eq!(v.records, kept.len() as u64 + 2);
        }
    }

    #[test]
    fn damage_before_the_tail_is_an_error_not_a_cut() {
        let dir = TempDir::new("mid");
        let recs: Vec<_> = (0..20).map(nth_record).collect();
        write_all(dir.path(), small(100_000, FsyncPolicy::Never), &recs);
        let lay = layout(dir.path());
        let (path, range, seq) = lay[5].clone();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[range.start as usize] ^= 0x40; // the length field: the frame now claims 64 more bytes
        std::fs::write(&path, &bytes).unwrap();
        match open_for_append(dir.path()) {
            Err(JournalError::Corrupt(bad)) => {
                assert_eq!((bad.offset, bad.seq), (range.start, seq));
                assert_eq!(bad.segment, path);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        // Nothing was cut.
        assert_eq!(std::fs::read(&path).unwrap(), bytes);
    }

    #[test]
    fn a_flipped_last_record_is_a_torn_tail_but_a_rewritten_one_is_not() {
        let dir = TempDir::new("lastflip");
        let recs: Vec<_> = (0..5).map(nth_record).collect();
        write_all(dir.path(), small(100_000, FsyncPolicy::Never), &recs);
        let (path, range, _) = layout(dir.path()).last().unwrap().clone();
        let clean = std::fs::read(&path).unwrap();

        // A crc failure at the very end: cut.
        let mut bytes = clean.clone();
        bytes[range.start as usize + 40] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        let r = open_for_append(dir.path()).unwrap();
        assert_eq!(r.next_seq, 5);
        assert_eq!(r.cut.unwrap().bytes, range.end - range.start);

        // A crc-valid record with a wrong chain is not explained by a crash: error.
        let mut bytes = clean;
        let end = range.end as usize;
        bytes[end - 1] ^= 1;
        std::fs::write(&path, &bytes).unwrap();
        assert!(matches!(
            open_for_append(dir.path()),
            Err(JournalError::Corrupt(b)) if b.reason == BadReason::ChainMismatch
        ));
    }

    #[test]
    fn leftover_temporary_segments_are_removed() {
        let dir = TempDir::new("tmp");
        write_all(
            dir.path(),
            small(4096, FsyncPolicy::Never),
            &[nth_record(0)],
        );
        std::fs::write(
            dir.path().join("journal-00000000000000000002.seg.tmp"),
            b"PYMM",
        )
        .unwrap();
        let r = open_for_append(dir.path()).unwrap();
        assert_eq!((r.removed_temporaries, r.next_seq), (1, 2));
    }
}
