// Kauppa ops dashboard: a token login, then the JSON API polled every few seconds.
// Vanilla JS, charts drawn as inline SVG; nothing is loaded from the internet.
"use strict";

const POLL_MS = Number(document.body.dataset.pollMs || 2000);
const TOKEN_KEY = "kauppa.dashboard.token";
const PERIOD_KEY = "kauppa.dashboard.period";
const STAGE_LABELS = {
  qualified: "Qualified", rejected_at_gate: "Rejected at gate", assigned: "Assigned",
  accepted: "Accepted", returned: "Returned", closed: "Closed (won)", lost: "Lost",
  confirmed: "Confirmed", delivered: "Delivered", feedback_done: "Feedback call done",
};
const STAGE_COLORS = {
  qualified: "#1f6feb", rejected_at_gate: "#cf222e", assigned: "#4c8df6", accepted: "#1a7f37",
  returned: "#d4a72c", closed: "#2da44e", lost: "#a0a7b4", confirmed: "#6e40c9",
  delivered: "#8957e5", feedback_done: "#bf3989",
};
const PERIOD_LABELS = { today: "today", "7d": "last 7 days", "30d": "last 30 days", all: "all time" };

const state = {
  token: sessionStorage.getItem(TOKEN_KEY),
  period: localStorage.getItem(PERIOD_KEY) || "7d",
  dim: "source",
  org: new URLSearchParams(location.search).get("org") || "",
  me: null,
  overview: null,
  timer: null,
  dlqService: null,
};

const $ = (id) => document.getElementById(id);
const slug = (s) => String(s ?? "none").toLowerCase().replace(/[^a-z0-9]+/g, "-").replace(/^-|-$/g, "") || "none";
const fmtPct = (v) => (v === null || v === undefined ? "–" : `${v.toFixed(1)} %`);
const fmtNum = (v) => (v === null || v === undefined ? "–" : String(v));

function fmtDuration(s) {
  if (s === null || s === undefined) return "–";
  if (s < 60) return `${Math.round(s)} s`;
  if (s < 3600) return `${Math.round(s / 60)} min`;
  if (s < 86400) return `${(s / 3600).toFixed(1)} h`;
  return `${(s / 86400).toFixed(1)} d`;
}

function fmtTime(iso) {
  if (!iso) return "–";
  const d = new Date(iso);
  return d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "testid") node.dataset.testid = v;
    else if (k === "class") node.className = v;
    else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v);
  }
  for (const c of children) node.append(c instanceof Node ? c : document.createTextNode(c ?? ""));
  return node;
}

function svg(tag, attrs = {}, text) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (k === "testid") node.setAttribute("data-testid", v);
    else node.setAttribute(k, v);
  }
  if (text !== undefined) node.textContent = text;
  return node;
}

function setText(id, value) {
  const node = $(id);
  if (node) node.textContent = value;
}

// ------------------------------------------------------------------------- API

async function api(path, options = {}) {
  const headers = { Authorization: `Bearer ${state.token}`, ...(options.headers || {}) };
  const response = await fetch(path, { ...options, headers });
  if (response.status === 401) {
    signOut("Your token was refused or has expired. Sign in again.");
    throw new Error("unauthorised");
  }
  const body = await response.json().catch(() => ({}));
  if (!response.ok) {
    const detail = Array.isArray(body.detail)
      ? body.detail.map((d) => `${(d.loc || []).join(".")}: ${d.msg}`).join("; ")
      : body.detail;
    throw new Error(detail || `${response.status} ${response.statusText}`);
  }
  return body;
}

function query(extra = {}) {
  const p = new URLSearchParams({ period: state.period, ...extra });
  if (state.org) p.set("org", state.org);
  return p.toString();
}

// ----------------------------------------------------------------- login/logout

function showLogin(message) {
  $("login-view").hidden = false;
  $("dash-view").hidden = true;
  $("periods").hidden = true;
  $("session").hidden = true;
  const err = $("login-error");
  err.hidden = !message;
  err.textContent = message || "";
}

function signOut(message) {
  clearInterval(state.timer);
  state.timer = null;
  state.token = null;
  sessionStorage.removeItem(TOKEN_KEY);
  showLogin(message);
}

