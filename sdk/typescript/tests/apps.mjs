// The apps under test (and under the benchmark): the same two routes in
// Hono and in Express, each guarded by the SDK's middleware, or, for the
// benchmark's baselines, by a middleware that only calls the next handler
// (`verifier` "noop") or by none (`verifier` null). An accepted request
// answers `reply(verdict)`: by default { verdict }, what the middleware put
// on the request; the benchmark answers the same body from every variant.

import { serve } from "@hono/node-server";
import { keyward as honoKeyward } from "@keyward/sdk/hono";
import { keyward as expressKeyward } from "@keyward/sdk/express";
import express from "express";
import { Hono } from "hono";
import { ROUTES } from "./matrix.mjs";

const echo = (verdict) => ({ verdict });

export function honoApp(verifier, { options = {}, reply = echo } = {}) {
  const app = new Hono();
  // What reaches the framework as an error: the test reads its code.
  app.onError((error, c) => c.json({ error: error.code ?? error.name }, 500));
  for (const [route, scopes] of Object.entries(ROUTES)) {
    const guard =
      verifier === "noop" ? (c, next) => next() : verifier ? honoKeyward(verifier, { scopes, ...options }) : null;
    const handler = (c) => c.json(reply(c.get("keyward") ?? null));
    if (guard) app.get(`/${route}`, guard, handler);
    else app.get(`/${route}`, handler);
  }
  return app;
}

export function expressApp(verifier, { options = {}, reply = echo, configure = () => {} } = {}) {
  const app = express();
  configure(app);
  for (const [route, scopes] of Object.entries(ROUTES)) {
    const guard =
      verifier === "noop"
        ? (req, res, next) => next()
        : verifier
          ? expressKeyward(verifier, { scopes, ...options })
          : null;
    const handler = (req, res) => res.json(reply(req.keyward ?? null));
    if (guard) app.get(`/${route}`, guard, handler);
    else app.get(`/${route}`, handler);
  }
  app.use((error, req, res, _next) => res.status(500).json({ error: error.code ?? error.name }));
  return app;
}

/** Serves `framework`'s app (settings as honoApp's and expressApp's) on 127.0.0.1; answers { url, close() }. */
export async function serveApp(framework, verifier, settings = {}) {
  let server;
  if (framework === "hono") {
    server = await new Promise((done) => {
      const s = serve({ fetch: honoApp(verifier, settings).fetch, port: 0, hostname: "127.0.0.1" }, () => done(s));
    });
  } else {
    const app = expressApp(verifier, settings);
    server = await new Promise((done) => {
      const s = app.listen(0, "127.0.0.1", () => done(s));
    });
  }
  return {
    url: `http://127.0.0.1:${server.address().port}`,
    close: () => {
      server.closeAllConnections?.();
      return new Promise((done) => server.close(done));
    },
  };
}

// What the benchmark (../bench/) uses, resolved from this folder's
// node_modules: the packed SDK and the frameworks.
export { createKeywardClient, remoteVerifier, unwrap } from "@keyward/sdk";
export { localVerifier } from "@keyward/sdk/local";
