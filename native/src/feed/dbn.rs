//! Databento Binary Encoding (DBN) v1–v3: the metadata header and market-by-order (`MboMsg`) records,
//! for replay, backtests and validation (see `docs/protocols/dbn.md`).
//!
//! Off the hot path for files (decompression and metadata allocate), but [`decode_record`] is
//! allocation-free over `&[u8]` like the wire decoders. All integers are little-endian.
//!
//! Layout: `"DBN"`, version byte (1–3), `u32` metadata length, then the metadata: dataset (16-byte C
//! string), schema `u16`, start/end/limit `u64`, (v1 only: record count `u64`), stype in/out `u8`,
//! ts_out `u8`, (v2+: symbol C-string length `u16`), reserved padding up to a 100-byte fixed part,
//! then variable-length symbol tables we skip. Records follow, each opening with a 16-byte header:
//! `length` (`u8`, in 4-byte words), `rtype` (`u8`), `publisher_id` (`u16`), `instrument_id` (`u32`),
//! `ts_event` (`u64`). An MBO record (`rtype` 0xA0) is 56 bytes and identical in v1–v3.
//! Files may be zstd-compressed (magic `28 B5 2F FD`), possibly in several frames.

use std::io::Read;
use std::path::Path;

use super::wire_error::{DataError, WireError};
use crate::model::{InstrumentId, OrderAction, OrderEvent, OrderRef, Price, Qty, Side, UnixNanos};

/// `rtype` of an MBO record.
pub const RTYPE_MBO: u8 = 0xA0;
/// Size of an MBO record.
pub const MBO_LEN: usize = 56;
/// `flags` bit: last record of an event for an instrument.
pub const FLAG_LAST: u8 = 1 << 7;
/// `flags` bit: top-of-book message.
pub const FLAG_TOB: u8 = 1 << 6;
/// `flags` bit: the record comes from a replay/snapshot.
pub const FLAG_SNAPSHOT: u8 = 1 << 5;
/// `flags` bit: aggregated price level (MBP).
pub const FLAG_MBP: u8 = 1 << 4;
/// `flags` bit: `ts_recv` is inaccurate.
pub const FLAG_BAD_TS_RECV: u8 = 1 << 3;
/// `flags` bit: the book may be wrong (e.g. after a gap).
pub const FLAG_MAYBE_BAD_BOOK: u8 = 1 << 2;

/// The fixed part of a DBN metadata header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DbnMetadata {
    /// DBN version 1–3.
    pub version: u8,
    /// Dataset code, e.g. "GLBX.MDP3".
    pub dataset: String,
    /// Schema id (`u16::MAX` = mixed).
    pub schema: u16,
    /// Start of the query, UNIX ns.
    pub start: u64,
    /// End of the query, UNIX ns.
    pub end: u64,
    /// Record limit (0 = none).
    pub limit: u64,
    /// Input symbology type.
    pub stype_in: u8,
    /// Output symbology type.
    pub stype_out: u8,
    /// Whether records carry a trailing gateway send timestamp.
    pub ts_out: bool,
    /// Length of symbol C strings (v1: 22).
    pub symbol_cstr_len: u16,
    /// Bytes from the file start to the first record.
    pub records_offset: usize,
}

/// One MBO record, field for field as DBN stores it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct MboRecord {
    /// Record type (0xA0).
    pub rtype: u8,
    /// Publisher id.
    pub publisher_id: u16,
    /// Instrument id.
    pub instrument_id: u32,
    /// Venue event time, UNIX ns.
    pub ts_event: u64,
    /// Order id.
    pub order_id: u64,
    /// Price in units of 1e-9 (`i64::MAX` = undefined).
    pub price: i64,
    /// Size.
    pub size: u32,
    /// Flag bits (`FLAG_*`).
    pub flags: u8,
    /// Channel id.
    pub channel_id: u8,
    /// Action: A add, C cancel, M modify, R clear, T trade, F fill, N none.
    pub action: u8,
    /// Side: A ask, B bid, N none.
    pub side: u8,
    /// Databento receive time, UNIX ns.
    pub ts_recv: u64,
    /// `ts_recv` minus the venue's send time, ns.
    pub ts_in_delta: i32,
    /// Venue sequence number.
    pub sequence: u32,
}

#[cold]
#[inline(never)]
fn truncated(what: &'static str, need: usize, have: usize) -> WireError {
    WireError::Truncated { what, need, have }
}

fn le<const N: usize>(b: &[u8], at: usize) -> [u8; N] {
    let mut a = [0u8; N];
    a.copy_from_slice(&b[at..at + N]);
    a
}

