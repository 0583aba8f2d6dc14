//! OUCH 4.2 order entry messages (Nasdaq), encoded and decoded in both directions: pymm's gateway
//! sends inbound messages and reads outbound ones; the simulated venue does the reverse.
//!
//! All integers are big-endian; prices are `u32` in 1/10000 of a dollar; alpha fields are
//! left-justified and space-padded. The order token (14 alpha) carries our client order id in
//! decimal. Layouts (byte offsets after the type byte) follow the OUCH 4.2 specification;
//! see `docs/protocols/ouch.md`.
//!
//! # Hot path
//! Encoders write into fixed arrays; decoders borrow from the packet. No allocation.

use thiserror::Error;

use crate::model::decimal::write_u64;
use crate::model::{ClientOrderId, Side};

/// Why an OUCH message could not be read or written.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum OuchError {
    /// The message is shorter or longer than its type requires.
    #[error("message {kind:?} has {len} bytes, expected {want}")]
    BadLength {
        /// Message type byte.
        kind: u8,
        /// Its length.
        len: usize,
        /// The required length.
        want: usize,
    },
    /// An unknown message type.
    #[error("unknown message type {0:#04x}")]
    UnknownType(u8),
    /// A field value is not valid (side, token digits, price or shares out of range).
    #[error("invalid field {0}")]
    BadField(&'static str),
}

/// Time in force seconds meaning "immediate or cancel".
pub const TIF_IOC: u32 = 0;
/// Time in force seconds meaning "until the market close" (day order).
pub const TIF_DAY: u32 = 99_998;

/// Enter Order (`O`, 49 bytes with the type).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnterOrder {
    /// Our client order id (as the order token).
    pub token: ClientOrderId,
    /// Buy or sell (`B`/`S`; short sales are not sent by pymm).
    pub side: Side,
    /// Shares.
    pub shares: u32,
    /// Stock symbol (8, space-padded).
    pub stock: [u8; 8],
    /// Price in 1/10000 dollars.
    pub price: u32,
    /// Time in force, seconds ([`TIF_IOC`], [`TIF_DAY`]).
    pub time_in_force: u32,
    /// Firm (4).
    pub firm: [u8; 4],
    /// Display (`Y` visible; `P` post-only).
    pub display: u8,
    /// Capacity (`P` principal).
    pub capacity: u8,
    /// Intermarket sweep eligibility (`N`).
    pub ise: u8,
    /// Minimum quantity.
    pub min_qty: u32,
    /// Cross type (`N` no cross).
    pub cross_type: u8,
    /// Customer type (`R` retail designated / `N` not / ` ` default).
    pub customer_type: u8,
}

/// Cancel Order (`X`, 19 bytes): reduce the order to `shares` (0 cancels it).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelOrder {
    /// The order's token.
    pub token: ClientOrderId,
    /// Shares to leave open (0: cancel entirely).
    pub shares: u32,
}

/// Replace Order (`U`, 47 bytes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ReplaceOrder {
    /// The order being replaced.
    pub existing: ClientOrderId,
    /// The replacement's token.
    pub replacement: ClientOrderId,
    /// Shares.
    pub shares: u32,
    /// Price in 1/10000 dollars.
    pub price: u32,
    /// Time in force seconds.
    pub time_in_force: u32,
    /// Display.
    pub display: u8,
    /// Intermarket sweep eligibility.
    pub ise: u8,
    /// Minimum quantity.
    pub min_qty: u32,
}

