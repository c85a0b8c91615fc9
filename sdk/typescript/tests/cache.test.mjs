// Local mode's record cache, through the verifier the middleware uses,
// against a stand-in keyward on loopback that counts its record fetches
// and can be slow, fail or change a record (records and keys from the
// shared verdict vectors): single flight, TTL, negative caching, failures
// never cached, the size bound, and metered keys going to POST /verify.
// Then a revocation in a live keyward seen once the TTL has run out.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { createKeywardClient, unwrap } from "@keyward/sdk";
import { localVerifier } from "@keyward/sdk/local";
import { listen, sleep, startKeyward, vector } from "./support.mjs";

const TOKEN = "records-read-token";
// Valid keys with their records, their expiry moved an hour ahead.
const keyOf = (name) => {
  const v = vector(name);
  return { presented: v.presented, id: v.record.key_id, record: { ...v.record, expires_at: Math.floor(Date.now() / 1000) + 3600 } };
};
const A = keyOf("valid bare key");
const B = keyOf("valid default kw prefix");
const C = keyOf("valid 16-character prefix");
const METERED = { ...keyOf("metered key from an allowed address"), sourceIp: vector("metered key from an allowed address").source_ip };

// The stand-in: `records` maps a key id to its record, or to "fail" (500)
// or "route" (a 404 that is not KEY_NOT_FOUND); a missing id is a 404
// KEY_NOT_FOUND. `delayMs` delays each record answer.
const stub = { records: new Map(), fetches: new Map(), delayMs: 0, verifies: [], verifyAnswer: null };
let server;
before(async () => {
  server = await listen(async (req, res) => {
    const json = (status, body, type = "application/json") =>
      res.writeHead(status, { "content-type": type }).end(JSON.stringify(body));
    if (req.method === "POST" && req.url === "/verify") {
      let text = "";
      for await (const chunk of req) text += chunk;
      stub.verifies.push(JSON.parse(text));
      return stub.verifyAnswer ? json(200, stub.verifyAnswer) : res.writeHead(500).end();
    }
    const match = req.url.match(/^\/keys\/([^/]+)\/record$/);
    if (!match) return json(404, { code: "ROUTE_NOT_FOUND", status: 404 }, "application/problem+json");
    if (req.headers.authorization !== `Bearer ${TOKEN}`) return json(401, { code: "TOKEN_INVALID", status: 401 }, "application/problem+json");
    const id = match[1];
    stub.fetches.set(id, (stub.fetches.get(id) ?? 0) + 1);
    if (stub.delayMs) await sleep(stub.delayMs);
    const record = stub.records.get(id);
    if (record === "fail") return res.writeHead(500).end();
    if (record === "route") return json(404, { code: "ROUTE_NOT_FOUND", status: 404 }, "application/problem+json");
    if (!record) return json(404, { code: "KEY_NOT_FOUND", status: 404 }, "application/problem+json");
    return json(200, record);
  });
});
after(() => server.close());

function fresh(cache, extra = {}) {
  stub.records.clear();
  stub.fetches.clear();
  stub.delayMs = 0;
  stub.verifies = [];
  stub.verifyAnswer = null;
  return localVerifier({ baseUrl: server.url, token: TOKEN, cache, ...extra });
}
const check = (verifier, key, more = {}) => verifier.check({ authorization: key.presented, ...more });

test("single flight: 1,000 concurrent requests for one uncached key make one record fetch", async () => {
  const verifier = fresh({ ttlMs: 60_000 });
  stub.records.set(A.id, A.record);
  stub.delayMs = 50;
  const outcomes = await Promise.all(Array.from({ length: 1000 }, () => check(verifier, A)));
  assert.ok(outcomes.every((o) => o.ok && o.verdict.key_id === A.id));
  assert.equal(stub.fetches.get(A.id), 1, "fetches counted at the record endpoint");
  const stats = verifier.stats();
  assert.deepEqual(
    [stats.cacheMisses, stats.recordFetches, stats.sharedFetches, stats.cacheHits],
    [1000, 1, 999, 0],
  );
  // Then all cached: no fetch.
  await Promise.all(Array.from({ length: 1000 }, () => check(verifier, A)));
  assert.equal(stub.fetches.get(A.id), 1);
  assert.equal(verifier.stats().cacheHits, 1000);
});

