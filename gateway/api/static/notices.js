// Notices nobody received after their last retry (docs/notifications.md). Their cases
// have escalated, so a case change is the moment to look again.
"use strict";

GW.noticesView = (() => {
  let rows = [];
  let due = null;

  async function load() {
    due = null;
    try {
      rows = await GW.json("/api/v1/notifications?status=failed&limit=50");
    } catch (err) { rows = []; }
    render();
  }

  function render() {
    const list = document.getElementById("failed-notices");
    list.replaceChildren(...rows.map(n => {
      const li = GW.el("li", { "data-notice-id": n.id });
      li.append(GW.el("strong", {}, `#${n.case_id ?? "—"} ${n.title} `),
                GW.el("div", { class: "meta" },
                      `${GW.time(n.failed_at)} · ${GW.t("notices.to")} ${n.recipient_name || n.recipient} · ` +
                      `${GW.t("notices.attempts", { n: n.attempts })} · ${n.last_error || ""}`));
      return li;
    }));
    document.getElementById("failed-count").textContent = rows.length;
  }

  // Case changes come in bursts: look once, two seconds after the first.
  function soon() {
    if (due === null) due = setTimeout(load, 2000);
  }

  GW.renderers.push(render);
  return { load, render, soon };
})();
