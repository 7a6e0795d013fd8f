// kafka-iom dashboard: insights (Chart.js, vendored: chart.umd.min.js, MIT, see
// chart.js-LICENSE.md), error queues with reprocess, alerts, pause/resume, the what-if
// (POST /what-if from its form, GET /what-if for the last report). Uses the
// helpers of dashboard.js (el, api, toast). Polls the API every few seconds while the
// overview is shown.
"use strict";

const OPS_EVERY_MS = 3000;
const PALETTE = ["#2563eb", "#7c3aed", "#16a34a", "#d97706", "#dc2626", "#0891b2", "#64748b", "#db2777"];
const charts = {};

function pct(value) { return value === null || value === undefined ? "–" : `${(100 * value).toFixed(1)} %`; }
function secs(value) {
  if (value === null || value === undefined) return "–";
  return value < 120 ? `${value.toFixed(value < 10 ? 2 : 0)} s` : `${(value / 60).toFixed(1)} min`;
}

/** Create the chart once, then replace its data: Chart.js animates the change. */
function drawChart(id, type, labels, datasets, options) {
  const canvas = document.getElementById(id);
  if (!canvas || typeof Chart === "undefined") return;
  const data = { labels, datasets };
  if (!charts[id]) {
    charts[id] = new Chart(canvas, {
      type, data,
      options: Object.assign({ responsive: true, maintainAspectRatio: false, animation: { duration: 300 },
        plugins: { legend: { position: "bottom", labels: { boxWidth: 12 } } } }, options || {}),
    });
  } else {
    charts[id].data = data;
    charts[id].update();
  }
  canvas.dataset.points = String(datasets.reduce((n, d) => n + d.data.filter((v) => v !== null).length, 0));
}

function renderInsights(s) {
  $("kpi-jeopardy").textContent = NUM.format(s.in_jeopardy);
  $("kpi-past-due").textContent = NUM.format(s.past_due);
  $("kpi-past-due").classList.toggle("nonzero", s.past_due > 0);
  $("kpi-on-time").textContent = pct(s.on_time_ship_ratio);
  $("kpi-fill").textContent = pct(s.fill_rate);
  $("kpi-b2s").textContent = secs(s.book_to_ship.p50);
  $("insights-at").textContent = `as of ${shortTime(s.at)}; ${NUM.format(s.shipped)} shipped`;
  const rows = s.by_status;
  drawChart("chart-status", "bar", rows.map((r) => `${r.status} / ${r.reason}`),
    [{ label: "orders", data: rows.map((r) => r.orders), backgroundColor: rows.map((r) => statusColor(r.status).startsWith("var")
      ? getComputedStyle(document.documentElement).getPropertyValue(statusColor(r.status).slice(4, -1)).trim() : statusColor(r.status)) }],
    { indexAxis: "y", plugins: { legend: { display: false } } });
  const providers = s.providers;
  const names = providers.map((p) => `${p.provider} ${p.action}`);
  drawChart("chart-latency", "bar", names, ["p50", "p95", "p99"].map((q, i) => ({
    label: q, data: providers.map((p) => p.latency[q]), backgroundColor: PALETTE[i],
  })), { scales: { y: { beginAtZero: true, title: { display: true, text: "seconds" } } } });
  drawChart("chart-sla", "bar", names, [
    { label: "requests", data: providers.map((p) => p.requests), backgroundColor: PALETTE[0], yAxisID: "y" },
    { label: "failures", data: providers.map((p) => p.failures), backgroundColor: PALETTE[4], yAxisID: "y" },
    { label: "SLA %", data: providers.map((p) => p.sla_percent), type: "line", borderColor: PALETTE[2], backgroundColor: PALETTE[2], yAxisID: "sla" },
  ], { scales: { y: { beginAtZero: true }, sla: { position: "right", min: 0, max: 100, grid: { drawOnChartArea: false } } } });
  const steps = s.steps;
  drawChart("chart-steps", "bar", steps.map((x) => `${x.flow} · ${x.step}`), ["p50", "p95"].map((q, i) => ({
    label: q, data: steps.map((x) => x.cycle[q]), backgroundColor: PALETTE[i + 1],
  })), { indexAxis: "y" });
}

