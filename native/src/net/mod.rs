//! Transports and the rings between threads.
//!
//! - [`transport`]: the `RxTransport` / `TxTransport` roles every backend implements;
//! - [`udp`]: kernel UDP (`recvmmsg`, `SO_BUSY_POLL`, `SO_TIMESTAMPING`) receive and send;
//! - [`tcp`]: kernel TCP client with `TCP_NODELAY`;
//! - [`websocket`]: RFC 6455 client framing, parsed in place;
//! - [`timestamp`]: software/hardware receive timestamps from control messages;
//! - [`ring`]: the bounded SPSC ring every hot thread uses to hand records to other threads.
//!
//! - [`packet`]: Ethernet/IPv4/UDP parsing and building for the bypass backends;
//! - [`afxdp`]: AF_XDP receive and send (raw syscalls, our own XDP program);
//! - [`efvi`]: Solarflare ef_vi through a shim loaded at run time (fake shim in CI);
//! - [`select`]: `--transport kernel|afxdp|efvi` and the ef_vi → kernel fallback;
//!
//! The kernel-bypass backends plug into the same traits.

pub mod afxdp;
pub mod efvi;
pub mod packet;
pub mod ring;
pub mod select;
pub mod tcp;
pub mod timestamp;
pub mod transport;
pub mod udp;
pub mod websocket;
