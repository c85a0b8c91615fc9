//! The WebAssembly exports: thin wasm-bindgen wrappers over the pure core.
//!
//! Compiled only for `wasm32`, so the native build the service links stays
//! free of wasm-bindgen. Two functions:
//!
//! - `keyId(presented)`: the key id of a well-formed key, or an `Error` with
//!   `code: "MALFORMED"`;
//! - `validate(presented, record, requiredScopes?, nowSeconds?)`: the
//!   verdict of `POST /verify`, decided locally by the same
//!   [`crate::decide`] that the service's [`crate::verdict_for`] uses.
//!
//! Arguments a caller got wrong (a record that is not a `KeyRecord`, an
//! invalid required scope, a time that is not a number) are `Error`s with a
//! `code` (`INVALID_RECORD`, `INVALID_SCOPE`, `INVALID_ARGUMENT`); a key that
//! is not a key is a verdict (`MALFORMED`), as in `POST /verify`.
//!
//! Speed (the goal: a whole validation costs no more than Node's
//! `createHash('sha256')` of the key alone): hashing the key is a third of
//! the time, and each call from WebAssembly into JS, or string copied by
//! wasm-bindgen's glue, costs a noticeable part of the rest. So two small JS
//! helpers (wasm-bindgen `inline_js`, shipped in the package's `snippets/`)
//! do the object work in JS, once per call each: `marshal` reads every
//! argument and record field once, type-checks them, and writes what the
//! decision reads (the key; the record's key id, hash, statuses and times;
//! the scopes only when a scope is required) straight into a scratch buffer
//! in WebAssembly memory with `TextEncoder.encodeInto`; `makeVerdict`
//! builds the verdict object from what `marshal` read, so the application
//! id, account and scopes never pass through WebAssembly. `marshal` catches
//! whatever a getter throws and hands it back to be thrown from here: a JS
//! exception must not unwind through WebAssembly frames (it would skip the
//! release of the scratch buffer and wedge the module).

use crate::key;
use crate::scope::{MAX_SCOPES, is_valid_scope};
use crate::verdict::{
    self, ApplicationStatus, DecisionFields, OwnerStatus, StoredKeyStatus, VerdictCode,
};
use core::cell::RefCell;
use core::str::from_utf8;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &'static str = r#"
/** A verdict code: the same set as `POST /verify`. */
export type VerdictCode =
  | "VALID"
  | "MALFORMED"
  | "NOT_FOUND"
  | "DISABLED"
  | "REVOKED"
  | "EXPIRED"
  | "APPLICATION_REVOKED"
  | "OWNER_DELETED"
  | "INSUFFICIENT_SCOPE";

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
}

/** The answer of `validate`: `POST /verify`'s answer, in camelCase. */
export interface Verdict {
  valid: boolean;
  code: VerdictCode;
  /** Set when the key is well formed (the id is public). */
  keyId?: string;
  /** The rest is set only when the presented key matched its record. */
  applicationId?: string;
  account?: string;
  scopes?: string[];
  /** Epoch seconds. */
  expiresAt?: number;
}

/**
 * The verdict for a presented key (a bare key or an `Authorization` value
 * with the `Bearer` scheme; `null` is `MALFORMED`) against its record
 * (`null` when keyward has none: `NOT_FOUND`), the scopes the caller
 * requires, at `nowSeconds` (epoch seconds, floored; default: now).
 * (This signature makes the trailing arguments optional, which wasm-bindgen
 * cannot say for a parameter with a declared type.)
 */
export function validate(
  presented: string | null | undefined,
  record: KeyRecord | null | undefined,
  requiredScopes?: readonly string[] | null,
  nowSeconds?: number | null,
): Verdict;

/** What `keyId` and `validate` throw: an `Error` with a stable `code`. */
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
        }
    }
}

