// kafka-iom operations dashboard: vanilla JS, no build step, no external resources.
// Live data comes from the API's server-sent events (/events/stream); pages are routed
// here: /dashboard/ (overview) and /dashboard/orders/<id> (one order's journey).
"use strict";

const STATUS_COLORS = {
  "New": "var(--new)",
  "In progress": "var(--progress)",
  "Fulfillment in progress": "var(--fulfil)",
  "Completed": "var(--done)",
  "On hold": "var(--hold)",
  "Canceled": "var(--cancel)",
};
const STATUS_ORDER = Object.keys(STATUS_COLORS);
const NUM = new Intl.NumberFormat();
const $ = (id) => document.getElementById(id);

// ---------------------------------------------------------------- helpers

/** An element with attributes and children; strings become text nodes (never HTML). */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "style") node.style.cssText = value;
    else if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
    else node.setAttribute(key, value === true ? "" : value);
  }
  for (const child of children.flat()) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function svg(tag, attrs, ...children) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
  for (const child of children.flat()) {
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function statusColor(status) {
  return STATUS_COLORS[status] || "#94a3b8";
}

function pill(status, reason, small) {
  const text = reason ? `${status} / ${reason}` : status;
  return el("span", { class: small ? "pill sm" : "pill", style: `background:${statusColor(status)}` }, text);
}

function time(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, {
    month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit",
  });
}

function shortTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  const hms = d.toLocaleTimeString(undefined, { hour12: false });
  if (d.toDateString() === new Date().toDateString()) return hms;
  return `${d.toLocaleDateString(undefined, { month: "short", day: "numeric" })} ${hms}`;
}

function money(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency }).format(Number(amount));
  } catch (e) {
    return `${amount} ${currency}`;
  }
}

function clock(iso) {
  const d = new Date(iso);
  return d.toLocaleTimeString(undefined, { hour12: false }) + "." + String(d.getMilliseconds()).padStart(3, "0");
}

