// keyward at the edge: a Cloudflare Worker that checks the API key of every
// request with @keyward/wasm-validator and passes good requests on to the
// origin.
//
// For each request it reads the key from `Authorization` (a bare key or
// `Bearer <key>`), fetches the key's record from keyward's
// `GET /keys/{id}/record` (with a token that has `records:read`), keeps the
// record for RECORD_CACHE_SECONDS, and validates the key locally: checksum,
// SHA-256 against the record's hash, status, expiry, application and owner,
// required scopes, and the caller's address (`CF-Connecting-IP`) against
// the record's `allowed_ips`. A key with rate limits or credits (a
// `metered` record) is never accepted locally: `validate` answers
// `CENTRAL_CHECK_REQUIRED`, and the Worker asks keyward's `POST /verify`,
// which debits the key's limits, and uses its verdict. A bad key gets
// `401 {"code": "<verdict code>"}` (403 for `IP_NOT_ALLOWED`, 429 for
// `RATE_LIMITED` and `USAGE_EXCEEDED`); a good one goes to ORIGIN_URL with
// the key removed and who it is added.
//
// Bindings (wrangler.toml `[vars]`, secrets for the token):
//   KEYWARD_URL            keyward's base URL, e.g. https://keys.example.com
//   KEYWARD_RECORDS_TOKEN  a bearer token with the records:read permission
//   ORIGIN_URL             where good requests go, e.g. https://api.internal
//   RECORD_CACHE_SECONDS   how long a fetched record is used (default 60);
//                          also the longest a revoke takes to reach this edge
//   REQUIRED_SCOPES        space-separated scopes every request needs
//                          (optional)
//   SCOPES_BY_ROUTE        JSON: {"<METHOD> <path prefix>": "<scopes>"}, the
//                          scopes a request needs on top of REQUIRED_SCOPES;
//                          METHOD may be *, the longest matching prefix wins
//                          (optional), e.g.
//                          {"GET /v1/sims": "sims:read", "* /v1/billing": "billing:admin"}

import { keyId, validate } from "@keyward/wasm-validator";

// Records by key id, per isolate: { at, record } where `record` is the
// promise of the record (null for an unknown key), so concurrent requests
// for one key share one fetch.
const records = new Map();
const MAX_CACHED = 10_000;

function json(status, body, headers = {}) {
  return new Response(JSON.stringify(body), {
    status,
    headers: { "content-type": "application/json", ...headers },
  });
}

// A refusal: 401 for the key itself, 403 for where the call comes from,
// 429 for spent limits (keyward's central verdicts).
function deny(code) {
  if (code === "IP_NOT_ALLOWED") return json(403, { code });
  if (code === "RATE_LIMITED" || code === "USAGE_EXCEEDED") return json(429, { code });
  return json(401, { code }, {
    "www-authenticate": `Bearer error="invalid_token", error_description="${code}"`,
  });
}

function cacheSeconds(env) {
  const seconds = Number(env.RECORD_CACHE_SECONDS ?? 60);
  return Number.isFinite(seconds) && seconds >= 0 ? seconds : 60;
}

const keywardUrl = (path, env) => new URL(path, `${env.KEYWARD_URL.replace(/\/*$/, "")}/`);

async function fetchRecord(id, env) {
  const url = keywardUrl(`keys/${encodeURIComponent(id)}/record`, env);
  const response = await fetch(url, {
    headers: {
      authorization: `Bearer ${env.KEYWARD_RECORDS_TOKEN}`,
      accept: "application/json",
    },
  });
  if (response.status === 404) return null;
  if (!response.ok) {
    throw new Error(`keyward answered ${response.status} for the record of ${id}`);
  }
  return response.json();
}

// The record of key `id`, from the cache while it is younger than the cache
// time, else from keyward. Unknown keys (404) are cached too; failures are
// not.
function recordFor(id, env) {
  const now = Date.now();
  const ttl = cacheSeconds(env) * 1000;
  const cached = records.get(id);
  if (cached && now - cached.at < ttl) return cached.record;
  const record = fetchRecord(id, env);
  records.delete(id);
  if (ttl > 0) {
    if (records.size >= MAX_CACHED) records.delete(records.keys().next().value);
    records.set(id, { at: now, record });
    record.catch(() => {
      if (records.get(id)?.record === record) records.delete(id);
    });
  }
  return record;
}