/// Outbound (venue → us) messages pymm reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outbound {
    /// `S` system event: `event` is `S` start of day or `E` end of day.
    SystemEvent {
        /// Nanoseconds since midnight.
        timestamp: u64,
        /// Event code.
        event: u8,
    },
    /// `A` accepted (66 bytes).
    Accepted {
        /// Nanoseconds since midnight.
        timestamp: u64,
        /// Our token.
        token: ClientOrderId,
        /// Side.
        side: Side,
        /// Shares accepted.
        shares: u32,
        /// Price accepted (may differ from the request after price adjustment).
        price: u32,
        /// The venue's order reference number.
        order_ref: u64,
        /// `L` live, `D` dead.
        order_state: u8,
    },
    /// `U` replaced (80 bytes).
    Replaced {
        /// Nanoseconds since midnight.
        timestamp: u64,
        /// The replacement's token.
        replacement: ClientOrderId,
        /// Side.
        side: Side,
        /// Shares.
        shares: u32,
        /// Price.
        price: u32,
        /// New order reference number.
        order_ref: u64,
        /// The replaced order's token.
        previous: ClientOrderId,
    },
    /// `C` canceled (28 bytes): `decrement` shares were taken off.
    Canceled {
        /// Nanoseconds since midnight.
        timestamp: u64,
        /// Token.
        token: ClientOrderId,
        /// Shares cancelled.
        decrement: u32,
        /// Reason code.
        reason: u8,
    },
    /// `E` executed (40 bytes).
    Executed {
        /// Nanoseconds since midnight.
        timestamp: u64,
        /// Token.
        token: ClientOrderId,
        /// Shares executed.
        shares: u32,
        /// Execution price.
        price: u32,
        /// Liquidity flag (`A` added, `R` removed, …).
        liquidity: u8,
        /// Match number.
        match_number: u64,
    },
    /// `J` rejected (24 bytes).
    Rejected {
        /// Nanoseconds since midnight.
        timestamp: u64,
        /// Token.
        token: ClientOrderId,
        /// Reason code.
        reason: u8,
    },
}

fn put_token(out: &mut [u8], id: ClientOrderId) {
    out.fill(b' ');
    let mut scratch = [0u8; 20];
    let digits = write_u64(id.0, &mut scratch);
    // Callers check `check_token` first (ids below 10^14), so the digits fit the 14-byte field.
    let n = digits.len().min(out.len());
    out[..n].copy_from_slice(&digits[..n]);
}

/// Whether `id` fits a 14-character token.
pub fn check_token(id: ClientOrderId) -> Result<(), OuchError> {
    if id.0 < 100_000_000_000_000 {
        Ok(())
    } else {
        Err(OuchError::BadField("token"))
    }
}

fn read_token(b: &[u8]) -> Result<ClientOrderId, OuchError> {
    let t = b.trim_ascii_end();
    if t.is_empty() {
        return Err(OuchError::BadField("token"));
    }
    t.iter()
        .try_fold(0u64, |acc, &c| {
            c.is_ascii_digit().then(|| acc * 10 + u64::from(c - b'0'))
        })
        .map(ClientOrderId)
        .ok_or(OuchError::BadField("token"))
}

fn side_byte(s: Side) -> u8 {
    match s {
        Side::Buy => b'B',
        Side::Sell => b'S',
    }
}

fn read_side(b: u8) -> Result<Side, OuchError> {
    match b {
        b'B' => Ok(Side::Buy),
        b'S' | b'T' | b'E' => Ok(Side::Sell),
        _ => Err(OuchError::BadField("side")),
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

fn be64(b: &[u8]) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[..8]);
    u64::from_be_bytes(a)
}

fn check_len(m: &[u8], want: usize) -> Result<(), OuchError> {
    if m.len() == want {
        Ok(())
    } else {
        Err(OuchError::BadLength {
            kind: m.first().copied().unwrap_or(0),
            len: m.len(),
            want,
        })
    }
}

impl EnterOrder {
    /// Encoded length.
    pub const LEN: usize = 49;

    /// Encodes the message (type byte included).
    pub fn encode(&self, out: &mut [u8; Self::LEN]) -> Result<(), OuchError> {
        check_token(self.token)?;
        out[0] = b'O';
        put_token(&mut out[1..15], self.token);
        out[15] = side_byte(self.side);
        out[16..20].copy_from_slice(&self.shares.to_be_bytes());
        out[20..28].copy_from_slice(&self.stock);
        out[28..32].copy_from_slice(&self.price.to_be_bytes());
        out[32..36].copy_from_slice(&self.time_in_force.to_be_bytes());
        out[36..40].copy_from_slice(&self.firm);
        out[40] = self.display;
        out[41] = self.capacity;
        out[42] = self.ise;
        out[43..47].copy_from_slice(&self.min_qty.to_be_bytes());
        out[47] = self.cross_type;
        out[48] = self.customer_type;
        Ok(())
    }

