// Holds wavebot's GitHub client and the simulator to GitHub's official contract.
//
// Reads the JSONL record the simulator writes during the test suite ($WAVEBOT_CONTRACT_RECORD or argv[2]):
//   {"method","path","query","body","status","response","fault",...}   one REST exchange
//   {"kind":"webhook","event","action","payload"}                       one webhook payload
// and checks, against @octokit/openapi (api.github.com, dereferenced) and @octokit/openapi-webhooks:
//   - the operation exists (path template + method);
//   - path and query parameters are declared and valid; no undeclared query parameter;
//   - the request body matches the operation's request schema (and is present when required);
//   - the simulator's JSON response matches the response schema for its status (faults excepted);
//   - every webhook payload matches the schema of its event and action.
// Exits 1 listing every violation; exits 1 too when the record is missing or empty.
import { readFileSync, existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import Ajv from "ajv";
import Ajv2020 from "ajv/dist/2020.js";
import addFormats from "ajv-formats";

const here = dirname(fileURLToPath(import.meta.url));
const recordPath = process.argv[2] || process.env.WAVEBOT_CONTRACT_RECORD;
if (!recordPath || !existsSync(recordPath)) {
  console.error(`contract: no record at ${recordPath} (run the client and simulator tests first)`);
  process.exit(1);
}
const restSpecPath = join(here, "node_modules/@octokit/openapi/generated/api.github.com.deref.json");
const hookSpecPath = join(here, "node_modules/@octokit/openapi-webhooks/generated/api.github.com.json");
for (const p of [restSpecPath, hookSpecPath]) {
  if (!existsSync(p)) {
    console.error(`contract: ${p} is missing: run 'npm ci' in tests/contract`);
    process.exit(1);
  }
}
const rest = JSON.parse(readFileSync(restSpecPath, "utf8"));
const hooks = JSON.parse(readFileSync(hookSpecPath, "utf8"));

const ajv = new Ajv({ strict: false, allErrors: true, validateFormats: true });
addFormats(ajv);
const ajvHooks = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajvHooks);
// GitHub's own payloads carry a bot account's noreply address ("41898282+github-actions[bot]@users.
// noreply.github.com") where the schema says `format: email`; ajv-formats' email rejects the brackets.
// Accept exactly that form besides what ajv-formats accepts.
const botNoreply = /^[0-9]+\+[A-Za-z0-9-]+\[bot\]@users\.noreply\.github\.com$/;
for (const v of [ajv, ajvHooks]) {
  const plain = v.formats.email;
  const test = typeof plain === 'function' ? plain : plain instanceof RegExp ? (s) => plain.test(s) : plain.validate;
  v.addFormat('email', { type: 'string', validate: (s) => botNoreply.test(s) || test(s) });
}
ajvHooks.addSchema(hooks, "hooks.json");

// Path templates as regexes; a parameter matches one segment, except {ref} and {path} (may hold slashes).
const templates = Object.keys(rest.paths).map((t) => {
  const names = [];
  const re = t.replace(/[.*+?^$()|[\]\\]/g, "\\$&").replace(/\{([^}]+)\}/g, (_, n) => {
    names.push(n);
    return n === "ref" || n === "path" ? "(.+)" : "([^/]+)";
  });
  return { template: t, re: new RegExp(`^${re}$`), names, literal: t.replace(/\{[^}]+\}/g, "").length };
});

// OpenAPI 3.0's `nullable: true` is not JSON Schema: rewrite it as a "null" type (or an anyOf with null).
function normalize(s) {
  if (Array.isArray(s)) return s.map(normalize);
  if (!s || typeof s !== "object") return s;
  const out = {};
  for (const [k, v] of Object.entries(s)) {
    out[k] = k === "example" || k === "examples" || k === "enum" || k === "default" ? v : normalize(v);
  }
  if (out.nullable === true) {
    delete out.nullable;
    if (typeof out.type === "string") {
      out.type = [out.type, "null"];
      if (Array.isArray(out.enum) && !out.enum.includes(null)) out.enum = [...out.enum, null];
      return out;
    }
    return { anyOf: [out, { type: "null" }] };
  }
  delete out.nullable;
  return out;
}

const compiled = new Map();
function validator(key, schema, engine = ajv) {
  if (!compiled.has(key)) compiled.set(key, engine.compile(engine === ajv ? normalize(schema) : schema));
  return compiled.get(key);
}
function errorsText(v) {
  return (v.errors || []).slice(0, 12).map((e) => `${e.instancePath || "/"} ${e.message}${e.params && e.params.allowedValues ? " " + JSON.stringify(e.params.allowedValues) : ""}${e.params && e.params.additionalProperty ? " (" + e.params.additionalProperty + ")" : ""}${e.params && e.params.missingProperty ? "" : ""}`).join("; ");
}
function coerce(value, schema) {
  if (!schema) return value;
  const t = Array.isArray(schema.type) ? schema.type[0] : schema.type;
  if (t === "integer" || t === "number") return /^-?\d+(\.\d+)?$/.test(value) ? Number(value) : value;
  if (t === "boolean") return value === "true" ? true : value === "false" ? false : value;
  if (t === "array") return value.split(",");
  return value;
}

