//! Nasdaq TotalView-ITCH 5.0 decoder: one message (as MoldUDP64 delivers it) → [`ItchMessage`], and
//! the book-building subset → [`OrderEvent`]/[`Trade`]. Field layouts follow the spec's section 4
//! (see `docs/protocols/itch.md`, which cites the section behind each rule).
//!
//! Runs on the pinned feed thread. Zero-copy over `&[u8]`: no allocation, no lock, no logging; a
//! message of unknown type or too short is reported as a [`WireError`] for the caller to count and
//! skip. All integers are big-endian; timestamps are 6-byte nanoseconds since midnight (spec §1.1);
//! `Price(4)` fields have 4 implied decimals and decode to [`Price`] in units of 0.0001 (spec §3).

use super::wire_error::WireError;
use crate::model::UnixNanos;
use crate::model::{InstrumentId, OrderAction, OrderEvent, OrderRef, Price, Qty, Side, Trade};

/// The header every ITCH 5.0 message shares after its type byte (spec §4: locate, tracking, time).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ItchHeader {
    /// Stock locate code (the instrument's index for the day; 0 for market-wide messages).
    pub locate: u16,
    /// Nasdaq internal tracking number.
    pub tracking: u16,
    /// Nanoseconds since midnight (Eastern time) of the trading day.
    pub timestamp: u64,
}

/// An 8-byte, space-padded ASCII stock symbol.
pub type Stock = [u8; 8];