test("single flight of a failure: every waiting request gets 503, and nothing is cached", async () => {
  const verifier = fresh({ ttlMs: 60_000 });
  stub.records.set(A.id, "fail");
  stub.delayMs = 30;
  const outcomes = await Promise.all(Array.from({ length: 50 }, () => check(verifier, A)));
  assert.ok(outcomes.every((o) => !o.ok && o.status === 503 && o.code === "KEYWARD_UNAVAILABLE"));
  assert.equal(stub.fetches.get(A.id), 1);
  // keyward is back: the next request fetches and is accepted.
  stub.records.set(A.id, A.record);
  assert.equal((await check(verifier, A)).ok, true);
  assert.equal(stub.fetches.get(A.id), 2);
  assert.equal(verifier.stats().unavailable, 50);
});

test("TTL: the record is used until its TTL, then fetched again (a revoke is seen then)", async () => {
  const verifier = fresh({ ttlMs: 400 });
  stub.records.set(A.id, A.record);
  const fetchedAt = Date.now();
  assert.equal((await check(verifier, A)).ok, true);
  stub.records.set(A.id, { ...A.record, status: "revoked" });
  const cached = await check(verifier, A);
  if (Date.now() - fetchedAt < 350) {
    assert.equal(cached.ok, true, "within the TTL: the cached record");
    assert.equal(stub.fetches.get(A.id), 1);
  }
  await sleep(fetchedAt + 450 - Date.now());
  const later = await check(verifier, A);
  assert.deepEqual([later.ok, later.status, later.code], [false, 401, "REVOKED"]);
  assert.equal(stub.fetches.get(A.id), 2);
});

test("TTL counts from the request that fetched: a slow answer is not kept longer", async () => {
  const verifier = fresh({ ttlMs: 300 });
  stub.records.set(A.id, A.record);
  stub.delayMs = 200;
  const started = Date.now();
  await check(verifier, A);
  stub.delayMs = 0;
  // 300 ms after the request began (about 100 ms after the answer) the entry is gone.
  await sleep(started + 320 - Date.now());
  await check(verifier, A);
  assert.equal(stub.fetches.get(A.id), 2);
});

test("ttlMs 0: every request fetches (concurrent ones still share)", async () => {
  const verifier = fresh({ ttlMs: 0 });
  stub.records.set(A.id, A.record);
  for (let i = 0; i < 3; i++) assert.equal((await check(verifier, A)).ok, true);
  assert.equal(stub.fetches.get(A.id), 3);
});

test("negative caching: an unknown id is NOT_FOUND for negativeTtlMs, then asked again", async () => {
  const verifier = fresh({ ttlMs: 60_000, negativeTtlMs: 300 });
  const started = Date.now();
  for (let i = 0; i < 5; i++) {
    const outcome = await check(verifier, A);
    assert.deepEqual([outcome.ok, outcome.status, outcome.code, outcome.verdict.key_id], [false, 401, "NOT_FOUND", A.id]);
  }
  if (Date.now() - started < 250) assert.equal(stub.fetches.get(A.id), 1, "one fetch for five requests");
  // The key is created in keyward: found once the negative entry is gone.
  stub.records.set(A.id, A.record);
  await sleep(started + 350 - Date.now());
  assert.equal((await check(verifier, A)).ok, true);
});

test("a 404 that is not KEY_NOT_FOUND (a wrong base URL) is a 503, not an unknown key", async () => {
  const verifier = fresh({});
  stub.records.set(A.id, "route");
  const outcome = await check(verifier, A);
  assert.deepEqual([outcome.status, outcome.code], [503, "KEYWARD_UNAVAILABLE"]);
  const wrongBase = localVerifier({ baseUrl: `${server.url}/not-keyward`, token: TOKEN });
  assert.equal((await check(wrongBase, A)).status, 503);
});

test("a record the validator cannot read is a 503, and is not cached", async () => {
  const verifier = fresh({});
  stub.records.set(A.id, { ...A.record, status: "frozen" });
  assert.equal((await check(verifier, A)).status, 503);
  stub.records.set(A.id, A.record);
  assert.equal((await check(verifier, A)).ok, true);
  assert.equal(stub.fetches.get(A.id), 2);
});

test("the token is sent, and a token function is asked for each fetch", async () => {
  let asked = 0;
  const verifier = fresh({ ttlMs: 0 }, { token: async () => (asked++, TOKEN) });
  stub.records.set(A.id, A.record);
  assert.equal((await check(verifier, A)).ok, true);
  assert.equal((await check(verifier, A)).ok, true);
  assert.equal(asked, 2);
  const wrong = localVerifier({ baseUrl: server.url, token: "another token" });
  assert.equal((await check(wrong, A)).status, 503, "keyward's 401 to the SDK is no verdict on the key");
});

