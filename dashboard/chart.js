// selfheal dashboard: the chart of actions per hour (per day for a week) by outcome, drawn as SVG with axes,
// a legend, a text alternative and the same numbers as a table. Uses app.js's helpers (el, count, pad...).
"use strict";

const OUTCOMES = [
  ["prevented", "prevented"],
  ["resolved", "recovered"],
  ["failed", "failed"],
  ["open", "still open"],
  ["expired", "went quiet"],
];

// The chart: stacked bars per bucket, drawn as SVG, with axes, a legend and the same numbers as a table.
const SVG = "http://www.w3.org/2000/svg";
function svg(tag, attributes, text) {
  const node = document.createElementNS(SVG, tag);
  for (const [name, value] of Object.entries(attributes)) node.setAttribute(name, String(value));
  if (text !== undefined) node.textContent = text;
  return node;
}

function niceStep(max) {
  const raw = Math.max(1, max) / 4;
  const power = 10 ** Math.floor(Math.log10(raw));
  return [1, 2, 5, 10].map((f) => f * power).find((s) => s >= raw);
}

function showChart(b, buckets) {
  state.chart = { b, buckets };
  const container = $("chart");
  const width = Math.max(300, Math.round(container.clientWidth || 600));
  const height = Math.round(Math.min(320, Math.max(210, width * 0.34)));
  const margin = { left: 48, right: 8, top: 8, bottom: 34 };
  const plotW = width - margin.left - margin.right;
  const plotH = height - margin.top - margin.bottom;
  const totals = buckets.map((s) => s.prevented.total + s.incidents.total);
  const step = niceStep(Math.max(...totals));
  const top = Math.max(step, Math.ceil(Math.max(...totals) / step) * step);
  const y = (v) => margin.top + plotH - (v / top) * plotH;
  const label = (t) => (b.hourly ? pad(new Date(t).getHours()) : isoDate(new Date(t)).slice(5));
  const total = totals.reduce((a, c) => a + c, 0);
  const peak = totals.indexOf(Math.max(...totals));
  const summary = `${b.hourly ? "Actions per hour" : "Actions per day"} from ${stamp(b.buckets[0][0])}: ${count(total)} in all`
    + (total > 0 ? `, the most (${count(totals[peak])}) in the ${b.hourly ? "hour" : "day"} from ${label(b.buckets[peak][0])}${b.hourly ? ":00" : ""}.` : ".");
  const root = svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-labelledby": "chart-summary" });
  root.append(svg("title", { id: "chart-summary" }, summary));
  for (let v = 0; v <= top; v += step) {
    root.append(svg("line", { class: "grid", x1: margin.left, x2: width - margin.right, y1: y(v), y2: y(v) }));
    root.append(svg("text", { x: margin.left - 6, y: y(v) + 4, "text-anchor": "end" }, count(v)));
  }
  const slot = plotW / buckets.length;
  const every = b.hourly ? (plotW < 500 ? 6 : 3) : 1;
  buckets.forEach((s, i) => {
    let base = 0;
    const x = margin.left + i * slot + slot * 0.12;
    for (const [key] of OUTCOMES) {
      const value = key === "prevented" ? s.prevented.total : s.incidents[key];
      if (value > 0) {
        const rect = svg("rect", { class: `fill-${key}`, x, width: slot * 0.76, y: y(base + value), height: y(base) - y(base + value) });
        rect.append(svg("title", {}, `${label(b.buckets[i][0])}: ${count(value)} ${key}`));
        root.append(rect);
      }
      base += value;
    }
    if (i % every === 0) {
      root.append(svg("text", { x: margin.left + i * slot + slot / 2, y: height - margin.bottom + 15, "text-anchor": "middle" }, label(b.buckets[i][0])));
    }
  });
  root.append(svg("line", { class: "axis", x1: margin.left, x2: width - margin.right, y1: y(0), y2: y(0) }));
  root.append(svg("line", { class: "axis", x1: margin.left, x2: margin.left, y1: margin.top, y2: y(0) }));
  root.append(svg("text", { x: margin.left + plotW / 2, y: height - 4, "text-anchor": "middle" }, b.hourly ? "hour of the day" : "day"));
  root.append(svg("text", { x: -(margin.top + plotH / 2), y: 11, transform: "rotate(-90)", "text-anchor": "middle" }, "actions"));
  container.replaceChildren(root);
  $("legend").replaceChildren(...OUTCOMES.map(([key, name]) => {
    const item = el("li");
    item.append(el("span", `swatch fill-${key}`), document.createTextNode(name));
    return item;
  }));
  const table = $("chart-data");
  const head = el("tr");
  head.append(el("th", null, b.hourly ? "Hour" : "Day"), ...OUTCOMES.map(([, name]) => el("th", null, name)), el("th", null, "all"));
  const rows = buckets.map((s, i) => {
    const row = el("tr");
    row.append(el("th", null, b.hourly ? `${label(b.buckets[i][0])}:00` : label(b.buckets[i][0])));
    for (const [key] of OUTCOMES) row.append(el("td", null, count(key === "prevented" ? s.prevented.total : s.incidents[key])));
    row.append(el("td", null, count(totals[i])));
    return row;
  });
  table.replaceChildren(el("caption", null, summary), head, ...rows);
}
