//! Scan: which files are on the instance, and which file each name holds.
//!
//! A name says nothing about a file's bytes (MariaDB rotation renames every
//! file), so each name is read for its first line, newest first: a rotation
//! during the scan moves files to older names, which are read later, or to
//! names past the end of the listing, which a re-listing shows. Every file
//! that existed when the scan began is then seen, or truly deleted.
//!
//! Two things are taken from a listing only when no rotation happened
//! between it and the end of the scan (`no_rotation_between`): the sizes and
//! write times of the files, and "this name still holds the complete file
//! the checkpoint last saw there", which spares a download. A rotation in
//! between would make them another file's.

use super::{Shipper, Stop};
use crate::checkpoint::{FileProgress, StoredCheckpoint};
use crate::config::Scope;
use crate::error::Failure;
use crate::fetch::{FetchError, LogStream, Span};
use crate::identify::{identity_prefix, FileId, Fingerprint, Identity, Start, IDENTITY_PREFIX_MAX};
use crate::instance::Instance;
use crate::list::{self, AuditName, LogFile};
use crate::retry::{backoff, Retry};
use crate::BoxFuture;
use bytes::Bytes;
use chrono::Utc;
use std::collections::HashSet;
use std::sync::Arc;

/// Scans of an instance before a rotation-free one is given up on.
const MAX_SCANS: u32 = 3;
/// Listings in one scan that may show names not yet read (each rotation
/// during the scan can add one) before the scan gives up.
const MAX_RELISTINGS: u32 = 16;

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
    /// What its start must be for its name to still hold it.
    pub head: Option<HeadCheck>,
    pub first_record: Option<chrono::DateTime<Utc>>,
}

/// What identifying an instance's files found.
pub(super) struct Scan {
    /// Files read for their identity, or known from the listing alone
    /// (`tracked_by_listing`), newest first.
    pub identified: Vec<Identified>,
    /// How many of those were known from the listing alone.
    pub unread: usize,
    /// Files the checkpoint has as complete under the same name, size and
    /// write time, with no rotation since: taken as identified unread.
    pub known_complete: Vec<(LogFile, FileId)>,
    /// Every file id on the instance.
    pub present: HashSet<FileId>,
    /// Files without a complete first line yet, with the bytes they had.
    pub unnamed: Vec<(LogFile, bool, Bytes)>,
    /// Every name was read; `false` when files kept rotating to new names
    /// faster than they could be read (then only `identified` is of use).
    pub complete: bool,
    /// No rotation happened during this scan: its listing's sizes and
    /// write times are the files'.
    pub steady: bool,
    /// Files a listing of this pass showed with bytes, never read, that no
    /// file is any more: deleted unseen (unless the checkpoint tracks them).
    pub listed_then_gone: Vec<LogFile>,
    /// Files an earlier scan of this pass identified that the final scan
    /// no longer finds: seen, then deleted (tracked and reported lost).
    pub seen_then_gone: Vec<Identified>,
}

impl Scan {
    /// Every file seen with an id, by its name then, newest first.
    pub fn named_files(&self) -> Vec<(&LogFile, &FileId)> {
        let mut all: Vec<(&LogFile, &FileId)> = self
            .identified
            .iter()
            .map(|i| (&i.file, &i.id))
            .chain(self.known_complete.iter().map(|(f, id)| (f, id)))
            .collect();
        all.sort_by(|a, b| LogFile::newest_first(a.0, b.0));
        all
    }
}

/// What the first bytes of a file say.
pub(crate) enum Head {
    /// Its identity (a complete first line, or the first 4 KiB), whether
    /// it came in one piece (see `LogStream::body_chunks`), and the bytes
    /// read (the first line at least).
    Line(Fingerprint, bool, Bytes),
    /// No complete first line yet: the bytes it has.
    Partial(Bytes),
}

