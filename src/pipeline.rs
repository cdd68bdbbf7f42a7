//! The per-instance pipeline: list → identify → fetch → cut → compress →
//! put → commit. Each instance runs independently; `run` drives many at once
//! with a bound, and one instance's failure never stops the others.
//!
//! A pass over an instance:
//! 1. Load its checkpoint and list its audit files.
//! 2. Identify every file, newest first. Rotation renames files towards
//!    older names, so a scan in that order sees every file that exists at its
//!    start, even if a rotation happens during the scan: only then is "a
//!    tracked file is missing" proof of a gap.
//! 3. Report gaps: tracked files with unshipped bytes that are gone.
//! 4. Ship, oldest first (the oldest file is the next to be deleted): for
//!    each object, if its key exists, verify it against the file's bytes
//!    instead of writing; else build it and create it with If-None-Match.
//! 5. Commit the checkpoint after each file, with compare-and-swap.
//!
//! A pass that finds the ground moved under it (a file renamed between
//! identify and read, an object created by a concurrent run) starts again;
//! everything it did is idempotent.

use crate::checkpoint::{self, FileProgress, Gap, StoredCheckpoint};
use crate::compress::{CompressedObject, ObjectBuilder};
use crate::config::{ActiveFilePolicy, Config, Scope};
use crate::cut::{CutRule, FileState, ObjectCutter};
use crate::discover::Instance;
use crate::error::{Failure, FailureKind};
use crate::fetch::{backoff, FetchError, LogStream};
use crate::identify::{identity_prefix, FileId, Fingerprint, IDENTITY_PREFIX_MAX};
use crate::keys::{checkpoint_key, file_prefix, object_key, start_of_key};
use crate::list::{self, AuditName, LogFile};
use crate::progress::Progress;
use crate::report::{age_seconds, oldest_unshipped_at, InstanceReport};
use crate::source::LogSource;
use crate::store::{Created, ObjectFacts, ObjectStore};
use chrono::Utc;
use sha2::{Digest, Sha256};
use std::collections::{BTreeSet, HashSet};
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

/// Passes over one instance before "the ground keeps moving" is a failure.
const MAX_PASSES: u32 = 4;
/// Bytes before the shipped offset whose hash the checkpoint keeps.
const TAIL_WINDOW: usize = 4096;

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
}

/// Why a pass ended early.
enum Stop {
    /// Something moved under the pass (rotation, a concurrent writer):
    /// start the instance again from its checkpoint.
    Again(String),
    Fail(Failure),
}

impl From<Failure> for Stop {
    fn from(f: Failure) -> Self {
        Stop::Fail(f)
    }
}

/// An instance's files against its checkpoint, read without writing
/// anything: what `status` and `verify` report on.
pub struct Survey {
    pub checkpoint: StoredCheckpoint,
    /// Every audit file on the instance, oldest first.
    pub files: Vec<SurveyedFile>,
    /// Tracked files with unshipped bytes that are no longer on the
    /// instance: lost, whether or not a run has reported it yet.
    pub vanished: Vec<(FileId, FileProgress)>,
}

pub struct SurveyedFile {
    pub file: LogFile,
    /// Still written to (the plugin's current file).
    pub active: bool,
    /// `None` while the file has no complete first line.
    pub id: Option<FileId>,
    pub first_record: Option<chrono::DateTime<Utc>>,
}

/// What identifying an instance's files found.
struct Scan {
    /// Files read for their identity, newest first.
    identified: Vec<Identified>,
    /// Files the checkpoint has as complete under the same name, size and
    /// write time: taken as identified without a download.
    known_complete: Vec<(LogFile, FileId)>,
    /// Every file id on the instance.
    present: HashSet<FileId>,
}

/// A listed file with its identity.
struct Identified {
    file: LogFile,
    active: bool,
    fingerprint: Fingerprint,
    id: FileId,
}

impl Identified {
    /// Its checkpoint entry before any byte is shipped, as listed now.
    fn untouched_progress(&self) -> FileProgress {
        FileProgress {
            fingerprint: self.fingerprint.sha256.clone(),
            shipped: 0,
            tail_sha256: String::new(),
            last_name: self.file.name.clone(),
            last_size: self.file.size,
            last_written_ms: self.file.last_written_ms,
            closed: !self.active,
        }
    }
}

