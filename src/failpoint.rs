//! Fail-points: the steps of the money paths and of the outboxes where a test build can
//! kill itself, so that `scripts/chaos.sh` can prove a crash there leaves no partial state
//! and a retry has exactly one effect.
//!
//! Off by default: without the `failpoints` cargo feature, [`failpoint!`] only checks at
//! compile time that its name is in [`POINTS`] and expands to no code, so a release build
//! holds no point (`tests/api/cli.rs` checks the binary). With the feature,
//! `BONDHU_FAILPOINT=name` (or `name@N`: its Nth hit, counted from 1) makes the process
//! send itself SIGKILL when it reaches that point: no destructor runs, no buffer is
//! flushed, and every connection it holds drops, as when the kernel kills it.
//!
//! [`POINTS`] is the one list of names; `bondhu failpoints` (a build with the feature only)
//! prints it for the chaos script.

/// A place in the code where a test build may be killed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Point {
    /// Its name, as `BONDHU_FAILPOINT` names it.
    pub name: &'static str,
    /// What has happened, and what has not, when the process dies there.
    pub state: &'static str,
}

/// Every fail-point. A statement sent outside a transaction commits before its answer
/// reaches us (PostgreSQL answers after the commit), so a single-statement step has a
/// point before it and one after its commit; a transaction has one before its commit too.
pub const POINTS: &[Point] = &[
    Point {
        name: "order.before_apply",
        state: "an order change is validated; nothing is written (before the statement or the transaction)",
    },
    Point {
        name: "order.before_commit",
        state: "an order with an address, lines, a code or a parcel: apply_order_status returned in the open transaction (referral completed, rewards recorded, messages and events queued); not committed",
    },
    Point {
        name: "order.after_commit",
        state: "the order change is committed; the response is not sent",
    },
    Point {
        name: "refund.before_apply",
        state: "a refund is validated; nothing is written",
    },
    Point {
        name: "refund.after_commit",
        state: "refund_order committed (the refund, the referral's rewards voided or clawed back); the response is not sent",
    },
    Point {
        name: "release.claimed",
        state: "the release job: release_due_referral claimed a referral and posted its rewards in the open transaction; not committed",
    },
    Point {
        name: "release.after_commit",
        state: "the release job: a referral's release is committed; the job has not looked for the next one",
    },
    Point {
        name: "withdrawal.before_decide",
        state: "a withdrawal decision is validated; nothing is written",
    },
    Point {
        name: "withdrawal.after_commit",
        state: "decide_withdrawal committed (paid: the hold released and the debit posted); the response is not sent",
    },
    Point {
        name: "message.claim_before_commit",
        state: "the message dispatcher claimed, decided and leased its batch in the open transaction; not committed",
    },
    Point {
        name: "message.claimed",
        state: "the message claim is committed (rows sending under a lease); no provider is called yet",
    },
    Point {
        name: "message.answered",
        state: "a message provider answered; its answer is not recorded",
    },
    Point {
        name: "webhook.claimed",
        state: "the webhook claim is committed (rows sending under a lease, one attempt more); no POST is made yet",
    },
    Point {
        name: "webhook.answered",
        state: "a webhook receiver answered; its answer is not recorded",
    },
];

/// Whether `name` is in [`POINTS`] (at compile time, for [`failpoint!`]).
pub const fn is_known(name: &str) -> bool {
    let mut i = 0;
    while i < POINTS.len() {
        if same(POINTS[i].name.as_bytes(), name.as_bytes()) {
            return true;
        }
        i += 1;
    }
    false
}

const fn same(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let mut i = 0;
    while i < a.len() {
        if a[i] != b[i] {
            return false;
        }
        i += 1;
    }
    true
}

/// Marks a fail-point named `$name` (one of [`POINTS`]; another name does not compile).
/// Without the `failpoints` feature it is no code at all.
#[cfg(not(feature = "failpoints"))]
macro_rules! failpoint {
    ($name:literal) => {{
        const _: () = ::core::assert!(
            $crate::failpoint::is_known($name),
            ::core::concat!("no fail-point ", $name, " in failpoint::POINTS")
        );
    }};
}

/// Marks a fail-point named `$name` (one of [`POINTS`]; another name does not compile):
/// the process kills itself here when `BONDHU_FAILPOINT` names it.
#[cfg(feature = "failpoints")]
macro_rules! failpoint {
    ($name:literal) => {{
        const _: () = ::core::assert!(
            $crate::failpoint::is_known($name),
            ::core::concat!("no fail-point ", $name, " in failpoint::POINTS")
        );
        $crate::failpoint::hit($name);
    }};
}

pub(crate) use failpoint;

#[cfg(feature = "failpoints")]
pub use runtime::{Armed, VARIABLE, armed, hit};

#[cfg(feature = "failpoints")]
mod runtime {
    use std::sync::OnceLock;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::is_known;

    /// The variable that arms a point.
    pub const VARIABLE: &str = "BONDHU_FAILPOINT";

