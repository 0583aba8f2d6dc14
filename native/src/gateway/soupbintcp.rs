//! SoupBinTCP 3.0 framing: the session layer under OUCH order entry.
//!
//! Every packet is a big-endian `u16` length (counting what follows it), a one-byte packet type and
//! the payload. Client packets: `L` login request, `U` unsequenced data (an OUCH message), `R`
//! heartbeat, `O` logout. Server packets: `A` login accepted, `J` login rejected, `S` sequenced data
//! (an OUCH message), `H` heartbeat, `Z` end of session, `+` debug. Either side expects a heartbeat
//! at least every second and treats about 15 s of silence as a lost session.
//!
//! # Hot path
//! [`parse_packet`] borrows the payload from the receive buffer; encoders write into caller
//! buffers. No allocation.

use thiserror::Error;

/// Packet types (both directions).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PacketType {
    /// `+` debug text.
    Debug,
    /// `A` login accepted: session (10, alpha) and next sequence number (20, numeric text).
    LoginAccepted,
    /// `J` login rejected: reason code (`A` not authorized, `S` session not available).
    LoginRejected,
    /// `S` sequenced data (one OUCH outbound message).
    SequencedData,
    /// `H` server heartbeat.
    ServerHeartbeat,
    /// `Z` end of session.
    EndOfSession,
    /// `L` login request.
    LoginRequest,
    /// `U` unsequenced data (one OUCH inbound message).
    UnsequencedData,
    /// `R` client heartbeat.
    ClientHeartbeat,
    /// `O` logout request.
    LogoutRequest,
}

impl PacketType {
    /// From the wire byte.
    pub fn from_byte(b: u8) -> Option<Self> {
        Some(match b {
            b'+' => PacketType::Debug,
            b'A' => PacketType::LoginAccepted,
            b'J' => PacketType::LoginRejected,
            b'S' => PacketType::SequencedData,
            b'H' => PacketType::ServerHeartbeat,
            b'Z' => PacketType::EndOfSession,
            b'L' => PacketType::LoginRequest,
            b'U' => PacketType::UnsequencedData,
            b'R' => PacketType::ClientHeartbeat,
            b'O' => PacketType::LogoutRequest,
            _ => return None,
        })
    }

    /// The wire byte.
    pub fn byte(self) -> u8 {
        match self {
            PacketType::Debug => b'+',
            PacketType::LoginAccepted => b'A',
            PacketType::LoginRejected => b'J',
            PacketType::SequencedData => b'S',
            PacketType::ServerHeartbeat => b'H',
            PacketType::EndOfSession => b'Z',
            PacketType::LoginRequest => b'L',
            PacketType::UnsequencedData => b'U',
            PacketType::ClientHeartbeat => b'R',
            PacketType::LogoutRequest => b'O',
        }
    }
}

/// A framing error: the stream cannot be trusted past it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Error)]
pub enum SoupError {
    /// A zero length (there must be at least the type byte).
    #[error("zero-length packet")]
    Empty,
    /// An unknown packet type.
    #[error("unknown packet type {0:#04x}")]
    UnknownType(u8),
    /// The output buffer is too small.
    #[error("output buffer too small")]
    Overflow,
    /// A login field does not fit its width.
    #[error("login field too long")]
    FieldTooLong,
}

/// One packet parsed in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Its type.
    pub kind: PacketType,
    /// The payload after the type byte.
    pub payload: &'a [u8],
    /// Bytes consumed from the buffer.
    pub len: usize,
}

/// Parses one packet from the front of `buf`; `Ok(None)` when more bytes are needed.
#[inline]
pub fn parse_packet(buf: &[u8]) -> Result<Option<Packet<'_>>, SoupError> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let n = usize::from(u16::from_be_bytes([buf[0], buf[1]]));
    if n == 0 {
        return Err(SoupError::Empty);
    }
    if buf.len() < 2 + n {
        return Ok(None);
    }
    let kind = PacketType::from_byte(buf[2]).ok_or(SoupError::UnknownType(buf[2]))?;
    Ok(Some(Packet {
        kind,
        payload: &buf[3..2 + n],
        len: 2 + n,
    }))
}

/// Writes a packet of `kind` with `payload`; returns its length.
#[inline]
pub fn write_packet(kind: PacketType, payload: &[u8], out: &mut [u8]) -> Result<usize, SoupError> {
    let n = payload.len() + 1;
    let len = u16::try_from(n).map_err(|_| SoupError::Overflow)?;
    if out.len() < 2 + n {
        return Err(SoupError::Overflow);
    }
    out[..2].copy_from_slice(&len.to_be_bytes());
    out[2] = kind.byte();
    out[3..2 + n].copy_from_slice(payload);
    Ok(2 + n)
}

fn pad_right(field: &mut [u8], value: &[u8]) -> Result<(), SoupError> {
    if value.len() > field.len() {
        return Err(SoupError::FieldTooLong);
    }
    field.fill(b' ');
    field[..value.len()].copy_from_slice(value);
    Ok(())
}

