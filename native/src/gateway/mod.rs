//! Order entry: the order state machine (with UNKNOWN), client order ids unique forever, request
//! signing, Binance WebSocket-API encoders, Binance USD-M REST order entry and rate accounting,
//! OUCH 4.2 over SoupBinTCP, and (as they land) sessions.

pub mod binance_usdm;
pub mod binance_user;
pub mod binance_ws;
pub mod client_id;
pub mod order_state;
pub mod ouch;
pub mod signing;
pub mod soupbintcp;

pub use client_id::ClientIdAllocator;
pub use order_state::{transition, IllegalTransition, OrderEventKind, OrderState};
pub use signing::{Signer, Verifier};