function ago(iso) {
  if (!iso) return "never";
  const seconds = Math.round((Date.now() - new Date(iso).getTime()) / 1000);
  if (seconds < 0) return time(iso);
  if (seconds < 60) return `${seconds}s ago`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min ago`;
  if (seconds < 86400) return `${Math.round(seconds / 3600)} h ago`;
  return time(iso);
}

let toastTimer = null;
function toast(message, isError) {
  const box = $("toast");
  box.textContent = message;
  box.className = isError ? "toast error" : "toast";
  box.hidden = false;
  clearTimeout(toastTimer);
  toastTimer = setTimeout(() => { box.hidden = true; }, 5000);
}

// ---------------------------------------------------------------- API access

const token = { value: localStorage.getItem("oms-api-token") || "" };

function withToken(path) {
  if (!token.value) return path;
  return path + (path.includes("?") ? "&" : "?") + "access_token=" + encodeURIComponent(token.value);
}

async function askToken() {
  const dialog = $("token-dialog");
  if (dialog.open) return;
  dialog.showModal();
  await new Promise((resolve) => dialog.addEventListener("close", resolve, { once: true }));
  token.value = $("token-input").value.trim();
  localStorage.setItem("oms-api-token", token.value);
  route();
}

async function api(path, options) {
  const headers = token.value ? { Authorization: `Bearer ${token.value}` } : {};
  const response = await fetch(path, { ...(options || {}), headers });
  let body = null;
  try { body = await response.json(); } catch (e) { body = null; }
  if (response.status === 401) askToken();
  return { status: response.status, ok: response.ok, body };
}

// ---------------------------------------------------------------- live connection

let source = null;
function connect(path, handlers) {
  if (source) source.close();
  const conn = $("conn");
  conn.dataset.state = "connecting";
  $("conn-text").textContent = "connecting…";
  source = new EventSource(withToken(path));
  source.onopen = () => { conn.dataset.state = "live"; $("conn-text").textContent = "live"; };
  source.onerror = () => { conn.dataset.state = "down"; $("conn-text").textContent = "reconnecting…"; };
  for (const [event, handler] of Object.entries(handlers)) {
    source.addEventListener(event, (e) => handler(JSON.parse(e.data)));
  }
}

// ---------------------------------------------------------------- overview

function renderKpis(stats) {
  $("kpi-orders").textContent = NUM.format(stats.orders);
  $("kpi-events").textContent = NUM.format(stats.events);
  $("kpi-rate").textContent = NUM.format(stats.events_per_second);
  $("kpi-hold").textContent = NUM.format(stats.on_hold);
  $("kpi-hold").classList.toggle("nonzero", stats.on_hold > 0);
  const waiting = Object.values(stats.waiting).reduce((n, seqs) => n + seqs.length, 0);
  $("kpi-waiting").textContent = NUM.format(waiting);
  const projection = $("kpi-projection");
  projection.textContent = stats.caught_up ? "✓ caught up" : "catching up…";
  projection.className = "kpi-value kpi-small " + (stats.caught_up ? "ok" : "warn");
}

function groupByStatus(byStatus) {
  const groups = new Map();
  for (const row of byStatus) {
    if (!groups.has(row.status)) groups.set(row.status, { status: row.status, orders: 0, reasons: [] });
    const group = groups.get(row.status);
    group.orders += row.orders;
    group.reasons.push(row);
  }
  const rank = (s) => (STATUS_ORDER.includes(s) ? STATUS_ORDER.indexOf(s) : 99);
  return [...groups.values()].sort((a, b) => rank(a.status) - rank(b.status) || a.status.localeCompare(b.status));
}

function renderStatuses(stats) {
  const total = stats.orders;
  const groups = groupByStatus(stats.by_status);
  $("status-total").textContent = `${NUM.format(total)} orders`;
  $("status-bar").replaceChildren(...groups.map((g) => el("span", {
    style: `width:${(100 * g.orders) / Math.max(total, 1)}%;background:${statusColor(g.status)}`,
    title: `${g.status}: ${NUM.format(g.orders)}`,
  })));
  if (!groups.length) {
    $("status-list").replaceChildren(el("p", { class: "empty" }, "No orders yet."));
    return;
  }
  $("status-list").replaceChildren(...groups.map((g) => el("div", { class: "status-row", "data-status": g.status },
    el("div", { class: "status-name" }, el("span", { class: "swatch", style: `background:${statusColor(g.status)}` }), g.status),
    el("div", { class: "bar" }, el("span", {
      style: `width:${(100 * g.orders) / Math.max(total, 1)}%;background:${statusColor(g.status)}`,
    })),
    el("div", { class: "count" }, NUM.format(g.orders)),
    el("div", { class: "reasons" }, g.reasons.map((r) => el("span", { class: "reason" }, r.reason, el("b", {}, NUM.format(r.orders))))),
  )));
}

/** A round step for four grid intervals that cover ``value``: 1, 2 or 5 times a power of 10. */
function niceStep(value) {
  const raw = Math.max(value, 4) / 4;
  const magnitude = 10 ** Math.floor(Math.log10(raw));
  for (const step of [1, 2, 5, 10]) if (step * magnitude >= raw) return step * magnitude;
  return 10 * magnitude;
}

function renderThroughput(stats) {
  const series = stats.throughput;
  const width = Math.max(320, $("throughput").clientWidth || 600);
  const height = 190, left = 44, right = 12, top = 16, bottom = 24;
  const max = 4 * niceStep(Math.max(...series, 1));
  const x = (i) => left + (i * (width - left - right)) / Math.max(series.length - 1, 1);
  const y = (v) => top + (height - top - bottom) * (1 - v / max);
  const children = [];
  for (let k = 0; k <= 4; k++) {
    const value = (max * k) / 4;
    children.push(svg("line", { class: "grid-line", x1: left, x2: width - right, y1: y(value), y2: y(value) }));
    children.push(svg("text", { class: "axis", x: left - 8, y: y(value) + 4, "text-anchor": "end" }, NUM.format(value)));
  }
  for (const [i, label] of [[0, "-60 s"], [30, "-30 s"], [series.length - 1, "now"]]) {
    children.push(svg("text", { class: "axis", x: x(i), y: height - 6, "text-anchor": i === 0 ? "start" : i === series.length - 1 ? "end" : "middle" }, label));
  }
  const points = series.map((v, i) => `${x(i).toFixed(1)},${y(v).toFixed(1)}`);
  children.push(svg("path", { class: "area", d: `M${x(0)},${y(0)} L${points.join(" L")} L${x(series.length - 1)},${y(0)} Z` }));
  children.push(svg("path", { class: "line", d: `M${points.join(" L")}` }));
  const last = series[series.length - 1];
  children.push(svg("circle", { class: "last", cx: x(series.length - 1), cy: y(last), r: 3.5 }));
  children.push(svg("text", { class: "label", x: width - right, y: top - 2, "text-anchor": "end" }, `${NUM.format(stats.events_per_second)} events/s avg`));
  $("throughput").replaceChildren(svg("svg", { viewBox: `0 0 ${width} ${height}`, width, height, role: "img", "aria-label": "events per second" }, children));
}

function renderProviders(stats) {
  if (!stats.providers.length) {
    $("providers").replaceChildren(el("p", { class: "empty" }, "No data: no provider has reported yet."));
    return;
  }
  $("providers").replaceChildren(...stats.providers.map((p) => el("div", { class: "provider" },
    el("div", { class: "provider-name" },
      el("span", { class: p.events_last_minute > 0 ? "health active" : "health", title: p.events_last_minute > 0 ? "reporting" : "idle" }),
      p.provider),
    el("dl", {},
      el("dt", {}, "reports"), el("dd", {}, NUM.format(p.events)),
      el("dt", {}, "last minute"), el("dd", {}, NUM.format(p.events_last_minute)),
      el("dt", {}, "last report"), el("dd", { title: p.last_event_at || "" }, shortTime(p.last_event_at))),
  )));
}

async function reprocess(orderId, button) {
  button.disabled = true;
  const answer = await api(`/orders/${encodeURIComponent(orderId)}/reprocess`, { method: "POST" });
  if (answer.status === 202) toast(`Reprocess of ${orderId} requested (command ${answer.body.command_id}).`);
  else toast((answer.body && answer.body.error) || `Reprocess failed (HTTP ${answer.status}).`, true);
  setTimeout(() => { button.disabled = false; }, 2000);
}

function renderHolds(stats) {
  const shown = stats.held_orders.length;
  $("hold-count").textContent = stats.on_hold > shown ? `showing ${shown} of ${NUM.format(stats.on_hold)}` : `${NUM.format(stats.on_hold)} orders`;
  const body = $("hold-table").tBodies[0];
  if (!shown) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 5, class: "empty" }, "No order is on hold.")));
    return;
  }
  body.replaceChildren(...stats.held_orders.map((h) => el("tr", {},
    el("td", {}, el("a", { href: `/dashboard/orders/${encodeURIComponent(h.order_id)}`, "data-link": true, class: "mono" }, h.order_id)),
    el("td", {}, pill("On hold", h.reason, true)),
    el("td", { class: "why" }, h.details.length ? h.details.join("; ") : "–"),
    el("td", { class: "muted nowrap", title: h.since }, shortTime(h.since)),
    el("td", {}, el("button", { class: "act", type: "button", onclick: (e) => reprocess(h.order_id, e.currentTarget) }, "Reprocess")),
  )));
}

const feed = [];
function renderLive(changes) {
  feed.unshift(...changes.reverse());
  feed.length = Math.min(feed.length, 30);
  $("live").replaceChildren(...feed.map((c, i) => el("li", { class: i < changes.length ? "fresh" : "" },
    el("span", { class: "t" }, clock(c.occurred_at)),
    el("a", { href: `/dashboard/orders/${encodeURIComponent(c.order_id)}`, "data-link": true, class: "mono" }, c.order_id),
    el("span", { class: "what" }, c.type, el("span", { class: "chip" }, `#${c.seq}`), el("span", { class: "chip" }, c.topic)),
    pill(c.status, c.status_reason, true),
  )));
}

