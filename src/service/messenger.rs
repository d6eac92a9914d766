//! Messages to a customer's phone (SMS, later WhatsApp), behind one small trait so that the
//! provider can change without touching the use cases.
//!
//! Until a provider is wired in (the messaging work), [`LogSender`] stands in: it writes
//! the message to the log at `debug` only, since a verification code in an `info` log
//! line would hand the account to anyone who reads the logs.

use std::fmt;
use std::future::Future;
use std::pin::Pin;

use crate::domain::phone::Phone;

/// A message for one phone.
#[derive(Clone, PartialEq, Eq)]
pub enum PhoneMessage {
    /// A phone verification code (OTP).
    VerificationCode {
        /// The phone it is sent to.
        to: Phone,
        /// The code, six digits.
        code: String,
        /// How long it stays valid, in minutes (told to the customer).
        valid_minutes: u64,
    },
}

impl PhoneMessage {
    /// The phone the message is for.
    pub fn to(&self) -> &Phone {
        match self {
            Self::VerificationCode { to, .. } => to,
        }
    }

    /// The text the customer reads.
    pub fn text(&self) -> String {
        match self {
            Self::VerificationCode {
                code,
                valid_minutes,
                ..
            } => format!(
                "Your Bondhu code is {code}. It expires in {valid_minutes} minutes. Never share it with anyone."
            ),
        }
    }
}

/// Never prints the code: a message that reaches a log line by `{:?}` stays harmless.
impl fmt::Debug for PhoneMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::VerificationCode { to, .. } => f
                .debug_struct("VerificationCode")
                .field("to", &to.masked())
                .field("code", &"[redacted]")
                .finish(),
        }
    }
}

/// The future a [`PhoneMessenger`] returns.
pub type SendFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

/// Sends messages to phones. Implementations: [`LogSender`] (no provider yet); tests plug
/// in one that keeps messages in memory.
pub trait PhoneMessenger: Send + Sync + 'static {
    /// Sends `message`; an error means it was not sent.
    fn send<'a>(&'a self, message: &'a PhoneMessage) -> SendFuture<'a>;
}

/// Writes messages to the log at `debug` instead of sending them, until an SMS or WhatsApp
/// provider is configured.
#[derive(Clone, Copy, Debug, Default)]
pub struct LogSender;

impl PhoneMessenger for LogSender {
    fn send<'a>(&'a self, message: &'a PhoneMessage) -> SendFuture<'a> {
        Box::pin(async move {
            // `debug` only: the text holds the code (see the module's header).
            tracing::debug!(to = %message.to().masked(), text = %message.text(), "phone message (log sender, not sent)");
            Ok(())
        })
    }
}