impl Shipper {
    /// Reads an instance's checkpoint and files and matches them up,
    /// downloading only the heads of files the checkpoint cannot vouch for.
    pub async fn survey(&self, instance: &Instance) -> Result<Survey, Failure> {
        let key = checkpoint_key(&self.cfg.prefix, instance);
        let checkpoint = checkpoint::load(&*self.store, &key, instance).await?;
        let listed = self.source.list(instance).await?;
        let scan = match self.identify_all(instance, &checkpoint, listed.clone()).await {
            Ok(scan) => scan,
            Err(Stop::Fail(f)) => return Err(f),
            Err(Stop::Again(why)) => {
                return Err(Failure::transient(format!("instance {}: {why}; try again", instance.id)))
            }
        };
        let mut files: Vec<SurveyedFile> = scan
            .identified
            .into_iter()
            .map(|i| SurveyedFile {
                first_record: i.fingerprint.first_record,
                file: i.file,
                active: i.active,
                id: Some(i.id),
            })
            .collect();
        for (file, id) in scan.known_complete {
            let first_record = id.first_record_time();
            files.push(SurveyedFile { file, active: false, id: Some(id), first_record });
        }
        let flags = list::active_flags(&listed);
        for (file, active) in listed.into_iter().zip(flags) {
            if !files.iter().any(|f| f.file.name == file.name) {
                files.push(SurveyedFile { file, active, id: None, first_record: None });
            }
        }
        files.sort_by(|a, b| LogFile::newest_first(&b.file, &a.file));
        let vanished = checkpoint.state.unshipped_and_gone(&scan.present);
        Ok(Survey { checkpoint, files, vanished })
    }

