// What the middleware answers instead of calling the route: an RFC 9457
// problem (`application/problem+json`) whose `code` is the verdict's code,
// or `KEYWARD_UNAVAILABLE` when keyward could not decide. The same statuses
// and bodies as the Rust SDK's layer, so a platform's clients see one
// contract whichever SDK guards the route.

import { UNAVAILABLE } from "./types.js";
import type { LimitUsage, RefusalCode, RefusalStatus, Verdict } from "./types.js";

/**
 * The HTTP status for a refused verdict code.
 *
 * | code | status |
 * | --- | --- |
 * | `INSUFFICIENT_SCOPE`, `IP_NOT_ALLOWED` | 403 |
 * | `RATE_LIMITED`, `USAGE_EXCEEDED` | 429 |
 * | `KEYWARD_UNAVAILABLE` | 503 |
 * | every other code (`MALFORMED`, `NOT_FOUND`, `DISABLED`, `REVOKED`, `EXPIRED`, `APPLICATION_REVOKED`, `OWNER_DELETED`, a code newer than this SDK) | 401 |
 */
export function statusFor(code: string): RefusalStatus {
  switch (code) {
    case "INSUFFICIENT_SCOPE":
    case "IP_NOT_ALLOWED":
      return 403;
    case "RATE_LIMITED":
    case "USAGE_EXCEEDED":
      return 429;
    case UNAVAILABLE:
    // A metered key keyward did not accept stays refused: fail closed.
    case "CENTRAL_CHECK_REQUIRED":
      return 503;
    default:
      return 401;
  }
}

// What a caller may learn, no more than `POST /verify` tells (an unknown id
// and a wrong secret read the same).
const DETAILS: Record<string, string> = {
  MALFORMED: "no keyward key was presented in Authorization",
  NOT_FOUND: "the key is not known",
  DISABLED: "the key is disabled",
  REVOKED: "the key is revoked",
  EXPIRED: "the key has expired",
  APPLICATION_REVOKED: "the key's application is revoked",
  OWNER_DELETED: "the key's owner has been offboarded",
  INSUFFICIENT_SCOPE: "the key does not grant the scopes this route requires",
  IP_NOT_ALLOWED: "the key may not be used from this address",
  RATE_LIMITED: "the key's rate limit is reached",
  USAGE_EXCEEDED: "the key's credits are spent",
  [UNAVAILABLE]: "the key could not be verified now: keyward was unreachable, too slow, or answered an error",
};

const TITLES: Record<RefusalStatus, string> = {
  401: "Unauthorized",
  403: "Forbidden",
  429: "Too Many Requests",
  503: "Service Unavailable",
};

/** A refusal's problem body, as keyward writes its own. */
export interface RefusalProblem {
  type: string;
  title: string;
  status: RefusalStatus;
  detail: string;
  code: RefusalCode;
}

/** Everything a framework needs to answer a refusal. */
export interface RefusalResponse {
  status: RefusalStatus;
  headers: Record<string, string>;
  body: RefusalProblem;
}

/**
 * The response for a refusal: the problem, `Cache-Control: no-store` (a
 * refusal depends on the key and the moment), `WWW-Authenticate: Bearer`
 * on 401, and `Retry-After` on `RATE_LIMITED` when the verdict says when
 * the first full window ends.
 */
export function refusalResponse(code: RefusalCode, verdict?: Verdict, nowMs: number = Date.now()): RefusalResponse {
  const status = statusFor(code);
  const headers: Record<string, string> = {
    "content-type": "application/problem+json",
    "cache-control": "no-store",
  };
  if (status === 401) headers["www-authenticate"] = "Bearer";
  if (code === "RATE_LIMITED" && verdict?.rate_limits) {
    const seconds = retryAfter(verdict.rate_limits, nowMs);
    if (seconds !== undefined) headers["retry-after"] = String(seconds);
  }
  return {
    status,
    headers,
    body: {
      type: `urn:keyward:problem:${code.toLowerCase().replace(/_/g, "-")}`,
      title: TITLES[status],
      status,
      detail: DETAILS[code] ?? "the key was refused",
      code,
    },
  };
}

/** Seconds (at least 1) until the first exhausted rate limit's window ends. */
export function retryAfter(limits: readonly LimitUsage[], nowMs: number): number | undefined {
  let best: number | undefined;
  for (const limit of limits) {
    if (limit.remaining !== 0) continue;
    const reset = Date.parse(limit.reset_at);
    if (Number.isNaN(reset)) continue;
    const seconds = Math.max(1, Math.ceil((reset - nowMs) / 1000));
    if (best === undefined || seconds < best) best = seconds;
  }
  return best;
}
