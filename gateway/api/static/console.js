// gridwatch duty console: the core. Login, the API with the person's own token, the one
// message catalogue (Chinese by default, an English switch), views, and the live channel.
// Self-contained: no libraries, no tiles, no CDN, so it works offline.
"use strict";

const GW = {
  token: "",
  me: null,            // GET /api/v1/auth/me
  lang: "zh",
  tz: "Asia/Shanghai",
  messages: { zh: {}, en: {} },
  view: "map",
  cases: new Map(),    // case id -> case (list row or detail)
  devices: [],
  people: new Map(),   // person id -> person, as /api/v1/people gives them (phones or not)
  areas: new Map(),    // area id -> GeoJSON feature
  renderers: [],       // functions that redraw text on a language change
  lastEventId: "",
};

// ---------------------------------------------------------------- text

GW.t = function (key, vars) {
  let s = (GW.messages[GW.lang] || {})[key];
  if (s === undefined) s = key;
  for (const [k, v] of Object.entries(vars || {})) s = s.replace("{" + k + "}", v);
  return s;
};

GW.applyText = function () {
  document.documentElement.lang = GW.lang === "zh" ? "zh-CN" : "en";
  document.title = GW.t("app.title");
  for (const node of document.querySelectorAll("[data-i18n]")) node.textContent = GW.t(node.dataset.i18n);
  GW.renderers.forEach(fn => fn());
};

GW.time = function (ts) {
  const d = new Date(ts);
  if (!ts || isNaN(d)) return "—";
  return d.toLocaleString(GW.lang === "zh" ? "zh-CN" : "en-GB", { hour12: false, timeZone: GW.tz });
};

GW.areaName = function (id) {
  const f = id && GW.areas.get(id);
  return f ? f.properties.name : (id || "—");
};

// ---------------------------------------------------------------- DOM

GW.el = function (tag, attrs, text) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null) node.setAttribute(k, v);
  if (text !== undefined) node.textContent = text;
  return node;
};

GW.svg = function (tag, attrs) {
  const node = document.createElementNS("http://www.w3.org/2000/svg", tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, v);
  return node;
};

// ---------------------------------------------------------------- API

GW.api = async function (path, options) {
  const opts = options || {};
  const headers = Object.assign({}, opts.headers || {});
  if (GW.token) headers.Authorization = "Bearer " + GW.token;
  const res = await fetch(path, Object.assign({}, opts, { headers }));
  if (res.status === 401 && GW.token) GW.logout();
  return res;
};

GW.json = async function (path) {
  const res = await GW.api(path);
  if (!res.ok) throw new Error(path + ": " + res.status);
  return res.json();
};

// ---------------------------------------------------------------- login

GW.login = async function (user, password) {
  const body = new URLSearchParams({ username: user, password });
  const res = await fetch("/api/v1/auth/token", { method: "POST", body });
  if (!res.ok) return false;
  GW.token = (await res.json()).access_token;
  sessionStorage.setItem("gridwatch-token", GW.token);
  return true;
};

GW.logout = function () {
  sessionStorage.removeItem("gridwatch-token");
  location.reload();
};

// ---------------------------------------------------------------- views

GW.show = function (view) {
  GW.view = view;
  for (const node of document.querySelectorAll(".view")) node.hidden = node.id !== view + "-view";
  for (const b of document.querySelectorAll("#tabs button")) b.classList.toggle("on", b.dataset.view === view);
};

GW.setStatus = function (key, on) {
  const node = document.getElementById("status");
  node.dataset.i18n = key;
  node.textContent = GW.t(key);
  node.className = "status " + (on ? "on" : "off");
};

// ---------------------------------------------------------------- the live channel

GW.connect = function () {
  // EventSource resends Last-Event-ID itself when it reconnects; a new source after a
  // drop passes the last id it saw as a query value instead.
  let url = "/api/v1/live?access_token=" + encodeURIComponent(GW.token);
  if (GW.lastEventId) url += "&last_event_id=" + encodeURIComponent(GW.lastEventId);
  const source = new EventSource(url);
  const seen = m => { if (m.lastEventId) GW.lastEventId = m.lastEventId; };
  source.onopen = () => GW.setStatus("status.live", true);
  source.onerror = () => {
    GW.setStatus("status.reconnecting", false);
    if (source.readyState === EventSource.CLOSED) setTimeout(GW.connect, 3000);
  };
  source.addEventListener("event", m => { seen(m); GW.onEvent(JSON.parse(m.data), true); });
  source.addEventListener("case", m => { seen(m); GW.refreshCase(JSON.parse(m.data).id); GW.noticesView.soon(); });
  source.addEventListener("consultation", m => { seen(m); if (GW.view === "duty") GW.dutyView.load(); });
  // The server could not replay everything missed while disconnected: reload the lists.
  source.addEventListener("gap", m => { seen(m); GW.reload(); });
  source.addEventListener("dropped", () => {
    GW.setStatus("status.dropped", false);
    source.close();
    setTimeout(GW.connect, 1000);
  });
  GW.live = source;
};

