//! File: one file's walk from its shipped offset: fetch, cut, compress,
//! put, with the rotation guards.
//!
//! The download reads a file by name, and is not documented to read from
//! an open handle: a rotation during the read could splice the next file
//! under that name into the body. So before an object is created, before
//! a divergence is reported, and before the end of a read is taken as the
//! file's size, the name is shown to still hold the file
//! (`confirm_not_renamed`). A file found renamed is looked for under an
//! older name (rotation only ever renames towards older names, and a
//! rotated file never changes) and shipped from there, without restarting
//! the instance.

use super::scan::{no_rotation_between, HeadCheck, Identified};
use super::{Shipper, Stop};
use crate::checkpoint::{FileProgress, StoredCheckpoint};
use crate::compress::{gzip_member, recycle_block, CompressedObject, ObjectBuilder};
use crate::config::{ActiveFilePolicy, Scope};
use crate::cut::{CutRule, FileState, ObjectCutter};
use crate::error::{Failure, FailureKind};
use crate::events::derive::Encoding;
use crate::fetch::{FetchError, LogStream, Span};
use crate::identify::Identity;
use crate::instance::Instance;
use crate::keys::{file_prefix, object_key, start_of_key};
use crate::list::{self, AuditName, LogFile};
use crate::report::InstanceReport;
use crate::retry::Retry;
use crate::store::{Created, ObjectFacts};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::BTreeSet;

/// Bytes before the shipped offset whose hash the checkpoint keeps, and
/// by which a range read's overlap is checked. The simulation's files are
/// small: a smaller window there makes its runs take range reads too.
const TAIL_WINDOW: usize = if cfg!(test) { 64 } else { 4096 };
/// Times one file may be found renamed in one pass before it waits for
/// the next run.
const MAX_RELOCATIONS: u32 = 8;

impl Shipper {
    /// Brings one identified file up to date, following it through
    /// rotations; returns whether its checkpoint entry changed.
    pub(super) async fn ship_tracked_file(
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
        let mut item = item.clone();
        let mut moves = 0;
        let created_before = report.objects_created;
        let result = loop {
            note_listing(&mut progress, &item);
            match self.ship_listed_file(instance, &item, &mut progress, report).await {
                Err(Stop::Moved(why)) if moves < MAX_RELOCATIONS => {
                    moves += 1;
                    tracing::info!(instance = %instance.id, file = %item.file.name, reason = %why, "looking for the file under an older name");
                    match self.relocate(instance, &item, others_exact(cp, &item)).await? {
                        Some(found) => {
                            if item.active && !found.active {
                                // The file this scan saw growing rotated: a
                                // file no scan has seen now follows it.
                                super::ledger::expect_unseen_successor(cp, &item);
                            }
                            item = found;
                        }
                        // Deleted, or moved past the listing: the next scan
                        // decides which (a loss is never concluded here).
                        None => break Ok(()),
                    }
                }
                Err(Stop::Moved(why)) => {
                    break Err(Stop::Fail(Failure::transient(format!(
                        "instance {}: file {} ({}) {why}, {MAX_RELOCATIONS} times in this run: rotations are faster \
                         than it can be read; the next run continues from offset {}",
                        instance.id, item.file.name, item.id, progress.shipped
                    ))))
                }
                other => break other,
            }
        };
        if report.objects_created > created_before {
            report.files_shipped.insert(item.id.0.clone());
        }
        let changed = previous.as_ref() != Some(&progress);
        cp.state.files.insert(item.id.clone(), progress);
        result.map(|()| changed)
    }

    /// Ships the file under the name it was identified by.
    async fn ship_listed_file(
        &self,
        instance: &Instance,
        item: &Identified,
        progress: &mut FileProgress,
        report: &mut InstanceReport,
    ) -> Result<(), Stop> {
        let skip_active = item.active && self.cfg.active_file == ActiveFilePolicy::Skip;
        // The listing showed nothing past what is shipped (and it is known
        // to be this file's listing): no download.
        let nothing_new = item.active && item.listed && progress.shipped >= item.file.size;
        if skip_active {
            Ok(())
        } else if matches!(self.cfg.scope, Scope::Backfill(_)) {
            self.rewalk(instance, item, progress, report).await
        } else if progress.complete() || nothing_new {
            Ok(())
        } else {
            self.ship_file_with_retries(instance, item, progress, &BTreeSet::new(), report).await
        }
    }