    /// Time to stop starting work: the run's time limit, or a signal.
    pub fn out_of_time(&self) -> bool {
        self.stop.is_cancelled() || self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// Ships everything new from one instance and reports what happened.
    pub async fn ship_instance(&self, instance: &Instance) -> InstanceReport {
        let started = Instant::now();
        let mut report = InstanceReport::new(instance.clone());
        for pass in 1..=MAX_PASSES {
            match self.pass(instance, &mut report).await {
                Ok(()) => break,
                Err(Stop::Again(why)) if pass < MAX_PASSES => {
                    tracing::info!(instance = %instance.id, pass, reason = %why, "starting the instance again");
                }
                Err(Stop::Again(why)) => report.fail(Failure::transient(format!(
                    "instance {}: {why}, {MAX_PASSES} passes in a row; the next run retries",
                    instance.id
                ))),
                Err(Stop::Fail(f)) => {
                    report.fail(f);
                    break;
                }
            }
        }
        report.duration_ms = started.elapsed().as_millis() as u64;
        report
    }

    async fn pass(&self, instance: &Instance, report: &mut InstanceReport) -> Result<(), Stop> {
        let key = checkpoint_key(&self.cfg.prefix, instance);
        let mut cp = checkpoint::load(&*self.store, &key, instance).await?;
        let files = self.list_nonempty(instance, &cp).await?;
        report.files_listed = files.len();
        self.check_named_files_listed(instance, &files)?;

        let Scan { identified, present, .. } = self.identify_all(instance, &cp, files).await?;
        let mut dirty = self.record_gaps(instance, &mut cp, &present, report);
        let before = cp.state.files.len();
        cp.state.files.retain(|id, p| !(p.complete() && !present.contains(id)));
        dirty |= cp.state.files.len() != before;
        dirty |= track_new_files(&identified, &mut cp);
        if dirty {
            // Before any shipping: a run killed after this point still
            // leaves every file it saw tracked, so the file's loss can
            // never go unreported.
            self.commit(&mut cp, instance).await?;
            dirty = false;
        }

        let mut outcome = Ok(());
        for item in identified.iter().rev().filter(|item| self.chosen(item)) {
            if self.out_of_time() {
                report.deferred = true;
                break;
            }
            match self.ship_tracked_file(instance, item, &mut cp, report).await {
                Ok(changed) => dirty |= changed,
                Err(Stop::Fail(f)) if f.kind != FailureKind::NeedsPerson => {
                    dirty = true;
                    report.fail(f);
                }
                Err(stop) => {
                    dirty = true;
                    outcome = Err(stop);
                    break;
                }
            }
            if dirty {
                self.commit(&mut cp, instance).await?;
                dirty = false;
            }
        }
        if dirty {
            self.commit(&mut cp, instance).await?;
        }
        summarize_pending(&identified, &cp, report);
        outcome
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
        println!(
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
                 names with `auditship discover` / DescribeDBLogFiles, or choose by --since/--until",
                instance.id,
                files.iter().map(|f| f.name.as_str()).collect::<Vec<_>>().join(", ")
            ))),
        }
    }

    /// Lists audit files. No files at all means audit logging is off (the
    /// plugin always has its active file), unless the listing was one of
    /// the transiently empty ones DescribeDBLogFiles is known to return:
    /// so an empty listing is asked again before it counts.
    async fn list_nonempty(&self, instance: &Instance, cp: &StoredCheckpoint) -> Result<Vec<LogFile>, Failure> {
        let files = self.source.list(instance).await?;
        if !files.is_empty() {
            return Ok(files);
        }
        tokio::time::sleep(backoff(2)).await;
        let files = self.source.list(instance).await?;
        if !files.is_empty() {
            return Ok(files);
        }
        if cp.state.files.values().any(|p| !p.complete()) {
            return Err(Failure::transient(format!(
                "instance {}: DescribeDBLogFiles lists no audit files although files with unshipped bytes were seen before; \
                 if this repeats, check that audit logging is still on",
                instance.id
            )));
        }
        Err(Failure::data_loss(format!(
            "instance {} has no audit log files: audit logging is off; enable the MARIADB_AUDIT_PLUGIN option \
             (RDS for MySQL/MariaDB) or server_audit_logging (Aurora MySQL)",
            instance.id
        )))
    }

    /// Identifies every listed file, newest first. Files the checkpoint
    /// already has as complete, under the same name, size and write time,
    /// are taken as identified without a download.
    ///
    /// A rotation during the scan pushes files to names past the end of the
    /// listing (`.N` becomes `.N+1`), so the instance is listed again and any
    /// new names are identified too, until no new name appears: every file
    /// that existed when the scan began is then seen, or truly deleted.
    async fn identify_all(
        &self,
        instance: &Instance,
        cp: &StoredCheckpoint,
        files: Vec<LogFile>,
    ) -> Result<Scan, Stop> {
        let mut identified = Vec::new();
        let mut known_complete = Vec::new();
        let mut present = HashSet::new();
        let mut seen_names: HashSet<String> = HashSet::new();
        let flags = list::active_flags(&files);
        let mut batch: Vec<(LogFile, bool)> = files.into_iter().zip(flags).collect();
        for _ in 0..MAX_PASSES {
            for (file, active) in batch {
                seen_names.insert(file.name.clone());
                let known = cp.state.files.iter().find(|(_, p)| {
                    p.complete()
                        && p.last_name == file.name
                        && p.last_size == file.size
                        && p.last_written_ms == file.last_written_ms
                });
                // A backfill re-reads even complete files: their objects may
                // be what is missing.
                if let Some((id, _)) = known.filter(|_| self.cfg.scope == Scope::New) {
                    present.insert(id.clone());
                    known_complete.push((file, id.clone()));
                    continue;
                }
                match self.identify(instance, &file).await {
                    Ok(Some(fingerprint)) => {
                        let id = fingerprint.file_id();
                        present.insert(id.clone());
                        if !identified.iter().any(|i: &Identified| i.id == id) {
                            identified.push(Identified { file, active, fingerprint, id });
                        }
                    }
                    Ok(None) => {
                        tracing::debug!(instance = %instance.id, file = %file.name, "no complete first line yet")
                    }
                    // Renamed away between listing and reading: it is under
                    // a later name, which the next listing shows.
                    Err(FetchError::Gone) => {
                        seen_names.remove(&file.name);
                    }
                    Err(FetchError::Failed(f)) => return Err(f.into()),
                }
            }
            let relisted = self.source.list(instance).await?;
            let flags = list::active_flags(&relisted);
            batch = relisted.into_iter().zip(flags).filter(|(f, _)| !seen_names.contains(&f.name)).collect();
            if batch.is_empty() {
                return Ok(Scan { identified, known_complete, present });
            }
            tracing::info!(instance = %instance.id, new_names = batch.len(), "files rotated during the scan; identifying the new names");
        }
        Err(Stop::Again("files kept rotating while they were identified".into()))
    }

    /// Reads the head of a file for its fingerprint, retrying a read that
    /// breaks off (the open itself retries inside the fetcher).
    pub(crate) async fn identify(
        &self,
        instance: &Instance,
        file: &LogFile,
    ) -> Result<Option<Fingerprint>, FetchError> {
        if file.size == 0 {
            return Ok(None);
        }
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut stream = self.source.open(&instance.id, &file.name).await?;
            match stream.peek_head(IDENTITY_PREFIX_MAX).await {
                Ok(head) => return Ok(identity_prefix(&head).map(Fingerprint::of_prefix)),
                Err(f) if attempt < self.cfg.max_attempts => {
                    tracing::warn!(instance = %instance.id, file = %file.name, attempt, error = %f, "identifying failed; retrying");
                    tokio::time::sleep(backoff(attempt)).await;
                }
                Err(f) => return Err(f.into()),
            }
        }
    }

    /// Tracked files with unshipped bytes that no longer exist are lost:
    /// report each (exit 3), and record it so one loss pages once.
    fn record_gaps(
        &self,
        instance: &Instance,
        cp: &mut StoredCheckpoint,
        present: &HashSet<FileId>,
        report: &mut InstanceReport,
    ) -> bool {
        let lost = cp.state.unshipped_and_gone(present);
        // Rotation deletes the oldest file first, so files begun after a
        // vanished one and before the oldest file still there are gone too,
        // even those no run ever saw.
        let oldest_present = present.iter().min();
        for (id, p) in &lost {
            let missing = p.last_size.saturating_sub(p.shipped);
            // File ids start with the first record's time (to the second;
            // several files can share one), so the range is by time and
            // includes its ends.
            let unseen = match oldest_present {
                Some(oldest) if oldest > id => format!(
                    "; any file begun from {} to {} (first-record times) that is not in S3 was rotated away unseen \
                     and is lost too",
                    id.time(),
                    oldest.time()
                ),
                _ => String::new(),
            };
            report.gaps += 1;
            report.fail(Failure::data_loss(format!(
                "instance {} ({}): audit file {id}, last seen as {} with {} bytes of which {} were shipped, was rotated away \
                 before the rest was shipped: at least {missing} bytes lost{unseen}; run more often or raise \
                 server_audit_file_rotations / server_audit_file_rotate_size",
                instance.id, instance.resource_id, p.last_name, p.last_size, p.shipped
            )));
            cp.state.files.remove(id);
            cp.state.gaps.push(Gap {
                file_id: id.clone(),
                last_name: p.last_name.clone(),
                shipped: p.shipped,
                last_size: p.last_size,
                detected_at: Utc::now(),
            });
        }
        !lost.is_empty()
    }

    /// Brings one identified file up to date; returns whether its
    /// checkpoint entry changed.
    async fn ship_tracked_file(
        &self,
        instance: &Instance,
        item: &Identified,
        cp: &mut StoredCheckpoint,
        report: &mut InstanceReport,
    ) -> Result<bool, Stop> {
        let previous = cp.state.files.get(&item.id).cloned();
        let mut progress = match &previous {
            Some(p) if p.fingerprint != item.fingerprint.sha256 => {
                return Err(Failure::data_loss(format!(
                    "instance {}: file {} has id {} but a different fingerprint than the file tracked under that id; \
                     nothing was written for it; investigate before the next run",
                    instance.id, item.file.name, item.id
                ))
                .into())
            }
            Some(p) => p.clone(),
            None => item.untouched_progress(),
        };
        progress.last_name = item.file.name.clone();
        progress.last_size = progress.last_size.max(item.file.size);
        progress.last_written_ms = item.file.last_written_ms;
        progress.closed |= !item.active;

        let skip_active = item.active && self.cfg.active_file == ActiveFilePolicy::Skip;
        let nothing_new = item.active && progress.shipped >= item.file.size;
        let created_before = report.objects_created;
        let result = if skip_active {
            Ok(())
        } else if matches!(self.cfg.scope, Scope::Backfill(_)) {
            self.rewalk(instance, item, &mut progress, report).await
        } else if progress.complete() || nothing_new {
            Ok(())
        } else {
            self.ship_file_with_retries(instance, item, &mut progress, &BTreeSet::new(), report).await
        };
        if report.objects_created > created_before {
            report.files_shipped.insert(item.id.0.clone());
        }
        let changed = previous.as_ref() != Some(&progress);
        cp.state.files.insert(item.id.clone(), progress);
        result.map(|()| changed)
    }

    /// Walks a file from its first byte, following the objects already in S3
    /// (each verified against the file's bytes) and creating the missing
    /// ones. A created object ends no later than where the next existing
    /// one starts, so filling a hole never overlaps what is there. The
    /// checkpoint keeps the furthest offset either reached.
    async fn rewalk(
        &self,
        instance: &Instance,
        item: &Identified,
        progress: &mut FileProgress,
        report: &mut InstanceReport,
    ) -> Result<(), Stop> {
        let prefix = file_prefix(&self.cfg.prefix, instance, &item.id);
        let existing: BTreeSet<u64> =
            self.store.list_keys(&prefix).await?.iter().filter_map(|key| start_of_key(key)).collect();
        tracing::info!(instance = %instance.id, file = %item.file.name, objects = existing.len(), "backfill: walking the file from its first byte");
        let mut walked = FileProgress { shipped: 0, tail_sha256: String::new(), ..progress.clone() };
        self.progress.add_total(item.file.size);
        let result = self.ship_file_with_retries(instance, item, &mut walked, &existing, report).await;
        self.progress.file_done(&instance.id.0, &item.file.name);
        if walked.shipped >= progress.shipped {
            *progress = walked;
        }
        result
    }

    /// Ships a file, retrying transient failures from the last confirmed
    /// offset (a reset body, throttling) before giving up for this run.
    async fn ship_file_with_retries(
        &self,
        instance: &Instance,
        item: &Identified,
        progress: &mut FileProgress,
        existing: &BTreeSet<u64>,
        report: &mut InstanceReport,
    ) -> Result<(), Stop> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            match self.ship_file(instance, item, progress, existing, report).await {
                Err(Stop::Fail(f))
                    if f.kind == FailureKind::Transient && attempt < self.cfg.max_attempts && !self.out_of_time() =>
                {
                    let wait = backoff(attempt);
                    tracing::warn!(instance = %instance.id, file = %item.file.name, attempt, error = %f, "shipping failed; retrying from the last confirmed offset");
                    tokio::time::sleep(wait).await;
                }
                other => return other,
            }
        }
    }

    /// One read of a file. A loss or divergence concluded from its bytes
    /// stands only if no rotation renamed the file during the read.
    async fn ship_file(
        &self,
        instance: &Instance,
        item: &Identified,
        progress: &mut FileProgress,
        existing: &BTreeSet<u64>,
        report: &mut InstanceReport,
    ) -> Result<(), Stop> {
        match self.read_and_ship(instance, item, progress, existing, report).await {
            Err(Stop::Fail(f)) if f.kind == FailureKind::DataLoss => {
                self.confirm_not_renamed(instance, item).await?;
                Err(Stop::Fail(f))
            }
            other => other,
        }
    }

    /// Whether the file's name still holds the file that was read. The
    /// download is not documented to read from an open handle: if a
    /// rotation renames the file mid-read, later bytes could come from the
    /// next file under that name. MariaDB rotation renames every file, so
    /// "the name still holds this file" means "no rotation since the read
    /// began". Aurora names are never reused.
    async fn confirm_not_renamed(&self, instance: &Instance, item: &Identified) -> Result<(), Stop> {
        if matches!(item.file.kind, AuditName::Aurora { .. }) {
            return Ok(());
        }
        let renamed = || Stop::Again(format!("{} was renamed by a rotation while it was read", item.file.name));
        match self.identify(instance, &item.file).await {
            Ok(Some(fp)) if fp.sha256 == item.fingerprint.sha256 => Ok(()),
            Ok(_) | Err(FetchError::Gone) => Err(renamed()),
            Err(FetchError::Failed(f)) => Err(f.into()),
        }
    }

    /// Verify the stream is the file we think, skip what is shipped
    /// (checking the bytes before the offset are unchanged), then verify or
    /// create objects up to the end of what may ship. A created object
    /// ends before the next of the `existing` object starts.
    async fn read_and_ship(
        &self,
        instance: &Instance,
        item: &Identified,
        progress: &mut FileProgress,
        existing: &BTreeSet<u64>,
        report: &mut InstanceReport,
    ) -> Result<(), Stop> {
        let name = &item.file.name;
        let mut stream = match self.source.open(&instance.id, name).await {
            Ok(s) => s.cancelled_by(self.stop.clone()),
            Err(FetchError::Gone) => return Err(Stop::Again(format!("{name} vanished before it was read"))),
            Err(FetchError::Failed(f)) => return Err(f.into()),
        };
        let head = stream.peek_head(IDENTITY_PREFIX_MAX).await?;
        let same_file =
            identity_prefix(&head).map(Fingerprint::of_prefix).is_some_and(|f| f.sha256 == item.fingerprint.sha256);
        if !same_file {
            return Err(Stop::Again(format!("{name} was renamed by a rotation after it was identified")));
        }

        let mut tail = TailWindow::default();
        if !skip(&mut stream, progress.shipped, &mut tail).await? {
            return Err(diverged(
                instance,
                item,
                format!("it is now shorter than the {} bytes already shipped from it", progress.shipped),
            ));
        }
        if progress.shipped > 0 && tail.sha256() != progress.tail_sha256 {
            return Err(diverged(
                instance,
                item,
                format!("its bytes before offset {} differ from the bytes shipped from it", progress.shipped),
            ));
        }

        let state = if item.active { FileState::Active } else { FileState::Closed };
        let rule = CutRule::new(self.cfg.object_size);
        loop {
            if self.out_of_time() {
                report.deferred = true;
                break;
            }
            let start = progress.shipped;
            let key = object_key(&self.cfg.prefix, instance, &item.id, start);
            if let Some(existing) = self.store.head(&key).await? {
                let facts = existing.facts.filter(|f| f.start == start && f.end > start).ok_or_else(|| {
                    Failure::data_loss(format!(
                        "object s3://{}/{key} exists without valid auditship metadata: something else wrote it; it was left untouched",
                        self.store.bucket()
                    ))
                })?;
                match hash_next(&mut stream, facts.end - start, &mut tail).await? {
                    Some(sha) if sha == facts.sha256 => {
                        progress.shipped = facts.end;
                        progress.tail_sha256 = tail.sha256();
                        report.objects_verified += 1;
                        self.progress.advance(facts.end - start);
                        tracing::debug!(instance = %instance.id, key = %key, "object already in S3 and matches");
                        continue;
                    }
                    Some(_) => {
                        return Err(diverged(
                            instance,
                            item,
                            format!(
                            "object s3://{}/{key} holds different bytes for offsets {start}..{}; it was left untouched",
                            self.store.bucket(),
                            facts.end
                        ),
                        ))
                    }
                    None if state == FileState::Closed => {
                        return Err(diverged(
                            instance,
                            item,
                            format!(
                                "object s3://{}/{key} claims offsets up to {} but the rotated file ends before that",
                                self.store.bucket(),
                                facts.end
                            ),
                        ))
                    }
                    // Another run saw more of the growing file than this read.
                    None => break,
                }
            }
            let room = existing.range(start + 1..).next().map(|next| next - start);
            let (object, at_end) = build_object(&mut stream, rule, state, room, &mut tail).await?;
            let Some(object) = object else { break };
            let facts = ObjectFacts {
                start,
                end: start + object.len,
                sha256: object.sha256.clone(),
                lines: object.lines,
                source_file: name.clone(),
                role: instance.role.as_str().to_string(),
                instance_id: instance.id.0.clone(),
                dbi_resource_id: instance.resource_id.0.clone(),
                file_id: item.id.0.clone(),
            };
            // Bytes are only written once it is sure they are this file's.
            self.confirm_not_renamed(instance, item).await?;
            match self.create(&key, &object, &facts).await? {
                Created::Yes => {
                    progress.shipped = facts.end;
                    progress.tail_sha256 = tail.sha256();
                    report.objects_created += 1;
                    report.bytes_shipped += object.len;
                    self.progress.advance(object.len);
                    tracing::info!(
                        instance = %instance.id, file = %name, key = %key, start, end = facts.end,
                        bytes = object.len, gzip_bytes = object.gzip.len(), lines = object.lines,
                        "object shipped"
                    );
                }
                // A concurrent run created it first. Cut points depend only
                // on content, so it is usually the very same object: then
                // it counts as shipped. Otherwise (it saw a different
                // snapshot of a growing file) start over and verify it.
                Created::AlreadyExists => match self.store.head(&key).await?.and_then(|e| e.facts) {
                    Some(theirs) if facts.same_bytes_as(&theirs) => {
                        progress.shipped = facts.end;
                        progress.tail_sha256 = tail.sha256();
                        report.objects_verified += 1;
                        tracing::debug!(instance = %instance.id, key = %key, "a concurrent run created the same object");
                    }
                    _ => return Err(Stop::Again(format!("object {key} was created by a concurrent run"))),
                },
            }
            if at_end {
                break;
            }
        }
        if let Some(end) = stream.end() {
            if !item.active {
                progress.last_size = end;
            } else {
                progress.last_size = progress.last_size.max(end);
            }
        }
        Ok(())
    }
}