function showOverview() {
  $("overview").hidden = false;
  $("order-page").hidden = true;
  document.title = "kafka-iom · Operations";
  let pending = [];
  let scheduled = false;
  let skipped = 0;
  $("live-skipped").textContent = "newest first";
  connect("/events/stream", {
    stats: (stats) => {
      renderKpis(stats); renderStatuses(stats); renderThroughput(stats); renderProviders(stats); renderHolds(stats);
    },
    lagged: (lag) => {
      skipped += lag.dropped;
      $("live-skipped").textContent = `${NUM.format(skipped)} events not shown (too many to follow live)`;
    },
    change: (change) => {
      pending.push(change);
      if (!scheduled) {
        scheduled = true;
        requestAnimationFrame(() => { renderLive(pending.slice(-40)); pending = []; scheduled = false; });
      }
    },
  });
  api("/stats").then((answer) => {
    if (answer.ok) {
      const s = answer.body;
      renderKpis(s); renderStatuses(s); renderThroughput(s); renderProviders(s); renderHolds(s);
    }
  });
}

// ---------------------------------------------------------------- order page

const order = { id: null, history: [], asOf: null, selectedSeq: null, refresh: null };

function detail(label, value) {
  return [el("dt", {}, label), el("dd", {}, value === null || value === undefined || value === "" ? "–" : value)];
}

