// The reports panel: GET /api/v1/stats/cases drawn as plain SVG by this file, no library:
// cases opened per day, stacked by category; the busiest units; on-time rates per
// category (acceptance and resolution); and the bottom of the current fortnight's ranking
// from GET /api/v1/reviews/fortnight (the review notice, docs/reports.md), where the
// person's role may read it.
"use strict";

GW.reportsView = (() => {
  let stats = null;
  // The fortnight's review: undefined before loading, null when it is not this role's.
  let review;
  const COLOURS = ["#8cc8ff", "#ffb35a", "#5fd38a", "#ff6b6b", "#c39bff", "#e6d35a", "#5fd3cf", "#ff9fd0", "#a0a8b4"];
  const colourOf = new Map();
  const colour = cat => {
    if (!colourOf.has(cat)) colourOf.set(cat, COLOURS[colourOf.size % COLOURS.length]);
    return colourOf.get(cat);
  };
  // Two decimals, never "-0.00" (docs/reports.md compares scores at four).
  const score = v => (Math.abs(v) < 0.005 ? 0 : v).toFixed(2);
  const pct = (k, n) => n ? Math.round(100 * k / n) + "%" : "—";

  async function load() {
    const days = document.getElementById("r-days").value;
    try { stats = await GW.json("/api/v1/stats/cases?days=" + encodeURIComponent(days)); } catch (err) { stats = null; }
    try { review = await GW.json("/api/v1/reviews/fortnight"); } catch (err) { review = null; }
    render();
  }

  function svg(id, width, height) {
    const node = document.getElementById(id);
    node.replaceChildren();
    node.setAttribute("viewBox", `0 0 ${width} ${height}`);
    return node;
  }

  function text(parent, x, y, s, cls, anchor) {
    const t = GW.svg("text", { x, y, class: cls || "axis", "text-anchor": anchor || "start" });
    t.textContent = s;
    parent.appendChild(t);
    return t;
  }

  // Stacked columns: one per day since `since`, a segment per category.
  function perDay() {
    const W = 720, H = 220, L = 36, B = 24, T = 8;
    const g = svg("r-per-day", W, H);
    const days = [];
    const start = new Date(stats.since);
    for (let i = 0; i < stats.days; i++) {
      const d = new Date(start.getTime() + i * 86400e3);
      days.push(d.toLocaleDateString("en-CA", { timeZone: stats.tz }));
    }
    const byDay = new Map(days.map(d => [d, []]));
    for (const r of stats.per_day) byDay.get(r.day)?.push(r);
    const top = Math.max(1, ...[...byDay.values()].map(rs => rs.reduce((s, r) => s + r.n, 0)));
    const bw = (W - L - 4) / days.length;
    for (const k of [0, 0.5, 1]) {
      const y = T + (H - T - B) * (1 - k);
      g.appendChild(GW.svg("line", { x1: L, x2: W, y1: y, y2: y, class: "grid" }));
      text(g, L - 4, y + 4, String(Math.round(top * k)), "axis", "end");
    }
    days.forEach((d, i) => {
      let y = H - B;
      const x = L + i * bw;
      for (const r of byDay.get(d)) {
        const h = (H - T - B) * r.n / top;
        y -= h;
        const bar = GW.svg("rect", { x: x + 1, y, width: Math.max(bw - 2, 1), height: h, fill: colour(r.category),
                                    "data-day": d, "data-category": r.category, "data-n": r.n });
        const tip = GW.svg("title");
        tip.textContent = `${d} ${GW.t("cat." + r.category)}: ${r.n}`;
        bar.appendChild(tip);
        g.appendChild(bar);
      }
      if (days.length <= 10 || i % Math.ceil(days.length / 8) === 0) text(g, x + bw / 2, H - 8, d.slice(5), "axis", "middle");
    });
    const legend = document.getElementById("r-legend");
    legend.replaceChildren();
    for (const c of stats.per_category) {
      const i = GW.el("i");
      i.style.background = colour(c.category);
      legend.append(i, GW.el("span", {}, `${GW.t("cat." + c.category)} ${c.n}`));
    }
  }

  // Horizontal bars: `rows` of {label, value, of, note}, `value / of` long.
  function bars(id, rows, kind) {
    const W = 720, RH = 22, L = 190;
    const g = svg(id, W, Math.max(RH * rows.length, RH));
    rows.forEach((r, i) => {
      const y = i * RH;
      text(g, L - 6, y + 15, r.label, "axis", "end");
      g.appendChild(GW.svg("rect", { x: L, y: y + 4, width: W - L - 90, height: RH - 8, class: "track" }));
      const w = r.of ? (W - L - 90) * r.value / r.of : 0;
      g.appendChild(GW.svg("rect", { x: L, y: y + 4, width: w, height: RH - 8, class: "bar " + kind, "data-key": r.key }));
      text(g, W - 84, y + 15, r.note, "axis");
    });
    if (!rows.length) text(g, L, 15, GW.t("reports.none"), "axis");
  }

  function render() {
    const has = !!stats;
    document.getElementById("r-error").hidden = has;
    if (!has) return;
    document.getElementById("r-total").textContent = stats.per_category.reduce((s, c) => s + c.n, 0);
    perDay();
    const busiest = Math.max(1, ...stats.per_unit.map(u => u.n));
    bars("r-per-unit", stats.per_unit.map(u => ({
      key: u.unit_id, label: GW.areaName(u.unit_id), value: u.n, of: busiest,
      note: `${u.n} · ${pct(u.resolved_on_time, u.resolved)}`,
    })), "units");
    const rate = [];
    for (const c of stats.per_category) {
      rate.push({ key: c.category + ":accept", label: `${GW.t("cat." + c.category)} · ${GW.t("reports.accept")}`,
                  value: c.accepted_on_time, of: c.accepted, note: `${pct(c.accepted_on_time, c.accepted)} (${c.accepted})` });
      rate.push({ key: c.category + ":resolve", label: `${GW.t("cat." + c.category)} · ${GW.t("reports.resolve")}`,
                  value: c.resolved_on_time, of: c.resolved, note: `${pct(c.resolved_on_time, c.resolved)} (${c.resolved})` });
    }
    bars("r-on-time", rate, "rate");
    ranking();
  }

  // The fortnight's lowest ranked (the review notice's list): position, person, cases,
  // on-time rate and score; provisional until the fortnight ends, then recorded.
  function ranking() {
    const table = document.getElementById("r-ranking");
    const note = document.getElementById("r-rank-note");
    table.replaceChildren();
    const r = review && review.ranking;
    if (!r) {
      note.textContent = GW.t(review === null ? "reports.rank_denied" : "reports.none");
      return;
    }
    const p = review.period;
    note.textContent = `${p.first_day} – ${p.last_day} · ` +
      GW.t(p.complete ? "reports.rank_recorded" : "reports.rank_provisional");
    const head = GW.el("tr");
    for (const k of ["position", "person", "cases", "on_time_rate", "score"]) head.appendChild(GW.el("th", {}, GW.t("reports." + k)));
    table.appendChild(head);
    for (const b of r.bottom) {
      const row = GW.el("tr", { "data-person": b.person });
      const cells = [String(b.position), b.name || b.person, String(b.cases), pct(b.on_time, b.cases), score(b.score)];
      for (const c of cells) row.appendChild(GW.el("td", {}, c));
      table.appendChild(row);
    }
    if (!r.bottom.length) table.appendChild(GW.el("tr", {}, "")).appendChild(GW.el("td", { colspan: "5" }, GW.t("reports.none")));
  }

  function init() {
    const sel = document.getElementById("r-days");
    const fill = () => {
      const keep = sel.value || "30";
      sel.replaceChildren(...[7, 30, 90, 365].map(n => GW.el("option", { value: String(n) }, GW.t("reports.days", { n }))));
      sel.value = keep;
    };
    fill();
    sel.onchange = load;
    GW.renderers.push(fill, render);
  }

  return { init, load, render };
})();
