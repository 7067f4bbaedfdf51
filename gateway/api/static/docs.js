// Renders /openapi.json as a plain list of operations: works offline, unlike
// Swagger UI, whose scripts FastAPI loads from a CDN.
"use strict";

function node(tag, text, cls) {
  const n = document.createElement(tag);
  if (text !== undefined) n.textContent = text;
  if (cls) n.className = cls;
  return n;
}

function schemaName(s) {
  if (!s) return "";
  if (s.$ref) return s.$ref.split("/").pop();
  if (s.anyOf) return s.anyOf.map(schemaName).join(" | ");
  if (s.type === "array") return schemaName(s.items) + "[]";
  return s.type || "";
}

fetch("/openapi.json").then(r => r.json()).then(spec => {
  document.getElementById("version").textContent = spec.info.version;
  const ops = document.getElementById("ops");
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const box = node("div", undefined, "op");
      const head = node("div");
      head.append(node("span", method.toUpperCase(), "method"), node("code", path),
                  node("span", "  " + (op.summary || "")));
      box.append(head);
      if (op.description) box.append(node("p", op.description));
      if (op.parameters && op.parameters.length) {
        const table = node("table");
        table.append(node("tr"));
        table.firstChild.append(node("th", "参数 parameter"), node("th", "位置 in"),
                                node("th", "类型 type"), node("th", "说明 description"));
        for (const p of op.parameters) {
          const tr = node("tr");
          tr.append(node("td", p.name + (p.required ? " *" : "")), node("td", p.in),
                    node("td", schemaName(p.schema)), node("td", p.description || ""));
          table.append(tr);
        }
        box.append(table);
      }
      const ok = op.responses && op.responses["200"];
      const body = ok && ok.content && ok.content["application/json"];
      if (body) box.append(node("div", "200 → " + schemaName(body.schema), "meta"));
      ops.append(box);
    }
  }
});