/// One decoded ITCH 5.0 message (section numbers from the spec).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ItchMessage {
    /// `S` §4.1: start/end of messages, system hours, market hours.
    SystemEvent {
        /// Header.
        hdr: ItchHeader,
        /// Event code: O, S, Q, M, E, C.
        code: u8,
    },
    /// `R` §4.2.1: the instrument directory for the day.
    StockDirectory {
        /// Header (the locate code defined here).
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Market category (Q, G, S, N, A, P, Z, V, space).
        market_category: u8,
        /// Financial status indicator.
        financial_status: u8,
        /// Round lot size in shares.
        round_lot_size: u32,
        /// Round lots only ('Y'/'N').
        round_lots_only: u8,
        /// Issue classification.
        issue_classification: u8,
        /// Issue sub-type.
        issue_subtype: [u8; 2],
        /// Authenticity ('P' live, 'T' test).
        authenticity: u8,
        /// Short sale threshold indicator.
        short_sale_threshold: u8,
        /// IPO flag.
        ipo_flag: u8,
        /// LULD reference price tier.
        luld_tier: u8,
        /// ETP flag.
        etp_flag: u8,
        /// ETP leverage factor.
        etp_leverage: u32,
        /// Inverse indicator.
        inverse: u8,
    },
    /// `H` §4.2.2: trading state (H halted, P paused, Q quotation only, T trading).
    TradingAction {
        /// Header.
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Trading state.
        state: u8,
        /// Reason code.
        reason: [u8; 4],
    },
    /// `Y` §4.2.3: Reg SHO short sale price test.
    RegSho {
        /// Header.
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Action '0', '1', '2'.
        action: u8,
    },
    /// `L` §4.2.4: market participant position.
    ParticipantPosition {
        /// Header.
        hdr: ItchHeader,
        /// Market participant id.
        mpid: [u8; 4],
        /// Symbol.
        stock: Stock,
        /// Primary market maker.
        primary: u8,
        /// Market maker mode.
        mode: u8,
        /// Participant state.
        state: u8,
    },
    /// `V` §4.2.5.1: market-wide circuit breaker decline levels (`Price(8)`).
    MwcbDeclineLevel {
        /// Header.
        hdr: ItchHeader,
        /// Levels 1–3, 8 implied decimals.
        levels: [u64; 3],
    },
    /// `W` §4.2.5.2: a market-wide circuit breaker level was breached.
    MwcbStatus {
        /// Header.
        hdr: ItchHeader,
        /// Breached level '1', '2', '3'.
        level: u8,
    },
    /// `K` §4.2.6: IPO quoting period update.
    IpoQuotingPeriod {
        /// Header.
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Release time, seconds since midnight.
        release_time: u32,
        /// Release qualifier.
        qualifier: u8,
        /// IPO price.
        price: Price,
    },
    /// `J` §4.2.7: LULD auction collar.
    LuldAuctionCollar {
        /// Header.
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Reference price.
        reference: Price,
        /// Upper collar.
        upper: Price,
        /// Lower collar.
        lower: Price,
        /// Extension number.
        extension: u32,
    },
    /// `h` §4.2.8: operational halt.
    OperationalHalt {
        /// Header.
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Market code.
        market_code: u8,
        /// 'H' halted, 'T' resumed.
        action: u8,
    },
    /// `A` §4.3.1 / `F` §4.3.2: a new displayed order (`F` with attribution).
    AddOrder {
        /// Header.
        hdr: ItchHeader,
        /// Order reference number, unique for the day.
        order_ref: u64,
        /// Buy or sell.
        side: Side,
        /// Shares.
        shares: u32,
        /// Symbol.
        stock: Stock,
        /// Limit price.
        price: Price,
        /// MPID for `F`.
        attribution: Option<[u8; 4]>,
    },
    /// `E` §4.4.1: part or all of a resting order executed at its price.
    OrderExecuted {
        /// Header.
        hdr: ItchHeader,
        /// Order reference.
        order_ref: u64,
        /// Executed shares.
        shares: u32,
        /// Match number.
        match_number: u64,
    },
    /// `C` §4.4.2: executed at a price other than the order's (e.g. in a cross).
    OrderExecutedWithPrice {
        /// Header.
        hdr: ItchHeader,
        /// Order reference.
        order_ref: u64,
        /// Executed shares.
        shares: u32,
        /// Match number.
        match_number: u64,
        /// Whether the execution prints to the tape ('Y').
        printable: bool,
        /// Execution price.
        price: Price,
    },
    /// `X` §4.4.3: part of an order cancelled.
    OrderCancel {
        /// Header.
        hdr: ItchHeader,
        /// Order reference.
        order_ref: u64,
        /// Cancelled shares.
        shares: u32,
    },
    /// `D` §4.4.4: the whole order leaves the book.
    OrderDelete {
        /// Header.
        hdr: ItchHeader,
        /// Order reference.
        order_ref: u64,
    },
    /// `U` §4.4.5: cancel-replace; the new order loses priority and keeps the side.
    OrderReplace {
        /// Header.
        hdr: ItchHeader,
        /// The order being replaced.
        original_ref: u64,
        /// The new reference.
        new_ref: u64,
        /// New shares.
        shares: u32,
        /// New price.
        price: Price,
    },
    /// `P` §4.5.1: execution against a non-displayed order (never changes the visible book).
    Trade {
        /// Header.
        hdr: ItchHeader,
        /// Order reference (0 since 2014 for anonymity).
        order_ref: u64,
        /// 'B' or 'S'.
        side: u8,
        /// Shares.
        shares: u32,
        /// Symbol.
        stock: Stock,
        /// Price.
        price: Price,
        /// Match number.
        match_number: u64,
    },
    /// `Q` §4.5.2: the bulk print of an opening/closing/IPO/halt cross.
    CrossTrade {
        /// Header.
        hdr: ItchHeader,
        /// Shares (8 bytes).
        shares: u64,
        /// Symbol.
        stock: Stock,
        /// Cross price.
        price: Price,
        /// Match number.
        match_number: u64,
        /// Cross type (O, C, H, I).
        cross_type: u8,
    },
    /// `B` §4.5.3: a trade was broken.
    BrokenTrade {
        /// Header.
        hdr: ItchHeader,
        /// The broken match number.
        match_number: u64,
    },
    /// `I` §4.6: net order imbalance indicator ahead of a cross.
    Noii {
        /// Header.
        hdr: ItchHeader,
        /// Paired shares.
        paired: u64,
        /// Imbalance shares.
        imbalance: u64,
        /// Imbalance direction.
        direction: u8,
        /// Symbol.
        stock: Stock,
        /// Far price.
        far: Price,
        /// Near price.
        near: Price,
        /// Current reference price.
        reference: Price,
        /// Cross type.
        cross_type: u8,
        /// Price variation indicator.
        variation: u8,
    },
    /// `N` §4.7: retail price improvement indicator.
    Rpii {
        /// Header.
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Interest flag.
        interest: u8,
    },
    /// `O` §4.8: direct listing with capital raise price discovery.
    Dlcr {
        /// Header.
        hdr: ItchHeader,
        /// Symbol.
        stock: Stock,
        /// Open eligibility status.
        eligible: u8,
        /// Minimum allowable price.
        min_price: Price,
        /// Maximum allowable price.
        max_price: Price,
        /// Near execution price.
        near_price: Price,
        /// Near execution time.
        near_time: u64,
        /// Lower price range collar.
        lower_collar: Price,
        /// Upper price range collar.
        upper_collar: Price,
    },
}