fn diverged(instance: &Instance, item: &Identified, what: String) -> Stop {
    Stop::Fail(Failure::data_loss(format!(
        "instance {}: file {} ({}) diverged: {what}",
        instance.id, item.file.name, item.id
    )))
}

/// Reads `n` bytes into the tail window; false if the file ended first.
async fn skip(stream: &mut LogStream, n: u64, tail: &mut TailWindow) -> Result<bool, Failure> {
    stream.take(n, &mut |b| tail.push(b)).await
}

/// Hashes the next `n` bytes; `None` if the file ends first.
async fn hash_next(stream: &mut LogStream, n: u64, tail: &mut TailWindow) -> Result<Option<String>, Failure> {
    let mut hasher = Sha256::new();
    let complete = stream
        .take(n, &mut |b| {
            hasher.update(b);
            tail.push(b);
        })
        .await?;
    Ok(complete.then(|| hex::encode(hasher.finalize())))
}

/// Cuts and compresses the next object, of at most `room` bytes if given
/// (the next object already in S3 starts there). Returns the object (none
/// if there is nothing to ship) and whether the file's end was reached.
async fn build_object(
    stream: &mut LogStream,
    rule: CutRule,
    state: FileState,
    room: Option<u64>,
    tail: &mut TailWindow,
) -> Result<(Option<CompressedObject>, bool), Failure> {
    let mut cutter = ObjectCutter::new(rule);
    let mut builder = ObjectBuilder::default();
    let mut fed = 0u64;
    let at_end = loop {
        let mut sink = |b: &[u8]| {
            builder.write(b);
            tail.push(b);
        };
        let left = room.map(|r| r - fed);
        if left == Some(0) {
            // The next object starts here: these bytes are all there is,
            // as if the file ended (they end on that object's line boundary).
            cutter.finish(FileState::Closed, &mut sink);
            break false;
        }
        match stream.next_chunk().await? {
            None => {
                cutter.finish(state, &mut sink);
                break true;
            }
            Some(mut chunk) => {
                if let Some(left) = left.filter(|&l| (chunk.len() as u64) > l) {
                    stream.unread(chunk.split_off(left as usize));
                }
                let took = cutter.push(&chunk, &mut sink);
                fed += took as u64;
                stream.unread(chunk.slice(took..));
                if cutter.is_complete() {
                    break false;
                }
            }
        }
    };
    Ok(((!builder.is_empty()).then(|| builder.finish()), at_end))
}

