//! The transport roles every backend implements: kernel sockets now, AF_XDP and ef_vi later.
//!
//! Hot-path code is generic over these traits (static dispatch), never `dyn`.

use std::io;

use super::timestamp::RxTimestamp;

/// A busy-polled packet source.
pub trait RxTransport {
    /// Delivers every packet ready now to `on_packet` (borrowed bytes, valid only for the call) and
    /// returns how many arrived; `Ok(0)` when none. Never blocks, never allocates.
    fn poll<F: FnMut(&[u8], RxTimestamp)>(&mut self, on_packet: F) -> io::Result<usize>;
}

/// A packet or byte-stream sink.
pub trait TxTransport {
    /// Hands `data` to the kernel (or NIC); returns the bytes accepted.
    fn send(&mut self, data: &[u8]) -> io::Result<usize>;
}
