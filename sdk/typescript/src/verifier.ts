// Verifying a presented key: `verify()` (one `POST /verify`), and the
// `Verifier` the middleware asks, here in its remote mode (every request is
// one `POST /verify`). Local mode (`./local.ts`) implements the same
// interface over the WebAssembly validator and a record cache.

import { KeywardApiError, createKeywardClient } from "./client.js";
import type { KeywardClient } from "./client.js";
import { statusFor } from "./refusal.js";
import { UNAVAILABLE } from "./types.js";
import type { AcceptedVerdict, RefusalCode, RefusalStatus, Verdict, VerifyRequest } from "./types.js";

/** The default time limit of one call to keyward from a verifier. */
export const DEFAULT_VERIFY_TIMEOUT_MS = 2_000;

/** What the middleware knows about one request. */
export interface PresentedKey {
  /** The `Authorization` header as sent: a bare key or `Bearer <key>`; missing is `MALFORMED`. */
  authorization: string | null | undefined;
  /** The scopes the route requires; each must be granted by the key. */
  scopes?: readonly string[] | undefined;
  /** The caller's address; a key with `allowed_ips` refuses a missing or malformed one. */
  sourceIp?: string | null | undefined;
  /** Units a metered key pays (default 1). */
  cost?: number | undefined;
}

/** A verifier's answer for one request. */
export type Outcome =
  | { ok: true; verdict: AcceptedVerdict }
  | {
      ok: false;
      /** The status to answer. */
      status: RefusalStatus;
      /** The verdict's code, or `KEYWARD_UNAVAILABLE` (503) when keyward could not decide. */
      code: RefusalCode;
      /** keyward's (or the validator's) verdict, when there is one. */
      verdict?: Verdict;
      /** Why keyward could not decide (503 only). */
      cause?: unknown;
    };

/** What a verifier has done since it was made. */
export interface VerifierStats {
  /** Requests checked. */
  checks: number;
  /** Requests answered 503 because keyward could not decide. */
  unavailable: number;
  /** `POST /verify` calls (every request in remote mode; metered keys in local mode). */
  verifyCalls: number;
  /** Local mode: look-ups that found a fresh cached record (or a cached "no such key"). */
  cacheHits: number;
  /** Local mode: look-ups that did not. */
  cacheMisses: number;
  /** Local mode: `GET /keys/{id}/record` calls made. */
  recordFetches: number;
  /** Local mode: misses served by a fetch another request had already started (single flight). */
  sharedFetches: number;
  /** Local mode: records dropped before their TTL to stay within `maxEntries`. */
  evictions: number;
}

export interface Verifier {
  /** `"remote"` (every request is a `POST /verify`) or `"local"` (the WebAssembly validator over cached records). */
  readonly mode: "remote" | "local";
  /**
   * The outcome for one request. Rejects only for a mistake of the caller's
   * configuration that keyward refuses (a required scope outside the scope
   * grammar, a cost out of range): a framework turns that into a 500.
   */
  check(request: PresentedKey): Promise<Outcome>;
  /** Counters of what it did. */
  stats(): VerifierStats;
}

/** A new set of counters, all zero. */
export function zeroStats(): VerifierStats {
  return {
    checks: 0,
    unavailable: 0,
    verifyCalls: 0,
    cacheHits: 0,
    cacheMisses: 0,
    recordFetches: 0,
    sharedFetches: 0,
    evictions: 0,
  };
}

export interface VerifyOptions {
  /** keyward's base URL. */
  baseUrl: string;
  /** The time limit of the call, body included (default 2,000 ms). */
  timeoutMs?: number;
  /** The fetch to use (default: the global one). */
  fetch?: typeof globalThis.fetch;
}

/**
 * One `POST /verify`: keyward's verdict for `body` (every verdict, valid or
 * not, is an answer). Throws a {@link KeywardApiError} when keyward answers
 * anything but a verdict, and the fetch's error when it does not answer
 * in time.
 */
export async function verify(options: VerifyOptions & VerifyRequest): Promise<Verdict> {
  const { baseUrl, timeoutMs, fetch, ...body } = options;
  const client = createKeywardClient({
    baseUrl,
    timeoutMs: timeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS,
    ...(fetch ? { fetch } : {}),
  });
  return verifyWith(client, body);
}

/** `POST /verify` with a client made once (no token: the route needs none). */
export async function verifyWith(client: KeywardClient, body: VerifyRequest): Promise<Verdict> {
  const { data, error, response } = await client.POST("/verify", { body });
  if (response.status !== 200 || !isVerdict(data)) throw new KeywardApiError(response, error ?? data);
  return data;
}