/// Parses the metadata header at the start of an uncompressed DBN stream.
pub fn decode_metadata(b: &[u8]) -> Result<DbnMetadata, WireError> {
    if b.len() < 8 {
        return Err(truncated("DBN prefix", 8, b.len()));
    }
    if &b[..3] != b"DBN" {
        return Err(WireError::BadField {
            what: "DBN magic",
            value: u64::from(u32::from_le_bytes(le(b, 0))),
        });
    }
    let version = b[3];
    if !(1..=3).contains(&version) {
        return Err(WireError::BadField {
            what: "DBN version",
            value: u64::from(version),
        });
    }
    let len = u32::from_le_bytes(le(b, 4)) as usize;
    let end = 8usize.saturating_add(len);
    if len < 100 || b.len() < end {
        return Err(truncated("DBN metadata", end.max(108), b.len()));
    }
    let m = &b[8..end];
    let dataset_raw = &m[..16];
    let dlen = dataset_raw.iter().position(|&c| c == 0).unwrap_or(16);
    let mut at = 16;
    let schema = u16::from_le_bytes(le(m, at));
    at += 2;
    let start = u64::from_le_bytes(le(m, at));
    let end_ts = u64::from_le_bytes(le(m, at + 8));
    let limit = u64::from_le_bytes(le(m, at + 16));
    at += 24;
    if version == 1 {
        at += 8; // record_count
    }
    let (stype_in, stype_out, ts_out) = (m[at], m[at + 1], m[at + 2] != 0);
    at += 3;
    let symbol_cstr_len = if version == 1 {
        22
    } else {
        u16::from_le_bytes(le(m, at))
    };
    Ok(DbnMetadata {
        version,
        dataset: String::from_utf8_lossy(&dataset_raw[..dlen]).into_owned(),
        schema,
        start,
        end: end_ts,
        limit,
        stype_in,
        stype_out,
        ts_out,
        symbol_cstr_len,
        records_offset: end,
    })
}

/// Splits the record at the start of `b`: `(rtype, record bytes)`.
///
/// # Hot path
/// No allocation.
#[inline]
pub fn next_record(b: &[u8]) -> Result<(u8, &[u8]), WireError> {
    if b.len() < 16 {
        return Err(truncated("DBN record header", 16, b.len()));
    }
    let len = usize::from(b[0]) * 4;
    if len < 16 {
        return Err(WireError::BadField {
            what: "DBN record length",
            value: len as u64,
        });
    }
    if b.len() < len {
        return Err(truncated("DBN record", len, b.len()));
    }
    Ok((b[1], &b[..len]))
}

/// Decodes one MBO record (`rec` from [`next_record`], at least 56 bytes, `rtype` 0xA0).
///
/// # Hot path
/// No allocation.
#[inline]
pub fn decode_mbo(rec: &[u8]) -> Result<MboRecord, WireError> {
    if rec.len() < MBO_LEN {
        return Err(truncated("DBN MBO record", MBO_LEN, rec.len()));
    }
    if rec[1] != RTYPE_MBO {
        return Err(WireError::UnknownType { kind: rec[1] });
    }
    Ok(MboRecord {
        rtype: rec[1],
        publisher_id: u16::from_le_bytes(le(rec, 2)),
        instrument_id: u32::from_le_bytes(le(rec, 4)),
        ts_event: u64::from_le_bytes(le(rec, 8)),
        order_id: u64::from_le_bytes(le(rec, 16)),
        price: i64::from_le_bytes(le(rec, 24)),
        size: u32::from_le_bytes(le(rec, 32)),
        flags: rec[36],
        channel_id: rec[37],
        action: rec[38],
        side: rec[39],
        ts_recv: u64::from_le_bytes(le(rec, 40)),
        ts_in_delta: i32::from_le_bytes(le(rec, 48)),
        sequence: u32::from_le_bytes(le(rec, 52)),
    })
}

impl MboRecord {
    /// The L3 book event of this record, with the price divided by `tick` (1e-9 units per tick);
    /// `None` for trades, fills and records without a book effect. A modify (M) is a replace with
    /// the same order id (the book keeps priority on a size decrease at the same price).
    pub fn order_event(&self, tick: i64) -> Option<OrderEvent> {
        let action = match self.action {
            b'A' => OrderAction::Add,
            b'C' => OrderAction::Cancel,
            b'M' => OrderAction::Replace {
                new_ref: OrderRef(self.order_id),
            },
            b'R' => OrderAction::Clear,
            _ => return None,
        };
        let side = match self.side {
            b'B' => Side::Buy,
            _ => Side::Sell,
        };
        let price = if self.price == i64::MAX || tick <= 0 {
            0
        } else {
            self.price / tick
        };
        Some(OrderEvent {
            instrument: InstrumentId(self.instrument_id),
            action,
            order: OrderRef(self.order_id),
            side,
            price: Price::from_ticks(price),
            qty: Qty::from_lots(i64::from(self.size)),
            sequence: u64::from(self.sequence),
            ts_event: UnixNanos(self.ts_event),
            ts_recv: UnixNanos(self.ts_recv),
        })
    }
}

