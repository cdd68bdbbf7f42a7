//! Progress of a long walk (`backfill`): a bar with bytes, rate and ETA
//! when stderr is a terminal, else a plain log line per file and at most
//! every few seconds, which a log pipeline keeps. `run` shows none: its
//! per-instance summary is the record.
//!
//! The total is not known until every instance has been scanned, so the
//! display starts as a spinner that counts instances scanned, files and
//! bytes found, and becomes a bar once the last instance is scanned: a bar
//! never starts full or runs back. An instance scanned again (a pass begun
//! anew) replaces its own counts. Log lines and command output print above
//! the bar (`suspend`), so no stale copy of it is left behind them.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one plain progress line this often (besides one per file).
const LOG_EVERY: Duration = Duration::from_secs(10);

/// The bar on the terminal, if one is drawn: whatever else writes to the
/// terminal hides it for the moment it writes.
static BAR: Mutex<Option<ProgressBar>> = Mutex::new(None);

/// Runs `write` with the progress bar, if any, hidden (for log lines and
/// command output on the same terminal).
pub fn suspend<R>(write: impl FnOnce() -> R) -> R {
    let bar = BAR.lock().unwrap_or_else(|p| p.into_inner()).clone();
    match bar {
        Some(bar) => bar.suspend(write),
        None => write(),
    }
}

pub struct Progress {
    mode: Mode,
    walk: Mutex<Walk>,
    started: Instant,
}

enum Mode {
    Off,
    Bar(ProgressBar),
    Lines,
}

/// What is known of the walk so far.
#[derive(Debug, Default)]
struct Walk {
    /// Instances that will be walked; until each is planned, the total is
    /// not known.
    expected: usize,
    /// Per instance: files and bytes chosen, and bytes walked.
    planned: BTreeMap<String, Plan>,
    last_line: Option<Instant>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Plan {
    files: usize,
    total: u64,
    done: u64,
}

impl Walk {
    fn known(&self) -> bool {
        self.planned.len() >= self.expected
    }
    fn files(&self) -> usize {
        self.planned.values().map(|p| p.files).sum()
    }
    fn total(&self) -> u64 {
        self.planned.values().map(|p| p.total).sum()
    }
    /// Bytes walked; a file that grew while walked counts to its listed size.
    fn done(&self) -> u64 {
        self.planned.values().map(|p| p.done.min(p.total)).sum()
    }
}

impl Progress {
    pub fn off() -> Self {
        Progress::with(Mode::Off)
    }

    /// A bar on a terminal, log lines otherwise.
    pub fn for_terminal_or_log() -> Self {
        if !std::io::stderr().is_terminal() {
            return Progress::with(Mode::Lines);
        }
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(finding_style());
        bar.enable_steady_tick(Duration::from_millis(200));
        bar.set_message("backfill: finding files");
        *BAR.lock().unwrap_or_else(|p| p.into_inner()) = Some(bar.clone());
        Progress::with(Mode::Bar(bar))
    }

    fn with(mode: Mode) -> Self {
        Progress { mode, walk: Mutex::new(Walk::default()), started: Instant::now() }
    }

    fn walk(&self) -> std::sync::MutexGuard<'_, Walk> {
        self.walk.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `instances` will be walked (before any is scanned).
    pub fn expect(&self, instances: usize) {
        let mut walk = self.walk();
        walk.expected = instances;
        self.show(&walk);
    }

    /// An instance was scanned: it walks `files` files of `bytes` bytes.
    /// Scanned again, its counts start over.
    pub fn plan(&self, instance: &str, files: usize, bytes: u64) {
        let mut walk = self.walk();
        walk.planned.insert(instance.to_string(), Plan { files, total: bytes, done: 0 });
        self.show(&walk);
    }

    /// An instance is done with, walked or not: what it walked is its total.
    pub fn settle(&self, instance: &str) {
        let mut walk = self.walk();
        let plan = walk.planned.entry(instance.to_string()).or_default();
        plan.total = plan.done.min(plan.total);
        self.show(&walk);
    }

