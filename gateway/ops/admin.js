// The operators' page: polls /admin/api/figures once a second, turns the counters of each
// replica into rates, and drives the presence, disconnect and test-publish forms.
// A plain ES module: no framework, no build step (the server serves this file as is).

const POLL_MS = 1000;
const WINDOW_S = 60;
const $ = (id) => document.getElementById(id);
const TOKEN_KEY = "gateway-admin-token";

/** Snapshots of the last minute: {at, replicas: Map(name → figures)}. */
const history = [];

function token() {
  return sessionStorage.getItem(TOKEN_KEY) ?? "";
}

async function api(path, body) {
  const headers = {};
  if (token()) headers.Authorization = `Bearer ${token()}`;
  const init = { headers };
  if (body !== undefined) {
    init.method = "POST";
    headers["Content-Type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  const response = await fetch(path, init);
  const value = await response.json().catch(() => ({ message: response.statusText }));
  if (response.status === 401) $("token-form").hidden = false;
  if (!response.ok) throw new Error(`${response.status}: ${value.message ?? value.error}`);
  return value;
}

function fmt(n, digits = 0) {
  return Number(n).toLocaleString("en-US", { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

/** Per second between the oldest snapshot within `seconds` and the newest, per replica. */
function rate(name, key, seconds = 5) {
  const last = history[history.length - 1];
  const first = history.find((h) => last.at - h.at <= seconds && h.replicas.has(name)) ?? last;
  if (first === last) return 0;
  const delta = last.replicas.get(name)[key] - first.replicas.get(name)[key];
  return Math.max(0, delta) / (last.at - first.at);
}

function clusterRate(key) {
  const last = history[history.length - 1];
  let total = 0;
  for (const name of last.replicas.keys()) total += rate(name, key);
  return total;
}

function cell(row, text, numeric = false) {
  const td = document.createElement("td");
  if (text instanceof Node) td.append(text);
  else td.textContent = text;
  if (numeric) td.className = "n";
  row.append(td);
}

function pill(state, text = state) {
  const span = document.createElement("span");
  span.className = "pill";
  span.dataset.state = state;
  span.textContent = text;
  return span;
}

function showReplicas(replicas) {
  const rows = [];
  for (const r of replicas) {
    const row = document.createElement("tr");
    row.dataset.replica = r.replica;
    cell(row, r.replica);
    cell(row, pill(r.accepting ? "up" : "draining", r.accepting ? "accepting" : "draining"));
    cell(row, fmt(r.connections), true);
    cell(row, fmt(rate(r.replica, "published"), 1), true);
    cell(row, fmt(rate(r.replica, "delivered"), 1), true);
    cell(row, pill(r.backend.up ? "up" : "down"));
    cell(row, fmt(r.backend.lag_seconds, 3), true);
    cell(row, fmt(r.backend.lag_entries), true);
    rows.push(row);
  }
  $("replica-rows").replaceChildren(...rows);
}

function showRefusals(replicas) {
  const first = history.find((h) => history[history.length - 1].at - h.at <= WINDOW_S);
  const totals = new Map();
  const before = new Map();
  for (const r of replicas) {
    for (const [reason, n] of Object.entries(r.refusals)) totals.set(reason, (totals.get(reason) ?? 0) + n);
    const old = first.replicas.get(r.replica);
    for (const [reason, n] of Object.entries(old?.refusals ?? r.refusals)) {
      before.set(reason, (before.get(reason) ?? 0) + n);
    }
  }
  const rows = [];
  for (const [reason, total] of [...totals].sort((a, b) => b[1] - a[1])) {
    if (!total) continue;
    const row = document.createElement("tr");
    row.dataset.reason = reason;
    cell(row, reason);
    cell(row, fmt(total - (before.get(reason) ?? 0)), true);
    cell(row, fmt(total), true);
    rows.push(row);
  }
  $("refusal-rows").replaceChildren(...rows);
  $("no-refusals").hidden = rows.length > 0;
}

function showChart() {
  const width = 600, height = 90;
  const last = history[history.length - 1].at;
  // the x axis spans what the page has seen, up to a minute: it fills from the first poll
  const span = Math.max(1, Math.min(WINDOW_S, last - history[0].at));
  const series = { published: [], delivered: [] };
  for (let i = 1; i < history.length; i++) {
    const [a, b] = [history[i - 1], history[i]];
    for (const key of Object.keys(series)) {
      let delta = 0;
      for (const [name, figures] of b.replicas) {
        const old = a.replicas.get(name);
        if (old) delta += Math.max(0, figures[key] - old[key]);
      }
      series[key].push([b.at, delta / (b.at - a.at)]);
    }
  }
  const top = Math.max(1, ...series.published.map((p) => p[1]), ...series.delivered.map((p) => p[1]));
  const path = (points) => points
    .map(([at, v], i) => `${i ? "L" : "M"}${(width * (1 - (last - at) / span)).toFixed(1)},${(height - 4 - (height - 8) * v / top).toFixed(1)}`)
    .join(" ");
  $("chart").innerHTML =
    `<line x1="0" y1="${height - 4}" x2="${width}" y2="${height - 4}" stroke="#dde1e6"/>` +
    `<line x1="0" y1="4" x2="${width}" y2="4" stroke="#eceff2" stroke-dasharray="4 4"/>` +
    `<path d="${path(series.published)}" fill="none" stroke="#2c6fbb" stroke-width="2" vector-effect="non-scaling-stroke"/>` +
    `<path d="${path(series.delivered)}" fill="none" stroke="#1f8a4c" stroke-width="2" stroke-dasharray="6 3" vector-effect="non-scaling-stroke"/>`;
  $("chart-scale").textContent = `top line ${fmt(top, 1)}/s · last ${fmt(span)} s`;
}

async function poll() {
  try {
    const figures = await api("/admin/api/figures");
    const at = performance.now() / 1000;
    history.push({ at, replicas: new Map(figures.replicas.map((r) => [r.replica, r])) });
    while (at - history[0].at > WINDOW_S + 1) history.shift();
    const replicas = figures.replicas;
    $("backend").textContent = figures.backend;
    $("others").hidden = figures.others_reached;
    $("replicas").textContent = fmt(replicas.length);
    $("connections").textContent = fmt(replicas.reduce((n, r) => n + r.connections, 0));
    $("publish-rate").textContent = fmt(clusterRate("published"), 1);
    $("delivery-rate").textContent = fmt(clusterRate("delivered"), 1);
    const lagS = Math.max(...replicas.map((r) => r.backend.lag_seconds));
    const lagN = Math.max(...replicas.map((r) => r.backend.lag_entries));
    $("lag").textContent = `${fmt(lagS, 2)} / ${fmt(lagN)}`;
    const up = replicas.filter((r) => r.backend.up).length;
    $("backend-state").textContent = `${up} of ${replicas.length}`;
    showReplicas(replicas);
    showRefusals(replicas);
    showChart();
    $("status").textContent = "live";
    $("status").dataset.state = "live";
    $("updated").textContent = new Date().toLocaleTimeString();
  } catch (error) {
    $("status").textContent = "error";
    $("status").dataset.state = "error";
    $("status").title = String(error.message ?? error);
  }
}

function report(id, promise, describe) {
  const out = $(id);
  out.className = "";
  out.textContent = "…";
  promise.then(
    (value) => { out.textContent = describe(value); },
    (error) => { out.className = "error"; out.textContent = String(error.message ?? error); },
  );
}

$("presence-form").onsubmit = (event) => {
  event.preventDefault();
  const user = $("user").value.trim();
  report("user-result", api(`/admin/api/presence?user_id=${encodeURIComponent(user)}`),
    (v) => `${v.user_id}: ${v.connections} connection${v.connections === 1 ? "" : "s"}`);
};

$("disconnect").onclick = () => {
  const user = $("user").value.trim();
  report("user-result", api("/admin/api/disconnect", { user_id: user }),
    (v) => `${user}: closed ${v.closed} connection${v.closed === 1 ? "" : "s"} (4009)`);
};

$("target").onchange = () => { $("to").disabled = $("target").value === "everyone"; };

$("publish-form").onsubmit = (event) => {
  event.preventDefault();
  const body = {
    target: $("target").value,
    to: $("to").value.trim(),
    type: $("type").value.trim(),
    title: $("title").value,
  };
  report("publish-result", api("/admin/api/publish", body),
    (v) => `published ${v.id} at ${v.cursor}, delivered here to ${v.delivered}`);
};

$("token-form").onsubmit = (event) => {
  event.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $("token").value);
  $("token").value = "";
  $("token-form").hidden = true;
  poll();
};

poll();
setInterval(poll, POLL_MS);
