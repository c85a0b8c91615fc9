//! The shared verdict vectors, `tests/verdict_vectors.json`: generated here
//! from real keys and records, checked here against the Rust core, and read
//! by the JS tests (Node, Chromium, workerd) against the WebAssembly package.
//!
//! `KEYWARD_UPDATE_VECTORS=1 cargo test -p wasm-validator --test verdict_vectors`
//! rewrites the file; otherwise the test fails when the committed file is
//! not exactly what this generator makes.

use serde_json::{Value, json};
use std::path::PathBuf;
use wasm_validator::base62;
use wasm_validator::key::{self, CHECKSUM_LEN, KEY_ID_LEN};
use wasm_validator::{
    AllowedIps, ApplicationStatus, KeyRecord, OwnerStatus, StoredKeyStatus, VerdictCode,
    format_key, hash_key, parse_source_ip, validate,
};

/// The vectors' clock: 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000;
const HOUR: i64 = 3600;

fn path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/verdict_vectors.json")
}

/// Fixed "random" bytes, so the file is the same on every run.
fn bytes<const N: usize>(seed: u8) -> [u8; N] {
    core::array::from_fn(|i| {
        (i as u8)
            .wrapping_mul(97)
            .wrapping_add(seed.wrapping_mul(31))
    })
}

fn record_for(key_id: &str, key: &str, scopes: &[&str]) -> KeyRecord {
    KeyRecord {
        key_id: key_id.to_owned(),
        application_id: "app_01JQ8Z6W3V4N5M7P8R9S0T1U2V".into(),
        account: "acct_acme".into(),
        hash: key::to_hex(&hash_key(key)),
        status: StoredKeyStatus::Active,
        expires_at: NOW + 30 * 24 * HOUR,
        revoke_at: None,
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        application_status: ApplicationStatus::Active,
        owner_status: OwnerStatus::Active,
        allowed_ips: AllowedIps::default(),
        metered: false,
    }
}

/// Replaces the character at `pos` with another base62 digit.
fn typo(key: &str, pos: usize) -> String {
    let mut bytes = key.as_bytes().to_vec();
    bytes[pos] = if bytes[pos] == b'x' { b'y' } else { b'x' };
    String::from_utf8(bytes).unwrap()
}

/// Swaps the characters at `pos` and `pos + 1` (they must differ).
fn transpose(key: &str, pos: usize) -> String {
    let mut bytes = key.as_bytes().to_vec();
    assert_ne!(bytes[pos], bytes[pos + 1], "pick differing neighbours");
    bytes.swap(pos, pos + 1);
    String::from_utf8(bytes).unwrap()
}

/// A string with a valid checksum whose secret does not fit in 32 bytes
/// (found by the parse_key fuzz target): no generated key looks like it.
fn overflowing_secret(key_id: &str) -> String {
    let head = format!("kw_{key_id}{}", "z".repeat(43));
    let checksum = base62::encode(
        &wasm_validator::crc32::crc32(head.as_bytes()).to_be_bytes(),
        CHECKSUM_LEN,
    );
    format!("{head}{checksum}")
}

/// A string with a valid checksum whose key id does not fit in 16 bytes:
/// well formed to a scanner, but no generated key looks like it.
fn overflowing_key_id(secret_part: &str) -> String {
    let head = format!("kw_{}{}", "z".repeat(KEY_ID_LEN), secret_part);
    let checksum = base62::encode(
        &wasm_validator::crc32::crc32(head.as_bytes()).to_be_bytes(),
        CHECKSUM_LEN,
    );
    format!("{head}{checksum}")
}

// Beside this file, not in tests/, so cargo does not build it as a test of
// its own.
#[path = "verdict_vectors/usage_control.rs"]
mod usage_control;

struct Vectors(Vec<Value>);

