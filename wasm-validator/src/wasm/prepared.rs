//! `PreparedRecord`: a record read, type-checked and kept in WebAssembly
//! memory once, for a verifier that validates many calls against a record
//! it caches (an SDK's record cache, a Worker's).
//!
//! `validate` of a plain record reads every field of it from JS, joins the
//! record's scopes into lines and encodes them on every call: with one
//! required scope that was a fifth of the call (BENCHMARKS.md). A prepared
//! record's `validate` writes only the presented key, the required scopes
//! and, for a record that restricts addresses, the source address; the
//! decision is the same [`super::decide`] of the same fields, so the verdict
//! is the one `validate` gives for the record.
//!
//! The object holds WebAssembly memory: `free()` releases it at once (a
//! cache calls it when it drops the record); otherwise wasm-bindgen's
//! `FinalizationRegistry` releases it some time after the object is
//! garbage.

use super::scratch::{Parts, Strs, read_inputs};
use super::{fill, marshal, marshal_call, run, take_fields, with_scratch};
use crate::ip::AllowedIps;
use crate::record::{ApplicationStatus, DecisionFields, OwnerStatus, StoredKeyStatus};
use wasm_bindgen::prelude::*;

/// The decision fields of a record, owned: [`DecisionFields`] borrows.
struct Owned {
    key_id: String,
    hash: String,
    status: StoredKeyStatus,
    expires_at: i64,
    revoke_at: Option<i64>,
    scopes: Vec<String>,
    application_status: ApplicationStatus,
    owner_status: OwnerStatus,
    allowed_ips: AllowedIps,
    metered: bool,
}

impl Owned {
    fn of(fields: &DecisionFields<'_, &str>) -> Self {
        Owned {
            key_id: fields.key_id.to_owned(),
            hash: fields.hash.to_owned(),
            status: fields.status,
            expires_at: fields.expires_at,
            revoke_at: fields.revoke_at,
            scopes: fields.scopes.iter().map(|s| (*s).to_owned()).collect(),
            application_status: fields.application_status,
            owner_status: fields.owner_status,
            allowed_ips: fields.allowed_ips.clone(),
            metered: fields.metered,
        }
    }

    fn fields<'a>(&'a self, scopes: &'a [&'a str]) -> DecisionFields<'a, &'a str> {
        DecisionFields {
            key_id: &self.key_id,
            hash: &self.hash,
            status: self.status,
            expires_at: self.expires_at,
            revoke_at: self.revoke_at,
            scopes,
            application_status: self.application_status,
            owner_status: self.owner_status,
            allowed_ips: &self.allowed_ips,
            metered: self.metered,
        }
    }
}

/// A key's record, read and checked once (the TypeScript declaration is in
/// types.rs).
#[wasm_bindgen(skip_typescript)]
pub struct PreparedRecord {
    owned: Owned,
    /// What a verdict carries of the record, as JS read it (takeFields).
    fields: JsValue,
}

#[wasm_bindgen]
impl PreparedRecord {
    /// Reads and checks `record` as `validate` does (the same errors), and
    /// keeps what the decision needs.
    #[wasm_bindgen(constructor, skip_typescript)]
    pub fn new(record: JsValue) -> Result<PreparedRecord, JsValue> {
        // `null` is a record to `validate` (there is none), not to this.
        if record.is_null() || record.is_undefined() {
            return Err(super::bad_record("record"));
        }
        with_scratch(|scratch| {
            let none = JsValue::UNDEFINED;
            let empty = JsValue::from_str("");
            fill(scratch, &|memory, pages, ptr, key_cap, text_cap| {
                marshal(
                    memory, pages, ptr, key_cap, text_cap, &empty, &record, &none, &none, true,
                )
            })?;
            let fields = take_fields();
            let mut parts = Parts::default();
            let inputs = read_inputs(scratch, &mut parts)?;
            let record = inputs.record.as_ref().ok_or_else(super::garbled)?;
            Ok(PreparedRecord {
                owned: Owned::of(record),
                fields,
            })
        })
    }

    /// The verdict of `validate(presented, record, requiredScopes,
    /// nowSeconds, sourceIp)` for this record.
    #[wasm_bindgen(skip_typescript)]
    pub fn validate(
        &self,
        presented: JsValue,
        required_scopes: JsValue,
        now_seconds: Option<f64>,
        source_ip: JsValue,
    ) -> JsValue {
        let scopes: Strs = self.owned.scopes.iter().map(String::as_str).collect();
        let record = self.owned.fields(&scopes);
        let restricts = !record.allowed_ips.is_empty();
        run(
            now_seconds,
            &|memory, pages, ptr, key_cap, text_cap| {
                marshal_call(
                    memory,
                    pages,
                    ptr,
                    key_cap,
                    text_cap,
                    &presented,
                    &required_scopes,
                    &source_ip,
                    restricts,
                    &self.fields,
                )
            },
            Some(&record),
        )
    }
}
