// What a user's project writes with @keyward/sdk, for the compiler only:
// tsc --strict must take every line, and each @ts-expect-error must be an
// error (tsc fails on one that is not). consumer.test.mjs compiles it with
// Node's resolution (ES module, with @types/node), and with a bundler's and
// the DOM library only, as a Workers project has (no Node types: the SDK
// needs none). The Express part is express-usage.ts.

import { Hono } from "hono";
import {
  KeywardApiError,
  createKeywardClient,
  remoteVerifier,
  statusFor,
  unwrap,
  verify,
} from "@keyward/sdk";
import type { AcceptedVerdict, Outcome, Schemas, Verdict, VerdictCode, Verifier } from "@keyward/sdk";
import { localVerifier } from "@keyward/sdk/local";
import type { LocalVerifier } from "@keyward/sdk/local";
import { keyward } from "@keyward/sdk/hono";
import type { KeywardEnv } from "@keyward/sdk/hono";

export async function typedClient(): Promise<void> {
  const client = createKeywardClient({ baseUrl: "http://127.0.0.1:8080", token: "jwt", timeoutMs: 1_000 });

  const app: Schemas["Application"] = await unwrap(client.POST("/applications", { body: { name: "x" } }));
  const key = await unwrap(
    client.POST("/applications/{id}/keys", { params: { path: { id: app.id } }, body: { name: "k", scopes: ["a:b"] } }),
  );
  const secret: string = key.secret;
  const status: "active" | "disabled" | "revoked" | "expired" = key.key.status;
  void [secret, status];

  // @ts-expect-error: a path the document does not have
  void client.GET("/keyz");
  // @ts-expect-error: CreateApplication's name is a string
  void client.POST("/applications", { body: { name: 5 } });
  // @ts-expect-error: CreateKey needs a name
  void client.POST("/applications/{id}/keys", { params: { path: { id: "a" } }, body: { scopes: [] } });
  // @ts-expect-error: the path parameter is required
  void client.GET("/keys/{id}");
  // @ts-expect-error: limit is a number
  void client.GET("/applications", { params: { query: { limit: "ten" } } });

  const { data, error } = await client.GET("/keys/{id}", { params: { path: { id: "x" } } });
  if (error) {
    const code: Schemas["Problem"]["code"] = error.code;
    // @ts-expect-error: not one of keyward's problem codes
    const wrong: Schemas["Problem"]["code"] = "NO_SUCH_CODE";
    void [code, wrong];
  } else if (data) {
    const expires: string = data.expires_at;
    void expires;
  }

  try {
    await unwrap(client.DELETE("/users/{id}", { params: { path: { id: "u" } } }));
  } catch (e) {
    if (e instanceof KeywardApiError) {
      const s: number = e.status;
      const c: string = e.code;
      void [s, c, e.problem?.detail, e.retryAfter];
    }
  }
}

export async function verifying(): Promise<void> {
  const verdict: Verdict = await verify({ baseUrl: "http://127.0.0.1:8080", key: "k", scopes: ["a"], source_ip: null });
  const code: VerdictCode = verdict.code;
  // @ts-expect-error: CENTRAL_CHECK_REQUIRED is the validator's, never POST /verify's
  const central: VerdictCode = "CENTRAL_CHECK_REQUIRED";
  const status: 401 | 403 | 429 | 503 = statusFor(code);
  void [central, status];

  const remote: Verifier = remoteVerifier({ baseUrl: "http://127.0.0.1:8080", timeoutMs: 500 });
  const local: LocalVerifier = localVerifier({
    baseUrl: "http://127.0.0.1:8080",
    token: async () => "jwt",
    cache: { ttlMs: 10_000, negativeTtlMs: 2_000, maxEntries: 1_000 },
  });
  const outcome: Outcome = await local.check({ authorization: "Bearer k", scopes: ["a"], sourceIp: "192.0.2.1" });
  if (outcome.ok) {
    const accepted: AcceptedVerdict = outcome.verdict;
    const account: string = accepted.account;
    void account;
  } else {
    const refused: 401 | 403 | 429 | 503 = outcome.status;
    void refused;
  }
  // @ts-expect-error: the cache options are numbers
  localVerifier({ baseUrl: "", token: "", cache: { ttlMs: "10s" } });
  void [remote.stats().verifyCalls, local.stats().sharedFetches, local.clear()];
}

export function honoApp(verifier: Verifier): Hono<KeywardEnv> {
  const app = new Hono<KeywardEnv>();
  app.use("/v1/*", keyward(verifier, { scopes: ["sims:read"], sourceIp: (c) => c.req.header("x-real-ip") }));
  app.get("/v1/sims", (c) => {
    const verdict: AcceptedVerdict = c.get("keyward");
    const keyId: string = verdict.key_id;
    // @ts-expect-error: the verdict has no such field
    void verdict.secret;
    return c.json({ keyId, account: verdict.account });
  });
  // Routes of a plain Hono app get the variable from the middleware itself.
  const plain = new Hono();
  plain.get("/x", keyward(verifier, { scopes: (c) => (c.req.method === "GET" ? ["a:read"] : ["a:write"]) }), (c) =>
    c.text(c.get("keyward").application_id),
  );
  return app;
}
