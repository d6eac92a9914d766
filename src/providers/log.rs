//! The stand-in for a channel with no provider configured: the message goes to the log,
//! not to the customer.
//!
//! The `info` line says that a message would have gone out, to whom (masked) and with
//! which template; the text and the template's values only reach `debug`, because they
//! may hold a one-time code, and `info` lines are kept and shipped.

use super::{MessageChannel, Outgoing, Provider, SendFuture, Sent};

/// The provider's stored name.
pub const NAME: &str = "log";

/// Logs messages instead of sending them, standing in for one channel.
#[derive(Clone, Copy, Debug)]
pub struct LogProvider {
    channel: MessageChannel,
}

impl LogProvider {
    /// A stand-in for `channel`.
    pub fn new(channel: MessageChannel) -> Self {
        Self { channel }
    }
}

impl Provider for LogProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    fn channel(&self) -> MessageChannel {
        self.channel
    }

    fn send<'a>(&'a self, message: &'a Outgoing<'a>) -> SendFuture<'a> {
        let template = message.whatsapp.map(|t| t.name);
        tracing::info!(
            channel = %self.channel,
            message_id = %message.id,
            to = %message.to.masked(),
            template,
            "no provider configured for this channel: message logged, not sent"
        );
        tracing::debug!(
            message_id = %message.id,
            text = %message.text,
            parameters = ?message.whatsapp.map(|t| t.body_parameters),
            "logged message text"
        );
        Box::pin(std::future::ready(Ok(Sent {
            provider_message_id: None,
        })))
    }

    fn is_stand_in(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::domain::phone::Phone;
    use crate::providers::WhatsappTemplate;

    /// A log sink the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// Sends one OTP message through the log provider with logging at `level`, and
    /// returns the result and what was logged.
    fn send_logged(level: tracing::Level) -> (Result<Sent, crate::providers::SendError>, String) {
        let captured = Captured::default();
        let sink = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(level)
            .with_ansi(false)
            .with_writer(move || sink.clone())
            .finish();
        let phone = Phone::parse("01712345678").unwrap();
        let parameters = ["482913".to_owned()];
        let message = Outgoing {
            id: uuid::Uuid::nil(),
            to: &phone,
            text: "আপনার কোড 482913",
            whatsapp: Some(WhatsappTemplate {
                name: "bondhu_otp",
                language: "bn",
                body_parameters: &parameters,
            }),
        };
        let provider = LogProvider::new(MessageChannel::Sms);
        let result = tracing::subscriber::with_default(subscriber, || {
            futures::executor::block_on(provider.send(&message))
        });
        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        (result, logged)
    }

    #[test]
    fn an_otp_never_reaches_info() {
        let (result, logged) = send_logged(tracing::Level::INFO);
        assert_eq!(
            result,
            Ok(Sent {
                provider_message_id: None
            })
        );
        assert!(logged.contains("+880*******678"), "{logged}");
        assert!(logged.contains("bondhu_otp"), "{logged}");
        assert!(!logged.contains("482913"), "{logged}");
        assert!(!logged.contains("1712345678"), "{logged}");
    }

    #[test]
    fn the_text_is_at_debug() {
        let (_, logged) = send_logged(tracing::Level::DEBUG);
        assert!(logged.contains("আপনার কোড 482913"), "{logged}");
        assert!(!logged.contains("1712345678"), "{logged}");
    }
}