/// Adds every newly identified file to the checkpoint with nothing shipped.
/// Gap detection only knows files the checkpoint tracks; tracking each file
/// as soon as it is seen means that, whatever happens to later runs, the
/// newest tracked file is one that can still grow, and its disappearance
/// (with everything begun after it) is reported.
fn track_new_files(identified: &[Identified], cp: &mut StoredCheckpoint) -> bool {
    let mut added = false;
    for item in identified {
        if cp.state.files.contains_key(&item.id) {
            continue;
        }
        cp.state.files.insert(item.id.clone(), item.untouched_progress());
        added = true;
    }
    added
}

/// What is left to ship after a pass, and how old it is.
fn summarize_pending(identified: &[Identified], cp: &StoredCheckpoint, report: &mut InstanceReport) {
    report.pending_files = 0;
    report.pending_bytes = 0;
    report.lag_seconds = 0;
    for item in identified {
        let Some(p) = cp.state.files.get(&item.id) else {
            continue;
        };
        let pending = p.last_size.saturating_sub(p.shipped);
        if pending == 0 {
            continue;
        }
        report.pending_files += 1;
        report.pending_bytes += pending;
        let since = oldest_unshipped_at(p.shipped, item.fingerprint.first_record, p.closed, p.last_written_ms);
        report.lag_seconds = report.lag_seconds.max(since.map_or(0, age_seconds));
    }
}

