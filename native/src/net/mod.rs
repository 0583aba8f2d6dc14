//! Transports and the rings between threads.
//!
//! - [`transport`]: the `RxTransport` / `TxTransport` roles every backend implements;
//! - [`udp`]: kernel UDP (`recvmmsg`, `SO_BUSY_POLL`, `SO_TIMESTAMPING`) receive and send;
//! - [`tcp`]: kernel TCP client with `TCP_NODELAY`;
//! - [`websocket`]: RFC 6455 client framing, parsed in place;
//! - [`timestamp`]: software/hardware receive timestamps from control messages;
//! - [`ring`]: the bounded SPSC ring every hot thread uses to hand records to other threads.
//!
//! The kernel-bypass backends (AF_XDP, ef_vi) plug into the same traits.

pub mod ring;
pub mod tcp;
pub mod timestamp;
pub mod transport;
pub mod udp;
pub mod websocket;
