// The dashboard page: polls the JSON endpoints under /dashboard/api/ and draws them.
// Live figures every few seconds; spend, budgets and experiments less often (they are
// SQL reads). A 401 means the session ended: reload, which shows the login page.
import { PALETTE, lines, stackedBars } from "./charts.js";

const LIVE_MS = 3000;
const SLOW_MS = 15000;
const $ = (id) => document.getElementById(id);

const usd = (v) => (v === null || v === undefined ? "–" : `$${v.toFixed(v !== 0 && Math.abs(v) < 1 ? 6 : 2)}`);
const axisUsd = (v) => (v === 0 ? "$0" : `$${Number(v.toPrecision(3))}`);
const int = (v) => (v === null || v === undefined ? "–" : Number(v).toLocaleString("en-US"));
const ms = (v) => (v === null || v === undefined ? "–" : `${v < 10 ? v.toFixed(1) : Math.round(v)} ms`);
const pct = (v) => (v === null || v === undefined ? "–" : `${(v * 100).toFixed(1)}%`);

async function api(name, params = {}) {
  const query = new URLSearchParams(params).toString();
  const response = await fetch(`/dashboard/api/${name}${query ? `?${query}` : ""}`, {
    credentials: "same-origin",
    headers: { accept: "application/json" },
  });
  if (response.status === 401) {
    window.location.reload();
    throw new Error("session ended");
  }
  const body = await response.json();
  if (!response.ok) throw new Error(body?.error?.message || `HTTP ${response.status}`);
  return body;
}

function cell(row, content, cls) {
  const td = document.createElement("td");
  td.textContent = content;
  if (cls) td.className = cls;
  row.appendChild(td);
  return td;
}

function fill(tbody, items, render) {
  tbody.replaceChildren();
  for (const item of items) {
    const tr = document.createElement("tr");
    render(tr, item);
    tbody.appendChild(tr);
  }
}

function showError(error) {
  const box = $("error");
  if (error) {
    box.textContent = String(error.message || error);
    box.hidden = false;
  } else {
    box.hidden = true;
  }
}

// ---- overview tiles

async function overview() {
  const o = await api("overview");
  $("t-today").textContent = usd(o.today.cost_usd);
  $("t-month").textContent = usd(o.month.cost_usd);
  $("t-rps").textContent = o.live.rps.toFixed(2);
  $("t-latency").textContent = `${ms(o.live.p50_ms)} / ${ms(o.live.p95_ms)}`;
  $("t-cache").textContent = o.cache ? pct(o.cache.hit_ratio) : "off";
  $("t-breakers").textContent = String(o.breakers_open);
  $("t-breakers").className = o.breakers_open ? "bad" : "";
}

// ---- spend

async function spend() {
  const by = $("spend-by").value;
  const s = await api("spend", { by, since: $("spend-range").value });
  const series = s.series.map((item, i) => ({ name: item.label, color: PALETTE[i % PALETTE.length], values: item.values }));
  stackedBars($("spend-chart"), { labels: s.days, series, format: axisUsd, emptyText: "no spend in this range" });
  const legend = $("spend-legend");
  legend.replaceChildren();
  series.forEach((item) => {
    const span = document.createElement("span");
    const swatch = document.createElement("i");
    swatch.style.background = item.color; // CSSOM, allowed by the CSP (no style attribute)
    span.append(swatch, item.name);
    legend.appendChild(span);
  });
  $("spend-group").textContent = by;
  fill($("spend-table").tBodies[0], s.rows, (tr, row) => {
    cell(tr, row.label);
    cell(tr, int(row.calls), "num");
    cell(tr, int(row.input_tokens), "num");
    cell(tr, int(row.output_tokens), "num");
    cell(tr, usd(row.cost_usd), "num");
  });
  $("spend-calls").textContent = int(s.total.calls);
  $("spend-input").textContent = int(s.total.input_tokens);
  $("spend-output").textContent = int(s.total.output_tokens);
  $("spend-total").textContent = usd(s.total.cost_usd);
  $("spend-total").dataset.usd = String(s.total.cost_usd ?? "");
}

// ---- live traffic

async function live() {
  const l = await api("live");
  $("live-requests").textContent = int(l.requests);
  $("live-total").textContent = int(l.requests_total);
  $("live-errors").textContent = pct(l.error_rate);
  const at = (key) => l.series.map((p) => [p.t, p[key]]);
  lines($("rate-chart"), {
    series: [{ name: "req/s", color: PALETTE[0], points: at("rps") }],
    format: (v) => v.toFixed(v < 1 ? 2 : 1),
  });
  lines($("latency-chart"), {
    series: [
      { name: "p50 ms", color: PALETTE[2], points: at("p50_ms") },
      { name: "p95 ms", color: PALETTE[3], points: at("p95_ms") },
    ],
    format: (v) => `${Math.round(v)} ms`,
  });
}

// ---- budgets and alerts