/// The last `TAIL_WINDOW` bytes seen, to fingerprint the end of what is
/// shipped.
#[derive(Default)]
struct TailWindow {
    bytes: Vec<u8>,
}

impl TailWindow {
    fn push(&mut self, b: &[u8]) {
        if b.len() >= TAIL_WINDOW {
            self.bytes.clear();
            self.bytes.extend_from_slice(&b[b.len() - TAIL_WINDOW..]);
            return;
        }
        self.bytes.extend_from_slice(b);
        if self.bytes.len() > TAIL_WINDOW {
            let excess = self.bytes.len() - TAIL_WINDOW;
            self.bytes.drain(..excess);
        }
    }

    fn sha256(&self) -> String {
        hex::encode(Sha256::digest(&self.bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tail_window_keeps_last_bytes_whatever_the_pushes() {
        let data: Vec<u8> = (0..10_000u32).map(|i| (i % 251) as u8).collect();
        let mut one = TailWindow::default();
        one.push(&data);
        let mut many = TailWindow::default();
        for c in data.chunks(37) {
            many.push(c);
        }
        assert_eq!(one.bytes, &data[data.len() - TAIL_WINDOW..]);
        assert_eq!(one.sha256(), many.sha256());
    }

    /// The facts a run would give the first object it cuts from `bytes`.
    fn first_object_facts(bytes: &[u8], rule: CutRule, state: FileState) -> Option<(ObjectFacts, Vec<u8>)> {
        let first = crate::cut::cut_all([bytes], rule, state).into_iter().next()?;
        let mut builder = ObjectBuilder::default();
        builder.write(&first);
        let object = builder.finish();
        let facts = ObjectFacts {
            start: 0,
            end: object.len,
            sha256: object.sha256,
            lines: object.lines,
            source_file: "audit/server_audit.log".into(),
            role: "writer".into(),
            instance_id: "db-1".into(),
            dbi_resource_id: "db-RES".into(),
            file_id: "20261121T223901Z-3f9a1c2b".into(),
        };
        Some((facts, first))
    }

    proptest::proptest! {
        /// Two runs race to create the first object of a growing file, one
        /// having read less of it than the other (`seen`), or the file
        /// having rotated in between. The loser of the create counts its
        /// bytes as shipped only if the winner's object holds exactly them,
        /// and when both read past the cut point it always does: overlapping
        /// runs converge instead of failing or duplicating.
        #[test]
        fn a_lost_create_race_counts_as_shipped_only_for_the_same_bytes(
            file in proptest::collection::vec(proptest::prop_oneof![3 => proptest::strategy::Just(b'\n'), 17 => proptest::prelude::any::<u8>()], 1..400),
            seen in 0usize..400,
            target in 1u64..80,
            rotated_between in proptest::prelude::any::<bool>(),
        ) {
            let rule = CutRule::new(target);
            let seen = seen.min(file.len());
            let winner_state = if rotated_between { FileState::Closed } else { FileState::Active };
            let Some((winner, winner_bytes)) = first_object_facts(&file, rule, winner_state) else { return Ok(()) };
            let Some((loser, loser_bytes)) = first_object_facts(&file[..seen], rule, FileState::Active) else { return Ok(()) };
            proptest::prop_assert_eq!(loser.same_bytes_as(&winner), loser_bytes == winner_bytes);
            // Whichever read less holds a prefix of the other's object.
            proptest::prop_assert!(winner_bytes.starts_with(&loser_bytes));
            // Both saw the line that ends the first object: the same object.
            let cut_seen = loser_bytes.last() == Some(&b'\n') && loser_bytes.len() as u64 >= rule.target
                || loser_bytes.len() as u64 == rule.hard_max;
            if cut_seen {
                proptest::prop_assert!(loser.same_bytes_as(&winner));
            }
        }
    }
}