function errorQuery() {
  const q = new URLSearchParams();
  const category = $("error-category").value, provider = $("error-provider").value.trim();
  if (category) q.set("category", category);
  if (provider) q.set("provider", provider);
  q.set("state", $("error-state").value);
  q.set("limit", "50");
  return q;
}

async function reprocessErrors(body, button) {
  if (button) button.disabled = true;
  const answer = await api("/errors/reprocess", { method: "POST", body: JSON.stringify(body) });
  if (button) button.disabled = false;
  const message = (answer.body && (answer.body.message || answer.body.error)) || `HTTP ${answer.status}`;
  const first = answer.body && answer.body.results && answer.body.results[0];
  toast(first && answer.body.results.length === 1 ? first.message : message, !answer.ok);
  refreshOperations();
}

function renderErrors(errors) {
  $("errors-count").textContent = `${NUM.format(errors.length)} shown`;
  const body = $("error-table").querySelector("tbody");
  if (!errors.length) {
    body.replaceChildren(el("tr", {}, el("td", { colspan: 7, class: "empty" }, "No error.")));
    return;
  }
  body.replaceChildren(...errors.map((e) => el("tr", { "data-error": e.error_id },
    el("td", {}, shortTime(e.occurred_at)),
    el("td", {}, e.category.replace("_", " ")),
    el("td", {}, e.provider || "–"),
    el("td", {}, e.order_id ? el("a", { href: `/dashboard/orders/${encodeURIComponent(e.order_id)}`, "data-link": true }, e.order_id) : "–"),
    el("td", { class: "mono" }, e.message),
    el("td", { class: "error-state" }, e.state),
    el("td", {}, e.reprocessable && e.state === "open"
      ? el("button", { class: "act", type: "button", onclick: (ev) => reprocessErrors({ error_ids: [e.error_id] }, ev.target) }, "Reprocess")
      : ""),
  )));
}

async function takeAlert(id, button) {
  button.disabled = true;
  const answer = await api(`/alerts/${encodeURIComponent(id)}/take`, { method: "POST" });
  toast(answer.ok ? `Alert ${id} is in progress.` : (answer.body && answer.body.error) || "failed", !answer.ok);
  refreshOperations();
}

function renderAlerts(alerts) {
  $("kpi-alerts").textContent = NUM.format(alerts.length);
  $("kpi-alerts").classList.toggle("nonzero", alerts.length > 0);
  if (!alerts.length) {
    $("alerts").replaceChildren(el("li", { class: "empty" }, "No alert."));
    return;
  }
  $("alerts").replaceChildren(...alerts.map((a) => el("li", { "data-alert": a.alert_id, "data-severity": a.severity },
    el("span", { class: "state", "data-state": a.state }, a.state),
    el("span", { class: "msg" }, a.message, el("div", { class: "muted small" }, `${a.rule} · ${shortTime(a.changed_at)}`)),
    a.state === "Active" ? el("button", { class: "act", type: "button", onclick: (ev) => takeAlert(a.alert_id, ev.target) }, "Take") : "",
  )));
}

async function resumeTarget(target, button) {
  button.disabled = true;
  const answer = await api("/pauses/resume", { method: "POST", body: JSON.stringify(target) });
  toast((answer.body && (answer.body.message || answer.body.error)) || `HTTP ${answer.status}`, !answer.ok);
  refreshOperations();
}

function renderPauses(paused) {
  if (!paused.length) {
    $("pauses").replaceChildren(el("li", { class: "empty" }, "Nothing is paused."));
    return;
  }
  $("pauses").replaceChildren(...paused.map((p) => el("li", { "data-paused": p.key },
    el("span", { class: "msg" }, el("b", {}, p.key), p.reason ? ` – ${p.reason}` : "",
      el("div", { class: "muted small" }, `since ${shortTime(p.paused_at)} by ${p.by}`)),
    el("button", { class: "act", type: "button", onclick: (ev) => resumeTarget(p.target, ev.target) }, "Resume"),
  )));
}

const WHAT_IF_DIFFS_SHOWN = 50;

function outcome(o) { return `${o.status} / ${o.reason}`; }