/// A listed file with its identity.
#[derive(Clone)]
pub(super) struct Identified {
    pub file: LogFile,
    pub active: bool,
    pub fingerprint: Fingerprint,
    pub id: FileId,
    /// What tells it from files with the same first line, if any share it.
    pub identity: Option<Identity>,
    /// The listing's size and write time are this file's (no rotation
    /// during the scan). `false`: they may be another file's.
    pub listed: bool,
    /// Its head was read in one piece, or in a scan no rotation disturbed:
    /// the fingerprint is a file's, not a splice of two.
    pub whole: bool,
    /// A listing from before the file was read under this name (the one
    /// its scan began with, or the one `relocate` found it in): a later
    /// listing that shows no rotation since proves the name still holds it.
    pub scanned_with: Arc<[LogFile]>,
}

/// What the start of a file must be for a name to hold it: its first
/// line, and the bytes that tell it from files with the same first line.
#[derive(Debug, Clone)]
pub struct HeadCheck {
    fingerprint: String,
    identity: Option<Identity>,
    active: bool,
    /// The bytes a read of the file began with, when known: a file that
    /// begins like it (its first lines copied) is not taken for it.
    began_with: Option<Bytes>,
    /// Exact identities of other files with its first line: a name that
    /// holds one of those does not hold this file.
    unlike: Vec<Identity>,
}

impl HeadCheck {
    /// Whether a stream at its start is the file. The bytes read are
    /// pushed back.
    pub async fn matches(&self, stream: &mut LogStream) -> Result<bool, Failure> {
        let first_line = |bytes: &[u8]| {
            identity_prefix(bytes).map(Fingerprint::of_prefix).is_some_and(|f| f.sha256 == self.fingerprint)
        };
        let began_like = match &self.began_with {
            Some(began) => stream.peek_start(began.len()).await?.0.starts_with(began),
            None => true,
        };
        let unlike_others = match self.unlike.iter().map(Identity::bytes_to_read).max() {
            Some(n) => {
                let (bytes, whole) = stream.peek_start(n).await?;
                let start = Start { bytes: &bytes, whole, active: self.active };
                !self.unlike.iter().any(|other| other.matches(&start))
            }
            None => true,
        };
        let Some(identity) = &self.identity else {
            return Ok(began_like && unlike_others && first_line(&stream.peek_head(IDENTITY_PREFIX_MAX).await?));
        };
        let (bytes, whole) = stream.peek_start(identity.bytes_to_read()).await?;
        Ok(began_like
            && unlike_others
            && first_line(&bytes)
            && identity.matches(&Start { bytes: &bytes, whole, active: self.active }))
    }

    /// The same check, also against the bytes a read began with.
    pub fn began_with(self, bytes: Bytes) -> HeadCheck {
        HeadCheck { began_with: Some(bytes), ..self }
    }

    /// The same check, also refusing a name that holds one of `others`.
    pub fn unlike(self, others: Vec<Identity>) -> HeadCheck {
        HeadCheck { unlike: others, ..self }
    }
}

impl Identified {
    pub fn head_check(&self) -> HeadCheck {
        HeadCheck {
            fingerprint: self.fingerprint.sha256.clone(),
            identity: self.identity.clone(),
            active: self.active,
            began_with: None,
            unlike: Vec::new(),
        }
    }

    /// Whether a stream at its start is this file (see `HeadCheck`).
    pub async fn is_start_of(&self, stream: &mut LogStream) -> Result<bool, Failure> {
        self.head_check().matches(stream).await
    }

    /// Its checkpoint entry before any byte is shipped.
    pub fn untouched_progress(&self) -> FileProgress {
        FileProgress {
            fingerprint: self.fingerprint.sha256.clone(),
            shipped: 0,
            tail_sha256: String::new(),
            last_name: self.file.name.clone(),
            last_size: if self.listed { self.file.size } else { 0 },
            last_written_ms: if self.listed { self.file.last_written_ms } else { 0 },
            // Rotated, and the size is this file's final one.
            closed: !self.active && self.listed,
            identity: self.identity.clone(),
        }
    }
}

