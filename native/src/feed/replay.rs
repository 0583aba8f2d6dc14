//! Replay of recorded captures through the production decoders and books, summarised as one
//! format-agnostic [`ReplaySummary`] (what `pymm replay` prints).
//!
//! Offline tool, never on a hot thread: it reads whole files, allocates freely and measures its own
//! wall-clock run time for the report (nothing decides on it). Drivers per format produce the same
//! summary; Binance is [`crate::feed::binance`]'s driver in [`binance_driver`].

pub mod binance_driver;

use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use thiserror::Error;

/// The final state of one instrument's book after a replay (prices and sizes as decimal text).
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct InstrumentSummary {
    /// A snapshot was loaded and the book is in sequence at the end.
    pub synced: bool,
    /// The book is stale at the end (no snapshot yet, or a break since).
    pub stale: bool,
    /// Tick size used (given or inferred).
    pub price_increment: String,
    /// Lot size used (given or inferred).
    pub qty_increment: String,
    /// The book's last update id.
    pub last_update_id: u64,
    /// Book updates (diffs, L3 events) applied.
    pub applied_updates: u64,
    /// Sequence breaks.
    pub sequence_errors: u64,
    /// Integrity errors (crossed, bad sizes).
    pub integrity_errors: u64,
    /// Crossed-book events.
    pub crossed_events: u64,
    /// Resyncs requested.
    pub resyncs: u64,
    /// Updates dropped as older than the book.
    pub dropped_stale: u64,
    /// Updates still waiting for a snapshot at the end.
    pub pending_updates: u64,
    /// Best bid price.
    pub bid_price: Option<String>,
    /// Best bid size.
    pub bid_qty: Option<String>,
    /// Best ask price.
    pub ask_price: Option<String>,
    /// Best ask size.
    pub ask_qty: Option<String>,
    /// Bid levels in the book.
    pub bid_levels: usize,
    /// Ask levels in the book.
    pub ask_levels: usize,
}

/// What a replay saw. Format-agnostic: every driver fills the same fields.
#[derive(Clone, Debug, Default, PartialEq, Serialize)]
pub struct ReplaySummary {
    /// `binance`, `lobster`, `itch`, `dbn`.
    pub format: String,
    /// The path asked for.
    pub path: String,
    /// Every file read, in replay order (a `.ws`/`.http` pair, or a session split over files).
    pub inputs: Vec<String>,
    /// Messages decoded (all kinds).
    pub messages: u64,
    /// Messages by kind (`depthUpdate`, `trade`, ...).
    pub messages_by_type: BTreeMap<String, u64>,
    /// Messages refused by the decoder.
    pub decode_errors: u64,
    /// Refused messages by error kind.
    pub decode_errors_by_kind: BTreeMap<String, u64>,
    /// Lines that carry no message (connect lines, configuration, blanks).
    pub skipped_lines: u64,
    /// Sequence breaks, all instruments.
    pub sequence_errors: u64,
    /// Book integrity errors, all instruments.
    pub integrity_errors: u64,
    /// Crossed-book events, all instruments.
    pub crossed_events: u64,
    /// Resyncs requested, all instruments.
    pub resyncs: u64,
    /// Book updates applied, all instruments.
    pub applied_updates: u64,
    /// Final book per instrument (venue symbol).
    pub instruments: BTreeMap<String, InstrumentSummary>,
    /// Book states compared against an oracle (bookTicker, an expected-book file).
    pub checked_states: u64,
    /// Checked states by oracle kind (e.g. `bookTicker_after_diff`, `bookTicker_before_diff`).
    pub checked_by_kind: BTreeMap<String, u64>,
    /// Of those, states that differed.
    pub mismatched_states: u64,
    /// The first (up to 10) mismatches, described.
    pub first_mismatches: Vec<String>,
    /// Wall-clock run time, seconds (report only).
    pub elapsed_s: f64,
    /// Messages per second of wall-clock time.
    pub msgs_per_s: f64,
}

/// How many mismatches a summary describes.
pub const MAX_MISMATCHES: usize = 10;

impl ReplaySummary {
    /// Counts one message of `kind`.
    pub fn count_message(&mut self, kind: &str) {
        self.messages += 1;
        *self.messages_by_type.entry(kind.to_owned()).or_default() += 1;
    }

    /// Records one state checked by oracle `kind`: `Err(description)` is a mismatch (the first
    /// [`MAX_MISMATCHES`] are kept).
    pub fn check(&mut self, kind: &str, result: Result<(), String>) {
        self.checked_states += 1;
        *self.checked_by_kind.entry(kind.to_owned()).or_default() += 1;
        if let Err(description) = result {
            self.mismatched_states += 1;
            if self.first_mismatches.len() < MAX_MISMATCHES {
                self.first_mismatches.push(description);
            }
        }
    }

