// selfheal dashboard (SPEC section 9.1): a client of /api/v1 only. Everything a service or a client sent
// (titles, messages, service names, raw lines) goes into the page as text, never as markup. The chart is
// drawn by chart.js (loaded first; both share this page's global scope).
"use strict";

const HOUR = 3600000;
const DAY = 24 * HOUR;
const REFRESH = 5000;
const state = { range: null, incidents: new Map(), streamed: null, refreshTimer: null, lastRefresh: 0, loading: false, again: false };
const $ = (id) => document.getElementById(id);
const numbers = new Intl.NumberFormat();

/** An element with a class and text (textContent: never parsed as markup). */
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}

/** A URL of the API on this page's origin (never the page's own URL: it may carry Basic credentials). */
function api(path, params) {
  const url = new URL(path, window.location.origin);
  for (const [name, value] of Object.entries(params || {})) {
    if (value !== undefined && value !== null) url.searchParams.set(name, value);
  }
  return url;
}

async function getJSON(path, params) {
  const response = await fetch(api(path, params), { credentials: "same-origin", cache: "no-store" });
  const text = await response.text();
  if (!response.ok) {
    let message = text;
    try { message = JSON.parse(text).error; } catch (_) { /* not json: show the text */ }
    throw new Error(`${path}: ${response.status} ${message}`);
  }
  return JSON.parse(text);
}

