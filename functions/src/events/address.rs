//! Where webhooks may point (docs/ARCHITECTURE.md, "Events out"): `https`
//! URLs of at most 2,048 characters, without credentials, whose host is a
//! public address. An IP literal is checked when the webhook is created and
//! before every attempt; a name is checked after resolution, at every
//! attempt, by [`PublicOnly`] (so a name that later resolves to a private
//! address, DNS rebinding, is caught where the connection is made).
//! `KEYWARD_WEBHOOK_ALLOW_INSECURE=true` also allows `http` and loopback, for
//! development and tests; never private ranges or cloud metadata.

use ipnet::IpNet;
use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, LazyLock};

pub const MAX_URL_CHARS: usize = 2_048;

/// Why a URL is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum UrlRefusal {
    #[error("url must be at most {MAX_URL_CHARS} characters")]
    TooLong,
    #[error("url must be an absolute URL")]
    NotAUrl,
    #[error("url must use https")]
    NotHttps,
    /// With `KEYWARD_WEBHOOK_ALLOW_INSECURE`.
    #[error("url must use https or http")]
    NotHttp,
    #[error("url must not hold a user name or password")]
    Credentials,
    #[error("url must name a host that is a public address")]
    NotPublic,
}

/// The ranges that are not public: IANA's special-purpose registries
/// (loopback, private, shared, link-local and cloud metadata, documentation,
/// benchmarking, multicast, reserved) and the IPv6 forms that embed an IPv4
/// address, which is judged on its own.
static NOT_PUBLIC: LazyLock<Vec<IpNet>> = LazyLock::new(|| {
    [
        "0.0.0.0/8",
        "10.0.0.0/8",
        "100.64.0.0/10",
        "127.0.0.0/8",
        "169.254.0.0/16",
        "172.16.0.0/12",
        "192.0.0.0/24",
        "192.0.2.0/24",
        "192.88.99.0/24",
        "192.168.0.0/16",
        "198.18.0.0/15",
        "198.51.100.0/24",
        "203.0.113.0/24",
        "224.0.0.0/4",
        "240.0.0.0/4",
        "::/128",
        "::1/128",
        "64:ff9b::/96",
        "64:ff9b:1::/48",
        "100::/64",
        "2001::/23",
        "2001:db8::/32",
        "2002::/16",
        "fc00::/7",
        "fe80::/10",
        "fec0::/10",
        "ff00::/8",
    ]
    .iter()
    .map(|net| net.parse().expect("a valid block"))
    .collect()
});

/// True when `ip` is a public unicast address.
pub fn is_public(ip: IpAddr) -> bool {
    // An IPv4-mapped or -compatible IPv6 address is the IPv4 address.
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    };
    !NOT_PUBLIC.iter().any(|net| net.contains(&ip))
}

fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V6(v6) => v6
            .to_ipv4_mapped()
            .map_or(v6.is_loopback(), |v4| v4.is_loopback()),
        IpAddr::V4(v4) => v4.is_loopback(),
    }
}

/// Whether a delivery may connect to `ip`.
pub fn may_connect(ip: IpAddr, allow_insecure: bool) -> bool {
    is_public(ip) || (allow_insecure && is_loopback(ip))
}

/// The host of `url` as an address, when it is an IP literal.
pub fn literal_host(url: &Url) -> Option<IpAddr> {
    match url.host()? {
        url::Host::Ipv4(v4) => Some(IpAddr::V4(v4)),
        url::Host::Ipv6(v6) => Some(IpAddr::V6(v6)),
        url::Host::Domain(_) => None,
    }
}

/// The checks a webhook URL passes when it is created or changed.
pub fn check_url(text: &str, allow_insecure: bool) -> Result<Url, UrlRefusal> {
    if text.chars().count() > MAX_URL_CHARS {
        return Err(UrlRefusal::TooLong);
    }
    let url = Url::parse(text).map_err(|_| UrlRefusal::NotAUrl)?;
    match url.scheme() {
        "https" => {}
        "http" if allow_insecure => {}
        _ if allow_insecure => return Err(UrlRefusal::NotHttp),
        _ => return Err(UrlRefusal::NotHttps),
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlRefusal::Credentials);
    }
    match url.host() {
        None => return Err(UrlRefusal::NotAUrl),
        Some(url::Host::Domain(name)) => {
            // RFC 6761: these names are loopback whatever DNS says.
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            if !allow_insecure && (name == "localhost" || name.ends_with(".localhost")) {
                return Err(UrlRefusal::NotPublic);
            }
        }
        Some(_) => {
            let ip = literal_host(&url).ok_or(UrlRefusal::NotAUrl)?;
            if !may_connect(ip, allow_insecure) {
                return Err(UrlRefusal::NotPublic);
            }
        }
    }
    Ok(url)
}

/// Resolves with the system's resolver (getaddrinfo).
#[derive(Debug, Default, Clone)]
pub struct SystemResolver;