    /// The point `BONDHU_FAILPOINT` arms.
    #[derive(Debug)]
    pub struct Armed {
        /// Its name.
        pub name: String,
        /// The hit that kills (1: the first).
        pub at: u64,
        hits: AtomicU64,
    }

    impl Armed {
        /// Parses `name` or `name@N` (N ≥ 1); the name must be one of the points.
        pub fn parse(text: &str) -> Result<Self, String> {
            let (name, at) = match text.split_once('@') {
                Some((name, at)) => match at.parse::<u64>() {
                    Ok(at) if at >= 1 => (name, at),
                    _ => {
                        return Err(format!(
                            "{VARIABLE}={text}: the hit after @ must be a whole number from 1"
                        ));
                    }
                },
                None => (text, 1),
            };
            if !is_known(name) {
                return Err(format!(
                    "{VARIABLE}={text}: there is no such fail-point (`bondhu failpoints` lists them)"
                ));
            }
            Ok(Self {
                name: name.to_owned(),
                at,
                hits: AtomicU64::new(0),
            })
        }

        /// Counts a hit of `name`; true when it is the one that kills.
        pub fn count(&self, name: &str) -> bool {
            self.name == name && self.hits.fetch_add(1, Ordering::SeqCst) + 1 == self.at
        }
    }

    /// The point armed by the environment, read once: `Ok(None)` when none is.
    pub fn armed() -> Result<Option<&'static Armed>, String> {
        static ARMED: OnceLock<Result<Option<Armed>, String>> = OnceLock::new();
        ARMED
            .get_or_init(|| match std::env::var(VARIABLE) {
                Ok(text) if !text.trim().is_empty() => Armed::parse(text.trim()).map(Some),
                _ => Ok(None),
            })
            .as_ref()
            .map(Option::as_ref)
            .map_err(Clone::clone)
    }

    /// A fail-point is reached: SIGKILL when it is the armed one's killing hit.
    pub fn hit(name: &'static str) {
        // A malformed variable was refused at start-up (`cli::run`); here it arms nothing.
        if let Ok(Some(armed)) = armed()
            && armed.count(name)
        {
            // Unbuffered, so the line is out before the signal; nothing else is flushed.
            eprintln!("fail-point {name} (hit {}): SIGKILL", armed.at);
            let _ = rustix::process::kill_process(
                rustix::process::getpid(),
                rustix::process::Signal::KILL,
            );
            // SIGKILL is not caught and not blocked: the process ends before it returns
            // to user code. Nothing after this point may run, whatever happens.
            loop {
                std::thread::park();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_known() {
        for (i, point) in POINTS.iter().enumerate() {
            assert!(is_known(point.name));
            assert!(
                POINTS[..i].iter().all(|p| p.name != point.name),
                "{} twice",
                point.name
            );
            assert!(
                point
                    .name
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b == b'.' || b == b'_'),
                "{}",
                point.name
            );
        }
        assert!(!is_known("order.before"));
        assert!(!is_known(""));
    }

    // Without the feature the macro is no code: it is usable where only constants are.
    #[cfg(not(feature = "failpoints"))]
    const _: () = failpoint!("order.after_commit");

    /// Runs this test binary again, with `BONDHU_FAILPOINT=armed`, on the one test
    /// `child`, which reaches the point `order.after_commit` three times.
    fn run_child(armed: &str) -> std::process::ExitStatus {
        std::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "failpoint::tests::child",
                "--include-ignored",
                "--test-threads=1",
            ])
            .env("BONDHU_FAILPOINT", armed)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .unwrap()
    }

    #[test]
    #[ignore = "run by the other tests, as a child process"]
    fn child() {
        for _ in 0..3 {
            failpoint!("order.after_commit");
        }
    }

    #[test]
    fn an_unarmed_point_does_nothing() {
        assert!(run_child("").success());
        assert!(run_child("order.before_apply").success());
        // A fourth hit never comes.
        assert!(run_child("order.after_commit@4").success());
    }

    #[cfg(not(feature = "failpoints"))]
    #[test]
    fn without_the_feature_an_armed_point_does_nothing() {
        assert!(run_child("order.after_commit").success());
    }

    #[cfg(feature = "failpoints")]
    #[test]
    fn an_armed_point_kills_with_sigkill_at_its_hit() {
        use std::os::unix::process::ExitStatusExt;
        assert_eq!(run_child("order.after_commit").signal(), Some(9));
        assert_eq!(run_child("order.after_commit@3").signal(), Some(9));
    }

    #[cfg(feature = "failpoints")]
    #[test]
    fn the_variable_is_checked() {
        assert_eq!(Armed::parse("message.claimed").unwrap().at, 1);
        assert_eq!(Armed::parse("message.claimed@7").unwrap().at, 7);
        assert!(Armed::parse("message.claim").is_err());
        assert!(Armed::parse("message.claimed@0").is_err());
        assert!(Armed::parse("message.claimed@x").is_err());
        let armed = Armed::parse("release.claimed@2").unwrap();
        assert!(!armed.count("release.after_commit"));
        assert!(!armed.count("release.claimed"));
        assert!(armed.count("release.claimed"));
        assert!(!armed.count("release.claimed"));
    }
}
