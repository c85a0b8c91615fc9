//! The package's public TypeScript types, and the verdict codes as JS
//! strings.

use crate::verdict::VerdictCode;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/**
 * A verdict code: `POST /verify`'s set, plus `CENTRAL_CHECK_REQUIRED`, which
 * only `validate` answers: the key is metered (rate limits or credits), so
 * only keyward's `POST /verify` can accept it. `RATE_LIMITED` and
 * `USAGE_EXCEEDED` come from that call, never from `validate`.
 */
export type VerdictCode =
  | "VALID"
  | "MALFORMED"
  | "NOT_FOUND"
  | "DISABLED"
  | "REVOKED"
  | "EXPIRED"
  | "APPLICATION_REVOKED"
  | "OWNER_DELETED"
  | "INSUFFICIENT_SCOPE"
  | "IP_NOT_ALLOWED"
  | "RATE_LIMITED"
  | "USAGE_EXCEEDED"
  | "CENTRAL_CHECK_REQUIRED";

/**
 * A key's record: exactly the JSON body of keyward's
 * `GET /keys/{id}/record`. It holds the key's SHA-256, never the key.
 */
export interface KeyRecord {
  key_id: string;
  application_id: string;
  account: string;
  /** Lower-case hex SHA-256 of the whole key string. */
  hash: string;
  /** The stored status; `expired` is derived from `expires_at`. */
  status: "active" | "disabled" | "revoked";
  /** Epoch seconds; the key is expired from this second on. */
  expires_at: number;
  /** Epoch seconds at which a regenerated key's grace period ends. */
  revoke_at?: number | null;
  scopes: string[];
  application_status: "active" | "revoked";
  owner_status: "active" | "deleted";
  /**
   * The addresses and CIDR blocks the key is accepted from (at most 50);
   * absent or empty: any.
   */
  allowed_ips?: string[] | null;
  /** The key has rate limits or credits: `validate` answers
   * `CENTRAL_CHECK_REQUIRED` instead of `VALID`. Absent: false. */
  metered?: boolean | null;
}

/**
 * The answer of `validate`: `POST /verify`'s answer, in camelCase. A union
 * on `valid` (and `code`): `valid: true` narrows to {@link ValidVerdict},
 * with every field set.
 */
export type Verdict = ValidVerdict | InvalidVerdict;

/** The key matched its record and passed every check. */
export interface ValidVerdict {
  valid: true;
  code: "VALID";
  keyId: string;
  applicationId: string;
  account: string;
  /** The record's scopes (the caller's own copy). */
  scopes: string[];
  /** Epoch seconds. */
  expiresAt: number;
}

/** A refusal: which fields it has depends on how far the key got. */
export type InvalidVerdict = MalformedVerdict | NotFoundVerdict | RefusedVerdict;

/** Not a key (shape or checksum): nothing else is known. */
export interface MalformedVerdict {
  valid: false;
  code: "MALFORMED";
  keyId?: undefined;
  applicationId?: undefined;
  account?: undefined;
  scopes?: undefined;
  expiresAt?: undefined;
}

/** A well-formed key with no record, or a wrong secret: only the (public)
 * key id. */
export interface NotFoundVerdict {
  valid: false;
  code: "NOT_FOUND";
  keyId: string;
  applicationId?: undefined;
  account?: undefined;
  scopes?: undefined;
  expiresAt?: undefined;
}

/** The key matched its record but is refused (or, `CENTRAL_CHECK_REQUIRED`,
 * only keyward can accept it): the record's fields are set. */
export interface RefusedVerdict {
  valid: false;
  code: Exclude<VerdictCode, "VALID" | "MALFORMED" | "NOT_FOUND">;
  keyId: string;
  applicationId: string;
  account: string;
  scopes: string[];
  expiresAt: number;
}

