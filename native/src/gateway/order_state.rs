//! The order state machine, with an explicit UNKNOWN state.
//!
//! A timeout, `-1007`/`-1006`, a 5xx or a connection reset after an order was sent means the order
//! may be live. It becomes [`OrderState::Unknown`]: reserved as live by risk, resolved by the user
//! stream or by a query with backoff, and **never** resent. "Order does not exist" from a query
//! resolves it as never live.
//!
//! Transitions are a pure function ([`transition`]) so they can be tested exhaustively; illegal
//! transitions are errors (counted by the caller), never silently applied.

use crate::model::{Qty, VenueOrderId};

/// Where an order stands, as far as we know.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum OrderState {
    /// Sent; no answer yet. Reserved.
    PendingNew = 0,
    /// Acknowledged and resting.
    New = 1,
    /// Partly filled and resting.
    PartiallyFilled = 2,
    /// A cancel was sent; the order may still fill.
    PendingCancel = 3,
    /// Its fate is unknown: reserved as live until resolved. Never resent.
    Unknown = 4,
    /// Fully filled (terminal).
    Filled = 5,
    /// Cancelled (terminal).
    Canceled = 6,
    /// Refused by the venue (terminal).
    Rejected = 7,
    /// Expired by the venue: IOC/FOK remainder, post-only that would trade, self-trade prevention (terminal).
    Expired = 8,
    /// An UNKNOWN order that the venue says never existed (terminal).
    NeverLive = 9,
}

impl OrderState {
    /// Whether nothing more can happen to the order.
    pub const fn is_terminal(self) -> bool {
        matches!(
            self,
            OrderState::Filled
                | OrderState::Canceled
                | OrderState::Rejected
                | OrderState::Expired
                | OrderState::NeverLive
        )
    }

    /// Whether the order may rest on the book (counts as working for risk).
    pub const fn may_be_live(self) -> bool {
        !self.is_terminal()
    }

    /// The venue's status spelling, or ours for states the venue lacks.
    pub const fn as_str(self) -> &'static str {
        match self {
            OrderState::PendingNew => "PENDING_NEW",
            OrderState::New => "NEW",
            OrderState::PartiallyFilled => "PARTIALLY_FILLED",
            OrderState::PendingCancel => "PENDING_CANCEL",
            OrderState::Unknown => "UNKNOWN",
            OrderState::Filled => "FILLED",
            OrderState::Canceled => "CANCELED",
            OrderState::Rejected => "REJECTED",
            OrderState::Expired => "EXPIRED",
            OrderState::NeverLive => "NEVER_LIVE",
        }
    }
}

/// Something that happened to an order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderEventKind {
    /// The venue acknowledged it (with its id).
    Accepted(VenueOrderId),
    /// A fill; `leaves` is what remains open after it.
    Filled {
        /// Quantity of this fill.
        qty: Qty,
        /// Open quantity left after it.
        leaves: Qty,
    },
    /// We sent a cancel.
    CancelSent,
    /// The venue cancelled it.
    Canceled,
    /// The venue refused our cancel ("unknown order" or too late): the order's own state stands.
    CancelRejected,
    /// The venue refused the order.
    Rejected,
    /// The venue expired it.
    Expired,
    /// No answer in time, a status-unknown error (-1007, -1006, 5xx), or the connection dropped.
    Timeout,
    /// A query or the user stream says the venue has no such order.
    NotFound,
}

/// An event that the current state cannot take.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IllegalTransition {
    /// The state the order was in.
    pub from: OrderState,
    /// The event that cannot apply.
    pub event: OrderEventKind,
}

