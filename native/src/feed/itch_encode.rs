//! ITCH 5.0 encoder for the messages our converters and the simulated venue emit: `S`, `R`, `H`, `A`,
//! `F`, `E`, `C`, `X`, `D`, `U`, `P`, `Q`. Layouts mirror [`super::itch::decode`] (spec section 4).
//!
//! Writes into caller buffers; no allocation. Each function returns the bytes written, or `None` when
//! `out` is shorter than the message.

use super::itch::{message_len, ItchHeader, Stock};
use crate::model::{Price, Side};

struct Wr<'a> {
    b: &'a mut [u8],
    at: usize,
}

impl Wr<'_> {
    fn u8(&mut self, v: u8) -> &mut Self {
        self.b[self.at] = v;
        self.at += 1;
        self
    }
    fn bytes(&mut self, v: &[u8]) -> &mut Self {
        self.b[self.at..self.at + v.len()].copy_from_slice(v);
        self.at += v.len();
        self
    }
    fn u16(&mut self, v: u16) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    fn u32(&mut self, v: u32) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    fn u64(&mut self, v: u64) -> &mut Self {
        self.bytes(&v.to_be_bytes())
    }
    fn price(&mut self, p: Price) -> &mut Self {
        // Price(4) is an unsigned 32-bit field; out-of-range prices saturate (callers validate).
        self.u32(u32::try_from(p.ticks().max(0)).unwrap_or(u32::MAX))
    }
    fn hdr(&mut self, h: ItchHeader) -> &mut Self {
        let t = h.timestamp.to_be_bytes();
        self.u16(h.locate).u16(h.tracking).bytes(&t[2..8])
    }
}

fn start(kind: u8, out: &mut [u8]) -> Option<Wr<'_>> {
    let len = message_len(kind)?;
    if out.len() < len {
        return None;
    }
    let mut w = Wr {
        b: &mut out[..len],
        at: 0,
    };
    w.u8(kind);
    Some(w)
}

fn side_byte(side: Side) -> u8 {
    match side {
        Side::Buy => b'B',
        Side::Sell => b'S',
    }
}

/// Pads a symbol to the 8-byte, space-padded ITCH field (longer symbols are cut).
pub fn stock(symbol: &str) -> Stock {
    let mut s = [b' '; 8];
    for (d, c) in s.iter_mut().zip(symbol.bytes()) {
        *d = c;
    }
    s
}

/// `S` system event.
pub fn system_event(out: &mut [u8], hdr: ItchHeader, code: u8) -> Option<usize> {
    let mut w = start(b'S', out)?;
    Some(w.hdr(hdr).u8(code).at)
}

/// `R` stock directory for a plain common stock ('Q' market, normal status, `round_lot` shares).
pub fn stock_directory(
    out: &mut [u8],
    hdr: ItchHeader,
    stk: Stock,
    round_lot: u32,
) -> Option<usize> {
    let mut w = start(b'R', out)?;
    w.hdr(hdr)
        .bytes(&stk)
        .u8(b'Q')
        .u8(b'N')
        .u32(round_lot)
        .u8(b'N')
        .u8(b'C');
    w.bytes(b"Z ")
        .u8(b'P')
        .u8(b'N')
        .u8(b'N')
        .u8(b'1')
        .u8(b'N')
        .u32(0)
        .u8(b'N');
    Some(w.at)
}

/// `H` stock trading action (`state` T trading, H halted, P paused, Q quotation only).
pub fn trading_action(out: &mut [u8], hdr: ItchHeader, stk: Stock, state: u8) -> Option<usize> {
    let mut w = start(b'H', out)?;
    Some(w.hdr(hdr).bytes(&stk).u8(state).u8(b' ').bytes(b"    ").at)
}

/// `A` add order (no attribution).
pub fn add_order(
    out: &mut [u8],
    hdr: ItchHeader,
    order_ref: u64,
    side: Side,
    shares: u32,
    stk: Stock,
    price: Price,
) -> Option<usize> {
    let mut w = start(b'A', out)?;
    w.hdr(hdr).u64(order_ref).u8(side_byte(side)).u32(shares);
    Some(w.bytes(&stk).price(price).at)
}

/// `F` add order with attribution.
#[allow(clippy::too_many_arguments)]
pub fn add_order_mpid(
    out: &mut [u8],
    hdr: ItchHeader,
    order_ref: u64,
    side: Side,
    shares: u32,
    stk: Stock,
    price: Price,
    mpid: [u8; 4],
) -> Option<usize> {
    let mut w = start(b'F', out)?;
    w.hdr(hdr).u64(order_ref).u8(side_byte(side)).u32(shares);
    Some(w.bytes(&stk).price(price).bytes(&mpid).at)
}

/// `E` order executed.
pub fn order_executed(
    out: &mut [u8],
    hdr: ItchHeader,
    order_ref: u64,
    shares: u32,
    match_number: u64,
) -> Option<usize> {
    let mut w = start(b'E', out)?;
    Some(w.hdr(hdr).u64(order_ref).u32(shares).u64(match_number).at)
}

