//! Per-client rate limits on the public routes, as extractors: a handler that takes
//! [`PublicRateLimit`] or [`LoginRateLimit`] is limited, and an over-limit request gets
//! 429 with `Retry-After` before the handler runs.
//!
//! The counts live in PostgreSQL (`take_rate_limit`, one upsert per request), so every
//! instance behind a load balancer shares them: a client gets its quota once, not once
//! per instance. A limit of 0 is off (for trusted networks). Money is never guarded by
//! these limits alone.

use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use sqlx::PgPool;

use super::AppState;
use crate::config::Config;
use crate::db;
use crate::domain::rate_limit::Bucket;
use crate::error::{Code, Error};

/// The limits of one server.
pub struct RateLimits {
    /// Requests a minute per client on public routes; 0: unlimited.
    public_per_minute: u32,
    /// Logins a minute per client; 0: unlimited.
    login_per_minute: u32,
    trust_proxy_headers: bool,
}

impl RateLimits {
    /// The configured quotas.
    pub fn new(config: &Config) -> Self {
        Self {
            public_per_minute: config.public_rate_limit_per_minute,
            login_per_minute: config.login_rate_limit_per_minute,
            trust_proxy_headers: config.trust_proxy_headers,
        }
    }

    /// Forgets clients whose quota has refilled, so the table stays small. Every instance
    /// runs it; running it twice at once is harmless.
    pub async fn prune(pool: &PgPool) {
        if let Err(err) = db::rate_limits::prune(pool).await {
            tracing::debug!(%err, "could not prune the rate limits");
        }
    }

    /// The client's address (see [`super::client::client_ip`]); unknown ones share one key.
    fn client(&self, parts: &Parts) -> IpAddr {
        super::client::client_ip(parts, self.trust_proxy_headers)
            .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
    }

    /// Counts the request against `bucket`, or refuses it with 429.
    async fn check(&self, pool: &PgPool, bucket: Bucket, parts: &Parts) -> Result<(), Error> {
        let per_minute = match bucket {
            Bucket::Public => self.public_per_minute,
            Bucket::Login => self.login_per_minute,
        };
        if per_minute == 0 {
            return Ok(());
        }
        let client = limit_key(self.client(parts));
        match db::rate_limits::take(pool, bucket, client, per_minute).await? {
            None => Ok(()),
            Some(wait) => Err(Error::too_many(
                Code::RateLimited,
                "Too many requests; slow down",
                Duration::from_secs_f64(wait.max(0.0)).max(Duration::from_secs(1)),
            )),
        }
    }
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
        state
            .limits
            .check(&state.db, Bucket::Public, parts)
            .await
            .map(|()| Self)
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
        state
            .limits
            .check(&state.db, Bucket::Login, parts)
            .await
            .map(|()| Self)
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