#[wasm_bindgen(inline_js = r#"
const NL = "\n";
const enc = new TextEncoder();
const line = (s) => typeof s === "string" && !s.includes(NL);
let at = -1, pages = -1, keyCap = 0, textCap = 0;
let ints, floats, keyBytes, textBytes;
// What marshal read, for makeVerdict: each argument and record field is
// read once, so the verdict agrees with the decision even if a getter
// would answer differently the second time.
let sPresented = "", sKeyId, sApplicationId, sAccount, sScopes, sExpiresAt;
// What reading the arguments threw: it must not unwind through WebAssembly.
let thrown;
export function takeThrown() {
  const error = thrown;
  thrown = undefined;
  return error;
}
// Writes validate's inputs, type-checked, into the scratch buffer at `ptr`
// (8-aligned): 8 i32 and 2 f64; the presented key as UTF-8 (kc bytes; it
// may hold anything); then (tc bytes) "\n"-separated lines: the record's key
// id and hash, the required scopes, the record's scopes (these two only when
// a scope is required). Returns 0, or: -1 to -11, that record field is
// missing or of the wrong type; -100, a required scope is not a string (or
// holds a line break); -101, requiredScopes is not an array; -102, reading
// the arguments threw (takeThrown() has it); <= -1000, the key needs
// -1000 - r bytes; <= -1000000, the lines need -1000000 - r.
export function marshal(memory, size, ptr, kc, tc, presented, record, required) {
  try {
    return write(memory, size, ptr, kc, tc, presented, record, required);
  } catch (error) {
    thrown = error;
    return -102;
  }
}
function write(memory, size, ptr, kc, tc, presented, record, required) {
  if (ptr !== at || size !== pages || kc !== keyCap || tc !== textCap) {
    const b = memory.buffer;
    ints = new Int32Array(b, ptr, 8);
    floats = new Float64Array(b, ptr + 32, 2);
    keyBytes = new Uint8Array(b, ptr + 48, kc);
    textBytes = new Uint8Array(b, ptr + 48 + kc, tc);
    at = ptr; pages = size; keyCap = kc; textCap = tc;
  }
  if (typeof presented !== "string") presented = "";
  let r = enc.encodeInto(presented, keyBytes);
  if (r.read !== presented.length) return -1000 - 3 * presented.length;
  ints[0] = r.written;
  let need = false;
  let requiredLines = "";
  if (required == null) ints[4] = 0;
  else if (!Array.isArray(required)) return -101;
  else {
    const n = required.length;
    for (let i = 0; i < n; i++) {
      const s = required[i];
      if (!line(s)) return -100;
      requiredLines += i === 0 ? s : NL + s;
    }
    ints[4] = n;
    need = n > 0;
  }
  let text;
  ints[5] = 0;
  if (record == null) {
    ints[1] = 0;
    sPresented = presented;
    text = requiredLines;
  } else {
    if (typeof record !== "object") return -1;
    const { key_id, application_id, account, hash, status, expires_at, revoke_at, scopes,
      application_status, owner_status } = record;
    if (typeof key_id !== "string") return -2;
    if (typeof application_id !== "string") return -3;
    if (typeof account !== "string") return -4;
    if (typeof hash !== "string") return -5;
    const st = status === "active" ? 0 : status === "disabled" ? 1 : status === "revoked" ? 2 : -1;
    if (st < 0) return -6;
    if (!Number.isSafeInteger(expires_at)) return -7;
    if (revoke_at != null && !Number.isSafeInteger(revoke_at)) return -8;
    if (!Array.isArray(scopes)) return -9;
    const as = application_status === "active" ? 0 : application_status === "revoked" ? 1 : -1;
    if (as < 0) return -10;
    const os = owner_status === "active" ? 0 : owner_status === "deleted" ? 1 : -1;
    if (os < 0) return -11;
    // The verdict's own copy of the scopes, read once, then checked (and
    // their lines, when needed).
    const granted = Array.prototype.slice.call(scopes);
    const n = granted.length;
    let grantedLines = "";
    for (let i = 0; i < n; i++) {
      const g = granted[i];
      if (typeof g !== "string") return -9;
      if (need) {
        if (g.includes(NL)) return -9;
        grantedLines += NL + g;
      }
    }
    ints[1] = 1;
    ints[3] = st | (as << 2) | (os << 4);
    floats[0] = expires_at;
    floats[1] = revoke_at ?? NaN;
    // A key id or hash with a line break cannot match: both go as empty.
    text = line(key_id) && line(hash) ? key_id + NL + hash : NL;
    // The record's scopes matter only when a scope is required.
    if (need) ints[5] = n;
    sPresented = presented;
    sKeyId = key_id;
    sApplicationId = application_id;
    sAccount = account;
    sScopes = granted;
    sExpiresAt = expires_at;
    if (need) text += NL + requiredLines + grantedLines;
  }
  if (text === "") ints[6] = 0;
  else {
    r = enc.encodeInto(text, textBytes);
    if (r.read !== text.length) return -1000000 - 3 * text.length;
    ints[6] = r.written;
  }
  return 0;
}
// The verdict object, from the values marshal read (it cannot throw).
export function makeVerdict(code, at, matched) {
  let verdict;
  if (at < 0) verdict = { valid: false, code };
  else if (!matched) verdict = { valid: false, code, keyId: sPresented.slice(at, at + 22) };
  else {
    verdict = {
      valid: code === "VALID", code, keyId: sKeyId, applicationId: sApplicationId,
      account: sAccount, scopes: sScopes, expiresAt: sExpiresAt,
    };
  }
  sPresented = "";
  sKeyId = sApplicationId = sAccount = sScopes = sExpiresAt = undefined;
  return verdict;
}
"#)]
extern "C" {
    #[allow(clippy::too_many_arguments)]
    fn marshal(
        memory: &JsValue,
        pages: usize,
        ptr: *mut u8,
        key_cap: usize,
        text_cap: usize,
        presented: &JsValue,
        record: &JsValue,
        required: &JsValue,
    ) -> i32;
    #[wasm_bindgen(js_name = takeThrown)]
    fn take_thrown() -> JsValue;
    #[wasm_bindgen(js_name = makeVerdict)]
    fn make_verdict(code: Code, at: i32, matched: bool) -> JsValue;
}