async function signIn(token) {
  state.token = token.trim();
  try {
    state.me = await api("/api/me");
  } catch (e) {
    if (state.token) signOut(e.message === "unauthorised" ? "That token was refused." : e.message);
    return;
  }
  sessionStorage.setItem(TOKEN_KEY, state.token);
  $("login-view").hidden = true;
  $("dash-view").hidden = false;
  $("periods").hidden = false;
  $("session").hidden = false;
  const org = state.me.organisation_id || state.org;
  setText("who", `${state.me.subject} · ${state.me.roles.join(", ")}${org ? " · " + org : ""}`);
  markPeriod();
  sampleProposal();
  await refresh();
  state.timer = setInterval(refresh, POLL_MS);
}

// --------------------------------------------------------------------- polling

async function refresh() {
  const stale = $("stale-days").value || "14";
  try {
    const [overview, health] = await Promise.all([
      api(`/api/overview?${query({ stale_days: stale })}`),
      api("/api/health"),
    ]);
    state.overview = overview;
    render(overview);
    renderHealth(health);
    const live = $("live");
    live.className = "live ok";
    live.textContent = `live · ${new Date().toLocaleTimeString()}`;
    document.body.dataset.loaded = "1";
  } catch (e) {
    if (e.message === "unauthorised") return;
    const live = $("live");
    live.className = "live bad";
    live.textContent = `update failed: ${e.message}`;
  }
}

function markPeriod() {
  for (const b of document.querySelectorAll("#periods button")) {
    b.classList.toggle("on", b.dataset.period === state.period);
  }
  setText("period-label", PERIOD_LABELS[state.period] || state.period);
}

// ---------------------------------------------------------------------- render

function render(o) {
  renderFunnel(o.funnel);
  renderQuality(o.quality);
  renderSla(o.handoff_sla);
  renderStale(o.stale_deals);
  renderConfirmations(o.confirmations);
  renderContacts(o.contacts, o.without_next_contact, o.relationship);
  renderWebhookAlerts(o.webhook_alerts);
  setText("as-of", `As of ${fmtTime(o.now)}.`);
  const seller = o.contacts.sellers[0]?.seller_id;
  if (seller) sampleProposal(seller);
}

function renderFunnel(f) {
  const steps = f.steps;
  const max = Math.max(1, ...steps.map((s) => s.count));
  const rowH = 30, labelW = 170, numW = 300, width = 1300;
  const barW = width - labelW - numW;
  const root = svg("svg", { viewBox: `0 0 ${width} ${steps.length * rowH + 4}`, role: "img", "aria-label": "Funnel" });
  steps.forEach((s, i) => {
    const y = i * rowH + 2;
    const w = Math.max(s.count > 0 ? 3 : 0, (s.count / max) * barW);
    root.append(svg("text", { x: labelW - 10, y: y + 19, "text-anchor": "end", class: "lbl" }, STAGE_LABELS[s.stage] || s.stage));
    root.append(svg("rect", { x: labelW, y: y + 4, width: barW, height: rowH - 10, rx: 4, fill: "#eef1f6" }));
    root.append(svg("rect", { x: labelW, y: y + 4, width: w, height: rowH - 10, rx: 4, fill: STAGE_COLORS[s.stage] || "#1f6feb" }));
    root.append(svg("text", { x: labelW + barW + 10, y: y + 19, class: "num", testid: `funnel-${s.stage}` }, String(s.count)));
    if (s.percent !== null) {
      root.append(svg("text", { x: labelW + barW + 52, y: y + 19, class: "lbl", testid: `funnel-${s.stage}-percent` }, `${s.percent.toFixed(1)} % of ${STAGE_LABELS[s.of].toLowerCase()}`));
    }
  });
  $("funnel-chart").replaceChildren(root);
}

function rateColor(v) {
  if (v === null || v === undefined) return "#a0a7b4";
  if (v >= 60) return "#2da44e";
  if (v >= 35) return "#d4a72c";
  return "#cf222e";
}