    /// The summary as one JSON object.
    pub fn to_json(&self) -> String {
        // Serialising plain structs of strings, integers, floats and maps cannot fail.
        serde_json::to_string(self).unwrap_or_else(|e| format!("{{\"error\":\"{e}\"}}"))
    }
}

/// Why a replay could not run.
#[derive(Debug, Error)]
pub enum ReplayError {
    /// A file could not be read.
    #[error("cannot read {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
    /// The format has no driver yet.
    #[error("format {0} is not built yet")]
    NotBuilt(String),
    /// The format name is unknown.
    #[error("unknown format {0:?} (binance, dbn, lobster, itch)")]
    UnknownFormat(String),
    /// The arguments do not fit the format.
    #[error("{0}")]
    BadArguments(String),
    /// The progress callback asked to stop.
    #[error("replay interrupted")]
    Interrupted,
}

/// Progress callback: `(done, total)` in bytes of input; returning `false` stops the replay
/// ([`ReplayError::Interrupted`]), e.g. on Ctrl-C.
pub type Progress<'a> = &'a mut dyn FnMut(u64, u64) -> bool;

/// Replays `path` in `format`, optionally against an expected-book file.
pub fn replay(
    format: &str,
    path: &Path,
    expect_book: Option<&Path>,
    progress: Progress<'_>,
) -> Result<ReplaySummary, ReplayError> {
    match format {
        "binance" => {
            if expect_book.is_some() {
                return Err(ReplayError::BadArguments(
                    "--expect-book applies to LOBSTER captures; Binance files are checked against their bookTicker messages".into(),
                ));
            }
            binance_driver::replay_path(path, progress)
        }
        "dbn" | "lobster" | "itch" => replay_l3_format(format, path, expect_book),
        other => Err(ReplayError::UnknownFormat(other.to_owned())),
    }
}

/// The order-by-order formats ([`super::replay_l3`]): `lobster` needs its order-book file as
/// `expect_book`; `itch` (a mold file) checks against one when given.
fn replay_l3_format(
    format: &str,
    path: &Path,
    expect_book: Option<&Path>,
) -> Result<ReplaySummary, ReplayError> {
    use super::replay_l3;
    let report = match (format, expect_book) {
        ("lobster", Some(book)) => replay_l3::replay_lobster(path, book),
        ("lobster", None) => {
            return Err(ReplayError::BadArguments(
                "a LOBSTER message file needs its orderbook file (--expect-book)".into(),
            ))
        }
        ("itch", book) => replay_l3::replay_itch(path, book),
        (_, Some(_)) => {
            return Err(ReplayError::BadArguments(
                "--expect-book applies to LOBSTER and ITCH replays".into(),
            ))
        }
        (_, None) => replay_l3::replay_dbn(path),
    };
    let report = report.map_err(|e| match e {
        super::DataError::Io { path, source } => ReplayError::Io {
            path: path.into(),
            source,
        },
        other => ReplayError::BadArguments(other.to_string()),
    })?;
    Ok(replay_l3::to_summary(format, path, &report))
}

/// Replays several recordings in order as one session (books kept from file to file), e.g. a
/// capture split at midnight whose second file has no snapshot of its own.
pub fn replay_session(
    format: &str,
    paths: &[PathBuf],
    progress: Progress<'_>,
) -> Result<ReplaySummary, ReplayError> {
    match (format, paths) {
        (_, []) => Err(ReplayError::BadArguments("no file to replay".into())),
        (_, [one]) => replay(format, one, None, progress),
        ("binance", _) => {
            let groups: Vec<Vec<PathBuf>> = paths
                .iter()
                .map(|p| binance_driver::inputs_for(p))
                .collect();
            let mut s = binance_driver::replay_groups(&groups, progress)?;
            s.path = paths[0].display().to_string();
            Ok(s)
        }
        ("dbn" | "lobster" | "itch", _) => Err(ReplayError::NotBuilt(format.to_owned())),
        (other, _) => Err(ReplayError::UnknownFormat(other.to_owned())),
    }
}

/// Reads a file, gunzipping it if it starts with the gzip magic.
pub fn read_maybe_gzip(path: &Path) -> Result<Vec<u8>, ReplayError> {
    use std::io::Read;
    let io = |source| ReplayError::Io {
        path: path.to_owned(),
        source,
    };
    let raw = std::fs::read(path).map_err(io)?;
    if raw.starts_with(&[0x1f, 0x8b]) {
        let mut out = Vec::with_capacity(raw.len() * 8);
        flate2::read::MultiGzDecoder::new(&raw[..])
            .read_to_end(&mut out)
            .map_err(io)?;
        Ok(out)
    } else {
        Ok(raw)
    }
}
