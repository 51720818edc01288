//! Structured logs with `tracing`: human-readable text or one JSON object per line, filtered
//! by a `tracing` directive (`info`, `notify_server=debug,info`, …). Logs go to stderr so that
//! stdout stays clean for the commands that print (`registry-config`, `check-config`).

use tracing_subscriber::EnvFilter;

use crate::config::{LogConfig, LogFormat};

/// Installs the global subscriber. A second call (tests) keeps the first.
pub fn init(config: &LogConfig) {
    // The filter was validated with the configuration; fall back to `info` all the same.
    let filter = EnvFilter::builder().parse(&config.filter).unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let _ = match config.format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(false).try_init(),
    };
}
