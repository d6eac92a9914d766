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
pub struct PrincipalCache {
    ttl: Duration,
    entries: Mutex<HashMap<Subject, (Instant, Option<Principal>)>>,
}

impl PrincipalCache {
    /// A cache whose entries live for `ttl`.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
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
    use crate::auth::TokenKind;

    #[test]
    fn entries_expire_and_zero_ttl_disables() {
        let subject = Subject::Token(TokenSubject {
            kind: TokenKind::Customer,
            id: 1,
        });
        let cache = PrincipalCache::new(Duration::from_millis(50));
        cache.put(subject.clone(), Some(Principal::Customer { id: 1 }));
        assert_eq!(
            cache.get(&subject),
            Some(Some(Principal::Customer { id: 1 }))
        );
        std::thread::sleep(Duration::from_millis(60));
        assert_eq!(cache.get(&subject), None);

        let off = PrincipalCache::new(Duration::ZERO);
        off.put(subject.clone(), None);
        assert_eq!(off.get(&subject), None);
    }
}
