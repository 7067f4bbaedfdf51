// Device health: cameras and sensors online, offline or stale, with fps, clock offset
// and last seen.
"use strict";

GW.devicesView = (() => {
  function render() {
    const body = document.querySelector("#devices tbody");
    body.replaceChildren(...GW.devices.map(d => {
      const tr = GW.el("tr", { "data-device": d.id, class: "dev-" + d.status });
      const cells = [d.name ? `${d.id} · ${d.name}` : d.id, GW.t("kind." + d.kind), GW.areaName(d.unit_id),
        GW.t("dev." + d.status), d.fps != null ? d.fps.toFixed(1) : "—",
        d.clock_offset_s != null ? d.clock_offset_s.toFixed(2) : "—", GW.time(d.last_seen)];
      cells.forEach(v => tr.appendChild(GW.el("td", {}, v)));
      return tr;
    }));
  }
  GW.renderers.push(render);
  return { render };
})();
