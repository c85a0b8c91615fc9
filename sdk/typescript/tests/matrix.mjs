// The verdict matrix every middleware runs, in both modes, against a live
// `keyward serve`: one key in each state keyward can put a key in, made
// through the SDK's own client in an account of its own (metered keys
// spend their limits, so each run gets fresh ones), then a request per
// verdict code through the framework, checked for status, problem body and
// headers, and, when accepted, for the verdict the route saw.

import assert from "node:assert/strict";
import { createKeywardClient, unwrap } from "@keyward/sdk";
import { answer, sleep, vector } from "./support.mjs";

/** The routes each test app has: /sims needs sims:read, /billing needs billing:write. */
export const ROUTES = { sims: ["sims:read"], billing: ["billing:write"] };

/**
 * Keys in every state, in a new account. Answers { records, keys, expiresAt }:
 * `records` is a records:read token for local mode, `keys` the secrets by
 * state, `expiresAt` when the expiring key expires (ms).
 */
export async function makeFixtures(keyward, account) {
  const admin = createKeywardClient({ baseUrl: keyward.url, token: await keyward.token("admin", account, "sims:* billing:read") });
  const leaver = createKeywardClient({ baseUrl: keyward.url, token: await keyward.token("leaver", account, "sims:* billing:read") });
  const records = await keyward.token("edge", account, "records:read", { all: false });

  const app = await unwrap(admin.POST("/applications", { body: { name: "matrix" } }));
  const metering = await unwrap(admin.POST("/applications", { body: { name: "metered" } }));
  const doomed = await unwrap(admin.POST("/applications", { body: { name: "doomed" } }));
  const orphaned = await unwrap(leaver.POST("/applications", { body: { name: "orphaned" } }));
  const create = (client, application, name, extra = {}) =>
    unwrap(
      client.POST("/applications/{id}/keys", {
        params: { path: { id: application.id } },
        body: { name, scopes: ["sims:read", "billing:read"], ...extra },
      }),
    );
  const expiresAt = Math.ceil((Date.now() + 2_500) / 1000) * 1000;
  const made = {
    valid: await create(admin, app, "valid"),
    disabled: await create(admin, app, "disabled"),
    revoked: await create(admin, app, "revoked"),
    expired: await create(admin, app, "expiring", { expires_at: new Date(expiresAt).toISOString() }),
    ipAllowed: await create(admin, app, "ip-allowed", { allowed_ips: ["127.0.0.1", "::1"] }),
    ipDenied: await create(admin, app, "ip-denied", { allowed_ips: ["192.0.2.0/24"] }),
    metered: await create(admin, metering, "metered", { credits: { remaining: 1000 } }),
    rateLimited: await create(admin, metering, "rate-limited", {
      rate_limits: [{ name: "daily", limit: 1, window_seconds: 86_400 }],
    }),
    usageExceeded: await create(admin, metering, "usage-exceeded", { credits: { remaining: 1 } }),
    applicationRevoked: await create(admin, doomed, "doomed"),
    ownerDeleted: await create(leaver, orphaned, "orphaned"),
  };
  const path = (key) => ({ params: { path: { id: key.key.id } } });
  await unwrap(admin.POST("/keys/{id}/disable", path(made.disabled)));
  await unwrap(admin.POST("/keys/{id}/revoke", path(made.revoked)));
  await unwrap(admin.POST("/applications/{id}/revoke", { params: { path: { id: doomed.id } } }));
  await unwrap(admin.DELETE("/users/{id}", { params: { path: { id: "leaver" } } }));
  const keys = Object.fromEntries(Object.entries(made).map(([name, created]) => [name, created.secret]));
  return { records, keys, made, account, expiresAt };
}

/** The assertions for a refusal: status, problem body and headers. */
export function assertRefusal(got, status, code, what) {
  assert.equal(got.status, status, `${what}: status (${JSON.stringify(got.body)})`);
  assert.equal(got.headers.get("content-type"), "application/problem+json", `${what}: content type`);
  assert.equal(got.headers.get("cache-control"), "no-store", `${what}: cache-control`);
  assert.deepEqual(
    got.body,
    {
      type: `urn:keyward:problem:${code.toLowerCase().replace(/_/g, "-")}`,
      title: { 401: "Unauthorized", 403: "Forbidden", 429: "Too Many Requests", 503: "Service Unavailable" }[status],
      status,
      detail: got.body.detail,
      code,
    },
    `${what}: the problem`,
  );
  assert.equal(typeof got.body.detail, "string");
  assert.equal(got.headers.get("www-authenticate"), status === 401 ? "Bearer" : null, `${what}: WWW-Authenticate`);
}