impl Resolve for SystemResolver {
    fn resolve(&self, name: Name) -> Resolving {
        Box::pin(async move {
            let addrs = tokio::net::lookup_host((name.as_str(), 0)).await?;
            let addrs: Addrs = Box::new(addrs.collect::<Vec<_>>().into_iter());
            Ok(addrs)
        })
    }
}

/// A resolver that keeps only the addresses a delivery may connect to, so
/// the connection is made to a checked address: resolving and checking are
/// one step, with no window for the name to change between them.
#[derive(Clone)]
pub struct PublicOnly {
    inner: Arc<dyn Resolve>,
    allow_insecure: bool,
}

#[derive(Debug, thiserror::Error)]
#[error("the host resolves to no public address")]
pub struct NoPublicAddress;

impl PublicOnly {
    pub fn new(inner: Arc<dyn Resolve>, allow_insecure: bool) -> Self {
        PublicOnly {
            inner,
            allow_insecure,
        }
    }
}

impl Resolve for PublicOnly {
    fn resolve(&self, name: Name) -> Resolving {
        let (inner, allow_insecure) = (self.inner.clone(), self.allow_insecure);
        Box::pin(async move {
            let allowed: Vec<SocketAddr> = inner
                .resolve(name)
                .await?
                .filter(|addr| may_connect(addr.ip(), allow_insecure))
                .collect();
            if allowed.is_empty() {
                return Err(Box::new(NoPublicAddress) as Box<_>);
            }
            let addrs: Addrs = Box::new(allowed.into_iter());
            Ok(addrs)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn private_loopback_link_local_and_metadata_addresses_are_not_public() {
        for ip in [
            "127.0.0.1",
            "169.254.169.254",
            "10.1.2.3",
            "172.16.0.1",
            "172.31.255.255",
            "192.168.1.1",
            "100.64.0.1",
            "0.0.0.0",
            "255.255.255.255",
            "::1",
            "::",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "64:ff9b::a00:1",
            "2002:a00:1::",
            "ff02::1",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(!is_public(ip), "{ip} must not be public");
            assert!(!may_connect(ip, false), "{ip}");
        }
        for ip in [
            "93.184.216.34",
            "1.1.1.1",
            "172.32.0.1",
            "2606:4700::1111",
            "::ffff:8.8.8.8",
        ] {
            let ip: IpAddr = ip.parse().unwrap();
            assert!(is_public(ip), "{ip} is public");
        }
    }

    #[test]
    fn the_insecure_flag_allows_loopback_and_nothing_else_private() {
        for ip in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            assert!(may_connect(ip.parse().unwrap(), true), "{ip}");
        }
        for ip in ["10.0.0.1", "169.254.169.254", "192.168.0.1", "fc00::1"] {
            assert!(!may_connect(ip.parse().unwrap(), true), "{ip}");
        }
    }

    #[test]
    fn urls_must_be_https_public_short_and_without_credentials() {
        assert!(check_url("https://hooks.example.com/keyward", false).is_ok());
        for (url, refusal) in [
            ("http://hooks.example.com/", UrlRefusal::NotHttps),
            ("ftp://hooks.example.com/", UrlRefusal::NotHttps),
            ("hooks.example.com/x", UrlRefusal::NotAUrl),
            (
                "https://user:pw@hooks.example.com/",
                UrlRefusal::Credentials,
            ),
            ("https://user@hooks.example.com/", UrlRefusal::Credentials),
            ("https://127.0.0.1/", UrlRefusal::NotPublic),
            (
                "https://169.254.169.254/latest/meta-data/",
                UrlRefusal::NotPublic,
            ),
            ("https://10.0.0.8/", UrlRefusal::NotPublic),
            ("https://172.16.5.4/", UrlRefusal::NotPublic),
            ("https://192.168.0.1/", UrlRefusal::NotPublic),
            ("https://[::1]/", UrlRefusal::NotPublic),
            ("https://[fc00::1]/", UrlRefusal::NotPublic),
            ("https://[::ffff:127.0.0.1]/", UrlRefusal::NotPublic),
            ("https://2130706433/", UrlRefusal::NotPublic),
            ("https://0x7f.1/", UrlRefusal::NotPublic),
            ("https://localhost/", UrlRefusal::NotPublic),
            ("https://api.localhost./", UrlRefusal::NotPublic),
        ] {
            assert_eq!(check_url(url, false), Err(refusal), "{url}");
        }
        let long = format!("https://hooks.example.com/{}", "a".repeat(MAX_URL_CHARS));
        assert_eq!(check_url(&long, false), Err(UrlRefusal::TooLong));
        assert!(check_url("http://127.0.0.1:9000/hook", true).is_ok());
        assert!(check_url("http://localhost:9000/hook", true).is_ok());
        assert_eq!(check_url("ftp://x/", true), Err(UrlRefusal::NotHttp));
        assert_eq!(
            check_url("http://10.0.0.1/hook", true),
            Err(UrlRefusal::NotPublic)
        );
    }
}
