//! Logging for the binary: human-readable `tracing` output on stderr, filtered
//! by `RUST_LOG` (default `info`), coloured only on a terminal.
//!
//! Stdout belongs to the commands (`ami decode` writes JSON Lines there), so
//! logs never go to stdout. When `crates/telemetry` exists, this moves there.

use std::io::IsTerminal;

use tracing::level_filters::LevelFilter;
use tracing_subscriber::EnvFilter;

/// Installs the global subscriber. An invalid `RUST_LOG` directive is ignored
/// rather than fatal: logging must never stop the binary.
pub fn init() {
    let filter = EnvFilter::builder()
        .with_default_directive(LevelFilter::INFO.into())
        .from_env_lossy();
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