/**
 * Runs every verdict code through `call(route, authorization, sourceIp)`,
 * which answers the fetch Response of the app under test. The app answers
 * an accepted request with `{ verdict }`, the verdict the middleware set.
 */
export async function runMatrix(t, fixtures, call) {
  const { keys, made, account } = fixtures;
  const get = async (route, authorization, sourceIp) => answer(await call(route, authorization, sourceIp));
  const accepted = (got, created, what) => {
    assert.equal(got.status, 200, `${what}: ${JSON.stringify(got.body)}`);
    const { verdict } = got.body;
    assert.equal(verdict.valid, true);
    assert.equal(verdict.code, "VALID");
    assert.equal(verdict.key_id, created.key.id, `${what}: key_id`);
    assert.equal(verdict.application_id, created.key.application_id, `${what}: application_id`);
    assert.equal(verdict.account, account, `${what}: account`);
    assert.deepEqual(verdict.scopes, ["billing:read", "sims:read"], `${what}: scopes`);
    assert.equal(verdict.expires_at, Math.floor(Date.parse(created.key.expires_at) / 1000), `${what}: expires_at`);
    return verdict;
  };
  const refused = async (route, authorization, status, code, sourceIp) => {
    const got = await get(route, authorization, sourceIp);
    assertRefusal(got, status, code, `${code} (${route})`);
    return got;
  };

  await t.test("VALID: a bare key and a Bearer value reach the route with the verdict", async () => {
    accepted(await get("sims", keys.valid), made.valid, "bare");
    accepted(await get("sims", `Bearer ${keys.valid}`), made.valid, "Bearer");
  });
  await t.test("MALFORMED: no Authorization, not a key, a typo: 401", async () => {
    await refused("sims", undefined, 401, "MALFORMED");
    await refused("sims", "Bearer not-a-key", 401, "MALFORMED");
    await refused("sims", `${keys.valid.slice(0, -1)}${keys.valid.endsWith("A") ? "B" : "A"}`, 401, "MALFORMED");
  });
  await t.test("NOT_FOUND: a well-formed key keyward never issued: 401", async () => {
    await refused("sims", vector("unknown key id (no record)").presented, 401, "NOT_FOUND");
  });
  for (const [state, code] of [
    ["disabled", "DISABLED"],
    ["revoked", "REVOKED"],
    ["applicationRevoked", "APPLICATION_REVOKED"],
    ["ownerDeleted", "OWNER_DELETED"],
  ]) {
    await t.test(`${code}: 401`, () => refused("sims", keys[state], 401, code));
  }
  await t.test("EXPIRED: 401 once expires_at is reached", async () => {
    await sleep(fixtures.expiresAt + 50 - Date.now());
    await refused("sims", keys.expired, 401, "EXPIRED");
  });
  await t.test("INSUFFICIENT_SCOPE: a route needing a scope the key lacks: 403", () =>
    refused("billing", keys.valid, 403, "INSUFFICIENT_SCOPE"),
  );
  await t.test("IP_NOT_ALLOWED: 403 from outside allowed_ips; from inside, accepted", async () => {
    await refused("sims", keys.ipDenied, 403, "IP_NOT_ALLOWED", "127.0.0.1");
    accepted(await get("sims", keys.ipAllowed, "127.0.0.1"), made.ipAllowed, "from 127.0.0.1");
  });
  await t.test("a metered key: keyward accepts and debits it, the verdict carries the balance", async () => {
    const verdict = accepted(await get("sims", keys.metered), made.metered, "metered");
    assert.equal(verdict.credits_remaining, 999);
  });
  await t.test("RATE_LIMITED: 429 with Retry-After once the window is full", async () => {
    accepted(await get("sims", keys.rateLimited), made.rateLimited, "the first call");
    const got = await refused("sims", keys.rateLimited, 429, "RATE_LIMITED");
    const retry = Number(got.headers.get("retry-after"));
    assert.ok(Number.isInteger(retry) && retry >= 1 && retry <= 86_400, `Retry-After ${retry}`);
  });
  await t.test("USAGE_EXCEEDED: 429 once the credits are spent", async () => {
    accepted(await get("sims", keys.usageExceeded), made.usageExceeded, "the first call");
    const got = await refused("sims", keys.usageExceeded, 429, "USAGE_EXCEEDED");
    assert.equal(got.headers.get("retry-after"), null, "no window to wait for");
  });
}
