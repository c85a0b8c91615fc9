// workerd: the example Worker (wasm-validator/examples/worker) with the
// package's workerd entry, in Cloudflare's runtime on loopback, against a
// stub keyward (GET /keys/{id}/record, and POST /verify for metered keys)
// and a stub origin, both Node HTTP servers on 127.0.0.1.
//
// Two copies of the Worker run: one with RECORD_CACHE_SECONDS=0, which
// fetches the record on every request (so every vector can bring its own
// record), and one with RECORD_CACHE_SECONDS=1 for the cache.
// KEYWARD_WORKERD_LOG=1 prints workerd's output at the end.

import assert from "node:assert/strict";
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { after, before, test } from "node:test";
import { keyId } from "@keyward/wasm-validator";
import { camel } from "./cases.mjs";
import { loadVectors, pkgDir, root } from "./support.mjs";
import { spawnWorkerd, workerdBinary } from "./workerd-process.mjs";

const TOKEN = "records-read-token";
const vectors = loadVectors();
// Each vector's required scopes, by route: SCOPES_BY_ROUTE maps
// "GET /s/<n>" to the n-th set of scopes the vectors require.
const scopeSets = [...new Set(vectors.map((v) => v.required_scopes.join(" ")).filter(Boolean))];
const pathFor = (vector) => {
  const n = scopeSets.indexOf(vector.required_scopes.join(" "));
  return n < 0 ? "/v1/sims?x=1" : `/s/${n}/sims?x=1`;
};
const scopesByRoute = Object.fromEntries(scopeSets.map((scopes, n) => [`GET /s/${n}`, scopes]));

function listen(handler) {
  const server = createServer(handler);
  return new Promise((resolve) => {
    server.listen(0, "127.0.0.1", () => resolve(server));
  });
}
const urlOf = (server) => `http://127.0.0.1:${server.address().port}`;

// The stub keyward: the record for each key id (null: 404), the number of
// record requests per id, and a check of the records:read token. Its
// POST /verify keeps each body it gets and answers `verifyAnswer(body)`:
// by default VALID with the fields of the key's record, as keyward answers
// a metered key within its limits; "fail" is a 500.
const records = new Map();
const fetches = new Map();
const verifyCalls = [];
const acceptCentrally = (body) => {
  const record = records.get(keyId(body.key));
  return {
    valid: true,
    code: "VALID",
    key_id: record.key_id,
    application_id: record.application_id,
    account: record.account,
    scopes: record.scopes,
    expires_at: record.expires_at,
  };
};
let verifyAnswer = acceptCentrally;
let keyward;
// The stub origin: echoes what reached it.
let origin;
let workerd;
const ports = {};
let dir;

async function startWorkerd() {
  const binary = workerdBinary(await import("workerd"));
  dir = mkdtempSync(join(tmpdir(), "keyward-workerd-"));
  const rel = (path) => JSON.stringify(relative(dir, path));
  const web = join(pkgDir, "web");
  // Module names follow workerd's resolution: the worker imports the
  // package by name; the package's relative imports resolve against that
  // name ("@keyward/wasm-validator" + "./web/x" = "@keyward/web/x").
  const modules = [
    `(name = "worker.js", esModule = embed ${rel(join(root, "wasm-validator/examples/worker/src/index.js"))})`,
    `(name = "@keyward/wasm-validator", esModule = embed ${rel(join(pkgDir, "workerd.js"))})`,
  ];
  for (const file of readdirSync(web, { recursive: true })) {
    const name = JSON.stringify(`@keyward/web/${file}`);
    if (file.endsWith(".js")) modules.push(`(name = ${name}, esModule = embed ${rel(join(web, file))})`);
    if (file.endsWith(".wasm")) modules.push(`(name = ${name}, wasm = embed ${rel(join(web, file))})`);
  }
  const worker = (cacheSeconds) => `(
  modules = .modules,
  compatibilityDate = "2025-06-01",
  bindings = [
    (name = "KEYWARD_URL", text = ${JSON.stringify(urlOf(keyward))}),
    (name = "KEYWARD_RECORDS_TOKEN", text = ${JSON.stringify(TOKEN)}),
    (name = "ORIGIN_URL", text = ${JSON.stringify(urlOf(origin))}),
    (name = "RECORD_CACHE_SECONDS", text = "${cacheSeconds}"),
    (name = "SCOPES_BY_ROUTE", text = ${JSON.stringify(JSON.stringify(scopesByRoute))}),
  ],
  globalOutbound = "loopback",
)`;
  const config = `using Workerd = import "/workerd/workerd.capnp";

const config :Workerd.Config = (
  services = [
    (name = "edge", worker = .edge),
    (name = "edge-cached", worker = .edgeCached),
    (name = "loopback", network = (allow = ["local"])),
  ],
  sockets = [
    (name = "edge", address = "127.0.0.1:0", http = (), service = "edge"),
    (name = "edge-cached", address = "127.0.0.1:0", http = (), service = "edge-cached"),
  ],
);

const modules :List(Workerd.Worker.Module) = [
  ${modules.join(",\n  ")}
];

const edge :Workerd.Worker = ${worker(0)};
const edgeCached :Workerd.Worker = ${worker(1)};
`;
  const file = join(dir, "config.capnp");
  writeFileSync(file, config);
  workerd = await spawnWorkerd(binary, file, ["edge", "edge-cached"]);
  Object.assign(ports, workerd.ports);
}

