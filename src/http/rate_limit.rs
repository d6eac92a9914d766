//! Per-client rate limits on the public routes, as extractors: a handler that takes
//! [`PublicRateLimit`] or [`LoginRateLimit`] is limited, and an over-limit request gets
//! 429 with `Retry-After` before the handler runs.
//!
//! The limits are per process (GCRA, via `governor`): with N instances a client gets up
//! to N times the limit. Money is never guarded by these limits alone.

use std::net::{IpAddr, Ipv4Addr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use crate::config::Config;
use crate::error::{Code, Error};

/// The limiters of one server.
pub struct RateLimits {
    public: DefaultKeyedRateLimiter<IpAddr>,
    login: DefaultKeyedRateLimiter<IpAddr>,
    trust_proxy_headers: bool,
}

impl RateLimits {
    /// Limiters with the configured quotas.
    pub fn new(config: &Config) -> Self {
        let per_minute = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Self {
            public: RateLimiter::keyed(per_minute(config.public_rate_limit_per_minute)),
            login: RateLimiter::keyed(per_minute(config.login_rate_limit_per_minute)),
            trust_proxy_headers: config.trust_proxy_headers,
        }
    }

    /// Forgets clients that are back under their limits, so memory stays bounded.
    pub fn prune(&self) {
        self.public.retain_recent();
        self.login.retain_recent();
    }

    /// The client's address (see [`super::client::client_ip`]); unknown ones share one key.
    fn client(&self, parts: &Parts) -> IpAddr {
        super::client::client_ip(parts, self.trust_proxy_headers)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, client: IpAddr) -> Result<(), Error> {
    limiter.check_key(&client).map_err(|not_until| {
        let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
        Error::too_many(
            Code::RateLimited,
            "Too many requests; slow down",
            wait.max(Duration::from_secs(1)),
        )
    })
}

/// The key a client is limited by: its IPv4 address, or its IPv6 /64 (one household or
/// phone gets a whole /64, so a per-address key would be no limit at all).
pub(crate) fn limit_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let segments = v6.segments();
            IpAddr::V6(std::net::Ipv6Addr::new(
                segments[0],
                segments[1],
                segments[2],
                segments[3],
                0,
                0,
                0,
                0,
            ))
        }
    }
}

/// Admits a request to a public route (signup, lookup, code check, landing).
pub struct PublicRateLimit;

impl FromRequestParts<AppState> for PublicRateLimit {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        check(&state.limits.public, limit_key(state.limits.client(parts))).map(|()| Self)
    }
}

/// Admits a login attempt.
pub struct LoginRateLimit;

impl FromRequestParts<AppState> for LoginRateLimit {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        check(&state.limits.login, limit_key(state.limits.client(parts))).map(|()| Self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv6_clients_are_limited_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::9".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(limit_key(a), limit_key(b));
        assert_ne!(limit_key(a), limit_key(c));
        let v4: IpAddr = "203.0.113.7".parse().unwrap();
        assert_eq!(limit_key(v4), v4);
    }
}
