// The API page: reads /openapi.json from this server and lays out each endpoint, its
// parameters and responses: a stand-in for Swagger UI, which FastAPI loads from the internet.
"use strict";

function el(tag, text, cls) {
  const e = document.createElement(tag);
  if (text !== undefined) e.textContent = text;
  if (cls) e.className = cls;
  return e;
}

function resolve(spec, schema) {
  while (schema && schema.$ref) schema = schema.$ref.split("/").slice(1).reduce((o, k) => o[k], spec);
  return schema || {};
}

function typeOf(spec, s) {
  s = resolve(spec, s);
  if (s.enum) return s.enum.map((v) => JSON.stringify(v)).join(" | ");
  if (s.anyOf) return s.anyOf.map((x) => typeOf(spec, x)).join(" | ");
  let t = s.type || "object";
  const bounds = [];
  if (s.minimum !== undefined) bounds.push(`≥ ${s.minimum}`);
  if (s.maximum !== undefined) bounds.push(`≤ ${s.maximum}`);
  return bounds.length ? `${t} (${bounds.join(", ")})` : t;
}

function paramTable(spec, rows) {
  const table = el("table");
  const head = table.insertRow();
  for (const h of ["parameter", "in", "type", "default", "description"]) head.appendChild(el("th", h));
  for (const r of rows) {
    const tr = table.insertRow();
    tr.insertCell().appendChild(el("code", r.name + (r.required ? " *" : "")));
    tr.insertCell().textContent = r.in;
    tr.insertCell().textContent = typeOf(spec, r.schema);
    const d = resolve(spec, r.schema).default;
    tr.insertCell().textContent = d === undefined ? "" : JSON.stringify(d);
    tr.insertCell().textContent = r.description || resolve(spec, r.schema).description || "";
  }
  return table;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  document.getElementById("title").textContent = `${spec.info.title} API ${spec.info.version}`;
  document.getElementById("description").textContent = spec.info.description || "";
  const root = document.getElementById("api");
  for (const [path, ops] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(ops)) {
      root.appendChild(el("h2", `${method.toUpperCase()} ${path}`));
      if (op.summary) root.appendChild(el("p", op.summary));
      const rows = (op.parameters || []).map((p) => ({ ...p, schema: p.schema }));
      const body = op.requestBody && op.requestBody.content && op.requestBody.content["application/json"];
      if (body) {
        const s = resolve(spec, body.schema);
        for (const [name, prop] of Object.entries(s.properties || {})) {
          rows.push({ name, in: "JSON body", schema: prop, required: (s.required || []).includes(name) });
        }
      }
      if (rows.length) root.appendChild(paramTable(spec, rows));
      const codes = Object.entries(op.responses || {}).map(([code, r]) =>
        `${code}: ${Object.keys(r.content || {}).join(", ") || r.description}`);
      root.appendChild(el("p", `Responses — ${codes.join("; ")}`, "responses"));
    }
  }
}

main().catch((e) => { document.getElementById("api").textContent = `Cannot read /openapi.json: ${e.message}`; });
