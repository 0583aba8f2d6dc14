//! Feed handlers: wire decoders, framing, arbitration, gap recovery, stale gating, replay drivers.

pub mod dbn;
pub mod decode_error;
pub mod itch;
pub mod itch_encode;

pub use decode_error::{DataError, DecodeError};
pub mod arbiter;
pub mod fuzz;
pub mod lobster;
pub mod lobster_to_itch;
pub mod moldudp64;
pub mod replay_l3;
pub mod stale_gate;