    /// Decodes a message (type byte included).
    pub fn decode(m: &[u8]) -> Result<Self, OuchError> {
        check_len(m, Self::LEN)?;
        let mut stock = [0u8; 8];
        stock.copy_from_slice(&m[20..28]);
        let mut firm = [0u8; 4];
        firm.copy_from_slice(&m[36..40]);
        Ok(Self {
            token: read_token(&m[1..15])?,
            side: read_side(m[15])?,
            shares: be32(&m[16..20]),
            stock,
            price: be32(&m[28..32]),
            time_in_force: be32(&m[32..36]),
            firm,
            display: m[40],
            capacity: m[41],
            ise: m[42],
            min_qty: be32(&m[43..47]),
            cross_type: m[47],
            customer_type: m[48],
        })
    }
}

impl CancelOrder {
    /// Encoded length.
    pub const LEN: usize = 19;

    /// Encodes the message.
    pub fn encode(&self, out: &mut [u8; Self::LEN]) -> Result<(), OuchError> {
        check_token(self.token)?;
        out[0] = b'X';
        put_token(&mut out[1..15], self.token);
        out[15..19].copy_from_slice(&self.shares.to_be_bytes());
        Ok(())
    }

    /// Decodes a message.
    pub fn decode(m: &[u8]) -> Result<Self, OuchError> {
        check_len(m, Self::LEN)?;
        Ok(Self {
            token: read_token(&m[1..15])?,
            shares: be32(&m[15..19]),
        })
    }
}

impl ReplaceOrder {
    /// Encoded length.
    pub const LEN: usize = 47;

    /// Encodes the message.
    pub fn encode(&self, out: &mut [u8; Self::LEN]) -> Result<(), OuchError> {
        check_token(self.existing)?;
        check_token(self.replacement)?;
        out[0] = b'U';
        put_token(&mut out[1..15], self.existing);
        put_token(&mut out[15..29], self.replacement);
        out[29..33].copy_from_slice(&self.shares.to_be_bytes());
        out[33..37].copy_from_slice(&self.price.to_be_bytes());
        out[37..41].copy_from_slice(&self.time_in_force.to_be_bytes());
        out[41] = self.display;
        out[42] = self.ise;
        out[43..47].copy_from_slice(&self.min_qty.to_be_bytes());
        Ok(())
    }

    /// Decodes a message.
    pub fn decode(m: &[u8]) -> Result<Self, OuchError> {
        check_len(m, Self::LEN)?;
        Ok(Self {
            existing: read_token(&m[1..15])?,
            replacement: read_token(&m[15..29])?,
            shares: be32(&m[29..33]),
            price: be32(&m[33..37]),
            time_in_force: be32(&m[37..41]),
            display: m[41],
            ise: m[42],
            min_qty: be32(&m[43..47]),
        })
    }
}

/// The fields Accepted and Replaced share (their first 66 bytes).
struct OrderBody {
    timestamp: u64,
    token: ClientOrderId,
    side: Side,
    shares: u32,
    price: u32,
    order_ref: u64,
    order_state: u8,
}

/// Writes the 66-byte order body of an Accepted (`A`) or Replaced (`U`) message. Fields pymm does
/// not read get neutral values: stock and firm blank, day TIF, display `Y`, capacity `P`.
fn write_order_body(
    out: &mut [u8; MAX_OUTBOUND],
    kind: u8,
    b: &OrderBody,
) -> Result<(), OuchError> {
    check_token(b.token)?;
    out[..66].fill(b' ');
    out[0] = kind;
    out[1..9].copy_from_slice(&b.timestamp.to_be_bytes());
    put_token(&mut out[9..23], b.token);
    out[23] = side_byte(b.side);
    out[24..28].copy_from_slice(&b.shares.to_be_bytes());
    out[36..40].copy_from_slice(&b.price.to_be_bytes());
    out[40..44].copy_from_slice(&TIF_DAY.to_be_bytes());
    out[48] = b'Y';
    out[49..57].copy_from_slice(&b.order_ref.to_be_bytes());
    out[57] = b'P';
    out[58] = b'N';
    out[59..63].copy_from_slice(&0u32.to_be_bytes());
    out[63] = b'N';
    out[64] = b.order_state;
    Ok(())
}

/// Longest outbound message encoded here (Replaced, 80 bytes).
pub const MAX_OUTBOUND: usize = 80;

