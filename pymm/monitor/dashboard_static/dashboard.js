// pymm live dashboard: polls api/status (the control API's status JSON, docs/adr/0005) and keeps
// client-side time series per instrument. Read-only: it only ever sends GET api/status.
//
// Query parameters: interval (poll period in ms, 250-500, default 300), ready (points every chart
// needs before <body data-ready="true">, default 20), window (points kept per series, default 2400).
//
// Each chart's <div> carries data-points: the samples appended to it that had at least one finite
// value. Tests read these attributes; document.title ends in "live" once every chart is ready.
"use strict";

const params = new URLSearchParams(window.location.search);
const intParam = (name, dflt, lo, hi) => {
  const v = parseInt(params.get(name) || "", 10);
  return Number.isFinite(v) ? Math.min(hi, Math.max(lo, v)) : dflt;
};
const POLL_MS = intParam("interval", 300, 250, 500);
const READY_POINTS = intParam("ready", 20, 1, 100000);
const WINDOW = intParam("window", 2400, 10, 100000);
const CHARTS = ["book", "inventory", "pnl", "vpin", "markouts", "latency"];

const num = (v) => {
  if (v === null || v === undefined || v === "") return null;
  const x = typeof v === "number" ? v : parseFloat(v);
  return Number.isFinite(x) ? x : null;
};
// decimal text for display: trailing zeros dropped ("1000.00000000" -> "1000"), long tails cut to 8 places
const fmt = (v) => {
  if (v === null || v === undefined) return v;
  let t = String(v);
  const m = /^(-?\d+)\.(\d+)$/.exec(t);
  if (!m) return t;
  const frac = m[2].slice(0, 8).replace(/0+$/, "");
  return frac ? `${m[1]}.${frac}` : m[1];
};
const instKey = (inst) => `${inst.venue}/${inst.symbol}`;

// series[instrument key][chart] = {x: [], traces: {name: []}, points: n}
const series = {};
let lastTs = null;
let selected = params.get("symbol");
let plotted = {};

function chartSeries(key, chart) {
  series[key] = series[key] || {};
  series[key][chart] = series[key][chart] || { x: [], traces: {}, points: 0 };
  return series[key][chart];
}

function append(key, chart, t, values) {
  const s = chartSeries(key, chart);
  const n = s.x.length;
  for (const name of Object.keys(values)) {
    if (!(name in s.traces)) s.traces[name] = new Array(n).fill(null);
  }
  s.x.push(t);
  let finite = false;
  for (const [name, arr] of Object.entries(s.traces)) {
    const v = name in values ? num(values[name]) : null;
    if (v !== null) finite = true;
    arr.push(v);
  }
  if (finite) s.points += 1;
  if (s.x.length > WINDOW) {
    const drop = s.x.length - WINDOW;
    s.x.splice(0, drop);
    for (const arr of Object.values(s.traces)) arr.splice(0, drop);
  }
}

const STYLE = {
  bid: { color: "#3fb950" }, ask: { color: "#f85149" }, mid: { color: "#7d8793", dash: "dot" },
  "our bid": { color: "#58a6ff", mode: "markers" }, "our ask": { color: "#d2a8ff", mode: "markers" },
  realized: { color: "#58a6ff" }, unrealized: { color: "#d29922" }, total: { color: "#e6edf3" },
  fees: { color: "#7d8793", dash: "dot" },
};
const LAYOUT = {
  margin: { l: 56, r: 10, t: 6, b: 28 }, paper_bgcolor: "#171d24", plot_bgcolor: "#171d24",
  font: { color: "#d8dee6", size: 11 }, showlegend: true,
  legend: { orientation: "h", y: 1.02, yanchor: "bottom", x: 0, font: { size: 10 } },
  xaxis: { type: "date", gridcolor: "#222a33" }, yaxis: { gridcolor: "#222a33", zerolinecolor: "#3a434e" },
};