/// Decompresses `bytes` when they start with the zstd magic (all frames), else returns them.
pub fn maybe_decompress(bytes: Vec<u8>) -> std::io::Result<Vec<u8>> {
    if bytes.starts_with(&[0x28, 0xB5, 0x2F, 0xFD]) {
        let mut out = Vec::with_capacity(bytes.len() * 4);
        zstd::stream::read::Decoder::new(&bytes[..])?.read_to_end(&mut out)?;
        Ok(out)
    } else {
        Ok(bytes)
    }
}

/// A whole DBN file in memory: metadata and the record bytes.
#[derive(Clone, Debug)]
pub struct DbnFile {
    /// The metadata.
    pub metadata: DbnMetadata,
    data: Vec<u8>,
}

impl DbnFile {
    /// Reads (and if needed decompresses) a DBN file.
    pub fn read(path: &Path) -> Result<Self, DataError> {
        let io = |source| DataError::Io {
            path: path.display().to_string(),
            source,
        };
        let raw = std::fs::read(path).map_err(io)?;
        let data = maybe_decompress(raw).map_err(io)?;
        let metadata = decode_metadata(&data).map_err(|source| DataError::Decode {
            path: path.display().to_string(),
            record: 0,
            source,
        })?;
        Ok(Self { metadata, data })
    }

    /// Iterates over `(rtype, record bytes)`; a truncated tail yields one error and stops.
    pub fn records(&self) -> impl Iterator<Item = Result<(u8, &[u8]), WireError>> {
        let mut rest = &self.data[self.metadata.records_offset..];
        std::iter::from_fn(move || {
            if rest.is_empty() {
                return None;
            }
            match next_record(rest) {
                Ok((t, r)) => {
                    rest = &rest[r.len()..];
                    Some(Ok((t, r)))
                }
                Err(e) => {
                    rest = &[];
                    Some(Err(e))
                }
            }
        })
    }

    /// All MBO records, in file order (other record types skipped).
    pub fn mbo_records(&self) -> Result<Vec<MboRecord>, WireError> {
        let mut out = Vec::new();
        for r in self.records() {
            let (t, rec) = r?;
            if t == RTYPE_MBO {
                out.push(decode_mbo(rec)?);
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mbo_bytes() -> [u8; 56] {
        let mut b = [0u8; 56];
        b[0] = 14;
        b[1] = RTYPE_MBO;
        b[2..4].copy_from_slice(&1u16.to_le_bytes());
        b[4..8].copy_from_slice(&17077u32.to_le_bytes());
        b[8..16].copy_from_slice(&5u64.to_le_bytes());
        b[16..24].copy_from_slice(&99u64.to_le_bytes());
        b[24..32].copy_from_slice(&4_810_250_000_000i64.to_le_bytes());
        b[32..36].copy_from_slice(&3u32.to_le_bytes());
        b[36] = FLAG_LAST;
        b[38] = b'A';
        b[39] = b'B';
        b[52..56].copy_from_slice(&7u32.to_le_bytes());
        b
    }

    #[test]
    fn decodes_an_mbo_record() {
        let b = mbo_bytes();
        let (t, rec) = next_record(&b).unwrap();
        assert_eq!(t, RTYPE_MBO);
        let m = decode_mbo(rec).unwrap();
        assert_eq!(
            (m.instrument_id, m.order_id, m.size, m.sequence),
            (17077, 99, 3, 7)
        );
        let ev = m.order_event(250_000_000).unwrap();
        assert_eq!(ev.price, Price::from_ticks(19_241));
        assert_eq!(ev.side, Side::Buy);
        assert!(decode_mbo(&b[..55]).is_err());
        assert!(next_record(&b[..20]).is_err());
        let mut z = b;
        z[0] = 1;
        assert!(next_record(&z).is_err());
    }

    #[test]
    fn refuses_bad_metadata() {
        assert!(decode_metadata(b"DBX\x01\0\0\0\0").is_err());
        assert!(decode_metadata(b"DBN\x04\0\0\0\0").is_err());
        assert!(decode_metadata(b"DBN\x02\xff\0\0\0").is_err());
    }
}
