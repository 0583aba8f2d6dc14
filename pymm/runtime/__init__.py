"""The running instance: state directory, kill latch, venue process, control API (ADR 0005)."""