function renderQuality(q) {
  const rows = q[state.dim] || [];
  for (const b of document.querySelectorAll("#quality-tabs button")) b.classList.toggle("on", b.dataset.dim === state.dim);
  // Chart: acceptance rate per name.
  const rowH = 28, labelW = 150, width = 440, barW = width - labelW - 60;
  const chartRows = rows.slice(0, 12);
  const root = svg("svg", { viewBox: `0 0 ${width} ${Math.max(1, chartRows.length) * rowH + 22}`, role: "img", "aria-label": "Acceptance rate" });
  root.append(svg("text", { x: labelW, y: 12, class: "lbl" }, "Acceptance rate (accepted ÷ verdicts)"));
  chartRows.forEach((r, i) => {
    const y = i * rowH + 18;
    const v = r.acceptance_rate;
    root.append(svg("text", { x: labelW - 8, y: y + 17, "text-anchor": "end" }, r.name.length > 16 ? r.name.slice(0, 15) + "…" : r.name));
    root.append(svg("rect", { x: labelW, y: y + 5, width: barW, height: rowH - 10, rx: 4, fill: "#eef1f6" }));
    root.append(svg("rect", { x: labelW, y: y + 5, width: v ? (v / 100) * barW : 0, height: rowH - 10, rx: 4, fill: rateColor(v) }));
    root.append(svg("text", { x: labelW + barW + 6, y: y + 17, class: "num" }, v === null ? "–" : `${Math.round(v)} %`));
  });
  if (!chartRows.length) root.append(svg("text", { x: labelW, y: 36, class: "lbl" }, "No leads in this period."));
  $("quality-chart").replaceChildren(root);

  const tbody = document.querySelector("#quality-table tbody");
  tbody.replaceChildren(...rows.map((r) => {
    const id = `quality-${state.dim}-${slug(r.name)}`;
    const reasons = Object.entries(r.return_reasons).map(([k, n]) => `${k.replaceAll("_", " ")} ${n}`).join(", ");
    const queueReasons = reasonText(r.queue_reasons || {});
    return el("tr", { testid: id },
      el("td", {}, r.name),
      el("td", { testid: `${id}-qualified` }, fmtNum(r.qualified)),
      el("td", { testid: `${id}-rejected` }, fmtNum(r.rejected_at_gate)),
      el("td", { testid: `${id}-queued`, title: queueReasons }, fmtNum(r.queued ?? 0)),
      el("td", { testid: `${id}-accepted` }, fmtNum(r.accepted)),
      el("td", { testid: `${id}-returned` }, fmtNum(r.returned)),
      el("td", { testid: `${id}-acceptance` }, fmtPct(r.acceptance_rate)),
      el("td", { testid: `${id}-closed` }, fmtNum(r.closed)),
      el("td", { testid: `${id}-conversion` }, fmtPct(r.conversion_rate)),
      el("td", { class: "reasons", testid: `${id}-reasons` }, [reasons, queueReasons && `queued: ${queueReasons}`].filter(Boolean).join("; ") || "–"),
    );
  }));
  if (!rows.length) tbody.replaceChildren(el("tr", {}, el("td", { colspan: "10", class: "muted" }, "No leads in this period.")));
}

function reasonText(counts) {
  return Object.entries(counts).map(([k, n]) => `${k.replaceAll("_", " ")} ${n}`).join(", ");
}

function listOrEmpty(id, items, empty) {
  const ul = $(id);
  ul.replaceChildren(...(items.length ? items : [el("li", { class: "empty" }, empty)]));
}

function renderSla(s) {
  setText("sla-reminders", s.reminders);
  setText("sla-reassignments", s.reassignments);
  setText("sla-unassigned", s.unassigned_queue);
  setText("sla-overdue-verdicts", s.overdue_verdicts);
  $("sla-unassigned").closest(".kpi").classList.toggle("alert", s.unassigned_queue > 0);
  $("sla-overdue-verdicts").closest(".kpi").classList.toggle("alert", s.overdue_verdicts > 0);
  setText("sla-queue-reasons", s.unassigned_queue ? `Why: ${reasonText(s.queue_reasons || {})}` : "");
  listOrEmpty("sla-queue", s.queue.map((q) => el("li", { title: q.detail || "" },
    el("span", {}, `${q.lead_id} · ${q.source || "?"}${q.reason ? ` · ${q.reason.replaceAll("_", " ")}` : ""}`),
    el("span", { class: "muted" }, `waiting ${q.waiting_hours ?? "?"} h`))), "Nobody is waiting for a seller.");
  listOrEmpty("sla-recent", s.recent_breaches.map((b) => el("li", {},
    el("span", {}, b.kind === "reminder" ? `reminder: ${b.lead_id} · ${b.seller_id}` : `reassigned: ${b.lead_id} · ${b.seller_id} → ${b.to_seller_id || "queue"}`),
    el("span", { class: "muted" }, fmtTime(b.at)))), "No breaches in this period.");
}