/// The fixed length (type byte included) of each message type, or `None` for an unknown type.
pub const fn message_len(kind: u8) -> Option<usize> {
    Some(match kind {
        b'S' => 12,
        b'R' => 39,
        b'H' => 25,
        b'Y' => 20,
        b'L' => 26,
        b'V' => 35,
        b'W' => 12,
        b'K' => 28,
        b'J' => 35,
        b'h' => 21,
        b'A' => 36,
        b'F' => 40,
        b'E' => 31,
        b'C' => 36,
        b'X' => 23,
        b'D' => 19,
        b'U' => 35,
        b'P' => 44,
        b'Q' => 40,
        b'B' => 19,
        b'I' => 50,
        b'N' => 20,
        b'O' => 48,
        _ => return None,
    })
}

/// A bounds-checked big-endian cursor over one message whose length was checked up front.
struct Rd<'a> {
    b: &'a [u8],
    at: usize,
}

impl Rd<'_> {
    #[inline]
    fn u8(&mut self) -> u8 {
        let v = self.b[self.at];
        self.at += 1;
        v
    }
    #[inline]
    fn arr<const N: usize>(&mut self) -> [u8; N] {
        let mut a = [0u8; N];
        a.copy_from_slice(&self.b[self.at..self.at + N]);
        self.at += N;
        a
    }
    #[inline]
    fn u16(&mut self) -> u16 {
        u16::from_be_bytes(self.arr())
    }
    #[inline]
    fn u32(&mut self) -> u32 {
        u32::from_be_bytes(self.arr())
    }
    #[inline]
    fn u48(&mut self) -> u64 {
        let a: [u8; 6] = self.arr();
        u64::from_be_bytes([0, 0, a[0], a[1], a[2], a[3], a[4], a[5]])
    }
    #[inline]
    fn u64(&mut self) -> u64 {
        u64::from_be_bytes(self.arr())
    }
    #[inline]
    fn price(&mut self) -> Price {
        Price::from_ticks(i64::from(self.u32()))
    }
    #[inline]
    fn hdr(&mut self) -> ItchHeader {
        ItchHeader {
            locate: self.u16(),
            tracking: self.u16(),
            timestamp: self.u48(),
        }
    }
}

#[inline]
fn side_of(b: u8) -> Result<Side, WireError> {
    match b {
        b'B' => Ok(Side::Buy),
        b'S' => Ok(Side::Sell),
        _ => Err(bad_side(b)),
    }
}

#[cold]
#[inline(never)]
fn bad_side(b: u8) -> WireError {
    WireError::BadField {
        what: "ITCH buy/sell indicator",
        value: u64::from(b),
    }
}

#[cold]
#[inline(never)]
fn truncated(need: usize, have: usize) -> WireError {
    WireError::Truncated {
        what: "ITCH message",
        need,
        have,
    }
}

