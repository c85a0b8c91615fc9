// What a TypeScript client of keyward writes against the types
// openapi-typescript generates from infra/openapi.yaml (./keyward, made by
// tests/openapi_clients.sh). It is only compiled, with tsc --strict: each
// function reads a field that exists only if the document types it, and
// each `@ts-expect-error` line must be an error, so looser types (an
// untyped `before`/`after`, a `code` that is any string) fail the check.
import type { components, paths } from "./keyward";

type Schemas = components["schemas"];
export type Problem = Schemas["Problem"];
export type AuditEvent = Schemas["AuditEvent"];

// Every problem answer of an operation is the one Problem type.
type GetKey = paths["/keys/{id}"]["get"];
export type KeyNotFound = GetKey["responses"][404]["content"]["application/problem+json"];
export type VerifyTooMany = paths["/verify"]["post"]["responses"][429]["content"]["application/problem+json"];
const sameType: [KeyNotFound, VerifyTooMany] extends [Problem, Problem] ? true : never = true;

export function retryable(problem: KeyNotFound): boolean {
  switch (problem.code) {
    case "CONFLICT":
    case "STORE_UNAVAILABLE":
    case "TOO_MANY_FAILED_VERIFICATIONS":
      return true;
    // @ts-expect-error `code` is the enum of the server's codes, not any string.
    case "NO_SUCH_CODE":
      return false;
    default:
      return false;
  }
}

export function limitReached(problem: Problem): number | undefined {
  return problem.code === "KEY_LIMIT_REACHED" ? problem.limit : undefined;
}

// The verdict of POST /verify.
type Verdict = paths["/verify"]["post"]["responses"][200]["content"]["application/json"];
export function accepted(verdict: Verdict): string | undefined {
  if (verdict.valid && verdict.code === "VALID") {
    return verdict.key_id;
  }
  // @ts-expect-error DISABLED is a verdict, DISABLE is not.
  return verdict.code === "DISABLE" ? "never" : undefined;
}

// An audit event's views, narrowed by `target_type`.
export function changedName(event: AuditEvent): string | undefined {
  switch (event.target_type) {
    case "application":
      return event.after?.name ?? event.before?.key_prefix;
    case "key":
      if (event.after?.status === "disabled" && event.before?.verdict === "VALID") {
        return event.after.name;
      }
      return event.after?.prefix;
    case "webhook":
      // @ts-expect-error a webhook's view has no name.
      return event.after?.name;
    case "user":
      return event.after?.user_id;
    default: {
      // Every target type is handled: nothing is left.
      const unhandled: never = event;
      return unhandled;
    }
  }
}

export function disabledKeys(page: Schemas["AuditPage"]): Schemas["Key"][] {
  const keys: Schemas["Key"][] = [];
  for (const event of page.items) {
    if (event.target_type === "key" && event.action === "key.disabled" && event.after) {
      keys.push(event.after);
    }
  }
  return keys;
}

export { sameType };
