// mzsim's dashboard: one pushed stream (/dashboard/stream, server-sent events read through
// fetch so a token can go in a header), a snapshot then deltas. Only the visible page of rows
// is rendered, at most once per animation frame, so 1,000 zones stay responsive.
"use strict";
const PAGE_SIZE = 50, MAX_EVENTS_SHOWN = 200, TOKEN_KEY = "mzsim.token";
const state = {zones: new Map(), cells: new Map(), meshes: new Map(), heartbeats: {}, events: [],
  offset: 0, staleAfter: 5, lastFrame: 0, connected: false, stale: false, page: 0, why: ""};
const $ = id => document.getElementById(id);
const esc = s => String(s ?? "").replace(/[&<>"']/g, c => ({"&": "&amp;", "<": "&lt;", ">": "&gt;",
  '"': "&quot;", "'": "&#39;"}[c]));
const serverNow = () => Date.now() / 1000 + state.offset;

function ago(t) {
  if (!t) return "never";
  const s = Math.max(0, Math.round(serverNow() - t));
  if (s < 60) return s + "s ago";
  if (s < 3600) return Math.floor(s / 60) + "m" + (s % 60) + "s ago";
  if (s < 86400) return Math.floor(s / 3600) + "h" + Math.floor(s % 3600 / 60) + "m ago";
  return Math.floor(s / 86400) + "d ago";
}
function inTime(t) {
  if (!t) return "-";
  const s = Math.round(t - serverNow());
  if (s < 0) return "expired " + ago(t);
  if (s < 3600) return "in " + Math.floor(s / 60) + "m" + (s % 60) + "s";
  if (s < 86400) return "in " + Math.floor(s / 3600) + "h" + Math.floor(s % 3600 / 60) + "m";
  return "in " + Math.floor(s / 86400) + "d" + Math.floor(s % 86400 / 3600) + "h";
}

// -- the stream -------------------------------------------------------------------------
function headers() {
  const t = sessionStorage.getItem(TOKEN_KEY);
  return t ? {Authorization: "Bearer " + t} : {};
}
async function api(path) {
  const r = await fetch(path, {headers: headers(), cache: "no-store"});
  if (!r.ok) throw new Error(path + ": HTTP " + r.status);
  return r.json();
}
let retry = 1000;
async function connect() {
  let resp;
  try {
    resp = await fetch("/dashboard/stream", {headers: headers(), cache: "no-store"});
  } catch (e) {
    return down("global unreachable: " + e.message);
  }
  if (resp.status === 401 || resp.status === 403) {
    const body = await resp.json().catch(() => ({}));
    showLogin(body.detail || body.details || ("HTTP " + resp.status));
    setConn("needs a token", false);
    return;
  }
  if (!resp.ok || !resp.body) return down("global answered HTTP " + resp.status);
  const reader = resp.body.getReader(), decoder = new TextDecoder();
  let buf = "";
  try {
    for (;;) {
      const {value, done} = await reader.read();
      if (done) break;
      buf += decoder.decode(value, {stream: true});
      let i;
      while ((i = buf.indexOf("\n\n")) >= 0) {
        const chunk = buf.slice(0, i); buf = buf.slice(i + 2);
        const data = chunk.split("\n").filter(l => l.startsWith("data: ")).map(l => l.slice(6)).join("\n");
        if (data) onFrame(JSON.parse(data));
      }
    }
    down("global unreachable: the stream ended");
  } catch (e) {
    down("global unreachable: " + e.message);
  }
}
function down(why) {
  state.connected = false; state.why = why;
  setConn("disconnected", false);
  checkStale();
  setTimeout(connect, retry);
  retry = Math.min(retry * 2, 10000);
}
function setConn(text, live) {
  const c = $("conn"); c.textContent = text; c.className = "conn " + (live ? "live" : "down");
}