impl Vectors {
    /// Adds one vector with no source address after checking that the core
    /// gives `want`; the vector's expected verdict is the core's whole
    /// answer.
    fn add(
        &mut self,
        name: &str,
        presented: &str,
        record: Option<&KeyRecord>,
        required_scopes: &[&str],
        now: i64,
        want: VerdictCode,
    ) {
        let record = serde_json::to_value(record).unwrap();
        self.push(name, presented, record, required_scopes, now, None, want);
    }

    /// Adds one vector of `presented` against `record` (its JSON, so a
    /// vector can hold what a record's canonical form would not: e.g. an
    /// IPv4-mapped block) from `source_ip` (`None`: not given), checked like
    /// [`Vectors::add`].
    #[allow(clippy::too_many_arguments)]
    fn push(
        &mut self,
        name: &str,
        presented: &str,
        record: Value,
        required_scopes: &[&str],
        now: i64,
        source_ip: Option<&str>,
        want: VerdictCode,
    ) {
        let parsed: Option<KeyRecord> = serde_json::from_value(record.clone()).unwrap();
        let source = source_ip.and_then(parse_source_ip);
        let verdict = validate(presented, parsed.as_ref(), required_scopes, now, source);
        assert_eq!(verdict.code, want, "vector {name:?}");
        assert_eq!(verdict.valid, want == VerdictCode::Valid, "vector {name:?}");
        match want {
            VerdictCode::Malformed => assert_eq!(verdict.key_id, None, "{name}"),
            VerdictCode::NotFound => {
                assert!(verdict.key_id.is_some(), "{name}");
                assert_eq!(verdict.application_id, None, "{name}: leaks the record");
            }
            _ => assert!(verdict.application_id.is_some(), "{name}"),
        }
        assert!(
            self.0.iter().all(|v| v["name"] != name),
            "duplicate vector name {name:?}"
        );
        let mut vector = json!({
            "name": name,
            "presented": presented,
            "record": record,
            "required_scopes": required_scopes,
            "now": now,
        });
        if let Some(source_ip) = source_ip {
            vector["source_ip"] = source_ip.into();
        }
        vector["expected"] = serde_json::to_value(&verdict).unwrap();
        self.0.push(vector);
    }
}