function draw(key, chart, extraLayout) {
  const s = chartSeries(key, chart);
  const div = document.getElementById(`chart-${chart}`);
  const data = Object.entries(s.traces).map(([name, y]) => {
    const st = STYLE[name] || {};
    return {
      x: s.x, y, name, type: "scatter", mode: st.mode || "lines", connectgaps: false,
      line: { color: st.color, dash: st.dash, width: 1.5, shape: chart === "book" ? "hv" : "linear" },
      marker: { color: st.color, size: 4 },
    };
  });
  const layout = Object.assign({}, LAYOUT, extraLayout || {}, { datarevision: s.x.length + s.points });
  layout.yaxis = Object.assign({}, LAYOUT.yaxis, (extraLayout || {}).yaxis || {});
  if (!plotted[chart]) {
    Plotly.newPlot(div, data, layout, { displayModeBar: false, responsive: true });
    plotted[chart] = true;
  } else {
    Plotly.react(div, data, layout);
  }
  div.dataset.points = String(s.points);
}

function cell(row, text, cls) {
  const td = document.createElement("td");
  td.textContent = text === null || text === undefined ? "–" : fmt(text);
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fillTable(id, rows) {
  const body = document.querySelector(`#${id} tbody`);
  body.replaceChildren();
  for (const r of rows) {
    const tr = document.createElement("tr");
    r.forEach((c) => (Array.isArray(c) ? cell(tr, c[0], c[1]) : cell(tr, c)));
    body.appendChild(tr);
  }
}

function ladder(inst) {
  const b = inst.book || {};
  const q = inst.quotes || [];
  const ours = (side) => q.filter((o) => o.side === side);
  const rows = [];
  for (const o of ours("SELL")) rows.push(["", "", [o.price, "sell"], "", [o.qty, "sell"]]);
  rows.push(["", "", ["ask " + (fmt(b.ask) ?? "–"), "sell"], b.ask_qty ?? "", ""]);
  rows.push(["", "", ["mid " + (fmt(b.mid) ?? "–"), "muted"], "", ""]);
  rows.push(["", b.bid_qty ?? "", ["bid " + (fmt(b.bid) ?? "–"), "buy"], "", ""]);
  for (const o of ours("BUY")) rows.push([[o.qty, "buy"], "", [o.price, "buy"], "", ""]);
  fillTable("ladder", rows);
}

function riskTable(inst) {
  const r = inst.risk || {};
  const body = document.querySelector("#risk tbody");
  body.replaceChildren();
  const limit = num(r.position_limit);
  const addRow = (label, value, max) => {
    const tr = document.createElement("tr");
    cell(tr, label);
    cell(tr, value);
    const td = cell(tr, "");
    const v = num(value);
    if (v !== null && max) {
      const m = document.createElement("meter");
      m.min = 0; m.max = max; m.value = Math.max(0, v); m.low = max * 0.2; m.optimum = max;
      td.appendChild(m);
    }
    body.appendChild(tr);
  };
  addRow("position limit", r.position_limit, null);
  addRow("headroom buy", r.headroom_buy, limit ? 2 * limit : null);
  addRow("headroom sell", r.headroom_sell, limit ? 2 * limit : null);
  addRow("open orders", `${r.open_orders ?? "–"} / ${r.max_open_orders ?? "–"}`, null);
  addRow("position", inst.position, null);
  addRow("avg price", inst.avg_price, null);
}

function render(status) {
  const insts = status.instruments || [];
  const select = document.getElementById("instrument");
  const keys = insts.map(instKey);
  if (select.options.length !== keys.length || keys.some((k, i) => select.options[i].value !== k)) {
    select.replaceChildren(...keys.map((k) => new Option(k, k)));
  }
  if (!selected || !keys.includes(selected)) {
    selected = keys.find((k) => k.endsWith("/" + selected)) || keys[0] || null;
  }
  if (selected) select.value = selected;

  const t = new Date(Number(status.ts) / 1e6);
  const fresh = status.ts !== lastTs;
  lastTs = status.ts;
  const tox = status.toxicity || {};
  const lat = status.latency_ns || {};
  if (fresh) {
    for (const inst of insts) {
      const key = instKey(inst);
      const b = inst.book || {};
      const q = inst.quotes || [];
      const best = (side, pick) => {
        const px = q.filter((o) => o.side === side).map((o) => num(o.price)).filter((v) => v !== null);
        return px.length ? pick(...px) : null;
      };
      append(key, "book", t, {
        bid: b.bid, ask: b.ask, mid: b.mid, "our bid": best("BUY", Math.max), "our ask": best("SELL", Math.min),
      });
      append(key, "inventory", t, { position: inst.position });
      const p = inst.pnl || {};
      append(key, "pnl", t, { realized: p.realized, unrealized: p.unrealized, total: p.total, fees: p.fees });
    }
    // toxicity and latency are per run in the status JSON; they are kept under every instrument key
    // so that the selected instrument's page shows them
    for (const key of keys) {
      append(key, "vpin", t, { vpin: tox.vpin });
      const m = tox.markouts_bps || {};
      append(key, "markouts", t, Object.fromEntries(Object.entries(m).map(([h, v]) => [h, v])));
      const l = {};
      for (const [name, h] of Object.entries(lat)) {
        for (const pct of ["p50", "p99", "p999"]) l[`${name} ${pct}`] = h && h.count ? num(h[pct]) / 1e3 : null;
      }
      append(key, "latency", t, l);
    }
  }

  const inst = insts.find((i) => instKey(i) === selected);
  const stateEl = document.getElementById("state");
  stateEl.textContent = status.state || "?";
  stateEl.className = "badge " + (status.state === "quoting" ? "ok" : "");
  const kill = status.kill || {};
  const killEl = document.getElementById("kill");
  killEl.textContent = kill.latched ? `KILLED: ${kill.reason || ""}` : "kill: clear";
  killEl.className = "badge " + (kill.latched ? "bad" : "ok");
  const pr = status.params || {};
  document.getElementById("params").textContent =
    `params v${pr.version ?? "–"} · ${pr.pushes ?? "–"} pushes · ${num(pr.rate_hz)?.toFixed(1) ?? "–"} Hz` +
    (status.hedge ? ` · hedge ${status.hedge.mode ?? ""} Δ ${fmt(status.hedge.delta) ?? "–"}` : "");

  if (selected && inst) {
    draw(selected, "book", { yaxis: { tickformat: "" } });
    draw(selected, "inventory", { showlegend: false });
    draw(selected, "pnl");
    draw(selected, "vpin", { showlegend: false, yaxis: { range: [0, 1] } });
    draw(selected, "markouts", { yaxis: { zeroline: true } });
    draw(selected, "latency", { yaxis: { type: "log", dtick: 1 } });
    ladder(inst);
    riskTable(inst);
    const o = inst.orders || {};
    fillTable("orders", Object.entries(o).map(([k, v]) => [k, v]));
  }
  // The status JSON carries alerts as Alert.to_json() (ts_emit_ns / ts_event_ns, rule); older
  // producers sent ts / name. A missing or bad time shows as "–" rather than breaking the page.
  const alertTs = (a) => Number(a.ts_emit_ns ?? a.ts_event_ns ?? a.ts);
  const clock = (ns) => (Number.isFinite(ns) ? new Date(ns / 1e6).toISOString().slice(11, 23) : "–");
  const alerts = (status.alerts || []).slice().sort((a, b) => (alertTs(b) || 0) - (alertTs(a) || 0)).slice(0, 12);
  fillTable("alerts", alerts.map((a) => [
    clock(alertTs(a)),
    a.status === "resolved" ? ["resolved", "muted"] : [a.severity, `sev-${a.severity}`],
    a.rule ?? a.name, a.message,
  ]));

  const ready = selected && CHARTS.every((c) => chartSeries(selected, c).points >= READY_POINTS);
  if (ready && document.body.dataset.ready !== "true") {
    document.body.dataset.ready = "true";
    document.title = "pymm dashboard · live";
  }
}

async function poll() {
  const conn = document.getElementById("conn");
  const started = performance.now();
  try {
    const r = await fetch("api/status", { cache: "no-store", headers: { Accept: "application/json" } });
    if (!r.ok) throw new Error(`HTTP ${r.status}`);
    render(await r.json());
    document.body.dataset.polls = String(Number(document.body.dataset.polls || 0) + 1);
    conn.textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC · ${(performance.now() - started).toFixed(0)} ms`;
    conn.className = "muted";
  } catch (e) {
    conn.textContent = `no status: ${e.message}`;
    conn.className = "sell";
    document.body.dataset.errors = String(Number(document.body.dataset.errors || 0) + 1);
  }
  setTimeout(poll, Math.max(0, POLL_MS - (performance.now() - started)));
}

document.getElementById("instrument").addEventListener("change", (ev) => {
  selected = ev.target.value;
  plotted = {};
  for (const c of CHARTS) Plotly.purge(document.getElementById(`chart-${c}`));
});
poll();
