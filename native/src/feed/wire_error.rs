//! [`WireError`]: why a binary wire message (ITCH 5.0, MoldUDP64, DBN) was refused, and
//! [`DataError`] for recorded files. `WireError` is `Copy` and allocation-free, because the hot path
//! counts and drops bad input instead of raising. (To be folded into `feed::DecodeError`.)

/// A wire-format decoding failure (ITCH 5.0, MoldUDP64, DBN records).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum WireError {
    /// Fewer bytes than the format needs.
    #[error("{what}: truncated, need {need} bytes, have {have}")]
    Truncated {
        /// What was being decoded.
        what: &'static str,
        /// Bytes needed.
        need: usize,
        /// Bytes available.
        have: usize,
    },
    /// A message type this decoder does not know (counted and skipped).
    #[error("unknown message type 0x{kind:02x}")]
    UnknownType {
        /// The type byte.
        kind: u8,
    },
    /// A field holds a value the format does not allow.
    #[error("{what}: invalid value {value}")]
    BadField {
        /// The field.
        what: &'static str,
        /// The offending value.
        value: u64,
    },
}

/// Why a recorded data file could not be read (off the hot path; carries context).
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    /// The file could not be opened or read.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: String,
        /// The I/O error.
        source: std::io::Error,
    },
    /// A line or record is malformed.
    #[error("{path}:{line}: {reason}")]
    Malformed {
        /// The file.
        path: String,
        /// 1-based line or record number.
        line: u64,
        /// What is wrong.
        reason: String,
    },
    /// A wire record inside the file failed to decode.
    #[error("{path}: record {record}: {source}")]
    Decode {
        /// The file.
        path: String,
        /// 0-based record number.
        record: u64,
        /// The decoding error.
        source: WireError,
    },
}
