//! API keys for machine clients: `bk_` and 40 random characters, stored only as SHA-256.
//!
//! A key has 238 bits of entropy, so a fast hash is enough to store it (argon2 would cost
//! tens of milliseconds on every request for no gain).

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

/// Every key starts with this, so a leaked key is recognisable in code and logs.
pub const PREFIX: &str = "bk_";
const RANDOM_LEN: usize = 40;

/// A freshly generated key: shown once to the operator, then only its hash is kept.
pub struct NewApiKey {
    /// The key itself.
    pub key: String,
    /// Its first characters, for listings.
    pub prefix: String,
    /// What is stored.
    pub hash: [u8; 32],
}

/// Generates a key from the OS-seeded CSPRNG.
pub fn generate() -> NewApiKey {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(RANDOM_LEN)
        .map(char::from)
        .collect();
    let key = format!("{PREFIX}{random}");
    NewApiKey {
        prefix: key[..PREFIX.len() + 6].to_owned(),
        hash: hash(&key),
        key,
    }
}

/// The stored form of a key.
pub fn hash(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_random_and_hash_stably() {
        let a = generate();
        let b = generate();
        assert_ne!(a.key, b.key);
        assert!(a.key.starts_with(PREFIX) && a.key.len() == PREFIX.len() + RANDOM_LEN);
        assert_eq!(hash(&a.key), a.hash);
        assert!(a.key.starts_with(&a.prefix));
    }
}
