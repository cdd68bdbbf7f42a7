//! Report: what a run did, per instance, and the exit status.
//!
//! One summary line per instance on stdout (for people and for the test
//! rig), the same facts as a structured `tracing` event, and the worst
//! failure decides the exit code.

use crate::checkpoint::{FileProgress, Gap};
use crate::error::{Failure, FailureKind, Severity};
use crate::events::derive::EventTally;
use crate::identify::FileId;
use crate::instance::Instance;
use chrono::{DateTime, Utc};
use serde::Serialize;

#[derive(Debug, Clone, Serialize)]
pub struct InstanceReport {
    pub instance: Instance,
    pub files_listed: usize,
    pub objects_created: usize,
    /// Files that got at least one new object (by file id).
    #[serde(skip)]
    pub files_shipped: std::collections::BTreeSet<String>,
    /// Losses found by this run (files rotated away before they shipped).
    pub gaps: usize,
    /// How long the instance took.
    pub duration_ms: u64,
    pub objects_verified: usize,
    pub bytes_shipped: u64,
    pub pending_files: usize,
    pub pending_bytes: u64,
    /// Age of the oldest unshipped byte (see `oldest_unshipped_at`).
    pub lag_seconds: u64,
    /// The run's time ran out, or a signal stopped it (`interrupted`),
    /// before this instance was done.
    pub deferred: bool,
    pub interrupted: bool,
    /// Deferred by the time limit in a run that moved the trail forward:
    /// behind, catching up, not failing (see `judge_deferrals`).
    pub catching_up: bool,
    pub failures: Vec<ReportedFailure>,
    /// The losses this run reported (exit 3), one per lost file.
    pub losses: Vec<Loss>,
    /// A dry run: the objects "created" are the ones it would create.
    #[serde(skip)]
    pub dry_run: bool,
    /// Files the command picked to ship (for `backfill`: in its window).
    #[serde(skip)]
    pub files_chosen: usize,
    /// What reading the instance's files cost, and what the endpoint did.
    pub transfer: Transfer,
    /// Objects S3 confirmed, for the next digest (digests on), until the
    /// pass records them in the checkpoint.
    #[serde(skip)]
    pub landed: Vec<crate::evidence::digest::Listed>,
    /// Of those, the keys to list again where a digest listed their place
    /// already (see `DigestLedger::record_again`).
    #[serde(skip)]
    pub landed_again: std::collections::BTreeSet<String>,
    /// `--events`: what deriving the events of landed objects did, and
    /// how many objects still await theirs (a failure, the time limit).
    #[serde(skip_serializing_if = "EventTally::is_zero")]
    pub events: EventTally,
    pub events_pending: usize,
    /// Digests this run created for the instance.
    #[serde(skip_serializing_if = "is_zero")]
    pub digests_sealed: usize,
    /// Digests a concurrent run had created first, that this one adopted.
    #[serde(skip_serializing_if = "is_zero")]
    pub digests_adopted: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// What the download endpoint did for one instance's reads in a run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Transfer {
    /// Download requests answered (every answer, errors included).
    pub downloads: u64,
    /// Body bytes as they crossed the wire (compressed if gzip).
    pub wire_bytes: u64,
    /// Bytes of files read (after inflating).
    pub file_bytes: u64,
    /// Range reads asked for, and how they were answered: `206` with the
    /// range asked for; `200` (the whole file instead; also counted for
    /// the later range reads of a run that learnt this, which it reads
    /// whole at once); a `206` for another range, or an overlap whose hash
    /// was not the checkpoint's tail (both followed by a whole read).
    pub ranges_asked: u64,
    pub ranges_honoured: u64,
    pub ranges_ignored: u64,
    pub ranges_wrong: u64,
    pub overlap_mismatches: u64,
    /// Whole reads that came gzip-encoded, identity, or said gzip and
    /// were not.
    pub gzip_responses: u64,
    pub identity_responses: u64,
    pub gzip_wrong: u64,
}

impl Transfer {
    pub fn add(&mut self, other: &Transfer) {
        self.downloads += other.downloads;
        self.wire_bytes += other.wire_bytes;
        self.file_bytes += other.file_bytes;
        self.ranges_asked += other.ranges_asked;
        self.ranges_honoured += other.ranges_honoured;
        self.ranges_ignored += other.ranges_ignored;
        self.ranges_wrong += other.ranges_wrong;
        self.overlap_mismatches += other.overlap_mismatches;
        self.gzip_responses += other.gzip_responses;
        self.identity_responses += other.identity_responses;
        self.gzip_wrong += other.gzip_wrong;
    }
}

