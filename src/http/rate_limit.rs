//! Per-client rate limits on the public routes, as extractors: a handler that takes
//! [`PublicRateLimit`] or [`LoginRateLimit`] is limited, and an over-limit request gets
//! 429 with `Retry-After` before the handler runs.
//!
//! The limits are per process (GCRA, via `governor`): with N instances a client gets up
//! to N times the limit. Money is never guarded by these limits alone.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::num::NonZeroU32;
use std::time::Duration;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

use super::AppState;
use crate::config::Config;
use crate::error::Error;

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

    /// The client's address: the peer, or with `TRUST_PROXY_HEADERS` the last hop of
    /// `X-Forwarded-For` (the one our proxy appended; earlier hops are client-supplied).
    fn client(&self, parts: &Parts) -> IpAddr {
        if self.trust_proxy_headers
            && let Some(ip) = parts
                .headers
                .get("x-forwarded-for")
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.rsplit(',').next())
                .and_then(|hop| hop.trim().parse().ok())
        {
            return ip;
        }
        parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip())
    }
}

fn check(limiter: &DefaultKeyedRateLimiter<IpAddr>, client: IpAddr) -> Result<(), Error> {
    limiter.check_key(&client).map_err(|not_until| {
        let wait: Duration = not_until.wait_time_from(DefaultClock::default().now());
        Error::TooManyRequests {
            code: "rate_limited",
            message: "Too many requests; slow down".into(),
            retry_after: wait.max(Duration::from_secs(1)),
        }
    })
}

/// Admits a request to a public route (signup, lookup, code check, landing).
pub struct PublicRateLimit;

impl FromRequestParts<AppState> for PublicRateLimit {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        check(&state.limits.public, state.limits.client(parts)).map(|()| Self)
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
        check(&state.limits.login, state.limits.client(parts)).map(|()| Self)
    }
}
