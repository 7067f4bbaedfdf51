// The cases board (columns by state, deadline countdowns, overdue and escalated
// highlighted) and the case page (history, events, participants, actions).
"use strict";

GW.board = (() => {
  const COLUMNS = ["new", "assigned", "reopened", "accepted", "in_progress", "resolved", "verified", "closed", "rejected"];
  const AWAIT_ACCEPT = ["new", "assigned", "reopened"];
  const OPEN = [...AWAIT_ACCEPT, "accepted", "in_progress"];

  // The deadline still running: accept-by before acceptance, resolve-by until resolved.
  function deadlineOf(c) {
    if (AWAIT_ACCEPT.includes(c.status)) return c.accept_by;
    if (OPEN.includes(c.status)) return c.resolve_by;
    return null;
  }

  // "-1:02:03" when overdue: a countdown, the same in every time zone.
  function countdown(due) {
    const left = Math.round((new Date(due) - Date.now()) / 1000);
    const a = Math.abs(left), h = Math.floor(a / 3600), m = Math.floor(a / 60) % 60, s = a % 60;
    return (left < 0 ? "-" : "") + `${h}:${String(m).padStart(2, "0")}:${String(s).padStart(2, "0")}`;
  }

  function card(c) {
    const due = deadlineOf(c);
    const overdue = due && new Date(due) < Date.now();
    const node = GW.el("div", { class: "card", "data-case-id": c.id, tabindex: "0" });
    node.classList.toggle("overdue", !!overdue);
    node.classList.toggle("escalated", c.escalation_level > 0);
    node.append(GW.el("strong", {}, `#${c.id} ${GW.t("cat." + c.category)}`),
                GW.el("div", { class: "meta" }, `${GW.areaName(c.unit_id)} · ${c.assignee_name || c.assignee || "—"}`));
    if (due) {
      const kind = AWAIT_ACCEPT.includes(c.status) ? "board.accept_by" : "board.resolve_by";
      node.append(GW.el("div", { class: "meta" }, `${GW.t(kind)} ${GW.time(due)}`),
                  GW.el("div", { class: "countdown", "data-due": due }, countdown(due)));
    }
    if (overdue) node.append(GW.el("span", { class: "tag red" }, GW.t("board.overdue")));
    if (c.escalation_level > 0) node.append(GW.el("span", { class: "tag amber" }, GW.t("board.escalated", { n: c.escalation_level })));
    node.onclick = () => GW.caseView.open(c.id);
    return node;
  }

  function render() {
    const board = document.getElementById("board");
    const cols = COLUMNS.map(status => {
      const col = GW.el("div", { class: "column", "data-status": status });
      const cases = [...GW.cases.values()].filter(c => c.status === status)
        .sort((a, b) => (deadlineOf(a) || "9").localeCompare(deadlineOf(b) || "9"));
      col.append(GW.el("h3", {}, `${GW.t("status." + status)} (${cases.length})`), ...cases.map(card));
      return col;
    });
    board.replaceChildren(...cols);
    document.getElementById("case-count").textContent = GW.cases.size;
  }

  function tick() {
    for (const node of document.querySelectorAll(".countdown[data-due]")) {
      node.textContent = countdown(node.dataset.due);
      const late = new Date(node.dataset.due) < Date.now();
      node.closest(".card")?.classList.toggle("overdue", late);
    }
  }

  GW.renderers.push(render);
  return { render, tick, deadlineOf, countdown };
})();