/// A file lost before all of it was shipped, as far as it can be known: the
/// bytes up to `shipped` are in S3; the file was last listed at
/// `last_size` bytes; whatever was written after that listing is unknowable.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Loss {
    pub dbi_resource_id: String,
    pub file_id: String,
    pub last_name: String,
    pub shipped: u64,
    pub last_size: u64,
    /// Still being written when last seen: more bytes than `last_size` may
    /// have been lost.
    pub growing: bool,
    /// Not the file `file_id` but the file begun right after it, which had
    /// no complete first line (so no id) when last seen.
    pub unnamed: bool,
    /// It may still be on the instance: nothing tells (see `Gap::uncertain`).
    pub uncertain: bool,
}

impl Loss {
    /// A recorded loss, as reported.
    pub fn of_gap(g: &Gap, dbi_resource_id: &str) -> Loss {
        Loss {
            dbi_resource_id: dbi_resource_id.to_string(),
            file_id: g.file_id.0.clone(),
            last_name: g.last_name.clone(),
            shipped: g.shipped,
            last_size: g.last_size,
            growing: g.growing,
            unnamed: g.unnamed,
            uncertain: g.uncertain,
        }
    }

    /// A tracked file that is gone with bytes unshipped, before a run has
    /// recorded it.
    pub fn of_vanished(dbi_resource_id: &str, id: &FileId, p: &FileProgress) -> Loss {
        Loss {
            dbi_resource_id: dbi_resource_id.to_string(),
            file_id: id.0.clone(),
            last_name: p.last_name.clone(),
            shipped: p.shipped,
            last_size: p.last_size.max(p.shipped),
            growing: !p.closed,
            unnamed: false,
            uncertain: false,
        }
    }