fn pad_left_digits(field: &mut [u8], mut v: u64) {
    field.fill(b' ');
    let mut i = field.len();
    loop {
        i -= 1;
        field[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 || i == 0 {
            break;
        }
    }
}

/// Writes a login request: username (6), password (10), requested session (10, blank = any),
/// requested sequence number (20; 0 = the next one).
pub fn write_login_request(
    user: &[u8],
    password: &[u8],
    session: &[u8],
    seq: u64,
    out: &mut [u8],
) -> Result<usize, SoupError> {
    let mut p = [0u8; 46];
    pad_right(&mut p[0..6], user)?;
    pad_right(&mut p[6..16], password)?;
    pad_right(&mut p[16..26], session)?;
    pad_left_digits(&mut p[26..46], seq);
    write_packet(PacketType::LoginRequest, &p, out)
}

/// Writes a login-accepted packet: session (10) and next sequence number (20).
pub fn write_login_accepted(
    session: &[u8],
    next_seq: u64,
    out: &mut [u8],
) -> Result<usize, SoupError> {
    let mut p = [0u8; 30];
    pad_right(&mut p[0..10], session)?;
    pad_left_digits(&mut p[10..30], next_seq);
    write_packet(PacketType::LoginAccepted, &p, out)
}

/// The fields of a login request or acceptance, trimmed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Login<'a> {
    /// Username (requests only; empty in an acceptance).
    pub user: &'a [u8],
    /// Password (requests only).
    pub password: &'a [u8],
    /// Session.
    pub session: &'a [u8],
    /// Sequence number (requested, or next).
    pub seq: u64,
}

fn trim(b: &[u8]) -> &[u8] {
    b.trim_ascii()
}

fn parse_seq(b: &[u8]) -> Option<u64> {
    let t = trim(b);
    if t.is_empty() {
        return Some(0);
    }
    t.iter().try_fold(0u64, |acc, &c| {
        c.is_ascii_digit()
            .then(|| acc.checked_mul(10)?.checked_add(u64::from(c - b'0')))?
    })
}

/// Reads a login request payload (46 bytes).
pub fn read_login_request(p: &[u8]) -> Option<Login<'_>> {
    (p.len() == 46).then_some(())?;
    Some(Login {
        user: trim(&p[0..6]),
        password: trim(&p[6..16]),
        session: trim(&p[16..26]),
        seq: parse_seq(&p[26..46])?,
    })
}

/// Reads a login-accepted payload (30 bytes).
pub fn read_login_accepted(p: &[u8]) -> Option<Login<'_>> {
    (p.len() == 30).then_some(())?;
    Some(Login {
        user: b"",
        password: b"",
        session: trim(&p[0..10]),
        seq: parse_seq(&p[10..30])?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn login_round_trip() {
        let mut out = [0u8; 64];
        let n = write_login_request(b"PYMM", b"secret", b"", 0, &mut out).unwrap();
        assert_eq!(n, 49);
        assert_eq!(&out[..3], &[0, 47, b'L']);
        let p = parse_packet(&out[..n]).unwrap().unwrap();
        let l = read_login_request(p.payload).unwrap();
        assert_eq!(
            (l.user, l.password, l.session, l.seq),
            (&b"PYMM"[..], &b"secret"[..], &b""[..], 0)
        );
        let n = write_login_accepted(b"SESSION001", 42, &mut out).unwrap();
        let p = parse_packet(&out[..n]).unwrap().unwrap();
        assert_eq!(p.kind, PacketType::LoginAccepted);
        let a = read_login_accepted(p.payload).unwrap();
        assert_eq!((a.session, a.seq), (&b"SESSION001"[..], 42));
        assert_eq!(
            write_login_request(b"TOOLONGUSER", b"", b"", 0, &mut out),
            Err(SoupError::FieldTooLong)
        );
    }

    #[test]
    fn framing_edges() {
        assert_eq!(parse_packet(&[0]), Ok(None));
        assert_eq!(parse_packet(&[0, 3, b'U', 1]), Ok(None));
        assert_eq!(parse_packet(&[0, 0]), Err(SoupError::Empty));
        assert_eq!(
            parse_packet(&[0, 1, b'?']),
            Err(SoupError::UnknownType(b'?'))
        );
        let mut out = [0u8; 8];
        let n = write_packet(PacketType::ClientHeartbeat, &[], &mut out).unwrap();
        assert_eq!(&out[..n], &[0, 1, b'R']);
        let two = [0, 1, b'H', 0, 2, b'S', 9];
        let a = parse_packet(&two).unwrap().unwrap();
        let b = parse_packet(&two[a.len..]).unwrap().unwrap();
        assert_eq!(
            (a.kind, b.kind, b.payload),
            (
                PacketType::ServerHeartbeat,
                PacketType::SequencedData,
                &[9][..]
            )
        );
        assert_eq!(
            write_packet(PacketType::Debug, &[0; 10], &mut out),
            Err(SoupError::Overflow)
        );
        assert!(read_login_accepted(&[b' '; 29]).is_none());
    }
}