test("maxEntries: the oldest record is dropped first and fetched again when asked", async () => {
  const verifier = fresh({ ttlMs: 60_000, maxEntries: 2 });
  for (const key of [A, B, C]) stub.records.set(key.id, key.record);
  for (const key of [A, B, C]) assert.equal((await check(verifier, key)).ok, true);
  assert.equal(verifier.stats().evictions, 1);
  assert.equal((await check(verifier, C)).ok, true);
  assert.equal((await check(verifier, B)).ok, true);
  assert.equal((await check(verifier, A)).ok, true);
  assert.deepEqual([A, B, C].map((k) => stub.fetches.get(k.id)), [2, 1, 1]);
  // Many more keys than entries, each used at once after its fetch (and
  // its prepared record freed after eviction): every verdict still right.
  await sleep(5);
  for (let round = 0; round < 20; round++) {
    const outcomes = await Promise.all([A, B, C].map((key) => check(verifier, key)));
    assert.ok(outcomes.every((o, i) => o.ok && o.verdict.key_id === [A, B, C][i].id), JSON.stringify(outcomes));
  }
});

test("clear() drops every record", async () => {
  const verifier = fresh({ ttlMs: 60_000 });
  stub.records.set(A.id, A.record);
  await check(verifier, A);
  verifier.clear();
  await check(verifier, A);
  assert.equal(stub.fetches.get(A.id), 2);
});

test("a metered key: the cached record's checks, then POST /verify with the request's key, scopes, address and cost", async () => {
  const verifier = fresh({ ttlMs: 60_000 });
  stub.records.set(METERED.id, METERED.record);
  const { record } = METERED;
  stub.verifyAnswer = {
    valid: true, code: "VALID", key_id: record.key_id, application_id: record.application_id,
    account: record.account, scopes: record.scopes, expires_at: record.expires_at, credits_remaining: 41,
  };
  const request = { scopes: ["sims:read"], sourceIp: METERED.sourceIp, cost: 3 };
  const outcome = await check(verifier, METERED, request);
  assert.equal(outcome.ok, true);
  assert.equal(outcome.verdict.credits_remaining, 41);
  assert.deepEqual(stub.verifies, [{ key: METERED.presented, scopes: ["sims:read"], source_ip: METERED.sourceIp, cost: 3 }]);
  // From a wrong address the record refuses it locally: keyward's limits are not touched.
  const outside = await check(verifier, METERED, { ...request, sourceIp: "198.51.100.1" });
  assert.deepEqual([outside.status, outside.code], [403, "IP_NOT_ALLOWED"]);
  assert.equal(stub.verifies.length, 1);
  // POST /verify failing: 503, never let through.
  stub.verifyAnswer = null;
  const failing = await check(verifier, METERED, request);
  assert.deepEqual([failing.status, failing.code], [503, "KEYWARD_UNAVAILABLE"]);
  assert.equal(stub.fetches.get(METERED.id), 1, "the record stayed cached");
});

test("a live keyward: a revoke is seen once the TTL has run out, never before it is fetched again", async () => {
  const keyward = await startKeyward();
  try {
    const admin = createKeywardClient({ baseUrl: keyward.url, token: await keyward.token("admin", "acct-ttl", "sims:*") });
    const app = await unwrap(admin.POST("/applications", { body: { name: "ttl" } }));
    const created = await unwrap(admin.POST("/applications/{id}/keys", { params: { path: { id: app.id } }, body: { name: "ttl" } }));
    const records = await keyward.token("edge", "acct-ttl", "records:read", { all: false });
    const verifier = localVerifier({ baseUrl: keyward.url, token: records, cache: { ttlMs: 700 } });
    const key = { presented: created.secret };
    const fetchedAt = Date.now();
    assert.equal((await check(verifier, key)).ok, true);
    await unwrap(admin.POST("/keys/{id}/revoke", { params: { path: { id: created.key.id } } }));
    const cached = await check(verifier, key);
    if (Date.now() - fetchedAt < 650) assert.equal(cached.ok, true, "within the TTL the cached record still accepts it");
    await sleep(fetchedAt + 750 - Date.now());
    const after = await check(verifier, key);
    assert.deepEqual([after.ok, after.status, after.code], [false, 401, "REVOKED"]);
    assert.equal(verifier.stats().recordFetches, 2);
  } finally {
    await keyward.stop();
  }
});