    /// Finds a file that a rotation renamed, among the names older than
    /// the one it had: one whose start is the file's and holds none of the
    /// `others` (files with its first line known by their exact bytes).
    /// A newer file may begin with the same lines, so when the listing the
    /// file was found in is its own (`listed`), the new listing must agree:
    /// a rotated file keeps its size and write time; a growing one is the
    /// oldest of those at least as long and as recent as it was (files
    /// after it began later). `None` if no name, or more than one, holds it.
    async fn relocate(
        &self,
        instance: &Instance,
        item: &Identified,
        others: Vec<Identity>,
    ) -> Result<Option<Identified>, Failure> {
        let listed = self.source.list(instance).await?;
        let flags = list::active_flags(&listed);
        let anchor: std::sync::Arc<[LogFile]> = std::sync::Arc::from(listed.clone());
        let was = &item.file;
        let agrees = |f: &LogFile| {
            !item.listed
                || if item.active {
                    f.size >= was.size && f.last_written_ms >= was.last_written_ms
                } else {
                    f.size == was.size && f.last_written_ms == was.last_written_ms
                }
        };
        let mut older: Vec<(LogFile, bool)> = listed
            .into_iter()
            .zip(flags)
            .filter(|(f, _)| LogFile::newest_first(was, f) == Ordering::Less && agrees(f))
            .collect();
        older.sort_by(|a, b| LogFile::newest_first(&b.0, &a.0));
        let mut found: Vec<Identified> = Vec::new();
        for (file, active) in older {
            let candidate = Identified { file, active, listed: false, scanned_with: anchor.clone(), ..item.clone() };
            match self.holds(instance, &candidate.file, &candidate.head_check().unlike(others.clone())).await {
                Ok(true) => found.push(candidate),
                Ok(false) | Err(FetchError::Gone) => {}
                Err(FetchError::Failed(f)) => return Err(f),
            }
            if item.listed && item.active && !found.is_empty() {
                break;
            }
        }
        if found.len() > 1 {
            tracing::info!(
                instance = %instance.id, file = %item.file.name, names = found.len(),
                "a renamed file could be under more than one name; the next run's scan tells them apart"
            );
            return Ok(None);
        }
        Ok(found.pop())
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
        let what = format!("shipping {}/{} from the last confirmed offset", instance.id, item.file.name);
        let mut retry = Retry::new(what, self.cfg.max_attempts);
        loop {
            match self.ship_file(instance, item, progress, existing, report).await {
                Err(Stop::Fail(f)) if self.try_again(&mut retry, &f).await => {}
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
                self.confirm_not_renamed(instance, item, item.head_check()).await?;
                Err(Stop::Fail(f))
            }
            other => other,
        }
    }