function renderStale(s) {
  setText("stale-count", s.count);
  setText("open-deals", s.open_deals);
  $("stale-count").closest(".kpi").classList.toggle("alert", s.count > 0);
  listOrEmpty("stale-list", s.deals.map((d) => el("li", {},
    el("span", {}, `${d.company || d.deal_id} · ${d.seller_id || "?"} · ${d.stage || ""}`),
    el("span", { class: "warn" }, `${d.days_without_contact} d`))), "Every open deal has been touched recently.");
}

function renderConfirmations(c) {
  const l = c.latency;
  setText("confirm-sent", l.count);
  setText("confirm-p50", fmtDuration(l.p50_seconds));
  setText("confirm-p90", fmtDuration(l.p90_seconds));
  setText("confirm-failures", c.failures);
  setText("confirm-failed-not-sent", c.failed_not_sent);
  setText("confirm-awaiting", c.awaiting);
  $("confirm-failed-not-sent").closest(".kpi").classList.toggle("alert", c.failed_not_sent > 0);
  // Histogram.
  const bins = l.histogram, width = 560, height = 170, pad = 24, bw = (width - pad) / bins.length;
  const max = Math.max(1, ...bins.map((b) => b.count));
  const root = svg("svg", { viewBox: `0 0 ${width} ${height + 36}`, role: "img", "aria-label": "Latency histogram" });
  bins.forEach((b, i) => {
    const h = (b.count / max) * (height - 20);
    const x = pad / 2 + i * bw;
    root.append(svg("rect", { x: x + 4, y: height - h, width: bw - 8, height: Math.max(h, b.count ? 2 : 0), rx: 3, fill: "#6e40c9" }));
    root.append(svg("text", { x: x + bw / 2, y: height - h - 5, "text-anchor": "middle", class: "num", testid: `latency-bucket-${i}` }, b.count ? String(b.count) : ""));
    root.append(svg("text", { x: x + bw / 2, y: height + 16, "text-anchor": "middle", class: "lbl" }, b.bucket));
  });
  root.append(svg("line", { x1: pad / 2, x2: width - pad / 2, y1: height, y2: height, stroke: "#d0d7e2" }));
  root.append(svg("text", { x: width / 2, y: height + 33, "text-anchor": "middle", class: "lbl" }, "time from close to confirmation sent"));
  $("latency-chart").replaceChildren(root);
  listOrEmpty("confirm-failures-list", c.recent_failures.map((f) => el("li", {},
    el("span", {}, `${f.deal_id} · ${f.reason}${f.permanent ? " (permanent)" : ""}`),
    el("span", { class: "muted" }, fmtTime(f.failed_at)))), "No failed confirmations in this period.");
}

