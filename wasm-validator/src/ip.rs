//! Source-address restrictions: a key's `allowed_ips`, and the source
//! address a verification is asked about.
//!
//! Both go through one address parser (the standard library's, so a text
//! the service accepts is exactly a text the WebAssembly package accepts)
//! and one canonical form: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`)
//! is the IPv4 address it carries, and a block inside the mapped range
//! (`::ffff:a.b.c.d/96+n`) is the IPv4 block `a.b.c.d/n`. So a client that
//! reaches a dual-stack listener over IPv4 matches the IPv4 blocks written
//! for it, however the listener reports its address.

use core::fmt;
use core::net::IpAddr;
use ipnet::{IpNet, Ipv4Net};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// At most this many entries per key.
pub const MAX_ALLOWED_IPS: usize = 50;

/// The longest entry an error message repeats: longer than any address or
/// block (an IPv6 block with an embedded IPv4 address is 49 characters), so
/// nothing valid is cut, and a hostile entry is not echoed whole.
const MAX_ECHOED: usize = 64;

/// A key's allowed source addresses, as canonical blocks (a bare address is
/// a /32 or a /128). Empty means unrestricted. Serialised as the blocks'
/// text, e.g. `["10.0.0.0/8", "2001:db8::/32", "192.0.2.7/32"]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AllowedIps(Vec<IpNet>);

/// Why a list of allowed addresses was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowedIpsError {
    /// Entry `index` (from 0) is not an address or a CIDR block; `entry` is
    /// its text, cut at 64 characters.
    Malformed { index: usize, entry: String },
    /// More than [`MAX_ALLOWED_IPS`] entries.
    TooMany,
}

impl AllowedIpsError {
    /// The message, built without `core::fmt`: the WebAssembly package
    /// throws it, and formatting machinery would be a fifth of its size.
    pub fn message(&self) -> String {
        match self {
            Self::Malformed { index, entry } => [
                "allowed_ips[",
                Digits::of(*index).as_str(),
                "] (\"",
                entry,
                "\") is not an IP address or a CIDR block",
            ]
            .concat(),
            Self::TooMany => [
                "allowed_ips has more than ",
                Digits::of(MAX_ALLOWED_IPS).as_str(),
                " entries",
            ]
            .concat(),
        }
    }
}

impl fmt::Display for AllowedIpsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message())
    }
}

/// A small number's decimal digits, without `core::fmt`.
struct Digits {
    bytes: [u8; 20],
    start: usize,
}

impl Digits {
    fn of(mut n: usize) -> Self {
        let mut digits = Digits {
            bytes: [b'0'; 20],
            start: 20,
        };
        loop {
            digits.start -= 1;
            digits.bytes[digits.start] = b'0' + (n % 10) as u8;
            n /= 10;
            if n == 0 {
                return digits;
            }
        }
    }

    fn as_str(&self) -> &str {
        // ASCII digits only.
        core::str::from_utf8(&self.bytes[self.start..]).unwrap_or_default()
    }
}

impl std::error::Error for AllowedIpsError {}

impl AllowedIps {
    /// Parses addresses and CIDR blocks (`192.0.2.7`, `10.0.0.0/8`,
    /// `2001:db8::/32`, `::ffff:10.0.0.0/104`). A block's host bits are
    /// cleared (`10.1.2.3/8` is `10.0.0.0/8`); an IPv4-mapped IPv6 block is
    /// its IPv4 block.
    pub fn parse<I>(entries: I) -> Result<Self, AllowedIpsError>
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        let mut blocks = Vec::new();
        for (index, entry) in entries.into_iter().enumerate() {
            if index == MAX_ALLOWED_IPS {
                return Err(AllowedIpsError::TooMany);
            }
            let entry = entry.as_ref();
            let block = parse_block(entry).ok_or_else(|| AllowedIpsError::Malformed {
                index,
                entry: entry.chars().take(MAX_ECHOED).collect(),
            })?;
            blocks.push(block);
        }
        Ok(AllowedIps(blocks))
    }

    /// No restriction.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// The canonical blocks.
    pub fn blocks(&self) -> &[IpNet] {
        &self.0
    }

    /// Whether `ip` (canonicalised: a mapped address is its IPv4 address)
    /// falls in one of the blocks.
    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.0.iter().any(|block| block_contains(block, ip))
    }

    /// The rule of verification: an unrestricted key admits any source,
    /// even none; a restricted one only a source inside one of its blocks,
    /// so a missing (or unparsable) source address is refused.
    pub fn admits(&self, source_ip: Option<IpAddr>) -> bool {
        self.is_empty() || source_ip.is_some_and(|ip| self.contains(ip))
    }
}