    /// Bytes of `instance` walked (verified or shipped).
    pub fn advance(&self, instance: &str, bytes: u64) {
        let mut walk = self.walk();
        walk.planned.entry(instance.to_string()).or_default().done += bytes;
        match &self.mode {
            Mode::Bar(_) => self.show(&walk),
            Mode::Lines if walk.last_line.is_none_or(|at| at.elapsed() >= LOG_EVERY) => {
                walk.last_line = Some(Instant::now());
                self.log_line(&walk, "");
            }
            _ => {}
        }
    }

    /// A file is done: one line in log mode.
    pub fn file_done(&self, instance: &str, file: &str) {
        if let Mode::Lines = self.mode {
            let mut walk = self.walk();
            walk.last_line = Some(Instant::now());
            self.log_line(&walk, &format!("{instance} {file} walked; "));
        }
    }

    /// The bar: a spinner until every instance is scanned, then bytes of
    /// the known total.
    fn show(&self, walk: &Walk) {
        let Mode::Bar(bar) = &self.mode else { return };
        let (files, total, done) = (walk.files(), walk.total(), walk.done());
        if walk.known() {
            if bar.length().is_none() {
                bar.set_style(walking_style());
            }
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(format!("backfill, {files} files"));
        } else {
            bar.set_message(format!(
                "backfill: finding files: {} of {} instances scanned, {files} files, {} walked of {} found so far",
                walk.planned.len(),
                walk.expected,
                indicatif::HumanBytes(done),
                indicatif::HumanBytes(total)
            ));
        }
    }

    fn log_line(&self, walk: &Walk, what: &str) {
        let (done, total) = (walk.done(), walk.total());
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let eta = match (walk.known(), rate > 0.0) {
            (true, true) => format!("{:.0}s", total.saturating_sub(done) as f64 / rate),
            _ => "not known until every instance is scanned".into(),
        };
        tracing::info!(
            done_bytes = done,
            total_bytes = total,
            total_known = walk.known(),
            bytes_per_second = rate as u64,
            "backfill progress: {what}{done} of {total} bytes{}, {:.0} KiB/s, ETA {eta}",
            if walk.known() { "" } else { " found so far" },
            rate / 1024.0
        );
    }

    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            BAR.lock().unwrap_or_else(|p| p.into_inner()).take();
            bar.finish_and_clear();
        }
    }
}

fn finding_style() -> ProgressStyle {
    ProgressStyle::with_template("{spinner} {msg} ({elapsed})").expect("valid template")
}

fn walking_style() -> ProgressStyle {
    ProgressStyle::with_template("{msg} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}")
        .expect("valid template")
        .progress_chars("=> ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn walk(progress: &Progress) -> (bool, usize, u64, u64) {
        let w = progress.walk();
        (w.known(), w.files(), w.done(), w.total())
    }

    /// The total is known only when every instance is scanned; walked bytes
    /// never pass it; a pass begun anew starts its instance over; an
    /// instance that stops early counts what it walked.
    #[test]
    fn the_total_is_known_once_every_instance_is_scanned_and_never_passed() {
        let p = Progress::off();
        p.expect(2);
        p.plan("a", 2, 1000);
        p.advance("a", 400);
        assert_eq!(walk(&p), (false, 2, 400, 1000));
        p.plan("b", 1, 500);
        assert_eq!(walk(&p), (true, 3, 400, 1500));
        p.advance("a", 900);
        assert_eq!(walk(&p), (true, 3, 1000, 1500), "a file grown while walked counts to its listed size");
        p.plan("b", 1, 600);
        p.advance("b", 100);
        assert_eq!(walk(&p), (true, 3, 1100, 1600), "a pass begun anew replaces its counts");
        p.settle("b");
        assert_eq!(walk(&p), (true, 3, 1100, 1100), "stopped early: what it walked is its total");
    }

    #[test]
    fn an_instance_that_fails_before_its_scan_still_settles_the_total() {
        let p = Progress::off();
        p.expect(2);
        p.plan("a", 1, 10);
        p.settle("b");
        assert!(walk(&p).0, "the failed instance no longer holds the total back");
    }
}
