//! Password hashing with argon2id, on the blocking thread pool: one hash takes tens of
//! milliseconds of CPU, which must not stall the async workers.

use std::sync::OnceLock;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};

use crate::error::{Error, Result};

/// Hashes `password` into a PHC string (`$argon2id$…`).
pub async fn hash(password: String) -> Result<String> {
    blocking(move || hash_now(&password)).await?
}

/// Whether `password` matches `phc`. With no hash (an unknown account, or a guest), a
/// dummy hash is checked anyway, so the answer takes as long either way.
pub async fn verify(password: String, phc: Option<String>) -> Result<bool> {
    blocking(move || {
        let dummy = dummy_hash();
        let (phc, known) = match &phc {
            Some(phc) => (phc.as_str(), true),
            None => (dummy, false),
        };
        let parsed = PasswordHash::new(phc)
            .map_err(|e| anyhow::anyhow!("stored password hash is malformed: {e}"))?;
        let matches = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(known && matches)
    })
    .await?
}

fn hash_now(password: &str) -> Result<String> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|e| Error::Internal(anyhow::anyhow!("hashing a password: {e}")))
}

fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| hash_now("not a real password").unwrap_or_default())
}

async fn blocking<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T> {
    let span = tracing::Span::current();
    tokio::task::spawn_blocking(move || span.in_scope(work))
        .await
        .map_err(|e| Error::Internal(anyhow::anyhow!("password hashing task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hashes_verify_and_unknown_accounts_never_do() {
        let phc = hash("correct horse".into()).await.unwrap();
        assert!(phc.starts_with("$argon2id$"));
        assert!(
            verify("correct horse".into(), Some(phc.clone()))
                .await
                .unwrap()
        );
        assert!(!verify("wrong horse".into(), Some(phc)).await.unwrap());
        assert!(!verify("not a real password".into(), None).await.unwrap());
    }
}
