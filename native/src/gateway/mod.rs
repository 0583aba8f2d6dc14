//! Order entry: the order state machine (with UNKNOWN), client order ids unique forever, and (as
//! they land) venue encoders, sessions and rate-limit accounting.

pub mod binance_ws;
pub mod client_id;
pub mod order_state;
pub mod signing;

pub use client_id::ClientIdAllocator;
pub use order_state::{transition, IllegalTransition, OrderEventKind, OrderState};
pub use signing::{Signer, Verifier};