fn generate() -> String {
    use VerdictCode::*;

    let (acme_id, acme) = format_key("acme", &bytes::<16>(1), &bytes::<32>(2));
    let acme_record = record_for(&acme_id, &acme, &["sims:*", "billing:read"]);
    // The same key id with another secret: a valid checksum, a wrong secret.
    let (_, acme_wrong_secret) = format_key("acme", &bytes::<16>(1), &bytes::<32>(3));
    let (kw_id, kw) = format_key("kw", &bytes::<16>(4), &bytes::<32>(5));
    let kw_record = record_for(&kw_id, &kw, &["x:*:read", "audit:view"]);
    let (long_id, long) = format_key("acme2024sandbox0", &bytes::<16>(6), &bytes::<32>(7));
    let long_record = record_for(&long_id, &long, &[]);
    let (zero_id, zero) = format_key("a", &[0; 16], &[0; 32]);
    let zero_record = record_for(&zero_id, &zero, &[]);
    let (max_id, max) = format_key("kw", &[0xff; 16], &[0xff; 32]);
    let max_record = record_for(&max_id, &max, &[]);

    let with = |change: &dyn Fn(&mut KeyRecord)| {
        let mut record = acme_record.clone();
        change(&mut record);
        record
    };
    let expires = acme_record.expires_at;

    let mut v = Vectors(Vec::new());
    let r = Some(&acme_record);

    // Accepted forms of a good key.
    v.add("valid bare key", &acme, r, &[], NOW, Valid);
    v.add(
        "valid Bearer value",
        &format!("Bearer {acme}"),
        r,
        &[],
        NOW,
        Valid,
    );
    v.add(
        "valid bearer scheme in lower case, extra spaces and a newline",
        &format!("  bearer   {acme}\r\n"),
        r,
        &[],
        NOW,
        Valid,
    );
    v.add(
        "valid BEARER with a tab",
        &format!("BEARER\t{acme}"),
        r,
        &[],
        NOW,
        Valid,
    );
    v.add(
        "valid default kw prefix",
        &kw,
        Some(&kw_record),
        &[],
        NOW,
        Valid,
    );
    v.add(
        "valid 16-character prefix",
        &long,
        Some(&long_record),
        &[],
        NOW,
        Valid,
    );
    v.add(
        "valid all-zero id and secret",
        &zero,
        Some(&zero_record),
        &[],
        NOW,
        Valid,
    );
    v.add(
        "valid all-ones id and secret",
        &max,
        Some(&max_record),
        &[],
        NOW,
        Valid,
    );

    // Scopes.
    v.add(
        "scope granted exactly",
        &acme,
        r,
        &["billing:read"],
        NOW,
        Valid,
    );
    v.add(
        "scope granted by a trailing wildcard",
        &acme,
        r,
        &["sims:read"],
        NOW,
        Valid,
    );
    v.add(
        "trailing wildcard grants deeper scopes",
        &acme,
        r,
        &["sims:read:eu"],
        NOW,
        Valid,
    );
    v.add(
        "several scopes all granted",
        &format!("Bearer {acme}"),
        r,
        &["sims:write", "billing:read"],
        NOW,
        Valid,
    );
    v.add(
        "wildcard does not grant the bare resource",
        &acme,
        r,
        &["sims"],
        NOW,
        InsufficientScope,
    );
    v.add(
        "scope not granted",
        &acme,
        r,
        &["billing:write"],
        NOW,
        InsufficientScope,
    );
    v.add(
        "one of several scopes not granted",
        &acme,
        r,
        &["sims:read", "billing:write"],
        NOW,
        InsufficientScope,
    );
    v.add(
        "granted scope does not grant a longer one",
        &acme,
        r,
        &["billing:read:eu"],
        NOW,
        InsufficientScope,
    );
    v.add(
        "middle wildcard grants any one segment",
        &kw,
        Some(&kw_record),
        &["x:eu:read"],
        NOW,
        Valid,
    );
    v.add(
        "middle wildcard does not grant another action",
        &kw,
        Some(&kw_record),
        &["x:eu:write"],
        NOW,
        InsufficientScope,
    );
    v.add(
        "key with no scopes and a required scope",
        &long,
        Some(&long_record),
        &["sims:read"],
        NOW,
        InsufficientScope,
    );

    // Malformed: rejected before any look-up, whatever the record says.
    let body = acme.find('_').unwrap() + 1;
    v.add("empty string", "", r, &[], NOW, Malformed);
    v.add("white space only", " \t ", r, &[], NOW, Malformed);
    v.add("Bearer with no key", "Bearer ", r, &[], NOW, Malformed);
    v.add(
        "typo in the key id",
        &typo(&acme, body + 3),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "typo in the secret",
        &typo(&acme, body + 40),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "typo in the checksum",
        &typo(&acme, acme.len() - 1),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "typo in the prefix",
        &format!("acne{}", &acme[4..]),
        r,
        &[],
        NOW,
        Malformed,
    );
    let swap = (body..acme.len() - 1)
        .find(|&i| acme.as_bytes()[i] != acme.as_bytes()[i + 1])
        .unwrap();
    v.add(
        "adjacent characters swapped",
        &transpose(&acme, swap),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "truncated by one character",
        &acme[..acme.len() - 1],
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "truncated to the key id",
        &acme[..body + KEY_ID_LEN],
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "extended by one character",
        &format!("{acme}0"),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add("prefix only", "acme_", r, &[], NOW, Malformed);
    v.add(
        "no underscore",
        &acme.replace('_', ""),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "upper-case prefix",
        &format!("ACME{}", &acme[4..]),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "character outside base62",
        &format!("{}-{}", &acme[..body + 10], &acme[body + 11..]),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "non-ASCII character",
        &format!("{}é{}", &acme[..body + 10], &acme[body + 12..]),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "Basic scheme",
        &format!("Basic {acme}"),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "Bearer without a space",
        &format!("Bearer{acme}"),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "two keys",
        &format!("{acme} {acme}"),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "a JWT",
        "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ1c2VyIn0.c2lnbmF0dXJl",
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "key id too large for 16 bytes, checksum valid",
        &overflowing_key_id(&acme[body + KEY_ID_LEN..body + KEY_ID_LEN + 43]),
        r,
        &[],
        NOW,
        Malformed,
    );
    v.add(
        "secret too large for 32 bytes, checksum valid",
        &overflowing_secret(&acme[body..body + KEY_ID_LEN]),
        r,
        &[],
        NOW,
        Malformed,
    );

    // Unknown keys and wrong secrets answer alike.
    v.add(
        "unknown key id (no record)",
        &acme,
        None,
        &[],
        NOW,
        NotFound,
    );
    v.add(
        "unknown key id with scopes required",
        &format!("Bearer {acme}"),
        None,
        &["sims:read"],
        NOW,
        NotFound,
    );
    v.add("wrong secret", &acme_wrong_secret, r, &[], NOW, NotFound);
    v.add(
        "wrong secret against a revoked key",
        &acme_wrong_secret,
        Some(&with(&|k| k.status = StoredKeyStatus::Revoked)),
        &[],
        NOW,
        NotFound,
    );
    v.add(
        "wrong secret against an expired key",
        &acme_wrong_secret,
        r,
        &[],
        expires,
        NotFound,
    );
    v.add(
        "record of another key",
        &acme,
        Some(&kw_record),
        &[],
        NOW,
        NotFound,
    );
    v.add(
        "record with this key id but another key's hash",
        &acme,
        Some(&with(&|k| k.hash = kw_record.hash.clone())),
        &[],
        NOW,
        NotFound,
    );

    // Statuses.
    let disabled = with(&|k| k.status = StoredKeyStatus::Disabled);
    let revoked = with(&|k| k.status = StoredKeyStatus::Revoked);
    v.add("disabled key", &acme, Some(&disabled), &[], NOW, Disabled);
    v.add(
        "disabled key with an ungranted scope",
        &acme,
        Some(&disabled),
        &["billing:write"],
        NOW,
        Disabled,
    );
    v.add(
        "revoked key",
        &format!("Bearer {acme}"),
        Some(&revoked),
        &[],
        NOW,
        Revoked,
    );
    v.add(
        "revoked key before its expiry",
        &acme,
        Some(&revoked),
        &["sims:read"],
        expires - 1,
        Revoked,
    );

    // Expiry at the exact second.
    v.add(
        "one second before expiry",
        &acme,
        r,
        &[],
        expires - 1,
        Valid,
    );
    v.add("at the second of expiry", &acme, r, &[], expires, Expired);
    v.add(
        "long after expiry",
        &acme,
        r,
        &[],
        expires + 365 * 24 * HOUR,
        Expired,
    );
    v.add(
        "expired and disabled",
        &acme,
        Some(&disabled),
        &[],
        expires,
        Expired,
    );
    v.add(
        "expired with an ungranted scope",
        &acme,
        r,
        &["billing:write"],
        expires,
        Expired,
    );

    // A regenerated key's grace period.
    let graced = with(&|k| k.revoke_at = Some(NOW + 600));
    v.add(
        "in the regenerate grace period",
        &acme,
        Some(&graced),
        &[],
        NOW,
        Valid,
    );
    v.add(
        "last second of the grace period",
        &acme,
        Some(&graced),
        &["sims:read"],
        NOW + 599,
        Valid,
    );
    v.add(
        "at the end of the grace period",
        &acme,
        Some(&graced),
        &[],
        NOW + 600,
        Revoked,
    );
    v.add(
        "grace end after expiry: expired first",
        &acme,
        Some(&with(&|k| k.revoke_at = Some(k.expires_at + 10))),
        &[],
        expires,
        Expired,
    );

    // Application and owner.
    v.add(
        "application revoked",
        &acme,
        Some(&with(&|k| {
            k.application_status = ApplicationStatus::Revoked
        })),
        &[],
        NOW,
        ApplicationRevoked,
    );
    v.add(
        "application revoked outranks a revoked, expired key",
        &acme,
        Some(&with(&|k| {
            k.application_status = ApplicationStatus::Revoked;
            k.owner_status = OwnerStatus::Deleted;
            k.status = StoredKeyStatus::Revoked;
        })),
        &[],
        expires,
        ApplicationRevoked,
    );
    v.add(
        "owner deleted",
        &acme,
        Some(&with(&|k| k.owner_status = OwnerStatus::Deleted)),
        &[],
        NOW,
        OwnerDeleted,
    );
    v.add(
        "owner deleted outranks a disabled key",
        &format!("Bearer {acme}"),
        Some(&with(&|k| {
            k.owner_status = OwnerStatus::Deleted;
            k.status = StoredKeyStatus::Disabled;
        })),
        &[],
        NOW,
        OwnerDeleted,
    );

    usage_control::vectors(&mut v, &acme, &acme_wrong_secret, &acme_record);

    for code in VerdictCode::ALL.into_iter().filter(|c| c.decided_by_core()) {
        assert!(
            v.0.iter().any(|x| x["expected"]["code"] == code.as_str()),
            "no vector for {code:?}"
        );
    }
    let file = json!({
        "about": "keyward verdict vectors: validate(presented, record, required_scopes, now, source_ip) must give expected. Generated by wasm-validator/tests/verdict_vectors.rs (KEYWARD_UPDATE_VECTORS=1 cargo test -p wasm-validator --test verdict_vectors); read by the Rust tests and by tests/js. record is exactly a GET /keys/{id}/record body (null: no record); now is epoch seconds; source_ip is the caller's address as given (absent: not given; the core reads it with parse_source_ip, and a malformed one is no address); expected is what the core and the WebAssembly package answer, a POST /verify body (snake_case), where CENTRAL_CHECK_REQUIRED (a metered key) is what the service turns into VALID, RATE_LIMITED or USAGE_EXCEEDED after its own check.",
        "vectors": v.0,
    });
    let mut text = serde_json::to_string_pretty(&file).unwrap();
    text.push('\n');
    text
}

fn updating() -> bool {
    std::env::var_os("KEYWARD_UPDATE_VECTORS").is_some_and(|v| v == "1")
}

#[test]
fn the_committed_vectors_are_what_the_generator_makes() {
    let generated = generate();
    let path = path();
    if updating() {
        std::fs::write(&path, &generated).unwrap();
        return;
    }
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        committed == generated,
        "{} is stale or missing: run KEYWARD_UPDATE_VECTORS=1 cargo test -p wasm-validator --test verdict_vectors",
        path.display()
    );
}

#[test]
fn the_core_gives_every_committed_verdict() {
    // The file as committed (or as about to be written, when updating: the
    // two tests run in parallel).
    let text = if updating() {
        generate()
    } else {
        std::fs::read_to_string(path()).expect("tests/verdict_vectors.json")
    };
    let file: Value = serde_json::from_str(&text).unwrap();
    let vectors = file["vectors"].as_array().unwrap();
    assert!(vectors.len() >= 40, "only {} vectors", vectors.len());
    for vector in vectors {
        let name = vector["name"].as_str().unwrap();
        let record: Option<KeyRecord> = serde_json::from_value(vector["record"].clone()).unwrap();
        let scopes: Vec<&str> = vector["required_scopes"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s.as_str().unwrap())
            .collect();
        let source_ip = vector.get("source_ip").map(|s| s.as_str().unwrap());
        let verdict = validate(
            vector["presented"].as_str().unwrap(),
            record.as_ref(),
            &scopes,
            vector["now"].as_i64().unwrap(),
            source_ip.and_then(parse_source_ip),
        );
        assert_eq!(
            serde_json::to_value(&verdict).unwrap(),
            vector["expected"],
            "vector {name:?}"
        );
    }
}
