//! Snapshot files: a [`Replayable`](super::replay::Replayable) state at one journal seq, next to the
//! segments, so recovery replays only the tail.
//!
//! `snapshot-<seq:020>.snap`, all integers little-endian:
//!
//! ```text
//! 0        8     10     16      24     32       40       48          64          96      104       104+n
//! +--------+-----+------+-------+------+--------+--------+-----------+-----------+-------+---------+-----------+
//! |PYMMSNAP| fmt | pad  |tag[8] | seq  |last_ts | max_ts | chain[16] |digest[32] |len n  |state (n)|blake3[32] |
//! +--------+-----+------+-------+------+--------+--------+-----------+-----------+-------+---------+-----------+
//! ```
//!
//! - `tag` names the state type (`Replayable::SNAPSHOT_TAG`) so a snapshot of another state machine is
//!   refused; `seq` is the last record applied, `last_ts`/`max_ts` that record's and the largest
//!   `ts_recv` applied (a snapshot serves a stop at time T only if `max_ts <= T`), `chain` the
//!   journal's chain value at `seq` (replay checks the journal still holds that record), `digest` the
//!   state's digest (checked again after `restore`), the trailer a blake3 of everything before it.
//! - Written atomically: `*.snap.tmp`, `fsync`, rename, directory `fsync`. A crash leaves either the
//!   old set of snapshots or the new one, plus maybe a `.tmp` that [`list_snapshots`] ignores.
//! - Reading checks everything and returns a [`SnapshotError`] naming the file; replay skips a bad
//!   snapshot (reported, never silently) and takes the next older one.

use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};

use super::record::{ChainHash, CHAIN_LEN};
use super::segment::sync_dir;
use crate::model::UnixNanos;

/// The first 8 bytes of a snapshot file.
pub const SNAP_MAGIC: [u8; 8] = *b"PYMMSNAP";
/// The snapshot file format this build writes and reads.
pub const SNAP_FORMAT: u16 = 1;
/// Bytes before the state (the state length field included).
pub const SNAP_HEADER_LEN: usize = 104;
const TRAILER: usize = 32;
/// The largest state a snapshot holds (1 GiB).
pub const MAX_STATE_BYTES: u64 = 1 << 30;

const PREFIX: &str = "snapshot-";
const SUFFIX: &str = ".snap";

/// What a snapshot says about itself.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SnapshotMeta {
    /// The state type's tag.
    pub tag: [u8; 8],
    /// The last journal seq applied to the state (0: none).
    pub seq: u64,
    /// `ts_recv` of that record.
    pub last_ts: UnixNanos,
    /// The largest `ts_recv` applied.
    pub max_ts: UnixNanos,
    /// The journal's chain value at `seq`.
    pub chain: ChainHash,
    /// The state's digest.
    pub digest: [u8; 32],
}