/// Decodes one ITCH 5.0 message. Bytes past the type's fixed length are ignored (spec §1: lengths
/// are fixed per type; MoldUDP64 frames each message with its own length).
///
/// # Hot path
/// No allocation, no panic on any input (lengths are checked before reading).
#[inline]
pub fn decode(buf: &[u8]) -> Result<ItchMessage, WireError> {
    let Some(&kind) = buf.first() else {
        return Err(truncated(1, 0));
    };
    let Some(len) = message_len(kind) else {
        return Err(WireError::UnknownType { kind });
    };
    if buf.len() < len {
        return Err(truncated(len, buf.len()));
    }
    let mut r = Rd { b: buf, at: 1 };
    let hdr = r.hdr();
    Ok(match kind {
        b'A' | b'F' => {
            let order_ref = r.u64();
            let side = side_of(r.u8())?;
            let shares = r.u32();
            let stock = r.arr();
            let price = r.price();
            let attribution = (kind == b'F').then(|| r.arr());
            ItchMessage::AddOrder {
                hdr,
                order_ref,
                side,
                shares,
                stock,
                price,
                attribution,
            }
        }
        b'E' => ItchMessage::OrderExecuted {
            hdr,
            order_ref: r.u64(),
            shares: r.u32(),
            match_number: r.u64(),
        },
        b'C' => ItchMessage::OrderExecutedWithPrice {
            hdr,
            order_ref: r.u64(),
            shares: r.u32(),
            match_number: r.u64(),
            printable: r.u8() == b'Y',
            price: r.price(),
        },
        b'X' => ItchMessage::OrderCancel {
            hdr,
            order_ref: r.u64(),
            shares: r.u32(),
        },
        b'D' => ItchMessage::OrderDelete {
            hdr,
            order_ref: r.u64(),
        },
        b'U' => ItchMessage::OrderReplace {
            hdr,
            original_ref: r.u64(),
            new_ref: r.u64(),
            shares: r.u32(),
            price: r.price(),
        },
        b'P' => ItchMessage::Trade {
            hdr,
            order_ref: r.u64(),
            side: r.u8(),
            shares: r.u32(),
            stock: r.arr(),
            price: r.price(),
            match_number: r.u64(),
        },
        b'Q' => ItchMessage::CrossTrade {
            hdr,
            shares: r.u64(),
            stock: r.arr(),
            price: r.price(),
            match_number: r.u64(),
            cross_type: r.u8(),
        },
        b'B' => ItchMessage::BrokenTrade {
            hdr,
            match_number: r.u64(),
        },
        b'S' => ItchMessage::SystemEvent { hdr, code: r.u8() },
        b'R' => ItchMessage::StockDirectory {
            hdr,
            stock: r.arr(),
            market_category: r.u8(),
            financial_status: r.u8(),
            round_lot_size: r.u32(),
            round_lots_only: r.u8(),
            issue_classification: r.u8(),
            issue_subtype: r.arr(),
            authenticity: r.u8(),
            short_sale_threshold: r.u8(),
            ipo_flag: r.u8(),
            luld_tier: r.u8(),
            etp_flag: r.u8(),
            etp_leverage: r.u32(),
            inverse: r.u8(),
        },
        b'H' => ItchMessage::TradingAction {
            hdr,
            stock: r.arr(),
            state: r.u8(),
            reason: {
                r.u8(); // reserved
                r.arr()
            },
        },
        b'Y' => ItchMessage::RegSho {
            hdr,
            stock: r.arr(),
            action: r.u8(),
        },
        b'L' => ItchMessage::ParticipantPosition {
            hdr,
            mpid: r.arr(),
            stock: r.arr(),
            primary: r.u8(),
            mode: r.u8(),
            state: r.u8(),
        },
        b'V' => ItchMessage::MwcbDeclineLevel {
            hdr,
            levels: [r.u64(), r.u64(), r.u64()],
        },
        b'W' => ItchMessage::MwcbStatus { hdr, level: r.u8() },
        b'K' => ItchMessage::IpoQuotingPeriod {
            hdr,
            stock: r.arr(),
            release_time: r.u32(),
            qualifier: r.u8(),
            price: r.price(),
        },
        b'J' => ItchMessage::LuldAuctionCollar {
            hdr,
            stock: r.arr(),
            reference: r.price(),
            upper: r.price(),
            lower: r.price(),
            extension: r.u32(),
        },
        b'h' => ItchMessage::OperationalHalt {
            hdr,
            stock: r.arr(),
            market_code: r.u8(),
            action: r.u8(),
        },
        b'I' => ItchMessage::Noii {
            hdr,
            paired: r.u64(),
            imbalance: r.u64(),
            direction: r.u8(),
            stock: r.arr(),
            far: r.price(),
            near: r.price(),
            reference: r.price(),
            cross_type: r.u8(),
            variation: r.u8(),
        },
        b'N' => ItchMessage::Rpii {
            hdr,
            stock: r.arr(),
            interest: r.u8(),
        },
        b'O' => ItchMessage::Dlcr {
            hdr,
            stock: r.arr(),
            eligible: r.u8(),
            min_price: r.price(),
            max_price: r.price(),
            near_price: r.price(),
            near_time: r.u64(),
            lower_collar: r.price(),
            upper_collar: r.price(),
        },
        // `message_len` returned Some only for the types above.
        _ => return Err(WireError::UnknownType { kind }),
    })
}