impl Outbound {
    /// Decodes one outbound message (the payload of a SoupBinTCP `S` packet).
    #[inline]
    pub fn decode(m: &[u8]) -> Result<Self, OuchError> {
        let kind = *m.first().ok_or(OuchError::BadLength {
            kind: 0,
            len: 0,
            want: 1,
        })?;
        match kind {
            b'S' => {
                check_len(m, 10)?;
                Ok(Outbound::SystemEvent {
                    timestamp: be64(&m[1..9]),
                    event: m[9],
                })
            }
            b'A' => {
                check_len(m, 66)?;
                Ok(Outbound::Accepted {
                    timestamp: be64(&m[1..9]),
                    token: read_token(&m[9..23])?,
                    side: read_side(m[23])?,
                    shares: be32(&m[24..28]),
                    price: be32(&m[36..40]),
                    order_ref: be64(&m[49..57]),
                    order_state: m[64],
                })
            }
            b'U' => {
                check_len(m, 80)?;
                Ok(Outbound::Replaced {
                    timestamp: be64(&m[1..9]),
                    replacement: read_token(&m[9..23])?,
                    side: read_side(m[23])?,
                    shares: be32(&m[24..28]),
                    price: be32(&m[36..40]),
                    order_ref: be64(&m[49..57]),
                    previous: read_token(&m[66..80])?,
                })
            }
            b'C' => {
                check_len(m, 28)?;
                Ok(Outbound::Canceled {
                    timestamp: be64(&m[1..9]),
                    token: read_token(&m[9..23])?,
                    decrement: be32(&m[23..27]),
                    reason: m[27],
                })
            }
            b'E' => {
                check_len(m, 40)?;
                Ok(Outbound::Executed {
                    timestamp: be64(&m[1..9]),
                    token: read_token(&m[9..23])?,
                    shares: be32(&m[23..27]),
                    price: be32(&m[27..31]),
                    liquidity: m[31],
                    match_number: be64(&m[32..40]),
                })
            }
            b'J' => {
                check_len(m, 24)?;
                Ok(Outbound::Rejected {
                    timestamp: be64(&m[1..9]),
                    token: read_token(&m[9..23])?,
                    reason: m[23],
                })
            }
            other => Err(OuchError::UnknownType(other)),
        }
    }

