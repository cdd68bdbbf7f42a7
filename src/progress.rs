//! Progress of a long walk (`backfill`): a bar with bytes, rate and ETA
//! when stderr is a terminal, else a plain log line per file and at most
//! every few seconds, which a log pipeline keeps. `run` shows none: its
//! per-instance summary is the record.

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// At most one plain progress line this often (besides one per file).
const LOG_EVERY: Duration = Duration::from_secs(10);

pub struct Progress {
    mode: Mode,
    total: AtomicU64,
    done: AtomicU64,
    started: Instant,
    last_line: Mutex<Instant>,
}

enum Mode {
    Off,
    Bar(ProgressBar),
    Lines,
}

impl Progress {
    pub fn off() -> Self {
        Progress::with(Mode::Off)
    }

    /// A bar on a terminal, log lines otherwise.
    pub fn for_terminal_or_log() -> Self {
        if std::io::stderr().is_terminal() {
            let bar = ProgressBar::with_draw_target(Some(0), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template(
                    "{msg:>10} [{wide_bar}] {bytes}/{total_bytes} {binary_bytes_per_sec} ETA {eta}",
                )
                .expect("valid template")
                .progress_chars("=> "),
            );
            bar.set_message("backfill");
            Progress::with(Mode::Bar(bar))
        } else {
            Progress::with(Mode::Lines)
        }
    }

    fn with(mode: Mode) -> Self {
        Progress {
            mode,
            total: AtomicU64::new(0),
            done: AtomicU64::new(0),
            started: Instant::now(),
            last_line: Mutex::new(Instant::now()),
        }
    }

    /// More bytes to walk (a file was chosen).
    pub fn add_total(&self, bytes: u64) {
        let total = self.total.fetch_add(bytes, Ordering::Relaxed) + bytes;
        if let Mode::Bar(bar) = &self.mode {
            bar.set_length(total);
        }
    }

    /// Bytes walked (verified or shipped).
    pub fn advance(&self, bytes: u64) {
        self.done.fetch_add(bytes, Ordering::Relaxed);
        match &self.mode {
            Mode::Bar(bar) => bar.inc(bytes),
            Mode::Lines => {
                let mut last = self.last_line.lock().expect("not poisoned");
                if last.elapsed() >= LOG_EVERY {
                    *last = Instant::now();
                    self.log_line("");
                }
            }
            Mode::Off => {}
        }
    }

    /// A file is done: one line in log mode.
    pub fn file_done(&self, instance: &str, file: &str) {
        if let Mode::Lines = self.mode {
            self.log_line(&format!("{instance} {file} walked; "));
        }
    }

    fn log_line(&self, what: &str) {
        let (done, total) = (self.done.load(Ordering::Relaxed), self.total.load(Ordering::Relaxed));
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = done as f64 / secs;
        let eta = if rate > 0.0 { format!("{:.0}s", total.saturating_sub(done) as f64 / rate) } else { "-".into() };
        tracing::info!(
            done_bytes = done,
            total_bytes = total,
            bytes_per_second = rate as u64,
            "backfill progress: {what}{done} of {total} bytes, {:.0} KiB/s, ETA {eta}",
            rate / 1024.0
        );
    }

    pub fn finish(&self) {
        if let Mode::Bar(bar) = &self.mode {
            bar.finish_and_clear();
        }
    }
}
