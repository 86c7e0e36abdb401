"""A live zone status dashboard: one static page polling /status/zones and
/global-insight once a second (no build step, no external assets)."""
from __future__ import annotations

from aiohttp import web

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>mzsim: zones</title>
<style>
 body{font:14px system-ui,sans-serif;margin:1.5em;color:#222}
 table{border-collapse:collapse;min-width:60em} th,td{padding:.35em .7em;border-bottom:1px solid #ddd;text-align:left}
 th{background:#f4f4f4} .on{color:#0a7b32;font-weight:600} .off{color:#b00020;font-weight:600}
 .lag{color:#a15c00} #summary span{margin-right:1.5em} code{font-size:12px}
</style></head>
<body>
<h1>mzsim global: zones</h1>
<div id="summary">loading&hellip;</div>
<table><thead><tr><th>zone</th><th>state</th><th>env</th><th>acked / global version</th>
<th>NACKs</th><th>last NACK</th><th>dataplanes</th><th>last heartbeat</th><th>connected</th></tr></thead>
<tbody id="zones"></tbody></table>
<script>
const esc = s => String(s ?? "").replace(/[&<>"]/g, c => ({"&":"&amp;","<":"&lt;",">":"&gt;",'"':"&quot;"}[c]));
async function refresh() {
  try {
    const [zones, gi] = await Promise.all([fetch("/status/zones").then(r => r.json()),
                                           fetch("/global-insight").then(r => r.json())]);
    document.getElementById("summary").innerHTML =
      `<span>meshes <b>${gi.meshes}</b></span>` +
      `<span>zones online <b id="online">${gi.zones.online}</b>/${gi.zones.total}</span>` +
      `<span>in sync <b>${gi.zones.inSync}</b></span><span>dataplanes <b>${gi.dataplanes}</b></span>` +
      `<span>certificates issued <b>${gi.certificates.issued}</b></span>` +
      `<span>proxies failing <b>${gi.certificates.proxiesFailing}</b></span>`;
    document.getElementById("zones").innerHTML = zones.map(z => `<tr data-zone="${esc(z.name)}">
      <td>${esc(z.name)}</td><td class="${z.active ? "on" : "off"}">${z.active ? "online" : "offline"}</td>
      <td>${esc(z.environment)}</td>
      <td class="${z.inSync ? "" : "lag"}">${esc(z.ackedVersion)} / ${esc(z.globalVersion)}</td>
      <td>${esc(z.nackCount)}</td><td><code>${esc(z.lastNackError)}</code></td><td>${esc(z.dataplanes)}</td>
      <td>${esc(z.lastHeartbeat)}</td><td>${esc(z.connectTime)}</td></tr>`).join("");
  } catch (e) { document.getElementById("summary").textContent = "global unreachable: " + e; }
}
refresh(); setInterval(refresh, 1000);
</script></body></html>
"""


async def dashboard_handler(request: web.Request) -> web.Response:
    return web.Response(text=PAGE, content_type="text/html")
