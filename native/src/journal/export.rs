//! The ledger's analysis tables: every order-flow record (acks and rejects), every fill and every
//! parameter change, one row each, read from a verified journal (`pymm ledger export --parquet`).
//!
//! Rows are plain integers and strings (prices in ticks, quantities in lots, fees exact as decimal
//! text); the Python side writes them as Parquet with pyarrow. A journal that does not verify, or a
//! payload that does not decode, stops the export with the error (nothing is skipped).

use std::path::Path;

use serde::Serialize;

use super::payloads::{FillV1, OrderAckV1, ParamPushV1, RejectV1, TypedPayloadError};
use super::reader::JournalReader;
use super::record::RecordKind;
use super::JournalError;
use crate::model::{Liquidity, Side};

/// One order-flow row: an ack (status) or a reject.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OrderRow {
    /// Journal seq.
    pub seq: u64,
    /// Receive time, ns.
    pub ts_recv: u64,
    /// Venue time, ns.
    pub ts_event: u64,
    /// `order_ack` or `reject`.
    pub kind: &'static str,
    /// Instrument id.
    pub instrument: u32,
    /// Our id.
    pub client_order_id: u64,
    /// The venue's id (0: none).
    pub venue_order_id: u64,
    /// `BUY`/`SELL`.
    pub side: &'static str,
    /// Order type (empty for rejects).
    pub order_type: &'static str,
    /// Status after the record.
    pub status: &'static str,
    /// Price, ticks.
    pub price: i64,
    /// Quantity, lots.
    pub qty: i64,
    /// Filled so far, lots.
    pub cum_qty: i64,
    /// Venue reject code (0: none).
    pub reject_code: i32,
}

/// One fill row.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct FillRow {
    /// Journal seq.
    pub seq: u64,
    /// Receive time, ns.
    pub ts_recv: u64,
    /// Venue time, ns.
    pub ts_event: u64,
    /// Instrument id.
    pub instrument: u32,
    /// Our id.
    pub client_order_id: u64,
    /// The venue's id (0: none).
    pub venue_order_id: u64,
    /// The venue's trade id.
    pub trade_id: u64,
    /// `BUY`/`SELL`.
    pub side: &'static str,
    /// `MAKER`/`TAKER`/`NONE`.
    pub liquidity: &'static str,
    /// Status after the fill.
    pub status: &'static str,
    /// Fill price, ticks.
    pub price: i64,
    /// Fill quantity, lots.
    pub qty: i64,
    /// Filled so far, lots.
    pub cum_qty: i64,
    /// Fee, exact decimal text.
    pub fee: String,
    /// Fee asset.
    pub fee_asset: String,
}

/// One parameter push.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ParamRow {
    /// Journal seq.
    pub seq: u64,
    /// Receive time, ns.
    pub ts_recv: u64,
    /// Block version.
    pub version: u64,
    /// The block's words.
    pub words: Vec<u64>,
}

/// The three tables.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct LedgerRows {
    /// Acks and rejects.
    pub orders: Vec<OrderRow>,
    /// Fills.
    pub fills: Vec<FillRow>,
    /// Parameter pushes.
    pub params: Vec<ParamRow>,
}

/// Why an export stopped.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// The journal does not read or verify.
    #[error(transparent)]
    Journal(#[from] JournalError),
    /// A payload does not decode.
    #[error("seq {seq}: {error}")]
    Payload {
        /// The record.
        seq: u64,
        /// Why.
        error: TypedPayloadError,
    },
}

fn side(s: Side) -> &'static str {
    match s {
        Side::Buy => "BUY",
        Side::Sell => "SELL",
    }
}

/// Reads `dir` (verifying) and collects the rows.
pub fn ledger_rows(dir: &Path) -> Result<LedgerRows, ExportError> {
    let mut rows = LedgerRows::default();
    for r in JournalReader::open(dir)? {
        let rec = r?.record;
        let bad = |error| ExportError::Payload {
            seq: rec.seq,
            error,
        };
        match rec.kind {
            RecordKind::OrderAck => {
                let a = OrderAckV1::decode(&rec).map_err(bad)?;
                rows.orders.push(OrderRow {
                    seq: rec.seq,
                    ts_recv: rec.ts_recv.0,
                    ts_event: rec.ts_event.0,
                    kind: "order_ack",
                    instrument: a.instrument.0,
                    client_order_id: a.client_order_id.0,
                    venue_order_id: a.venue_order_id.map_or(0, |v| v.0),
                    side: side(a.side),
                    order_type: a.order_type.as_str(),
                    status: a.status.as_str(),
                    price: a.price.ticks(),
                    qty: a.qty.lots(),
                    cum_qty: a.cum_qty.lots(),
                    reject_code: 0,
                });
            }
            RecordKind::Reject => {
                let j = RejectV1::decode(&rec).map_err(bad)?;
                rows.orders.push(OrderRow {
                    seq: rec.seq,
                    ts_recv: rec.ts_recv.0,
                    ts_event: rec.ts_event.0,
                    kind: "reject",
                    instrument: j.instrument.0,
                    client_order_id: j.client_order_id.0,
                    venue_order_id: 0,
                    side: side(j.side),
                    order_type: "",
                    status: "REJECTED",
                    price: j.price.ticks(),
                    qty: j.qty.lots(),
                    cum_qty: 0,
                    reject_code: j.reject_code,
                });
            }
            RecordKind::Fill => {
                let f = FillV1::decode(&rec).map_err(bad)?;
                rows.fills.push(FillRow {
                    seq: rec.seq,
                    ts_recv: rec.ts_recv.0,
                    ts_event: rec.ts_event.0,
                    instrument: f.instrument.0,
                    client_order_id: f.client_order_id.0,
                    venue_order_id: f.venue_order_id.map_or(0, |v| v.0),
                    trade_id: f.trade_id,
                    side: side(f.side),
                    liquidity: match f.liquidity {
                        Liquidity::None => "NONE",
                        Liquidity::Maker => "MAKER",
                        Liquidity::Taker => "TAKER",
                    },
                    status: f.status.as_str(),
                    price: f.last_price.ticks(),
                    qty: f.last_qty.lots(),
                    cum_qty: f.cum_qty.lots(),
                    fee: crate::model::decimal::format_fixed(f.fee.raw(), f.fee.exp()),
                    fee_asset: f.fee_asset.as_str().to_string(),
                });
            }
            RecordKind::ParamPush => {
                let p = ParamPushV1::decode(&rec).map_err(bad)?;
                // A later part of a block longer than one record extends its first part's row.
                match rows.params.last_mut() {
                    Some(last) if p.first > 0 && last.version == p.block_version => {
                        last.words.resize(usize::from(p.first), 0);
                        last.words.extend_from_slice(p.words());
                    }
                    _ => rows.params.push(ParamRow {
                        seq: rec.seq,
                        ts_recv: rec.ts_recv.0,
                        version: p.block_version,
                        words: p.words().to_vec(),
                    }),
                }
            }
            _ => {}
        }
    }
    Ok(rows)
}