/// A JS `Error` with a `code` property.
fn error(code: &str, message: &str) -> JsValue {
    let err = js_sys::Error::new(message);
    // Setting a property on a fresh Error cannot fail.
    let _ = js_sys::Reflect::set(&err, &JsValue::from_str("code"), &JsValue::from_str(code));
    err.into()
}

/// The key id of a well-formed key (bare or a `Bearer` value); throws an
/// `Error` with `code: "MALFORMED"` for a bad shape or checksum.
#[wasm_bindgen(js_name = keyId)]
pub fn key_id(presented: Option<String>) -> Result<String, JsValue> {
    match key::parse(presented.as_deref().unwrap_or_default()) {
        Ok(parsed) => Ok(parsed.key_id.to_owned()),
        Err(reason) => Err(error("MALFORMED", reason.message())),
    }
}

/// The fields `marshal` reports by number.
const RECORD_FIELDS: [&str; 11] = [
    "record",
    "key_id",
    "application_id",
    "account",
    "hash",
    "status",
    "expires_at",
    "revoke_at",
    "scopes",
    "application_status",
    "owner_status",
];

fn bad_record(field: &str) -> JsValue {
    error(
        "INVALID_RECORD",
        &[
            "the record's ",
            field,
            " is missing or invalid (a record is the body of GET /keys/{id}/record)",
        ]
        .concat(),
    )
}

fn bad_scopes() -> JsValue {
    error(
        "INVALID_SCOPE",
        "required scopes match [a-z0-9_.-]+(:[a-z0-9_.*-]+)*, are at most 128 characters, and at most 64 of them",
    )
}

fn garbled() -> JsValue {
    error("INVALID_ARGUMENT", "garbled arguments")
}

/// Where `marshal` writes (see its layout), in WebAssembly memory.
struct Scratch {
    bytes: Vec<u8>,
    key_cap: usize,
    text_cap: usize,
}

const HEADER: usize = 48;

impl Scratch {
    fn new(key_cap: usize, text_cap: usize) -> Self {
        // 7 spare bytes to start the layout on an 8-byte boundary.
        Scratch {
            bytes: vec![0; 7 + HEADER + key_cap + text_cap],
            key_cap,
            text_cap,
        }
    }