GW.onEvent = function (ev, live) {
  GW.feed.add(ev, live);
  if (live) GW.map.addEvent(ev);
};

GW.refreshCase = async function (id) {
  const res = await GW.api("/api/v1/cases/" + encodeURIComponent(id));
  if (res.status === 404) GW.cases.delete(id);
  else if (res.ok) {
    const c = await res.json();
    GW.cases.set(c.id, c);
    if (GW.caseView.current === c.id) GW.caseView.render(c);
  }
  GW.board.render();
  GW.map.drawMarkers();
};

GW.reload = async function () {
  try {
    const cases = await GW.json("/api/v1/cases?limit=500");
    GW.cases = new Map(cases.map(c => [c.id, c]));
  } catch (err) { /* the feed still works */ }
  try {
    const events = await GW.json("/api/v1/events?limit=100");
    GW.feed.reset();
    events.reverse().forEach(ev => GW.onEvent(ev, false));
  } catch (err) { /* the board still works */ }
  try { GW.devices = await GW.json("/api/v1/devices"); } catch (err) { GW.devices = []; }
  GW.board.render();
  GW.devicesView.render();
  GW.map.drawMarkers();
  await GW.noticesView.load();
  await GW.dutyView.load();
  await GW.reportsView.load();
};

GW.renderWho = function () {
  const me = GW.me;
  document.getElementById("who").textContent =
    me ? `${me.name || me.subject} · ${GW.t("role." + me.role)}` : "";
};

// ---------------------------------------------------------------- start

GW.start = async function () {
  try {
    const conf = await (await fetch("/console/messages.json")).json();
    GW.messages = conf.messages;
    GW.tz = new URLSearchParams(location.search).get("tz") || conf.tz;
    GW.lang = localStorage.getItem("gridwatch-lang") || conf.lang;
  } catch (err) { /* keys show until the catalogue loads */ }
  GW.renderers.push(GW.renderWho);
  GW.applyText();
  document.getElementById("lang").onclick = () => {
    GW.lang = GW.lang === "zh" ? "en" : "zh";
    localStorage.setItem("gridwatch-lang", GW.lang);
    GW.applyText();
  };
  document.getElementById("logout").onclick = GW.logout;
  for (const b of document.querySelectorAll("#tabs button")) b.onclick = () => {
    GW.show(b.dataset.view);
    if (b.dataset.view === "duty") GW.dutyView.load();
    if (b.dataset.view === "reports") GW.reportsView.load();
  };

  // A token from the address (#token=..., as `gridwatch demo` prints it) or this tab's
  // storage; the address fragment is never sent to the server.
  const fromHash = new URLSearchParams(location.hash.slice(1)).get("token");
  if (fromHash) {
    sessionStorage.setItem("gridwatch-token", fromHash);
    history.replaceState(null, "", location.pathname + location.search);
  }
  GW.token = sessionStorage.getItem("gridwatch-token") || "";
  if (GW.token && await GW.boot()) return;
  GW.show("login");
  document.getElementById("login").onsubmit = async e => {
    e.preventDefault();
    const ok = await GW.login(document.getElementById("login-user").value,
                              document.getElementById("login-password").value);
    document.getElementById("login-error").hidden = ok;
    if (ok) await GW.boot();
  };
};

// The page for the person the token names: only what their role and scope get from the API.
GW.boot = async function () {
  const res = await GW.api("/api/v1/auth/me");
  if (!res.ok) { GW.token = ""; return false; }
  GW.me = await res.json();
  document.getElementById("tabs").hidden = false;
  document.getElementById("logout").hidden = false;
  GW.renderWho();
  GW.show(new URLSearchParams(location.search).get("view") || "map");
  await GW.map.load();
  try {
    (await GW.json("/api/v1/people?limit=20000")).forEach(p => GW.people.set(p.id, p));
  } catch (err) { /* the unit panel shows names without phones */ }
  GW.feed.init();
  GW.reportsView.init();
  await GW.reload();
  GW.connect();
  setInterval(() => GW.board.tick(), 1000);
  document.body.dataset.ready = "1";
  return true;
};