GW.caseView = (() => {
  // What each action's body needs besides its name (gateway/api/models/case_actions.py).
  const NEEDS_NOTE = ["reject", "reopen", "return", "comment"];
  let current = null;
  let shown = null;

  async function open(id) {
    GW.show("case");
    const res = await GW.api("/api/v1/cases/" + encodeURIComponent(id));
    if (!res.ok) return;
    render(await res.json());
  }

  function table(head, rows) {
    const t = GW.el("table");
    const tr = GW.el("tr");
    head.forEach(h => tr.appendChild(GW.el("th", {}, GW.t(h))));
    t.appendChild(GW.el("thead")).appendChild(tr);
    const body = t.appendChild(GW.el("tbody"));
    rows.forEach(r => { const row = GW.el("tr"); r.forEach(v => row.appendChild(GW.el("td", {}, v ?? "—"))); body.appendChild(row); });
    return t;
  }

  function render(c) {
    current = c.id; shown = c;
    api.current = c.id;
    document.getElementById("case-id").textContent = "#" + c.id;
    const body = document.getElementById("case-body");
    body.replaceChildren();
    const due = GW.board.deadlineOf(c);
    const dl = GW.el("dl", { class: "facts" });
    const fact = (k, v, cls) => dl.append(GW.el("dt", {}, GW.t(k)), GW.el("dd", cls ? { class: cls } : {}, v));
    fact("case.status", GW.t("status." + c.status), "case-status");
    fact("case.category", GW.t("cat." + c.category));
    fact("case.summary", c.summary || "—");
    fact("case.unit", GW.areaName(c.unit_id));
    fact("case.assignee", c.assignee_name || c.assignee || "—");
    fact("case.opened", GW.time(c.opened_at));
    fact("board.accept_by", GW.time(c.accept_by));
    fact("board.resolve_by", GW.time(c.resolve_by));
    if (due) fact("board.left", GW.board.countdown(due), new Date(due) < Date.now() ? "countdown overdue" : "countdown");
    fact("case.escalation", String(c.escalation_level));
    fact("case.returns", String(c.returns));
    body.append(dl, actions(c));
    body.append(GW.el("h3", {}, GW.t("case.history")),
      table(["case.time", "case.actor", "case.actions", "case.status", "case.note"],
        (c.history || []).map(h => [GW.time(h.at), h.actor_name || h.actor, GW.t("action." + h.action),
          (h.from_status ? GW.t("status." + h.from_status) + " → " : "") + (h.to_status ? GW.t("status." + h.to_status) : ""), h.note])));
    body.append(GW.el("h3", {}, GW.t("case.events")),
      table(["case.time", "devices.id", "case.rule", "case.summary"],
        (c.events || []).map(e => [GW.time(e.ts), e.device_id, e.rule, e.summary])));
    body.append(GW.el("h3", {}, GW.t("case.participants")),
      table(["case.person", "case.role", "case.unit"],
        (c.participants || []).map(p => [p.name || p.person, GW.t("part." + p.role), GW.areaName(p.area_id)])));
    if ((c.tasks || []).length) body.append(GW.el("h3", {}, GW.t("case.tasks")),
      table(["case.department", "case.assignee", "case.status", "case.due"],
        c.tasks.map(t => [t.department_id, t.assignee_name || t.assignee, GW.t("task." + t.status), GW.time(t.due_at)])));
  }

  function actions(c) {
    const box = GW.el("div", { class: "actions" });
    box.append(GW.el("h3", {}, GW.t("case.actions")));
    const allowed = c.allowed_actions || [];
    if (!allowed.length) { box.append(GW.el("p", { class: "note" }, GW.t("case.none_allowed"))); return box; }
    const note = GW.el("input", { id: "action-note", placeholder: GW.t("case.note"), maxlength: "2000" });
    box.append(note);
    if (allowed.includes("reassign")) {
      const sel = GW.el("select", { id: "action-area" });
      for (const [id, f] of GW.areas) if (f.properties.leader) sel.appendChild(GW.el("option", { value: id }, `${f.properties.name} (${id})`));
      box.append(GW.el("label", {}, GW.t("case.area") + " "), sel);
    }
    if (allowed.includes("follow_up")) box.append(GW.el("input", { id: "action-rating", type: "number", min: "1", max: "5", value: "4", title: GW.t("case.rating") }));
    if (allowed.includes("make_joint")) box.append(GW.el("input", { id: "action-departments", placeholder: GW.t("case.departments") }));
    if (allowed.includes("merge")) box.append(GW.el("input", { id: "action-into", type: "number", min: "1", placeholder: "#" }));
    const bar = GW.el("div", { class: "buttons" });
    for (const a of allowed) {
      const b = GW.el("button", { "data-action": a }, GW.t("action." + a));
      b.onclick = () => send(c.id, a);
      bar.appendChild(b);
    }
    box.append(bar, GW.el("p", { id: "action-result", class: "note" }));
    return box;
  }

  async function send(id, action) {
    const body = { action };
    const note = document.getElementById("action-note").value.trim();
    if (note || NEEDS_NOTE.includes(action)) body.note = note || GW.t("action." + action);
    if (action === "reassign") body.area_id = document.getElementById("action-area").value;
    if (action === "follow_up") body.rating = Number(document.getElementById("action-rating").value);
    if (action === "merge") body.into = Number(document.getElementById("action-into").value);
    if (action === "make_joint") body.departments = document.getElementById("action-departments").value.split(/[\s,，]+/).filter(Boolean);
    const res = await GW.api(`/api/v1/cases/${encodeURIComponent(id)}/actions`, {
      method: "POST",
      headers: { "Content-Type": "application/json", "Idempotency-Key": crypto.randomUUID() },
      body: JSON.stringify(body),
    });
    const out = document.getElementById("action-result");
    if (!res.ok) {
      const err = await res.json().catch(() => ({}));
      out.textContent = `${GW.t("case.error")} (${res.status}): ` + JSON.stringify(err.detail ?? "");
      return;
    }
    const c = await res.json();
    GW.cases.set(c.id, c);
    render(c);
    document.getElementById("action-result").textContent = GW.t("case.done") + ": " + GW.t("action." + action);
    GW.board.render();
    GW.map.drawMarkers();
  }

  const api = { open, render, current: null };
  GW.renderers.push(() => { if (shown && GW.view === "case") render(shown); });
  document.getElementById("case-back").onclick = () => GW.show("board");
  return api;
})();
