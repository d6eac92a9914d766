//! How a delivery is signed (docs/WEBHOOKS.md tells receivers how to check it):
//!
//! `Bondhu-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(secret, "<t>.<body>")>`
//!
//! with one `v1=` per secret that is valid now: the current one first, then, for
//! [`ROTATION_OVERLAP`] after a rotation, the previous one, so a receiver that has not
//! switched yet still finds its signature. `t` is the moment of the attempt, so a receiver
//! can refuse replays older than its tolerance (we advise 5 minutes).

use std::fmt::Write as _;
use std::time::Duration;

use hmac::{Hmac, Mac};
use sha2::Sha256;

/// The signature header.
pub const SIGNATURE_HEADER: &str = "bondhu-signature";
/// The event's id: what receivers deduplicate by; the same on every attempt and re-send.
pub const EVENT_ID_HEADER: &str = "bondhu-event-id";
/// The event's type.
pub const EVENT_TYPE_HEADER: &str = "bondhu-event-type";

/// How long the previous secret keeps signing after a rotation.
pub const ROTATION_OVERLAP: Duration = Duration::from_secs(24 * 3600);

/// The replay tolerance receivers are advised to use.
pub const REPLAY_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The `Bondhu-Signature` value of `body` sent at `timestamp` (Unix seconds), signed with
/// each of `secrets` in order.
pub fn signature_header(timestamp: i64, body: &[u8], secrets: &[&str]) -> String {
    let mut header = format!("t={timestamp}");
    for secret in secrets {
        header.push_str(",v1=");
        header.push_str(&sign(secret, timestamp, body));
    }
    header
}

/// Hex HMAC-SHA256 of `"<timestamp>.<body>"` under `secret`.
fn sign(secret: &str, timestamp: i64, body: &[u8]) -> String {
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(secret.as_bytes())
        .unwrap_or_else(|_| unreachable!("HMAC takes keys of any length"));
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut hex = String::with_capacity(digest.len() * 2);
    for byte in digest {
        let _ = write!(hex, "{byte:02x}");
    }
    hex
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer() {
        // HMAC-SHA256("whsec_test_secret_1", "1700000000.{}"), computed independently
        // (python3: hmac.new(b"whsec_test_secret_1", b"1700000000.{}", "sha256").hexdigest()).
        assert_eq!(
            signature_header(1_700_000_000, b"{}", &["whsec_test_secret_1"]),
            "t=1700000000,v1=3cc6d220bd6d001d0f1931d315cb1765435a39bb810cde4e05e23a2b6d71a945"
        );
    }

    #[test]
    fn one_signature_per_secret_current_first() {
        let header = signature_header(1, b"body", &["first-secret-0000", "second-secret-000"]);
        let parts: Vec<&str> = header.split(',').collect();
        assert_eq!(parts.len(), 3);
        assert_eq!(parts[0], "t=1");
        assert_eq!(
            parts[1],
            format!("v1={}", sign("first-secret-0000", 1, b"body"))
        );
        assert_eq!(
            parts[2],
            format!("v1={}", sign("second-secret-000", 1, b"body"))
        );
    }
}