function renderWhatIf(r) {
  $("whatif-at").textContent = `${r.draft}: ${NUM.format(r.changed)} of ${NUM.format(r.orders)} orders would change `
    + `(read ${secs(r.read_seconds)}, replayed ${secs(r.replay_seconds)})`;
  const summary = el("table", { class: "table", id: "whatif-summary" },
    el("thead", {}, el("tr", {}, el("th", {}, "What would change"), el("th", { class: "num" }, "Orders"))),
    el("tbody", {}, r.summary.length
      ? r.summary.map((s) => el("tr", {}, el("td", {}, s.how), el("td", { class: "num" }, NUM.format(s.orders))))
      : el("tr", {}, el("td", { colspan: 2, class: "empty" }, "Nothing would change."))));
  const shown = r.diffs.slice(0, WHAT_IF_DIFFS_SHOWN);
  const diffs = el("table", { class: "table", id: "whatif-diffs" },
    el("thead", {}, el("tr", {}, el("th", {}, "Order"), el("th", {}, "Recorded"), el("th", {}, "With the draft"), el("th", {}, "Changes"))),
    el("tbody", {}, shown.map((d) => el("tr", { "data-order": d.order_id },
      el("td", {}, el("a", { href: `/dashboard/orders/${encodeURIComponent(d.order_id)}`, "data-link": true }, d.order_id)),
      el("td", {}, outcome(d.recorded)),
      el("td", {}, outcome(d.replayed)),
      el("td", { class: "mono" }, d.changes.join("; ")),
    ))));
  const more = r.diffs.length > shown.length
    ? el("p", { class: "muted small" }, `${NUM.format(r.diffs.length - shown.length)} more changed orders: oms what-if prints them all.`) : "";
  $("whatif-report").replaceChildren(summary, shown.length ? diffs : "", more);
  document.body.dataset.whatIf = "shown";
}

async function loadWhatIf() {
  const last = await api("/what-if");
  if (last.ok) renderWhatIf(last.body);
}

$("whatif-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { flow: $("whatif-flow").value, since: $("whatif-since").value.trim() };
  const until = $("whatif-until").value.trim(), orders = $("whatif-orders").value.trim();
  if (until) body.until = until;
  if (orders) body.orders = Number(orders);
  const button = ev.target.querySelector("button");
  button.disabled = true;
  $("whatif-at").textContent = "replaying...";
  const answer = await api("/what-if", { method: "POST", body: JSON.stringify(body) });
  button.disabled = false;
  if (answer.ok) renderWhatIf(answer.body);
  else {
    $("whatif-at").textContent = "the what-if did not run";
    toast((answer.body && answer.body.error) || `HTTP ${answer.status}`, true);
  }
});

let opsTimer = null;
async function refreshOperations() {
  if ($("overview").hidden) return;
  const [insights, errors, alerts, pauses] = await Promise.all([
    api("/insights"), api(`/errors?${errorQuery()}`), api("/alerts"), api("/pauses"),
  ]);
  if (insights.ok) renderInsights(insights.body);
  if (errors.ok) renderErrors(errors.body.errors);
  if (alerts.ok) renderAlerts(alerts.body.alerts);
  if (pauses.ok) renderPauses(pauses.body.paused);
  document.body.dataset.operations = insights.ok ? "ready" : `unavailable (${insights.status})`;
}

function startOperations() {
  clearInterval(opsTimer);
  refreshOperations();
  opsTimer = setInterval(refreshOperations, OPS_EVERY_MS);
}

$("error-filters").addEventListener("change", refreshOperations);
$("error-reprocess-all").addEventListener("click", (ev) => {
  const q = errorQuery();
  const body = {};
  for (const name of ["category", "provider"]) if (q.get(name)) body[name] = q.get(name);
  reprocessErrors(body, ev.target);
});
$("pause-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const target = { kind: $("pause-kind").value, name: $("pause-name").value.trim() };
  const answer = await api("/pauses", { method: "POST", body: JSON.stringify({ ...target, reason: "paused from the dashboard" }) });
  toast((answer.body && (answer.body.message || answer.body.error)) || `HTTP ${answer.status}`, !answer.ok);
  refreshOperations();
});
window.addEventListener("popstate", startOperations);
document.addEventListener("click", (ev) => { if (ev.target.closest && ev.target.closest("[data-link]")) setTimeout(startOperations, 0); });
startOperations();
loadWhatIf();