/// The source address of a verification, canonical (a mapped address is its
/// IPv4 address), or `None` when `text` is not exactly an IPv4 or IPv6
/// address. Every verifier parses a source address here, so malformed input
/// is handled one way: `None`, which a restricted key refuses.
pub fn parse_source_ip(text: &str) -> Option<IpAddr> {
    text.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

/// One entry: an address, or an address, `/` and a prefix length in plain
/// decimal digits.
fn parse_block(text: &str) -> Option<IpNet> {
    let block = match text.split_once('/') {
        None => IpNet::from(text.parse::<IpAddr>().ok()?),
        Some((addr, prefix)) => {
            if prefix.is_empty() || prefix.len() > 3 || !prefix.bytes().all(|c| c.is_ascii_digit())
            {
                return None;
            }
            IpNet::new(addr.parse().ok()?, prefix.parse().ok()?).ok()?
        }
    };
    Some(canonical(block).trunc())
}

/// A block inside `::ffff:0:0/96` as its IPv4 block.
fn canonical(block: IpNet) -> IpNet {
    match block {
        IpNet::V6(v6) if v6.prefix_len() >= 96 => v6
            .addr()
            .to_ipv4_mapped()
            .and_then(|v4| Ipv4Net::new(v4, v6.prefix_len() - 96).ok())
            .map_or(block, IpNet::V4),
        _ => block,
    }
}

/// Whether `ip` is in `block`, a block whose host bits are clear (as every
/// block of an [`AllowedIps`] is): one mask and one compare, where ipnet's
/// own `contains` works out both ends of the block on every call.
fn block_contains(block: &IpNet, ip: IpAddr) -> bool {
    match (block, ip) {
        (IpNet::V4(block), IpAddr::V4(ip)) => {
            u32::from(ip) & u32::from(block.netmask()) == u32::from(block.addr())
        }
        (IpNet::V6(block), IpAddr::V6(ip)) => {
            u128::from(ip) & u128::from(block.netmask()) == u128::from(block.addr())
        }
        _ => false,
    }
}

/// A block as its text, for serialising.
struct BlockText<'a>(&'a IpNet);

impl Serialize for BlockText<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self.0)
    }
}

impl Serialize for AllowedIps {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(BlockText))
    }
}

