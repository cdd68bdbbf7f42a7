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
    let written = crate::progress::suspend(|| {
        let mut out = std::io::stdout().lock();
        out.write_fmt(args).and_then(|()| out.write_all(b"\n")).and_then(|()| out.flush())
    });
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

/// How a column's cells line up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Align {
    Left,
    Right,
}

/// A terminal table whose columns are as wide as their widest cell, so an
/// identifier of 63 characters neither wraps nor shifts the columns after
/// it. Widths are known before the rows (from what was selected), so each
/// row prints as soon as it is ready.
#[derive(Debug, Clone)]
pub struct Table {
    columns: Vec<(&'static str, Align, usize)>,
}

impl Table {
    pub fn new(columns: &[(&'static str, Align)]) -> Self {
        Table { columns: columns.iter().map(|&(name, align)| (name, align, name.len())).collect() }
    }

    /// Widens column `index` to hold `cell`.
    pub fn fit(&mut self, index: usize, cell: &str) {
        let width = &mut self.columns[index].2;
        *width = (*width).max(cell.chars().count());
    }

    pub fn header(&self) -> String {
        self.row(&self.columns.iter().map(|c| c.0.to_string()).collect::<Vec<_>>())
    }

    /// One line; the last column is not padded.
    pub fn row(&self, cells: &[String]) -> String {
        let mut line = String::new();
        for (i, ((_, align, width), cell)) in self.columns.iter().zip(cells).enumerate() {
            if i > 0 {
                line.push_str("  ");
            }
            let last = i + 1 == self.columns.len().min(cells.len());
            match align {
                Align::Left if last => line.push_str(cell),
                Align::Left => line.push_str(&format!("{cell:<width$}")),
                Align::Right => line.push_str(&format!("{cell:>width$}")),
            }
        }
        line
    }
}

/// Bytes as a person reads them: `812 B`, `13.20 KiB`, `1.50 GiB`.
pub fn human_bytes(bytes: u64) -> String {
    indicatif::HumanBytes(bytes).to_string()
}

/// A duration in its two largest units: `45s`, `12m05s`, `3h05m`, `2d04h`.
pub fn human_seconds(seconds: u64) -> String {
    let (d, h, m, s) = (seconds / 86_400, seconds / 3600 % 24, seconds / 60 % 60, seconds % 60);
    match (d, h, m) {
        (0, 0, 0) => format!("{s}s"),
        (0, 0, _) => format!("{m}m{s:02}s"),
        (0, _, _) => format!("{h}h{m:02}m"),
        _ => format!("{d}d{h:02}h"),
    }
}

/// The one timestamp format of every output: RFC 3339, UTC, to the second.
pub fn rfc3339(at: chrono::DateTime<chrono::Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_in_two_units() {
        assert_eq!(human_seconds(0), "0s");
        assert_eq!(human_seconds(59), "59s");
        assert_eq!(human_seconds(725), "12m05s");
        assert_eq!(human_seconds(3 * 3600 + 5 * 60 + 59), "3h05m");
        assert_eq!(human_seconds(2 * 86_400 + 4 * 3600), "2d04h");
    }

    #[test]
    fn bytes_read_in_binary_units() {
        assert_eq!(human_bytes(812), "812 B");
        assert_eq!(human_bytes(13_517), "13.20 KiB");
    }

    #[test]
    fn columns_are_as_wide_as_their_widest_cell() {
        let mut t = Table::new(&[("INSTANCE", Align::Left), ("FILES", Align::Right), ("NOTE", Align::Left)]);
        let long = "a".repeat(63);
        t.fit(0, &long);
        let header = t.header();
        let row = t.row(&[long.clone(), "7".into(), "end".into()]);
        assert_eq!(header.find("FILES"), row.find("    7"));
        assert_eq!(header.find("NOTE"), row.find("end"));
        assert!(row.starts_with(&long) && row.ends_with("end"), "{row}");
        assert_eq!(t.row(&["x".into()]), "x", "a short row is not padded");
    }
}
