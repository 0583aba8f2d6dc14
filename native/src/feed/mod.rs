//! Feed handlers: wire decoders, framing, arbitration, gap recovery, stale gating, replay drivers.