impl Shipper {
    /// Reads an instance's checkpoint and files and matches them up,
    /// downloading only the heads of files the checkpoint cannot vouch for.
    pub async fn survey(&self, instance: &Instance) -> Result<Survey, Failure> {
        let key = crate::keys::checkpoint_key(&self.cfg.prefix, instance);
        let checkpoint = crate::checkpoint::load(&*self.store, &key, instance).await?;
        let listed = self.list_asking_again_if_empty(instance).await?;
        let scan = match self.scan(instance, &checkpoint, listed.clone()).await {
            Ok(scan) if !scan.complete => {
                return Err(Failure::transient(format!(
                    "instance {}: files kept rotating while they were identified; try again",
                    instance.id
                )))
            }
            Ok(scan) => scan,
            Err(Stop::Fail(f)) => return Err(f),
            Err(Stop::Again(why) | Stop::Moved(why)) => {
                return Err(Failure::transient(format!("instance {}: {why}; try again", instance.id)))
            }
        };
        let mut files: Vec<SurveyedFile> = scan
            .identified
            .into_iter()
            .map(|i| SurveyedFile {
                first_record: i.fingerprint.first_record,
                head: Some(i.head_check()),
                file: i.file,
                active: i.active,
                id: Some(i.id),
            })
            .collect();
        for (file, id) in scan.known_complete {
            let first_record = id.first_record_time();
            let head = checkpoint.state.files.get(&id).map(|p| HeadCheck {
                fingerprint: p.fingerprint.clone(),
                identity: p.identity.clone(),
                active: false,
                began_with: None,
                unlike: Vec::new(),
            });
            files.push(SurveyedFile { file, active: false, id: Some(id), first_record, head });
        }
        let flags = list::active_flags(&listed);
        for (file, active) in listed.into_iter().zip(flags) {
            if !files.iter().any(|f| f.file.name == file.name) {
                files.push(SurveyedFile { file, active, id: None, first_record: None, head: None });
            }
        }
        files.sort_by(|a, b| LogFile::newest_first(&b.file, &a.file));
        let vanished = checkpoint.state.unshipped_and_gone(&scan.present);
        Ok(Survey { checkpoint, files, vanished })
    }

    /// Lists audit files; an empty answer, which DescribeDBLogFiles is
    /// known to give for a moment, is asked again once.
    pub(super) async fn list_asking_again_if_empty(&self, instance: &Instance) -> Result<Vec<LogFile>, Failure> {
        let files = self.source.list(instance).await?;
        if !files.is_empty() {
            return Ok(files);
        }
        tokio::time::sleep(backoff(2)).await;
        self.source.list(instance).await
    }

    /// A listing to compare with an earlier one, taken while `during`.
    /// Files listed a moment ago cannot all be gone: an empty answer
    /// (DescribeDBLogFiles gives them transiently) is asked again, and if
    /// it stays empty the pass starts over. Taken as it came, it would make
    /// every file read "listed, then gone".
    pub(super) async fn relist(&self, instance: &Instance, during: &str) -> Result<Vec<LogFile>, Stop> {
        let files = self.list_asking_again_if_empty(instance).await?;
        if files.is_empty() {
            return Err(Stop::Again(format!("the instance listed no files while {during}")));
        }
        Ok(files)
    }

