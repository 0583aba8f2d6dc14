//! The bodies of the fuzz targets (`native/fuzz/fuzz_targets/*.rs`), here so `cargo test` replays the
//! committed seeds through exactly the same code (`native/tests/fuzz_seeds_l3.rs`). Each function must
//! return without panicking for every input; results are discarded.

use super::arbiter::{Arbiter, ArbiterConfig, Line};
use super::dbn::{decode_mbo, decode_metadata, next_record, RTYPE_MBO};
use super::lobster::{parse_message_line, LobsterBook, LobsterReplayer};
use super::moldudp64::{MoldPacket, Request};
use super::{itch, itch_encode};
use crate::book::{L3Book, L3Config};
use crate::model::{InstrumentId, UnixNanos};

fn small_book() -> L3Book {
    L3Book::new(
        InstrumentId(1),
        L3Config {
            max_orders: 256,
            max_levels: 64,
            ladder_len: 256,
        },
    )
}

/// ITCH: decode, convert, apply to a small book; re-encode adds and compare.
pub fn itch(data: &[u8]) {
    let mut book = small_book();
    let mut at = 0;
    // Treat the input as a sequence of messages of their fixed lengths.
    while at < data.len() {
        let rest = &data[at..];
        let len = itch::message_len(rest[0]).unwrap_or(1);
        if let Ok(m) = itch::decode(rest) {
            let _ = m.trade(UnixNanos(0), UnixNanos(0));
            if let Some(ev) = m.order_event(UnixNanos(0), 0, UnixNanos(0)) {
                let _ = book.apply(&ev);
            }
            if let itch::ItchMessage::AddOrder {
                hdr,
                order_ref,
                side,
                shares,
                stock,
                price,
                attribution: None,
            } = m
            {
                let mut b = [0u8; 64];
                let n = itch_encode::add_order(&mut b, hdr, order_ref, side, shares, stock, price);
                assert_eq!(n.map(|n| &b[..n]), Some(&rest[..len]));
            }
        }
        at += len;
    }
    assert!(book.check_invariants().is_ok());
}

/// MoldUDP64: parse, iterate, decode the ITCH inside, run through the arbiter twice (A and B).
pub fn moldudp64(data: &[u8]) {
    let _ = Request::parse(data);
    if let Ok(p) = MoldPacket::parse(data) {
        for (_, m) in p.messages() {
            let _ = itch::decode(m);
        }
    }
    let mut arb = Arbiter::new(
        1,
        ArbiterConfig {
            window: 8,
            slots: 4,
            slot_bytes: 512,
        },
    );
    // Split the input into datagrams at each "|" byte to get several packets per run.
    for (i, d) in data.split(|&b| b == b'|').enumerate() {
        let line = if i % 2 == 0 { Line::A } else { Line::B };
        let _ = arb.on_packet(line, d, &mut |_, m| {
            let _ = itch::decode(m);
        });
    }
}

/// DBN: metadata, then records from wherever the metadata says they start (or byte 0).
pub fn dbn(data: &[u8]) {
    let start = decode_metadata(data).map_or(0, |m| m.records_offset.min(data.len()));
    let mut rest = &data[start..];
    let mut book = small_book();
    book.set_auction(true);
    while let Ok((t, rec)) = next_record(rest) {
        if t == RTYPE_MBO {
            if let Ok(m) = decode_mbo(rec) {
                if let Some(ev) = m.order_event(1) {
                    let _ = book.apply(&ev);
                }
            }
        }
        rest = &rest[rec.len()..];
    }
    assert!(book.check_invariants().is_ok());
}

/// LOBSTER: message lines, a `---` line, then order-book rows; replayed when both parse and agree.
pub fn lobster(data: &[u8]) {
    let (msgs_text, book_text) = match data.windows(4).position(|w| w == b"---\n") {
        Some(i) => (&data[..i], &data[i + 4..]),
        None => (data, &data[..0]),
    };
    let msgs: Vec<_> = msgs_text
        .split(|&c| c == b'\n')
        .filter(|l| !l.is_empty())
        .filter_map(|l| parse_message_line(l).ok())
        .collect();
    let Ok(book) = LobsterBook::parse(book_text) else {
        return;
    };
    if book.levels == 0 || book.levels > 10 || book.rows() != msgs.len() || msgs.is_empty() {
        return;
    }
    let cfg = L3Config {
        max_orders: 256,
        max_levels: 64,
        ladder_len: 256,
    };
    let mut r = LobsterReplayer::new(InstrumentId(1), book.levels, cfg);
    r.seed(&msgs[0], &book, &mut |_| {});
    for (k, m) in msgs.iter().enumerate() {
        r.step(k, m, &book, &mut |_| {});
    }
    assert!(r.book().check_invariants().is_ok());
}
