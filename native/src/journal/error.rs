//! [`JournalError`]: what can go wrong opening, writing, reading or verifying a journal, and
//! [`BadRecord`]: where exactly a journal stops being trustworthy.

use std::path::{Path, PathBuf};

use super::record::{FrameError, PayloadError};

/// Why the bytes at some position are not the record the chain expects there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum BadReason {
    /// Framing: truncated, length out of range, crc mismatch, unknown kind or flags.
    Frame(FrameError),
    /// The file does not start with the segment magic.
    BadMagic,
    /// The segment's first record is not a segment header.
    MissingSegmentHeader,
    /// A segment header appears after the start of a segment.
    UnexpectedSegmentHeader,
    /// The segment was written by an unknown journal format version.
    FormatVersion(u16),
    /// The seq in the file name differs from the seq in the segment header.
    SegmentNameMismatch {
        /// From the file name.
        name_seq: u64,
        /// From the header.
        header_seq: u64,
    },
    /// The segment header does not carry the previous segment's last chain value.
    SegmentDiscontinuity,
    /// A record's seq is not the next one.
    SeqMismatch {
        /// The seq the chain expects.
        expected: u64,
        /// The seq found.
        found: u64,
    },
    /// The stored chain value is not `blake3(previous ‖ record)`: the record or one before it was altered.
    ChainMismatch,
    /// The payload does not decode as its kind says.
    Payload(PayloadError),
}

impl BadReason {
    /// Whether a crash while writing could have left this at the end of the last segment (a partial or
    /// half-persisted record). A crc-valid record that is wrong in any other way was written that way,
    /// which no crash explains.
    pub fn could_be_torn_write(&self) -> bool {
        matches!(
            self,
            BadReason::Frame(
                FrameError::Truncated { .. }
                    | FrameError::LengthOutOfRange(_)
                    | FrameError::CrcMismatch { .. }
            )
        )
    }
}

impl std::fmt::Display for BadReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BadReason::Frame(FrameError::Truncated { need, have }) => {
                write!(f, "truncated record: needs {need} bytes, {have} left")
            }
            BadReason::Frame(FrameError::LengthOutOfRange(n)) => {
                write!(f, "payload length {n} out of range")
            }
            BadReason::Frame(FrameError::CrcMismatch { stored, computed }) => write!(
                f,
                "crc32c mismatch: stored {stored:#010x}, computed {computed:#010x}"
            ),
            BadReason::Frame(FrameError::UnknownKind(k)) => write!(f, "unknown record kind {k}"),
            BadReason::Frame(FrameError::UnknownFlags(b)) => write!(f, "unknown flags {b:#04x}"),
            BadReason::BadMagic => f.write_str("not a pymm journal segment (bad magic)"),
            BadReason::MissingSegmentHeader => f.write_str("segment does not start with a header"),
            BadReason::UnexpectedSegmentHeader => f.write_str("segment header inside a segment"),
            BadReason::FormatVersion(v) => write!(f, "unsupported journal format version {v}"),
            BadReason::SegmentNameMismatch {
                name_seq,
                header_seq,
            } => write!(
                f,
                "file name says first seq {name_seq}, header says {header_seq}"
            ),
            BadReason::SegmentDiscontinuity => {
                f.write_str("segment header does not continue the previous segment's chain")
            }
            BadReason::SeqMismatch { expected, found } => {
                write!(f, "seq {found} where {expected} was expected")
            }
            BadReason::ChainMismatch => f.write_str("chain hash mismatch (record altered)"),
            BadReason::Payload(e) => write!(f, "bad payload: {e}"),
        }
    }
}

/// The first position at which a journal is not what it should be.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{} at offset {offset} (seq {seq}): {reason}", segment.display())]
pub struct BadRecord {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset of the record (or of the problem, for the magic) in the segment.
    pub offset: u64,
    /// The seq the chain expects at that position.
    pub seq: u64,
    /// What is wrong.
    pub reason: BadReason,
}

/// The journal domain's error.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// An operating-system call failed.
    #[error("journal: cannot {op} {}: {source}", path.display())]
    Io {
        /// What was attempted.
        op: &'static str,
        /// On which file or directory.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// Corruption that is not a torn tail: never skipped, never repaired.
    #[error("journal corrupt: {0}")]
    Corrupt(Box<BadRecord>),
    /// A configuration value was refused.
    #[error("journal config: {reason}")]
    Config {
        /// Which value, and why.
        reason: String,
    },
    /// The writer thread died without an error value (it panicked).
    #[error("journal writer: {reason}")]
    Writer {
        /// What happened.
        reason: String,
    },
}

impl JournalError {
    pub(crate) fn io(op: &'static str, path: &Path, source: std::io::Error) -> Self {
        JournalError::Io {
            op,
            path: path.to_path_buf(),
            source,
        }
    }
}

impl From<BadRecord> for JournalError {
    fn from(b: BadRecord) -> Self {
        JournalError::Corrupt(Box::new(b))
    }
}
