//! The per-instance pipeline: list → identify → fetch → cut → compress →
//! put → commit. Each instance runs independently; `run` drives many at once
//! with a bound, and one instance's failure never stops the others.
//!
//! A pass over an instance, one question per module:
//! 1. `scan`: load the checkpoint, list the audit files and find which file
//!    each name holds, newest first (rotation renames files towards older
//!    names, so a scan in that order sees every file that exists at its
//!    start). A listing's sizes are trusted only when no rotation happened
//!    between the listing and the end of the scan.
//! 2. `ledger`: report losses (tracked files with unshipped bytes that are
//!    gone, and instances replaced under the same identifier), track every
//!    newly seen file before anything ships.
//! 3. `file`: ship, oldest first (the oldest file is the next to be
//!    deleted): for each object, if its key exists, verify it against the
//!    file's bytes; else build it and create it with If-None-Match. A file
//!    renamed by a rotation while it is read is found under its new name.
//! 4. Commit the checkpoint after each file, with compare-and-swap.
//!
//! A pass that finds the ground moved under it (an object created by a
//! concurrent run with other bytes) starts again; everything it did is
//! idempotent.

mod family;
mod file;
mod ledger;
mod scan;

pub use scan::{HeadCheck, Survey, SurveyedFile};

use crate::checkpoint::{self, FileProgress, StoredCheckpoint};
use crate::compress::CompressedObject;
use crate::config::{Config, Scope};
use crate::error::{Failure, FailureKind};
use crate::events::derive::{self, NotDerived};
use crate::identify::FileId;
use crate::instance::Instance;
use crate::keys::checkpoint_key;
use crate::list::LogFile;
use crate::progress::Progress;
use crate::report::InstanceReport;
use crate::source::LogSource;
use crate::store::{Created, ObjectFacts, ObjectStore};
use futures_util::StreamExt;
use scan::Identified;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Passes over one instance before "the ground keeps moving" is a failure.
const MAX_PASSES: u32 = 4;

/// How long waits still in flight get after the run's time limit or a
/// signal (downloads are abandoned at once): enough to commit what S3 has
/// confirmed, well inside the 30 s ECS gives between SIGTERM and SIGKILL.
pub const CUT_GRACE: std::time::Duration = std::time::Duration::from_secs(10);

/// Completes when `deadline` passes or `stop` is cancelled.
async fn halted(deadline: Option<Instant>, stop: &CancellationToken) {
    match deadline {
        Some(at) => tokio::select! {
            () = stop.cancelled() => {}
            () = tokio::time::sleep_until(at.into()) => {}
        },
        None => stop.cancelled().await,
    }
}

/// Completes `CUT_GRACE` after `deadline` passes or `stop` is cancelled:
/// then whatever a run still waits for is abandoned.
pub async fn cut(deadline: Option<Instant>, stop: &CancellationToken) {
    halted(deadline, stop).await;
    tokio::time::sleep(CUT_GRACE).await;
}

/// What a run says when it abandons a wait: why it stopped.
pub fn why_cut(stop: &CancellationToken) -> &'static str {
    if stop.is_cancelled() {
        "interrupted by a signal"
    } else {
        "the run's time limit (--max-run-seconds) was reached"
    }
}

/// Everything a run shares across instances.
pub struct Shipper {
    pub cfg: Arc<Config>,
    /// The instance's files (RDS, or a simulated instance in the tests).
    pub source: Arc<dyn LogSource>,
    /// Objects and checkpoints (S3, or an in-memory store in the tests).
    pub store: Arc<dyn ObjectStore>,
    pub deadline: Option<Instant>,
    /// Cancelled on SIGTERM / SIGINT: no new work, reads in flight abandoned.
    pub stop: CancellationToken,
    /// Bytes walked, for `backfill`'s progress display.
    pub progress: Arc<Progress>,
    /// Signed digests of what landed; `None`: off.
    pub evidence: Option<crate::evidence::Evidence>,
    /// `--events`: where the events of what lands are derived to.
    pub events: Option<crate::events::derive::EventSink>,
    /// With `--events`, the event files of what this run landed, begun
    /// at landing: derived without reading the objects back.
    pub landed_events: crate::events::derive::LandedEvents,
    /// This run's id, in what it records of the losses it detects and
    /// reports.
    pub run: crate::run_id::RunId,
}