    /// Lists audit files. No files at all means audit logging is off (the
    /// plugin always has its active file), unless the listing was one of
    /// the transiently empty ones DescribeDBLogFiles is known to return:
    /// so an empty listing is asked again before it counts.
    pub(super) async fn list_nonempty(
        &self,
        instance: &Instance,
        cp: &StoredCheckpoint,
    ) -> Result<Vec<LogFile>, Failure> {
        let files = self.list_asking_again_if_empty(instance).await?;
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

    /// Identifies every file on the instance. A scan during which files
    /// rotated is done again from the newer listing, so that sizes and
    /// unread files come from a listing no rotation has overtaken; after
    /// `MAX_SCANS` the last full read stands (every file is still found,
    /// only its size is left unknown). A scan that would report a loss is
    /// always a full read: a loss is never concluded from a listing alone.
    pub(super) async fn scan(
        &self,
        instance: &Instance,
        cp: &StoredCheckpoint,
        listed: Vec<LogFile>,
    ) -> Result<Scan, Stop> {
        // A backfill re-reads even complete files: their objects may be
        // what is missing.
        let mut shortcuts = self.cfg.scope == Scope::New;
        let mut listing = listed;
        let mut attempt = 0;
        let mut seen: Vec<Identified> = Vec::new();
        let mut listings: Vec<Vec<LogFile>> = vec![listing.clone()];
        loop {
            attempt += 1;
            let (mut scan, mut last) = self.identify_all(instance, cp, listing.clone(), shortcuts).await?;
            let families = if scan.complete { self.read_families(instance, cp, &mut scan).await? } else { Vec::new() };
            if !families.is_empty() {
                // Files that share a first line are read further, then
                // listed again: the steady check covers those reads too.
                last = self.relist(instance, "they were identified").await?;
                let steady = no_rotation_between(&listing, &last);
                let first_objects = if super::family::gives_new_keys(cp, &scan, &families, steady) {
                    self.first_objects(instance, cp, &families).await?
                } else {
                    super::family::FirstObjects::new()
                };
                super::family::settle(instance, cp, &mut scan, families, &first_objects, steady);
            }
            scan.listed_then_gone = listed_then_gone(&listings, &last);
            // Every read of this scan came after `listing`.
            let scanned_with: Arc<[LogFile]> = Arc::from(listing.clone());
            for item in &mut scan.identified {
                item.scanned_with = scanned_with.clone();
            }
            listings.push(last.clone());
            let steady = scan.complete && no_rotation_between(&listing, &last);
            scan.steady = steady;
            for item in &mut scan.identified {
                item.whole |= steady;
            }
            // A head read while files rotated may be a splice of two files,
            // unless it came in one piece: only whole ones count as seen.
            for item in scan.identified.iter().filter(|i| i.whole) {
                if !seen.iter().any(|s| s.id == item.id) {
                    seen.push(Identified { listed: false, ..item.clone() });
                }
            }
            // One seen before the scan told its family apart may be any
            // member: only a file whose first line no file has now is gone.
            let family_now = |s: &Identified| {
                scan.identified.iter().any(|i| i.fingerprint.sha256 == s.fingerprint.sha256 && i.id != s.id)
            };
            scan.seen_then_gone =
                seen.iter().filter(|s| !scan.present.contains(&s.id) && !family_now(s)).cloned().collect();
            if !scan.complete {
                scan.identified.retain(|i| i.whole || cp.state.files.contains_key(&i.id));
                return Ok(scan);
            }
            let would_lose = !cp.state.unshipped_and_gone(&scan.present).is_empty();
            // A loss is concluded only from a scan that read every file.
            let read_in_full = scan.known_complete.is_empty() && scan.unread == 0;
            if steady && (read_in_full || !would_lose) {
                return Ok(scan);
            }
            if attempt >= MAX_SCANS && read_in_full {
                tracing::info!(instance = %instance.id, "files kept rotating during the scan; sizes are taken from the reads");
                for item in &mut scan.identified {
                    item.listed = false;
                }
                // Not shipped or tracked on a head that may be a splice; the
                // next run reads it again.
                scan.identified.retain(|i| i.whole || cp.state.files.contains_key(&i.id));
                return Ok(scan);
            }
            if !steady {
                tracing::info!(instance = %instance.id, attempt, "files rotated during the scan; scanning again");
            }
            shortcuts = false;
            listing = last;
        }
    }

    /// Identifies every listed file, newest first, and returns the last
    /// listing it took. With `shortcuts`, a name whose listing matches a
    /// complete file of the checkpoint (same name, size and write time) is
    /// taken as that file unread — on MariaDB only once the active file is
    /// read and found to be the one the checkpoint last saw growing (no
    /// rotation since, so every rotated name still holds what it held).
    ///
    /// A rotation during the scan pushes files to names past the end of the
    /// listing (`.N` becomes `.N+1`), so the instance is listed again and any
    /// new names are identified too, until no new name appears.
    async fn identify_all(
        &self,
        instance: &Instance,
        cp: &StoredCheckpoint,
        files: Vec<LogFile>,
        shortcuts: bool,
    ) -> Result<(Scan, Vec<LogFile>), Stop> {
        let mut scan = Scan {
            identified: Vec::new(),
            unread: 0,
            known_complete: Vec::new(),
            present: HashSet::new(),
            unnamed: Vec::new(),
            complete: true,
            steady: false,
            listed_then_gone: Vec::new(),
            seen_then_gone: Vec::new(),
        };
        let mut seen_names: HashSet<String> = HashSet::new();
        let flags = list::active_flags(&files);
        let rotated_unchanged = rotated_files_as_recorded(cp, &files);
        let mut batch: Vec<(LogFile, bool)> = files.into_iter().zip(flags).collect();
        // MariaDB names are reused by every rotation: until the active file
        // proves none happened, no listing vouches for a rotated name.
        let mut names_steady = false;
        let first_listing: Vec<LogFile> = batch.iter().map(|(f, _)| f.clone()).collect();
        for relisting in 0..MAX_RELISTINGS {
            let mut read_any = false;
            for (file, active) in batch {
                seen_names.insert(file.name.clone());
                let vouched = shortcuts
                    && match file.kind {
                        AuditName::Aurora { .. } => true,
                        _ => names_steady,
                    };
                if let Some(id) = known_complete(cp, &file).filter(|_| vouched) {
                    scan.present.insert(id.clone());
                    scan.known_complete.push((file, id));
                    continue;
                }
                let listing_vouches = shortcuts && (vouched || file.kind == AuditName::MariaDbActive);
                if let Some(item) = tracked_by_listing(cp, &file, active, rotated_unchanged).filter(|_| listing_vouches)
                {
                    // Taken as the file the checkpoint saw, unread: idle,
                    // or to be read from its shipped offset on.
                    if file.kind == AuditName::MariaDbActive {
                        names_steady = true;
                    }
                    scan.present.insert(item.id.clone());
                    scan.identified.push(item);
                    scan.unread += 1;
                    continue;
                }
                read_any = true;
                match self.read_head(instance, &file).await {
                    Ok(Head::Line(fingerprint, whole, _)) => {
                        let id = fingerprint.file_id();
                        if file.kind == AuditName::MariaDbActive {
                            names_steady = still_growing(cp, &fingerprint, file.size);
                        }
                        scan.present.insert(id.clone());
                        // Two files with one first line are told apart below.
                        scan.identified.push(Identified {
                            file,
                            active,
                            fingerprint,
                            id,
                            identity: None,
                            listed: true,
                            whole,
                            scanned_with: Arc::from(Vec::new()),
                        });
                    }
                    Ok(Head::Partial(bytes)) => {
                        tracing::debug!(instance = %instance.id, file = %file.name, "no complete first line yet");
                        scan.unnamed.retain(|(f, _, _)| f.name != file.name);
                        scan.unnamed.push((file, active, bytes));
                    }
                    // Renamed away between listing and reading: it is under
                    // a later name, which the next listing shows.
                    Err(FetchError::Gone) => {
                        seen_names.remove(&file.name);
                    }
                    Err(FetchError::Failed(f)) => return Err(f.into()),
                }
            }
            if relisting == 0 && !read_any && !first_listing.is_empty() {
                // Every file was known from the listing alone: nothing
                // was read after it, so no rotation can have come between
                // the listing and a read. It is the scan's last listing.
                // (An empty listing is asked again: one empty answer never
                // stands for a whole scan.)
                return Ok((scan, first_listing));
            }
            let relisted = self.relist(instance, "they were identified").await?;
            let flags = list::active_flags(&relisted);
            batch = relisted.iter().cloned().zip(flags).filter(|(f, _)| !seen_names.contains(&f.name)).collect();
            if batch.is_empty() {
                return Ok((scan, relisted));
            }
            tracing::info!(instance = %instance.id, new_names = batch.len(), "files rotated during the scan; identifying the new names");
        }
        scan.complete = false;
        let last = self.relist(instance, "they were identified").await?;
        Ok((scan, last))
    }

    /// Whether a name holds the file that `head` describes now.
    pub async fn holds(&self, instance: &Instance, file: &LogFile, head: &HeadCheck) -> Result<bool, FetchError> {
        self.read_from_start(instance, file, "head", |stream| {
            let head = head.clone();
            Box::pin(async move { head.matches(stream).await })
        })
        .await
    }

    /// Reads the head of a file: its fingerprint, or the bytes it has.
    pub(crate) async fn read_head(&self, instance: &Instance, file: &LogFile) -> Result<Head, FetchError> {
        self.read_from_start(instance, file, "head", |stream| {
            Box::pin(async move {
                let head = stream.peek_head(IDENTITY_PREFIX_MAX).await?;
                let whole = stream.body_chunks() == 1;
                Ok(match identity_prefix(&head) {
                    Some(prefix) => Head::Line(Fingerprint::of_prefix(prefix), whole, head.clone()),
                    None => Head::Partial(head),
                })
            })
        })
        .await
    }

    /// Opens a file and reads its start with `read`, opening it again when
    /// a read breaks off (the open itself retries inside the fetcher).
    /// `part` names what is read, for the retry messages. The read hangs
    /// up once `read` has what it needs (the stream is dropped).
    pub(super) async fn read_from_start<T>(
        &self,
        instance: &Instance,
        file: &LogFile,
        part: &str,
        mut read: impl for<'s> FnMut(&'s mut LogStream) -> BoxFuture<'s, Result<T, Failure>>,
    ) -> Result<T, FetchError> {
        let what = format!("reading the {part} of {}/{}", instance.id, file.name);
        let mut retry = Retry::new(what, self.cfg.max_attempts);
        loop {
            // Bounded like every download: abandoned at the time limit or on
            // a signal, and not tried again then.
            let opened = self.source.open(&instance.id, &file.name, Span::Head).await?;
            let mut stream = opened.cancelled_by(self.stop.clone()).until(self.deadline);
            match read(&mut stream).await {
                Ok(value) => return Ok(value),
                Err(f) if self.try_again(&mut retry, &f).await => {}
                Err(f) => return Err(f.into()),
            }
        }
    }
}

