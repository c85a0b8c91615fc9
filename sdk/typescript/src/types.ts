// The API's types, all derived from the document: `generated/openapi.ts` is
// written by openapi-typescript from infra/openapi.yaml at build time
// (scripts/build.mjs), so nothing here can drift from what keyward answers.

import type { components, operations, paths, webhooks } from "./generated/openapi.js";

export type { components, operations, paths, webhooks };

/** Every schema of the document, by name: `Schemas["Key"]`, `Schemas["CreateKey"]`, ... */
export type Schemas = components["schemas"];

/** `POST /verify`'s answer. */
export type Verdict = Schemas["Verdict"];
/** The verdict codes `POST /verify` answers. */
export type VerdictCode = Verdict["code"];
/** The body of `POST /verify`. */
export type VerifyRequest = Schemas["VerifyRequest"];
/** `GET /keys/{id}/record`: what local verification checks a key against. */
export type KeyRecord = Schemas["KeyRecord"];
/** One rate limit's current window, on a metered key's verdict. */
export type LimitUsage = Schemas["LimitUsage"];
/** The RFC 9457 body of every keyward error. */
export type Problem = Schemas["Problem"];
/** keyward's stable problem codes. */
export type ProblemCode = Problem["code"];

/**
 * A verdict that accepted the key: every field the key's record gives is
 * set. This is what the middleware puts on the request.
 */
export type AcceptedVerdict = Verdict & {
  valid: true;
  code: "VALID";
  key_id: string;
  application_id: string;
  account: string;
  scopes: string[];
  expires_at: number;
};

/** The problem code of the 503 answered when keyward could not decide. */
export const UNAVAILABLE = "KEYWARD_UNAVAILABLE";

/** What a refusal's problem carries as `code`: the verdict's code, or `KEYWARD_UNAVAILABLE`. */
export type RefusalCode = Exclude<VerdictCode, "VALID"> | typeof UNAVAILABLE;

/** A refusal's HTTP status. */
export type RefusalStatus = 401 | 403 | 429 | 503;
