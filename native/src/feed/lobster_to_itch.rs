//! LOBSTER → ITCH 5.0 over MoldUDP64: runs a [`LobsterReplayer`] and encodes every book change it
//! makes as ITCH messages, so the ITCH decoder, the framing, the arbiter and the L3 book are exercised
//! on real order flow.
//!
//! Off the hot path (a file converter). Output layout (a "mold file"): each MoldUDP64 datagram as a
//! big-endian `u16` length followed by the datagram. Packets:
//! - packet 0 (preamble): `S`/O start of messages, `R` stock directory (locate 1), `S`/S start of
//!   system hours, `S`/Q start of market hours, `H`/T trading, then `A` adds of the seed's synthetic
//!   orders;
//! - packets 1..=N: one per LOBSTER message k: type 1 → `A`; 2 → `X`; 3 → `D`; 4 → `E`; 5 → `P`
//!   (hidden execution); 6 → `Q`; 7 → `H` (−1 halted, 0 quotation only, 1 trading); a cancel, delete
//!   or execution of an id the book never saw becomes an `X`/`E` on the level's synthetic order, and the
//!   replayer's reconciliation beyond the horizon becomes `D`s and synthetic `A`s in the same packet;
//! - packet N+1 (trailer): `S`/M end of market hours, `S`/E end of system hours, `S`/C end of messages;
//! - then an end-of-session header (count 0xFFFF).
//!
//! A packet may exceed an Ethernet MTU when a reconciliation is large; the file keeps one packet per
//! LOBSTER row so a checker can compare after each packet.

use std::io::Write;
use std::path::Path;

use super::itch::{ItchHeader, Stock};
use super::itch_encode as enc;
use super::lobster::{read_messages, read_orderbook, LobsterOp, LobsterReplayer, LobsterStats};
use super::moldudp64::{encode_header, Session, END_OF_SESSION};
use super::wire_error::DataError;
use crate::book::L3Config;
use crate::model::{InstrumentId, OrderAction};

/// The session name the converter writes.
pub const SESSION: Session = *b"LOBSTER001";
/// The stock locate code of the converted instrument.
pub const LOCATE: u16 = 1;

/// What a conversion produced.
#[derive(Clone, Debug)]
pub struct ConvertSummary {
    /// MoldUDP64 data packets written (preamble, one per row, trailer).
    pub packets: u64,
    /// ITCH messages written.
    pub messages: u64,
    /// The replayer's counters during the conversion.
    pub replay: LobsterStats,
}

struct Framer {
    out: Vec<u8>,
    pkt: Vec<u8>,
    len: usize,
    count: u16,
    seq: u64,
    packets: u64,
    messages: u64,
    match_number: u64,
}

impl Framer {
    fn start(&mut self) {
        self.pkt[..10].copy_from_slice(&SESSION);
        self.len = 20;
        self.count = 0;
    }

    fn push(&mut self, msg: &[u8]) {
        let need = self.len + 2 + msg.len();
        if need > self.pkt.len() || self.count == END_OF_SESSION - 1 {
            // A single row never needs 64 KiB; split rather than fail if it ever does.
            self.flush();
        }
        self.pkt[self.len..self.len + 2].copy_from_slice(&(msg.len() as u16).to_be_bytes());
        self.pkt[self.len + 2..self.len + 2 + msg.len()].copy_from_slice(msg);
        self.len += 2 + msg.len();
        self.count += 1;
        self.messages += 1;
    }

    fn flush(&mut self) {
        self.pkt[10..18].copy_from_slice(&self.seq.to_be_bytes());
        self.pkt[18..20].copy_from_slice(&self.count.to_be_bytes());
        self.out.extend_from_slice(&(self.len as u16).to_be_bytes());
        self.out.extend_from_slice(&self.pkt[..self.len]);
        self.seq += u64::from(self.count);
        self.packets += 1;
        self.start();
    }
}

fn hdr(t: u64) -> ItchHeader {
    ItchHeader {
        locate: LOCATE,
        tracking: 0,
        timestamp: t,
    }
}

fn shares(q: i64) -> u32 {
    u32::try_from(q.max(0)).unwrap_or(u32::MAX)
}