const failures = [];
const seenOps = new Map();
let exchanges = 0;
let webhooks = 0;
const lines = readFileSync(recordPath, "utf8").split("\n").filter((l) => l.trim());
for (const [i, line] of lines.entries()) {
  let rec;
  try {
    rec = JSON.parse(line);
  } catch (e) {
    failures.push(`line ${i + 1}: not JSON`);
    continue;
  }
  if (rec.kind === "webhook") {
    webhooks++;
    const key = rec.event.replace(/_/g, "-") + (rec.action ? "-" + rec.action.replace(/_/g, "-") : "");
    const hook = hooks.webhooks[key];
    if (!hook) {
      failures.push(`webhook ${key}: no such event/action in @octokit/openapi-webhooks`);
      continue;
    }
    const ref = hook.post.requestBody.content["application/json"].schema.$ref;
    const v = validator(`hook:${key}`, { $ref: `hooks.json${ref}` }, ajvHooks);
    if (!v(rec.payload)) failures.push(`webhook ${key}: payload does not match: ${errorsText(v)}`);
    seenOps.set(`webhook ${key}`, (seenOps.get(`webhook ${key}`) || 0) + 1);
    continue;
  }
  exchanges++;
  const what = `${rec.method} ${rec.path}`;
  const matches = templates.filter((t) => t.re.test(rec.path)).sort((a, b) => b.literal - a.literal);
  const withMethod = matches.filter((t) => rest.paths[t.template][rec.method.toLowerCase()]);
  if (withMethod.length === 0) {
    failures.push(`${what}: no such operation in GitHub's OpenAPI description`);
    continue;
  }
  const tpl = withMethod[0];
  const item = rest.paths[tpl.template];
  const op = item[rec.method.toLowerCase()];
  seenOps.set(`${rec.method} ${tpl.template}`, (seenOps.get(`${rec.method} ${tpl.template}`) || 0) + 1);
  const params = [...(item.parameters || []), ...(op.parameters || [])];
  // Requests made by hand in tests (raw HTTP, not wavebot's client) are checked for their responses only.
  const fromWavebot = String(rec.user_agent || "").startsWith("wavebot");
  // Path parameters.
  const m = tpl.re.exec(rec.path);
  tpl.names.forEach((name, k) => {
    const p = params.find((x) => x.in === "path" && x.name === name);
    if (!p) return;
    const value = coerce(decodeURIComponent(m[k + 1]), p.schema);
    const v = validator(`path:${tpl.template}:${name}`, p.schema || {});
    if (!v(value)) failures.push(`${what}: path parameter ${name}=${m[k + 1]}: ${errorsText(v)}`);
  });
  // Query parameters.
  for (const [name, raw] of Object.entries(fromWavebot ? rec.query || {} : {})) {
    const p = params.find((x) => x.in === "query" && x.name === name);
    if (!p) {
      failures.push(`${what}: query parameter '${name}' is not declared by ${op.operationId}`);
      continue;
    }
    const v = validator(`query:${op.operationId}:${name}`, p.schema || {});
    if (!v(coerce(raw, p.schema))) failures.push(`${what}: query ${name}=${raw}: ${errorsText(v)}`);
  }
  for (const p of params) {
    if (fromWavebot && p.in === "query" && p.required && !(p.name in (rec.query || {}))) {
      failures.push(`${what}: required query parameter '${p.name}' missing`);
    }
  }
  // Headers wavebot must send.
  if (fromWavebot && rec.api_version !== "2022-11-28") failures.push(`${what}: X-GitHub-Api-Version is '${rec.api_version}'`);
  // Body.
  const rb = op.requestBody;
  const hasBody = rec.body !== null && rec.body !== undefined;
  if (!fromWavebot) {
    // not wavebot's request
  } else if (hasBody && !rb) {
    failures.push(`${what}: sends a body but ${op.operationId} takes none`);
  } else if (rb) {
    const schema = rb.content && rb.content["application/json"] && rb.content["application/json"].schema;
    if (!hasBody && rb.required) {
      failures.push(`${what}: ${op.operationId} requires a body`);
    } else if (hasBody && schema) {
      if (!String(rec.content_type || "").startsWith("application/json")) {
        failures.push(`${what}: body sent as '${rec.content_type}', not application/json`);
      }
      const v = validator(`body:${op.operationId}`, schema);
      if (!v(rec.body)) failures.push(`${what}: request body does not match ${op.operationId}: ${errorsText(v)}`);
    }
  }
  // Response (the simulator's side of the contract).
  if (!rec.fault && rec.response !== null && rec.response !== undefined) {
    const resp = op.responses && op.responses[String(rec.status)];
    const schema = resp && resp.content && resp.content["application/json"] && resp.content["application/json"].schema;
    if (!resp) {
      // GitHub documents its error statuses incompletely (a 422 for an unknown ref, 401, 403, 429); an
      // undocumented one must still carry GitHub's error body.
      const v = validator("basic-error", {
        type: "object",
        required: ["message", "documentation_url"],
        properties: { message: { type: "string" }, documentation_url: { type: "string" } },
      });
      if (rec.status < 400 || !v(rec.response)) {
        failures.push(`${what}: the simulator answered ${rec.status} (undocumented for ${op.operationId}) without GitHub's error body`);
      }
    } else if (schema) {
      const v = validator(`resp:${op.operationId}:${rec.status}`, schema);
      if (!v(rec.response)) {
        failures.push(`${what}: simulator response ${rec.status} does not match ${op.operationId}: ${errorsText(v)}`);
      }
    }
  }
}

const unique = [...new Set(failures)];
for (const [op, n] of [...seenOps.entries()].sort()) console.log(`  ${String(n).padStart(5)}  ${op}`);
for (const f of unique) console.error(`FAIL ${f}`);
console.log(`contract: ${exchanges} requests, ${webhooks} webhook payloads, ${seenOps.size} operations/events checked`);
const failed = unique.length;
console.log(`${exchanges + webhooks - Math.min(failed, exchanges + webhooks)} passed, ${failed} failed`);
if (exchanges === 0) {
  console.error("contract: the record holds no REST exchange");
  process.exit(1);
}
process.exit(failed ? 1 : 0);