    fn base(&self) -> usize {
        self.bytes.as_ptr().align_offset(8)
    }

    fn int(&self, i: usize) -> i32 {
        let at = self.base() + 4 * i;
        i32::from_le_bytes(self.bytes[at..at + 4].try_into().unwrap_or_default())
    }

    fn float(&self, i: usize) -> f64 {
        let at = self.base() + 32 + 8 * i;
        f64::from_le_bytes(self.bytes[at..at + 8].try_into().unwrap_or_default())
    }

    /// `len` bytes of text at `offset` past the header.
    fn text(&self, offset: usize, len: i32) -> Result<&str, JsValue> {
        let at = self.base() + HEADER + offset;
        let len = usize::try_from(len).map_err(|_| garbled())?;
        let bytes = self.bytes.get(at..at + len).ok_or_else(garbled)?;
        from_utf8(bytes).map_err(|_| garbled())
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new(256, 256));
    static MEMORY: JsValue = wasm_bindgen::memory();
}

/// The record's decision fields as `marshal` wrote them (the granted scopes
/// only when a scope is required).
struct Record<'a> {
    key_id: &'a str,
    hash: &'a str,
    status: StoredKeyStatus,
    expires_at: i64,
    revoke_at: Option<i64>,
    scopes: Vec<&'a str>,
    application_status: ApplicationStatus,
    owner_status: OwnerStatus,
}

impl<'a> Record<'a> {
    fn fields(&self) -> DecisionFields<'_, &'a str> {
        DecisionFields {
            key_id: self.key_id,
            hash: self.hash,
            status: self.status,
            expires_at: self.expires_at,
            revoke_at: self.revoke_at,
            scopes: &self.scopes,
            application_status: self.application_status,
            owner_status: self.owner_status,
        }
    }
}

/// What `marshal` wrote, read back; borrowed from the scratch buffer.
struct Inputs<'a> {
    presented: &'a str,
    required: Vec<&'a str>,
    record: Option<Record<'a>>,
}

/// The "\n"-separated lines of a text (a byte search: cheaper than a `str`
/// pattern search on lines this short).
struct Lines<'a>(Option<&'a str>);

impl<'a> Iterator for Lines<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        let text = self.0?;
        match text.bytes().position(|c| c == b'\n') {
            Some(at) => {
                self.0 = text.get(at + 1..);
                text.get(..at)
            }
            None => self.0.take(),
        }
    }
}

fn read_inputs(scratch: &Scratch) -> Result<Inputs<'_>, JsValue> {
    let presented = scratch.text(0, scratch.int(0))?;
    let mut lines = Lines(Some(scratch.text(scratch.key_cap, scratch.int(6))?));
    let mut next = || lines.next().ok_or_else(garbled);
    let ids = if scratch.int(1) != 0 {
        Some((next()?, next()?))
    } else {
        None
    };
    let mut take =
        |count: i32| -> Result<Vec<&str>, JsValue> { (0..count).map(|_| next()).collect() };
    let required_count = scratch.int(4);
    if required_count as usize > MAX_SCOPES {
        return Err(bad_scopes());
    }
    let required = take(required_count)?;
    if !required.iter().all(|s| is_valid_scope(s)) {
        return Err(bad_scopes());
    }
    let Some((key_id, hash)) = ids else {
        return Ok(Inputs {
            presented,
            required,
            record: None,
        });
    };
    let statuses = scratch.int(3);
    let seconds = |value: f64| value as i64;
    let revoke_at = scratch.float(1);
    let record = Record {
        key_id,
        hash,
        status: match statuses & 3 {
            0 => StoredKeyStatus::Active,
            1 => StoredKeyStatus::Disabled,
            _ => StoredKeyStatus::Revoked,
        },
        application_status: match (statuses >> 2) & 3 {
            0 => ApplicationStatus::Active,
            _ => ApplicationStatus::Revoked,
        },
        owner_status: match (statuses >> 4) & 3 {
            0 => OwnerStatus::Active,
            _ => OwnerStatus::Deleted,
        },
        // Safe integers, checked by marshal.
        expires_at: seconds(scratch.float(0)),
        revoke_at: (!revoke_at.is_nan()).then(|| seconds(revoke_at)),
        scopes: take(scratch.int(5))?,
    };
    Ok(Inputs {
        presented,
        required,
        record: Some(record),
    })
}