/// The next state, or why the event cannot apply.
///
/// Rules worth stating: a fill is a fact and applies from every non-terminal state (UNKNOWN and
/// PENDING_CANCEL included); only UNKNOWN or PENDING_NEW orders can turn out never to have existed;
/// a timeout makes any non-terminal order UNKNOWN; a cancel rejection leaves the order as it was
/// (the caller re-queries).
pub fn transition(
    from: OrderState,
    event: OrderEventKind,
) -> Result<OrderState, IllegalTransition> {
    use OrderEventKind as E;
    use OrderState as S;
    let illegal = Err(IllegalTransition { from, event });
    if from.is_terminal() {
        return illegal;
    }
    Ok(match (from, event) {
        (S::PendingNew | S::Unknown, E::Accepted(_)) => S::New,
        (_, E::Accepted(_)) => return illegal,
        (_, E::Filled { leaves, .. }) if leaves.lots() <= 0 => S::Filled,
        (S::PendingCancel, E::Filled { .. }) => S::PendingCancel,
        (_, E::Filled { .. }) => S::PartiallyFilled,
        (S::PendingNew | S::New | S::PartiallyFilled | S::Unknown, E::CancelSent) => {
            S::PendingCancel
        }
        (_, E::CancelSent) => return illegal,
        (_, E::Canceled) => S::Canceled,
        (S::PendingCancel, E::CancelRejected) => S::Unknown,
        (_, E::CancelRejected) => from,
        (S::PendingNew | S::Unknown, E::Rejected) => S::Rejected,
        (_, E::Rejected) => return illegal,
        (_, E::Expired) => S::Expired,
        (_, E::Timeout) => S::Unknown,
        (S::PendingNew | S::Unknown | S::PendingCancel, E::NotFound) => S::NeverLive,
        (_, E::NotFound) => return illegal,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use OrderEventKind as E;
    use OrderState as S;

    const ALL: [OrderState; 10] = [
        S::PendingNew,
        S::New,
        S::PartiallyFilled,
        S::PendingCancel,
        S::Unknown,
        S::Filled,
        S::Canceled,
        S::Rejected,
        S::Expired,
        S::NeverLive,
    ];

    fn events() -> [OrderEventKind; 10] {
        [
            E::Accepted(VenueOrderId(1)),
            E::Filled {
                qty: Qty::from_lots(1),
                leaves: Qty::from_lots(1),
            },
            E::Filled {
                qty: Qty::from_lots(1),
                leaves: Qty::ZERO,
            },
            E::CancelSent,
            E::Canceled,
            E::CancelRejected,
            E::Rejected,
            E::Expired,
            E::Timeout,
            E::NotFound,
        ]
    }

    #[test]
    fn happy_path_and_partial_fills() {
        let s = transition(S::PendingNew, E::Accepted(VenueOrderId(7))).unwrap();
        let s = transition(
            s,
            E::Filled {
                qty: Qty::from_lots(2),
                leaves: Qty::from_lots(3),
            },
        )
        .unwrap();
        assert_eq!(s, S::PartiallyFilled);
        let s = transition(
            s,
            E::Filled {
                qty: Qty::from_lots(3),
                leaves: Qty::ZERO,
            },
        )
        .unwrap();
        assert_eq!(s, S::Filled);
    }

    #[test]
    fn timeout_makes_unknown_and_only_the_venue_resolves_it() {
        let s = transition(S::PendingNew, E::Timeout).unwrap();
        assert_eq!(s, S::Unknown);
        assert!(s.may_be_live(), "UNKNOWN stays reserved");
        assert_eq!(transition(s, E::NotFound), Ok(S::NeverLive));
        assert_eq!(transition(s, E::Accepted(VenueOrderId(1))), Ok(S::New));
        assert_eq!(
            transition(
                s,
                E::Filled {
                    qty: Qty::from_lots(1),
                    leaves: Qty::ZERO
                }
            ),
            Ok(S::Filled)
        );
        // A resting order that times out on a cancel is unknown again, not cancelled.
        let pc = transition(S::New, E::CancelSent).unwrap();
        assert_eq!(transition(pc, E::Timeout), Ok(S::Unknown));
        assert_eq!(transition(pc, E::CancelRejected), Ok(S::Unknown));
    }

    #[test]
    fn fills_during_pending_cancel_are_facts() {
        let pc = S::PendingCancel;
        assert_eq!(
            transition(
                pc,
                E::Filled {
                    qty: Qty::from_lots(1),
                    leaves: Qty::from_lots(1)
                }
            ),
            Ok(pc)
        );
        assert_eq!(
            transition(
                pc,
                E::Filled {
                    qty: Qty::from_lots(1),
                    leaves: Qty::ZERO
                }
            ),
            Ok(S::Filled)
        );
    }

    #[test]
    fn terminal_states_take_nothing_and_live_orders_cannot_vanish() {
        for s in ALL {
            for e in events() {
                let r = transition(s, e);
                if s.is_terminal() {
                    assert!(r.is_err(), "{s:?} took {e:?}");
                }
                if matches!(s, S::New | S::PartiallyFilled) && e == E::NotFound {
                    assert!(
                        r.is_err(),
                        "an acknowledged order cannot turn out never to have existed"
                    );
                }
                if let Ok(next) = r {
                    // Nothing ever goes back to PENDING_NEW: an order is never resent.
                    assert!(next != S::PendingNew || s == S::PendingNew, "{s:?} + {e:?}");
                }
            }
        }
    }
}
