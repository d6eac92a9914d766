//! The SSRF guard: a webhook URL is the shop's to choose, so it must never make Bondhu
//! call into its own network or a cloud's metadata service.
//!
//! The rule has one home, [`refusal`]: an address is refused when it is link-local
//! (169.254.0.0/16, fe80::/10) or a cloud metadata address (always), not a unicast
//! destination (multicast, broadcast, reserved; always), or private, loopback or
//! unspecified (unless `WEBHOOK_ALLOW_PRIVATE`). IPv6 forms that carry an IPv4 address
//! (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible, NAT64 `64:ff9b::/96`, 6to4 `2002::/16`)
//! are judged by that address.
//!
//! It is applied three times:
//! - when a subscription is saved ([`check_url`]): the URL's shape, then every address its
//!   host resolves to (an IP literal is its own address);
//! - when an attempt connects: the HTTP client resolves names only through
//!   [`GuardedResolver`], which drops refused addresses, so the connection goes to an
//!   address that was checked (a DNS answer that changed since, rebinding, cannot slip
//!   through) and fails with [`Refused`] when none is left;
//! - on every redirect ([`redirect_policy`], at most [`MAX_REDIRECTS`]): the target's shape
//!   and, for an IP literal (which the client never resolves), its address; a named target
//!   goes through the resolver when it connects.
//!
//! The client uses no proxy (a proxy would resolve and connect on our behalf, past the
//! guard).

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::dns::{Addrs, Name, Resolve, Resolving};
use reqwest::redirect;

use crate::domain::webhook::MAX_URL_CHARS;

/// The most redirects one attempt follows.
pub const MAX_REDIRECTS: usize = 3;

/// How long a subscription's DNS check may take.
const RESOLVE_TIMEOUT: Duration = Duration::from_secs(5);

/// Why an address may not be called.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AddressClass {
    /// Link-local (169.254.0.0/16, fe80::/10): always refused.
    LinkLocal,
    /// A cloud metadata service (169.254.169.254, fd00:ec2::254, 100.100.100.200): always
    /// refused.
    Metadata,
    /// Multicast, broadcast, reserved or documentation space: always refused.
    NotUnicast,
    /// Private networks (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7, …).
    Private,
    /// Loopback (127/8, ::1).
    Loopback,
    /// Unspecified (0.0.0.0/8, ::).
    Unspecified,
}

impl AddressClass {
    /// Whether `WEBHOOK_ALLOW_PRIVATE` cannot allow it.
    pub fn always_refused(self) -> bool {
        matches!(self, Self::LinkLocal | Self::Metadata | Self::NotUnicast)
    }

    /// Its name in messages and recorded errors.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::LinkLocal => "link-local",
            Self::Metadata => "cloud metadata",
            Self::NotUnicast => "not a unicast address",
            Self::Private => "private",
            Self::Loopback => "loopback",
            Self::Unspecified => "unspecified",
        }
    }
}

/// What kind of special address `ip` is; `None` for an ordinary public address.
pub fn classify(ip: IpAddr) -> Option<AddressClass> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