    /// Encodes the message (the simulated venue's side); returns its length. Fields pymm does not
    /// read are written with neutral values (stock/firm blank, display `Y`, capacity `P`).
    pub fn encode(&self, out: &mut [u8; MAX_OUTBOUND]) -> Result<usize, OuchError> {
        let ts = |out: &mut [u8; MAX_OUTBOUND], t: u64| out[1..9].copy_from_slice(&t.to_be_bytes());
        match *self {
            Outbound::SystemEvent { timestamp, event } => {
                out[0] = b'S';
                ts(out, timestamp);
                out[9] = event;
                Ok(10)
            }
            Outbound::Accepted {
                timestamp,
                token,
                side,
                shares,
                price,
                order_ref,
                order_state,
            } => {
                let body = OrderBody {
                    timestamp,
                    token,
                    side,
                    shares,
                    price,
                    order_ref,
                    order_state,
                };
                write_order_body(out, b'A', &body)?;
                Ok(66)
            }
            Outbound::Replaced {
                timestamp,
                replacement,
                side,
                shares,
                price,
                order_ref,
                previous,
            } => {
                check_token(previous)?;
                let body = OrderBody {
                    timestamp,
                    token: replacement,
                    side,
                    shares,
                    price,
                    order_ref,
                    order_state: b'L',
                };
                write_order_body(out, b'U', &body)?;
                put_token(&mut out[66..80], previous);
                Ok(80)
            }
            Outbound::Canceled {
                timestamp,
                token,
                decrement,
                reason,
            } => {
                check_token(token)?;
                out[0] = b'C';
                ts(out, timestamp);
                put_token(&mut out[9..23], token);
                out[23..27].copy_from_slice(&decrement.to_be_bytes());
                out[27] = reason;
                Ok(28)
            }
            Outbound::Executed {
                timestamp,
                token,
                shares,
                price,
                liquidity,
                match_number,
            } => {
                check_token(token)?;
                out[0] = b'E';
                ts(out, timestamp);
                put_token(&mut out[9..23], token);
                out[23..27].copy_from_slice(&shares.to_be_bytes());
                out[27..31].copy_from_slice(&price.to_be_bytes());
                out[31] = liquidity;
                out[32..40].copy_from_slice(&match_number.to_be_bytes());
                Ok(40)
            }
            Outbound::Rejected {
                timestamp,
                token,
                reason,
            } => {
                check_token(token)?;
                out[0] = b'J';
                ts(out, timestamp);
                put_token(&mut out[9..23], token);
                out[23] = reason;
                Ok(24)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn enter() -> EnterOrder {
        EnterOrder {
            token: ClientOrderId(12_345),
            side: Side::Buy,
            shares: 100,
            stock: *b"AMZN    ",
            price: 2_235_100,
            time_in_force: TIF_DAY,
            firm: *b"PYMM",
            display: b'Y',
            capacity: b'P',
            ise: b'N',
            min_qty: 0,
            cross_type: b'N',
            customer_type: b' ',
        }
    }

    #[test]
    fn enter_order_layout() {
        let mut out = [0u8; EnterOrder::LEN];
        enter().encode(&mut out).unwrap();
        assert_eq!(out[0], b'O');
        assert_eq!(&out[1..15], b"12345         ");
        assert_eq!(out[15], b'B');
        assert_eq!(&out[16..20], &[0, 0, 0, 100]);
        assert_eq!(&out[20..28], b"AMZN    ");
        assert_eq!(
            u32::from_be_bytes(out[28..32].try_into().unwrap()),
            2_235_100
        );
        assert_eq!(EnterOrder::decode(&out), Ok(enter()));
        assert!(matches!(
            EnterOrder::decode(&out[..48]),
            Err(OuchError::BadLength { want: 49, .. })
        ));
        let too_big = EnterOrder {
            token: ClientOrderId(100_000_000_000_000),
            ..enter()
        };
        assert_eq!(too_big.encode(&mut out), Err(OuchError::BadField("token")));
    }

    #[test]
    fn cancel_and_replace_round_trip() {
        let c = CancelOrder {
            token: ClientOrderId(7),
            shares: 0,
        };
        let mut b = [0u8; CancelOrder::LEN];
        c.encode(&mut b).unwrap();
        assert_eq!(CancelOrder::decode(&b), Ok(c));
        let r = ReplaceOrder {
            existing: ClientOrderId(7),
            replacement: ClientOrderId(8),
            shares: 50,
            price: 1_000_000,
            time_in_force: TIF_DAY,
            display: b'Y',
            ise: b'N',
            min_qty: 0,
        };
        let mut b = [0u8; ReplaceOrder::LEN];
        r.encode(&mut b).unwrap();
        assert_eq!(ReplaceOrder::decode(&b), Ok(r));
    }

    #[test]
    fn outbound_round_trip_and_errors() {
        let msgs = [
            Outbound::SystemEvent {
                timestamp: 1,
                event: b'S',
            },
            Outbound::Accepted {
                timestamp: 2,
                token: ClientOrderId(9),
                side: Side::Sell,
                shares: 10,
                price: 5,
                order_ref: 77,
                order_state: b'L',
            },
            Outbound::Replaced {
                timestamp: 3,
                replacement: ClientOrderId(10),
                side: Side::Sell,
                shares: 4,
                price: 6,
                order_ref: 78,
                previous: ClientOrderId(9),
            },
            Outbound::Canceled {
                timestamp: 4,
                token: ClientOrderId(10),
                decrement: 4,
                reason: b'U',
            },
            Outbound::Executed {
                timestamp: 5,
                token: ClientOrderId(11),
                shares: 3,
                price: 7,
                liquidity: b'A',
                match_number: 99,
            },
            Outbound::Rejected {
                timestamp: 6,
                token: ClientOrderId(12),
                reason: b'X',
            },
        ];
        for m in msgs {
            let mut b = [0u8; MAX_OUTBOUND];
            let n = m.encode(&mut b).unwrap();
            assert_eq!(Outbound::decode(&b[..n]), Ok(m));
        }
        assert_eq!(Outbound::decode(b"Q"), Err(OuchError::UnknownType(b'Q')));
        let mut b = [0u8; MAX_OUTBOUND];
        let n = msgs[3].encode(&mut b).unwrap();
        b[9] = b'x';
        assert_eq!(Outbound::decode(&b[..n]), Err(OuchError::BadField("token")));
    }

    proptest! {
        #[test]
        fn arbitrary_bytes_never_panic(b in proptest::collection::vec(any::<u8>(), 0..90)) {
            let _ = Outbound::decode(&b);
            let _ = EnterOrder::decode(&b);
            let _ = ReplaceOrder::decode(&b);
            let _ = CancelOrder::decode(&b);
        }
    }
}