before(async () => {
  keyward = await listen(async (req, res) => {
    if (req.method === "POST" && req.url === "/verify") {
      let text = "";
      for await (const chunk of req) text += chunk;
      const body = JSON.parse(text);
      verifyCalls.push(body);
      const answer = verifyAnswer(body);
      if (answer === "fail") return res.writeHead(500).end();
      return res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(answer));
    }
    const match = req.url.match(/^\/keys\/([^/]+)\/record$/);
    if (req.method !== "GET" || !match) return res.writeHead(404).end();
    if (req.headers.authorization !== `Bearer ${TOKEN}`) {
      return res.writeHead(401, { "content-type": "application/problem+json" }).end('{"code":"UNAUTHENTICATED"}');
    }
    const id = decodeURIComponent(match[1]);
    fetches.set(id, (fetches.get(id) ?? 0) + 1);
    const record = records.get(id);
    if (record === "fail") return res.writeHead(500).end();
    if (!record) {
      return res.writeHead(404, { "content-type": "application/problem+json" }).end('{"code":"KEY_NOT_FOUND"}');
    }
    res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(record));
  });
  origin = await listen((req, res) => {
    res.writeHead(200, { "content-type": "application/json" }).end(
      JSON.stringify({ reached: "origin", method: req.method, url: req.url, headers: req.headers }),
    );
  });
  await startWorkerd();
});