fn classify_v4(ip: Ipv4Addr) -> Option<AddressClass> {
    let [a, b, c, _] = ip.octets();
    Some(match (a, b, c) {
        _ if ip == Ipv4Addr::new(169, 254, 169, 254) || ip == Ipv4Addr::new(100, 100, 100, 200) => {
            AddressClass::Metadata
        }
        (169, 254, _) => AddressClass::LinkLocal,
        (0, _, _) => AddressClass::Unspecified,
        (127, _, _) => AddressClass::Loopback,
        (10, _, _) | (192, 168, _) => AddressClass::Private,
        (172, 16..=31, _) | (100, 64..=127, _) | (198, 18..=19, _) | (192, 0, 0) => {
            AddressClass::Private
        }
        (224..=255, _, _) | (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => {
            AddressClass::NotUnicast
        }
        _ => return None,
    })
}

fn classify_v6(ip: Ipv6Addr) -> Option<AddressClass> {
    let segments = ip.segments();
    if ip.is_unspecified() {
        return Some(AddressClass::Unspecified);
    }
    if ip.is_loopback() {
        return Some(AddressClass::Loopback);
    }
    // Forms that carry an IPv4 address are judged by it.
    if let Some(v4) = embedded_v4(ip) {
        return classify_v4(v4);
    }
    Some(match segments[0] {
        _ if ip == Ipv6Addr::new(0xfd00, 0x0ec2, 0, 0, 0, 0, 0, 0x0254) => AddressClass::Metadata,
        s if s & 0xffc0 == 0xfe80 => AddressClass::LinkLocal,
        // Site-local (deprecated) and unique local addresses.
        s if s & 0xffc0 == 0xfec0 || s & 0xfe00 == 0xfc00 => AddressClass::Private,
        s if s & 0xff00 == 0xff00 => AddressClass::NotUnicast,
        // Documentation (2001:db8::/32) and discard (100::/64).
        0x2001 if segments[1] == 0x0db8 => AddressClass::NotUnicast,
        0x0100 if segments[1..4] == [0, 0, 0] => AddressClass::NotUnicast,
        _ => return None,
    })
}

/// The IPv4 address an IPv6 address carries: IPv4-mapped (`::ffff:a.b.c.d`),
/// IPv4-compatible (`::a.b.c.d`), NAT64 (`64:ff9b::a.b.c.d`) or 6to4 (`2002:aabb:ccdd::`).
fn embedded_v4(ip: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = ip.segments();
    let low =
        |hi: u16, lo: u16| Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8);
    match s {
        [0, 0, 0, 0, 0, 0xffff, hi, lo] | [0, 0, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x64, 0xff9b, 0, 0, 0, 0, hi, lo] => Some(low(hi, lo)),
        [0x2002, hi, lo, ..] => Some(low(hi, lo)),
        _ => None,
    }
}

/// Why `ip` may not be called, given `WEBHOOK_ALLOW_PRIVATE` (`allow_private`); `None`
/// when it may. The one rule.
pub fn refusal(ip: IpAddr, allow_private: bool) -> Option<AddressClass> {
    classify(ip).filter(|class| class.always_refused() || !allow_private)
}

/// An address the guard refused, as an error the HTTP client carries (and the recorded
/// reason names).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Refused {
    /// The host as the URL names it.
    pub host: String,
    /// The address refused.
    pub ip: IpAddr,
    /// Why.
    pub class: AddressClass,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.host == self.ip.to_string() {
            write!(f, "{} is a {} address", self.ip, self.class.as_str())
        } else {
            write!(
                f,
                "{} resolves to {}, a {} address",
                self.host,
                self.ip,
                self.class.as_str()
            )
        }?;
        if self.class.always_refused() {
            f.write_str(" (always refused)")
        } else {
            f.write_str(" (refused unless WEBHOOK_ALLOW_PRIVATE=true)")
        }
    }
}

impl std::error::Error for Refused {}

/// Why a URL cannot be a webhook's.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum UrlProblem {
    /// Not an absolute http(s) URL of an acceptable shape; the text says what is wrong.
    #[error("{0}")]
    Invalid(&'static str),
    /// Its host is, or resolves to, an address the guard refuses.
    #[error("{0}")]
    Refused(Refused),
    /// Its host does not resolve.
    #[error("{0} does not resolve to any address")]
    Unresolvable(String),
    /// Redirected too often.
    #[error("more than {MAX_REDIRECTS} redirects")]
    TooManyRedirects,
}

/// Reads `raw` as a webhook URL: absolute http or https, a host, no userinfo, no
/// fragment, at most 2000 characters. Returns it normalised (an IP literal in any
/// spelling — `2130706433`, `0x7f.1` — becomes its address).
pub fn parse_url(raw: &str) -> Result<Url, UrlProblem> {
    if raw.chars().count() > MAX_URL_CHARS {
        return Err(UrlProblem::Invalid("is longer than 2000 characters"));
    }
    let url = Url::parse(raw.trim()).map_err(|_| UrlProblem::Invalid("is not an absolute URL"))?;
    check_shape(&url)?;
    Ok(url)
}

