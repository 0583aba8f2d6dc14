//! Pre-trade risk: every order of a venue session passes [`PreTradeRisk::check_new`] before it is
//! encoded. Fail closed, count what was sent, keep UNKNOWN orders reserved, latch kill and the
//! repeated-execution throttle. Runs on the session's hot thread; never allocates or reads a clock.

pub mod deny;
pub mod limits;
pub mod pre_trade;
pub mod token_bucket;

pub use deny::DenyReason;
pub use limits::{RateLimits, RiskLimits};
pub use pre_trade::{OrderCheck, PreTradeRisk, Reservation, RiskStats, MAX_WORKING};
pub use token_bucket::TokenBucket;
