//! The whole verification, `wasm_validator::validate`: a presented key (an
//! arbitrary string, one given the right checksum, or a generated key,
//! perhaps with one byte changed or a `Bearer` scheme), a record (none,
//! arbitrary JSON, a structured record built by `arbitrary`, or such a
//! record's JSON with one byte changed), required scopes, a time and a
//! source address (text, perhaps not an address).
//!
//! Invariants: nothing panics; `valid` exactly when the code is `VALID`;
//! `VALID` only when the presented key parses, its SHA-256 is the record's
//! hash, the key ids agree, the record and its application and owner are
//! active at `now`, every required scope is granted, the record's allowed
//! addresses admit the source, and the record is not metered (a metered
//! record is `CENTRAL_CHECK_REQUIRED` at best); a key that does not
//! match its record answers exactly as an unknown key; a record's fields are
//! disclosed only when the key matched; the borrowed-fields decision (the
//! WebAssembly path) gives the same code; a record that deserialises
//! serialises back to the same record.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use wasm_validator::key::{self, KEY_ID_BYTES, SECRET_BYTES};
use wasm_validator::{
    AllowedIps, ApplicationStatus, DecisionFields, KeyRecord, KeyStatus, OwnerStatus,
    StoredKeyStatus, VerdictCode, base62, crc32, decide, granted_by, parse_source_ip, validate,
};

#[derive(Arbitrary, Debug)]
enum Presented {
    Raw(String),
    /// Text whose last six bytes are replaced by the right checksum, so
    /// that arbitrary keys get past the checksum to the decision.
    Checksummed(String),
    Generated {
        prefix: Prefix,
        id: [u8; KEY_ID_BYTES],
        secret: [u8; SECRET_BYTES],
        /// One byte of the key replaced (position, byte): a typo.
        typo: Option<(u8, u8)>,
        bearer: bool,
    },
}

#[derive(Arbitrary, Debug)]
enum Prefix {
    Default,
    /// Made valid: a lower-case letter, then up to 15 of `[a-z0-9]`.
    Custom(Vec<u8>),
}

