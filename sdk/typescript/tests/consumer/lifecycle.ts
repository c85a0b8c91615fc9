// Every route of keyward's API through @keyward/sdk's typed client, as a
// user's project would call them: compiled by tsc --strict (so every path,
// parameter, body and answer is checked against the types generated from
// infra/openapi.yaml), then run against a live `keyward serve`.
//
// Usage: node lifecycle.js BASE_URL ADMIN_TOKEN LEAVER_TOKEN HOOK_URL
// (consumer.test.mjs compiles and runs it). Any mismatch throws, and the
// process exits non-zero.

import assert from "node:assert/strict";
import { KeywardApiError, createKeywardClient, unwrap, verify } from "@keyward/sdk";
import type { Schemas } from "@keyward/sdk";

const [baseUrl, adminToken, leaverToken, hookUrl] = process.argv.slice(2) as [string, string, string, string];

async function expectProblem(call: Promise<unknown>, status: number, code: string): Promise<KeywardApiError> {
  try {
    await call;
  } catch (error) {
    assert.ok(error instanceof KeywardApiError, `${code}: a KeywardApiError, got ${String(error)}`);
    assert.equal(error.status, status, `${code}: status`);
    assert.equal(error.code, code);
    assert.equal(error.problem?.type, `urn:keyward:problem:${code.toLowerCase().replace(/_/g, "-")}`);
    return error;
  }
  throw new Error(`expected ${status} ${code}, and the call succeeded`);
}