/// Files that listings of this pass showed with bytes and that no file in
/// the last listing can be (a rotated file never changes; a growing one
/// only grows; Aurora names are never reused): deleted before they could
/// be read. (Whether the checkpoint tracks them is the ledger's question.)
fn listed_then_gone(listings: &[Vec<LogFile>], last: &[LogFile]) -> Vec<LogFile> {
    let mut gone: Vec<LogFile> = Vec::new();
    for f in listings.iter().flatten().filter(|f| f.size > 0) {
        let same = |l: &LogFile| l.size == f.size && l.last_written_ms == f.last_written_ms;
        let still = match f.kind {
            AuditName::MariaDbRotated(_) => last.iter().any(same),
            AuditName::MariaDbActive => last.iter().any(|l| {
                !matches!(l.kind, AuditName::Aurora { .. })
                    && l.size >= f.size
                    && l.last_written_ms >= f.last_written_ms
            }),
            AuditName::Aurora { .. } => last.iter().any(|l| l.name == f.name),
        };
        if !still && !gone.iter().any(same) {
            gone.push(f.clone());
        }
    }
    gone
}

/// The complete file the checkpoint last saw under this name, size and
/// write time.
fn known_complete(cp: &StoredCheckpoint, file: &LogFile) -> Option<FileId> {
    cp.state.files.iter().find(|(_, p)| p.complete() && recorded_as(p, file)).map(|(id, _)| id.clone())
}

