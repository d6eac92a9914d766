//! Logging (one subscriber for the whole process, configured once) and metrics.

pub mod metrics;

use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::FmtSpan;

use crate::config::LogFormat;

/// The filter used when `RUST_LOG` is unset.
const DEFAULT_FILTER: &str = "bondhu=info,tower_http=info,axum::rejection=trace,sqlx=warn";

/// Installs the global tracing subscriber. Calling it twice is harmless (tests do).
pub fn init(format: LogFormat) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_span_events(FmtSpan::NONE)
        // Standard output is for command results (`bondhu token`); logs go to standard error.
        .with_writer(std::io::stderr);
    // `try_init` fails only when a subscriber is already installed.
    let _ = match format {
        LogFormat::Pretty => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
