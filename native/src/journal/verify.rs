//! The audit check: walk every segment of a journal, verify framing, crc, seq continuity and the hash
//! chain, and report the first bad record. Read-only (a torn tail is reported, not cut).

use std::path::{Path, PathBuf};

use super::error::BadReason;
use super::reader::{read_segment, step, Cursor, SegmentPos};
use super::record::ChainHash;
use super::segment::list_segments;
use super::JournalError;

/// Where the first problem is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FirstBad {
    /// The seq the chain expects there.
    pub seq: u64,
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in the segment.
    pub offset: u64,
    /// What is wrong.
    pub reason: BadReason,
    /// Whether it is the end of the last segment and could be a torn write (opening the journal for
    /// append would cut it); anything else is corruption.
    pub torn_tail: bool,
}

/// The outcome of [`verify`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Good input records before the first problem (all of them when there is none).
    pub records: u64,
    /// Segment files.
    pub segments: usize,
    /// The first problem, if any.
    pub first_bad: Option<FirstBad>,
    /// The seq of the first input record (the first segment's first seq); `None` when there is none.
    pub first_seq: Option<u64>,
    /// The seq of the last good input record; `None` when there is none.
    pub last_seq: Option<u64>,
    /// The chain value after the last good record: publish it to pin the history.
    pub head_hash: ChainHash,
}

impl VerifyReport {
    /// Whether the whole journal checked out.
    pub fn is_intact(&self) -> bool {
        self.first_bad.is_none()
    }
}