    /// Whether the name still holds the file that was read, so that what
    /// the read concluded is the file's. The download reads a file by
    /// name, and is not documented to read from an open handle: if a
    /// rotation renames the file mid-read, later bytes come from the next
    /// file under that name. MariaDB rotation renames every file, so "the
    /// name still holds this file" means "no rotation since the listing it
    /// was found in". A file's first bytes prove that only for a file known
    /// by its exact bytes: a file no scan has seen may begin with the same
    /// lines (a replayed session), and a read spliced where the two agree
    /// holds the other file's bytes. So any other file is proven by a
    /// listing taken now that shows no rotation since. Aurora names are
    /// never reused.
    async fn confirm_not_renamed(&self, instance: &Instance, item: &Identified, check: HeadCheck) -> Result<(), Stop> {
        if matches!(item.file.kind, AuditName::Aurora { .. }) {
            return Ok(());
        }
        let renamed = || Stop::Moved(format!("{} was renamed by a rotation while it was read", item.file.name));
        let exact = item.identity.as_ref().is_some_and(|i| i.exact);
        if !exact && !item.scanned_with.is_empty() {
            let now = self.relist(instance, &format!("{} was read", item.file.name)).await?;
            return if no_rotation_between(&item.scanned_with, &now) { Ok(()) } else { Err(renamed()) };
        }
        match self.holds(instance, &item.file, &check).await {
            Ok(true) => Ok(()),
            Ok(false) | Err(FetchError::Gone) => Err(renamed()),
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
        let overlap = self.range_start(item, progress);
        let mut stream = self.open_for_shipping(instance, name, overlap.map_or(Span::Whole, Span::From)).await?;
        let mut tail = TailWindow::default();
        // A range read counts only if it began where asked and its overlap
        // is the bytes shipped (the checkpoint's tail hash); else the file
        // is read whole, as if no range had been asked for.
        let mut ranged = overlap.is_some_and(|at| stream.start() == at);
        if ranged {
            let overlap_len = progress.shipped - stream.start();
            let overlap_holds =
                skip(&mut stream, overlap_len, &mut tail).await? && tail.sha256() == progress.tail_sha256;
            if !overlap_holds {
                report.transfer.overlap_mismatches += 1;
                tracing::info!(
                    instance = %instance.id, file = %name, offset = progress.shipped,
                    "a range read's overlap is not the bytes shipped: reading the whole file to tell why"
                );
                stream = self.open_for_shipping(instance, name, Span::Whole).await?;
                tail = TailWindow::default();
                ranged = false;
            }
        }
        if !ranged {
            if !item.is_start_of(&mut stream).await? {
                return Err(Stop::Moved(format!("{name} was renamed by a rotation after it was identified")));
            }
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
        }
        let walk = Walk {
            instance,
            item,
            state: if item.active { FileState::Active } else { FileState::Closed },
            rule: CutRule::new(self.cfg.object_size),
            existing,
            ranged,
        };
        // Whether bytes were read since the name was last shown to still
        // hold the file.
        let mut read_since = true;
        // An object's create is in flight while the next one is read and
        // compressed; it lands (and counts) before anything after it does,
        // so the objects of a file are still created in offset order.
        let mut landing: Option<Landing> = None;
        let mut reached_end = false;
        loop {
            if reached_end || self.out_of_time() {
                if let Some(l) = landing.take() {
                    let landed = self.land(&l).await?;
                    self.count_landed(instance, l, landed, progress, report);
                }
                if !reached_end {
                    self.defer(report);
                }
                break;
            }
            let start = landing.as_ref().map_or(progress.shipped, |l| l.facts.end);
            let in_flight = async {
                match &landing {
                    Some(l) => self.land(l).await.map(Some),
                    None => Ok(None),
                }
            };
            let next = self.next_object(&walk, &mut stream, &mut tail, start, &mut read_since);
            let (landed, next) = tokio::join!(in_flight, next);
            if let Some(landed) = landed? {
                let l = landing.take().expect("the object that landed");
                self.count_landed(instance, l, landed, progress, report);
            }
            match next? {
                Next::Verified { key, facts, tail_sha256 } => {
                    let end = facts.end;
                    self.record_landed(&key, &facts, self.attests_again(), report);
                    report.objects_verified += 1;
                    self.progress.advance(&instance.id.0, end - progress.shipped);
                    progress.shipped = end;
                    progress.tail_sha256 = tail_sha256;
                }
                Next::Create(l, at_end) => {
                    landing = Some(l);
                    reached_end = at_end;
                }
                Next::Done => break,
            }
        }
        // The read reached the end of this very file: that is its size,
        // whatever an older listing said, once the name is shown to have
        // held the file for all of the read. (Objects verified meanwhile
        // need no proof: their bytes were the file's when created.)
        if let Some(end) = stream.end() {
            if read_since {
                self.confirm_not_renamed(instance, item, walk.still_holds(&tail)).await?;
            }
            progress.last_size = end.max(progress.shipped);
            progress.closed |= !item.active;
        }
        Ok(())
    }
}

/// What stays the same for every object of one read of a file.
struct Walk<'a> {
    instance: &'a Instance,
    item: &'a Identified,
    state: FileState,
    rule: CutRule,
    /// Objects already in S3 (a backfill's walk): a created one ends
    /// before the next of them starts.
    existing: &'a BTreeSet<u64>,
    /// Whether the read began at an offset (a range read) rather than at
    /// the file's first byte.
    ranged: bool,
}

