//! Transports and the rings between threads.
//!
//! - [`ring`]: the bounded SPSC ring every hot thread uses to hand records to other threads.
//!
//! Transports (kernel UDP/TCP, AF_XDP, ef_vi) live here behind one trait as they are built.

pub mod ring;
