// Local mode: the key is checked in this process by @keyward/wasm-validator
// (the same Rust code as keyward's POST /verify, compiled to WebAssembly)
// against the key's record, which is fetched from `GET /keys/{id}/record`
// and kept in a RecordCache as a `PreparedRecord`. No verdict rule lives in
// TypeScript: every code comes from the validator or from keyward.
//
// A separate entry (`@keyward/sdk/local`) so that remote mode and the
// management client never load the WebAssembly module.

import init, { PreparedRecord, keyId, validate } from "@keyward/wasm-validator";
import type { Verdict as LocalVerdict } from "@keyward/wasm-validator";
import { RecordCache } from "./cache.js";
import type { CacheOptions } from "./cache.js";
import { KeywardApiError, createKeywardClient } from "./client.js";
import type { TokenSource } from "./client.js";
import { statusFor } from "./refusal.js";
import type { AcceptedVerdict, RefusalCode, Verdict } from "./types.js";
import { DEFAULT_VERIFY_TIMEOUT_MS, unavailable, verifyCentrally, zeroStats } from "./verifier.js";
import type { Outcome, PresentedKey, Verifier } from "./verifier.js";

export type { CacheOptions } from "./cache.js";

export interface LocalOptions {
  /** keyward's base URL. */
  baseUrl: string;
  /** A management JWT with the `records:read` permission in the keys' account. */
  token: TokenSource;
  /** The record cache: TTL, negative TTL, size. */
  cache?: CacheOptions;
  /** The time limit of each call to keyward, body included (default 2,000 ms). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/** A local verifier, with what only local mode has. */
export interface LocalVerifier extends Verifier {
  readonly mode: "local";
  /** Drops every cached record (the next request for each key fetches it again). */
  clear(): void;
}

/**
 * A verifier that checks keys in this process: the record of each key id
 * is fetched once per TTL (`GET /keys/{id}/record`, with a `records:read`
 * token) and the WebAssembly validator decides. A metered key (rate limits
 * or credits), which the validator answers `CENTRAL_CHECK_REQUIRED`, goes
 * to `POST /verify`, whose verdict is used. keyward unreachable, slower
 * than `timeoutMs`, or answering anything but a record or `KEY_NOT_FOUND`:
 * 503, and nothing is cached.
 */
export function localVerifier(options: LocalOptions): LocalVerifier {
  const stats = zeroStats();
  const client = createKeywardClient({
    baseUrl: options.baseUrl,
    token: options.token,
    timeoutMs: options.timeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  // Only the browser entry of the validator needs it; elsewhere it has
  // resolved on import. Started now, awaited by the first request.
  let ready: Promise<unknown> | undefined = init();

  async function load(id: string): Promise<PreparedRecord | null> {
    const { data, error, response } = await client.GET("/keys/{id}/record", { params: { path: { id } } });
    if (response.status === 200 && data !== undefined) {
      // Throws INVALID_RECORD for an answer the validator cannot use: a
      // failed load, not a verdict.
      return new PreparedRecord(data);
    }
    const failure = new KeywardApiError(response, error);
    // Only keyward's own "no such key" is an answer. Any other 404 (a
    // wrong base URL's ROUTE_NOT_FOUND, a proxy's) is a failure, so a
    // misconfiguration refuses with 503 instead of calling every key unknown.
    if (response.status === 404 && failure.code === "KEY_NOT_FOUND") return null;
    throw failure;
  }
  const cache = new RecordCache<PreparedRecord>(options.cache ?? {}, load, (p) => p.free(), stats);

  return {
    mode: "local",
    async check(request: PresentedKey): Promise<Outcome> {
      stats.checks++;
      if (ready !== undefined) {
        await ready;
        ready = undefined;
      }
      // No header is an empty key: MALFORMED, as `validate` answers for null.
      const authorization = request.authorization ?? "";
      let id: string;
      try {
        id = keyId(authorization);
      } catch {
        // Not a key (no header, a wrong shape or checksum): the validator's
        // verdict without a record, and no look-up.
        return outcomeOfLocal(validate(authorization, null, request.scopes));
      }
      let prepared: PreparedRecord | null;
      const cached = cache.peek(id);
      if (cached !== undefined) {
        stats.cacheHits++;
        prepared = cached.value;
      } else {
        stats.cacheMisses++;
        try {
          prepared = await cache.get(id);
        } catch (error) {
          stats.unavailable++;
          return unavailable(error);
        }
      }
      // Synchronous from the look-up (or the load's resolution) on: the
      // cache releases a prepared record only after this turn.
      const verdict =
        prepared === null
          ? validate(authorization, null, request.scopes, undefined, request.sourceIp)
          : prepared.validate(authorization, request.scopes, undefined, request.sourceIp);
      if (verdict.code === "CENTRAL_CHECK_REQUIRED") {
        const outcome = await verifyCentrally(client, request, authorization, stats);
        if (!outcome.ok && outcome.status === 503) stats.unavailable++;
        return outcome;
      }
      return outcomeOfLocal(verdict);
    },
    stats: () => ({ ...stats }),
    clear: () => cache.clear(),
  };
}

/** The validator's verdict (camelCase) as `POST /verify` answers it (snake_case), and its outcome. */
function outcomeOfLocal(local: LocalVerdict): Outcome {
  if (local.valid) {
    const verdict: AcceptedVerdict = {
      valid: true,
      code: "VALID",
      key_id: local.keyId,
      application_id: local.applicationId,
      account: local.account,
      scopes: local.scopes,
      expires_at: local.expiresAt,
    };
    return { ok: true, verdict };
  }
  const verdict: Verdict = { valid: false, code: local.code as Verdict["code"] };
  if (local.keyId !== undefined) verdict.key_id = local.keyId;
  if (local.applicationId !== undefined) {
    verdict.application_id = local.applicationId;
    verdict.account = local.account;
    verdict.scopes = local.scopes;
    verdict.expires_at = local.expiresAt;
  }
  const code = local.code as RefusalCode;
  return { ok: false, status: statusFor(code), code, verdict };
}