/// A snapshot file that cannot be used, and why.
#[derive(Debug, thiserror::Error)]
pub enum SnapshotError {
    /// An operating-system call failed.
    #[error("snapshot: cannot {op} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        op: &'static str,
        /// The file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not a valid snapshot.
    #[error("snapshot {} is invalid: {reason}", path.display())]
    Invalid {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
}

impl SnapshotError {
    fn invalid(path: &Path, reason: impl Into<String>) -> Self {
        SnapshotError::Invalid {
            path: path.to_path_buf(),
            reason: reason.into(),
        }
    }
    fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        SnapshotError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

/// The file name of the snapshot at `seq`.
pub fn snapshot_name(seq: u64) -> String {
    format!("{PREFIX}{seq:020}{SUFFIX}")
}

fn parse_name(name: &str) -> Option<u64> {
    let digits = name.strip_prefix(PREFIX)?.strip_suffix(SUFFIX)?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The snapshot files in `dir`, ascending by seq: `(seq, path)`. Temporaries are ignored.
pub fn list_snapshots(dir: &Path) -> Result<Vec<(u64, PathBuf)>, SnapshotError> {
    let entries = match fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(SnapshotError::io("list", dir, e)),
    };
    let mut out = Vec::new();
    for entry in entries {
        let entry = entry.map_err(|e| SnapshotError::io("list", dir, e))?;
        if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
            out.push((seq, entry.path()));
        }
    }
    out.sort();
    Ok(out)
}

/// Encodes a snapshot file's bytes.
pub fn encode_snapshot(meta: &SnapshotMeta, state: &[u8]) -> Vec<u8> {
    let mut b = Vec::with_capacity(SNAP_HEADER_LEN + state.len() + TRAILER);
    b.extend_from_slice(&SNAP_MAGIC);
    b.extend_from_slice(&SNAP_FORMAT.to_le_bytes());
    b.extend_from_slice(&[0; 6]);
    b.extend_from_slice(&meta.tag);
    b.extend_from_slice(&meta.seq.to_le_bytes());
    b.extend_from_slice(&meta.last_ts.0.to_le_bytes());
    b.extend_from_slice(&meta.max_ts.0.to_le_bytes());
    b.extend_from_slice(&meta.chain);
    b.extend_from_slice(&meta.digest);
    debug_assert_eq!(b.len(), SNAP_HEADER_LEN - 8);
    b.extend_from_slice(&(state.len() as u64).to_le_bytes());
    b.extend_from_slice(state);
    let sum = blake3::hash(&b);
    b.extend_from_slice(sum.as_bytes());
    b
}

/// Writes the snapshot atomically into `dir` (tmp, fsync, rename, directory fsync); returns its path.
pub fn write_snapshot(
    dir: &Path,
    meta: &SnapshotMeta,
    state: &[u8],
) -> Result<PathBuf, SnapshotError> {
    let bytes = encode_snapshot(meta, state);
    let path = dir.join(snapshot_name(meta.seq));
    let tmp = dir.join(format!("{}.tmp", snapshot_name(meta.seq)));
    let mut f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(&tmp)
        .map_err(|e| SnapshotError::io("create", &tmp, e))?;
    f.write_all(&bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| SnapshotError::io("write", &tmp, e))?;
    drop(f);
    fs::rename(&tmp, &path).map_err(|e| SnapshotError::io("rename", &tmp, e))?;
    sync_dir(dir).map_err(|e| SnapshotError::invalid(dir, e.to_string()))?;
    Ok(path)
}

/// Decodes and checks a snapshot file's bytes (`path` for messages and the name check).
pub fn decode_snapshot<'a>(
    path: &Path,
    b: &'a [u8],
    tag: [u8; 8],
) -> Result<(SnapshotMeta, &'a [u8]), SnapshotError> {
    let bad = |r: String| SnapshotError::invalid(path, r);
    if b.len() < SNAP_HEADER_LEN + TRAILER {
        return Err(bad(format!("{} bytes is shorter than a header", b.len())));
    }
    if b[..8] != SNAP_MAGIC {
        return Err(bad("bad magic".into()));
    }
    let u64_at = |o: usize| {
        let mut a = [0; 8];
        a.copy_from_slice(&b[o..o + 8]);
        u64::from_le_bytes(a)
    };
    let (body, sum) = b.split_at(b.len() - TRAILER);
    if blake3::hash(body).as_bytes() != sum {
        return Err(bad("checksum mismatch (damaged or truncated)".into()));
    }
    let fmt = u16::from_le_bytes([b[8], b[9]]);
    if fmt != SNAP_FORMAT {
        return Err(bad(format!("unsupported snapshot format {fmt}")));
    }
    let mut file_tag = [0; 8];
    file_tag.copy_from_slice(&b[16..24]);
    if file_tag != tag {
        return Err(bad(format!(
            "state tag {:?}, expected {:?}",
            String::from_utf8_lossy(&file_tag),
            String::from_utf8_lossy(&tag)
        )));
    }
    let mut chain = [0; CHAIN_LEN];
    chain.copy_from_slice(&b[48..64]);
    let mut digest = [0; 32];
    digest.copy_from_slice(&b[64..96]);
    let meta = SnapshotMeta {
        tag,
        seq: u64_at(24),
        last_ts: UnixNanos(u64_at(32)),
        max_ts: UnixNanos(u64_at(40)),
        chain,
        digest,
    };
    let len = u64_at(SNAP_HEADER_LEN - 8);
    if len > MAX_STATE_BYTES || len as usize != body.len() - SNAP_HEADER_LEN {
        return Err(bad(format!("state length {len} does not match the file")));
    }
    if let Some(name_seq) = path
        .file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_name)
    {
        if name_seq != meta.seq {
            return Err(bad(format!(
                "file name says seq {name_seq}, header says {}",
                meta.seq
            )));
        }
    }
    Ok((meta, &body[SNAP_HEADER_LEN..]))
}

/// Reads and checks the snapshot at `path`; returns its meta and state bytes.
pub fn read_snapshot(path: &Path, tag: [u8; 8]) -> Result<(SnapshotMeta, Vec<u8>), SnapshotError> {
    let b = fs::read(path).map_err(|e| SnapshotError::io("read", path, e))?;
    let (meta, state) = decode_snapshot(path, &b, tag)?;
    Ok((meta, state.to_vec()))
}
