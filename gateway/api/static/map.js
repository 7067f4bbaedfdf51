// The map: the hierarchy's outlines as SVG, drillable town -> village -> grid -> unit,
// the person's own area framed, cameras' fields of view, markers for events, open cases
// and offline cameras (where they are mounted).
"use strict";

GW.map = (() => {
  const W = 800, H = 600, PAD = 16;
  const LEVEL_ORDER = { unit: 0, grid: 1, village: 2, town: 3 };
  const CHILD = { town: "village", village: "grid", grid: "unit" };
  let project = null;
  let focus = null;          // the area id the map is zoomed to (null: everything)
  let own = [];              // the person's own area ids (framed)
  const centre = new Map();  // area id -> [x, y]
  const boxes = new Map();   // area id -> [x0, y0, x1, y1]
  let unitShown = null;

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

  function bbox(projected) {
    let b = [Infinity, Infinity, -Infinity, -Infinity];
    for (const ring of projected) for (const [x, y] of ring) {
      b = [Math.min(b[0], x), Math.min(b[1], y), Math.max(b[2], x), Math.max(b[3], y)];
    }
    return b;
  }

  // The area's chain upwards, itself first.
  function chain(id) {
    const out = [];
    for (let f = GW.areas.get(id); f; f = GW.areas.get(f.properties.parent)) out.push(f.properties.id);
    return out;
  }
  GW.villageOf = unitId => chain(unitId).find(id => GW.areas.get(id).properties.level === "village");

  async function load() {
    let geo;
    try { geo = await GW.json("/api/v1/hierarchy"); } catch (err) { geo = { features: [] }; }
    const features = (geo.features || []).slice().sort(
      (a, b) => (LEVEL_ORDER[a.properties.level] ?? 0) - (LEVEL_ORDER[b.properties.level] ?? 0));
    // Units first (filled, clickable), the outlines above them on top.
    for (const f of features) GW.areas.set(f.properties.id, f);
    project = fit(features);
    const map = document.getElementById("map");
    map.replaceChildren();
    if (!project) { document.getElementById("map-note").dataset.i18n = "map.none"; return; }
    const areas = GW.svg("g", { id: "areas" });
    for (const f of features) {
      const p = f.properties;
      const pr = rings(f.geometry).map(r => r.map(project));
      const d = pr.map(ring => "M" + ring.map(pt => pt.map(v => v.toFixed(1)).join(",")).join("L") + "Z").join("");
      const path = GW.svg("path", { d, class: "area " + p.level, "data-id": p.id });
      path.appendChild(GW.svg("title"));
      path.addEventListener("click", e => { e.stopPropagation(); clicked(p.id); });
      areas.appendChild(path);
      const b = bbox(pr);
      boxes.set(p.id, b);
      centre.set(p.id, [(b[0] + b[2]) / 2, (b[1] + b[3]) / 2]);
    }
    const s = GW.me.scope;
    own = s.all ? features.filter(f => f.properties.level === "town").map(f => f.properties.id)
                : [...s.villages, ...s.grids.filter(g => !s.villages.includes(GW.areas.get(g)?.properties.parent))];
    if (!own.length && !s.all) own = s.units;
    for (const id of own) areas.querySelector(`[data-id="${CSS.escape(id)}"]`)?.classList.add("own");
    map.append(areas, GW.svg("g", { id: "views" }), GW.svg("g", { id: "labels" }), GW.svg("g", { id: "markers" }));
    document.getElementById("map-up").onclick = () => zoom(focus && GW.areas.get(focus)?.properties.parent || null);
    document.getElementById("map-own").onclick = () => zoom(own.length === 1 ? own[0] : null);
    GW.renderers.push(labels, () => { if (unitShown) showUnit(unitShown); });
    zoom(own.length === 1 ? own[0] : null);
  }

  // A click drills one level down from the focus, towards the unit under the pointer;
  // at the grid level it shows the unit.
  function clicked(id) {
    const up = chain(id);
    const level = focus ? GW.areas.get(focus).properties.level : "town";
    const next = up.find(a => GW.areas.get(a).properties.level === CHILD[level]);
    if (!next || GW.areas.get(next).properties.level === "unit") {
      const unit = up.find(a => GW.areas.get(a).properties.level === "unit");
      if (unit) showUnit(unit);
      if (!next) return;
    }
    if (GW.areas.get(next).properties.level !== "unit") zoom(next);
  }

  function zoom(id) {
    focus = id;
    const map = document.getElementById("map");
    let b = id ? boxes.get(id) : [0, 0, W, H];
    const m = Math.max(b[2] - b[0], b[3] - b[1]) * 0.06 + 1;
    map.setAttribute("viewBox", [b[0] - m, b[1] - m, b[2] - b[0] + 2 * m, b[3] - b[1] + 2 * m].map(v => v.toFixed(1)).join(" "));
    map.dataset.focus = id || "";
    for (const old of map.querySelectorAll(".area.focus")) old.classList.remove("focus");
    if (id) map.querySelector(`#areas [data-id="${CSS.escape(id)}"]`)?.classList.add("focus");
    map.style.setProperty("--k", String(Math.max((b[2] - b[0]) / W, (b[3] - b[1]) / H)));
    labels();
    drawMarkers();
  }

  // Labels: the focused area's children (or the top areas), in the chosen language's frame.
  function labels() {
    const g = document.getElementById("labels");
    if (!g) return;
    g.replaceChildren();
    const top = focus ? GW.areas.get(focus).properties.level : null;
    const want = top ? CHILD[top] : "village";
    for (const [id, f] of GW.areas) {
      const p = f.properties;
      const path = document.querySelector(`#areas [data-id="${CSS.escape(id)}"]`);
      if (path) path.firstChild.textContent = `${p.name} · ${GW.t("level." + p.level)}`;
      const inside = !focus || chain(id).includes(focus);
      if (p.level !== want || !inside) continue;
      const [x, y] = centre.get(id);
      const t = GW.svg("text", { x: x.toFixed(1), y: y.toFixed(1), class: "label " + p.level });
      t.textContent = p.name;
      g.appendChild(t);
    }
    const crumb = focus ? chain(focus).reverse().map(GW.areaName).join(" › ") : GW.t("map.whole");
    document.getElementById("map-crumb").textContent = crumb;
    document.getElementById("map-note").textContent = GW.t("map.areas", { n: GW.areas.size });
  }

  function pointOf(item) {
    if (typeof item.lon === "number" && typeof item.lat === "number" && project) return project([item.lon, item.lat]);
    const c = item.unit_id && centre.get(item.unit_id);
    return c ? [c[0] + ((item.id || 0) % 7 - 3) * 1.5, c[1] + ((item.id || 0) % 5 - 2) * 1.5] : null;
  }

  // Urgency of an open case: red past a deadline, amber within the hour, green otherwise.
  GW.urgency = function (c) {
    const due = GW.board.deadlineOf(c);
    if (!due) return "none";
    const left = new Date(due) - Date.now();
    return left < 0 ? "red" : left < 3600e3 ? "amber" : "green";
  };

  function drawMarkers() {
    const g = document.getElementById("markers");
    if (!g) return;
    for (const old of g.querySelectorAll(".case-dot, .cam-off")) old.remove();
    const r = 6 * (parseFloat(document.getElementById("map").style.getPropertyValue("--k")) || 1);
    for (const c of GW.cases.values()) {
      const u = GW.urgency(c);
      const xy = pointOf(c);
      if (u === "none" || !xy) continue;
      const dot = GW.svg("circle", { cx: xy[0], cy: xy[1], r, class: "case-dot urg-" + u, "data-case-id": c.id });
      dot.addEventListener("click", () => GW.caseView.open(c.id));
      g.appendChild(dot);
    }
    // Cameras' fields of view (their homography's ground polygon), under the markers.
    const views = document.getElementById("views");
    if (views && project) {
      views.replaceChildren();
      for (const d of GW.devices) {
        const ring = d.field_of_view?.coordinates?.[0];
        if (!ring) continue;
        const pts = ring.map(project).map(pt => pt.map(v => v.toFixed(2)).join(","));
        const off = d.status === "offline" || d.status === "stale";
        const path = GW.svg("path", { d: "M" + pts.join("L") + "Z", class: "fov" + (off ? " off" : ""), "data-device": d.id });
        const title = GW.svg("title");
        title.textContent = `${d.name || d.id} · ${GW.t("dev." + d.status)}`;
        path.appendChild(title);
        views.appendChild(path);
      }
    }
    for (const d of GW.devices) {
      if (d.status !== "offline" && d.status !== "stale") continue;
      const c = pointOf({ ...d, id: 0 });
      if (!c) continue;
      const mark = GW.svg("rect", { x: c[0] - r, y: c[1] - r * 2.5, width: 2 * r, height: 2 * r,
                                   class: "cam-off", "data-device": d.id });
      g.appendChild(mark);
    }
  }

  function addEvent(ev) {
    const g = document.getElementById("markers");
    const xy = pointOf(ev);
    if (!g || !xy) return;
    for (const old of g.querySelectorAll(".ev-dot:not(.old)")) old.classList.add("old");
    const r = 4 * (parseFloat(document.getElementById("map").style.getPropertyValue("--k")) || 1);
    g.appendChild(GW.svg("circle", { cx: xy[0], cy: xy[1], r, class: "ev-dot", "data-event-id": ev.event_id }));
    const dots = g.querySelectorAll(".ev-dot");
    if (dots.length > 200) dots[0].remove();
  }

  function contact(c) {
    if (!c) return "—";
    const phone = GW.people.get(c.person)?.phone;
    return c.name + (phone ? ` (${phone})` : "");
  }

  function showUnit(id) {
    unitShown = id;
    for (const old of document.querySelectorAll("#areas .picked")) old.classList.remove("picked");
    document.querySelector(`#areas [data-id="${CSS.escape(id)}"]`)?.classList.add("picked");
    const p = GW.areas.get(id).properties;
    const body = document.getElementById("unit-body");
    body.replaceChildren();
    const dl = GW.el("dl");
    const row = (k, v) => { dl.append(GW.el("dt", {}, GW.t(k)), GW.el("dd", {}, v)); };
    body.append(GW.el("h4", {}, `${p.name} (${p.id})`), dl);
    row("map.leader", contact(p.leader));
    row("map.liaison", contact(p.liaison));
    const devs = GW.devices.filter(d => d.unit_id === id);
    row("map.devices", devs.map(d => `${d.id} · ${GW.t("dev." + d.status)}`).join("，") || "—");
    const cases = [...GW.cases.values()].filter(c => c.unit_id === id);
    const list = GW.el("ul", { class: "plain" });
    for (const c of cases) {
      const li = GW.el("li", { class: "link" }, `#${c.id} ${GW.t("cat." + c.category)} · ${GW.t("status." + c.status)}`);
      li.onclick = () => GW.caseView.open(c.id);
      list.appendChild(li);
    }
    dl.append(GW.el("dt", {}, GW.t("map.cases")), GW.el("dd", {}, cases.length ? "" : "—"));
    dl.lastChild.appendChild(list);
  }

  return { load, addEvent, drawMarkers, zoom };
})();