    /// One wording of a loss, with the same numbers everywhere.
    pub fn describe(&self) -> String {
        if self.unnamed && self.last_name.is_empty() {
            return "audit files of this instance that no run recorded are gone with it: whatever they held is \
                    lost, how much is unknowable"
                .to_string();
        }
        if self.unnamed {
            let what = format!(
                "an audit file never identified (last seen as {} with {} bytes, before its first line was complete \
                 or before it could be read; recorded under {})",
                self.last_name, self.last_size, self.file_id
            );
            return if self.uncertain {
                format!(
                    "{what} may be gone unseen: every older file has left the instance and nothing tells whether it \
                     is the oldest file still there"
                )
            } else {
                format!("{what} is gone unseen: all it held is lost, how much is unknowable")
            };
        }
        let (file, name, size, shipped) = (&self.file_id, &self.last_name, self.last_size, self.shipped);
        let state = if self.growing { "still being written" } else { "rotated" };
        let seen = format!("audit file {file} (last seen as {name}, {state}, {size} bytes) is gone with");
        match (self.growing, shipped >= size) {
            (true, true) => format!(
                "{seen} all {shipped} bytes listed shipped: lost is whatever was written after the last listing \
                 (unknowable)"
            ),
            (true, false) => format!(
                "{seen} {shipped} bytes shipped: bytes {shipped}..{size} ({} bytes) lost, and whatever was written \
                 after the last listing (unknowable)",
                size - shipped
            ),
            (false, _) => {
                format!(
                    "{seen} {shipped} bytes shipped: bytes {shipped}..{size} ({} bytes) lost",
                    size.saturating_sub(shipped)
                )
            }
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ReportedFailure {
    pub kind: FailureKind,
    pub message: String,
}

impl InstanceReport {
    /// Adds what shipping one file recorded in a report of its own (the
    /// pass ships two rotated files at once): its objects and bytes, the
    /// file itself, overlap mismatches, and whether it was left for later.
    /// These are all the fields `pipeline::file` writes.
    pub fn add_file_work(&mut self, file: &InstanceReport) {
        self.objects_created += file.objects_created;
        self.objects_verified += file.objects_verified;
        self.bytes_shipped += file.bytes_shipped;
        self.files_shipped.extend(file.files_shipped.iter().cloned());
        self.transfer.overlap_mismatches += file.transfer.overlap_mismatches;
        self.deferred |= file.deferred;
        self.interrupted |= file.interrupted;
    }

    pub fn new(instance: Instance) -> Self {
        InstanceReport {
            instance,
            files_listed: 0,
            objects_created: 0,
            files_shipped: Default::default(),
            gaps: 0,
            duration_ms: 0,
            objects_verified: 0,
            bytes_shipped: 0,
            pending_files: 0,
            pending_bytes: 0,
            lag_seconds: 0,
            deferred: false,
            interrupted: false,
            catching_up: false,
            failures: Vec::new(),
            losses: Vec::new(),
            dry_run: false,
            files_chosen: 0,
            transfer: Transfer::default(),
            landed: Vec::new(),
            landed_again: Default::default(),
            events: EventTally::default(),
            events_pending: 0,
            digests_sealed: 0,
            digests_adopted: 0,
        }
    }

    /// Records a failure and logs it at once, with the instance named.
    pub fn fail(&mut self, f: Failure) {
        tracing::error!(
            instance = %self.instance.id,
            dbi_resource_id = %self.instance.resource_id,
            kind = f.kind.label(),
            exit_code = f.kind.exit_code(),
            "{}", f.message
        );
        self.failures.push(ReportedFailure { kind: f.kind, message: f.message });
    }

    /// Records a loss (exit 3) and logs it at once as one structured event:
    /// the `lost_*` fields carry what `Loss` says, for alarms and scripts.
    pub fn lose(&mut self, loss: Loss, message: String) {
        tracing::error!(
            instance = %self.instance.id,
            dbi_resource_id = %loss.dbi_resource_id,
            kind = FailureKind::DataLoss.label(),
            exit_code = FailureKind::DataLoss.exit_code(),
            lost_file_id = %loss.file_id,
            lost_last_name = %loss.last_name,
            lost_shipped = loss.shipped,
            lost_last_size = loss.last_size,
            lost_growing = loss.growing,
            lost_unnamed = loss.unnamed,
            lost_uncertain = loss.uncertain,
            "{message}"
        );
        self.failures.push(ReportedFailure { kind: FailureKind::DataLoss, message });
        self.losses.push(loss);
    }

    /// Whether this run moved the instance's trail forward (objects
    /// created, or found in S3 and confirmed).
    pub fn progressed(&self) -> bool {
        self.objects_created + self.objects_verified > 0
    }

    pub fn worst(&self) -> Option<FailureKind> {
        let deferred = (self.deferred && !self.catching_up).then_some(FailureKind::Transient);
        self.failures.iter().map(|f| f.kind).chain(deferred).max()
    }

    pub fn outcome(&self) -> &'static str {
        match self.worst() {
            None if self.catching_up => "behind",
            None => "ok",
            Some(FailureKind::Transient) if self.interrupted && self.failures.is_empty() => "interrupted",
            Some(FailureKind::Transient) if self.deferred && self.failures.is_empty() => "deferred",
            Some(k) => k.label(),
        }
    }

    /// `db-1 (writer, db-ABC): 6 files, 2 objects new, 1 verified, 4096 bytes shipped, 0 pending, lag 0s: ok`
    pub fn summary_line(&self) -> String {
        let (new, shipped, nothing) = if self.dry_run {
            ("objects would be created", "bytes would ship", " (dry run: nothing was written)")
        } else {
            ("objects new", "bytes shipped", "")
        };
        format!(
            "{} ({}, {}): {} files, {} {new}, {} verified, {} {shipped}, {} bytes pending, lag {}s: {}{nothing}",
            self.instance.id,
            self.instance.role.as_str(),
            self.instance.resource_id,
            self.files_listed,
            self.objects_created,
            self.objects_verified,
            self.bytes_shipped,
            self.pending_bytes,
            self.lag_seconds,
            self.outcome_in_words()
        )
    }

    /// The outcome as a person reads it.
    pub fn outcome_in_words(&self) -> &'static str {
        match self.outcome() {
            "ok" => "ok",
            "behind" => {
                "behind (the run's time limit was reached with work left; the run made progress and the next continues)"
            }
            "interrupted" => "interrupted",
            "deferred" => "deferred (the run's time limit was reached before anything shipped; the next run continues)",
            "transient" => "failed, transient (the next run retries)",
            "needs_person" => "failed, a person must fix something",
            _ => "DATA LOSS",
        }
    }

    /// The summary as a log event, for machines (a person reads the
    /// summary line).
    pub fn log(&self) {
        if !crate::logging::json() {
            return;
        }
        tracing::info!(
            instance = %self.instance.id,
            dbi_resource_id = %self.instance.resource_id,
            role = self.instance.role.as_str(),
            cluster = self.instance.cluster.as_deref(),
            files = self.files_listed,
            objects_created = self.objects_created,
            objects_verified = self.objects_verified,
            bytes_shipped = self.bytes_shipped,
            pending_files = self.pending_files,
            pending_bytes = self.pending_bytes,
            lag_seconds = self.lag_seconds,
            outcome = self.outcome(),
            dry_run = self.dry_run,
            downloads = self.transfer.downloads,
            bytes_downloaded = self.transfer.wire_bytes,
            file_bytes_read = self.transfer.file_bytes,
            ranges_asked = self.transfer.ranges_asked,
            ranges_honoured = self.transfer.ranges_honoured,
            ranges_ignored = self.transfer.ranges_ignored,
            ranges_wrong = self.transfer.ranges_wrong,
            overlap_mismatches = self.transfer.overlap_mismatches,
            gzip_responses = self.transfer.gzip_responses,
            identity_responses = self.transfer.identity_responses,
            gzip_wrong = self.transfer.gzip_wrong,
            "{}",
            if self.dry_run { "instance read (dry run: nothing was written)" } else { "instance shipped" }
        );
    }
}

/// When the oldest unshipped byte of a file was written, as far as can be
/// known without reading it: a file with nothing shipped starts with its
/// first record; a rotated file's unshipped bytes were written by its last
/// write at the latest; of a file still being written nothing is known.
/// Lag (staleness) is the age of the oldest of these over an instance.
pub fn oldest_unshipped_at(
    shipped: u64,
    first_record: Option<DateTime<Utc>>,
    closed: bool,
    last_written_ms: i64,
) -> Option<DateTime<Utc>> {
    let last_write = DateTime::from_timestamp_millis(last_written_ms);
    match (shipped, first_record) {
        (0, Some(first)) => Some(first),
        _ if closed => last_write,
        _ => None,
    }
}

/// Seconds from `at` to now, never negative.
pub fn age_seconds(at: DateTime<Utc>) -> u64 {
    (Utc::now() - at).num_seconds().max(0) as u64
}

/// A run that stops at its time limit while catching up on a backlog is
/// not failing: if it moved any instance's trail forward, instances it
/// deferred (mid-way, or before their turn) are `behind`, not a transient
/// failure, so a catch-up does not page every tick. Staleness still
/// alarms through the lag they report. A run that moved nothing (every
/// download too slow to finish one object in time) stays a failure, as
/// does one interrupted by a signal.
pub fn judge_deferrals(reports: &mut [InstanceReport]) {
    if !reports.iter().any(InstanceReport::progressed) {
        return;
    }
    for r in reports.iter_mut().filter(|r| r.deferred && !r.interrupted && r.failures.is_empty()) {
        r.catching_up = true;
    }
}

/// Prints the per-instance summary and folds the exit status.
pub fn finish(reports: &[InstanceReport], run_failure: Option<&Failure>) -> Severity {
    let mut severity = Severity::default();
    for r in reports {
        r.log();
        crate::outln!("{}", r.summary_line());
        // A loss is named where a person reads, not only in the log.
        for loss in &r.losses {
            crate::outln!("  ! DATA LOSS: {}", loss.describe());
        }
        if let Some(k) = r.worst() {
            severity.record(k);
        }
    }
    if let Some(f) = run_failure {
        severity.record(f.kind);
    }
    if reports.iter().any(|r| r.interrupted) {
        let n = reports.iter().filter(|r| r.deferred).count();
        tracing::warn!(instances = n, "interrupted by a signal; the next run continues where this one stopped");
    } else if reports.iter().any(|r| r.deferred) {
        let n = reports.iter().filter(|r| r.deferred).count();
        tracing::warn!(instances = n, "run time limit reached; the next run continues where this one stopped");
    }
    severity
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::Role;

    fn report() -> InstanceReport {
        InstanceReport::new(Instance { role: Role::Writer, ..Instance::for_tests("db-R") })
    }

    #[test]
    fn clean_report_is_ok_and_exit_zero() {
        let r = report();
        assert_eq!(r.outcome(), "ok");
        assert!(r.summary_line().starts_with("db-1 (writer, db-R): "));
        assert_eq!(finish(&[r], None).worst(), None);
    }

    /// A person reads the summary: outcomes in words, the labels only in
    /// the JSON event.
    #[test]
    fn summaries_say_outcomes_in_words() {
        for (kind, words) in [
            (FailureKind::Transient, "failed, transient (the next run retries)"),
            (FailureKind::NeedsPerson, "failed, a person must fix something"),
            (FailureKind::DataLoss, "DATA LOSS"),
        ] {
            let mut r = report();
            r.failures.push(ReportedFailure { kind, message: "x".into() });
            let line = r.summary_line();
            assert!(line.ends_with(&format!(": {words}")), "{line}");
        }
        let mut r = report();
        r.deferred = true;
        r.interrupted = true;
        assert!(r.summary_line().ends_with(": interrupted"));
    }

    fn loss(shipped: u64, last_size: u64, growing: bool) -> Loss {
        Loss {
            dbi_resource_id: "db-R".into(),
            file_id: "f".into(),
            last_name: "audit/server_audit.log".into(),
            shipped,
            last_size,
            growing,
            unnamed: false,
            uncertain: false,
        }
    }

    /// A loss reads with the numbers it has: never an empty range such as
    /// "bytes 17056..17056 lost" or "at least 0 bytes".
    #[test]
    fn a_loss_is_said_with_its_own_numbers() {
        let all_listed_shipped = loss(17056, 17056, true).describe();
        assert!(all_listed_shipped.contains("with all 17056 bytes listed shipped"), "{all_listed_shipped}");
        assert!(!all_listed_shipped.contains("17056..17056"), "{all_listed_shipped}");
        let growing = loss(100, 400, true).describe();
        assert!(growing.contains("bytes 100..400 (300 bytes) lost, and whatever was written after"), "{growing}");
        let rotated = loss(100, 400, false).describe();
        assert!(rotated.contains("rotated, 400 bytes) is gone with 100 bytes shipped: bytes 100..400 (300 bytes) lost"));
        assert!(!rotated.contains("whatever"), "{rotated}");
    }

    /// Deferred work is a failure only in a run that moved nothing: a run
    /// catching up on a backlog reports its deferred instances `behind`
    /// and exits 0; a signal still counts.
    #[test]
    fn deferrals_in_a_run_that_progressed_are_behind_not_failing() {
        let deferred = || {
            let mut r = report();
            r.deferred = true;
            r
        };
        let mut shipped = deferred();
        shipped.objects_created = 3;
        let mut reports = vec![shipped, deferred()];
        judge_deferrals(&mut reports);
        assert!(reports.iter().all(|r| r.outcome() == "behind" && r.worst().is_none()), "{reports:?}");
        assert_eq!(finish(&reports, None).worst(), None);
        assert!(reports[1].summary_line().contains(": behind (the run's time limit"), "{}", reports[1].summary_line());

        let mut stalled = vec![deferred(), deferred()];
        judge_deferrals(&mut stalled);
        assert!(stalled.iter().all(|r| r.outcome() == "deferred"));
        assert_eq!(finish(&stalled, None).worst(), Some(FailureKind::Transient));

        let mut verified = deferred();
        verified.objects_verified = 1;
        let mut interrupted = deferred();
        interrupted.interrupted = true;
        let mut failed = deferred();
        failed.fail(Failure::transient("x"));
        let mut mixed = vec![verified, interrupted, failed];
        judge_deferrals(&mut mixed);
        let outcomes: Vec<&str> = mixed.iter().map(InstanceReport::outcome).collect();
        assert_eq!(outcomes, ["behind", "interrupted", "transient"]);
    }

    #[test]
    fn deferred_work_is_transient() {
        let mut r = report();
        r.deferred = true;
        assert_eq!(r.worst(), Some(FailureKind::Transient));
        assert_eq!(r.outcome(), "deferred");
    }

    #[test]
    fn data_loss_outranks_transient_across_instances() {
        let mut a = report();
        a.fail(Failure::transient("x"));
        let mut b = report();
        b.fail(Failure::data_loss("gap"));
        assert_eq!(finish(&[a, b], None).worst(), Some(FailureKind::DataLoss));
    }
}