function applyRows(map, delta, key) {
  if (!delta) return;
  for (const r of delta.upsert || []) map.set(key(r), r);
  for (const k of delta.remove || []) map.delete(k);
}
const cellKey = c => c.zone + "/" + c.mesh;
function onFrame(f) {
  state.lastFrame = performance.now();
  state.offset = f.now - Date.now() / 1000;
  if (!state.connected) { state.connected = true; retry = 1000; setConn("live", true); }
  if (f.type === "snapshot") {
    state.zones = new Map(f.zones.map(z => [z.name, z]));
    state.cells = new Map(f.cells.map(c => [cellKey(c), c]));
    state.meshes = new Map(f.meshes.map(m => [m.name, m]));
    state.heartbeats = f.heartbeats || {};
    state.events = f.events || [];
    state.staleAfter = Number(new URLSearchParams(location.search).get("staleAfter")) || f.staleAfter;
    $("login").hidden = true;
  } else {
    applyRows(state.zones, f.zones, z => z.name);
    applyRows(state.cells, f.cells, cellKey);
    applyRows(state.meshes, f.meshes, m => m.name);
    Object.assign(state.heartbeats, f.heartbeats || {});
    if (f.events) state.events = state.events.concat(f.events).slice(-1000);
  }
  checkStale();
  schedule();
}

// -- staleness --------------------------------------------------------------------------
function checkStale() {
  const b = $("stale-banner");
  const silent = state.lastFrame ? (performance.now() - state.lastFrame) / 1000 : Infinity;
  let text = "";
  if (!state.connected) {
    text = (state.why || "global unreachable") + (state.lastFrame ? ` — the data below is ${Math.round(silent)}s old` : "");
  } else if (silent > state.staleAfter) {
    text = `Stale: no update from global for ${Math.round(silent)}s (expected every ` +
      `${state.staleAfter}s at most) — global unreachable or stalled; the data below is old`;
  }
  b.hidden = !text; b.textContent = text;
  if (!!text !== state.stale) {  // entering or leaving staleness: re-render the states and ages
    state.stale = !!text;
    if (state.connected) setConn(state.stale ? "stale" : "live", !state.stale);
    schedule();
  }
  document.body.classList.toggle("stale", !!text);
}
// Seconds since the last frame from global: what "online" and heartbeats are worth right now.
const silence = () => state.lastFrame ? Math.round((performance.now() - state.lastFrame) / 1000) : 0;
setInterval(() => { checkStale(); if (state.stale) schedule(); }, 1000);

// -- rendering --------------------------------------------------------------------------
let pending = false;
function schedule() { if (!pending) { pending = true; requestAnimationFrame(() => { pending = false; render(); }); } }