impl Prefix {
    fn text(&self) -> String {
        match self {
            Prefix::Default => key::DEFAULT_PREFIX.to_owned(),
            Prefix::Custom(bytes) => {
                const TAIL: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
                let mut prefix =
                    String::from(char::from(b'a' + bytes.first().copied().unwrap_or(0) % 26));
                prefix.extend(
                    bytes
                        .iter()
                        .skip(1)
                        .take(15)
                        .map(|b| char::from(TAIL[*b as usize % TAIL.len()])),
                );
                prefix
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Hash {
    /// The presented key's hash (lower-case hex, as stored).
    OfPresented,
    /// The same, in upper-case hex.
    OfPresentedUpper,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Id {
    OfPresented,
    Raw(String),
}

#[derive(Arbitrary, Debug)]
enum Stored {
    Active,
    Disabled,
    Revoked,
}

#[derive(Arbitrary, Debug)]
struct Record {
    key_id: Id,
    application_id: String,
    account: String,
    hash: Hash,
    status: Stored,
    expires_at: i64,
    revoke_at: Option<i64>,
    scopes: Vec<String>,
    application_revoked: bool,
    owner_deleted: bool,
    /// Parsed; a list the parser refuses is no restriction.
    allowed_ips: Vec<String>,
    metered: bool,
}

#[derive(Arbitrary, Debug)]
enum RecordInput {
    None,
    Json(String),
    Structured(Record),
    /// A structured record's JSON with one byte replaced, removed or added.
    EditedJson(Record, u16, u8, u8),
}

#[derive(Arbitrary, Debug)]
struct Input {
    presented: Presented,
    record: RecordInput,
    required: Vec<String>,
    /// Small offsets from the record's times reach the boundaries.
    now: Now,
    source_ip: Option<String>,
}

#[derive(Arbitrary, Debug)]
enum Now {
    Absolute(i64),
    FromExpiry(i8),
    FromRevoke(i8),
}

fn presented_text(presented: &Presented) -> String {
    match presented {
        Presented::Raw(text) => text.clone(),
        Presented::Checksummed(text) => {
            let mut cut = text.len().saturating_sub(key::CHECKSUM_LEN);
            while !text.is_char_boundary(cut) {
                cut -= 1;
            }
            let checked = &text[..cut];
            let crc = crc32::crc32(key::strip_bearer(checked).as_bytes());
            format!(
                "{checked}{}",
                base62::encode(&crc.to_be_bytes(), key::CHECKSUM_LEN)
            )
        }
        Presented::Generated {
            prefix,
            id,
            secret,
            typo,
            bearer,
        } => {
            let (_, key) = key::format_key(&prefix.text(), id, secret);
            let mut bytes = key.into_bytes();
            if let Some((at, byte)) = typo {
                let at = *at as usize % bytes.len();
                bytes[at] = *byte;
            }
            let key = String::from_utf8_lossy(&bytes).into_owned();
            if *bearer {
                format!("Bearer {key}")
            } else {
                key
            }
        }
    }
}

fn build_record(record: &Record, presented: &str) -> KeyRecord {
    let parsed = key::parse(presented).ok();
    let full = parsed.map_or(presented, |p| p.full);
    let hash = key::to_hex(&key::hash_key(full));
    KeyRecord {
        key_id: match &record.key_id {
            Id::OfPresented => parsed.map_or_else(String::new, |p| p.key_id.to_owned()),
            Id::Raw(id) => id.clone(),
        },
        application_id: record.application_id.clone(),
        account: record.account.clone(),
        hash: match &record.hash {
            Hash::OfPresented => hash,
            Hash::OfPresentedUpper => hash.to_ascii_uppercase(),
            Hash::Raw(text) => text.clone(),
        },
        status: match record.status {
            Stored::Active => StoredKeyStatus::Active,
            Stored::Disabled => StoredKeyStatus::Disabled,
            Stored::Revoked => StoredKeyStatus::Revoked,
        },
        expires_at: record.expires_at,
        revoke_at: record.revoke_at,
        scopes: record.scopes.clone(),
        application_status: if record.application_revoked {
            ApplicationStatus::Revoked
        } else {
            ApplicationStatus::Active
        },
        owner_status: if record.owner_deleted {
            OwnerStatus::Deleted
        } else {
            OwnerStatus::Active
        },
        allowed_ips: AllowedIps::parse(&record.allowed_ips).unwrap_or_default(),
        metered: record.metered,
    }
}

fn edit(json: String, at: u16, op: u8, byte: u8) -> Vec<u8> {
    let mut bytes = json.into_bytes();
    let at = at as usize % (bytes.len() + 1);
    match op % 3 {
        0 if at < bytes.len() => bytes[at] = byte,
        1 if at < bytes.len() => {
            bytes.remove(at);
        }
        _ => bytes.insert(at, byte),
    }
    bytes
}

/// A record from JSON, as the WebAssembly package's users fetch it; one that
/// deserialises must serialise back to the same record.
fn from_json(bytes: &[u8]) -> Option<KeyRecord> {
    let record: KeyRecord = serde_json::from_slice(bytes).ok()?;
    let again: KeyRecord = serde_json::from_str(&serde_json::to_string(&record).unwrap())
        .expect("a serialised record deserialises");
    assert_eq!(again, record);
    Some(record)
}

fuzz_target!(|input: Input| {
    let presented = presented_text(&input.presented);
    let record = match &input.record {
        RecordInput::None => None,
        RecordInput::Json(text) => from_json(text.as_bytes()),
        RecordInput::Structured(record) => Some(build_record(record, &presented)),
        RecordInput::EditedJson(record, at, op, byte) => {
            let json = serde_json::to_string(&build_record(record, &presented)).unwrap();
            from_json(&edit(json, *at, *op, *byte))
        }
    };
    let now = match input.now {
        Now::Absolute(now) => now,
        Now::FromExpiry(d) => record
            .as_ref()
            .map_or(0, |r| r.expires_at.saturating_add(d.into())),
        Now::FromRevoke(d) => record
            .as_ref()
            .and_then(|r| r.revoke_at)
            .map_or(0, |t| t.saturating_add(d.into())),
    };
    let required: Vec<&str> = input.required.iter().map(String::as_str).collect();

    let source = input.source_ip.as_deref().and_then(parse_source_ip);

    let verdict = validate(&presented, record.as_ref(), &required, now, source);
    assert_eq!(verdict.valid, verdict.code == VerdictCode::Valid);

    let Ok(parsed) = key::parse(&presented) else {
        assert_eq!(verdict, wasm_validator::Verdict::malformed());
        return;
    };
    assert_ne!(verdict.code, VerdictCode::Malformed);
    assert_eq!(verdict.key_id.as_deref(), Some(parsed.key_id));

    let unknown = validate(&presented, None, &required, now, source);
    assert_eq!(unknown.code, VerdictCode::NotFound);
    if verdict.code == VerdictCode::NotFound {
        assert_eq!(verdict, unknown, "a mismatch answers as an unknown key");
    }
    if let Some(record) = &record {
        // The WebAssembly exports decide on borrowed fields.
        let scopes: Vec<&str> = record.scopes.iter().map(String::as_str).collect();
        let borrowed = DecisionFields {
            key_id: &record.key_id,
            hash: &record.hash,
            status: record.status,
            expires_at: record.expires_at,
            revoke_at: record.revoke_at,
            scopes: &scopes,
            application_status: record.application_status,
            owner_status: record.owner_status,
            allowed_ips: &record.allowed_ips,
            metered: record.metered,
        };
        assert_eq!(
            decide(&parsed, Some(&borrowed), &required, now, source),
            verdict.code
        );

        // The constant-time hex comparison is decoding and comparing bytes.
        let hash_matches = key::from_hex(&record.hash) == Some(key::hash_key(parsed.full));
        assert_eq!(
            key::hash_matches_hex(parsed.full, &record.hash),
            hash_matches
        );
        let matched = hash_matches && record.key_id == parsed.key_id;
        assert_eq!(verdict.code != VerdictCode::NotFound, matched);
        if matched {
            assert_eq!(
                verdict.application_id.as_deref(),
                Some(record.application_id.as_str())
            );
            assert_eq!(verdict.account.as_deref(), Some(record.account.as_str()));
            assert_eq!(verdict.scopes.as_deref(), Some(record.scopes.as_slice()));
            assert_eq!(verdict.expires_at, Some(record.expires_at));
        }
        if verdict.valid {
            assert!(matched, "VALID implies the hash and key id match");
            assert_eq!(record.application_status, ApplicationStatus::Active);
            assert_eq!(record.owner_status, OwnerStatus::Active);
            assert_eq!(
                KeyStatus::at(record.status, record.expires_at, record.revoke_at, now),
                KeyStatus::Active
            );
            assert!(now < record.expires_at);
            for required in &required {
                assert!(granted_by(scopes.iter().copied(), required));
            }
            assert!(record.allowed_ips.admits(source));
            assert!(!record.metered);
        }
        if verdict.code == VerdictCode::CentralCheckRequired {
            assert!(matched && record.metered);
        }
    } else {
        assert_eq!(verdict.code, VerdictCode::NotFound);
    }
});
