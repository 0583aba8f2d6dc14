//! The engine's plumbing: thread placement ([`affinity`]) and the parameter block ([`params`]) that
//! Python writes and the hot thread reads. The thread layout and wiring land with the trading engine.

pub mod affinity;
pub mod events;
pub mod http;
pub mod itch_live;
pub mod live;
pub mod ouch_session;
pub mod params;
pub mod pipeline;
pub mod session;
pub mod usdm_session;
pub mod ws_client;