/// `C` order executed with price.
pub fn order_executed_with_price(
    out: &mut [u8],
    hdr: ItchHeader,
    order_ref: u64,
    shares: u32,
    match_number: u64,
    printable: bool,
    price: Price,
) -> Option<usize> {
    let mut w = start(b'C', out)?;
    w.hdr(hdr).u64(order_ref).u32(shares).u64(match_number);
    Some(w.u8(if printable { b'Y' } else { b'N' }).price(price).at)
}

/// `X` order cancel (partial).
pub fn order_cancel(out: &mut [u8], hdr: ItchHeader, order_ref: u64, shares: u32) -> Option<usize> {
    let mut w = start(b'X', out)?;
    Some(w.hdr(hdr).u64(order_ref).u32(shares).at)
}

/// `D` order delete.
pub fn order_delete(out: &mut [u8], hdr: ItchHeader, order_ref: u64) -> Option<usize> {
    let mut w = start(b'D', out)?;
    Some(w.hdr(hdr).u64(order_ref).at)
}

/// `U` order replace.
pub fn order_replace(
    out: &mut [u8],
    hdr: ItchHeader,
    original_ref: u64,
    new_ref: u64,
    shares: u32,
    price: Price,
) -> Option<usize> {
    let mut w = start(b'U', out)?;
    Some(
        w.hdr(hdr)
            .u64(original_ref)
            .u64(new_ref)
            .u32(shares)
            .price(price)
            .at,
    )
}

/// `P` trade (non-cross), e.g. an execution against a hidden order.
#[allow(clippy::too_many_arguments)]
pub fn trade(
    out: &mut [u8],
    hdr: ItchHeader,
    order_ref: u64,
    side: Side,
    shares: u32,
    stk: Stock,
    price: Price,
    match_number: u64,
) -> Option<usize> {
    let mut w = start(b'P', out)?;
    w.hdr(hdr).u64(order_ref).u8(side_byte(side)).u32(shares);
    Some(w.bytes(&stk).price(price).u64(match_number).at)
}

/// `Q` cross trade.
pub fn cross_trade(
    out: &mut [u8],
    hdr: ItchHeader,
    shares: u64,
    stk: Stock,
    price: Price,
    match_number: u64,
    cross_type: u8,
) -> Option<usize> {
    let mut w = start(b'Q', out)?;
    w.hdr(hdr).u64(shares).bytes(&stk).price(price);
    Some(w.u64(match_number).u8(cross_type).at)
}

#[cfg(test)]
mod tests {
    use super::super::itch::{decode, ItchMessage};
    use super::*;

    #[test]
    fn round_trips_every_encoded_type() {
        let h = ItchHeader {
            locate: 3,
            tracking: 1,
            timestamp: 34_200_000_000_123,
        };
        let s = stock("AMZN");
        let p = Price::from_ticks(2_239_500);
        let mut b = [0u8; 64];
        let n = add_order(&mut b, h, 5, Side::Buy, 100, s, p).unwrap();
        assert_eq!(
            decode(&b[..n]).unwrap(),
            ItchMessage::AddOrder {
                hdr: h,
                order_ref: 5,
                side: Side::Buy,
                shares: 100,
                stock: s,
                price: p,
                attribution: None
            }
        );
        let n = add_order_mpid(&mut b, h, 5, Side::Sell, 1, s, p, *b"NSDQ").unwrap();
        assert!(
            matches!(decode(&b[..n]).unwrap(), ItchMessage::AddOrder { attribution: Some(a), .. } if &a == b"NSDQ")
        );
        let n = order_executed(&mut b, h, 5, 7, 99).unwrap();
        assert_eq!(
            decode(&b[..n]).unwrap(),
            ItchMessage::OrderExecuted {
                hdr: h,
                order_ref: 5,
                shares: 7,
                match_number: 99
            }
        );
        let n = order_executed_with_price(&mut b, h, 5, 7, 99, true, p).unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::OrderExecutedWithPrice {
                printable: true,
                ..
            }
        ));
        let n = order_cancel(&mut b, h, 5, 3).unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::OrderCancel { shares: 3, .. }
        ));
        let n = order_delete(&mut b, h, 5).unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::OrderDelete { order_ref: 5, .. }
        ));
        let n = order_replace(&mut b, h, 5, 6, 10, p).unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::OrderReplace { new_ref: 6, .. }
        ));
        let n = trade(&mut b, h, 0, Side::Buy, 10, s, p, 7).unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::Trade { shares: 10, .. }
        ));
        let n = cross_trade(&mut b, h, 1000, s, p, 8, b'O').unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::CrossTrade {
                shares: 1000,
                cross_type: b'O',
                ..
            }
        ));
        let n = system_event(&mut b, h, b'Q').unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::SystemEvent { code: b'Q', .. }
        ));
        let n = stock_directory(&mut b, h, s, 100).unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::StockDirectory {
                round_lot_size: 100,
                ..
            }
        ));
        let n = trading_action(&mut b, h, s, b'T').unwrap();
        assert!(matches!(
            decode(&b[..n]).unwrap(),
            ItchMessage::TradingAction { state: b'T', .. }
        ));
        assert_eq!(add_order(&mut b[..10], h, 5, Side::Buy, 1, s, p), None);
    }
}