function isVerdict(body: unknown): body is Verdict {
  return (
    typeof body === "object" &&
    body !== null &&
    typeof (body as Verdict).valid === "boolean" &&
    typeof (body as Verdict).code === "string"
  );
}

/**
 * keyward refused the middleware's own configuration (a required scope
 * outside the scope grammar, a cost out of range), not the key: a mistake
 * to surface as a 500, not a verdict. It has no `status`, so a framework
 * does not answer keyward's 422 as its own.
 */
export class KeywardConfigurationError extends Error {
  override readonly name = "KeywardConfigurationError";
  /** keyward's problem code (`INVALID_SCOPE`, `INVALID_COST`). */
  readonly code: string;

  constructor(cause: KeywardApiError) {
    super(`keyward refused the verifier's configuration: ${cause.message}`, { cause });
    this.code = cause.code;
  }
}

function configurationError(error: unknown): KeywardConfigurationError | undefined {
  if (
    error instanceof KeywardApiError &&
    error.status === 422 &&
    (error.code === "INVALID_SCOPE" || error.code === "INVALID_COST")
  ) {
    return new KeywardConfigurationError(error);
  }
  return undefined;
}

/**
 * keyward's verdict turned into an outcome: accepted only when keyward says
 * `VALID` with the key's fields; a refusal gets its status.
 */
export function outcomeOf(verdict: Verdict): Outcome {
  if (verdict.valid && verdict.code === "VALID") {
    if (
      typeof verdict.key_id === "string" &&
      typeof verdict.application_id === "string" &&
      typeof verdict.account === "string" &&
      Array.isArray(verdict.scopes) &&
      typeof verdict.expires_at === "number"
    ) {
      return { ok: true, verdict: verdict as AcceptedVerdict };
    }
    // A VALID without the key's fields is not an answer this SDK knows.
    return unavailable(new Error("keyward's VALID verdict lacks the key's fields"));
  }
  // `valid: true` with another code, or the reverse, is refused too.
  const code = (verdict.code === "VALID" ? UNAVAILABLE : verdict.code) as RefusalCode;
  return { ok: false, status: statusFor(code), code, verdict };
}

/** The 503 outcome: keyward could not decide. */
export function unavailable(cause: unknown): Outcome {
  return { ok: false, status: 503, code: UNAVAILABLE, cause };
}

/** The 401 outcome for a request without a key: nothing to ask keyward. */
export const MISSING_KEY: Outcome = Object.freeze({ ok: false, status: 401, code: "MALFORMED" }) as Outcome;

/**
 * `POST /verify` for a request, fail closed: an answer that is not a
 * verdict, an error status, a network error or a timeout is a 503. A
 * source address keyward does not take as an address is sent as none,
 * which is what the local validator does with it: a key without
 * `allowed_ips` ignores it, a key with them refuses it (`IP_NOT_ALLOWED`).
 */
export async function verifyCentrally(
  client: KeywardClient,
  request: PresentedKey,
  authorization: string,
  stats: VerifierStats,
): Promise<Outcome> {
  const body: VerifyRequest = { key: authorization, cost: request.cost ?? 1 };
  if (request.scopes && request.scopes.length > 0) body.scopes = [...request.scopes];
  if (request.sourceIp) body.source_ip = request.sourceIp;
  try {
    stats.verifyCalls++;
    try {
      return outcomeOf(await verifyWith(client, body));
    } catch (error) {
      if (!(error instanceof KeywardApiError && error.code === "INVALID_SOURCE_IP")) throw error;
      delete body.source_ip;
      stats.verifyCalls++;
      return outcomeOf(await verifyWith(client, body));
    }
  } catch (error) {
    const mistake = configurationError(error);
    if (mistake) throw mistake;
    return unavailable(error);
  }
}

export interface RemoteOptions extends VerifyOptions {}

/**
 * A verifier that asks keyward's `POST /verify` for every request (no
 * token needed). A change in keyward (a revoke, a disable) applies to the
 * next request. A request without `Authorization` is refused without a call.
 */
export function remoteVerifier(options: RemoteOptions): Verifier {
  const client = createKeywardClient({
    baseUrl: options.baseUrl,
    timeoutMs: options.timeoutMs ?? DEFAULT_VERIFY_TIMEOUT_MS,
    ...(options.fetch ? { fetch: options.fetch } : {}),
  });
  const counters = zeroStats();
  return {
    mode: "remote",
    async check(request) {
      counters.checks++;
      const authorization = request.authorization?.trim();
      if (!authorization) return MISSING_KEY;
      const outcome = await verifyCentrally(client, request, authorization, counters);
      if (!outcome.ok && outcome.status === 503) counters.unavailable++;
      return outcome;
    },
    stats: () => ({ ...counters }),
  };
}