impl<'de> Deserialize<'de> for AllowedIps {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let entries = Vec::<String>::deserialize(deserializer)?;
        AllowedIps::parse(&entries).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn blocks(entries: &[&str]) -> Vec<String> {
        AllowedIps::parse(entries)
            .unwrap()
            .blocks()
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    #[test]
    fn addresses_and_blocks_are_canonical() {
        assert_eq!(
            blocks(&[
                "192.0.2.7",
                "10.1.2.3/8",
                "2001:db8::1",
                "2001:DB8:0:0::/32",
                "::ffff:198.51.100.0/120",
                "::ffff:192.0.2.9",
                "::ffff:0:0/96",
                "::/0",
                "0.0.0.0/0",
                "::ffff:0:0/95",
            ]),
            [
                "192.0.2.7/32",
                "10.0.0.0/8",
                "2001:db8::1/128",
                "2001:db8::/32",
                "198.51.100.0/24",
                "192.0.2.9/32",
                "0.0.0.0/0",
                "::/0",
                "0.0.0.0/0",
                // Wider than the mapped range: an IPv6 block.
                "::fffe:0:0/95",
            ]
        );
    }

    #[test]
    fn malformed_entries_are_named() {
        for bad in [
            "",
            " 10.0.0.1",
            "10.0.0.1 ",
            "10.0.0.256",
            "10.0.0",
            "010.0.0.1",
            "10.0.0.0/33",
            "10.0.0.0/",
            "10.0.0.0/+8",
            "10.0.0.0/-1",
            "10.0.0.0/0008",
            "10.0.0.0/8/8",
            "/8",
            "2001:db8::/129",
            "2001:db8:::1",
            "fe80::1%eth0",
            "[2001:db8::1]",
            "localhost",
            "10.0.0.0\n",
        ] {
            assert_eq!(
                AllowedIps::parse(["192.0.2.7", bad]),
                Err(AllowedIpsError::Malformed {
                    index: 1,
                    entry: bad.to_owned()
                }),
                "{bad:?}"
            );
        }
        let long = "1".repeat(200);
        let err = AllowedIps::parse([long.as_str()]).unwrap_err();
        assert_eq!(
            err,
            AllowedIpsError::Malformed {
                index: 0,
                entry: "1".repeat(64)
            }
        );
        assert_eq!(
            AllowedIps::parse(["10.0.0.0/33"]).unwrap_err().to_string(),
            r#"allowed_ips[0] ("10.0.0.0/33") is not an IP address or a CIDR block"#
        );
    }

    #[test]
    fn digits() {
        for n in [0, 7, 10, 49, 1234, usize::MAX] {
            assert_eq!(Digits::of(n).as_str(), n.to_string());
        }
    }

    #[test]
    fn at_most_fifty_entries() {
        let fifty: Vec<String> = (0..50).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(AllowedIps::parse(&fifty).unwrap().len(), 50);
        let more: Vec<String> = (0..51).map(|i| format!("10.0.{i}.0/24")).collect();
        assert_eq!(AllowedIps::parse(&more), Err(AllowedIpsError::TooMany));
        assert_eq!(
            AllowedIpsError::TooMany.to_string(),
            "allowed_ips has more than 50 entries"
        );
    }

    #[test]
    fn containment_and_the_rule() {
        let allowed = AllowedIps::parse(["10.0.0.0/8", "2001:db8::/32", "192.0.2.7"]).unwrap();
        assert!(allowed.contains(ip("10.0.0.0")));
        assert!(allowed.contains(ip("10.255.255.255")));
        assert!(!allowed.contains(ip("11.0.0.0")));
        assert!(!allowed.contains(ip("9.255.255.255")));
        assert!(allowed.contains(ip("192.0.2.7")));
        assert!(!allowed.contains(ip("192.0.2.8")));
        assert!(allowed.contains(ip("2001:db8:ffff::1")));
        assert!(!allowed.contains(ip("2001:db9::")));
        // A mapped source is its IPv4 address, even unparsed.
        assert!(allowed.contains(ip("::ffff:10.1.2.3")));
        assert!(!allowed.contains(ip("::ffff:11.1.2.3")));
        assert!(allowed.admits(Some(ip("10.1.1.1"))));
        assert!(!allowed.admits(None));
        assert!(AllowedIps::default().admits(None));
        assert!(AllowedIps::default().admits(Some(ip("10.1.1.1"))));
        // An IPv4-compatible (not mapped) address is IPv6.
        assert!(!allowed.contains(ip("::10.1.2.3")));
    }

    #[test]
    fn containment_agrees_with_ipnet() {
        let blocks = ["0.0.0.0/0", "10.0.0.0/8", "192.0.2.128/25", "192.0.2.7/32"];
        let blocks6 = [
            "::/0",
            "2001:db8::/32",
            "2001:db8::80/121",
            "2001:db8::1/128",
        ];
        let sources = [
            "0.0.0.0",
            "9.255.255.255",
            "10.0.0.0",
            "10.255.255.255",
            "11.0.0.0",
            "192.0.2.127",
            "192.0.2.128",
            "192.0.2.255",
            "192.0.2.7",
            "255.255.255.255",
            "::",
            "2001:db7:ffff:ffff:ffff:ffff:ffff:ffff",
            "2001:db8::",
            "2001:db8::7f",
            "2001:db8::80",
            "2001:db8::ff",
            "2001:db8::100",
            "2001:db8::1",
            "2001:db9::",
            "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
        ];
        for block in blocks.iter().chain(&blocks6) {
            let net: IpNet = block.parse().unwrap();
            for source in sources {
                let source = ip(source);
                assert_eq!(
                    block_contains(&net, source),
                    net.contains(&source),
                    "{block} {source}"
                );
            }
        }
    }

    #[test]
    fn source_addresses() {
        assert_eq!(parse_source_ip("192.0.2.7"), Some(ip("192.0.2.7")));
        assert_eq!(parse_source_ip("::ffff:192.0.2.7"), Some(ip("192.0.2.7")));
        assert_eq!(parse_source_ip("2001:db8::1"), Some(ip("2001:db8::1")));
        for bad in [
            "",
            "192.0.2.7/32",
            " 192.0.2.7",
            "192.0.2",
            "[::1]",
            "::1%lo",
            "x",
        ] {
            assert_eq!(parse_source_ip(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn serialised_as_text() {
        let allowed = AllowedIps::parse(["10.1.2.3/8", "::ffff:192.0.2.7"]).unwrap();
        let json = serde_json::to_value(&allowed).unwrap();
        assert_eq!(json, serde_json::json!(["10.0.0.0/8", "192.0.2.7/32"]));
        assert_eq!(serde_json::from_value::<AllowedIps>(json).unwrap(), allowed);
        let err =
            serde_json::from_value::<AllowedIps>(serde_json::json!(["10.0.0.0/40"])).unwrap_err();
        assert!(err.to_string().contains("allowed_ips[0]"), "{err}");
    }
}
