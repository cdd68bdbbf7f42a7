//! Logs: JSON lines in the container (stdout not a terminal), readable text
//! on a terminal; always on stderr, so stdout carries only results.
//! `RUST_LOG` adjusts the level (default `info`).

use crate::cli::LogFormat;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, Ordering};
use tracing_subscriber::EnvFilter;

static JSON: AtomicBool = AtomicBool::new(true);

/// Whether logs are JSON lines (for machines): then every event a person
/// would also read on stdout is logged too; in human text it is not said
/// twice.
pub fn json() -> bool {
    JSON.load(Ordering::Relaxed)
}

/// Colour only on a terminal, and never with `NO_COLOR` set (no-color.org).
fn colour() -> bool {
    std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty())
}

/// `verbosity`: -1 quiet (warnings), 0 info, 1 auditship's debug lines,
/// 2 its trace and the SDK's debug, 3 or more everything; `RUST_LOG`
/// overrides it.
pub fn init(format: LogFormat, verbosity: i8) {
    let level = match verbosity {
        ..=-1 => "warn",
        0 => "info",
        1 => "info,auditship=debug",
        2 => "debug,auditship=trace",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(level));
    let json = match format {
        LogFormat::Json => true,
        LogFormat::Human => false,
        LogFormat::Auto => !std::io::stderr().is_terminal(),
    };
    JSON.store(json, Ordering::Relaxed);
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(|| AboveTheBar);
    if json {
        builder.json().flatten_event(true).with_current_span(false).init();
    } else {
        builder.with_ansi(colour()).init();
    }
}

/// stderr, written with the progress bar (if one is drawn) hidden, so a
/// log line leaves no stale copy of the bar behind it. The formatter writes
/// each event in one call.
struct AboveTheBar;

impl std::io::Write for AboveTheBar {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        crate::progress::suspend(|| std::io::stderr().write_all(buf))?;
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}