impl Walk<'_> {
    /// What shows the name still holds the file once bytes are read: a
    /// whole read also checks the bytes it began with.
    fn still_holds(&self, tail: &TailWindow) -> HeadCheck {
        match self.ranged {
            true => self.item.head_check(),
            false => self.item.head_check().began_with(tail.began_with()),
        }
    }
}

/// The next object of a read, found or made.
enum Next {
    /// Already in S3 with exactly these bytes (another run made it).
    Verified { key: String, facts: ObjectFacts, tail_sha256: String },
    /// Built, and its bytes shown to be the file's: to create. With
    /// whether the read reached the file's end.
    Create(Landing, bool),
    /// Nothing more to ship from this read.
    Done,
}

/// An object on its way to S3.
struct Landing {
    key: String,
    object: CompressedObject,
    facts: ObjectFacts,
    /// The checkpoint's tail hash once it is shipped (taken when it was
    /// built: the read has moved on by the time it lands).
    tail_sha256: String,
}

/// How an object landed.
enum Landed {
    Created,
    /// A concurrent run created the very same object first.
    Same,
}

impl Shipper {
    /// Reads the object that starts at `start`: verifies it against S3 if
    /// it is there, else cuts and compresses it and shows the name still
    /// holds the file before handing it on to be created.
    async fn next_object(
        &self,
        walk: &Walk<'_>,
        stream: &mut LogStream,
        tail: &mut TailWindow,
        start: u64,
        read_since: &mut bool,
    ) -> Result<Next, Stop> {
        let Walk { instance, item, state, rule, existing, .. } = walk;
        let name = &item.file.name;
        let key = object_key(&self.cfg.prefix, instance, &item.id, start);
        if let Some(found) = self.store.head(&key).await? {
            let facts = found.facts.filter(|f| f.start == start && f.end > start).ok_or_else(|| {
                Failure::data_loss(format!(
                    "object s3://{}/{key} exists without valid auditship metadata: something else wrote it; it was left untouched",
                    self.store.bucket()
                ))
            })?;
            *read_since = true;
            return match hash_next(stream, facts.end - start, tail).await? {
                Some(sha) if sha == facts.sha256 => {
                    tracing::debug!(instance = %instance.id, key = %key, "object already in S3 and matches");
                    Ok(Next::Verified { key, facts, tail_sha256: tail.sha256() })
                }
                Some(_) => Err(diverged(
                    instance,
                    item,
                    format!(
                        "object s3://{}/{key} holds different bytes for offsets {start}..{}; it was left untouched",
                        self.store.bucket(),
                        facts.end
                    ),
                )),
                None if *state == FileState::Closed => Err(diverged(
                    instance,
                    item,
                    format!(
                        "object s3://{}/{key} claims offsets up to {} but the rotated file ends before that",
                        self.store.bucket(),
                        facts.end
                    ),
                )),
                // Another run saw more of the growing file than this read.
                None => Ok(Next::Done),
            };
        }
        let room = existing.range(start + 1..).next().map(|next| next - start);
        let (object, at_end) = build_object(stream, *rule, *state, room, self.cfg.gzip_level, tail).await?;
        *read_since = true;
        let Some(object) = object else { return Ok(Next::Done) };
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
            first_record: object.first_record,
            last_record: object.last_record,
        };
        // Bytes are only written once it is sure they are this file's.
        self.confirm_not_renamed(instance, item, walk.still_holds(tail)).await?;
        *read_since = false;
        Ok(Next::Create(Landing { key, object, facts, tail_sha256: tail.sha256() }, at_end))
    }

    /// Creates the object. A concurrent run may have created it first:
    /// cut points depend only on content, so it is usually the very same
    /// object, and then it counts as shipped. Otherwise (it saw a different
    /// snapshot of a growing file) the pass starts over and verifies it.
    async fn land(&self, l: &Landing) -> Result<Landed, Stop> {
        match self.create(&l.key, &l.object, &l.facts).await? {
            Created::Yes => Ok(Landed::Created),
            Created::AlreadyExists => match self.store.head(&l.key).await?.and_then(|e| e.facts) {
                Some(theirs) if l.facts.same_bytes_as(&theirs) => Ok(Landed::Same),
                _ => Err(Stop::Again(format!("object {} was created by a concurrent run", l.key))),
            },
        }
    }

    fn count_landed(
        &self,
        instance: &Instance,
        l: Landing,
        landed: Landed,
        progress: &mut FileProgress,
        report: &mut InstanceReport,
    ) {
        let Landing { key, object, facts, tail_sha256 } = l;
        progress.shipped = facts.end;
        progress.tail_sha256 = tail_sha256;
        // Created where a digest may have listed an object that is gone:
        // listed again; or walked by a backfill: attested again.
        let again = matches!(landed, Landed::Created) || self.attests_again();
        self.record_landed(&key, &facts, again, report);
        self.begin_events(instance, &key, &object, &facts);
        match landed {
            Landed::Created => {
                report.objects_created += 1;
                report.bytes_shipped += object.len;
                self.progress.advance(&instance.id.0, object.len);
                tracing::info!(
                    instance = %instance.id, file = %facts.source_file, key = %key, start = facts.start, end = facts.end,
                    bytes = object.len, gzip_bytes = object.gzip.len(), lines = object.lines,
                    "{}",
                    if self.cfg.dry_run { "object would be created (dry run)" } else { "object shipped" }
                );
            }
            Landed::Same => {
                report.objects_verified += 1;
                tracing::debug!(instance = %instance.id, key = %key, "a concurrent run created the same object");
            }
        }
    }
}

