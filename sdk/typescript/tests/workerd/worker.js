// A Hono app in workerd guarded by @keyward/sdk's middleware: the packed
// SDK and validator, bundled by esbuild with the workerd condition (as
// wrangler does), the validator's .wasm a module of its own. Routes are
// /<verifier>/<route>: each verifier (remote, local, and both pointed at
// an address where nothing listens) guards the matrix's routes.
// /stats/<verifier> answers its counters.

import { remoteVerifier } from "@keyward/sdk";
import { keyward } from "@keyward/sdk/hono";
import { localVerifier } from "@keyward/sdk/local";
import { Hono } from "hono";

const ROUTES = JSON.parse(ROUTES_JSON);

// Made on the first request: bindings arrive with it. Kept for the
// isolate's life, as a deployed Worker keeps its cache.
let verifiers;
function verifiersFor(env) {
  verifiers ??= {
    remote: remoteVerifier({ baseUrl: env.KEYWARD_URL }),
    local: localVerifier({ baseUrl: env.KEYWARD_URL, token: env.RECORDS_TOKEN, cache: { ttlMs: 60_000 } }),
    burst: localVerifier({ baseUrl: env.KEYWARD_URL, token: env.RECORDS_TOKEN, cache: { ttlMs: 60_000 } }),
    "remote-down": remoteVerifier({ baseUrl: env.DEAD_URL, timeoutMs: 500 }),
    "local-down": localVerifier({ baseUrl: env.DEAD_URL, token: "token", timeoutMs: 500 }),
  };
  return verifiers;
}

const guards = new Map();
function guard(c, name, route) {
  const id = `${name} ${route}`;
  if (!guards.has(id)) guards.set(id, keyward(verifiersFor(c.env)[name], { scopes: ROUTES[route] }));
  return guards.get(id);
}

const app = new Hono();
app.get("/stats/:name", (c) => c.json(verifiersFor(c.env)[c.req.param("name")].stats()));
app.get(
  "/:name/:route",
  (c, next) => guard(c, c.req.param("name"), c.req.param("route"))(c, next),
  (c) => c.json({ verdict: c.get("keyward"), userAgent: navigator.userAgent }),
);

export default app;