/**
 * The verdict for a presented key (a bare key or an `Authorization` value
 * with the `Bearer` scheme; `null` is `MALFORMED`) against its record
 * (`null` when keyward has none: `NOT_FOUND`), the scopes the caller
 * requires, at `nowSeconds` (epoch seconds, floored; default: now), for a
 * caller at `sourceIp` (an IPv4 or IPv6 address, e.g. `CF-Connecting-IP`;
 * a key with `allowed_ips` refuses a missing or malformed one with
 * `IP_NOT_ALLOWED`).
 * (This signature makes the trailing arguments optional, which wasm-bindgen
 * cannot say for a parameter with a declared type.)
 */
export function validate(
  presented: string | null | undefined,
  record: KeyRecord | null | undefined,
  requiredScopes?: readonly string[] | null,
  nowSeconds?: number | null,
  sourceIp?: string | null,
): Verdict;

/**
 * A key's record read and checked once, for validating many calls against
 * a cached record: `prepared.validate(...)` gives exactly the verdict of
 * `validate(presented, record, ...)`, faster, as it does not read or
 * encode the record again. It holds WebAssembly memory: call `free()` when
 * the record leaves your cache (using it after that throws); one that is
 * dropped without `free()` is released some time after it is garbage
 * collected.
 */
export class PreparedRecord {
  /** Throws what `validate` throws for an invalid record (`INVALID_RECORD`). */
  constructor(record: KeyRecord);
  /** `validate(presented, record, requiredScopes, nowSeconds, sourceIp)`. */
  validate(
    presented: string | null | undefined,
    requiredScopes?: readonly string[] | null,
    nowSeconds?: number | null,
    sourceIp?: string | null,
  ): Verdict;
  /** Releases the WebAssembly memory at once. */
  free(): void;
}

/** What `keyId`, `validate` and `PreparedRecord` throw: an `Error` with a
 * stable `code`. */
export interface KeywardError extends Error {
  code: "MALFORMED" | "INVALID_RECORD" | "INVALID_SCOPE" | "INVALID_ARGUMENT";
}
"#;

/// The verdict codes as JS strings (a wasm-bindgen string enum: JS takes the
/// string from a constant table, nothing is copied). Internal: the
/// `VerdictCode` type above is the public one.
#[wasm_bindgen(skip_typescript)]
#[derive(Clone, Copy)]
pub enum Code {
    Valid = "VALID",
    Malformed = "MALFORMED",
    NotFound = "NOT_FOUND",
    Disabled = "DISABLED",
    Revoked = "REVOKED",
    Expired = "EXPIRED",
    ApplicationRevoked = "APPLICATION_REVOKED",
    OwnerDeleted = "OWNER_DELETED",
    InsufficientScope = "INSUFFICIENT_SCOPE",
    IpNotAllowed = "IP_NOT_ALLOWED",
    RateLimited = "RATE_LIMITED",
    UsageExceeded = "USAGE_EXCEEDED",
    CentralCheckRequired = "CENTRAL_CHECK_REQUIRED",
}

impl From<VerdictCode> for Code {
    fn from(code: VerdictCode) -> Self {
        match code {
            VerdictCode::Valid => Code::Valid,
            VerdictCode::Malformed => Code::Malformed,
            VerdictCode::NotFound => Code::NotFound,
            VerdictCode::Disabled => Code::Disabled,
            VerdictCode::Revoked => Code::Revoked,
            VerdictCode::Expired => Code::Expired,
            VerdictCode::ApplicationRevoked => Code::ApplicationRevoked,
            VerdictCode::OwnerDeleted => Code::OwnerDeleted,
            VerdictCode::InsufficientScope => Code::InsufficientScope,
            VerdictCode::IpNotAllowed => Code::IpNotAllowed,
            VerdictCode::RateLimited => Code::RateLimited,
            VerdictCode::UsageExceeded => Code::UsageExceeded,
            VerdictCode::CentralCheckRequired => Code::CentralCheckRequired,
        }
    }
}