impl Shipper {
    /// With `--events`, the events of an object S3 confirmed are encoded
    /// from its body at once, beside the rest of the pass; they are
    /// written only once the pass has sealed its digests.
    fn begin_events(&self, instance: &Instance, key: &str, object: &CompressedObject, facts: &ObjectFacts) {
        let Some(sink) = self.events.as_ref().filter(|_| !self.cfg.dry_run) else { return };
        self.landed_events.begin(key, object.len, || {
            let dialect = crate::events::derive::dialect_of(instance).ok()?;
            let location = self.store.location(key);
            Some(Encoding::start(location, key, object.gzip.clone(), facts.clone(), sink, instance, dialect))
        });
    }

    /// A backfill lists again every object it walks: it checked each one
    /// against the file's bytes (see `DigestLedger::record_again`).
    fn attests_again(&self) -> bool {
        matches!(self.cfg.scope, Scope::Backfill(_))
    }

    /// With digests on, an object S3 confirmed is recorded for the next
    /// digest; the pass moves it into the checkpoint's ledger in the same
    /// write as its file's offset. `again`: even where a digest listed its
    /// place already (`DigestLedger::record_again`).
    fn record_landed(&self, key: &str, facts: &ObjectFacts, again: bool, report: &mut InstanceReport) {
        if again {
            report.landed_again.insert(key.to_string());
        }
        report.landed.extend(self.listed(key, facts));
    }

    /// Where a range read of the file should begin, if one may be asked
    /// for: `TAIL_WINDOW` bytes before the shipped offset, whose hash the
    /// checkpoint keeps. Only where a listing (or Aurora's never-reused
    /// names) later proves the name held the file for the whole read, as
    /// a range read does not see the file's start: not for a file told
    /// apart from others with its first line by its bytes.
    fn range_start(&self, item: &Identified, progress: &FileProgress) -> Option<u64> {
        let aurora = matches!(item.file.kind, AuditName::Aurora { .. });
        let proven_by_listing = aurora || !item.scanned_with.is_empty();
        let window = TAIL_WINDOW as u64;
        (self.cfg.range_reads && item.identity.is_none() && proven_by_listing && progress.shipped > window)
            .then(|| progress.shipped - window)
    }

    async fn open_for_shipping(&self, instance: &Instance, name: &str, span: Span) -> Result<LogStream, Stop> {
        match self.source.open(&instance.id, name, span).await {
            Ok(s) => Ok(s.cancelled_by(self.stop.clone()).until(self.deadline)),
            Err(FetchError::Gone) => Err(Stop::Moved(format!("{name} vanished before it was read"))),
            Err(FetchError::Failed(f)) => Err(f.into()),
        }
    }
}

