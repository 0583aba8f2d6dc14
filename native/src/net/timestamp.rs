//! Receive timestamps from the kernel's `SO_TIMESTAMPING` control messages.
//!
//! The kernel (and Onload, through the same interface) delivers one `SCM_TIMESTAMPING` control
//! message holding three `timespec`s: `[0]` software, `[1]` legacy (unused), `[2]` raw hardware.
//! A hardware stamp, when the NIC provides one, wins over the software stamp.
//!
//! Parsing is safe Rust over the control buffer's bytes, so it is tested with constructed buffers.

use crate::model::UnixNanos;

/// `SO_TIMESTAMPING` (the pre-y2038 option number, whose `timespec` is 64-bit on 64-bit targets).
pub const SO_TIMESTAMPING: i32 = 37;
/// The control message type carrying `struct scm_timestamping`.
pub const SCM_TIMESTAMPING: i32 = SO_TIMESTAMPING;
/// `SO_BUSY_POLL`: microseconds to busy-poll the device queue on a blocking read.
pub const SO_BUSY_POLL: i32 = 46;

/// `SOF_TIMESTAMPING_*` flags we request.
pub const SOF_RX_HARDWARE: u32 = 1 << 2;
/// Software receive timestamps.
pub const SOF_RX_SOFTWARE: u32 = 1 << 3;
/// Report software timestamps.
pub const SOF_SOFTWARE: u32 = 1 << 4;
/// Report raw hardware timestamps.
pub const SOF_RAW_HARDWARE: u32 = 1 << 6;

/// Where a receive timestamp came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum TsSource {
    /// No timestamp arrived with the packet.
    None = 0,
    /// The kernel stamped it in software on receive.
    Software = 1,
    /// The NIC stamped it (PHC time; UTC/TAI as the PTP setup makes it).
    Hardware = 2,
}

/// A packet's receive time and its source.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RxTimestamp {
    /// Nanoseconds since the epoch of the stamping clock.
    pub ts: UnixNanos,
    /// Which clock stamped it.
    pub source: TsSource,
}

impl RxTimestamp {
    /// No timestamp.
    pub const NONE: RxTimestamp = RxTimestamp {
        ts: UnixNanos(0),
        source: TsSource::None,
    };
}

const WORD: usize = std::mem::size_of::<usize>();
/// `sizeof(struct cmsghdr)` on Linux: `size_t cmsg_len; int cmsg_level; int cmsg_type;`.
const CMSG_HDR: usize = WORD + 8;

const fn cmsg_align(n: usize) -> usize {
    (n + WORD - 1) & !(WORD - 1)
}

fn read_ne_usize(b: &[u8]) -> Option<usize> {
    Some(usize::from_ne_bytes(b.get(..WORD)?.try_into().ok()?))
}

fn read_ne_i32(b: &[u8]) -> Option<i32> {
    Some(i32::from_ne_bytes(b.get(..4)?.try_into().ok()?))
}

fn read_ne_i64(b: &[u8]) -> Option<i64> {
    Some(i64::from_ne_bytes(b.get(..8)?.try_into().ok()?))
}

fn timespec_ns(b: &[u8]) -> Option<u64> {
    let sec = read_ne_i64(b)?;
    let nsec = read_ne_i64(b.get(8..)?)?;
    if sec < 0 || !(0..1_000_000_000).contains(&nsec) {
        return None;
    }
    (sec as u64)
        .checked_mul(1_000_000_000)?
        .checked_add(nsec as u64)
}