function renderContacts(c, missing, rel) {
  setText("without-next-contact", missing.count);
  const kpi = $("without-next-kpi");
  kpi.classList.toggle("alert", missing.count > 0);
  kpi.classList.toggle("good", missing.count === 0);
  setText("contacts-upcoming", c.upcoming);
  setText("contacts-due", c.due);
  setText("contacts-overdue", c.overdue);
  $("contacts-overdue").closest(".kpi").classList.toggle("alert", c.overdue > 0);
  const max = Math.max(1, ...c.sellers.map((s) => s.upcoming + s.due + s.overdue));
  const tbody = document.querySelector("#contacts-table tbody");
  // Seller ids are per organisation: name the organisation when the view spans several.
  const manyOrgs = new Set(c.sellers.map((s) => s.organisation_id)).size > 1;
  tbody.replaceChildren(...c.sellers.map((s) => {
    const id = `contacts-${slug(manyOrgs ? `${s.organisation_id}-${s.seller_id}` : s.seller_id)}`;
    const bar = svg("svg", { viewBox: "0 0 120 12", width: "120", height: "12" });
    let x = 0;
    for (const [n, color] of [[s.overdue, "#cf222e"], [s.due, "#d4a72c"], [s.upcoming, "#1f6feb"]]) {
      const w = (n / max) * 120;
      if (w > 0) bar.append(svg("rect", { x, y: 1, width: w, height: 10, fill: color }));
      x += w;
    }
    return el("tr", { testid: id },
      el("td", {}, manyOrgs ? `${s.seller_id} (${s.organisation_id})` : s.seller_id),
      el("td", { testid: `${id}-upcoming` }, String(s.upcoming)),
      el("td", { testid: `${id}-due` }, String(s.due)),
      el("td", { testid: `${id}-overdue`, class: s.overdue ? "warn" : "" }, String(s.overdue)),
      el("td", {}, bar));
  }));
  if (!c.sellers.length) tbody.replaceChildren(el("tr", {}, el("td", { colspan: "5", class: "muted" }, "No open contacts.")));
  const sample = missing.sample.map((s) => s.customer_id).join(", ");
  setText("relationship-facts", `${missing.customers} customers · ${rel.open_problems} open customer problems · ${rel.referrals} referrals in the period` + (sample ? ` · without next contact: ${sample}` : ""));
}

function renderHealth(h) {
  const tbody = document.querySelector("#health-table tbody");
  tbody.replaceChildren(...h.services.map((s) => {
    const id = `health-${slug(s.service)}`;
    const title = s.error || Object.entries(s.checks).map(([k, v]) => `${k}: ${v}`).join(", ");
    return el("tr", { testid: id },
      el("td", {}, el("b", {}, s.service), el("div", { class: "muted small" }, s.url)),
      el("td", { title }, el("span", { class: `pill ${s.status}`, testid: `${id}-status` }, s.status.replace("_", " "))),
      el("td", { testid: `${id}-lag` }, fmtNum(s.consumer_lag)),
      el("td", { testid: `${id}-dead-letters`, class: s.dead_letters ? "warn" : "" }, fmtNum(s.dead_letters)),
      el("td", { testid: `${id}-outbox` }, fmtNum(s.outbox_backlog)),
      el("td", { testid: `${id}-timers` }, fmtNum(s.timers_due)),
      el("td", { testid: `${id}-events-in` }, fmtNum(s.events_in)),
      el("td", {}, el("button", { class: "link", testid: `${id}-dlq`, onclick: () => openDeadLetters(s.service) }, "dead letters")));
  }));
  renderWebhooks(h.services.flatMap((s) => s.webhooks || []));
}

function renderWebhookAlerts(a) {
  // WebhookSubscriptionDisabled events in the period: an alert until the period passes.
  $("webhook-alerts").hidden = !a || a.disabled === 0;
  if (!a || a.disabled === 0) return;
  setText("webhook-alerts-count", `${a.disabled} disabled in this period`);
  $("webhook-alerts-list").replaceChildren(...a.recent.map((w) => {
    const id = `webhook-alert-${slug(w.subscription_id)}`;
    return el("li", { testid: id },
      el("span", {}, el("b", {}, w.subscription_id), ` · ${w.url_host} · ${w.organisation_id} · `,
        el("span", { testid: `${id}-reason` }, w.reason)),
      el("span", { class: "muted" }, fmtTime(w.disabled_at)));
  }));
}

function renderWebhooks(subs) {
  $("webhooks-block").hidden = subs.length === 0;
  const failing = subs.filter((w) => w.failing).length;
  setText("webhooks-summary", `${subs.length} subscriptions · ${failing} failing`);
  $("webhooks-summary").classList.toggle("warn", failing > 0);
  document.querySelector("#webhooks-table tbody").replaceChildren(...subs.map((w) => {
    const id = `webhook-${slug(w.subscription_id)}`;
    return el("tr", { testid: id, class: w.failing ? "warn" : "" },
      el("td", {}, w.subscription_id),
      el("td", {}, w.organisation_id || ""),
      el("td", { testid: `${id}-state` }, w.failing && w.state === "active" ? "failing" : w.state),
      el("td", { testid: `${id}-delivered` }, fmtNum(w.delivered ?? 0)),
      el("td", { testid: `${id}-backlog` }, fmtNum(w.backlog)),
      el("td", { testid: `${id}-oldest` }, w.backlog ? `${fmtNum(Math.round(w.oldest_undelivered_seconds))} s` : "–"));
  }));
}

