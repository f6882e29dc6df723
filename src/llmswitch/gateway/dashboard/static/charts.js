// A small hand-written SVG chart module: the dashboard draws two kinds of chart (stacked
// bars per day, lines over time), which does not justify vendoring a charting library
// (and the page loads nothing from a CDN). Everything is built with DOM calls; text goes
// in through textContent only, so no label can inject markup.

const NS = "http://www.w3.org/2000/svg";
export const PALETTE = [
  "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
  "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#bab0ac",
];
const PAD = { top: 14, right: 14, bottom: 26, left: 64 };

function el(name, attrs = {}, parent = null) {
  const node = document.createElementNS(NS, name);
  for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, String(value));
  if (parent) parent.appendChild(node);
  return node;
}

function text(parent, x, y, content, attrs = {}) {
  const node = el("text", { x, y, ...attrs }, parent);
  node.textContent = content;
  return node;
}

// The drawing is sized to the element's own pixels (redrawn on every refresh), so text
// stays at its CSS size however wide the card is.
function box(svg) {
  const width = Math.max(240, Math.round(svg.clientWidth || svg.parentElement.clientWidth || 720));
  const height = Number(svg.dataset.height || 200);
  svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
  svg.setAttribute("height", String(height));
  return { width, height, w: width - PAD.left - PAD.right, h: height - PAD.top - PAD.bottom };
}

// A "nice" upper bound and tick step for values up to max.
function scale(max, ticks = 4) {
  if (!(max > 0)) return { top: 1, step: 0.25 };
  const raw = max / ticks;
  const power = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 2.5, 5, 10].map((m) => m * power).find((s) => s >= raw);
  return { top: step * Math.ceil(max / step), step };
}

function axes(svg, b, top, step, format) {
  const g = el("g", { class: "axis" }, svg);
  for (let v = 0; v <= top + step / 2; v += step) {
    const y = PAD.top + b.h - (v / top) * b.h;
    el("line", { x1: PAD.left, x2: PAD.left + b.w, y1: y, y2: y, class: "grid" }, g);
    text(g, PAD.left - 6, y + 4, format(v), { "text-anchor": "end" });
  }
  return g;
}

function clear(svg) {
  while (svg.firstChild) svg.removeChild(svg.firstChild);
}

function empty(svg, b, message) {
  text(svg, b.width / 2, b.height / 2, message, { "text-anchor": "middle", class: "empty" });
}

// Stacked bars: labels (x, e.g. days) and series [{name, color, values[]}] of one length.
export function stackedBars(svg, { labels, series, format = String, emptyText = "no data" }) {
  clear(svg);
  const b = box(svg);
  const totals = labels.map((_, i) => series.reduce((sum, s) => sum + (s.values[i] || 0), 0));
  const max = Math.max(0, ...totals);
  if (!labels.length || max <= 0) return empty(svg, b, emptyText);
  const { top, step } = scale(max);
  axes(svg, b, top, step, format);
  const slot = b.w / labels.length;
  const width = Math.max(1, slot * 0.72);
  const every = Math.ceil(labels.length / 8);
  labels.forEach((label, i) => {
    const x = PAD.left + i * slot + (slot - width) / 2;
    let y = PAD.top + b.h;
    for (const s of series) {
      const v = s.values[i] || 0;
      if (v <= 0) continue;
      const h = (v / top) * b.h;
      y -= h;
      const bar = el("rect", { x, y, width, height: Math.max(h, 0.5), fill: s.color, class: "bar" }, svg);
      el("title", {}, bar).textContent = `${label} · ${s.name}: ${format(v)}`;
    }
    if (i % every === 0) {
      text(svg, x + width / 2, PAD.top + b.h + 16, label.slice(5), { "text-anchor": "middle", class: "tick" });
    }
  });
}

// Lines over time: series [{name, color, points: [[t_ms, value|null], ...]}].
export function lines(svg, { series, format = String, emptyText = "no requests yet" }) {
  clear(svg);
  const b = box(svg);
  const all = series.flatMap((s) => s.points);
  const values = all.map((p) => p[1]).filter((v) => v !== null && v !== undefined);
  if (!all.length) return empty(svg, b, emptyText);
  const t0 = Math.min(...all.map((p) => p[0]));
  const t1 = Math.max(...all.map((p) => p[0]));
  const { top, step } = scale(Math.max(0, ...values));
  axes(svg, b, top, step, format);
  const xOf = (t) => PAD.left + (t1 > t0 ? ((t - t0) / (t1 - t0)) * b.w : b.w);
  const yOf = (v) => PAD.top + b.h - (v / top) * b.h;
  for (const s of series) {
    // A gap (null) ends a segment: no line drawn through minutes without requests.
    let d = "";
    let pen = "M";
    for (const [t, v] of s.points) {
      if (v === null || v === undefined) { pen = "M"; continue; }
      d += `${pen}${xOf(t).toFixed(1)},${yOf(v).toFixed(1)} `;
      pen = "L";
    }
    if (d) el("path", { d, fill: "none", stroke: s.color, "stroke-width": 2, class: "line" }, svg);
  }
  const fmt = (t) => new Date(t).toISOString().slice(11, 19);
  text(svg, PAD.left, PAD.top + b.h + 16, fmt(t0), { class: "tick" });
  text(svg, PAD.left + b.w, PAD.top + b.h + 16, fmt(t1), { "text-anchor": "end", class: "tick" });
  if (series.length > 1) {
    series.forEach((s, i) => {
      const x = PAD.left + 8 + i * 90;
      el("rect", { x, y: PAD.top, width: 10, height: 10, fill: s.color }, svg);
      text(svg, x + 14, PAD.top + 9, s.name, { class: "tick" });
    });
  }
}
