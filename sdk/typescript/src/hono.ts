// The Hono middleware (Workers, Node, Bun, Deno): the key from
// `Authorization`, the verifier's outcome, the verdict on the context
// (`c.get("keyward")`) or a problem answer. Only Hono's types are imported:
// the middleware is a plain function, so it works with any Hono 4 and adds
// nothing to a bundle.

import type { Context, MiddlewareHandler } from "hono";
import { refusalResponse } from "./refusal.js";
import type { AcceptedVerdict } from "./types.js";
import type { Verifier } from "./verifier.js";

/** The context variables the middleware sets: `new Hono<KeywardEnv>()` types `c.get("keyward")`. */
export type KeywardEnv = { Variables: { keyward: AcceptedVerdict } };

export interface KeywardHonoOptions {
  /** The scopes every request must be granted, or a function of the request that gives them. */
  scopes?: readonly string[] | ((c: Context) => readonly string[]);
  /** Units a metered key pays per request (default 1). */
  cost?: number | ((c: Context) => number);
  /**
   * The caller's address, for keys with `allowed_ips`. The default reads
   * the connection's own peer: the socket's address under
   * `@hono/node-server`, `server.requestIP()` under Bun, `remoteAddr` under
   * Deno, and `CF-Connecting-IP` in Cloudflare Workers (which Cloudflare's
   * edge sets). Behind a proxy, give a function that reads the address
   * your proxy appends (and only that hop).
   */
  sourceIp?: (c: Context) => string | null | undefined;
}

/**
 * Hono middleware that refuses a request whose key `verifier` does not
 * accept (401, 403, 429 with an `application/problem+json` body, or 503
 * when keyward cannot decide) and otherwise sets `c.get("keyward")` to the
 * accepted verdict.
 *
 * ```ts
 * const app = new Hono<KeywardEnv>();
 * app.use("/v1/*", keyward(verifier, { scopes: ["sims:read"] }));
 * app.get("/v1/sims", (c) => c.json({ account: c.get("keyward").account }));
 * ```
 */
export function keyward(verifier: Verifier, options: KeywardHonoOptions = {}): MiddlewareHandler<KeywardEnv> {
  const { scopes, cost, sourceIp = defaultSourceIp } = options;
  return async (c, next) => {
    const outcome = await verifier.check({
      authorization: c.req.header("authorization"),
      scopes: typeof scopes === "function" ? scopes(c) : scopes,
      sourceIp: sourceIp(c),
      cost: typeof cost === "function" ? cost(c) : cost,
    });
    if (outcome.ok) {
      c.set("keyward", outcome.verdict);
      await next();
      return;
    }
    const refusal = refusalResponse(outcome.code, outcome.verdict);
    return new Response(JSON.stringify(refusal.body), { status: refusal.status, headers: refusal.headers });
  };
}

// Cloudflare's runtime names itself here; its edge sets CF-Connecting-IP
// to the client's address and overwrites one the client sent.
const inWorkers = (globalThis as { navigator?: { userAgent?: string } }).navigator?.userAgent === "Cloudflare-Workers";

/** The peer address of the request, as each runtime's adapter exposes it. */
export function defaultSourceIp(c: Context): string | undefined {
  const env = c.env as Record<string, unknown> | undefined;
  if (env && typeof env === "object") {
    // @hono/node-server: env is { incoming, outgoing } (or { server } around them).
    const bindings = (env.server ?? env) as { incoming?: { socket?: { remoteAddress?: unknown } } };
    const address = bindings.incoming?.socket?.remoteAddress;
    if (typeof address === "string") return address;
    // Bun.serve({ fetch: app.fetch }): env is the server.
    const server = env as { requestIP?: (request: Request) => { address?: unknown } | null };
    if (typeof server.requestIP === "function") {
      const info = server.requestIP(c.req.raw);
      if (typeof info?.address === "string") return info.address;
    }
    // Deno.serve(app.fetch): env is the ServeHandlerInfo.
    const remote = (env as { remoteAddr?: { hostname?: unknown } }).remoteAddr;
    if (typeof remote?.hostname === "string") return remote.hostname;
  }
  if (inWorkers) return c.req.header("cf-connecting-ip");
  return undefined;
}