/// The shape rules, for a subscription's URL and for a redirect's target alike.
fn check_shape(url: &Url) -> Result<(), UrlProblem> {
    if !matches!(url.scheme(), "http" | "https") {
        return Err(UrlProblem::Invalid("must be an http or https URL"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        return Err(UrlProblem::Invalid(
            "must not carry a user name or password",
        ));
    }
    if url.fragment().is_some() {
        return Err(UrlProblem::Invalid("must not have a fragment (#…)"));
    }
    match url.host_str() {
        None | Some("") => Err(UrlProblem::Invalid("must name a host")),
        Some(_) => Ok(()),
    }
}

/// The address of `url`'s host when it is an IP literal.
fn literal_ip(url: &Url) -> Option<IpAddr> {
    // A parsed URL writes an IPv6 literal in brackets, and an IPv4 one in any spelling as
    // dotted decimal; a domain never parses as an address.
    url.host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse()
        .ok()
}

/// The shape rules and, for an IP literal, the address rule: what can be decided about
/// `url` without DNS (a redirect's target; the first check of an attempt).
pub fn check_literal(url: &Url, allow_private: bool) -> Result<(), UrlProblem> {
    check_shape(url)?;
    if let Some(ip) = literal_ip(url)
        && let Some(class) = refusal(ip, allow_private)
    {
        return Err(UrlProblem::Refused(Refused {
            host: ip.to_string(),
            ip,
            class,
        }));
    }
    Ok(())
}

/// The subscription-time check: the shape, then every address the host resolves to must
/// be allowed (one refused address refuses the URL: the shop must not name a host that
/// can reach inside).
pub async fn check_url(url: &Url, allow_private: bool) -> Result<(), UrlProblem> {
    check_literal(url, allow_private)?;
    if literal_ip(url).is_some() {
        return Ok(());
    }
    let host = url.host_str().unwrap_or_default().to_owned();
    let port = url.port_or_known_default().unwrap_or(443);
    let lookup = tokio::time::timeout(
        RESOLVE_TIMEOUT,
        tokio::net::lookup_host((host.clone(), port)),
    )
    .await;
    let addresses: Vec<SocketAddr> = match lookup {
        Ok(Ok(addresses)) => addresses.collect(),
        _ => return Err(UrlProblem::Unresolvable(host)),
    };
    if addresses.is_empty() {
        return Err(UrlProblem::Unresolvable(host));
    }
    for address in addresses {
        if let Some(class) = refusal(address.ip(), allow_private) {
            return Err(UrlProblem::Refused(Refused {
                host,
                ip: address.ip(),
                class,
            }));
        }
    }
    Ok(())
}

/// The HTTP client's resolver: the system's answer, less the refused addresses. With
/// none left the connection fails with [`Refused`] (the first refused address).
#[derive(Clone, Copy, Debug)]
pub struct GuardedResolver {
    /// `WEBHOOK_ALLOW_PRIVATE`.
    pub allow_private: bool,
}

impl Resolve for GuardedResolver {
    fn resolve(&self, name: Name) -> Resolving {
        let allow_private = self.allow_private;
        let host = name.as_str().to_owned();
        Box::pin(async move {
            let resolved: Vec<SocketAddr> =
                tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) = resolved
                .into_iter()
                .partition(|address| refusal(address.ip(), allow_private).is_none());
            if allowed.is_empty() {
                return Err(match refused.first() {
                    Some(address) => Box::new(Refused {
                        host,
                        ip: address.ip(),
                        class: refusal(address.ip(), allow_private)
                            .unwrap_or(AddressClass::NotUnicast),
                    })
                        as Box<dyn std::error::Error + Send + Sync>,
                    None => Box::new(UrlProblem::Unresolvable(host)),
                });
            }
            Ok(Box::new(allowed.into_iter()) as Addrs)
        })
    }
}

/// The redirect policy: at most [`MAX_REDIRECTS`], each target checked by
/// [`check_literal`] (a named target is checked by the resolver when it connects).
pub fn redirect_policy(allow_private: bool) -> redirect::Policy {
    redirect::Policy::custom(move |attempt| {
        if attempt.previous().len() > MAX_REDIRECTS {
            return attempt.error(UrlProblem::TooManyRedirects);
        }
        match check_literal(attempt.url(), allow_private) {
            Ok(()) => attempt.follow(),
            Err(problem) => attempt.error(problem),
        }
    })
}

/// The webhooks' HTTP client: the guard's resolver and redirect policy, no proxy,
/// `timeout` for a whole attempt (redirects included).
pub fn client(timeout: Duration, allow_private: bool) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(crate::providers::CONNECT_TIMEOUT.min(timeout))
        .no_proxy()
        .dns_resolver(Arc::new(GuardedResolver { allow_private }))
        .redirect(redirect_policy(allow_private))
        .user_agent(concat!("Bondhu-Webhooks/", env!("CARGO_PKG_VERSION")))
        .build()
}

