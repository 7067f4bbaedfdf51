// The live feed: events in the person's scope, filtered by category, village and
// severity; repeats (the same device and rule within a window) collapse into one line;
// a line whose event has a snapshot shows its thumbnail.
"use strict";

GW.feed = (() => {
  const MAX_LINES = 300;
  const REPEAT_WINDOW_MS = 120e3;
  let lines = [];          // newest first: {key, ev, count, first, last}
  let total = 0;

  const filters = () => ({
    category: document.getElementById("f-category").value,
    village: document.getElementById("f-village").value,
    severity: document.getElementById("f-severity").value,
    collapse: document.getElementById("f-collapse").checked,
  });

  function fillSelect(id, values, label) {
    const sel = document.getElementById(id);
    const keep = sel.value;
    sel.replaceChildren(GW.el("option", { value: "" }, GW.t("feed.all")));
    for (const v of values) sel.appendChild(GW.el("option", { value: v }, label(v)));
    sel.value = keep;
  }

  function fillFilters() {
    const cats = Object.keys(GW.messages.en).filter(k => k.startsWith("cat.")).map(k => k.slice(4));
    fillSelect("f-category", cats, c => GW.t("cat." + c));
    const villages = [...GW.areas.values()].filter(f => f.properties.level === "village").map(f => f.properties.id);
    fillSelect("f-village", villages, GW.areaName);
    fillSelect("f-severity", ["1", "2", "3", "4"], s => GW.t("sev." + s));
  }

  function init() {
    fillFilters();
    GW.renderers.push(fillFilters, render);
    for (const id of ["f-category", "f-village", "f-severity", "f-collapse"]) {
      document.getElementById(id).onchange = render;
    }
  }

  function reset() { lines = []; total = 0; }

  const ms = ts => new Date(ts).getTime() || Date.now();

  // Lines are kept whole; collapsing is a view of them, so the checkbox can undo it.
  function add(ev) {
    total += 1;
    lines.unshift({ ev, at: ms(ev.ts) });
    if (lines.length > MAX_LINES * 4) lines.length = MAX_LINES * 4;
    render();
  }

  function visible(ev, f) {
    if (f.category && ev.category !== f.category) return false;
    if (f.village && GW.villageOf(ev.unit_id) !== f.village) return false;
    // Stored events default to severity 2, as the events table does.
    if (f.severity && String(ev.severity || 2) !== f.severity) return false;
    return true;
  }

  // Groups of the same device and rule, each within the window of its newest event.
  function grouped(items, collapse) {
    if (!collapse) return items.map(it => ({ ...it, count: 1, first: it.at }));
    const out = [], open = new Map();
    for (const it of items) {   // newest first
      const key = it.ev.device_id + "|" + it.ev.rule;
      const g = open.get(key);
      if (g && g.first - it.at <= REPEAT_WINDOW_MS) { g.count += 1; g.first = it.at; continue; }
      const fresh = { ...it, count: 1, first: it.at };
      open.set(key, fresh);
      out.push(fresh);
    }
    return out;
  }

  // Snapshot thumbnails: the JPEG through the API with the person's token (an <img>
  // cannot send it), kept as an object URL per hash; one not yet received is asked
  // for again after a while. Only the newest lines get one: each view is audited.
  const THUMBS = 40;
  const thumbs = new Map();   // sha256 -> Promise<object URL | null>
  function thumbnail(sha) {
    if (!thumbs.has(sha)) {
      thumbs.set(sha, GW.api("/api/v1/snapshots/" + sha).then(async res => {
        if (!res.ok) throw new Error(String(res.status));
        return URL.createObjectURL(await res.blob());
      }).catch(() => { setTimeout(() => thumbs.delete(sha), 15e3); return null; }));
    }
    return thumbs.get(sha);
  }

  function line(g, i) {
    const ev = g.ev;
    const li = GW.el("li", { "data-event-id": ev.event_id, "data-category": ev.category });
    if (ev.snapshot_sha256 && i < THUMBS) {
      const img = GW.el("img", { class: "thumb", alt: GW.t("feed.snapshot"), "data-sha256": ev.snapshot_sha256 });
      img.hidden = true;
      thumbnail(ev.snapshot_sha256).then(url => { if (url) { img.src = url; img.hidden = false; } });
      li.append(img);
    }
    const score = ev.score != null ? ` ${(ev.score * 100).toFixed(0)}%` : "";
    li.append(GW.el("strong", { class: "sev-" + (ev.severity || 2) }, GW.t("cat." + ev.category) + score));
    // The rule is named only where it says more than the category.
    if (ev.rule && ev.rule !== ev.category) li.append(" ", GW.el("code", {}, ev.rule));
    if (g.count > 1) li.append(" ", GW.el("span", { class: "repeats" }, GW.t("feed.repeats", { n: g.count })));
    li.append(GW.el("div", { class: "meta" },
      `${GW.time(ev.ts)} · ${GW.t("feed.device")} ${ev.device_id} · ${GW.t("feed.unit")} ${GW.areaName(ev.unit_id)}`));
    return li;
  }

  function render() {
    const f = filters();
    const shown = grouped(lines.filter(it => visible(it.ev, f)), f.collapse).slice(0, MAX_LINES);
    const list = document.getElementById("feed");
    list.replaceChildren(...shown.map((g, i) => line(g, i)));
    if (!shown.length) list.appendChild(GW.el("li", { class: "note" }, GW.t("feed.empty")));
    document.getElementById("event-count").textContent = total;
  }

  return { init, add, reset, render };
})();
