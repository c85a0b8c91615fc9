//! The WebAssembly exports: thin wasm-bindgen wrappers over the pure core.
//!
//! Compiled only for `wasm32`, so the native build the service links stays
//! free of wasm-bindgen. Two functions and a class:
//!
//! - `keyId(presented)`: the key id of a well-formed key, or an `Error` with
//!   `code: "MALFORMED"`;
//! - `validate(presented, record, requiredScopes?, nowSeconds?, sourceIp?)`:
//!   the verdict of `POST /verify`, decided locally by the same
//!   [`crate::decide`] that the service uses; a metered record is
//!   `CENTRAL_CHECK_REQUIRED` at best;
//! - `PreparedRecord` (`prepared.rs`): a record read and checked once, whose
//!   `validate(presented, requiredScopes?, nowSeconds?, sourceIp?)` gives
//!   the same verdict as `validate` of the record, through the same
//!   decision, without reading the record again.
//!
//! Arguments a caller got wrong (a record that is not a `KeyRecord`, an
//! invalid required scope, a time that is not a number, a source address
//! that is not a string) are `Error`s with a `code` (`INVALID_RECORD`,
//! `INVALID_SCOPE`, `INVALID_ARGUMENT`); a key that is not a key is a
//! verdict (`MALFORMED`), as in `POST /verify`, and so is a string that is
//! not an address (`IP_NOT_ALLOWED` for a key that restricts addresses).
//!
//! Speed (the goal: a whole validation costs no more than Node's
//! `createHash('sha256')` of the key alone): hashing the key is a third of
//! the time, and each call from WebAssembly into JS, or string copied by
//! wasm-bindgen's glue, costs a noticeable part of the rest. So small JS
//! helpers (`marshal.js`, shipped in the package's `snippets/`) do the
//! object work in JS, once per call each: `marshal` reads every argument and
//! record field once, type-checks them, and writes what the decision reads
//! (the key; the record's key id, hash, statuses and times; the scopes only
//! when a scope is required; the allowed addresses and the source address
//! only when the record restricts addresses) straight into a scratch buffer
//! in WebAssembly memory with `TextEncoder.encodeInto` (`scratch.rs` reads
//! it back), and `marshalCall` does the same for a `PreparedRecord` with
//! only the key, the required scopes and the source address;
//! `makeVerdict` builds the verdict object from what they read, so the
//! application id, account and scopes never pass through WebAssembly.
//! Both catch whatever a getter throws and hand it back: a JS exception
//! must not unwind through WebAssembly frames (it would skip the release of
//! the scratch buffer and wedge the module). Errors leave as values that the
//! glue throws (`run`).

mod prepared;
mod scratch;
mod types;

use crate::key;
use crate::record::DecisionFields;
use crate::verdict::{self, VerdictCode};
use core::cell::RefCell;
use scratch::{Parts, Scratch, read_inputs};
use types::Code;
use wasm_bindgen::prelude::*;

#[wasm_bindgen(module = "/src/wasm/marshal.js")]
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
        source: &JsValue,
        full: bool,
    ) -> i32;
    #[allow(clippy::too_many_arguments)]
    #[wasm_bindgen(js_name = marshalCall)]
    fn marshal_call(
        memory: &JsValue,
        pages: usize,
        ptr: *mut u8,
        key_cap: usize,
        text_cap: usize,
        presented: &JsValue,
        required: &JsValue,
        source: &JsValue,
        restricts: bool,
        fields: &JsValue,
    ) -> i32;
    #[wasm_bindgen(js_name = takeThrown)]
    fn take_thrown() -> JsValue;
    #[wasm_bindgen(js_name = takeFields)]
    fn take_fields() -> JsValue;
    #[wasm_bindgen(js_name = makeVerdict)]
    fn make_verdict(code: Code, at: i32, matched: bool) -> JsValue;
    fn failure(error: JsValue) -> JsValue;
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
const RECORD_FIELDS: [&str; 13] = [
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
    "allowed_ips",
    "metered",
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

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::new(256, 256));
    static MEMORY: JsValue = wasm_bindgen::memory();
}

/// `f` with the scratch buffer.
fn with_scratch<T>(f: impl FnOnce(&mut Scratch) -> Result<T, JsValue>) -> Result<T, JsValue> {
    SCRATCH.with(|cell| {
        // A record whose getters call validate again would find the
        // scratch buffer in use.
        let Ok(mut scratch) = cell.try_borrow_mut() else {
            return Err(error(
                "INVALID_ARGUMENT",
                "validate was called again while reading its arguments",
            ));
        };
        f(&mut scratch)
    })
}

