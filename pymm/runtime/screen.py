"""``pymm status``: the status JSON as a trader's text screen."""

from __future__ import annotations

from typing import Any

__all__ = ["render"]


def render(st: dict[str, Any]) -> str:
    """A compact screen: state and kill latch, then per instrument book, quotes, position, PnL,
    orders and risk headroom, then latency percentiles, toxicity, parameter pushes and alerts."""
    out = []
    k = st.get("kill", {})
    out.append(f"pymm  state {st.get('state')}  engine {st.get('engine_state')}")
    if k.get("latched"):
        out.append(
            f"KILL LATCHED {k.get('latch_id')}: {k.get('reason')}  "
            f"approvals {k.get('approvals') or []} (need 2)"
        )
    for i in st.get("instruments", []):
        b = i.get("book", {})
        out.append(
            f"\n{i['symbol']} on {i['venue']}  bid {b.get('bid')} x {b.get('bid_qty')}  "
            f"ask {b.get('ask')} x {b.get('ask_qty')}"
        )
        quotes = sorted(i.get("quotes", []), key=lambda q: (q.get("side") != "SELL", str(q.get("price"))))
        for q in quotes:
            out.append(
                f"  {q.get('side', ''):<5} {q.get('price')!s:>12} x {q.get('qty')!s:<10} {q.get('state', '')}"
            )
        pnl = i.get("pnl", {})
        out.append(
            f"  position {i.get('position')} (engine {i.get('engine_position')})  avg {i.get('avg_price')}  "
            f"fills {i.get('fills')}"
        )
        out.append(
            f"  pnl total {pnl.get('total')}  realized {pnl.get('realized')}  "
            f"unrealized {pnl.get('unrealized')}  fees {pnl.get('fees')}"
        )
        if i.get("orders"):
            out.append("  orders " + "  ".join(f"{k2} {v}" for k2, v in i["orders"].items()))
        if i.get("risk"):
            out.append("  risk   " + "  ".join(f"{k2} {v}" for k2, v in i["risk"].items()))
    for name, h in (st.get("latency_ns") or {}).items():
        if isinstance(h, dict):
            out.append(
                f"\nlatency {name}: n {h.get('count')}  p50 {h.get('p50')} ns  p99 {h.get('p99')} ns  "
                f"p99.9 {h.get('p999')} ns  max {h.get('max')} ns"
            )
    tox = st.get("toxicity", {})
    p = st.get("params", {})
    out.append(
        f"vpin {tox.get('vpin')}  params v{p.get('version')} pushes {p.get('pushes')} "
        f"@ {p.get('rate_hz', 0):.1f} Hz"
    )
    for a in st.get("alerts", [])[-5:]:
        out.append(f"alert {a.get('severity')} {a.get('rule')}: {a.get('message')}")
    return "\n".join(out)