const words = (text) => (text ?? "").split(/\s+/).filter(Boolean);

// SCOPES_BY_ROUTE, parsed once per isolate.
let routeTable;
function routes(env) {
  if (routeTable?.source !== env.SCOPES_BY_ROUTE) {
    const table = env.SCOPES_BY_ROUTE ? JSON.parse(env.SCOPES_BY_ROUTE) : {};
    routeTable = {
      source: env.SCOPES_BY_ROUTE,
      entries: Object.entries(table).map(([route, scopes]) => {
        const [method, prefix] = route.trim().split(/\s+/);
        return { method: method.toUpperCase(), prefix: prefix.replace(/\/+$/, ""), scopes: words(scopes) };
      }),
    };
  }
  return routeTable.entries;
}

// The scopes a request needs: REQUIRED_SCOPES, and those of the longest
// SCOPES_BY_ROUTE prefix that matches its method and path (whole segments).
function requiredScopes(request, env) {
  const { pathname } = new URL(request.url);
  let best;
  for (const route of routes(env)) {
    const matches =
      (route.method === "*" || route.method === request.method) &&
      (pathname === route.prefix || pathname.startsWith(`${route.prefix}/`));
    if (matches && (!best || route.prefix.length > best.prefix.length)) best = route;
  }
  return [...words(env.REQUIRED_SCOPES), ...(best?.scopes ?? [])];
}

// keyward's own verdict for a metered key: `POST /verify` checks the key as
// `validate` did and debits its rate limits and credits (one unit). The
// answer is the verdict in snake_case; it is returned in `validate`'s
// camelCase. The key goes as presented: keyward parses it by the same rule.
async function verifyCentrally(presented, scopes, sourceIp, env) {
  const response = await fetch(keywardUrl("verify", env), {
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json" },
    body: JSON.stringify({ key: presented, scopes, source_ip: sourceIp ?? undefined, cost: 1 }),
  });
  if (!response.ok) throw new Error(`keyward answered ${response.status} to POST /verify`);
  const verdict = await response.json();
  if (typeof verdict?.valid !== "boolean" || typeof verdict.code !== "string") {
    throw new Error("keyward's POST /verify answer is not a verdict");
  }
  return {
    valid: verdict.valid,
    code: verdict.code,
    keyId: verdict.key_id,
    applicationId: verdict.application_id,
    account: verdict.account,
    scopes: verdict.scopes,
    expiresAt: verdict.expires_at,
  };
}

export default {
  async fetch(request, env) {
    const presented = request.headers.get("authorization");
    let id;
    try {
      id = keyId(presented ?? "");
    } catch (error) {
      // Not a key at all (shape or checksum): no look-up.
      return deny(error.code ?? "MALFORMED");
    }
    let record;
    try {
      record = await recordFor(id, env);
    } catch {
      // Fail closed: without the record there is no verdict.
      return json(503, { code: "RECORD_UNAVAILABLE" }, { "retry-after": "5" });
    }
    const scopes = requiredScopes(request, env);
    // Set by Cloudflare's edge to the client's address; a key restricted to
    // some addresses refuses a request without it.
    const sourceIp = request.headers.get("cf-connecting-ip");
    let verdict = validate(presented, record, scopes, undefined, sourceIp);
    if (verdict.code === "CENTRAL_CHECK_REQUIRED") {
      try {
        verdict = await verifyCentrally(presented, scopes, sourceIp, env);
      } catch {
        // Fail closed: a metered key is accepted only by keyward.
        return json(503, { code: "VERIFY_UNAVAILABLE" }, { "retry-after": "5" });
      }
    }
    if (!verdict.valid) return deny(verdict.code);

    // Pass the request on: the key stays at the edge, who it is goes along.
    const url = new URL(request.url);
    const target = new URL(url.pathname + url.search, env.ORIGIN_URL);
    const headers = new Headers(request.headers);
    headers.delete("authorization");
    headers.set("x-keyward-key-id", verdict.keyId);
    headers.set("x-keyward-application-id", verdict.applicationId);
    headers.set("x-keyward-account", verdict.account);
    headers.set("x-keyward-scopes", (verdict.scopes ?? []).join(" "));
    return fetch(target, {
      method: request.method,
      headers,
      body: request.body,
      redirect: "manual",
    });
  },
};