function visibleZones() {
  const q = $("filter").value.trim().toLowerCase(), only = $("problems").checked;
  const failing = new Set();
  if (only) for (const c of state.cells.values()) if (c.failing || c.breaker !== "closed") failing.add(c.zone);
  const problem = z => z.state !== "online" || !z.inSync || z.rejected > 0 || failing.has(z.name);
  const all = [...state.zones.values()].filter(z => (!q || z.name.includes(q)) && (!only || problem(z)));
  all.sort((a, b) => a.name < b.name ? -1 : 1);
  const pages = Math.max(1, Math.ceil(all.length / PAGE_SIZE));
  state.page = Math.min(state.page, pages - 1);
  $("page").textContent = `${state.page + 1}/${pages} (${all.length} zones)`;
  return all.slice(state.page * PAGE_SIZE, (state.page + 1) * PAGE_SIZE);
}
function heartbeat(z) {
  const hb = state.heartbeats[z.name];
  if (state.stale) return (hb ? ago(hb) : "just now") + ` (as of ${silence()}s ago)`;
  if (z.state === "online" && !hb) return "just now";
  return hb ? ago(hb) : "never";
}
function zoneRow(z) {
  const lag = z.lag == null ? "-" : z.lag;
  const sync = z.state !== "online" ? "as last acked" : z.inSync ? "in sync" :
    z.rejected ? `${z.rejected} refused` : z.nackCount ? "NACKed" : "not in sync";
  return `<tr data-zone="${esc(z.name)}"><td><a class="drill" href="#/zone/${encodeURIComponent(z.name)}">${esc(z.name)}</a></td>
    <td class="state ${esc(z.state)}" title="${state.stale ? "as last reported: global is not answering" : ""}">${esc(z.state)}</td><td>${esc(z.env)}</td><td>${esc(z.version)}</td>
    <td class="sync ${z.inSync || z.state !== "online" ? "" : "lag"}">${esc(lag)} <span class="muted">(${esc(sync)})</span></td>
    <td>${esc(z.nackCount)}</td><td class="nack"><code>${esc(z.lastNack)}</code></td>
    <td class="reason"><code>${esc(z.disconnectReason)}</code></td><td class="hb">${esc(heartbeat(z))}</td>
    <td>${esc(z.dataplanes)}</td></tr>`;
}
function cellHtml(c, zone, mesh) {
  const refused = zone && zone.refused ? zone.refused[mesh] : undefined;
  if (refused !== undefined) {  // the zone NACKed this mesh: it is not running it at all
    return `<td class="cell bad" data-cell="${esc(zone.name + "/" + mesh)}"><b>refused by the zone (NACK)</b><br>
      <code class="err last-error">${esc(refused)}</code></td>`;
  }
  if (!c) return `<td class="cell muted">-</td>`;
  const cls = c.failing || c.breaker !== "closed" ? "bad" : c.expiringSoon ? "warn" : "good";
  return `<td class="cell ${cls}" data-cell="${esc(c.zone + "/" + c.mesh)}"><b>${esc(c.backend)}</b>
    <span class="muted">${esc(c.backendType)}</span> <span class="badge ${esc(c.breaker)}">breaker ${esc(c.breaker)}</span><br>
    ${esc(c.valid)} valid, ${esc(c.failing)} failing, ${esc(c.expiringSoon)} expiring soon
    ${c.earliestExpiry ? `<br>earliest expiry ${esc(inTime(c.earliestExpiry))}` : ""}
    ${c.lastError ? `<br><code class="err last-error">${esc(c.lastError)}</code>` : ""}</td>`;
}
function renderMatrix(zones, meshes) {
  $("matrix-head").innerHTML = `<tr><th>zone</th>${meshes.map(m => `<th><a class="drill" href="#/mesh/${encodeURIComponent(m.name)}">${esc(m.name)}</a>
    <span class="muted">${m.backend ? `${esc(m.backend)} (${esc(m.backendType)})` : "no mTLS"}</span></th>`).join("")}</tr>`;
  $("matrix").innerHTML = zones.map(z => `<tr data-zone="${esc(z.name)}"><td>${esc(z.name)}</td>${
    meshes.map(m => cellHtml(state.cells.get(z.name + "/" + m.name), z, m.name)).join("")}</tr>`).join("");
}
function renderTimeline(meshes) {
  const tl = $("timeline"); tl.textContent = "";
  const now = serverNow();
  const horizon = Math.max(3600, ...meshes.map(m => (m.earliestExpiry || 0) - now), ...meshes.map(m => m.lifetime || 0));
  const legend = document.createElement("div"); legend.className = "tl-legend";
  legend.textContent = `now → ${inTime(now + horizon)}; blue: next rotation, red: earliest expiry`;
  tl.appendChild(legend);
  for (const m of meshes) {
    const row = document.createElement("div"); row.className = "tl-row"; row.dataset.mesh = m.name;
    const name = document.createElement("div"); name.className = "tl-name"; name.textContent = m.name;
    const bar = document.createElement("div"); bar.className = "tl-bar";
    bar.title = `${m.name}: next rotation ${inTime(m.nextRotation)}, earliest expiry ${inTime(m.earliestExpiry)}, ` +
      `${m.valid} valid, ${m.failing} failing, ${m.expiringSoon} expiring soon, ${m.rotated} rotated`;
    for (const [t, cls] of [[m.nextRotation, "rotate"], [m.earliestExpiry, "expire"]]) {
      if (!t) continue;
      const mark = document.createElement("div"); mark.className = "tl-mark " + cls;
      mark.style.left = Math.min(100, Math.max(0, (t - now) / horizon * 100)) + "%";
      bar.appendChild(mark);
    }
    const text = document.createElement("div"); text.className = "tl-name muted";
    text.textContent = m.earliestExpiry ? `expires ${inTime(m.earliestExpiry)}` : "no certificates";
    row.append(name, bar, text); tl.appendChild(row);
  }
}
function renderEvents(filter) {
  const evs = state.events.filter(filter || (() => true)).slice(-MAX_EVENTS_SHOWN).reverse();
  return evs.map(e => `<li class="${esc(e.level)}" data-kind="${esc(e.kind)}">${esc(new Date(e.time * 1000).toISOString().slice(11, 19))}
    <b>${esc(e.kind)}</b> ${esc(e.text)}</li>`).join("");
}
function renderSummary() {
  const zs = [...state.zones.values()], ms = [...state.meshes.values()];
  const sum = k => ms.reduce((n, m) => n + (m[k] || 0), 0);
  $("summary").innerHTML = `<span>meshes <b>${ms.length}</b></span>` +
    `<span>zones online <b id="online">${zs.filter(z => z.state === "online").length}</b>/${zs.length}</span>` +
    `<span>in sync <b>${zs.filter(z => z.inSync).length}</b></span>` +
    `<span>certificates valid <b>${sum("valid")}</b></span><span>failing <b>${sum("failing")}</b></span>` +
    `<span>expiring soon <b>${sum("expiringSoon")}</b></span><span>rotated <b>${sum("rotated")}</b></span>`;
}
function render() {
  renderSummary();
  const route = decodeURIComponent(location.hash.slice(2)).split("/");
  const meshes = [...state.meshes.values()].sort((a, b) => a.name < b.name ? -1 : 1);
  if (route[0] === "zone" || route[0] === "mesh") {
    $("overview").hidden = true; $("detail").hidden = false;
    return route[0] === "zone" ? renderZone(route.slice(1).join("/"), meshes) : renderMesh(route.slice(1).join("/"));
  }
  $("overview").hidden = false; $("detail").hidden = true;
  const zones = visibleZones();
  $("zones").innerHTML = zones.map(zoneRow).join("");
  renderMatrix(zones, meshes);
  renderTimeline(meshes);
  $("events").innerHTML = renderEvents();
}

