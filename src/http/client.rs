//! Who is calling, as far as the request tells: the client's address (the one home for
//! it: the rate limits and the fraud signals both read it here) and the device id it
//! declares in `X-Device-Id`.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::AppState;
use crate::domain::fraud::parse_device_id;
use crate::error::Error;
use crate::service::fraud::ClientSignals;

/// The client's address: the peer, or with `TRUST_PROXY_HEADERS` the last hop of
/// `X-Forwarded-For` (the one our proxy appended; earlier hops are client-supplied).
/// `None` when neither is known (a request that did not come through a socket).
pub fn client_ip(parts: &Parts, trust_proxy_headers: bool) -> Option<IpAddr> {
    if trust_proxy_headers
        && let Some(ip) = parts
            .headers
            .get("x-forwarded-for")
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.rsplit(',').next())
            .and_then(|hop| hop.trim().parse().ok())
    {
        return Some(ip);
    }
    parts
        .extensions
        .get::<ConnectInfo<SocketAddr>>()
        .map(|info| info.0.ip())
}

/// The request's fraud signals: the `X-Device-Id` header (a bad one is a 422 naming
/// it) and the hashed client address.
impl FromRequestParts<AppState> for ClientSignals {
    type Rejection = Error;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let device = match parts.headers.get("x-device-id") {
            None => None,
            Some(value) => Some(
                value
                    .to_str()
                    .ok()
                    .and_then(|v| parse_device_id(v).ok())
                    .ok_or_else(|| {
                        Error::invalid_field(
                            "X-Device-Id",
                            "must be 1 to 128 printable ASCII characters without spaces",
                        )
                    })?,
            ),
        };
        let ip_hash = client_ip(parts, state.config.trust_proxy_headers)
            .filter(|ip| !ip.is_unspecified())
            .map(|ip| state.signal_hasher.hash_ip(ip));
        Ok(Self { device, ip_hash })
    }
}
