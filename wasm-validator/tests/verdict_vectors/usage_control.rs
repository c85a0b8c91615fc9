//! The vectors of source addresses (`allowed_ips`) and metered records.

use super::{NOW, Vectors};
use serde_json::{Value, json};
use wasm_validator::{AllowedIps, KeyRecord, StoredKeyStatus, VerdictCode};

/// The vectors of source addresses and metered keys, on the acme key.
pub(super) fn vectors(
    v: &mut Vectors,
    acme: &str,
    acme_wrong_secret: &str,
    acme_record: &KeyRecord,
) {
    use VerdictCode::*;

    let record = |allowed: &[&str], change: &dyn Fn(&mut KeyRecord)| {
        let mut record = acme_record.clone();
        record.allowed_ips = AllowedIps::parse(allowed).unwrap();
        change(&mut record);
        serde_json::to_value(record).unwrap()
    };
    let same = |_: &mut KeyRecord| {};
    let restricted = record(&["192.0.2.0/24", "198.51.100.7", "2001:db8:1::/48"], &same);
    let expires = acme_record.expires_at;
    let mut from = |name: &str, record: &Value, scopes: &[&str], source: Option<&str>, want| {
        v.push(name, acme, record.clone(), scopes, NOW, source, want);
    };

    // Blocks and their edges.
    let ipv4 = [
        ("IPv4 source inside a block", "192.0.2.77", Valid),
        (
            "IPv4 source outside every block",
            "203.0.113.5",
            IpNotAllowed,
        ),
        ("first address of a block", "192.0.2.0", Valid),
        ("last address of a block", "192.0.2.255", Valid),
        ("one before a block", "192.0.1.255", IpNotAllowed),
        ("one past a block", "192.0.3.0", IpNotAllowed),
        ("a bare address allows itself (/32)", "198.51.100.7", Valid),
        (
            "a bare address allows only itself",
            "198.51.100.8",
            IpNotAllowed,
        ),
        ("IPv6 source inside a block", "2001:db8:1:ffff::1", Valid),
        (
            "last address of an IPv6 block",
            "2001:db8:1:ffff:ffff:ffff:ffff:ffff",
            Valid,
        ),
        ("one past an IPv6 block", "2001:db8:2::", IpNotAllowed),
        ("IPv6 source in upper case", "2001:DB8:1::A", Valid),
        (
            "IPv4-mapped IPv6 source in an IPv4 block",
            "::ffff:192.0.2.9",
            Valid,
        ),
        (
            "IPv4-mapped IPv6 source outside the IPv4 blocks",
            "::ffff:203.0.113.5",
            IpNotAllowed,
        ),
        ("malformed source address", "192.0.2.300", IpNotAllowed),
        (
            "source address with a prefix length",
            "192.0.2.7/32",
            IpNotAllowed,
        ),
        ("empty source address", "", IpNotAllowed),
        ("source address not an address", "localhost", IpNotAllowed),
    ];
    for (name, source, want) in ipv4 {
        from(name, &restricted, &[], Some(source), want);
    }
    from(
        "restricted key, no source address",
        &restricted,
        &[],
        None,
        IpNotAllowed,
    );
    from(
        "unrestricted key, malformed source address",
        &serde_json::to_value(acme_record).unwrap(),
        &[],
        Some("not an address"),
        Valid,
    );
    let single = record(&["2001:db8::5/128"], &same);
    from(
        "/128 allows its address",
        &single,
        &[],
        Some("2001:db8::5"),
        Valid,
    );
    from(
        "/128 allows only its address",
        &single,
        &[],
        Some("2001:db8::6"),
        IpNotAllowed,
    );
    let any_v4 = record(&["0.0.0.0/0"], &same);
    from(
        "IPv4 /0 allows any IPv4 source",
        &any_v4,
        &[],
        Some("203.0.113.5"),
        Valid,
    );
    from(
        "IPv4 /0 does not allow an IPv6 source",
        &any_v4,
        &[],
        Some("2001:db8::1"),
        IpNotAllowed,
    );
    let any_v6 = record(&["::/0"], &same);
    from(
        "IPv6 /0 allows any IPv6 source",
        &any_v6,
        &[],
        Some("2001:db8::1"),
        Valid,
    );
    from(
        "IPv6 /0 does not allow an IPv4 source",
        &any_v6,
        &[],
        Some("203.0.113.5"),
        IpNotAllowed,
    );
    from(
        "IPv6 /0 does not allow an IPv4-mapped source (it is IPv4)",
        &any_v6,
        &[],
        Some("::ffff:203.0.113.5"),
        IpNotAllowed,
    );
    // As written, not as a record would canonicalise it: the validators
    // must read the mapped block as the IPv4 block 192.0.2.0/24.
    let mut mapped = record(&[], &same);
    mapped["allowed_ips"] = json!(["::ffff:192.0.2.0/120"]);
    from(
        "IPv4-mapped block, IPv4 source inside",
        &mapped,
        &[],
        Some("192.0.2.200"),
        Valid,
    );
    from(
        "IPv4-mapped block, IPv4 source outside",
        &mapped,
        &[],
        Some("192.0.3.1"),
        IpNotAllowed,
    );
    from(
        "IPv4-mapped block, mapped source inside",
        &mapped,
        &[],
        Some("::ffff:192.0.2.1"),
        Valid,
    );

    // The record's own refusals and the scopes come first.
    let disabled = record(&["192.0.2.0/24"], &|k| k.status = StoredKeyStatus::Disabled);
    from(
        "disabled key from a wrong address",
        &disabled,
        &[],
        Some("203.0.113.5"),
        Disabled,
    );
    from(
        "ungranted scope from a wrong address",
        &restricted,
        &["billing:write"],
        Some("203.0.113.5"),
        InsufficientScope,
    );
    v.push(
        "expired key from a wrong address",
        acme,
        restricted.clone(),
        &[],
        expires,
        Some("203.0.113.5"),
        Expired,
    );
    v.push(
        "wrong secret from an allowed address",
        acme_wrong_secret,
        restricted.clone(),
        &[],
        NOW,
        Some("192.0.2.1"),
        NotFound,
    );

    // Metered: never VALID from the record alone.
    let metered = record(&[], &|k| k.metered = true);
    let metered_restricted = record(&["192.0.2.0/24"], &|k| k.metered = true);
    let mut from = |name: &str, record: &Value, scopes: &[&str], source: Option<&str>, want| {
        v.push(name, acme, record.clone(), scopes, NOW, source, want);
    };
    from("metered key", &metered, &[], None, CentralCheckRequired);
    from(
        "metered key with its scope granted",
        &metered,
        &["sims:read"],
        Some("203.0.113.5"),
        CentralCheckRequired,
    );
    from(
        "metered key from an allowed address",
        &metered_restricted,
        &[],
        Some("192.0.2.1"),
        CentralCheckRequired,
    );
    from(
        "metered key from a wrong address",
        &metered_restricted,
        &[],
        Some("203.0.113.5"),
        IpNotAllowed,
    );
    from(
        "metered key with no source address",
        &metered_restricted,
        &[],
        None,
        IpNotAllowed,
    );
    from(
        "metered key with an ungranted scope",
        &metered,
        &["billing:write"],
        None,
        InsufficientScope,
    );
    from(
        "metered key disabled",
        &record(&[], &|k| {
            k.metered = true;
            k.status = StoredKeyStatus::Disabled;
        }),
        &[],
        None,
        Disabled,
    );
    v.push(
        "metered key expired",
        acme,
        metered.clone(),
        &[],
        expires,
        None,
        Expired,
    );
    v.push(
        "metered key, wrong secret",
        acme_wrong_secret,
        metered,
        &[],
        NOW,
        None,
        NotFound,
    );
}