// -- drill-down -------------------------------------------------------------------------
let overview = {key: "", data: null};
function fetchOverview(key, path) {
  if (overview.key === key) return overview.data;
  overview = {key, data: null};
  api(path).then(d => { if (overview.key === key) { overview.data = d; schedule(); } })
    .catch(e => { if (overview.key === key) { overview.data = {error: e.message}; schedule(); } });
  return null;
}
function renderZone(name, meshes) {
  const z = state.zones.get(name), d = $("detail");
  if (!z) { d.innerHTML = `<p><a href="#/">&larr; all zones</a></p><p>No zone ${esc(name)}.</p>`; return; }
  const ov = fetchOverview("zone:" + name, "/zones/" + encodeURIComponent(name) + "/_overview");
  const subs = ov && ov.zoneInsight ? ov.zoneInsight.subscriptions || [] : [];
  d.innerHTML = `<p><a href="#/">&larr; all zones</a></p><h2>Zone ${esc(name)}</h2>
    <table><thead><tr><th>zone</th><th>state</th><th>env</th><th>zone CP</th><th>version lag</th><th>NACKs</th>
    <th>last NACK</th><th>disconnect reason</th><th>heartbeat</th><th>dataplanes</th></tr></thead><tbody>${zoneRow(z)}</tbody></table>
    <h3>Meshes in this zone</h3><table><tbody><tr>${meshes.map(m => `<th>${esc(m.name)}</th>`).join("")}</tr>
    <tr data-zone="${esc(name)}">${meshes.map(m => cellHtml(state.cells.get(name + "/" + m.name), z, m.name)).join("")}</tr></tbody></table>
    <h3>Sessions</h3>${ov && ov.error ? `<p class="err">${esc(ov.error)}</p>` : ""}
    <table><thead><tr><th>connected</th><th>disconnected</th><th>reason</th><th>updates sent</th><th>rejected</th></tr></thead>
    <tbody>${subs.slice().reverse().map(s => `<tr><td>${esc(s.connectTime)}</td><td>${esc(s.disconnectTime || "-")}</td>
    <td><code>${esc(s.disconnectReason)}</code></td><td>${esc(s.status?.total?.responsesSent)}</td>
    <td>${esc(s.status?.total?.responsesRejected)}</td></tr>`).join("")}</tbody></table>
    <h3>Events</h3><ol class="events">${renderEvents(e => e.zone === name)}</ol>`;
}
function renderMesh(name) {
  const m = state.meshes.get(name), d = $("detail");
  if (!m) { d.innerHTML = `<p><a href="#/">&larr; all meshes</a></p><p>No mesh ${esc(name)}.</p>`; return; }
  const cells = [...state.cells.values()].filter(c => c.mesh === name);
  for (const z of state.zones.values())  // zones that refuse the mesh have no cell of their own for it
    if (z.refused && z.refused[name] !== undefined && !state.cells.has(z.name + "/" + name)) cells.push({zone: z.name});
  cells.sort((a, b) => a.zone < b.zone ? -1 : 1);
  const shown = cells.slice(0, 500);
  d.innerHTML = `<p><a href="#/">&larr; all meshes</a></p><h2>Mesh ${esc(name)}</h2>
    <p>backend <b>${esc(m.backend)}</b> (${esc(m.backendType)}), version ${esc(m.version)}; ${esc(m.zones)} zones,
    ${esc(m.valid)} valid, ${esc(m.failing)} failing, ${esc(m.expiringSoon)} expiring soon, ${esc(m.rotated)} rotated;
    next rotation ${esc(inTime(m.nextRotation))}, earliest expiry ${esc(inTime(m.earliestExpiry))}</p>
    <table><thead><tr><th>zone</th><th>${esc(name)}</th></tr></thead><tbody>${shown.map(c =>
      `<tr data-zone="${esc(c.zone)}"><td><a class="drill" href="#/zone/${encodeURIComponent(c.zone)}">${esc(c.zone)}</a></td>${cellHtml(c.mesh ? c : undefined, state.zones.get(c.zone), name)}</tr>`).join("")}
    </tbody></table>${cells.length > shown.length ? `<p class="muted">first ${shown.length} of ${cells.length} zones</p>` : ""}
    <h3>Events</h3><ol class="events">${renderEvents(e => e.mesh === name)}</ol>`;
}

// -- controls ---------------------------------------------------------------------------
function showLogin(why) { $("login").hidden = false; $("login-error").textContent = why || ""; }
document.addEventListener("DOMContentLoaded", () => {
  $("filter").addEventListener("input", () => { state.page = 0; schedule(); });
  $("problems").addEventListener("change", () => { state.page = 0; schedule(); });
  $("prev").addEventListener("click", () => { state.page = Math.max(0, state.page - 1); schedule(); });
  $("next").addEventListener("click", () => { state.page += 1; schedule(); });
  $("token-button").addEventListener("click", () => showLogin(""));
  $("token-forget").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); $("token-input").value = ""; });
  $("login").addEventListener("submit", ev => {
    ev.preventDefault();
    const t = $("token-input").value.trim();
    if (t) sessionStorage.setItem(TOKEN_KEY, t); else sessionStorage.removeItem(TOKEN_KEY);
    $("login").hidden = true; connect();
  });
  window.addEventListener("hashchange", () => { overview = {key: "", data: null}; schedule(); });
  connect();
});