impl ItchMessage {
    /// The message's header.
    pub fn header(&self) -> ItchHeader {
        match *self {
            ItchMessage::SystemEvent { hdr, .. }
            | ItchMessage::StockDirectory { hdr, .. }
            | ItchMessage::TradingAction { hdr, .. }
            | ItchMessage::RegSho { hdr, .. }
            | ItchMessage::ParticipantPosition { hdr, .. }
            | ItchMessage::MwcbDeclineLevel { hdr, .. }
            | ItchMessage::MwcbStatus { hdr, .. }
            | ItchMessage::IpoQuotingPeriod { hdr, .. }
            | ItchMessage::LuldAuctionCollar { hdr, .. }
            | ItchMessage::OperationalHalt { hdr, .. }
            | ItchMessage::AddOrder { hdr, .. }
            | ItchMessage::OrderExecuted { hdr, .. }
            | ItchMessage::OrderExecutedWithPrice { hdr, .. }
            | ItchMessage::OrderCancel { hdr, .. }
            | ItchMessage::OrderDelete { hdr, .. }
            | ItchMessage::OrderReplace { hdr, .. }
            | ItchMessage::Trade { hdr, .. }
            | ItchMessage::CrossTrade { hdr, .. }
            | ItchMessage::BrokenTrade { hdr, .. }
            | ItchMessage::Noii { hdr, .. }
            | ItchMessage::Rpii { hdr, .. }
            | ItchMessage::Dlcr { hdr, .. } => hdr,
        }
    }

    /// The book event this message carries, if any. `E`, `C`, `X`, `D` and `U` do not repeat the
    /// order's side (the book knows it): `side` is reported as `Buy` and ignored by the book; `price`
    /// is the execution price for `C`, zero for `E`/`X`/`D`. The instrument is the locate code.
    ///
    /// `midnight` converts the message's nanoseconds-since-midnight into [`UnixNanos`].
    #[inline]
    pub fn order_event(
        &self,
        midnight: UnixNanos,
        sequence: u64,
        ts_recv: UnixNanos,
    ) -> Option<OrderEvent> {
        let hdr = self.header();
        let mut ev = OrderEvent {
            instrument: InstrumentId(u32::from(hdr.locate)),
            action: OrderAction::Add,
            order: OrderRef(0),
            side: Side::Buy,
            price: Price::ZERO,
            qty: Qty::ZERO,
            sequence,
            ts_event: UnixNanos(midnight.0.saturating_add(hdr.timestamp)),
            ts_recv,
        };
        match *self {
            ItchMessage::AddOrder {
                order_ref,
                side,
                shares,
                price,
                ..
            } => {
                ev.order = OrderRef(order_ref);
                ev.side = side;
                ev.price = price;
                ev.qty = Qty::from_lots(i64::from(shares));
            }
            ItchMessage::OrderExecuted {
                order_ref, shares, ..
            } => {
                ev.action = OrderAction::Execute;
                ev.order = OrderRef(order_ref);
                ev.qty = Qty::from_lots(i64::from(shares));
            }
            ItchMessage::OrderExecutedWithPrice {
                order_ref,
                shares,
                price,
                ..
            } => {
                ev.action = OrderAction::Execute;
                ev.order = OrderRef(order_ref);
                ev.qty = Qty::from_lots(i64::from(shares));
                ev.price = price;
            }
            ItchMessage::OrderCancel {
                order_ref, shares, ..
            } => {
                ev.action = OrderAction::Cancel;
                ev.order = OrderRef(order_ref);
                ev.qty = Qty::from_lots(i64::from(shares));
            }
            ItchMessage::OrderDelete { order_ref, .. } => {
                ev.action = OrderAction::Delete;
                ev.order = OrderRef(order_ref);
            }
            ItchMessage::OrderReplace {
                original_ref,
                new_ref,
                shares,
                price,
                ..
            } => {
                ev.action = OrderAction::Replace {
                    new_ref: OrderRef(new_ref),
                };
                ev.order = OrderRef(original_ref);
                ev.qty = Qty::from_lots(i64::from(shares));
                ev.price = price;
            }
            _ => return None,
        }
        Some(ev)
    }