/// Has `write` (`marshal` or `marshalCall`, given the memory, its size in
/// pages, where to write and the two capacities) fill the scratch buffer,
/// growing the buffer until what it writes fits; its refusals as errors.
/// (`dyn`: one copy of this in the module, not one per caller.)
fn fill(
    scratch: &mut Scratch,
    write: &dyn Fn(&JsValue, usize, *mut u8, usize, usize) -> i32,
) -> Result<(), JsValue> {
    loop {
        let base = scratch.base();
        let wrote = MEMORY.with(|memory| {
            write(
                memory,
                core::arch::wasm32::memory_size(0),
                scratch.bytes[base..].as_mut_ptr(),
                scratch.key_cap,
                scratch.text_cap,
            )
        });
        match wrote {
            0 => return Ok(()),
            -13..=-1 => return Err(bad_record(RECORD_FIELDS[(-wrote - 1) as usize])),
            -100 => return Err(bad_scopes()),
            -101 => {
                return Err(error(
                    "INVALID_ARGUMENT",
                    "requiredScopes must be an array of strings",
                ));
            }
            -102 => return Err(take_thrown()),
            -103 => {
                return Err(error(
                    "INVALID_ARGUMENT",
                    "sourceIp must be a string (an IPv4 or IPv6 address)",
                ));
            }
            ..=-1_000_000 => {
                *scratch = Scratch::new(scratch.key_cap, (-1_000_000 - wrote) as usize);
            }
            -999_999..=-1000 => {
                *scratch = Scratch::new((-1000 - wrote) as usize, scratch.text_cap);
            }
            _ => return Err(garbled()),
        }
    }
}

/// `nowSeconds` in whole seconds (default: the current time).
fn whole_seconds(now_seconds: Option<f64>) -> Result<i64, JsValue> {
    let now = now_seconds.unwrap_or_else(|| js_sys::Date::now() / 1000.0);
    if !now.is_finite() {
        return Err(error(
            "INVALID_ARGUMENT",
            "nowSeconds must be a finite number of epoch seconds",
        ));
    }
    // Whole seconds, as the service's clock: a key expiring at second T is
    // expired for every instant of T.
    Ok(now.floor() as i64)
}

/// A call of either `validate`: has `write` (`marshal` or `marshalCall`)
/// fill the scratch buffer, reads it back, decides against `prepared` (a
/// `PreparedRecord`'s fields) or else the record `write` wrote, and has
/// makeVerdict build the verdict. One function for both, so both take the
/// same decision (and the module holds one copy of it).
///
/// An error comes back as a value, `failure(error)`, which the JS glue
/// throws (scripts/js-fixups.mjs): a `Result` return costs a slot in the
/// externref table and an array per call, about a tenth of a prepared
/// call, and throwing from WebAssembly would skip Rust's clean-up.
fn run(
    now_seconds: Option<f64>,
    write: &dyn Fn(&JsValue, usize, *mut u8, usize, usize) -> i32,
    prepared: Option<&DecisionFields<'_, &str>>,
) -> JsValue {
    decide_and_verdict(now_seconds, write, prepared).unwrap_or_else(failure)
}

fn decide_and_verdict(
    now_seconds: Option<f64>,
    write: &dyn Fn(&JsValue, usize, *mut u8, usize, usize) -> i32,
    prepared: Option<&DecisionFields<'_, &str>>,
) -> Result<JsValue, JsValue> {
    let now = whole_seconds(now_seconds)?;
    // What makeVerdict needs: the code, where the key id starts in the
    // presented string (-1: malformed), and whether the key matched the
    // record.
    let (code, at, matched) = with_scratch(|scratch| {
        fill(scratch, write)?;
        let mut parts = Parts::default();
        let inputs = read_inputs(scratch, &mut parts)?;
        let presented = inputs.presented;
        let record = prepared.or(inputs.record.as_ref());
        let Ok(parsed) = key::parse(presented) else {
            return Ok((Code::Malformed, -1, false));
        };
        let code = verdict::decide(&parsed, record, &inputs.required, now, inputs.source_ip);
        if record.is_some() && code != VerdictCode::NotFound {
            // The key matched its record: JS passes the record's own
            // values on (its key id is the presented one).
            return Ok((code.into(), 0, true));
        }
        let start = parsed.key_id.as_ptr() as usize - presented.as_ptr() as usize;
        // The key id's offset in UTF-16 units, for JS to slice it.
        let at = presented[..start].encode_utf16().count() as i32;
        Ok((code.into(), at, false))
    })?;
    Ok(make_verdict(code, at, matched))
}

/// The verdict for a presented key (bare or a `Bearer` value; `null` is
/// `MALFORMED`) against its record (`null` when there is none: `NOT_FOUND`),
/// the scopes the caller requires, at `nowSeconds` (epoch seconds; default
/// the current time), for a caller at `sourceIp` (default: unknown).
#[wasm_bindgen(unchecked_return_type = "Verdict")]
pub fn validate(
    #[wasm_bindgen(unchecked_param_type = "string | null | undefined")] presented: JsValue,
    #[wasm_bindgen(unchecked_param_type = "KeyRecord | null | undefined")] record: JsValue,
    // Checked to be an array by marshal.
    #[wasm_bindgen(
        js_name = requiredScopes,
        unchecked_param_type = "readonly string[] | null | undefined"
    )]
    required_scopes: JsValue,
    #[wasm_bindgen(js_name = nowSeconds)] now_seconds: Option<f64>,
    #[wasm_bindgen(js_name = sourceIp, unchecked_param_type = "string | null | undefined")]
    source_ip: JsValue,
) -> JsValue {
    run(
        now_seconds,
        &|memory, pages, ptr, key_cap, text_cap| {
            marshal(
                memory,
                pages,
                ptr,
                key_cap,
                text_cap,
                &presented,
                &record,
                &required_scopes,
                &source_ip,
                false,
            )
        },
        None,
    )
}