/// The verdict for a presented key (bare or a `Bearer` value; `null` is
/// `MALFORMED`) against its record (`null` when there is none: `NOT_FOUND`),
/// the scopes the caller requires, at `nowSeconds` (epoch seconds; default
/// the current time).
#[wasm_bindgen(unchecked_return_type = "Verdict")]
pub fn validate(
    #[wasm_bindgen(unchecked_param_type = "string | null | undefined")] presented: JsValue,
    #[wasm_bindgen(unchecked_param_type = "KeyRecord | null | undefined")] record: JsValue,
    #[wasm_bindgen(
        js_name = requiredScopes,
        unchecked_param_type = "readonly string[] | null | undefined"
    )]
    required_scopes: Option<js_sys::Array>,
    #[wasm_bindgen(js_name = nowSeconds)] now_seconds: Option<f64>,
) -> Result<JsValue, JsValue> {
    // Not checked to be an array yet: marshal does.
    let required_scopes: JsValue = required_scopes.map_or(JsValue::UNDEFINED, Into::into);
    let now = now_seconds.unwrap_or_else(|| js_sys::Date::now() / 1000.0);
    if !now.is_finite() {
        return Err(error(
            "INVALID_ARGUMENT",
            "nowSeconds must be a finite number of epoch seconds",
        ));
    }
    // Whole seconds, as the service's clock: a key expiring at second T is
    // expired for every instant of T.
    let now = now.floor() as i64;
    // What makeVerdict needs: the code, where the key id starts in the
    // presented string (-1: malformed), and whether the key matched the
    // record.
    let (code, at, matched) = SCRATCH.with(|cell| {
        // A record whose getters call validate again would find the
        // scratch buffer in use.
        let Ok(mut scratch) = cell.try_borrow_mut() else {
            return Err(error(
                "INVALID_ARGUMENT",
                "validate was called again while reading its arguments",
            ));
        };
        let scratch = &mut *scratch;
        loop {
            let base = scratch.base();
            let wrote = MEMORY.with(|memory| {
                marshal(
                    memory,
                    core::arch::wasm32::memory_size(0),
                    scratch.bytes[base..].as_mut_ptr(),
                    scratch.key_cap,
                    scratch.text_cap,
                    &presented,
                    &record,
                    &required_scopes,
                )
            });
            match wrote {
                0 => break,
                -11..=-1 => return Err(bad_record(RECORD_FIELDS[(-wrote - 1) as usize])),
                -100 => return Err(bad_scopes()),
                -101 => {
                    return Err(error(
                        "INVALID_ARGUMENT",
                        "requiredScopes must be an array of strings",
                    ));
                }
                -102 => return Err(take_thrown()),
                ..=-1_000_000 => {
                    *scratch = Scratch::new(scratch.key_cap, (-1_000_000 - wrote) as usize);
                }
                -999_999..=-1000 => {
                    *scratch = Scratch::new((-1000 - wrote) as usize, scratch.text_cap);
                }
                _ => return Err(garbled()),
            }
        }
        let inputs = read_inputs(scratch)?;
        let Ok(parsed) = key::parse(inputs.presented) else {
            return Ok((Code::Malformed, -1, false));
        };
        let fields = inputs.record.as_ref().map(Record::fields);
        let code = verdict::decide(&parsed, fields.as_ref(), &inputs.required, now);
        if fields.is_some() && code != VerdictCode::NotFound {
            // The key matched its record: JS passes the record's own
            // values on (its key id is the presented one).
            return Ok((code.into(), 0, true));
        }
        let start = parsed.key_id.as_ptr() as usize - inputs.presented.as_ptr() as usize;
        // The key id's offset in UTF-16 units, for JS to slice it.
        let at = inputs.presented[..start].encode_utf16().count() as i32;
        Ok((code.into(), at, false))
    })?;
    Ok(make_verdict(code, at, matched))
}