/// Finds the `SCM_TIMESTAMPING` message in `control` (the first `msg_controllen` bytes) and picks the
/// hardware stamp if nonzero, else the software one. Malformed buffers give [`RxTimestamp::NONE`].
///
/// # Hot path
/// Runs per packet: no allocation, a bounded walk over the control buffer.
pub fn parse_control(control: &[u8]) -> RxTimestamp {
    let mut off = 0;
    while off + CMSG_HDR <= control.len() {
        let Some(len) = read_ne_usize(&control[off..]) else {
            break;
        };
        let (Some(level), Some(kind)) = (
            read_ne_i32(&control[off + WORD..]),
            read_ne_i32(&control[off + WORD + 4..]),
        ) else {
            break;
        };
        if len < CMSG_HDR || off + len > control.len() {
            break;
        }
        if level == libc::SOL_SOCKET && kind == SCM_TIMESTAMPING {
            let data = &control[off + CMSG_HDR..off + len];
            let sw = data.get(0..16).and_then(timespec_ns).unwrap_or(0);
            let hw = data.get(32..48).and_then(timespec_ns).unwrap_or(0);
            return match (hw, sw) {
                (0, 0) => RxTimestamp::NONE,
                (0, sw) => RxTimestamp {
                    ts: UnixNanos(sw),
                    source: TsSource::Software,
                },
                (hw, _) => RxTimestamp {
                    ts: UnixNanos(hw),
                    source: TsSource::Hardware,
                },
            };
        }
        off += cmsg_align(len);
    }
    RxTimestamp::NONE
}

/// Control buffer bytes needed for one `SCM_TIMESTAMPING` message (three timespecs), aligned.
pub const CONTROL_LEN: usize = cmsg_align(CMSG_HDR + 48) + 64;

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds a control buffer holding the given messages `(level, type, data)`, laid out as the kernel does.
    pub(crate) fn control(msgs: &[(i32, i32, Vec<u8>)]) -> Vec<u8> {
        let mut out = Vec::new();
        for (level, kind, data) in msgs {
            let len = CMSG_HDR + data.len();
            out.extend_from_slice(&len.to_ne_bytes());
            out.extend_from_slice(&level.to_ne_bytes());
            out.extend_from_slice(&kind.to_ne_bytes());
            out.extend_from_slice(data);
            out.resize(cmsg_align(out.len()), 0);
        }
        out
    }

    pub(crate) fn stamps(sw: (i64, i64), hw: (i64, i64)) -> Vec<u8> {
        let mut d = Vec::new();
        for (s, n) in [sw, (0, 0), hw] {
            d.extend_from_slice(&s.to_ne_bytes());
            d.extend_from_slice(&n.to_ne_bytes());
        }
        d
    }

    #[test]
    fn hardware_wins_over_software() {
        let c = control(&[(libc::SOL_SOCKET, SCM_TIMESTAMPING, stamps((10, 5), (11, 7)))]);
        assert_eq!(
            parse_control(&c),
            RxTimestamp {
                ts: UnixNanos(11_000_000_007),
                source: TsSource::Hardware
            }
        );
    }

    #[test]
    fn software_when_no_hardware() {
        let c = control(&[(libc::SOL_SOCKET, SCM_TIMESTAMPING, stamps((10, 5), (0, 0)))]);
        assert_eq!(
            parse_control(&c),
            RxTimestamp {
                ts: UnixNanos(10_000_000_005),
                source: TsSource::Software
            }
        );
    }

    #[test]
    fn skips_other_messages_first() {
        let c = control(&[
            (libc::IPPROTO_IP, libc::IP_PKTINFO, vec![1; 12]),
            (libc::SOL_SOCKET, SCM_TIMESTAMPING, stamps((3, 0), (0, 0))),
        ]);
        assert_eq!(parse_control(&c).ts, UnixNanos(3_000_000_000));
    }

    #[test]
    fn malformed_buffers_give_none() {
        assert_eq!(parse_control(&[]), RxTimestamp::NONE);
        assert_eq!(parse_control(&[0xff; 7]), RxTimestamp::NONE);
        let mut c = control(&[(libc::SOL_SOCKET, SCM_TIMESTAMPING, stamps((1, 0), (0, 0)))]);
        c[..WORD].copy_from_slice(&(4096usize).to_ne_bytes()); // length past the buffer
        assert_eq!(parse_control(&c), RxTimestamp::NONE);
        let bad_ns = control(&[(
            libc::SOL_SOCKET,
            SCM_TIMESTAMPING,
            stamps((1, 2_000_000_000), (0, 0)),
        )]);
        assert_eq!(parse_control(&bad_ns), RxTimestamp::NONE);
        let truncated = control(&[(libc::SOL_SOCKET, SCM_TIMESTAMPING, vec![0; 20])]);
        assert_eq!(parse_control(&truncated), RxTimestamp::NONE);
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_control_bytes_never_panic(b in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..256)) {
            let _ = parse_control(&b);
        }
    }
}
