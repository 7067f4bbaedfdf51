// gridwatch duty console: the town's units as SVG, live events and cases over SSE.
// Self-contained: no libraries, no tiles, no CDN, so it works offline.
"use strict";

const SVG_NS = "http://www.w3.org/2000/svg";
const MAX_ITEMS = 200;
const W = 800, H = 600, PAD = 16;
// Times are shown in the town's zone whatever the browser's; ?tz= overrides.
const TZ = new URLSearchParams(location.search).get("tz") || "Asia/Shanghai";
// With more units than this, only villages are labelled (names stay in tooltips).
const MAX_UNIT_LABELS = 60;

// The bearer token: from the address (#token=..., as `gridwatch demo` prints it) or
// this tab's storage. The address fragment is never sent to the server.
const TOKEN = (() => {
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("gridwatch-token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  return sessionStorage.getItem("gridwatch-token") || "";
})();

function api(path) {
  return fetch(path, { headers: TOKEN ? { Authorization: "Bearer " + TOKEN } : {} });
}

const state = {
  project: null,            // [lon, lat] -> [x, y], fitted to the town's bounds
  unitCentre: new Map(),    // unit id -> [x, y], for events without a map point
  unitName: new Map(),
  cases: new Map(),         // case id -> case payload
  events: 0,
};

function el(tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
}

function svg(tag, attrs) {
  const node = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
}

function rings(geometry) {
  if (!geometry) return [];
  if (geometry.type === "Polygon") return geometry.coordinates;
  if (geometry.type === "MultiPolygon") return geometry.coordinates.flat();
  return [];
}

// Equirectangular projection fitted to the bounds; x is scaled by cos(latitude)
// so that shapes keep their proportions at the town's latitude.
function fit(features) {
  let minX = Infinity, minY = Infinity, maxX = -Infinity, maxY = -Infinity;
  for (const f of features) for (const ring of rings(f.geometry)) for (const [lon, lat] of ring) {
    minX = Math.min(minX, lon); maxX = Math.max(maxX, lon);
    minY = Math.min(minY, lat); maxY = Math.max(maxY, lat);
  }
  if (!isFinite(minX)) return null;
  const k = Math.cos(((minY + maxY) / 2) * Math.PI / 180);
  const spanX = Math.max((maxX - minX) * k, 1e-9), spanY = Math.max(maxY - minY, 1e-9);
  const scale = Math.min((W - 2 * PAD) / spanX, (H - 2 * PAD) / spanY);
  const offX = (W - spanX * scale) / 2, offY = (H - spanY * scale) / 2;
  return ([lon, lat]) => [offX + (lon - minX) * k * scale, offY + (maxY - lat) * scale];
}

const LEVEL_ORDER = { unit: 0, grid: 1, village: 2, town: 3 };

async function drawMap() {
  const map = document.getElementById("map");
  const note = document.getElementById("map-note");
  let geo;
  try {
    const res = await api("/api/v1/hierarchy");
    geo = await res.json();
  } catch (err) {
    note.textContent = "无法加载辖区 / cannot load the hierarchy: " + err;
    return;
  }
  const features = (geo.features || []).slice().sort(
    (a, b) => (LEVEL_ORDER[a.properties.level] ?? 0) - (LEVEL_ORDER[b.properties.level] ?? 0));
  state.project = fit(features);
  if (!state.project) {
    note.textContent = "未配置辖区 / no hierarchy configured";
    return;
  }
  const areas = svg("g", { id: "areas" }), labels = svg("g", { id: "labels" });
  const units = features.filter(f => f.properties.level === "unit").length;
  const labelLevel = units <= MAX_UNIT_LABELS ? "unit" : "village";
  for (const f of features) {
    const p = f.properties, level = p.level || "unit";
    const d = rings(f.geometry).map(ring =>
      "M" + ring.map(pt => state.project(pt).map(v => v.toFixed(1)).join(",")).join("L") + "Z"
    ).join("");
    const path = svg("path", { d, class: "area " + level, "data-id": p.id });
    const title = svg("title");
    title.textContent = `${p.name} (${p.id})` + (p.leader ? ` · 负责人 leader: ${p.leader.name}` : "");
    path.appendChild(title);
    areas.appendChild(path);
    const box = bbox(rings(f.geometry).map(r => r.map(state.project)));
    const c = [(box[0] + box[2]) / 2, (box[1] + box[3]) / 2];
    if (level === "unit") {
      state.unitCentre.set(p.id, c);
      state.unitName.set(p.id, p.name);
    }
    if (level === labelLevel) {
      const t = svg("text", { x: c[0].toFixed(1), y: c[1].toFixed(1), class: "label " + level });
      t.textContent = p.name;
      labels.appendChild(t);
    }
  }
  map.append(areas, labels, svg("g", { id: "dots" }));
  note.textContent = `${features.length} 个区域 / areas`;
}

function bbox(projectedRings) {
  let b = [Infinity, Infinity, -Infinity, -Infinity];
  for (const ring of projectedRings) for (const [x, y] of ring) {
    b = [Math.min(b[0], x), Math.min(b[1], y), Math.max(b[2], x), Math.max(b[3], y)];
  }
  return b;
}

function addDot(ev) {
  const dots = document.getElementById("dots");
  if (!dots || !state.project) return;
  let xy = null;
  if (typeof ev.lon === "number" && typeof ev.lat === "number") xy = state.project([ev.lon, ev.lat]);
  else if (ev.unit_id && state.unitCentre.has(ev.unit_id)) {
    const [x, y] = state.unitCentre.get(ev.unit_id);
    xy = [x + (Math.random() - 0.5) * 10, y + (Math.random() - 0.5) * 10];
  }
  if (!xy) return;
  for (const old of dots.querySelectorAll(".dot:not(.old)")) old.classList.add("old");
  const dot = svg("circle", { cx: xy[0].toFixed(1), cy: xy[1].toFixed(1), r: 5, class: "dot" });
  const title = svg("title");
  title.textContent = `${ev.category} · ${ev.device_id} · ${ev.ts}`;
  dot.appendChild(title);
  dots.appendChild(dot);
  while (dots.childNodes.length > MAX_ITEMS) dots.removeChild(dots.firstChild);
}

function time(ts) {
  const d = new Date(ts);
  return isNaN(d) ? String(ts || "") : d.toLocaleString("zh-CN", { hour12: false, timeZone: TZ });
}

function prepend(list, item) {
  item.classList.add("fresh");
  list.prepend(item);
  while (list.childNodes.length > MAX_ITEMS) list.removeChild(list.lastChild);
}

function showEvent(ev, live) {
  const li = el("li", { "data-event-id": ev.event_id });
  li.append(el("strong", { class: "sev-" + (ev.severity || 2) }, ev.category + " "),
            el("span", {}, ev.rule + (ev.score != null ? ` ${(ev.score * 100).toFixed(0)}%` : "")),
            el("div", { class: "meta" },
               `${time(ev.ts)} · 设备 device ${ev.device_id} · 单元 unit ` +
               (state.unitName.get(ev.unit_id) || ev.unit_id || "—")));
  prepend(document.getElementById("feed"), li);
  if (live) addDot(ev);
  state.events += 1;
  document.getElementById("event-count").textContent = state.events;
}

function showCase(c) {
  state.cases.set(c.id, c);
  const list = document.getElementById("cases");
  const old = list.querySelector(`[data-case-id="${CSS.escape(String(c.id))}"]`);
  if (old) old.remove();
  const li = el("li", { "data-case-id": c.id });
  li.append(el("strong", {}, `#${c.id} ${c.category} `),
            el("span", { class: "case-status" }, c.status || ""),
            el("div", { class: "meta" },
               `单元 unit ${state.unitName.get(c.unit_id) || c.unit_id || "—"} · ` +
               `负责人 assignee ${c.assignee_name || c.assignee || "—"} · ` +
               `期限 deadline ${c.deadline ? time(c.deadline) : "—"}`));
  prepend(list, li);
  document.getElementById("case-count").textContent = state.cases.size;
}

async function loadRecent() {
  try {
    const events = await (await api("/api/v1/events?limit=50")).json();
    if (Array.isArray(events)) events.reverse().forEach(ev => { showEvent(ev, false); addDot(ev); });
  } catch (err) { /* the live feed still works */ }
  try {
    const res = await api("/api/v1/cases?limit=50");
    if (res.ok) {
      const body = await res.json();
      const cases = Array.isArray(body) ? body : (body.items || []);
      cases.reverse().forEach(c => showCase({ ...c, assignee_name: c.assignee_name }));
    }
  } catch (err) { /* no cases API in this process */ }
}

// Notices nobody received after the last retry (docs/notifications.md); their cases have
// escalated, so a case change is the moment to look again.
let noticesDue = null;
async function loadFailedNotices() {
  noticesDue = null;
  try {
    const res = await api("/api/v1/notifications?status=failed&limit=50");
    if (!res.ok) return;
    const rows = await res.json();
    const list = document.getElementById("failed-notices");
    list.replaceChildren(...rows.map(n => {
      const li = el("li", { "data-notice-id": n.id });
      li.append(el("strong", {}, `#${n.case_id ?? "—"} ${n.title} `),
                el("div", { class: "meta" },
                   `${time(n.failed_at)} · 收件人 to ${n.recipient_name || n.recipient} · ` +
                   `${n.attempts} 次 attempts · ${n.last_error || ""}`));
      return li;
    }));
    document.getElementById("failed-count").textContent = rows.length;
  } catch (err) { /* no notices API in this process */ }
}

function soonLoadFailedNotices() {
  if (noticesDue === null) noticesDue = setTimeout(loadFailedNotices, 2000);
}

function connect() {
  const status = document.getElementById("status");
  const source = new EventSource("/api/v1/live" + (TOKEN ? "?access_token=" + encodeURIComponent(TOKEN) : ""));
  source.onopen = () => { status.textContent = "实时 / live"; status.className = "status on"; };
  source.onerror = () => { status.textContent = "重连中 / reconnecting"; status.className = "status off"; };
  source.addEventListener("event", m => showEvent(JSON.parse(m.data), true));
  source.addEventListener("case", m => { showCase(JSON.parse(m.data)); soonLoadFailedNotices(); });
  // The server could not replay everything missed while disconnected: reload the list.
  source.addEventListener("gap", () => {
    document.getElementById("feed").replaceChildren();
    state.events = 0;
    loadRecent();
  });
  source.addEventListener("dropped", () => {
    status.textContent = "过慢被断开，重连 / too slow, reconnecting";
    status.className = "status off";
  });
  window.gridwatchLive = source;
}

drawMap().then(loadRecent).then(loadFailedNotices).then(connect);