/// The guard's own error in `err`'s chain of causes, as the reason an attempt records.
pub fn guard_reason(err: &(dyn std::error::Error + 'static)) -> Option<String> {
    let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(current) = cause {
        if let Some(refused) = current.downcast_ref::<Refused>() {
            return Some(format!("refused: {refused}"));
        }
        if let Some(problem) = current.downcast_ref::<UrlProblem>() {
            return Some(match problem {
                UrlProblem::Refused(refused) => format!("refused: {refused}"),
                UrlProblem::Invalid(why) => format!("refused: a redirect's target {why}"),
                other => other.to_string(),
            });
        }
        cause = current.source();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn class(ip: &str) -> Option<AddressClass> {
        classify(ip.parse().unwrap())
    }

    #[test]
    fn addresses_are_classified() {
        use AddressClass::*;
        for (ip, expected) in [
            ("169.254.169.254", Some(Metadata)),
            ("169.254.1.1", Some(LinkLocal)),
            ("100.100.100.200", Some(Metadata)),
            ("fe80::1", Some(LinkLocal)),
            ("febf::1", Some(LinkLocal)),
            ("fd00:ec2::254", Some(Metadata)),
            ("::ffff:169.254.169.254", Some(Metadata)),
            ("::ffff:127.0.0.1", Some(Loopback)),
            ("64:ff9b::a9fe:a9fe", Some(Metadata)),
            ("2002:a9fe:a9fe::1", Some(Metadata)),
            ("127.0.0.1", Some(Loopback)),
            ("127.255.0.1", Some(Loopback)),
            ("::1", Some(Loopback)),
            ("0.0.0.0", Some(Unspecified)),
            ("::", Some(Unspecified)),
            ("10.1.2.3", Some(Private)),
            ("172.16.0.1", Some(Private)),
            ("172.31.255.255", Some(Private)),
            ("192.168.1.1", Some(Private)),
            ("100.64.0.1", Some(Private)),
            ("fc00::1", Some(Private)),
            ("fd12:3456::1", Some(Private)),
            ("224.0.0.1", Some(NotUnicast)),
            ("255.255.255.255", Some(NotUnicast)),
            ("ff02::1", Some(NotUnicast)),
            ("2001:db8::1", Some(NotUnicast)),
            ("172.32.0.1", None),
            ("100.128.0.1", None),
            ("8.8.8.8", None),
            ("2606:4700::1111", None),
            ("::ffff:8.8.8.8", None),
        ] {
            assert_eq!(class(ip), expected, "{ip}");
        }
    }

    #[test]
    fn private_addresses_are_allowed_only_on_request_link_local_never() {
        let loopback: IpAddr = "127.0.0.1".parse().unwrap();
        let metadata: IpAddr = "169.254.169.254".parse().unwrap();
        let link_local: IpAddr = "fe80::1".parse().unwrap();
        assert_eq!(refusal(loopback, false), Some(AddressClass::Loopback));
        assert_eq!(refusal(loopback, true), None);
        assert_eq!(refusal(metadata, true), Some(AddressClass::Metadata));
        assert_eq!(refusal(link_local, true), Some(AddressClass::LinkLocal));
    }

    #[test]
    fn url_shapes() {
        assert!(parse_url("https://shop.example/hooks/bondhu?x=1").is_ok());
        for bad in [
            "ftp://shop.example/",
            "https://user:pass@shop.example/",
            "https://shop.example/#frag",
            "shop.example/hook",
            "file:///etc/passwd",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        // Every spelling of an address is normalised, then judged.
        let decimal = parse_url("http://2130706433/").unwrap();
        assert_eq!(decimal.host_str(), Some("127.0.0.1"));
        assert!(matches!(
            check_literal(&decimal, false),
            Err(UrlProblem::Refused(_))
        ));
        let mapped = parse_url("http://[::ffff:a9fe:a9fe]/").unwrap();
        assert!(matches!(
            check_literal(&mapped, true),
            Err(UrlProblem::Refused(Refused {
                class: AddressClass::Metadata,
                ..
            }))
        ));
    }
}