function renderOrder(state) {
  $("order-status").replaceWith(Object.assign(pill(state.status, state.status_reason), { id: "order-status" }));
  $("order-status").dataset.testid = "order-status";
  $("order-version").textContent = `version ${state.version} · updated ${time(state.updated_at)}`;
  const refs = state.external_refs.map((r) => `${r.system}:${r.ref}`).join(", ");
  $("order-meta").replaceChildren(
    el("span", {}, "channel ", el("b", {}, state.channel)),
    el("span", {}, "customer ", el("b", {}, state.customer_id)),
    refs ? el("span", {}, "refs ", el("b", {}, refs)) : null,
    el("span", {}, "created ", el("b", {}, time(state.created_at))),
  );
  const provider = state.fulfillment_provider
    ? `${state.fulfillment_provider}${state.provider_order_id ? ` (${state.provider_order_id})` : ""}` : null;
  $("order-details").replaceChildren(...[
    detail("Status", `${state.status} / ${state.status_reason}`),
    detail("Company", state.company),
    detail("Invoice customer", state.invoice_customer),
    detail("Fulfillment provider", provider),
    state.billing_provider ? detail("Billing provider", state.billing_provider) : [],
    detail("Tracking number", state.tracking_number),
    detail("Invoice", state.invoice_id),
    detail("Channel status", state.channel_status),
    state.flow ? detail("Flow", `${state.flow} v${state.flow_version}`) : [],
    state.failed_step ? detail("Failed step", state.failed_step) : [],
    state.waiting_on ? detail("Waiting on", state.waiting_on) : [],
    state.validation_errors && state.validation_errors.length ? detail("Validation", state.validation_errors.join("; ")) : [],
    detail("Ship to", [state.ship_to.name, state.ship_to.city, state.ship_to.country].filter(Boolean).join(", ")),
    state.is_manual ? detail("Entered", ["manually", state.sales_origin, state.customer_reference].filter(Boolean).join(" · ")) : [],
    state.cloned_from ? detail("Cloned from", state.cloned_from) : [],
    state.replacement_for ? detail("Replacement for", state.replacement_for) : [],
    ...(state.returns || []).map((r) => detail(`Return ${r.rma_id}`, [
      r.status,
      r.lines.map((x) => `${x.line_id} ×${x.quantity}`).join(", "),
      r.reason,
      r.credit_note_id ? `credit note ${r.credit_note_id}` : null,
      r.replacement_order_id ? `replacement ${r.replacement_order_id}` : null,
    ].filter(Boolean).join(" · "))),
  ].flat());
  $("order-lines").tBodies[0].replaceChildren(...state.lines.map((line) => el("tr", {},
    el("td", {}, line.line_id),
    el("td", { class: "mono" }, line.sku),
    el("td", { class: "num" }, line.quantity),
    el("td", { class: "num" }, money(line.unit_price, state.currency)),
    el("td", {}, line.site || "–"),
    el("td", {}, line.warehouse || "–"),
    el("td", {}, pill(line.status, line.follows_order_status ? null : line.status_reason, true)),
    el("td", {}, lineDates(line)),
  )));
}

function lineDates(line) {
  const parts = [
    line.preorder_until ? `launch ${line.preorder_until}` : null,
    line.inventory_availability_date ? `available ${line.inventory_availability_date}` : null,
    line.estimated_ship_date ? `ships ${line.estimated_ship_date}` : null,
  ].filter(Boolean);
  return parts.length ? parts.join(" · ") : "–";
}

function summary(event) {
  const p = event.payload;
  const keys = ["rma_id", "editor", "policy", "provider", "reasons", "reason", "requested_by", "step", "result", "invoice_id", "credit_note_id", "replacement_order_id", "tracking_number", "channel_status", "company", "flow"];
  return keys.filter((k) => p[k] !== undefined && p[k] !== null && p[k] !== "" && !(Array.isArray(p[k]) && !p[k].length))
    .slice(0, 3).map((k) => `${k}: ${Array.isArray(p[k]) ? p[k].join("; ") : p[k]}`).join(" · ");
}