/// The exact identities of the other tracked files with the item's first
/// line.
fn others_exact(cp: &StoredCheckpoint, item: &Identified) -> Vec<Identity> {
    cp.state
        .files
        .iter()
        .filter(|(id, p)| **id != item.id && p.fingerprint == item.fingerprint.sha256)
        .filter_map(|(_, p)| p.identity.clone().filter(|i| i.exact))
        .collect()
}

/// Records the name the file has now and, when the listing is known to be
/// this file's, its size and write time, and whether it is rotated. A file
/// is only ever marked rotated (closed) together with a size known to be
/// final: from such a listing, or by reading it to its end as rotated
/// (`read_and_ship`). Else "closed and shipped up to its size" could be
/// concluded from the size it had while it still grew.
fn note_listing(progress: &mut FileProgress, item: &Identified) {
    progress.last_name = item.file.name.clone();
    if item.listed {
        progress.closed |= !item.active;
        progress.last_size = progress.last_size.max(item.file.size);
        progress.last_written_ms = progress.last_written_ms.max(item.file.last_written_ms);
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
    gzip_level: u32,
    tail: &mut TailWindow,
) -> Result<(Option<CompressedObject>, bool), Failure> {
    let mut cutter = ObjectCutter::new(rule);
    let mut builder = ObjectBuilder::with_level(gzip_level);
    let mut compressing = Compressing::default();
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
        compressing.feed(&mut builder).await;
    };
    compressing.drain(&mut builder).await;
    Ok(((!builder.is_empty()).then(|| builder.finish()), at_end))
}

/// An object's full blocks being compressed on the blocking pool, a few
/// at once, so that every core compresses while the stream is read; the
/// members are handed back in order. (An object of less than one block,
/// as every simulated one is, is compressed by `finish` where it stands.)
struct Compressing {
    pending: std::collections::VecDeque<tokio::task::JoinHandle<Vec<u8>>>,
    /// Blocks in flight before the reader waits for the oldest: one per
    /// core, so memory stays at a few blocks per instance.
    max: usize,
}

impl Default for Compressing {
    fn default() -> Self {
        Compressing { pending: Default::default(), max: crate::compress::cores() }
    }
}

impl Compressing {
    async fn feed(&mut self, builder: &mut ObjectBuilder) {
        let level = builder.level();
        for block in builder.take_blocks() {
            self.pending.push_back(tokio::task::spawn_blocking(move || {
                let member = gzip_member(&block, level);
                recycle_block(block);
                member
            }));
        }
        while self.pending.len() > self.max {
            self.hand_back_oldest(builder).await;
        }
    }

    /// Every block written so far compressed and handed back.
    async fn drain(&mut self, builder: &mut ObjectBuilder) {
        self.feed(builder).await;
        while !self.pending.is_empty() {
            self.hand_back_oldest(builder).await;
        }
    }

    async fn hand_back_oldest(&mut self, builder: &mut ObjectBuilder) {
        let Some(oldest) = self.pending.pop_front() else { return };
        // Compressing into memory cannot fail; a panic there is a bug.
        let member = oldest.await.expect("a gzip block compresses");
        builder.append_member(member);
    }
}

/// The last `TAIL_WINDOW` bytes read, and the first `BEGAN_WITH` bytes.
#[derive(Default)]
struct TailWindow {
    bytes: Vec<u8>,
    first: Vec<u8>,
}

/// Bytes of the start of a read kept to check that its name still holds
/// the same file (a file that begins with a copy of its first lines would
/// pass a check of the first line alone).
const BEGAN_WITH: usize = 64 * 1024;

impl TailWindow {
    fn began_with(&self) -> bytes::Bytes {
        bytes::Bytes::copy_from_slice(&self.first)
    }

    fn push(&mut self, b: &[u8]) {
        let room = BEGAN_WITH - self.first.len();
        self.first.extend_from_slice(&b[..b.len().min(room)]);
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

/// The checkpoint's `tail_sha256` for a file shipped up to the end of
/// `shipped` (its bytes from the start).
pub(super) fn tail_sha256(shipped: &[u8]) -> String {
    let mut tail = TailWindow::default();
    tail.push(shipped);
    tail.sha256()
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
            first_record: object.first_record,
            last_record: object.last_record,
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