/// Why a pass ended early.
enum Stop {
    /// Something moved under the pass (a concurrent writer): start the
    /// instance again from its checkpoint.
    Again(String),
    /// The file no longer holds the name it was read by (a rotation
    /// renamed it): look for it under an older name.
    Moved(String),
    Fail(Failure),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Fail(f)
    }
}

/// What shipping one file did: its result, its checkpoint entry (when it
/// shipped against a copy of the checkpoint) and its report.
struct FileShipped {
    id: FileId,
    result: Result<bool, Stop>,
    progress: Option<FileProgress>,
    report: InstanceReport,
}

impl Shipper {
    /// Time to stop starting work: the run's time limit, or a signal.
    pub fn out_of_time(&self) -> bool {
        self.stop.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Whether to try a failed step again: `retry`'s policy, unless time is
    /// up, and its backoff ends early when the time limit or a signal comes
    /// (the grace after them is for committing, not for sleeping).
    pub(crate) async fn try_again(&self, retry: &mut crate::retry::Retry, failure: &Failure) -> bool {
        if failure.abandoned || self.out_of_time() {
            return false;
        }
        tokio::select! {
            again = retry.again(failure) => again && !self.out_of_time(),
            () = halted(self.deadline, &self.stop) => false,
        }
    }

    /// Completes when waits still in flight are to be abandoned (`cut`).
    pub async fn cut(&self) {
        cut(self.deadline, &self.stop).await
    }

    /// An instance whose waits were abandoned: its work is left for the
    /// next run. What S3 confirmed and the checkpoint recorded stays;
    /// objects written since its last commit are verified by the next run.
    /// The report keeps what the pass found (losses, failures, objects);
    /// what it is behind by is estimated as for an unreached instance.
    pub async fn cut_off(&self, instance: &Instance, report: &mut InstanceReport) {
        tracing::warn!(
            instance = %instance.id,
            "instance {}: {}, and its AWS calls were still waiting {}s later: they are abandoned; what the \
             checkpoint recorded stays, the next run continues from there",
            instance.id,
            why_cut(&self.stop),
            CUT_GRACE.as_secs()
        );
        self.leave_for_next_run(instance, report).await;
    }

    /// An instance the run's time ran out before: its work is left for the
    /// next run, and what it is behind by is estimated.
    pub async fn unreached(&self, instance: &Instance) -> InstanceReport {
        let mut report = InstanceReport::new(instance.clone());
        self.leave_for_next_run(instance, &mut report).await;
        report
    }

    /// The instance's work is deferred to the next run; its progress
    /// display is settled and what it is behind by estimated.
    async fn leave_for_next_run(&self, instance: &Instance, report: &mut InstanceReport) {
        report.dry_run = self.cfg.dry_run;
        self.defer(report);
        self.progress.settle(&instance.id.0);
        self.estimate(instance, report).await;
    }

    /// What a deferred instance is behind by, from its checkpoint (or, with
    /// none yet, its listing), so its lag is not reported as 0. Skipped
    /// after a signal (the task is being stopped), and bounded for the
    /// whole run: every estimate ends by `CUT_GRACE` after the cut.
    async fn estimate(&self, instance: &Instance, report: &mut InstanceReport) {
        if self.stop.is_cancelled() {
            return;
        }
        let Some(deadline) = self.deadline else { return };
        let until = deadline + 2 * CUT_GRACE;
        let key = checkpoint_key(&self.cfg.prefix, instance);
        let estimate = async {
            match checkpoint::load(&*self.store, &key, instance).await {
                Ok(cp) if cp.etag.is_some() => {
                    // Without a listing the estimate assumes the worst.
                    let listing = self.source.list(instance).await.ok();
                    Ok(ledger::estimate_from_checkpoint(&cp, listing.as_deref(), report))
                }
                Ok(_) => self.source.list(instance).await.map(|files| ledger::estimate_from_listing(&files, report)),
                Err(f) => Err(f),
            }
        };
        let why = match tokio::time::timeout_at(until.into(), estimate).await {
            Ok(Ok(())) => return,
            Ok(Err(f)) => f.message,
            Err(_) => "no answer in time".to_string(),
        };
        tracing::warn!(
            instance = %instance.id,
            "instance {}: what it is behind by is not known ({why}): its lag reads 0 this run; `auditship status` tells",
            instance.id
        );
    }

    /// Marks an instance's work as left for the next run: time ran out, or
    /// a signal stopped the run.
    pub fn defer(&self, report: &mut InstanceReport) {
        report.deferred = true;
        report.interrupted |= self.stop.is_cancelled();
    }

    /// Ships everything new from one instance and reports what happened.
    pub async fn ship_instance(&self, instance: &Instance) -> InstanceReport {
        let mut report = InstanceReport::new(instance.clone());
        self.ship_instance_into(instance, &mut report).await;
        report
    }

    /// `ship_instance` into a report the caller holds, so that what a pass
    /// found (a loss above all) survives the pass being cut off.
    pub async fn ship_instance_into(&self, instance: &Instance, report: &mut InstanceReport) {
        let started = Instant::now();
        report.dry_run = self.cfg.dry_run;
        if let Err(f) = self.check_replaced(instance, report).await {
            report.fail(f);
            report.duration_ms = started.elapsed().as_millis() as u64;
            return;
        }
        for pass in 1..=MAX_PASSES {
            if pass > 1 && self.out_of_time() {
                self.defer(report);
                break;
            }
            match self.pass(instance, report).await {
                Ok(()) => break,
                Err(Stop::Again(why) | Stop::Moved(why)) if pass < MAX_PASSES => {
                    tracing::info!(instance = %instance.id, pass, reason = %why, "starting the instance again");
                }
                Err(Stop::Again(why) | Stop::Moved(why)) => report.fail(Failure::transient(format!(
                    "instance {}: {why}, {MAX_PASSES} passes in a row; the next run retries",
                    instance.id
                ))),
                // Abandoned by this run (time limit, signal): left for the next.
                Err(Stop::Fail(f)) if f.abandoned => {
                    tracing::info!(instance = %instance.id, "{}", f.message);
                    self.defer(report);
                    break;
                }
                Err(Stop::Fail(f)) => {
                    report.fail(f);
                    break;
                }
            }
        }
        self.progress.settle(&instance.id.0);
        report.transfer.add(&self.source.transfer(&instance.id));
        report.duration_ms = started.elapsed().as_millis() as u64;
    }

    /// With digests on, seals every period of the instance's chain that has
    /// ended (see `evidence::seal`): after its files, so a period's digest
    /// lists what this pass shipped in it, and before the pass's last
    /// write, which alone marks losses as reported. Not in a dry run, nor
    /// once time is up (the next run seals).
    async fn seal_digests(&self, instance: &Instance, cp: &mut StoredCheckpoint, report: &mut InstanceReport) {
        let Some(evidence) = &self.evidence else { return };
        if self.cfg.dry_run || self.out_of_time() {
            return;
        }
        match crate::evidence::seal::seal_due(&*self.store, evidence, &self.cfg.prefix, instance, cp).await {
            Ok(sealed) => {
                report.digests_sealed += sealed.created;
                report.digests_adopted += sealed.adopted;
            }
            Err(f) => report.fail(f),
        }
    }

    async fn pass(&self, instance: &Instance, report: &mut InstanceReport) -> Result<(), Stop> {
        let key = checkpoint_key(&self.cfg.prefix, instance);
        let mut cp = checkpoint::load(&*self.store, &key, instance).await?;
        if self.evidence.is_none() && !cp.state.digests.is_empty() && !self.cfg.dry_run {
            tracing::warn!(
                instance = %instance.id,
                "instance {}: its digest chain has begun but this run has no signing key: what it ships is recorded, \
                 and the next run with the key lists it in a digest",
                instance.id
            );
        }
        let files = self.list_nonempty(instance, &cp).await?;
        report.files_listed = files.len();
        self.check_named_files_listed(instance, &files)?;

        let scan = self.scan(instance, &cp, files).await?;
        tracing::debug!(
            instance = %instance.id, identified = scan.identified.len(), complete_unread = scan.known_complete.len(),
            unnamed = scan.unnamed.len(), steady = scan.steady, "files identified"
        );
        if !scan.complete {
            // Every file identified so far exists: tracking it is safe, and
            // makes its later loss reportable. No loss is concluded.
            if ledger::track_new_files(&scan.identified, &mut cp) {
                self.confirm_same_instance(instance).await?;
                self.commit(&mut cp, instance).await?;
            }
            return Err(Stop::Again("files kept rotating while they were identified".into()));
        }
        // A file seen by this pass is tracked, even if it is gone by now:
        // its loss is then reported like any other.
        let mut dirty = ledger::track_new_files(&scan.seen_then_gone, &mut cp);
        dirty |= self.settle_unnamed(instance, &mut cp, &scan).await?;
        dirty |= self.record_losses(instance, &mut cp, &scan.present, report).await?;
        dirty |= ledger::forget_complete_and_gone(&mut cp, &scan.present);
        dirty |= ledger::track_new_files(&scan.identified, &mut cp);
        dirty |= self.adopt_events_setting(instance, &mut cp);
        if dirty {
            // Before any shipping: a run killed after this point still
            // leaves every file it saw tracked, so the file's loss can
            // never go unreported.
            self.confirm_same_instance(instance).await?;
            self.commit(&mut cp, instance).await?;
            dirty = false;
        }

        let mut outcome = Ok(());
        let chosen: Vec<&Identified> = scan.identified.iter().rev().filter(|item| self.chosen(item)).collect();
        report.files_chosen = chosen.len();
        self.progress.plan(&instance.id.0, chosen.len(), chosen.iter().map(|item| item.file.size).sum());
        let mut rest = chosen.as_slice();
        while let [first, after @ ..] = rest {
            if self.out_of_time() {
                self.defer(report);
                break;
            }
            // Two rotated files at once, each against its own copy of the
            // checkpoint (shipping a rotated file changes only its own
            // entry), so one's round trips overlap the other's. A growing
            // file alone: its rotation changes what the checkpoint expects.
            let shipped = match after {
                [second, ..] if !first.active && !second.active => {
                    rest = &after[1..];
                    let (a, b) = tokio::join!(
                        self.ship_rotated_file(instance, first, &cp),
                        self.ship_rotated_file(instance, second, &cp)
                    );
                    vec![a, b]
                }
                _ => {
                    rest = after;
                    let mut file_report = InstanceReport::new(instance.clone());
                    let result = self.ship_tracked_file(instance, first, &mut cp, &mut file_report).await;
                    vec![FileShipped { id: first.id.clone(), result, progress: None, report: file_report }]
                }
            };
            let mut stop = None;
            for mut s in shipped {
                report.add_file_work(&s.report);
                dirty |= self.record_events_pending(&s.report, &mut cp);
                if self.records_digests(&cp) {
                    // A backfill's objects may move no offset: recording
                    // them is a change of its own.
                    dirty |= !s.report.landed.is_empty();
                    for landed in s.report.landed.drain(..) {
                        match s.report.landed_again.contains(&landed.key) {
                            true => cp.state.digests.record_again(landed),
                            false => cp.state.digests.record(landed),
                        }
                    }
                }
                if let Some(progress) = s.progress {
                    cp.state.files.insert(s.id, progress);
                }
                match s.result {
                    Ok(changed) => dirty |= changed,
                    // A read this run abandoned (time limit, signal) ends the
                    // pass like any stop: progress is committed below, and
                    // `ship_instance_into` defers the rest. Wherever the read
                    // was (a file, a relocation, a rename check), one place.
                    Err(Stop::Fail(f)) if f.kind != FailureKind::NeedsPerson && !f.abandoned => {
                        dirty = true;
                        report.fail(f);
                    }
                    Err(s) => {
                        dirty = true;
                        stop.get_or_insert(s);
                    }
                }
            }
            if let Some(stop) = stop {
                outcome = Err(stop);
                break;
            }
            if dirty {
                self.commit(&mut cp, instance).await?;
                dirty = false;
            }
        }
        if self.evidence.is_some() {
            // Sealing reads the ledger this pass recorded to.
            if dirty {
                self.commit(&mut cp, instance).await?;
                dirty = false;
            }
            self.seal_digests(instance, &mut cp, report).await;
        }
        dirty |= self.derive_pending_events(instance, &mut cp, report).await;
        // The losses this run reports (exit 3) are marked as reported only
        // now, in its last write (a replaced instance's too, see
        // `mark_reported`): a run killed before it leaves them for the next.
        dirty |= ledger::mark_reported(&mut cp, report, &self.run);
        if dirty {
            self.commit(&mut cp, instance).await?;
        }
        ledger::summarize_pending(&scan, &cp, report);
        // Whoever derives them: what still awaits its events after this pass.
        report.events_pending = cp.state.events_pending.len();
        outcome
    }

    /// Whether objects this pass finds in the trail are recorded as
    /// awaiting their events: with --events, or on an instance whose runs
    /// derive them; never in a dry run.
    pub(super) fn records_events(&self, cp: &StoredCheckpoint) -> bool {
        (self.events.is_some() || cp.state.events) && !self.cfg.dry_run
    }

    /// Whether this instance's events are derived is the scheduled run's
    /// to say: `run --events` turns it on in the checkpoint, `run` without
    /// it off (leaving what awaited its events to `auditship events`); a
    /// backfill leaves it as it is.
    fn adopt_events_setting(&self, instance: &Instance, cp: &mut StoredCheckpoint) -> bool {
        let derive = self.events.is_some();
        if self.cfg.dry_run || cp.state.events == derive || matches!(self.cfg.scope, Scope::Backfill(_)) {
            return false;
        }
        if !derive && !cp.state.events_pending.is_empty() {
            tracing::warn!(
                instance = %instance.id, left = cp.state.events_pending.len(),
                "instance {}: runs no longer derive its events (no --events); {} shipped objects had none yet: \
                 `auditship events` derives them",
                instance.id, cp.state.events_pending.len()
            );
            cp.state.events_pending.clear();
        }
        cp.state.events = derive;
        true
    }

    /// With --events, or on an instance whose runs derive events, the
    /// objects S3 confirmed go into the checkpoint as awaiting their
    /// events, in the write that moves their file's offset.
    fn record_events_pending(&self, shipped: &InstanceReport, cp: &mut StoredCheckpoint) -> bool {
        if !self.records_events(cp) {
            return false;
        }
        let before = cp.state.events_pending.len();
        cp.state.events_pending.extend(shipped.landed.iter().map(|l| l.key.clone()));
        cp.state.events_pending.len() != before
    }

    /// With --events, derives the events of every object awaiting them
    /// (this pass's, and those a run killed earlier left), and drops each
    /// from the checkpoint once its events are written. Not in a dry run,
    /// nor once time is up: what is left waits for the next run.
    async fn derive_pending_events(
        &self,
        instance: &Instance,
        cp: &mut StoredCheckpoint,
        report: &mut InstanceReport,
    ) -> bool {
        let Some(sink) = &self.events else { return false };
        if self.cfg.dry_run || cp.state.events_pending.is_empty() {
            return false;
        }
        let failed = |f: Failure| Failure { message: format!("events not derived: {}", f.message), ..f };
        let dialect = match derive::dialect_of(instance) {
            Ok(dialect) => dialect,
            Err(f) => {
                report.fail(failed(f));
                return false;
            }
        };
        let mut derived = derive::EventTally::default();
        let mut done = Vec::new();
        // A few objects at once, one per core: each is read (or taken from
        // what this run landed), unpacked, parsed and encoded on the
        // blocking pool, and its files written, while the next is.
        let keys: Vec<String> = cp.state.events_pending.iter().cloned().collect();
        let at_once = crate::compress::cores();
        let mut results = futures_util::stream::iter(keys)
            .map(|key| async move {
                if self.out_of_time() {
                    return (key, None);
                }
                let encoded = self.landed_events.take(&key);
                let result = derive::derive_object(&*self.store, sink, instance, dialect, &key, None, encoded).await;
                (key, Some(result))
            })
            .buffered(at_once);
        while let Some((key, result)) = results.next().await {
            match result {
                None => break,
                Some(Ok(tally)) => {
                    derived.add(&tally);
                    done.push(key);
                }
                // Reported once (exit 3 where it is a loss), not at every run.
                Some(Err(NotDerived::Never(f))) => {
                    done.push(key);
                    report.fail(failed(f));
                }
                Some(Err(NotDerived::Retry(f))) => {
                    report.fail(failed(f));
                    break;
                }
            }
        }
        drop(results);
        for key in &done {
            cp.state.events_pending.remove(key);
        }
        report.events.add(&derived);
        tracing::info!(
            instance = %instance.id, objects = derived.objects, event_files = derived.files_created + derived.files_existing,
            events = derived.events, unparsed = derived.unparsed, left = cp.state.events_pending.len(), "events derived"
        );
        !done.is_empty()
    }

    /// Ships a rotated file against a copy of the checkpoint, with a
    /// report of its own, so that two can ship at once.
    async fn ship_rotated_file(&self, instance: &Instance, item: &Identified, cp: &StoredCheckpoint) -> FileShipped {
        let mut mine = cp.clone();
        let mut report = InstanceReport::new(instance.clone());
        let result = self.ship_tracked_file(instance, item, &mut mine, &mut report).await;
        let progress = mine.state.files.remove(&item.id);
        FileShipped { id: item.id.clone(), result, progress, report }
    }

    /// Stores the checkpoint, unless this is a dry run.
    async fn commit(&self, cp: &mut StoredCheckpoint, instance: &Instance) -> Result<(), Failure> {
        if self.cfg.dry_run {
            return Ok(());
        }
        checkpoint::commit(&*self.store, cp, instance).await
    }

    /// Creates an object; a dry run prints what it would create instead and
    /// goes on as if it had.
    async fn create(&self, key: &str, object: &CompressedObject, facts: &ObjectFacts) -> Result<Created, Failure> {
        if !self.cfg.dry_run {
            return self.store.create(key, object, facts).await;
        }
        crate::outln!(
            "would create s3://{}/{key}: {} bytes ({} gzipped, {} lines) from {} offsets {}..{}",
            self.store.bucket(),
            object.len,
            object.gzip.len(),
            object.lines,
            facts.source_file,
            facts.start,
            facts.end
        );
        Ok(Created::Yes)
    }

    /// An object S3 confirmed, as the next digest lists it (`None` in a
    /// dry run). Recorded with digests on, and also by a run without a
    /// signing key on an instance whose chain has begun (see `records_digests`).
    fn listed(&self, key: &str, facts: &ObjectFacts) -> Option<crate::evidence::digest::Listed> {
        if self.cfg.dry_run {
            return None;
        }
        let landed_at = self.evidence.as_ref().map_or_else(chrono::Utc::now, |e| e.clock.now());
        Some(crate::evidence::digest::Listed {
            file_id: facts.file_id.clone(),
            start: facts.start,
            end: facts.end,
            key: key.to_string(),
            sha256: facts.sha256.clone(),
            lines: facts.lines,
            source_file: facts.source_file.clone(),
            landed_at,
            first_record: facts.first_record,
            last_record: facts.last_record,
        })
    }

    /// Whether this pass records confirmed objects in the checkpoint's
    /// ledger: with digests on, or once the instance's chain has begun —
    /// a run without the key (a hand backfill, a task definition that lost
    /// it) must not move offsets past objects that no digest will list.
    pub(super) fn records_digests(&self, cp: &StoredCheckpoint) -> bool {
        self.evidence.is_some() || !cp.state.digests.is_empty()
    }

    /// Whether this command ships the file: `run` all of them, `backfill`
    /// those its filter picks.
    fn chosen(&self, item: &Identified) -> bool {
        match &self.cfg.scope {
            Scope::New => true,
            Scope::Backfill(filter) => {
                let last = chrono::DateTime::from_timestamp_millis(item.file.last_written_ms).unwrap_or_default();
                filter.matches(&item.file.name, item.fingerprint.first_record, last)
            }
        }
    }

    /// A backfill of files by name: each name must be on the instance.
    fn check_named_files_listed(&self, instance: &Instance, files: &[LogFile]) -> Result<(), Failure> {
        let Scope::Backfill(filter) = &self.cfg.scope else {
            return Ok(());
        };
        match filter.names.iter().find(|n| !files.iter().any(|f| &f.name == *n)) {
            None => Ok(()),
            Some(missing) => Err(Failure::needs_person(format!(
                "instance {}: no audit file {missing} (it lists {}); files rotate to new names, so check the current \
                 names with `aws rds describe-db-log-files --db-instance-identifier {} --filename-contains audit`, \
                 or choose by --since/--until",
                instance.id,
                files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", "),
                instance.id
            ))),
        }
    }
}
