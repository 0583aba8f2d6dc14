//! [`SessionCore`]'s snapshot encoding (`journal::codec`): every field a later input can read,
//! so `restore(snapshot(x))` evolves exactly as `x` does — the same decisions, the same frame
//! bytes (both mask generators are state), the same digest.
//!
//! Not in a snapshot: the settings (instrument, limits, prefix, timeouts — configuration the
//! live engine and every replay construct identically, as `build_core` does), the event sink, the
//! parameter reader and scratch buffers. The field lists below destructure every struct without
//! `..`, so a field added to the core does not compile until it is placed here.

use super::{Account, InputDecoder, OrderSlot, SessionCore, SessionCounters};
use crate::engine::params::Words;
use crate::journal::codec::{Snap, SnapDecodeError, SnapReader};
use crate::quoter::QuoteParams;

crate::snap_struct!(OrderSlot {
    id,
    side,
    price,
    qty,
    filled,
    cum_quote,
    state,
    venue_id,
    sent_at,
    query_at,
    backoff_ns,
    replaces,
    seen_epoch,
    accepted_emitted,
});
crate::snap_struct!(Account {
    base,
    quote,
    base_fees,
    quote_fees,
    other_fees,
    fills,
    fills_without_fee,
    untracked_fills,
    stream_gaps,
});
crate::snap_struct!(SessionCounters {
    inputs,
    accepted,
    canceled,
    rejected,
    unknown,
    denied,
    rate_denied,
    queries,
    reconciles,
    orphans,
    disconnects,
    illegal,
    unknown_ids,
    http_429,
    http_418,
    venue_rate_near,
    send_errors,
    table_full,
    venue_orders_10s,
    restarts,
});
crate::snap_struct!(InputDecoder {
    words,
    have,
    version
});

impl SessionCore {
    /// Appends the core's snapshot encoding to `w`.
    pub(super) fn snap_put(&self, w: &mut Vec<u8>) {
        let SessionCore {
            core,
            ctl,
            settings: _,
            params,
            top,
            stale,
            top_at,
            connected,
            reconciling,
            open_pending,
            epoch,
            stopping,
            finished,
            kill_confirmed,
            cancel_all_pending,
            rate_block_until,
            last_ts,
            orders,
            account,
            counters,
            events: _,
            reconnect_needed,
            decoder,
            last_seq,
            order_times,
            order_head,
            order_len,
            venue_orders_limit,
        } = self;
        core.snap_put(w);
        ctl.mask.put(w);
        params.to_words().put(w);
        top.put(w);
        top_at.put(w);
        for f in [
            stale,
            connected,
            reconciling,
            open_pending,
            stopping,
            finished,
            kill_confirmed,
            cancel_all_pending,
            reconnect_needed,
        ] {
            f.put(w);
        }
        epoch.put(w);
        rate_block_until.put(w);
        last_ts.put(w);
        orders.put(w);
        account.put(w);
        counters.put(w);
        decoder.put(w);
        last_seq.put(w);
        order_times.put(w);
        order_head.put(w);
        order_len.put(w);
        venue_orders_limit.put(w);
    }

    /// Replaces this freshly built core's journalled state with the one `bytes` encode. On error
    /// the core is half restored and must be dropped.
    pub(super) fn snap_take(&mut self, bytes: &[u8]) -> Result<(), SnapDecodeError> {
        let r = &mut SnapReader::new(bytes);
        self.core.snap_take(r)?;
        self.ctl.mask = Snap::get(r)?;
        self.params = QuoteParams::from_words(Snap::get(r)?);
        self.top = Snap::get(r)?;
        self.top_at = Snap::get(r)?;
        for f in [
            &mut self.stale,
            &mut self.connected,
            &mut self.reconciling,
            &mut self.open_pending,
            &mut self.stopping,
            &mut self.finished,
            &mut self.kill_confirmed,
            &mut self.cancel_all_pending,
            &mut self.reconnect_needed,
        ] {
            *f = Snap::get(r)?;
        }
        self.epoch = Snap::get(r)?;
        self.rate_block_until = Snap::get(r)?;
        self.last_ts = Snap::get(r)?;
        self.orders = Snap::get(r)?;
        self.account = Snap::get(r)?;
        self.counters = Snap::get(r)?;
        self.decoder = Snap::get(r)?;
        self.last_seq = Snap::get(r)?;
        self.order_times = Snap::get(r)?;
        self.order_head = Snap::get(r)?;
        self.order_len = Snap::get(r)?;
        if self.order_head >= super::ORDER_RING || self.order_len > super::ORDER_RING {
            return Err(r.bad("order ring", "index out of range"));
        }
        self.venue_orders_limit = Snap::get(r)?;
        r.finish()
    }
}
