#include "troupe/nodes/observe/page.hpp"

namespace troupe::observe {
namespace {

// Element ids the tests read (tests/nodes/observe/dashboard_test.py): workers-up, tasks-done,
// tasks-rate, nodes (rows carry data-state), live.
constexpr std::string_view html = R"page(<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>troupe dashboard</title>
<style>
  :root { --bg:#0f1419; --panel:#182028; --line:#26313c; --text:#e6edf3; --dim:#8b98a5;
          --up:#3fb950; --down:#f85149; --warn:#d29922; --accent:#58a6ff; }
  * { box-sizing: border-box; }
  body { margin:0; background:var(--bg); color:var(--text);
         font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; }
  header { display:flex; align-items:baseline; gap:16px; padding:14px 24px;
           border-bottom:1px solid var(--line); }
  header h1 { margin:0; font-size:18px; font-weight:600; letter-spacing:.02em; }
  header .meta { color:var(--dim); }
  #live { margin-left:auto; font-size:12px; padding:2px 10px; border-radius:10px;
          background:#1f3a26; color:var(--up); }
  #live.stale { background:#3d1d1d; color:var(--down); }
  main { padding:18px 24px; display:grid; gap:18px; max-width:1400px; }
  .cards { display:grid; grid-template-columns:repeat(auto-fit,minmax(150px,1fr)); gap:12px; }
  .card { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  .card .label { color:var(--dim); font-size:12px; text-transform:uppercase; letter-spacing:.06em; }
  .card .value { font-size:26px; font-weight:600; font-variant-numeric:tabular-nums; }
  .card .unit { color:var(--dim); font-size:13px; margin-left:4px; font-weight:400; }
  section { background:var(--panel); border:1px solid var(--line); border-radius:8px; padding:12px 14px; }
  section h2 { margin:0 0 10px; font-size:13px; color:var(--dim); text-transform:uppercase;
               letter-spacing:.06em; font-weight:600; }
  table { width:100%; border-collapse:collapse; font-variant-numeric:tabular-nums; }
  th, td { text-align:left; padding:6px 10px; border-bottom:1px solid var(--line); white-space:nowrap; }
  th { color:var(--dim); font-weight:500; font-size:12px; }
  td.num, th.num { text-align:right; }
  tr:last-child td { border-bottom:none; }
  .state { display:inline-block; padding:1px 8px; border-radius:9px; font-size:12px; }
  .state.up { background:#1f3a26; color:var(--up); }
  .state.down { background:#3d1d1d; color:var(--down); }
  .kind { color:var(--dim); }
  .late { color:var(--warn); }
  .bad { color:var(--down); }
  .empty { color:var(--dim); padding:8px 10px; }
  canvas { width:100%; height:160px; display:block; }
  .err td { white-space:normal; }
  .err .msg { font-family:ui-monospace,Menlo,Consolas,monospace; font-size:12px; color:#ffb4ab; }
</style>
</head>
<body>
<header>
  <h1>troupe</h1>
  <span class="meta" id="head">connecting&hellip;</span>
  <span id="live" class="stale">offline</span>
</header>
<main>
  <div class="cards">
    <div class="card"><div class="label">Workers up</div><div class="value"><span id="workers-up">0</span><span class="unit" id="workers-total"></span></div></div>
    <div class="card"><div class="label">Tasks done</div><div class="value" id="tasks-done">0</div></div>
    <div class="card"><div class="label">Throughput</div><div class="value"><span id="tasks-rate">0</span><span class="unit">tasks/s</span></div></div>
    <div class="card"><div class="label">Queued</div><div class="value" id="queued">0</div></div>
    <div class="card"><div class="label">In flight</div><div class="value" id="in-flight">0</div></div>
    <div class="card"><div class="label">Failed</div><div class="value" id="failed">0</div></div>
  </div>
  <section>
    <h2>Tasks per second, last <span id="chart-span">30 s</span></h2>
    <canvas id="chart" width="1200" height="160"></canvas>
  </section>
  <section>
    <h2>Nodes</h2>
    <table id="nodes"><thead><tr>
      <th>Name</th><th>Kind</th><th>Host</th><th class="num">PID</th><th>State</th><th class="num">Heartbeat</th><th class="num">Round trip</th>
      <th class="num">Tasks done</th><th class="num">Tasks/s</th><th class="num">In flight</th>
      <th class="num">Received</th><th class="num">Sent</th><th>Since</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Pools</h2>
    <table id="pools"><thead><tr>
      <th>Pool</th><th class="num">Workers</th><th class="num">Queued</th><th class="num">Batches in flight</th>
      <th class="num">Items in flight</th><th class="num">Completed</th><th class="num">Failed</th>
      <th class="num">Re-dispatched</th><th class="num">Timeouts</th><th class="num">Deaths</th>
      <th class="num">Respawns</th>
    </tr></thead><tbody></tbody></table>
  </section>
  <section>
    <h2>Latest errors</h2>
    <table id="errors" class="err"><thead><tr>
      <th>When</th><th>Pool</th><th>Task</th><th class="num">Item</th><th>Error</th>
    </tr></thead><tbody></tbody></table>
  </section>
</main>
<script>
"use strict";
const history = [];          // {t: seconds, done: tasks completed}, one per poll
const perNode = new Map();   // node id -> [{t, done}]
const keepSeconds = 300;

function el(id) { return document.getElementById(id); }
function esc(s) {
  return String(s).replace(/[&<>"']/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;","'":"&#39;"}[c]));
}
function num(n) { return Number(n).toLocaleString("en-US"); }
function bytes(n) {
  const units = ["B","KiB","MiB","GiB","TiB"];
  let i = 0; n = Number(n);
  while (n >= 1024 && i < units.length - 1) { n /= 1024; ++i; }
  return (i === 0 ? n : n.toFixed(1)) + " " + units[i];
}
// Heartbeat round trips: microseconds on one host, milliseconds across a network.
function roundTrip(s) {
  if (s === undefined || s < 0) return "&ndash;";
  return s < 1e-3 ? (s * 1e6).toFixed(0) + " &micro;s" : (s * 1e3).toFixed(s < 0.1 ? 2 : 0) + " ms";
}
function age(s) {
  if (s < 0) return "&ndash;";
  const ms = s * 1000;
  const text = ms < 1000 ? ms.toFixed(0) + " ms" : s.toFixed(1) + " s";
  return ms > 1500 ? '<span class="late">' + text + "</span>" : text;
}
// A child runs on the head's host; a TCP node's address is "tcp HOST:PORT".
function hostOf(n) { return n.kind === "child" ? "local" : n.address.replace(/^tcp /, "").replace(/:\d+$/, ""); }
function clock(ms) { return new Date(ms).toLocaleTimeString("en-GB"); }
function rate(samples) {
  if (samples.length < 2) return 0;
  const last = samples[samples.length - 1];
  let first = samples[0];
  for (const s of samples) if (last.t - s.t <= 5) { first = s; break; }
  return last.t > first.t ? (last.done - first.done) / (last.t - first.t) : 0;
}
function trim(samples, now) { while (samples.length && now - samples[0].t > keepSeconds) samples.shift(); }

function drawChart() {
  const c = el("chart"), g = c.getContext("2d");
  const w = c.width = c.clientWidth * devicePixelRatio, h = c.height = 160 * devicePixelRatio;
  g.clearRect(0, 0, w, h);
  const pts = [];
  for (let i = 1; i < history.length; ++i) {
    const a = history[i - 1], b = history[i];
    if (b.t > a.t) pts.push({t: b.t, r: Math.max(0, (b.done - a.done) / (b.t - a.t))});
  }
  const pad = 34 * devicePixelRatio, now = history.length ? history[history.length - 1].t : 0;
  // The span shown grows with the history, up to five minutes.
  const span = Math.min(keepSeconds, Math.max(30, history.length ? now - history[0].t : 0));
  el("chart-span").textContent = span >= 60 ? Math.round(span / 60) + " min" : Math.round(span) + " s";
  const max = Math.max(1, ...pts.map(p => p.r)) * 1.15;
  g.strokeStyle = "#26313c"; g.fillStyle = "#8b98a5"; g.lineWidth = 1;
  g.font = (11 * devicePixelRatio) + "px system-ui";
  for (let k = 0; k <= 4; ++k) {
    const y = h - pad / 2 - (h - pad) * k / 4;
    g.beginPath(); g.moveTo(pad, y); g.lineTo(w, y); g.stroke();
    g.fillText((max * k / 4).toFixed(max < 8 ? 1 : 0), 2, y + 4);
  }
  if (pts.length < 2) return;
  const x = t => pad + (w - pad) * (1 - (now - t) / span);
  const y = r => h - pad / 2 - (h - pad) * r / max;
  g.beginPath(); g.moveTo(x(pts[0].t), y(0));
  for (const p of pts) g.lineTo(x(p.t), y(p.r));
  g.lineTo(x(pts[pts.length - 1].t), y(0)); g.closePath();
  g.fillStyle = "rgba(88,166,255,0.18)"; g.fill();
  g.beginPath();
  pts.forEach((p, i) => i ? g.lineTo(x(p.t), y(p.r)) : g.moveTo(x(p.t), y(p.r)));
  g.strokeStyle = "#58a6ff"; g.lineWidth = 2 * devicePixelRatio; g.stroke();
}

function render(c) {
  const now = c.now_ms / 1000;  // the head's clock: rates stay right however the page is timed
  el("head").textContent = c.head.name + " \u00b7 pid " + c.head.pid + " \u00b7 up " +
    Math.floor(c.uptime_s / 60) + " min " + Math.floor(c.uptime_s % 60) + " s";
  const up = c.nodes.filter(n => n.state === "up");
  el("workers-up").textContent = up.length;
  el("workers-total").textContent = c.nodes.length > up.length ? "/ " + c.nodes.length : "";
  const sum = f => c.pools.reduce((a, p) => a + p[f], 0);
  const done = sum("tasks_completed");
  history.push({t: now, done}); trim(history, now);
  el("tasks-done").textContent = num(done);
  el("tasks-rate").textContent = rate(history).toFixed(rate(history) < 10 ? 1 : 0);
  el("queued").textContent = num(sum("queued_items"));
  el("in-flight").textContent = num(sum("items_in_flight"));
  const failed = sum("failures");
  el("failed").textContent = num(failed);
  el("failed").className = "value" + (failed ? " bad" : "");

  const rows = c.nodes.slice().sort((a, b) => (a.state === b.state ? a.id - b.id : a.state === "up" ? -1 : 1));
  el("nodes").tBodies[0].innerHTML = rows.length ? rows.map(n => {
    const s = perNode.get(n.id) || []; s.push({t: now, done: n.tasks_done}); trim(s, now); perNode.set(n.id, s);
    const r = n.state === "up" ? rate(s).toFixed(1) : "&ndash;";
    const why = n.state === "down" ? ' title="' + esc(n.down_reason) + '"' : "";
    return '<tr data-state="' + n.state + '" data-name="' + esc(n.name) + '"><td>' + esc(n.name) +
      '</td><td class="kind">' + n.kind + '</td><td class="kind">' + esc(hostOf(n)) +
      '</td><td class="num">' + n.pid +
      '</td><td><span class="state ' + n.state + '"' + why + ">" + n.state + "</span></td>" +
      '<td class="num">' + (n.state === "up" ? age(n.heartbeat_age_s) : "&ndash;") + "</td>" +
      '<td class="num">' + (n.state === "up" ? roundTrip(n.round_trip_s) : "&ndash;") + "</td>" +
      '<td class="num">' + num(n.tasks_done) + '</td><td class="num">' + r +
      '</td><td class="num">' + num(n.in_flight) + '</td><td class="num">' + bytes(n.bytes_in) +
      '</td><td class="num">' + bytes(n.bytes_out) + "</td><td>" + clock(n.since_ms) + "</td></tr>";
  }).join("") : '<tr><td colspan="13" class="empty">no worker has joined yet</td></tr>';

  el("pools").tBodies[0].innerHTML = c.pools.length ? c.pools.map(p =>
    "<tr><td>#" + p.id + '</td><td class="num">' + p.workers_ready + '</td><td class="num">' +
    num(p.queued_items) + '</td><td class="num">' + num(p.batches_in_flight) + '</td><td class="num">' +
    num(p.items_in_flight) + '</td><td class="num">' + num(p.tasks_completed) + '</td><td class="num' +
    (p.failures ? " bad" : "") + '">' + num(p.failures) + '</td><td class="num">' + num(p.redispatched) +
    '</td><td class="num">' + num(p.timeouts) + '</td><td class="num">' + num(p.worker_deaths) +
    '</td><td class="num">' + num(p.respawned) + "</td></tr>").join("")
    : '<tr><td colspan="11" class="empty">no pool is running</td></tr>';

  const errors = [];
  for (const p of c.pools) for (const e of p.errors) errors.push(Object.assign({pool: p.id}, e));
  errors.sort((a, b) => b.at_ms - a.at_ms);
  el("errors").tBodies[0].innerHTML = errors.length ? errors.slice(0, 20).map(e =>
    "<tr><td>" + clock(e.at_ms) + "</td><td>#" + e.pool + "</td><td>" + esc(e.task) +
    '</td><td class="num">' + e.item + '</td><td class="msg">' + esc(e.message) + "</td></tr>").join("")
    : '<tr><td colspan="5" class="empty">none</td></tr>';
  drawChart();
}

async function poll() {
  try {
    const res = await fetch("api/cluster" + location.search, {cache: "no-store"});
    if (!res.ok) throw new Error(res.status);
    render(await res.json());
    el("live").textContent = "live"; el("live").className = "";
  } catch (e) {
    el("live").textContent = "head unreachable"; el("live").className = "stale";
  }
  setTimeout(poll, 1000);
}
poll();
</script>
</body>
</html>
)page";

}  // namespace

std::string_view page() {
  return html;
}

}  // namespace troupe::observe