fn encode_op(f: &mut Framer, op: &LobsterOp, t: u64, stock: Stock) {
    let mut b = [0u8; 64];
    let n = match *op {
        LobsterOp::Book(ev) => {
            let h = hdr(ev.ts_event.0);
            match ev.action {
                OrderAction::Add => enc::add_order(
                    &mut b,
                    h,
                    ev.order.0,
                    ev.side,
                    shares(ev.qty.lots()),
                    stock,
                    ev.price,
                ),
                OrderAction::Cancel => {
                    enc::order_cancel(&mut b, h, ev.order.0, shares(ev.qty.lots()))
                }
                OrderAction::Delete => enc::order_delete(&mut b, h, ev.order.0),
                OrderAction::Execute => {
                    f.match_number += 1;
                    enc::order_executed(
                        &mut b,
                        h,
                        ev.order.0,
                        shares(ev.qty.lots()),
                        f.match_number,
                    )
                }
                OrderAction::Replace { new_ref } => enc::order_replace(
                    &mut b,
                    h,
                    ev.order.0,
                    new_ref.0,
                    shares(ev.qty.lots()),
                    ev.price,
                ),
                OrderAction::Clear => None,
            }
        }
        LobsterOp::HiddenExecution { side, price, size } => {
            f.match_number += 1;
            enc::trade(
                &mut b,
                hdr(t),
                0,
                side,
                shares(size),
                stock,
                price,
                f.match_number,
            )
        }
        LobsterOp::Cross { price, size } => {
            f.match_number += 1;
            enc::cross_trade(
                &mut b,
                hdr(t),
                size.max(0) as u64,
                stock,
                price,
                f.match_number,
                b'H',
            )
        }
        LobsterOp::Halt { code } => {
            let state = match code {
                -1 => b'H',
                0 => b'Q',
                _ => b'T',
            };
            enc::trading_action(&mut b, hdr(t), stock, state)
        }
    };
    if let Some(n) = n {
        f.push(&b[..n]);
    }
}

/// Converts a LOBSTER message file (with its order-book file) to a mold file at `out_path`.
pub fn convert(
    msg_path: &Path,
    book_path: &Path,
    symbol: &str,
    out_path: &Path,
) -> Result<ConvertSummary, DataError> {
    let msgs = read_messages(msg_path)?;
    let book = read_orderbook(book_path)?;
    if book.rows() != msgs.len() {
        return Err(DataError::Malformed {
            path: book_path.display().to_string(),
            line: book.rows() as u64,
            reason: format!("{} book rows for {} messages", book.rows(), msgs.len()),
        });
    }
    let stock = enc::stock(symbol);
    let mut f = Framer {
        out: Vec::with_capacity(msgs.len() * 64),
        pkt: vec![0u8; u16::MAX as usize],
        len: 20,
        count: 0,
        seq: 1,
        packets: 0,
        messages: 0,
        match_number: 0,
    };
    f.start();
    let t0 = msgs.first().map_or(0, |m| m.time_ns);
    let mut b = [0u8; 64];
    if let Some(n) = enc::system_event(&mut b, hdr(t0), b'O') {
        f.push(&b[..n]);
    }
    if let Some(n) = enc::stock_directory(&mut b, hdr(t0), stock, 100) {
        f.push(&b[..n]);
    }
    for code in [b'S', b'Q'] {
        if let Some(n) = enc::system_event(&mut b, hdr(t0), code) {
            f.push(&b[..n]);
        }
    }
    if let Some(n) = enc::trading_action(&mut b, hdr(t0), stock, b'T') {
        f.push(&b[..n]);
    }
    let mut r = LobsterReplayer::new(
        InstrumentId(u32::from(LOCATE)),
        book.levels,
        L3Config::default(),
    );
    if let Some(first) = msgs.first() {
        r.seed(first, &book, &mut |op| encode_op(&mut f, op, t0, stock));
    }
    f.flush();
    for (k, m) in msgs.iter().enumerate() {
        r.step(k, m, &book, &mut |op| {
            encode_op(&mut f, op, m.time_ns, stock)
        });
        f.flush();
    }
    let t1 = msgs.last().map_or(0, |m| m.time_ns);
    for code in [b'M', b'E', b'C'] {
        if let Some(n) = enc::system_event(&mut b, hdr(t1), code) {
            f.push(&b[..n]);
        }
    }
    f.flush();
    let mut eos = [0u8; 20];
    encode_header(&mut eos, &SESSION, f.seq, END_OF_SESSION);
    f.out.extend_from_slice(&20u16.to_be_bytes());
    f.out.extend_from_slice(&eos);
    let io = |source| DataError::Io {
        path: out_path.display().to_string(),
        source,
    };
    let mut file = std::fs::File::create(out_path).map_err(io)?;
    file.write_all(&f.out).map_err(io)?;
    Ok(ConvertSummary {
        packets: f.packets,
        messages: f.messages,
        replay: r.stats().clone(),
    })
}

/// Splits a mold file into datagrams (`u16` BE length + bytes each); a truncated tail is an error.
pub fn datagrams(bytes: &[u8]) -> impl Iterator<Item = Result<&[u8], usize>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= bytes.len() {
            return None;
        }
        let Some(lb) = bytes.get(at..at + 2) else {
            at = bytes.len();
            return Some(Err(at));
        };
        let len = usize::from(u16::from_be_bytes([lb[0], lb[1]]));
        let Some(d) = bytes.get(at + 2..at + 2 + len) else {
            let bad = at;
            at = bytes.len();
            return Some(Err(bad));
        };
        at += 2 + len;
        Some(Ok(d))
    })
}
