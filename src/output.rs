//! What commands print on stdout, a line at a time. A reader that stops
//! reading (`auditship status | head -1`) ends a command that only reports
//! quietly, with exit 0, as ripgrep does. A run that ships keeps going:
//! its exit code is its outcome, whoever reads its output.

use std::io::{ErrorKind, Write};
use std::sync::atomic::{AtomicBool, Ordering};

static SHIPS: AtomicBool = AtomicBool::new(false);

/// The command writes objects and checkpoints: a closed stdout must not
/// end it (what it would have printed is lost, nothing else).
pub fn ships() {
    SHIPS.store(true, Ordering::Relaxed);
}

/// Prints one line (use `outln!`).
pub fn line(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    let written = out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush());
    match written {
        Ok(()) => {}
        Err(e) if e.kind() == ErrorKind::BrokenPipe && !SHIPS.load(Ordering::Relaxed) => std::process::exit(0),
        Err(e) => tracing::debug!(error = %e, "stdout is not writable; the line is dropped"),
    }
}

/// `println!` for command output: see the module.
#[macro_export]
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::line(format_args!($($arg)*))
    };
}