after(async () => {
  if (process.env.KEYWARD_WORKERD_LOG) console.log(workerd?.log());
  await workerd?.stop();
  keyward?.close();
  origin?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const call = (socket, authorization, path = "/v1/sims?x=1", sourceIp = undefined) => {
  const headers = authorization === undefined ? {} : { authorization };
  // What Cloudflare's edge sets to the client's address.
  if (sourceIp !== undefined) headers["cf-connecting-ip"] = sourceIp;
  return fetch(`http://127.0.0.1:${ports[socket]}${path}`, { headers });
};

// The Worker's status for a refusal.
const statusFor = (code) =>
  code === "IP_NOT_ALLOWED" ? 403 : code === "RATE_LIMITED" || code === "USAGE_EXCEEDED" ? 429 : 401;

// The Worker uses the real clock, the vectors a fixed one: move each
// vector's times by the difference. Times the vector has not reached yet
// get 30 s more, so they stay ahead while the test runs; times it has
// reached stay reached.
function shifted(vector) {
  if (!vector.record) return null;
  const delta = Math.floor(Date.now() / 1000) - vector.now;
  const move = (t) => (t == null ? t : t + delta + (t > vector.now ? 30 : 0));
  return { ...vector.record, expires_at: move(vector.record.expires_at), revoke_at: move(vector.record.revoke_at) };
}

// What can travel in an HTTP header: HTTP drops the white space around a
// value, and forbids line breaks and characters beyond Latin-1.
function asHeader(presented) {
  const value = presented.trim();
  return /^[\t\x20-\x7e\x80-\xff]*$/.test(value) ? value : null;
}

test("every vector through the Worker: valid keys reach the origin, bad ones get 401 with their code", async (t) => {
  for (const vector of vectors) {
    const header = asHeader(vector.presented);
    await t.test(vector.name, { skip: header === null && "not sendable as a header" }, async () => {
      const expected = camel(vector.expected);
      if (expected.keyId) records.set(expected.keyId, shifted(vector));
      const central = expected.code === "CENTRAL_CHECK_REQUIRED";
      const calls = verifyCalls.length;
      const response = await call("edge", header, pathFor(vector), vector.source_ip);
      const body = await response.json();
      // A metered key that passed the local checks is keyward's to accept
      // (the stub does), and no other key goes to POST /verify.
      assert.equal(verifyCalls.length, calls + (central ? 1 : 0), "POST /verify calls");
      if (central) {
        assert.deepStrictEqual(verifyCalls.at(-1), {
          key: header,
          scopes: vector.required_scopes,
          ...(vector.source_ip === undefined ? {} : { source_ip: vector.source_ip }),
          cost: 1,
        });
      }
      if (expected.valid || central) {
        assert.equal(response.status, 200, JSON.stringify(body));
        assert.equal(body.reached, "origin");
        assert.equal(body.url, pathFor(vector));
        assert.equal(body.headers.authorization, undefined, "the key stays at the edge");
        assert.equal(body.headers["x-keyward-key-id"], expected.keyId);
        assert.equal(body.headers["x-keyward-application-id"], expected.applicationId);
        assert.equal(body.headers["x-keyward-account"], expected.account);
        assert.equal(body.headers["x-keyward-scopes"], expected.scopes.join(" "));
      } else {
        assert.equal(response.status, statusFor(expected.code));
        assert.deepStrictEqual(body, { code: expected.code });
        if (response.status === 401) {
          assert.match(response.headers.get("www-authenticate"), /^Bearer error="invalid_token"/);
        }
      }
    });
  }
});

// A metered key whose vector the core answers CENTRAL_CHECK_REQUIRED, sent
// from its allowed address.
async function meteredCall(answer) {
  const vector = vectors.find((v) => v.name === "metered key from an allowed address");
  records.set(vector.expected.key_id, shifted(vector));
  verifyAnswer = answer;
  try {
    return await call("edge", vector.presented, "/v1/sims?x=1", vector.source_ip);
  } finally {
    verifyAnswer = acceptCentrally;
  }
}

test("a metered key over its limits: keyward's refusal, 429", async () => {
  for (const code of ["RATE_LIMITED", "USAGE_EXCEEDED"]) {
    const response = await meteredCall((body) => ({ ...acceptCentrally(body), valid: false, code }));
    assert.equal(response.status, 429, code);
    assert.deepStrictEqual(await response.json(), { code });
  }
});

test("keyward's POST /verify failing for a metered key: 503, fail closed", async () => {
  const response = await meteredCall(() => "fail");
  assert.equal(response.status, 503);
  assert.deepStrictEqual(await response.json(), { code: "VERIFY_UNAVAILABLE" });
});

test("no Authorization header: 401 MALFORMED, no record look-up", async () => {
  const before = [...fetches.values()].reduce((a, b) => a + b, 0);
  const response = await call("edge", undefined);
  assert.equal(response.status, 401);
  assert.deepStrictEqual(await response.json(), { code: "MALFORMED" });
  assert.equal([...fetches.values()].reduce((a, b) => a + b, 0), before);
});

test("keyward failing: 503, fail closed", async () => {
  const vector = vectors.find((v) => v.name === "valid default kw prefix");
  records.set(vector.expected.key_id, "fail");
  const response = await call("edge", vector.presented);
  assert.equal(response.status, 503);
  assert.deepStrictEqual(await response.json(), { code: "RECORD_UNAVAILABLE" });
});

test("the record cache (RECORD_CACHE_SECONDS=1): a revoke reaches the edge within the cache time", async () => {
  const vector = vectors.find((v) => v.name === "valid 16-character prefix");
  const id = vector.expected.key_id;
  records.set(id, shifted(vector));
  fetches.set(id, 0);
  const first = await call("edge-cached", `Bearer ${vector.presented}`);
  const fetchedAt = Date.now();
  assert.equal(first.status, 200);
  assert.equal(fetches.get(id), 1);

  // Revoked at keyward: the edge still has the active record.
  records.set(id, { ...shifted(vector), status: "revoked" });
  const cached = await call("edge-cached", `Bearer ${vector.presented}`);
  if (Date.now() - fetchedAt < 900) {
    assert.equal(cached.status, 200, "still the cached record");
    assert.equal(fetches.get(id), 1, "no second look-up within the cache time");
  }
  await cached.arrayBuffer();

  // After the cache time: fetched again, revoked.
  await new Promise((resolve) => setTimeout(resolve, Math.max(0, fetchedAt + 1100 - Date.now())));
  const later = await call("edge-cached", `Bearer ${vector.presented}`);
  assert.equal(later.status, 401);
  assert.deepStrictEqual(await later.json(), { code: "REVOKED" });
  assert.equal(fetches.get(id), 2);
});

test("the record cache keeps unknown keys too, and one look-up serves concurrent requests", async () => {
  const vector = vectors.find((v) => v.name === "valid all-zero id and secret");
  const id = vector.expected.key_id;
  records.delete(id);
  fetches.set(id, 0);
  const responses = await Promise.all(Array.from({ length: 5 }, () => call("edge-cached", vector.presented)));
  for (const response of responses) {
    assert.equal(response.status, 401);
    assert.deepStrictEqual(await response.json(), { code: "NOT_FOUND" });
  }
  assert.equal(fetches.get(id), 1);
});