async function main(): Promise<void> {
  const anonymous = createKeywardClient({ baseUrl });
  // A token function, as a deployment that rotates its token gives it.
  let asked = 0;
  const admin = createKeywardClient({ baseUrl, token: () => (asked++, adminToken) });
  const leaver = createKeywardClient({ baseUrl, token: leaverToken, timeoutMs: 5_000 });

  // The service's own routes.
  const health = await anonymous.GET("/healthz");
  assert.equal(health.response.status, 200);
  const document = await unwrap(anonymous.GET("/openapi.json"));
  assert.equal((document as { openapi?: string }).openapi?.startsWith("3.1"), true);

  // Applications: create (idempotently), list, page, read, rename, revoke.
  const create = () =>
    unwrap(
      admin.POST("/applications", {
        params: { header: { "Idempotency-Key": "lifecycle-app" } },
        body: { name: "lifecycle", description: "through @keyward/sdk", key_prefix: "life" },
      }),
    );
  const app: Schemas["Application"] = await create();
  assert.equal((await create()).id, app.id, "a retry with the same Idempotency-Key creates nothing twice");
  assert.equal(app.key_prefix, "life");
  const second = await unwrap(admin.POST("/applications", { body: { name: "second" } }));
  const page1 = await unwrap(admin.GET("/applications", { params: { query: { limit: 1 } } }));
  assert.equal(page1.items.length, 1);
  assert.ok(page1.next_cursor, "a second page");
  const page2 = await unwrap(admin.GET("/applications", { params: { query: { limit: 1, cursor: page1.next_cursor } } }));
  assert.deepEqual(new Set([...page1.items, ...page2.items].map((a) => a.id)), new Set([app.id, second.id]));
  const renamed = await unwrap(
    admin.PATCH("/applications/{id}", { params: { path: { id: app.id } }, body: { name: "lifecycle-renamed" } }),
  );
  assert.equal(renamed.name, "lifecycle-renamed");
  assert.equal((await unwrap(admin.GET("/applications/{id}", { params: { path: { id: app.id } } }))).name, "lifecycle-renamed");

  // Keys: create, list, read, update, disable, enable, record, verify, regenerate, revoke, delete.
  const created = await unwrap(
    admin.POST("/applications/{id}/keys", {
      params: { path: { id: app.id } },
      body: { name: "ci", scopes: ["sims:read"], allowed_ips: ["127.0.0.0/8"], credits: { remaining: 10 } },
    }),
  );
  const key: Schemas["Key"] = created.key;
  assert.ok(created.secret.startsWith(`life_${key.id}`));
  assert.equal(key.status, "active");
  const keys = await unwrap(admin.GET("/applications/{id}/keys", { params: { path: { id: app.id } } }));
  assert.deepEqual(keys.items.map((k) => k.id), [key.id]);
  const byId = { params: { path: { id: key.id } } };
  assert.equal((await unwrap(admin.GET("/keys/{id}", byId))).name, "ci");
  const described = await unwrap(admin.PATCH("/keys/{id}", { ...byId, body: { description: "the CI key" } }));
  assert.equal(described.description, "the CI key");

  const record: Schemas["KeyRecord"] = await unwrap(admin.GET("/keys/{id}/record", byId));
  assert.equal(record.key_id, key.id);
  assert.equal(record.metered, true);
  assert.deepEqual(record.allowed_ips, ["127.0.0.0/8"]);

  const verdict = await verify({ baseUrl, key: created.secret, scopes: ["sims:read"], source_ip: "127.0.0.1", cost: 2 });
  assert.deepEqual([verdict.valid, verdict.code, verdict.key_id, verdict.credits_remaining], [true, "VALID", key.id, 8]);
  const outside = await verify({ baseUrl, key: created.secret, source_ip: "192.0.2.1" });
  assert.equal(outside.code, "IP_NOT_ALLOWED");

  assert.equal((await unwrap(admin.POST("/keys/{id}/disable", byId))).status, "disabled");
  assert.equal((await verify({ baseUrl, key: created.secret, source_ip: "127.0.0.1" })).code, "DISABLED");
  assert.equal((await unwrap(admin.POST("/keys/{id}/enable", byId))).status, "active");

  const regenerated = await unwrap(admin.POST("/keys/{id}/regenerate", { ...byId, body: { grace_seconds: 60 } }));
  assert.notEqual(regenerated.key.id, key.id);
  assert.equal(regenerated.key.replaces, key.id);
  const old = await unwrap(admin.GET("/keys/{id}", byId));
  assert.equal(old.replaced_by, regenerated.key.id);
  assert.equal((await unwrap(admin.POST("/keys/{id}/revoke", byId))).status, "revoked");
  assert.equal((await verify({ baseUrl, key: created.secret, source_ip: "127.0.0.1" })).code, "REVOKED");
  const deleted = await unwrap(admin.DELETE("/keys/{id}", { params: { path: { id: regenerated.key.id } } }));
  assert.equal(deleted.status, "revoked");

  // A leak report needs no token.
  const leakedKey = await unwrap(admin.POST("/applications/{id}/keys", { params: { path: { id: app.id } }, body: { name: "leaky" } }));
  const report = await unwrap(
    anonymous.POST("/keys/leaked", { body: { keys: [leakedKey.secret], url: "https://example.com/paste" } }),
  );
  assert.equal(report.received, 1);
  const leaked = await unwrap(admin.GET("/keys/{id}", { params: { path: { id: leakedKey.key.id } } }));
  assert.ok(leaked.leak, "the key carries its leak");

  // Webhooks: create, list, read, update, deliveries, delete.
  const hook = await unwrap(admin.POST("/webhooks", { body: { url: hookUrl, events: ["key.created"] } }));
  assert.ok(hook.secret.startsWith("whsec_"));
  const hookId = { params: { path: { id: hook.webhook.id } } };
  assert.deepEqual((await unwrap(admin.GET("/webhooks"))).items.map((w) => w.id), [hook.webhook.id]);
  assert.equal((await unwrap(admin.GET("/webhooks/{id}", hookId))).url, hookUrl);
  const described2 = await unwrap(admin.PATCH("/webhooks/{id}", { ...hookId, body: { description: "the hook" } }));
  assert.equal(described2.description, "the hook");
  await unwrap(admin.POST("/applications/{id}/keys", { params: { path: { id: second.id } }, body: { name: "hooked" } }));
  let deliveries: Schemas["Delivery"][] = [];
  for (let i = 0; i < 50 && !deliveries.some((d) => d.status === "delivered"); i++) {
    await new Promise((done) => setTimeout(done, 100));
    deliveries = (await unwrap(admin.GET("/webhooks/{id}/deliveries", hookId))).items;
  }
  assert.ok(deliveries.some((d) => d.event_type === "key.created" && d.status === "delivered"), JSON.stringify(deliveries));
  await unwrap(admin.DELETE("/webhooks/{id}", hookId));

  // Offboarding: the leaver's application and keys become owner-deleted.
  const orphan = await unwrap(leaver.POST("/applications", { body: { name: "orphan" } }));
  const summary = await unwrap(admin.DELETE("/users/{id}", { params: { path: { id: "leaver" } } }));
  assert.deepEqual(summary.applications, [orphan.id]);
  await expectProblem(unwrap(leaver.POST("/applications", { body: { name: "after" } })), 403, "USER_OFFBOARDED");

  // Revoking an application revokes its keys.
  const revoked = await unwrap(admin.POST("/applications/{id}/revoke", { params: { path: { id: second.id } } }));
  assert.equal(revoked.status, "revoked");

  // The account's notices and audit log.
  const notices = await unwrap(admin.GET("/notifications"));
  assert.ok(notices.items.some((n) => n.kind === "leaked" && n.key_id === leakedKey.key.id));
  const audit = await unwrap(admin.GET("/audit", { params: { query: { limit: 100 } } }));
  const actions = audit.items.filter((e) => e.target_id === key.id).map((e) => e.action);
  for (const action of ["key.created", "key.updated", "key.disabled", "key.enabled", "key.regenerated", "key.revoked"]) {
    assert.ok(actions.includes(action), `${action} in the audit log: ${actions.join(", ")}`);
  }

  // keyward's problems, typed.
  await expectProblem(unwrap(admin.GET("/keys/{id}", { params: { path: { id: "A".repeat(22) } } })), 404, "KEY_NOT_FOUND");
  await expectProblem(unwrap(anonymous.GET("/applications")), 401, "TOKEN_MISSING");
  await expectProblem(unwrap(admin.POST("/applications", { body: { name: "" } })), 422, "INVALID_NAME");
  const raw = await admin.GET("/keys/{id}", { params: { path: { id: "A".repeat(22) } } });
  assert.equal(raw.error?.code, "KEY_NOT_FOUND", "the error member is the typed Problem");

  assert.ok(asked > 20, "the token function was asked for every request");
  console.log(`lifecycle through @keyward/sdk: ${asked} management calls, every answer typed`);
}

await main();