/// Verifies the journal in `dir`. I/O failures are errors; problems in the data are the report's
/// `first_bad`. A missing directory is an error (an empty one is an empty, intact journal).
pub fn verify(dir: &Path) -> Result<VerifyReport, JournalError> {
    if !dir.is_dir() {
        return Err(JournalError::io(
            "verify",
            dir,
            std::io::Error::new(std::io::ErrorKind::NotFound, "not a directory"),
        ));
    }
    let segments = list_segments(dir)?;
    let mut cur = Cursor::new();
    let mut records = 0;
    let mut last_seq = None;
    let mut first_bad = None;
    'segments: for (i, info) in segments.iter().enumerate() {
        let bytes = read_segment(info)?;
        let mut pos = SegmentPos::default();
        loop {
            match step(&bytes, info, &mut pos, &mut cur) {
                Some(Ok(found)) => {
                    records += 1;
                    last_seq = Some(found.record.seq);
                }
                Some(Err(bad)) => {
                    let torn_tail = i + 1 == segments.len()
                        && bad.reason.could_be_torn_write()
                        && !super::reader::valid_frame_after(&bytes, bad.offset as usize + 1);
                    first_bad = Some(FirstBad {
                        seq: bad.seq,
                        segment: bad.segment,
                        offset: bad.offset,
                        reason: bad.reason,
                        torn_tail,
                    });
                    break 'segments;
                }
                None => break,
            }
        }
    }
    Ok(VerifyReport {
        records,
        segments: segments.len(),
        first_bad,
        first_seq: segments.first().map(|s| s.first_seq),
        last_seq,
        head_hash: cur.chain,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::journal::record::FrameError;
    use crate::journal::testing::{any_record, layout, nth_record, small, write_all, TempDir};
    use crate::journal::FsyncPolicy;
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

        /// Any single flipped byte in a closed journal is reported at the record that holds it.
        #[test]
        fn any_flipped_byte_is_found_at_its_record(
            recs in proptest::collection::vec(any_record(), 1..40),
            seg in 512u64..1500,
            which in any::<prop::sample::Index>(),
            mask in 1u8..=255,
        ) {
            let dir = TempDir::new("prop-flip");
            write_all(dir.path(), small(seg, FsyncPolicy::Never), &recs);
            let lay = layout(dir.path());
            let total: u64 = lay.iter().map(|(_, r, _)| r.end - r.start).sum();
            let mut target = which.index(total as usize) as u64;
            let (path, range, seq) = lay
                .iter()
                .find(|(_, r, _)| {
                    let n = r.end - r.start;
                    if target < n { true } else { target -= n; false }
                })
                .unwrap()
                .clone();
            let pos = (range.start + target) as usize;
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[pos] ^= mask;
            std::fs::write(&path, &bytes).unwrap();

            let report = verify(dir.path()).unwrap();
            let bad = report.first_bad.clone().expect("a flipped byte must be found");
            prop_assert_eq!(&bad.segment, &path);
            prop_assert_eq!(bad.offset, range.start, "{:?} (flipped byte {})", bad, pos);
            prop_assert_eq!(bad.seq, seq);
            prop_assert_eq!(report.records, seq - 1);
        }
    }

    #[test]
    fn intact_journal_reports_head_and_counts() {
        let dir = TempDir::new("v-ok");
        write_all(
            dir.path(),
            small(1024, FsyncPolicy::Never),
            &(0..50).map(nth_record).collect::<Vec<_>>(),
        );
        let r = verify(dir.path()).unwrap();
        assert!(r.is_intact());
        assert_eq!(
            (r.records, r.first_seq, r.last_seq),
            (50, Some(1), Some(50))
        );
        assert!(r.segments > 1);
        assert_ne!(r.head_hash, crate::journal::GENESIS);
    }

    #[test]
    fn removed_middle_segment_breaks_the_chain() {
        let dir = TempDir::new("v-gap");
        write_all(
            dir.path(),
            small(600, FsyncPolicy::Never),
            &(0..60).map(nth_record).collect::<Vec<_>>(),
        );
        let segs = crate::journal::segment::list_segments(dir.path()).unwrap();
        assert!(segs.len() >= 3);
        std::fs::remove_file(&segs[1].path).unwrap();
        let bad = verify(dir.path()).unwrap().first_bad.unwrap();
        assert_eq!(bad.segment, segs[2].path);
        assert_eq!(bad.offset, 8);
        assert!(matches!(bad.reason, BadReason::SeqMismatch { .. }));
        assert!(!bad.torn_tail);
    }

    #[test]
    fn archived_front_segments_leave_an_anchored_journal() {
        let dir = TempDir::new("v-archived");
        write_all(
            dir.path(),
            small(600, FsyncPolicy::Never),
            &(0..60).map(nth_record).collect::<Vec<_>>(),
        );
        let full = verify(dir.path()).unwrap();
        let segs = crate::journal::segment::list_segments(dir.path()).unwrap();
        std::fs::remove_file(&segs[0].path).unwrap();
        let r = verify(dir.path()).unwrap();
        assert!(r.is_intact(), "{r:?}");
        assert_eq!(r.first_seq, Some(segs[1].first_seq));
        assert_eq!((r.last_seq, r.head_hash), (Some(60), full.head_hash));
    }

    #[test]
    fn a_renamed_segment_is_caught() {
        let dir = TempDir::new("v-rename");
        write_all(
            dir.path(),
            small(600, FsyncPolicy::Never),
            &(0..30).map(nth_record).collect::<Vec<_>>(),
        );
        let segs = crate::journal::segment::list_segments(dir.path()).unwrap();
        let last = segs.last().unwrap();
        let renamed = dir
            .path()
            .join(crate::journal::segment::segment_name(last.first_seq + 1));
        std::fs::rename(&last.path, &renamed).unwrap();
        let bad = verify(dir.path()).unwrap().first_bad.unwrap();
        assert_eq!((bad.segment, bad.offset), (renamed, 8));
        assert!(matches!(bad.reason, BadReason::SegmentNameMismatch { .. }));
    }

    #[test]
    fn empty_and_missing_directories() {
        let dir = TempDir::new("v-empty");
        let r = verify(dir.path()).unwrap();
        assert!(r.is_intact());
        assert_eq!((r.records, r.segments, r.last_seq), (0, 0, None));
        assert!(verify(&dir.path().join("nope")).is_err());
    }

    #[test]
    fn torn_tail_is_reported_as_such() {
        let dir = TempDir::new("v-torn");
        write_all(
            dir.path(),
            small(4096, FsyncPolicy::Never),
            &(0..3).map(nth_record).collect::<Vec<_>>(),
        );
        let (path, range, seq) = layout(dir.path()).last().unwrap().clone();
        let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
        f.set_len(range.end - 3).unwrap();
        let bad = verify(dir.path()).unwrap().first_bad.unwrap();
        assert_eq!(
            (bad.offset, bad.seq, bad.torn_tail),
            (range.start, seq, true)
        );
        assert!(matches!(
            bad.reason,
            BadReason::Frame(FrameError::Truncated { .. })
        ));
    }
}
