//! Segment files: `journal-<first_seq:020>.seg`, each opening with an 8-byte magic and a
//! [`RecordKind::SegmentHeader`] record; rollover by size; the fsync policy.
//!
//! A new segment is written under a `.tmp` name, synced, renamed into place and the directory synced,
//! so a segment file that exists always has a whole header. Runs on the writer thread only.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use super::record::{encode_frame, ChainHash, SegmentHeaderPayload};
use super::JournalError;
use crate::model::UnixNanos;

/// The first 8 bytes of every segment file.
pub const MAGIC: [u8; 8] = *b"PYMMJRNL";
/// The journal format version this build writes and reads.
pub const FORMAT_VERSION: u16 = 1;
/// Smallest allowed segment size (a header and a few records).
pub const MIN_SEGMENT_BYTES: u64 = 512;
/// Largest allowed segment size (readers load one segment at a time).
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

const PREFIX: &str = "journal-";
const SUFFIX: &str = ".seg";
const TMP_SUFFIX: &str = ".seg.tmp";

/// When the writer thread calls `fdatasync` on the open segment. Whatever the policy, a segment is
/// synced when rollover closes it and at clean shutdown, and a new segment's header is synced before
/// the segment is renamed into place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FsyncPolicy {
    /// Only at rollover and shutdown (a process crash loses nothing written; a power loss may).
    Never,
    /// After at least this many records since the last sync.
    EveryN(u32),
    /// When this much time has passed since the last sync and something is unsynced.
    EveryMs(u32),
    /// After every write batch (group commit): `durable_seq` trails `written_seq` by one batch at most.
    Always,
}

impl Default for FsyncPolicy {
    fn default() -> Self {
        FsyncPolicy::EveryMs(10)
    }
}

impl FsyncPolicy {
    /// The interval of `EveryMs`.
    pub fn interval(self) -> Option<Duration> {
        match self {
            FsyncPolicy::EveryMs(ms) => Some(Duration::from_millis(u64::from(ms))),
            _ => None,
        }
    }
}

impl std::fmt::Display for FsyncPolicy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FsyncPolicy::Never => f.write_str("never"),
            FsyncPolicy::EveryN(n) => write!(f, "every_n:{n}"),
            FsyncPolicy::EveryMs(ms) => write!(f, "every_ms:{ms}"),
            FsyncPolicy::Always => f.write_str("always"),
        }
    }
}

impl FromStr for FsyncPolicy {
    type Err = JournalError;

    /// `never`, `always`, `every_n:<records>`, `every_ms:<milliseconds>` (counts ≥ 1).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || JournalError::Config {
            reason: format!(
                "fsync policy {s:?}: expected never, always, every_n:<records> or every_ms:<ms>"
            ),
        };
        let count = |v: &str| match v.parse::<u32>() {
            Ok(n) if n >= 1 => Ok(n),
            _ => Err(bad()),
        };
        match s.split_once(':') {
            None if s == "never" => Ok(FsyncPolicy::Never),
            None if s == "always" => Ok(FsyncPolicy::Always),
            Some(("every_n", v)) => Ok(FsyncPolicy::EveryN(count(v)?)),
            Some(("every_ms", v)) => Ok(FsyncPolicy::EveryMs(count(v)?)),
            _ => Err(bad()),
        }
    }
}

/// A segment file in a journal directory.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SegmentInfo {
    /// Its path.
    pub path: PathBuf,
    /// The first seq, from the file name.
    pub first_seq: u64,
}

/// The file name of the segment starting at `first_seq`.
pub fn segment_name(first_seq: u64) -> String {
    format!("{PREFIX}{first_seq:020}{SUFFIX}")
}

/// The first seq a segment file name carries, if it is one.
pub fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The segments of `dir` in seq order (other files are ignored). A missing directory has none.
pub fn list_segments(dir: &Path) -> Result<Vec<SegmentInfo>, JournalError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(JournalError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list", dir, e))?;
        let name = entry.file_name();
        if let Some(first_seq) = name.to_str().and_then(parse_segment_name) {
            out.push(SegmentInfo {
                path: entry.path(),
                first_seq,
            });
        }
    }
    out.sort_by_key(|s| s.first_seq);
    Ok(out)
}

