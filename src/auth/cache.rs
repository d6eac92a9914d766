//! A short-lived cache of account checks, so that a busy client does not cost a database
//! round trip per request. An account that is deleted or deactivated stops working within
//! the cache's time to live (`AUTH_CACHE_TTL_SECS`, 5 s by default; 0 disables it).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use super::{Principal, TokenSubject};

/// Beyond this many entries the cache is emptied rather than grown.
const MAX_ENTRIES: usize = 50_000;

/// What a cache entry is about.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Subject {
    /// A bearer token's account.
    Token(TokenSubject),
    /// An API key, by its hash.
    ApiKey([u8; 32]),
}

/// Account checks, each valid for `ttl`. `None` records an account that failed the check.
/// Also remembers tokens whose signature was verified, so a client sending the same token
/// again is not verified again within `ttl` (its expiry is still checked every time).
pub struct PrincipalCache {
    ttl: Duration,
    entries: Mutex<HashMap<Subject, (Instant, Option<Principal>)>>,
    verified: Mutex<HashMap<String, (Instant, TokenSubject, i64)>>,
}

impl PrincipalCache {
    /// A cache whose entries live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
            verified: Mutex::new(HashMap::new()),
        }
    }

    /// The cached check of `subject`, if still fresh: `Some(None)` is a cached refusal.
    pub fn get(&self, subject: &Subject) -> Option<Option<Principal>> {
        if self.ttl.is_zero() {
            return None;
        }
        let entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        entries
            .get(subject)
            .filter(|(at, _)| at.elapsed() < self.ttl)
            .map(|(_, principal)| principal.clone())
    }

    /// The subject of `token` if the same token string was verified within the TTL and
    /// has not expired since.
    pub fn verified(&self, token: &str) -> Option<TokenSubject> {
        if self.ttl.is_zero() {
            return None;
        }
        let now = chrono::Utc::now().timestamp();
        let verified = self
            .verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        verified
            .get(token)
            .filter(|(at, _, exp)| at.elapsed() < self.ttl && *exp > now)
            .map(|(_, subject, _)| *subject)
    }

    /// Remembers that `token` was verified, naming `subject` and expiring at `exp`.
    pub fn remember_verified(&self, token: &str, subject: TokenSubject, exp: i64) {
        if self.ttl.is_zero() {
            return;
        }
        let mut verified = self
            .verified
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if verified.len() >= MAX_ENTRIES {
            verified.clear();
        }
        verified.insert(token.to_owned(), (Instant::now(), subject, exp));
    }

    /// Remembers the check of `subject`.
    pub fn put(&self, subject: Subject, principal: Option<Principal>) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self
            .entries
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(subject, (Instant::now(), principal));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_expire_and_zero_ttl_disables() {
        let subject = Subject::Token(TokenSubject::Customer(1));
        let cache = PrincipalCache::new(Duration::from_millis(50));
        cache.put(subject.clone(), Some(Principal::Customer { id: 1 }));
        assert_eq!(
            cache.get(&subject),
            Some(Some(Principal::Customer { id: 1 }))
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&subject), None);

        let now = chrono::Utc::now().timestamp();
        let customer = TokenSubject::Customer(1);
        let tokens = PrincipalCache::new(Duration::from_secs(60));
        tokens.remember_verified("fresh", customer, now + 60);
        tokens.remember_verified("expired", customer, now - 1);
        assert_eq!(tokens.verified("fresh"), Some(customer));
        assert_eq!(
            tokens.verified("expired"),
            None,
            "an expired token is never taken from the cache"
        );
        assert_eq!(tokens.verified("never seen"), None);

        let off = PrincipalCache::new(Duration::ZERO);
        off.put(subject.clone(), None);
        assert_eq!(off.get(&subject), None);
    }
}