// Formatting.
const pad = (n, width = 2) => String(n).padStart(width, "0");
const isoDate = (d) => `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
const clock = (ms) => { const d = new Date(ms); return `${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`; };
const stamp = (ms) => `${isoDate(new Date(ms))} ${clock(ms)}`;
const minute = (ms) => stamp(ms).slice(0, 16);
const plural = (n, word) => `${count(n)} ${word}${n === 1 ? "" : "s"}`;
const count = (n) => numbers.format(n);
const percent = (rate) => (rate === null || rate === undefined ? "–" : `${(rate * 100).toFixed(1)} %`);

function duration(ms) {
  if (ms === null || ms === undefined) return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  if (ms < 60000) return `${(ms / 1000).toFixed(1)} s`;
  if (ms < HOUR) return `${Math.floor(ms / 60000)} min ${Math.floor((ms % 60000) / 1000)} s`;
  if (ms < DAY) return `${Math.floor(ms / HOUR)} h ${Math.floor((ms % HOUR) / 60000)} min`;
  return `${Math.floor(ms / DAY)} d ${Math.floor((ms % DAY) / HOUR)} h`;
}

// The range: live (the last 24 h, as of now), a day or a week (Monday to Monday), kept in the URL's fragment.
function parseRange() {
  const match = /^#(day|week)=(\d{4}-\d{2}-\d{2})$/.exec(window.location.hash);
  if (!match) return { kind: "live" };
  const [y, m, d] = match[2].split("-").map(Number);
  let start = new Date(y, m - 1, d);
  if (Number.isNaN(start.getTime())) return { kind: "live" };
  if (match[1] === "week") start = new Date(y, m - 1, d - ((start.getDay() + 6) % 7));
  const days = match[1] === "week" ? 7 : 1;
  const end = new Date(start.getFullYear(), start.getMonth(), start.getDate() + days);
  return { kind: match[1], date: isoDate(start), since: start.getTime(), until: end.getTime() };
}

/** The range's bounds now, and its buckets for the chart: hours of a day, or days of a week. */
function bounds(range) {
  const now = Date.now();
  if (range.kind === "live") {
    const hour = new Date(now);
    hour.setMinutes(0, 0, 0);
    const buckets = [];
    for (let i = 23; i >= 0; i--) buckets.push([hour.getTime() - i * HOUR, Math.min(hour.getTime() - (i - 1) * HOUR, now)]);
    return { since: now - DAY, until: now, asOf: null, live: true, buckets, hourly: true };
  }
  const start = new Date(range.since);
  const buckets = [];
  const steps = range.kind === "week" ? 7 : 24;
  for (let i = 0; i < steps; i++) {
    const at = (k) => range.kind === "week"
      ? new Date(start.getFullYear(), start.getMonth(), start.getDate() + k).getTime()
      : new Date(start.getFullYear(), start.getMonth(), start.getDate(), k).getTime();
    buckets.push([at(i), at(i + 1)]);
  }
  const live = range.until > now;
  return { since: range.since, until: range.until, asOf: live ? null : range.until, live, buckets, hourly: steps === 24 };
}

function timeParams(b, since = b.since, until = b.until) {
  return { since: new Date(since).toISOString(), until: new Date(until).toISOString(), as_of: b.asOf === null ? null : new Date(b.asOf).toISOString() };
}

/** Loads everything of the range; one load at a time, another one after it when asked meanwhile. */
async function refresh() {
  if (state.loading) { state.again = true; return; }
  state.loading = true;
  try {
    do { state.again = false; await loadRange(); } while (state.again);
  } finally {
    state.loading = false;
  }
}

async function loadRange() {
  state.lastRefresh = Date.now();
  const range = state.range;
  // Incidents the stream brings while this load runs are newer than what it reads: they win.
  const streamed = (state.streamed = new Map());
  const b = bounds(range);
  try {
    const params = timeParams(b);
    const [stats, incidents, rejects, buckets] = await Promise.all([
      getJSON("/api/v1/stats", params),
      getJSON("/api/v1/incidents", params),
      getJSON("/api/v1/rejects", { since: params.since, until: params.until }),
      Promise.all(b.buckets.map(([s, u]) => getJSON("/api/v1/stats", timeParams(b, s, u)))),
    ]);
    const services = await serviceFigures(b, stats, incidents);
    if (range !== state.range) return;
    state.incidents = new Map(incidents.map((incident) => [incident.id, incident]));
    for (const [id, incident] of streamed) state.incidents.set(id, incident);
    showRangeText(b);
    showFigures(stats);
    showIncidents(b);
    showChart(b, buckets);
    showServices(services);
    showRejects(rejects);
    problem(null);
  } catch (error) {
    problem(`Could not load the dashboard: ${error.message}`);
  }
}

/** Per service: its active incidents, incidents and success rate. The services are those of the range's
 * incidents and of its prevented events (the first 1,000 of each prevented kind: the API has no list of
 * services, and a service that only prevents is worth a row). */
async function serviceFigures(b, stats, incidents) {
  const names = new Set(incidents.map((incident) => incident.service));
  const kinds = Object.keys(stats.prevented.by_kind);
  const prevented = await Promise.all(kinds.map((kind) =>
    getJSON("/api/v1/events", { since: new Date(b.since).toISOString(), until: new Date(b.until).toISOString(), kind, limit: "1000" })));
  for (const events of prevented) for (const event of events) names.add(event.service);
  const sorted = [...names].sort();
  const figures = await Promise.all(sorted.map((service) => getJSON("/api/v1/stats", { ...timeParams(b), service })));
  return sorted.map((service, index) => ({
    service,
    active: incidents.filter((incident) => incident.service === service && isActive(b, incident)).length,
    incidents: figures[index].incidents.total,
    success: figures[index].success_rate,
  }));
}

/** Live: not ended. A past range: open or failed as of its end. */
function isActive(b, incident) {
  return b.asOf === null ? incident.ended_at === null : incident.state === "open" || incident.state === "failed";
}

function showRangeText(b) {
  const what = state.range.kind === "live" ? "The last 24 hours, live" : state.range.kind === "day" ? "The day" : "The week";
  const asOf = b.asOf === null ? "as of now" : `as of ${minute(b.asOf)}`;
  const zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
  $("range-text").textContent = `${what}: ${minute(b.since)} to ${minute(b.until)} (${asOf}, times in ${zone})`;
  $("active-title").textContent = b.asOf === null ? "Active incidents" : "Failed and open incidents";
  $("chart-title").textContent = b.hourly ? "Actions per hour, by outcome" : "Actions per day, by outcome";
}

function showFigures(stats) {
  const set = (id, text, value) => { const node = $(id); node.textContent = text; node.dataset.value = String(value); };
  set("fig-actions", count(stats.actions), stats.actions);
  set("fig-prevented", count(stats.prevented.total), stats.prevented.total);
  set("fig-resolved", count(stats.incidents.resolved), stats.incidents.resolved);
  set("fig-failed", count(stats.incidents.failed), stats.incidents.failed);
  set("fig-open", count(stats.incidents.open), stats.incidents.open);
  set("fig-expired", count(stats.incidents.expired), stats.incidents.expired);
  set("fig-success", percent(stats.success_rate), stats.success_rate);
  set("fig-mttr", duration(stats.mttr_ms), stats.mttr_ms);
  set("fig-p95", duration(stats.p95_recovery_ms), stats.p95_recovery_ms);
  set("fig-events", count(stats.events), stats.events);
  const list = $("prevented");
  const kinds = Object.entries(stats.prevented.by_kind).sort((a, b) => b[1] - a[1]);
  list.replaceChildren(...kinds.flatMap(([kind, n]) => [el("dt", null, kind), el("dd", null, count(n))]));
  $("prevented-empty").hidden = kinds.length > 0;
}

function showIncidents(b) {
  const all = [...state.incidents.values()];
  const active = all.filter((incident) => isActive(b, incident)).sort((x, y) => y.opened_at.localeCompare(x.opened_at));
  const recovered = all.filter((incident) => incident.state === "resolved").sort((x, y) => y.opened_at.localeCompare(x.opened_at));
  $("active").replaceChildren(...active.map((incident) => incidentItem(b, incident)));
  $("active-empty").hidden = active.length > 0;
  $("recovered").replaceChildren(...recovered.slice(0, 10).map((incident) => incidentItem(b, incident, true)));
  $("recovered-empty").hidden = recovered.length > 0;
  $("recovered-title").textContent = recovered.length > 10 ? `Recovered by themselves (10 latest of ${count(recovered.length)})` : "Recovered by themselves";
}

/** An incident as a button that opens its timeline; `compact`: one line of facts (recovered ones). */
function incidentItem(b, incident, compact = false) {
  const item = el("li");
  const button = el("button", compact ? "incident compact" : "incident");
  button.type = "button";
  button.dataset.id = String(incident.id);
  button.dataset.state = incident.state;
  button.append(el("span", "title", incident.title));
  const opened = Date.parse(incident.opened_at);
  if (compact) {
    button.append(el("span", "where", `${clock(opened)} · recovered in ${duration(incident.recovery_ms)} · ${incident.service} · ${incident.component}`));
    button.addEventListener("click", () => openTimeline(incident.id, button));
    item.append(button);
    return item;
  }
  button.append(el("span", "where", `${incident.service} · ${incident.component}${incident.incident ? ` · ${incident.incident}` : ""}`));
  const meta = el("span", "meta");
  meta.append(el("span", `badge state-${incident.state}`, incident.state));
  if (incident.state === "resolved") {
    meta.append(el("span", null, `recovered in ${duration(incident.recovery_ms)}`));
  } else if (incident.ended_at) {
    meta.append(el("span", null, `went quiet ${minute(Date.parse(incident.ended_at))}`));
  } else {
    meta.append(el("span", "age", `age ${duration((b.asOf === null ? Date.now() : b.asOf) - opened)}`));
  }
  meta.append(el("span", `level-${incident.peak_level}`, `peak ${incident.peak_level}`));
  meta.append(el("span", null, plural(incident.event_count, "event")));
  meta.append(el("span", null, `opened ${stamp(opened)}`));
  button.append(meta);
  button.append(el("span", "actions", incident.actions.length ? `actions: ${incident.actions.join(", ")}` : "no action taken"));
  button.addEventListener("click", () => openTimeline(incident.id, button));
  item.append(button);
  return item;
}

function showServices(services) {
  const body = $("services").tBodies[0];
  body.replaceChildren(...services.map((s) => {
    const row = el("tr");
    row.append(el("td", null, s.service), el("td", null, count(s.active)), el("td", null, count(s.incidents)), el("td", null, percent(s.success)));
    return row;
  }));
  $("services-empty").hidden = services.length > 0;
}

function showRejects(rejects) {
  const latest = rejects.slice(-10).reverse();
  $("rejects").replaceChildren(...latest.map((reject) => {
    const item = el("li");
    const time = el("time", null, stamp(Date.parse(reject.received_at)));
    time.dateTime = reject.received_at;
    item.append(time, document.createTextNode(` · line ${reject.line}`), el("span", "error", reject.error), el("code", null, reject.raw.slice(0, 300)));
    return item;
  }));
  $("rejects-empty").hidden = rejects.length > 0;
  $("rejects-title").textContent = rejects.length > 10 ? `Recent rejects (10 latest of ${count(rejects.length)})` : "Recent rejects";
}

// The timeline of one incident.
async function openTimeline(id, opener) {
  const b = bounds(state.range);
  const dialog = $("timeline");
  try {
    const incident = await getJSON(`/api/v1/incidents/${encodeURIComponent(id)}`, { as_of: timeParams(b).as_of });
    $("timeline-title").textContent = incident.title;
    const facts = [
      ["Service", incident.service], ["Component", incident.component], ["State", incident.state],
      ["Peak level", incident.peak_level], ["Opened", stamp(Date.parse(incident.opened_at))],
      ["Last event", stamp(Date.parse(incident.last_event_at))],
      ["Ended", incident.ended_at ? stamp(Date.parse(incident.ended_at)) : "not yet"],
      ["Recovery", duration(incident.recovery_ms)], ["Actions", incident.actions.join(", ") || "none"],
    ];
    if (incident.incident) facts.splice(2, 0, ["Key", incident.incident]);
    $("timeline-facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", null, name), el("dd", null, value)]));
    $("timeline-events").replaceChildren(...incident.events.map((event) => {
      const item = el("li");
      const time = el("time", null, `${stamp(Date.parse(event.ts))}.${pad(new Date(Date.parse(event.ts)).getMilliseconds(), 3)}`);
      time.dateTime = event.ts;
      item.append(time, el("span", "kind", event.kind), el("span", `badge level-${event.level}`, event.level));
      if (event.component !== incident.component) item.append(el("span", "message", `component ${event.component}`));
      if (event.message) item.append(el("span", "message", event.message));
      const attrs = Object.entries(event.attrs || {}).map(([k, v]) => `${k}=${typeof v === "string" ? v : JSON.stringify(v)}`);
      if (attrs.length) item.append(el("span", "attrs", attrs.join("  ")));
      return item;
    }));
    dialog.dataset.id = String(id);
    state.opener = opener;
    if (!dialog.open) dialog.showModal();
    $("timeline-close").focus();
  } catch (error) {
    problem(`Could not open incident ${id}: ${error.message}`);
  }
}

// Live: the stream's incidents and figures update the page at once; a reload of the rest (chart, services,
// rejects: some forty reads) follows, at most every REFRESH ms.
function scheduleRefresh() {
  if (state.refreshTimer !== null) return;
  const wait = Math.max(300, REFRESH - (Date.now() - state.lastRefresh));
  state.refreshTimer = setTimeout(() => { state.refreshTimer = null; refresh(); }, wait);
}

function connect() {
  const source = new EventSource(api("/api/v1/stream"));
  let dropped = false;
  source.addEventListener("open", () => {
    connection("live", state.range.kind === "live" ? "live" : "connected");
    if (dropped) refresh();
  });
  source.addEventListener("error", () => {
    dropped = true;
    connection("reconnecting", "reconnecting…");
    if (source.readyState === EventSource.CLOSED) {
      source.close();
      setTimeout(connect, 2000);
    }
  });
  source.addEventListener("incident", (message) => {
    const b = bounds(state.range);
    if (!b.live) return;
    const incident = JSON.parse(message.data);
    if (b.asOf === null && Date.parse(incident.opened_at) < b.until) {
      state.incidents.set(incident.id, incident);
      if (state.streamed) state.streamed.set(incident.id, incident);
      showIncidents(b);
    }
    scheduleRefresh();
  });
  source.addEventListener("stats", (message) => {
    if (state.range.kind === "live") showFigures(JSON.parse(message.data));
    if (bounds(state.range).live) scheduleRefresh();
  });
}

function connection(kind, text) {
  const node = $("connection");
  node.dataset.state = kind;
  node.textContent = text;
}

function problem(text) {
  const node = $("problem");
  node.hidden = text === null;
  node.textContent = text || "";
}

// The range picker.
function showPicker() {
  const kind = state.range.kind;
  $("range-kind").value = kind;
  $("range-date-label").hidden = kind === "live";
  $("range-date-label").firstChild.textContent = kind === "week" ? "Week of " : "Day ";
  $("range-show").hidden = kind === "live";
  if (state.range.date) $("range-date").value = state.range.date;
}

function pick(event) {
  if (event) event.preventDefault();
  const kind = $("range-kind").value;
  if (kind !== "live" && !$("range-date").value) $("range-date").value = isoDate(new Date(Date.now() - DAY));
  const hash = kind === "live" ? "" : `#${kind}=${$("range-date").value}`;
  if (hash !== window.location.hash) window.history.pushState(null, "", hash || window.location.pathname);
  load();
}

function load() {
  state.range = parseRange();
  showPicker();
  const status = $("connection");
  if (status.dataset.state === "live") status.textContent = state.range.kind === "live" ? "live" : "connected";
  refresh();
}

document.addEventListener("DOMContentLoaded", () => {
  $("range").addEventListener("submit", pick);
  $("range-kind").addEventListener("change", () => pick());
  $("range-date").addEventListener("change", () => { if ($("range-date").value) pick(); });
  window.addEventListener("popstate", load);
  window.addEventListener("hashchange", load);
  $("timeline-close").addEventListener("click", () => $("timeline").close());
  $("timeline").addEventListener("close", () => { if (state.opener && state.opener.isConnected) state.opener.focus(); });
  let resize = null;
  window.addEventListener("resize", () => {
    clearTimeout(resize);
    resize = setTimeout(() => { if (state.chart) showChart(state.chart.b, state.chart.buckets); }, 150);
  });
  setInterval(() => { if (state.range.kind === "live") showIncidents(bounds(state.range)); }, 15000);
  load();
  connect();
});