/// Removes leftovers of a segment creation that did not finish (`*.seg.tmp`); returns how many.
pub fn remove_temporaries(dir: &Path) -> Result<usize, JournalError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(0),
        Err(e) => return Err(JournalError::io("list", dir, e)),
    };
    let mut n = 0;
    for entry in entries {
        let entry = entry.map_err(|e| JournalError::io("list", dir, e))?;
        let is_tmp = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(PREFIX) && n.ends_with(TMP_SUFFIX));
        if is_tmp {
            let p = entry.path();
            fs::remove_file(&p).map_err(|e| JournalError::io("remove", &p, e))?;
            n += 1;
        }
    }
    Ok(n)
}

/// Makes directory entry changes (create, rename, remove) in `dir` durable.
pub fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| JournalError::io("sync directory", dir, e))
}

/// The open segment the writer appends to.
#[derive(Debug)]
pub struct SegmentFile {
    file: File,
    path: PathBuf,
    /// Bytes in the file, including those the caller has not written yet but counted with [`Self::reserve`].
    len: u64,
    /// Records (excluding the header) in the segment.
    records: u64,
}

impl SegmentFile {
    /// Creates the segment starting at `first_seq` whose header carries `prev_chain`; returns it and
    /// the chain value after its header record. Durable on return (file and directory synced).
    pub fn create(
        dir: &Path,
        first_seq: u64,
        prev_chain: &ChainHash,
        ts: UnixNanos,
        scratch: &mut Vec<u8>,
    ) -> Result<(Self, ChainHash), JournalError> {
        let path = dir.join(segment_name(first_seq));
        let tmp = dir.join(format!("{PREFIX}{first_seq:020}{TMP_SUFFIX}"));
        scratch.clear();
        scratch.extend_from_slice(&MAGIC);
        let header = SegmentHeaderPayload {
            format_version: FORMAT_VERSION,
            first_seq,
            prev_chain: *prev_chain,
        };
        let chain = encode_frame(scratch, &header.to_record(ts), prev_chain);
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| JournalError::io("create", &tmp, e))?;
        file.write_all(scratch)
            .and_then(|()| file.sync_all())
            .map_err(|e| JournalError::io("write", &tmp, e))?;
        fs::rename(&tmp, &path).map_err(|e| JournalError::io("rename", &tmp, e))?;
        sync_dir(dir)?;
        let len = scratch.len() as u64;
        scratch.clear();
        Ok((
            Self {
                file,
                path,
                len,
                records: 0,
            },
            chain,
        ))
    }

    /// Opens an existing segment for appending at `len` (recovery has truncated it to that length).
    pub fn open_append(path: &Path, len: u64, records: u64) -> Result<Self, JournalError> {
        let file = OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(|e| JournalError::io("open", path, e))?;
        Ok(Self {
            file,
            path: path.to_path_buf(),
            len,
            records,
        })
    }

    /// Whether a record of `bytes` would push the segment past `limit` (never for an empty segment).
    pub fn is_full_for(&self, bytes: usize, limit: u64) -> bool {
        self.records > 0 && self.len + bytes as u64 > limit
    }

    /// Counts one more record of `bytes` that the caller will write with [`Self::write`].
    pub fn reserve(&mut self, bytes: usize) {
        self.len += bytes as u64;
        self.records += 1;
    }

    /// Appends `buf` (records already counted with [`Self::reserve`]).
    pub fn write(&mut self, buf: &[u8]) -> Result<(), JournalError> {
        self.file
            .write_all(buf)
            .map_err(|e| JournalError::io("write", &self.path, e))
    }

    /// `fdatasync`.
    pub fn sync(&mut self) -> Result<(), JournalError> {
        self.file
            .sync_data()
            .map_err(|e| JournalError::io("sync", &self.path, e))
    }

    /// Bytes in the segment, counting records reserved but not yet written.
    pub fn bytes(&self) -> u64 {
        self.len
    }

    /// The segment's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_sort() {
        assert_eq!(segment_name(1), "journal-00000000000000000001.seg");
        assert_eq!(parse_segment_name(&segment_name(u64::MAX)), Some(u64::MAX));
        assert_eq!(parse_segment_name("journal-1.seg"), None);
        assert_eq!(
            parse_segment_name("journal-00000000000000000001.seg.tmp"),
            None
        );
    }

    #[test]
    fn fsync_policy_parses_and_prints() {
        for p in [
            FsyncPolicy::Never,
            FsyncPolicy::Always,
            FsyncPolicy::EveryN(100),
            FsyncPolicy::EveryMs(5),
        ] {
            assert_eq!(p.to_string().parse::<FsyncPolicy>().unwrap(), p);
        }
        for bad in ["", "sometimes", "every_n:0", "every_ms:x", "every_n"] {
            assert!(bad.parse::<FsyncPolicy>().is_err(), "{bad}");
        }
    }
}
