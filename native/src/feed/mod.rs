//! Feed handlers: wire decoders, framing, arbitration, gap recovery, stale gating, replay drivers.

pub mod decode_error;
pub mod itch;
pub mod itch_encode;

pub use decode_error::{DataError, DecodeError};
pub mod arbiter;
pub mod moldudp64;
pub mod stale_gate;
