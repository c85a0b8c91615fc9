//! The scratch buffer `marshal` (marshal.js) writes `validate`'s inputs
//! into, and reading them back as the core's decision inputs.

use super::{bad_scopes, error, garbled};
use crate::ip::{AllowedIps, parse_source_ip};
use crate::record::{ApplicationStatus, DecisionFields, OwnerStatus, StoredKeyStatus};
use crate::scope::{MAX_SCOPES, is_valid_scope};
use core::net::IpAddr;
use core::str::from_utf8;
use wasm_bindgen::JsValue;

/// Where `marshal` writes (see its layout), in WebAssembly memory.
pub(super) struct Scratch {
    pub(super) bytes: Vec<u8>,
    pub(super) key_cap: usize,
    pub(super) text_cap: usize,
}

const HEADER: usize = 48;

impl Scratch {
    pub(super) fn new(key_cap: usize, text_cap: usize) -> Self {
        // 7 spare bytes to start the layout on an 8-byte boundary.
        Scratch {
            bytes: vec![0; 7 + HEADER + key_cap + text_cap],
            key_cap,
            text_cap,
        }
    }

    pub(super) fn base(&self) -> usize {
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

/// What the record's decision fields borrow that is not in the scratch
/// buffer itself: the granted scopes as a list, the parsed addresses.
#[derive(Default)]
pub(super) struct Parts<'a> {
    scopes: Strs<'a>,
    allowed_ips: AllowedIps,
}

/// A list of strings, on the stack when there are at most 8 (nearly every
/// list of scopes): collecting the scopes into a `Vec` was an allocation
/// and a free per list on every call.
pub(super) enum Strs<'a> {
    Inline([&'a str; 8], usize),
    Heap(Vec<&'a str>),
}

impl Default for Strs<'_> {
    fn default() -> Self {
        Strs::Inline([""; 8], 0)
    }
}

impl<'a> FromIterator<&'a str> for Strs<'a> {
    fn from_iter<I: IntoIterator<Item = &'a str>>(items: I) -> Self {
        let mut out = Strs::default();
        for item in items {
            match &mut out {
                Strs::Inline(array, len) if *len < array.len() => {
                    array[*len] = item;
                    *len += 1;
                }
                Strs::Inline(array, _) => {
                    let mut heap = array.to_vec();
                    heap.push(item);
                    out = Strs::Heap(heap);
                }
                Strs::Heap(heap) => heap.push(item),
            }
        }
        out
    }
}

impl<'a> core::ops::Deref for Strs<'a> {
    type Target = [&'a str];

    fn deref(&self) -> &[&'a str] {
        match self {
            Strs::Inline(array, len) => &array[..*len],
            Strs::Heap(heap) => heap,
        }
    }
}

/// What `marshal` wrote, read back: borrowed from the scratch buffer and
/// from [`Parts`].
pub(super) struct Inputs<'a, 'p> {
    pub(super) presented: &'a str,
    pub(super) required: Strs<'a>,
    pub(super) source_ip: Option<IpAddr>,
    pub(super) record: Option<DecisionFields<'p, &'a str>>,
}

/// The "\n"-separated lines of a text (a byte search: cheaper than a `str`
/// pattern search on lines this short).
struct Lines<'a>(Option<&'a str>);

impl<'a> Lines<'a> {
    fn line(&mut self) -> Result<&'a str, JsValue> {
        self.next().ok_or_else(garbled)
    }

    fn take_n(&mut self, count: i32) -> Result<Strs<'a>, JsValue> {
        (0..count).map(|_| self.line()).collect()
    }
}

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

pub(super) fn read_inputs<'a, 'p>(
    scratch: &'a Scratch,
    parts: &'p mut Parts<'a>,
) -> Result<Inputs<'a, 'p>, JsValue> {
    let presented = scratch.text(0, scratch.int(0))?;
    let mut lines = Lines(Some(scratch.text(scratch.key_cap, scratch.int(6))?));
    let ids = if scratch.int(1) != 0 {
        Some((lines.line()?, lines.line()?))
    } else {
        None
    };
    let required_count = scratch.int(4);
    if required_count as usize > MAX_SCOPES {
        return Err(bad_scopes());
    }
    let required = lines.take_n(required_count)?;
    if !required.iter().all(|s| is_valid_scope(s)) {
        return Err(bad_scopes());
    }
    // The record's scopes (0 of them without a record).
    let scopes = lines.take_n(scratch.int(5))?;
    // Only a record that restricts addresses gets the source address.
    let source_ip = if scratch.int(7) != 0 {
        parse_source_ip(lines.line()?)
    } else {
        None
    };
    let Some((key_id, hash)) = ids else {
        return Ok(Inputs {
            presented,
            required,
            source_ip,
            record: None,
        });
    };
    parts.scopes = scopes;
    parts.allowed_ips = AllowedIps::parse(lines.take_n(scratch.int(2))?.iter())
        .map_err(|e| error("INVALID_RECORD", &["the record's ", &e.message()].concat()))?;
    let parts: &'p Parts<'a> = parts;
    let statuses = scratch.int(3);
    let seconds = |value: f64| value as i64;
    let revoke_at = scratch.float(1);
    // The one place the WebAssembly exports assemble the decision's
    // fields: from the buffer, with no copy of the record in between.
    let record = DecisionFields {
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
        scopes: &parts.scopes,
        allowed_ips: &parts.allowed_ips,
        metered: statuses & 64 != 0,
    };
    Ok(Inputs {
        presented,
        required,
        source_ip,
        record: Some(record),
    })
}