async function budgets() {
  const b = await api("budgets");
  $("budgets-empty").hidden = b.budgets.length > 0;
  fill($("budget-table").tBodies[0], b.budgets, (tr, item) => {
    cell(tr, item.scope);
    cell(tr, item.period);
    const td = cell(tr, "");
    const meter = document.createElement("meter");
    meter.min = 0;
    meter.max = 1;
    meter.value = Math.min(1, item.used);
    meter.low = item.alert_at.length ? Math.min(...item.alert_at) : 0.8;
    meter.high = item.alert_at.length ? Math.max(...item.alert_at.filter((a) => a < 1), 0.8) : 0.8;
    meter.optimum = 0;
    td.append(meter, ` ${pct(item.used)}`);
    cell(tr, `${usd(item.spent_usd)} / ${usd(item.limit_usd)}`, "num");
    cell(tr, item.action, item.used >= 1 && item.action === "block" ? "bad" : "");
  });
  const list = $("alerts");
  list.replaceChildren();
  if (!b.alerts.length) {
    const li = document.createElement("li");
    li.className = "muted";
    li.textContent = "none since the gateway started";
    list.appendChild(li);
  }
  for (const a of b.alerts) {
    const li = document.createElement("li");
    li.textContent = `${a.at} · ${a.scope} per ${a.period} crossed ${pct(a.threshold)}: ${usd(a.spent_usd)} of ${usd(a.limit_usd)}`;
    list.appendChild(li);
  }
}

// ---- breakers, key pools, cache

async function status() {
  const s = await api("status");
  const breakers = Object.entries(s.breakers);
  fill($("breaker-table").tBodies[0], breakers.length ? breakers : [["(no calls yet)", null]], (tr, [name, b]) => {
    cell(tr, name);
    cell(tr, b ? b.state.replace("_", "-") : "–", b && b.state !== "closed" ? "bad" : "ok");
    cell(tr, b ? `${b.failures} / ${b.calls}` : "–", "num");
  });
  const keys = Object.entries(s.key_pools).flatMap(([provider, list]) => list.map((k) => [provider, k]));
  fill($("key-table").tBodies[0], keys.length ? keys : [["(no key pools)", null]], (tr, [provider, k]) => {
    cell(tr, provider);
    cell(tr, k ? k.key : "–");
    cell(tr, k ? (k.state === "cooling" ? `cooling ${Math.ceil(k.cooldown_remaining)} s` : k.state) : "–", k && k.state !== "ok" ? "bad" : "");
    cell(tr, k ? int(k.uses) : "–", "num");
  });
  const c = s.cache;
  const body = $("cache-body");
  body.replaceChildren();
  if (!c) {
    body.textContent = "No response cache configured ([cache] in llmswitch.toml).";
    return;
  }
  const dl = document.createElement("dl");
  const facts = [
    ["hit ratio", pct(c.hit_ratio)], ["hits", int(c.hits)], ["misses", int(c.misses)],
    ["coalesced", int(c.coalesced)], ["entries", int(c.entries)], ["saved", usd(c.saved_usd)],
    ["backend", c.backend],
  ];
  for (const [name, value] of facts) {
    const dt = document.createElement("dt");
    dt.textContent = name;
    const dd = document.createElement("dd");
    dd.textContent = value;
    if (name === "hit ratio") dd.id = "cache-ratio";
    dl.append(dt, dd);
  }
  body.appendChild(dl);
}

// ---- prompt experiments

async function experiments() {
  const e = await api("experiments");
  const root = $("experiment-list");
  root.replaceChildren();
  if (!e.experiments.length) {
    const p = document.createElement("p");
    p.className = "muted";
    p.textContent = "No prompt experiments (llmswitch prompts experiment start …).";
    root.appendChild(p);
    return;
  }
  for (const x of e.experiments) {
    const h = document.createElement("h3");
    h.textContent = `${x.id} · prompt ${x.prompt} · ${x.status}${x.winner ? ` · winner ${x.winner}` : ""}`;
    root.appendChild(h);
    if (x.srm_warning) {
      const warn = document.createElement("p");
      warn.className = "bad";
      warn.textContent = x.srm_warning;
      root.appendChild(warn);
    }
    const table = document.createElement("table");
    table.className = "experiment";
    const head = table.createTHead().insertRow();
    for (const name of ["variant", "weight", "calls", "errors", "p50", "p95", "cost / call", "score"]) {
      const th = document.createElement("th");
      th.textContent = name;
      if (name !== "variant") th.className = "num";
      head.appendChild(th);
    }
    fill(table.createTBody(), x.arms, (tr, arm) => {
      cell(tr, arm.version === null ? arm.label : `${arm.label} (v${arm.version})`);
      cell(tr, arm.weight === null ? "–" : String(arm.weight), "num");
      cell(tr, int(arm.calls), "num");
      cell(tr, pct(arm.error_rate), "num");
      cell(tr, ms(arm.latency_p50_ms), "num");
      cell(tr, ms(arm.latency_p95_ms), "num");
      cell(tr, usd(arm.cost_per_call_usd), "num");
      cell(tr, arm.score_mean === null ? "–" : arm.score_mean.toFixed(2), "num");
    });
    root.appendChild(table);
  }
}

// ---- polling

function every(period, ...loaders) {
  const run = async () => {
    try {
      await Promise.all(loaders.map((load) => load()));
      showError(null);
      $("updated").textContent = `updated ${new Date().toISOString().slice(11, 19)} UTC`;
    } catch (error) {
      showError(error);
    }
  };
  run();
  return setInterval(run, period);
}

document.addEventListener("DOMContentLoaded", () => {
  $("spend-by").addEventListener("change", () => spend().catch(showError));
  $("spend-range").addEventListener("change", () => spend().catch(showError));
  every(LIVE_MS, overview, live, status);
  every(SLOW_MS, spend, budgets, experiments);
});
