// The Hono middleware on Node (@hono/node-server) and the Express
// middleware, each in remote and local mode, against a live keyward serve:
// every verdict code (tests/matrix.mjs), then failing closed when keyward
// is unreachable or slow, a configuration mistake surfacing as a 500, and
// the source address each framework reads.

import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { remoteVerifier } from "@keyward/sdk";
import { localVerifier } from "@keyward/sdk/local";
import { serveApp } from "./apps.mjs";
import { assertRefusal, makeFixtures, runMatrix } from "./matrix.mjs";
import { answer, deadUrl, fetchWithin, listen, startKeyward, underGcPressure, vector } from "./support.mjs";

// A well-formed key keyward never issued: keyward must be asked about it.
const UNKNOWN = vector("unknown key id (no record)").presented;

const runs = ["hono", "express"].flatMap((framework) => ["remote", "local"].map((mode) => ({ framework, mode })));

let keyward;
// Keys in every state for each run (metered keys spend their limits), and
// for the tests that spend nothing. Made at once, so the expiring keys of
// all of them expire together.
const fixtures = {};
before(async () => {
  keyward = await startKeyward();
  const names = [...runs.map(({ framework, mode }) => `${framework}-${mode}`), "shared"];
  const made = await Promise.all(names.map((name) => makeFixtures(keyward, `acct-${name}`)));
  names.forEach((name, i) => (fixtures[name] = made[i]));
});
after(() => keyward?.stop());

const makeVerifier = (mode, baseUrl, records, extra = {}) =>
  mode === "remote"
    ? remoteVerifier({ baseUrl, ...extra })
    : localVerifier({ baseUrl, token: records, cache: { ttlMs: 60_000 }, ...extra });

const call = (url) => (route, authorization, _sourceIp, headers = {}) =>
  fetchWithin(`${url}/${route}`, { headers: authorization === undefined ? headers : { ...headers, authorization } });

for (const { framework, mode } of runs) {
  test(`${framework} on Node, ${mode} mode: every verdict code`, async (t) => {
      const own = fixtures[`${framework}-${mode}`];
      const verifier = makeVerifier(mode, keyward.url, own.records);
      const app = await serveApp(framework, verifier);
      try {
        await runMatrix(t, own, call(app.url));
      } finally {
        await app.close();
      }
      const stats = verifier.stats();
      if (mode === "local") {
        // Each key's record was fetched once; the rest were cache hits.
        assert.ok(stats.cacheHits > 0, JSON.stringify(stats));
        assert.equal(stats.recordFetches, stats.cacheMisses - stats.sharedFetches);
        // Metered keys only: the metered one, and two calls each for the rate-limited and the spent one.
        assert.equal(stats.verifyCalls, 5, JSON.stringify(stats));
      } else {
        // One POST /verify per request that carried something (every request but the one without Authorization).
        assert.equal(stats.verifyCalls, stats.checks - 1, JSON.stringify(stats));
      }
      assert.equal(stats.unavailable, 0);
    });

    test(`${framework} on Node, ${mode} mode: keyward unreachable: 503 KEYWARD_UNAVAILABLE, never let through`, async () => {
      const verifier = makeVerifier(mode, await deadUrl(), "token");
      const app = await serveApp(framework, verifier);
      try {
        for (let i = 0; i < 2; i++) {
          const got = await answer(await call(app.url)("sims", UNKNOWN));
          assertRefusal(got, 503, "KEYWARD_UNAVAILABLE", `unreachable, try ${i + 1}`);
        }
      } finally {
        await app.close();
      }
      // Both tries asked: a failure is not cached.
      const stats = verifier.stats();
      assert.equal(stats.unavailable, 2);
      if (mode === "local") assert.equal(stats.recordFetches, 2);
    });

    test(`${framework} on Node, ${mode} mode: keyward slower than the timeout: 503 at the timeout`, async () => {
      const waiting = [];
      const slow = await listen((req, res) => waiting.push(res));
      const verifier = makeVerifier(mode, slow.url, "token", { timeoutMs: 300 });
      const app = await serveApp(framework, verifier);
      try {
        const started = Date.now();
        const got = await underGcPressure(async () => answer(await call(app.url)("sims", UNKNOWN)));
        const took = Date.now() - started;
        assertRefusal(got, 503, "KEYWARD_UNAVAILABLE", "slow");
        assert.ok(took >= 280 && took < 2_000, `answered after ${took} ms`);
        assert.equal(waiting.length, 1, "keyward was asked");
      } finally {
        await app.close();
        await slow.close();
      }
    });

    test(`${framework} on Node, ${mode} mode: a required scope outside the grammar is a 500, not a verdict`, async () => {
      const { records, keys } = fixtures.shared;
      const verifier = makeVerifier(mode, keyward.url, records);
      const app = await serveApp(framework, verifier, { options: { scopes: ["Not A Scope"] } });
      try {
        const got = await answer(await call(app.url)("sims", keys.valid));
        assert.deepEqual([got.status, got.body], [500, { error: "INVALID_SCOPE" }]);
      } finally {
        await app.close();
      }
    });
}

test("express: the source address is req.ip, so trust proxy applies", async () => {
  const { records, keys } = fixtures.shared;
  for (const mode of ["remote", "local"]) {
    const verifier = makeVerifier(mode, keyward.url, records);
    const app = await serveApp("express", verifier, { configure: (a) => a.set("trust proxy", "loopback") });
    try {
      const forwarded = { "x-forwarded-for": "192.0.2.7" };
      const inside = await answer(await call(app.url)("sims", keys.ipDenied, undefined, forwarded));
      assert.equal(inside.status, 200, `${mode}: 192.0.2.7 is inside 192.0.2.0/24`);
      const outside = await answer(await call(app.url)("sims", keys.ipAllowed, undefined, forwarded));
      assertRefusal(outside, 403, "IP_NOT_ALLOWED", `${mode}: 192.0.2.7 is not 127.0.0.1`);
    } finally {
      await app.close();
    }
  }
});

test("hono: a sourceIp option replaces the socket's address", async () => {
  const { records, keys } = fixtures.shared;
  for (const mode of ["remote", "local"]) {
    const verifier = makeVerifier(mode, keyward.url, records);
    const app = await serveApp("hono", verifier, { options: { sourceIp: (c) => c.req.header("x-real-ip") } });
    try {
      const got = await answer(await call(app.url)("sims", keys.ipDenied, undefined, { "x-real-ip": "192.0.2.9" }));
      assert.equal(got.status, 200, `${mode}: ${JSON.stringify(got.body)}`);
      const none = await answer(await call(app.url)("sims", keys.ipDenied));
      assertRefusal(none, 403, "IP_NOT_ALLOWED", `${mode}: no address`);
      const unrestricted = await answer(await call(app.url)("sims", keys.valid, undefined, { "x-real-ip": "not an address" }));
      assert.equal(unrestricted.status, 200, `${mode}: a key without allowed_ips ignores the address`);
    } finally {
      await app.close();
    }
  }
});