// ----------------------------------------------------------------- dead letters

async function openDeadLetters(service) {
  state.dlqService = service;
  $("dlq-panel").hidden = false;
  setText("dlq-title", `Dead letters of ${service}`);
  setText("dlq-status", "Reading the dead-letter topic…");
  document.querySelector("#dlq-table tbody").replaceChildren();
  try {
    const body = await api(`/api/deadletters/${encodeURIComponent(service)}`);
    renderDeadLetters(body.dead_letters);
  } catch (e) {
    setText("dlq-status", `Could not read: ${e.message}`);
  }
}

function renderDeadLetters(letters) {
  const admin = state.me && state.me.can_replay;
  const pending = letters.filter((d) => !d.replayed_at);
  setText("dlq-status", `${letters.length} dead letters, ${pending.length} not replayed.` + (admin ? "" : " Replay needs the admin role."));
  $("dlq-status").dataset.count = String(letters.length);
  $("dlq-replay-all").hidden = !admin || pending.length === 0;
  document.querySelector("#dlq-table tbody").replaceChildren(...letters.map((d) => el("tr", { testid: `dlq-${slug(d.id)}` },
    el("td", {}, d.origin),
    el("td", {}, d.ce_type || "?"),
    el("td", { class: "reasons" }, `${d.reason_kind}: ${d.reason}`.slice(0, 160)),
    el("td", {}, fmtTime(d.dead_lettered_at)),
    el("td", {}, d.replayed_at ? `${fmtTime(d.replayed_at)} by ${d.replayed_by}` : "–"),
    el("td", {}, admin && !d.replayed_at ? el("button", { class: "danger", onclick: () => replay([d.id]) }, "Replay") : ""))));
}

async function replay(ids) {
  const service = state.dlqService;
  if (!confirm(`Replay ${ids ? ids.length : "all pending"} dead letter(s) of ${service} to their origin topics?`)) return;
  try {
    const body = await api(`/api/deadletters/${encodeURIComponent(service)}/replay`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID ? crypto.randomUUID() : String(Date.now()) },
      body: JSON.stringify({ ids }),
    });
    await openDeadLetters(service);
    setText("dlq-status", `Replayed ${body.replayed.length}. ` + $("dlq-status").textContent);
  } catch (e) {
    setText("dlq-status", `Replay failed: ${e.message}`);
  }
}

// -------------------------------------------------------------- routing what-if

// The sample proposal (remove one seller) until the user edits it; a seller seen in the
// read models replaces the placeholder.
function sampleProposal(seller) {
  const box = $("what-if-proposal");
  if (box.value && box.dataset.sample !== "1") return;
  const proposal = { weeks: 4, remove: [seller || box.dataset.seller || "seller-1"] };
  if (seller) box.dataset.seller = seller;
  const org = state.me && !state.me.organisation_id ? state.org : "";
  if (org) proposal.organisation_id = org;
  box.value = JSON.stringify(proposal, null, 2);
  box.dataset.sample = "1";
}

async function runWhatIf() {
  const status = $("what-if-status");
  let proposal;
  try {
    proposal = JSON.parse($("what-if-proposal").value);
  } catch (e) {
    status.textContent = `Not valid JSON: ${e.message}`;
    return;
  }
  status.textContent = "Replaying at handoff…";
  try {
    const result = await api("/api/what-if", {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(proposal),
    });
    renderWhatIf(result);
    status.textContent = `Replayed by handoff in ${result.seconds} s.`;
  } catch (e) {
    if (e.message !== "unauthorised") status.textContent = `What-if failed: ${e.message}`;
  }
}

