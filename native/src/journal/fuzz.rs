//! Entry points for the `journal` fuzz target (`native/fuzz/fuzz_targets/journal.rs`) and its seed
//! replay test: arbitrary bytes through every journal-side decoder — the frame parser, the typed
//! payload decoders (then [`LedgerState::apply`]), the engine's session-input decoder
//! (`engine::session::InputDecoder`), the snapshot decoder (then
//! [`LedgerState::restore`]). None may panic; whatever decodes must survive encode → decode.

use std::path::Path;

use super::payloads::{FillV1, OperatorCommandV1, OrderAckV1, ParamPushV1, RejectV1, TimerTickV1};
use super::record::{parse_frame, JournalRecord, RecordKind, MAX_PAYLOAD_LEN};
use super::replay::Replayable;
use super::snapshot::{decode_snapshot, encode_snapshot};
use super::state::LedgerState;
use crate::engine::session::InputDecoder;
use crate::model::UnixNanos;

/// Runs `data` through every journal decoder; panics only on a broken invariant (a decoded value
/// that does not re-encode to the same bytes).
pub fn journal_bytes(data: &[u8]) {
    // Frames at every offset of the first bytes.
    for at in 0..data.len().min(64) {
        let _ = parse_frame(data, at);
    }
    // The payload as each opaque kind, decoded, re-encoded and applied.
    let payload = &data[..data.len().min(MAX_PAYLOAD_LEN)];
    let mut state = LedgerState::new();
    for (i, kind) in RecordKind::ALL
        .into_iter()
        .filter(|k| k.is_opaque())
        .enumerate()
    {
        let Ok(mut rec) = JournalRecord::new(kind, UnixNanos(7), UnixNanos(5), payload) else {
            continue;
        };
        rec.seq = i as u64 + 1;
        // Whatever decodes survives encode → decode unchanged (the fee `Decimal` normalises, so
        // the bytes may differ; the values may not).
        macro_rules! round_trip {
            ($t:ty, $enc:expr) => {
                if let Ok(v) = <$t>::decode(&rec) {
                    let enc: fn(&$t) -> JournalRecord = $enc;
                    assert_eq!(
                        <$t>::decode(&enc(&v)),
                        Ok(v),
                        "{kind:?} does not round-trip"
                    );
                }
            };
        }
        match kind {
            RecordKind::OrderAck => {
                round_trip!(OrderAckV1, |v| v.to_record(UnixNanos(7), UnixNanos(5)))
            }
            RecordKind::Fill => round_trip!(FillV1, |v| v.to_record(UnixNanos(7), UnixNanos(5))),
            RecordKind::Reject => {
                round_trip!(RejectV1, |v| v.to_record(UnixNanos(7), UnixNanos(5)))
            }
            RecordKind::ParamPush => round_trip!(ParamPushV1, |v| v.to_record(UnixNanos(7))),
            RecordKind::OperatorCommand => {
                round_trip!(OperatorCommandV1, |v| v.to_record(UnixNanos(7)))
            }
            _ => round_trip!(TimerTickV1, |v| v.to_record(UnixNanos(7))),
        }
        // The engine's session decoder: whatever decodes to an input re-encodes (typed or the exact
        // SessionInput fallback) to records that decode to the same input.
        if let Ok(Some(input)) = InputDecoder::default().decode(&rec) {
            let mut d = InputDecoder::default();
            let mut back = None;
            for r in input.to_records().as_slice() {
                if let Ok(Some(x)) = d.decode(r) {
                    back = Some(x);
                }
            }
            assert_eq!(
                back,
                Some(input),
                "{kind:?} session input does not round-trip"
            );
        }
        state.last_seq = rec.seq - 1;
        let before = state.clone();
        if state.apply(&rec).is_err() {
            assert_eq!(state, before, "a refused record changed the state");
        }
    }
    let _ = state.digest();
    // The bytes as a snapshot file, and as ledger state bytes.
    let path = Path::new("snapshot-00000000000000000001.snap");
    if let Ok((meta, bytes)) = decode_snapshot(path, data, LedgerState::SNAPSHOT_TAG) {
        assert_eq!(encode_snapshot(&meta, bytes), data);
        let mut s = LedgerState::new();
        let _ = s.restore(bytes);
    }
    let mut s = LedgerState::new();
    if s.restore(data).is_ok() {
        let _ = s.digest();
    }
}
