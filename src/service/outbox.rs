//! What Bondhu's two outboxes share: messages to customers (`outbound_messages`, sent by
//! [`super::messaging::dispatcher`]) and webhook deliveries (`webhook_deliveries`, sent by
//! [`super::webhooks::dispatcher`]); the event relay's publication records
//! (`event_publications`, published to NATS by [`super::event_relay`]) follow it too.
//!
//! Both follow one protocol: rows are written in the transaction of the change that
//! causes them; a dispatcher in every instance claims due rows with `FOR UPDATE SKIP
//! LOCKED` and marks them `sending` under a lease ([`lease_secs`]), calls the outside
//! world with no transaction open, and records the answer in one statement fenced by the
//! attempt number. A failed attempt waits for [`Backoff::delay`]. The loop that runs the
//! rounds (woken by a tick or a [`tokio::sync::Notify`]) is [`crate::jobs::run_outbox`].

use std::future::Future;
use std::time::Duration;

use rand::Rng;

/// What one round of an outbox's dispatcher did: counts of rows by outcome.
pub trait RoundCounts: Copy + Default {
    /// Rows the round dealt with, whatever became of them.
    fn total(&self) -> u32;
    /// Adds another round's counts to these.
    fn add(&mut self, other: Self);
}

/// Runs `round` until one deals with nothing or `max_rounds` have run, and returns their
/// sum: everything due now, dispatched (tests and `bondhu` commands drain an outbox this
/// way; the server's loop is [`crate::jobs::run_outbox`]).
pub async fn drain<R, E, F, Fut>(max_rounds: u32, mut round: F) -> Result<R, E>
where
    R: RoundCounts,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<R, E>>,
{
    let mut total = R::default();
    for _ in 0..max_rounds {
        let done = round().await?;
        total.add(done);
        if done.total() == 0 {
            break;
        }
    }
    Ok(total)
}

/// Exponential backoff with jitter: the wait before the next attempt.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Backoff {
    /// The first retry's delay; each further one doubles it.
    pub base: Duration,
    /// The longest wait between two attempts.
    pub max: Duration,
}

impl Backoff {
    /// The wait after attempt `attempts` failed: `base × 2^(attempts-1)`, capped at `max`,
    /// jittered over its upper half (so an outage's backlog does not come back in one
    /// wave), and never shorter than the other side's own `Retry-After`.
    pub fn delay(&self, attempts: i32, hint: Option<Duration>) -> Duration {
        let exponent = attempts.clamp(1, 30) as u32 - 1;
        let ceiling = self
            .base
            .saturating_mul(2u32.saturating_pow(exponent))
            .min(self.max);
        let jittered = ceiling.mul_f64(rand::rng().random_range(0.5..=1.0));
        jittered.max(hint.unwrap_or_default())
    }
}

/// A lease as the claim statements take it (`make_interval(secs => …)`).
pub fn lease_secs(lease: Duration) -> f64 {
    lease.as_secs_f64()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_is_jittered_capped_and_respects_hints() {
        let backoff = Backoff {
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        };
        for _ in 0..100 {
            let first = backoff.delay(1, None);
            assert!(first >= Duration::from_secs(15) && first <= Duration::from_secs(30));
            let fourth = backoff.delay(4, None);
            assert!(fourth >= Duration::from_secs(120) && fourth <= Duration::from_secs(240));
            let late = backoff.delay(40, None);
            assert!(late >= Duration::from_secs(1800) && late <= Duration::from_secs(3600));
        }
        assert_eq!(
            backoff.delay(1, Some(Duration::from_secs(90))),
            Duration::from_secs(90)
        );
    }
}