/// Whether the checkpoint entry was last seen under this listing's name,
/// size and write time.
fn recorded_as(p: &FileProgress, file: &LogFile) -> bool {
    p.last_name == file.name && p.last_size == file.size && p.last_written_ms == file.last_written_ms
}

/// The growing file the checkpoint tracks under this name, when the
/// listing alone shows that the name still holds it, so that it needs no
/// head read (a range read from its shipped offset, or nothing if it has
/// nothing new). Aurora names are never reused: a name listed no smaller
/// and no older is the file. A MariaDB rotation puts a file written later
/// under the active name and moves every rotated file one name on, so the
/// active file is the one tracked if its listing is the one recorded
/// (idle), or if it grew while every rotated name still lists as recorded
/// (`rotated_unchanged`: no rotation since). A rotated name, once the
/// active file showed no rotation happened, is the file recorded under
/// it if it lists the same. Files told apart from others with their first
/// line by their bytes are always read.
fn tracked_by_listing(
    cp: &StoredCheckpoint,
    file: &LogFile,
    active: bool,
    rotated_unchanged: bool,
) -> Option<Identified> {
    let fits = |p: &FileProgress| {
        let same = recorded_as(p, file);
        let grown = p.last_name == file.name && file.size >= p.last_size && file.last_written_ms >= p.last_written_ms;
        let listing_says = match file.kind {
            AuditName::Aurora { .. } => grown,
            AuditName::MariaDbActive => (same && p.shipped >= file.size) || (grown && rotated_unchanged),
            _ => same,
        };
        // A rotated file recorded as such is vouched for only unchanged.
        let open_or_same = !p.closed || (!active && same);
        open_or_same && p.identity.is_none() && listing_says
    };
    let mut matching = cp.state.files.iter().filter(|(_, p)| fits(p));
    let (id, p) = matching.next()?;
    if matching.next().is_some() || file.size == 0 {
        return None;
    }
    Some(Identified {
        file: file.clone(),
        active,
        fingerprint: Fingerprint { sha256: p.fingerprint.clone(), first_record: id.first_record_time() },
        id: id.clone(),
        identity: None,
        listed: true,
        whole: true,
        scanned_with: Arc::from(Vec::new()),
    })
}

