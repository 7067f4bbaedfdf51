// The duty panel: who is duty commander on each roster now (GET /api/v1/duty), and the
// open joint cases under consultation (GET /api/v1/joint) with their department tasks
// and the newest message.
"use strict";

GW.dutyView = (() => {
  let roster = null;   // null: not loaded; "none": no roster configured
  let joint = [];

  async function load() {
    const res = await GW.api("/api/v1/duty");
    roster = res.ok ? await res.json() : "none";
    try { joint = await GW.json("/api/v1/joint"); } catch (err) { joint = []; }
    render();
  }

  function render() {
    const body = document.querySelector("#duty-roster tbody");
    if (!body) return;
    body.replaceChildren();
    document.getElementById("duty-none").hidden = roster !== "none";
    for (const d of Array.isArray(roster) ? roster : []) {
      const tr = GW.el("tr", { "data-roster": d.roster, "data-person": d.person });
      const why = GW.t("duty.why." + d.why) + (d.instead_of ? ` (${GW.t("duty.instead_of")} ${d.instead_of})` : "");
      const cells = [GW.lang === "zh" ? d.roster_name : d.roster_name_en, `${d.name} (${d.person})`,
        d.phone || "—", GW.time(d.since), GW.time(d.until), why];
      cells.forEach(v => tr.appendChild(GW.el("td", {}, v)));
      body.appendChild(tr);
    }
    const list = document.getElementById("joint-cases");
    list.replaceChildren();
    document.getElementById("joint-count").textContent = joint.length;
    for (const c of joint) {
      const li = GW.el("li", { class: "link", "data-case-id": c.id });
      li.append(GW.el("strong", {}, `#${c.id} ${GW.t("cat." + c.category)}`),
        ` · ${GW.t("status." + c.status)} · ${GW.areaName(c.unit_id)}`);
      const tasks = c.tasks.map(t => `${t.department_id} ${GW.t("task." + t.status)}`).join("，");
      li.append(GW.el("div", { class: "meta" }, `${GW.t("duty.tasks")}: ${tasks}`));
      const m = c.last_message;
      const last = m ? `${GW.time(m.at)} ${m.author_name || m.author}${m.kind === "decision" ? " [" + GW.t("duty.decision") + "]" : ""}: ${m.body}`
                     : GW.t("duty.no_messages");
      li.append(GW.el("div", { class: "meta" }, `${GW.t("duty.messages", { n: c.messages })} · ${last}`));
      li.onclick = () => GW.caseView.open(c.id);
      list.appendChild(li);
    }
    if (!joint.length) list.appendChild(GW.el("li", { class: "note" }, GW.t("duty.no_joint")));
  }

  GW.renderers.push(render);
  return { load, render };
})();