    /// The tape print this message carries, if any (`P`, `Q`, and printable `E`/`C` executions; for
    /// `E` the price is the resting order's, which only the book knows: it is reported as zero).
    pub fn trade(&self, midnight: UnixNanos, ts_recv: UnixNanos) -> Option<Trade> {
        let hdr = self.header();
        let (price, qty, trade_id) = match *self {
            ItchMessage::Trade {
                price,
                shares,
                match_number,
                ..
            } => (price, u64::from(shares), match_number),
            ItchMessage::CrossTrade {
                price,
                shares,
                match_number,
                ..
            } => (price, shares, match_number),
            ItchMessage::OrderExecuted {
                shares,
                match_number,
                ..
            } => (Price::ZERO, u64::from(shares), match_number),
            ItchMessage::OrderExecutedWithPrice {
                shares,
                match_number,
                price,
                printable: true,
                ..
            } => (price, u64::from(shares), match_number),
            _ => return None,
        };
        Some(Trade {
            instrument: InstrumentId(u32::from(hdr.locate)),
            price,
            qty: Qty::from_lots(i64::try_from(qty).unwrap_or(i64::MAX)),
            aggressor: None,
            trade_id,
            ts_event: UnixNanos(midnight.0.saturating_add(hdr.timestamp)),
            ts_recv,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_cover_the_issue_list() {
        for k in b"SRHYLVWKJhAFECXDUPQBINO" {
            assert!(message_len(*k).is_some(), "{}", *k as char);
        }
        assert_eq!(message_len(b'Z'), None);
    }

    #[test]
    fn decodes_add_order() {
        let mut m = vec![b'A', 0, 7, 0, 1];
        m.extend_from_slice(&[0, 0, 0, 0, 0x30, 0x39]); // ts 12345
        m.extend_from_slice(&42u64.to_be_bytes());
        m.push(b'S');
        m.extend_from_slice(&100u32.to_be_bytes());
        m.extend_from_slice(b"AMZN    ");
        m.extend_from_slice(&2_239_500u32.to_be_bytes());
        assert_eq!(m.len(), 36);
        let msg = decode(&m).unwrap();
        let ev = msg
            .order_event(UnixNanos(1_000_000), 9, UnixNanos(0))
            .unwrap();
        assert_eq!(ev.order, OrderRef(42));
        assert_eq!(ev.side, Side::Sell);
        assert_eq!(ev.price, Price::from_ticks(2_239_500));
        assert_eq!(ev.qty, Qty::from_lots(100));
        assert_eq!(ev.instrument, InstrumentId(7));
        assert_eq!(ev.ts_event, UnixNanos(1_012_345));
        assert!(decode(&m[..35]).is_err());
        m[19] = b'Z';
        assert!(matches!(decode(&m), Err(WireError::BadField { .. })));
    }

    #[test]
    fn unknown_and_empty_are_errors() {
        assert_eq!(
            decode(&[b'z', 0]),
            Err(WireError::UnknownType { kind: b'z' })
        );
        assert!(decode(&[]).is_err());
    }
}