function renderWhatIf(r) {
  $("what-if-result").hidden = false;
  const nobody = r.proposed.waiting;
  const why = reasonText(r.proposed.waiting_by_reason);
  setText("what-if-summary",
    `${r.leads} leads of ${r.organisation_id}, ${r.since.slice(0, 10)} → ${r.until.slice(0, 10)}${r.truncated ? " (truncated)" : ""}: ` +
    `${r.owner_changed} change owner, ${nobody} nobody could take${nobody ? ` (${why})` : ""}; ` +
    `SLA reminders ${r.actual.reminders} → ${r.proposed.reminders}, reassignments ${r.actual.reassignments} → ${r.proposed.reassignments}.` +
    (r.not_on_roster.length ? ` Not on the roster: ${r.not_on_roster.join(", ")}.` : ""));
  // Bars per seller: actual (grey) beside proposed (blue).
  const rows = r.sellers;
  const max = Math.max(1, ...rows.map((s) => Math.max(s.actual, s.proposed)));
  const rowH = 34, labelW = 170, numW = 90, width = 1000;
  const barW = width - labelW - numW;
  const root = svg("svg", { viewBox: `0 0 ${width} ${rows.length * rowH + 24}`, role: "img", "aria-label": "Leads per seller, actual and proposed" });
  root.append(svg("rect", { x: labelW, y: 4, width: 10, height: 10, fill: "#a0a7b4" }));
  root.append(svg("text", { x: labelW + 14, y: 13, class: "lbl" }, "actual"));
  root.append(svg("rect", { x: labelW + 70, y: 4, width: 10, height: 10, fill: "#1f6feb" }));
  root.append(svg("text", { x: labelW + 84, y: 13, class: "lbl" }, "proposed"));
  rows.forEach((s, i) => {
    const y = i * rowH + 22;
    root.append(svg("text", { x: labelW - 10, y: y + 19, "text-anchor": "end", class: "lbl" }, s.seller_id));
    for (const [n, color, dy] of [[s.actual, "#a0a7b4", 3], [s.proposed, "#1f6feb", 16]]) {
      const w = Math.max(n > 0 ? 2 : 0, (n / max) * barW);
      root.append(svg("rect", { x: labelW, y: y + dy, width: w, height: 11, rx: 2, fill: color }));
    }
    root.append(svg("text", { x: labelW + barW + 10, y: y + 19, class: "num" }, `${s.actual} → ${s.proposed}`));
  });
  $("what-if-chart").replaceChildren(root);
  const tbody = document.querySelector("#what-if-table tbody");
  tbody.replaceChildren(...rows.map((s) => {
    const id = `what-if-${slug(s.seller_id)}`;
    const delta = s.proposed - s.actual;
    return el("tr", { testid: id },
      el("td", {}, s.seller_id),
      el("td", { testid: `${id}-actual` }, String(s.actual)),
      el("td", { testid: `${id}-proposed` }, String(s.proposed)),
      el("td", { class: delta < 0 ? "warn" : "" }, delta ? (delta > 0 ? `+${delta}` : String(delta)) : ""),
      el("td", {}, `${s.actual_assignments} → ${s.proposed_assignments}`));
  }));
  if (nobody) {
    tbody.append(el("tr", { testid: "what-if-nobody" },
      el("td", { class: "muted" }, "nobody"),
      el("td", { testid: "what-if-nobody-actual" }, String(r.actual.waiting)),
      el("td", { testid: "what-if-nobody-proposed", class: "warn" }, String(nobody)),
      el("td", {}, ""), el("td", { class: "reasons" }, why)));
  }
}

// ---------------------------------------------------------------------- wiring

$("login-form").addEventListener("submit", (ev) => {
  ev.preventDefault();
  signIn($("token").value);
});
$("logout").addEventListener("click", () => signOut());
for (const b of document.querySelectorAll("#periods button")) {
  b.addEventListener("click", () => {
    state.period = b.dataset.period;
    localStorage.setItem(PERIOD_KEY, state.period);
    markPeriod();
    refresh();
  });
}
for (const b of document.querySelectorAll("#quality-tabs button")) {
  b.addEventListener("click", () => {
    state.dim = b.dataset.dim;
    if (state.overview) renderQuality(state.overview.quality);
  });
}
$("stale-days").addEventListener("change", refresh);
$("dlq-close").addEventListener("click", () => { $("dlq-panel").hidden = true; state.dlqService = null; });
$("dlq-replay-all").addEventListener("click", () => replay(null));
$("what-if-proposal").addEventListener("input", () => { $("what-if-proposal").dataset.sample = "0"; });
$("what-if-form").addEventListener("submit", (ev) => { ev.preventDefault(); runWhatIf(); });

if (state.token) signIn(state.token);
else showLogin();