function renderTimeline() {
  const events = order.history;
  $("timeline").replaceChildren(...events.map((e) => el("li", {
    class: [order.selectedSeq === e.seq ? "selected" : "", order.selectedSeq !== null && e.seq > order.selectedSeq ? "future" : ""].join(" "),
    "data-seq": e.seq,
    onclick: (click) => { if (click.target.closest("details")) return; travel(e); },
  },
  el("span", { class: "node", style: `background:${statusColor(e.status)}` }),
  el("div", { class: "ev" },
    el("div", { class: "ev-top" },
      el("span", { class: "ev-seq" }, `#${e.seq}`),
      el("span", { class: "ev-title" }, e.business_event),
      el("span", { class: "ev-time", title: e.occurred_at }, clock(e.occurred_at))),
    el("div", { class: "ev-sub" },
      el("span", { class: "chip" }, e.topic),
      pill(e.status, e.status_reason, true),
      summary(e) ? el("span", {}, summary(e)) : null),
    el("details", {}, el("summary", {}, "payload"), el("pre", {}, JSON.stringify(e.payload, null, 2))),
  ))));
}

async function travel(event) {
  if (order.selectedSeq === event.seq || event.seq === order.history.length) {
    backToLive();
    return;
  }
  const answer = await api(`/orders/${encodeURIComponent(order.id)}?as_of=${encodeURIComponent(event.occurred_at)}`);
  if (!answer.ok) { toast(answer.body ? answer.body.error : "time travel failed", true); return; }
  order.asOf = event.occurred_at;
  order.selectedSeq = event.seq;
  renderOrder(answer.body);
  $("travel").hidden = false;
  $("travel-at").textContent = time(event.occurred_at);
  $("travel-seq").textContent = `#${event.seq}, ${event.business_event}`;
  renderTimeline();
}

function backToLive() {
  order.asOf = null;
  order.selectedSeq = null;
  $("travel").hidden = true;
  loadOrder();
}

async function loadOrder() {
  const id = order.id;
  const path = `/orders/${encodeURIComponent(id)}`;
  const [current, history] = await Promise.all([api(path), api(`${path}/history`)]);
  if (id !== order.id) return;
  if (current.status === 404) {
    $("order-missing").hidden = false;
    $("order-missing").textContent = `Order ${id} is not in the projection (yet). This page updates as soon as its first event arrives.`;
    $("order-body").hidden = true;
    $("order-status").textContent = "not found";
    return;
  }
  if (!current.ok) { toast(current.body ? current.body.error : `HTTP ${current.status}`, true); return; }
  $("order-missing").hidden = true;
  $("order-body").hidden = false;
  if (history.ok) order.history = history.body.events;
  if (order.asOf === null) renderOrder(current.body);
  renderTimeline();
}

function showOrder(id) {
  $("overview").hidden = true;
  $("order-page").hidden = false;
  document.title = `${id} · kafka-iom`;
  Object.assign(order, { id, history: [], asOf: null, selectedSeq: null });
  $("order-id").textContent = id;
  $("travel").hidden = true;
  $("timeline").replaceChildren();
  let timer = null;
  order.refresh = () => { clearTimeout(timer); timer = setTimeout(loadOrder, 150); };
  connect(`/events/stream?stats=false&order_id=${encodeURIComponent(id)}`, { change: () => order.refresh() });
  loadOrder();
}

// ---------------------------------------------------------------- routing and search

function route() {
  const match = location.pathname.match(/^\/dashboard\/orders\/(.+)$/);
  if (match) showOrder(decodeURIComponent(match[1]));
  else showOverview();
}

function go(path) {
  history.pushState(null, "", path);
  route();
}

document.addEventListener("click", (e) => {
  const link = e.target.closest("a[data-link]");
  if (!link || e.metaKey || e.ctrlKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  go(link.getAttribute("href"));
});

$("search").addEventListener("submit", async (e) => {
  e.preventDefault();
  const query = $("search-input").value.trim();
  if (!query) return;
  const direct = await api(`/orders/${encodeURIComponent(query)}`);
  if (direct.ok) { go(`/dashboard/orders/${encodeURIComponent(query)}`); return; }
  const byRef = await api(`/orders?external_ref=${encodeURIComponent(query)}&limit=2`);
  if (byRef.ok && byRef.body.orders.length) {
    if (byRef.body.orders.length > 1) toast(`More than one order has the reference ${query}; showing the first.`);
    go(`/dashboard/orders/${encodeURIComponent(byRef.body.orders[0].order_id)}`);
    return;
  }
  toast(`No order ${query}, and no order with that external reference.`, true);
});

$("travel-live").addEventListener("click", backToLive);
window.addEventListener("popstate", route);
setInterval(() => { if (!$("order-page").hidden && order.asOf === null) loadOrder(); }, 10000);
route();