/// Whether every rotated MariaDB file listed is one the checkpoint
/// recorded under that name, size and write time: no rotation since, as a
/// rotation gives `.1` the size and write time the active file had, and a
/// tracked active file has bytes, so `.1` is listed after any rotation.
/// (With no rotated file listed, none happened. Should recorded files be
/// gone, the loss that would follow is concluded only from a scan that
/// reads every file.)
fn rotated_files_as_recorded(cp: &StoredCheckpoint, listing: &[LogFile]) -> bool {
    let mut rotated = listing.iter().filter(|f| matches!(f.kind, AuditName::MariaDbRotated(_)));
    rotated.all(|f| cp.state.files.values().any(|p| recorded_as(p, f)))
}

/// Whether the active file just read is the one the checkpoint last saw
/// growing under the active name, no shorter: then no rotation happened
/// since, and every rotated name holds what it held then. (A file with its
/// first line under another key is one told apart from a namesake.)
fn still_growing(cp: &StoredCheckpoint, fingerprint: &Fingerprint, listed_size: u64) -> bool {
    cp.state.files.values().any(|p| {
        !p.closed
            && p.fingerprint == fingerprint.sha256
            && p.last_name == "audit/server_audit.log"
            && listed_size >= p.last_size
    })
}

/// Whether two listings, `before` and `after`, show no MariaDB rotation
/// between them: the same names, every rotated file unchanged, the active
/// file no smaller. A rotation renames the active file to `.1`, which then
/// has the old active file's size and write time, not those of the file
/// that was `.1`. Aurora names are never reused, so their listings always
/// describe the same files.
pub(super) fn no_rotation_between(before: &[LogFile], after: &[LogFile]) -> bool {
    let maria = |files: &[LogFile]| -> Vec<LogFile> {
        files.iter().filter(|f| !matches!(f.kind, AuditName::Aurora { .. })).cloned().collect()
    };
    let (before, after) = (maria(before), maria(after));
    before.len() == after.len()
        && before.iter().all(|b| {
            after.iter().any(|a| {
                a.name == b.name
                    && match b.kind {
                        AuditName::MariaDbActive => a.size >= b.size,
                        _ => a.size == b.size && a.last_written_ms == b.last_written_ms,
                    }
            })
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(name: &str, size: u64, written: i64) -> LogFile {
        LogFile { name: name.into(), size, last_written_ms: written, kind: AuditName::parse(name).unwrap() }
    }

    #[test]
    fn a_rotation_shows_between_two_listings() {
        let before = [file("audit/server_audit.log", 50, 9), file("audit/server_audit.log.1", 100, 5)];
        let grown = [file("audit/server_audit.log", 70, 11), file("audit/server_audit.log.1", 100, 5)];
        assert!(no_rotation_between(&before, &grown));
        // The active file became .1, a new one began: .1 changed.
        let rotated = [file("audit/server_audit.log", 80, 12), file("audit/server_audit.log.1", 60, 10)];
        assert!(!no_rotation_between(&before, &rotated));
        // A rotation that added a name.
        let more = [
            file("audit/server_audit.log", 0, 12),
            file("audit/server_audit.log.1", 60, 10),
            file("audit/server_audit.log.2", 100, 5),
        ];
        assert!(!no_rotation_between(&before, &more));
    }
}
