//! Checkpoint: how far each of an instance's files has been shipped.
//!
//! One JSON object per instance at `{prefix}/_state/{DbiResourceId}.json`.
//! Nothing outside this module writes it. It only ever records bytes whose
//! objects S3 has confirmed, and it is replaced with `If-Match` on its ETag:
//! when another run got there first, the two states are merged (each file's
//! furthest confirmed offset wins) and the swap is tried again.

use crate::error::Failure;
use crate::evidence::digest::{FileFacts, Link, Listed};
use crate::identify::{FileId, Identity};
use crate::instance::Instance;
use crate::run_id::RunId;
use crate::store::{ObjectStore, Swapped};
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// The newest checkpoint layout this version reads: 2 has a digest ledger,
/// 3 objects in it to list again (`DigestLedger::relisted`).
pub const FORMAT: u32 = 3;
/// The layout written while the ledger has nothing to list again, which
/// versions since digests began read.
const FORMAT_WITHOUT_RELISTED: u32 = 2;
/// The layout written while there is no digest ledger, which every
/// version since the first reads.
const FORMAT_WITHOUT_DIGESTS: u32 = 1;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Checkpoint {
    pub format: u32,
    pub dbi_resource_id: String,
    pub instance_id: String,
    pub updated_at: Option<DateTime<Utc>>,
    pub writer_version: String,
    #[serde(default)]
    pub files: BTreeMap<FileId, FileProgress>,
    /// Losses already reported (exit 3) — kept for `status`/`verify` and
    /// so one loss pages once.
    #[serde(default)]
    pub gaps: Vec<Gap>,
    /// Files seen without a complete first line, until settled.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unnamed: Vec<UnnamedFile>,
    /// Losses of instances this identifier stood for before (replaced),
    /// that a pass of this one reported: written in the pass's last commit,
    /// so "reported" never runs ahead of the report. A later run marks
    /// them in the old checkpoint. See `pipeline::ledger`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub paged_for_replaced: Vec<PagedLoss>,
    /// Objects confirmed but not yet in a digest, and where the digest
    /// chain stands (see `evidence`). Only with digests on.
    #[serde(default, skip_serializing_if = "DigestLedger::is_empty")]
    pub digests: DigestLedger,
    /// Raw objects landed whose events (`--events`) are not derived yet:
    /// recorded in the write that moves their file's offset past them and
    /// dropped once their events are written, so a run killed in between
    /// leaves them to the next run.
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub events_pending: BTreeSet<String>,
    /// The scheduled runs derive this instance's events (`run --events`):
    /// a backfill without `--events` still records what it ships in
    /// `events_pending`, for the next run to derive. A `run` without
    /// `--events` turns this off.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub events: bool,
}

/// What the next digests must list, and the chain's newest digest. Every
/// object S3 confirms is recorded here in the same write that moves its
/// file's offset past it, so no object can be shipped and never listed.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DigestLedger {
    /// When digests began for this instance: the chain's first period is
    /// the one holding this time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    /// The chain's period length, fixed when it began.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub period_seconds: Option<u64>,
    /// The chain's newest digest.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub head: Option<Link>,
    /// Per file: its objects ending at or before this offset are listed
    /// in a digest.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub listed_to: BTreeMap<FileId, u64>,
    /// Confirmed objects in no digest yet, by file id and start.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<Listed>,
    /// Files whose final size a digest recorded (kept while the checkpoint
    /// tracks the file, so the size is recorded once).
    #[serde(default, skip_serializing_if = "BTreeSet::is_empty")]
    pub sized: BTreeSet<FileId>,
    /// Confirmed objects to list again where a digest listed their place
    /// already (below `listed_to`, which does not drop them): one created
    /// where a listed object is gone (a backfill filling the hole), and
    /// each one a backfill walked and checked against the file's bytes.
    /// By key; its facts are the newest write's.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub relisted: Vec<Listed>,
}

impl DigestLedger {
    pub fn is_empty(&self) -> bool {
        self.since.is_none()
            && self.period_seconds.is_none()
            && self.head.is_none()
            && self.listed_to.is_empty()
            && self.pending.is_empty()
            && self.sized.is_empty()
            && self.relisted.is_empty()
    }

    /// Whether a digest has nothing more to record of a complete file:
    /// none of its objects is pending, and its final size is recorded or
    /// never will be (its start was shipped before the chain began). Until
    /// then it stays tracked, so the digest that lists its end can say
    /// where it ended.
    pub fn done_with(&self, id: &FileId, final_size: u64) -> bool {
        let pending = self.awaiting().any(|l| l.file_id == id.0);
        let size_due = self.listed_to.get(id) == Some(&final_size) && !self.sized.contains(id);
        self.since.is_none() || !(pending || size_due)
    }

    /// Every object the next digests must list: pending and relisted.
    pub fn awaiting(&self) -> impl Iterator<Item = &Listed> {
        self.pending.iter().chain(&self.relisted)
    }

    /// Records a confirmed object, unless a digest lists it already.
    pub fn record(&mut self, listed: Listed) {
        if self.is_listed(&listed) {
            return;
        }
        self.add_pending(listed);
    }

    /// Records a confirmed object for the next digest even where a digest
    /// listed its place already: an object created there fills a hole
    /// (what was listed is gone), and one a backfill checked against the
    /// file is attested again. Verify checks every listing of a key, so
    /// one listed with other bytes than before is named replaced.
    pub fn record_again(&mut self, listed: Listed) {
        match self.is_listed(&listed) {
            true => add_by_key(&mut self.relisted, listed),
            false => self.add_pending(listed),
        }
    }

    fn add_pending(&mut self, listed: Listed) {
        add_by_key(&mut self.pending, listed);
    }

    fn is_listed(&self, l: &Listed) -> bool {
        self.listed_to.get(&FileId(l.file_id.clone())).is_some_and(|to| l.end <= *to)
    }

    /// What a sealed digest listed is no longer pending, and it is the
    /// chain's head.
    pub fn sealed(&mut self, objects: &[Listed], files: &[FileFacts], link: Link) {
        for l in objects {
            let to = self.listed_to.entry(FileId(l.file_id.clone())).or_default();
            *to = (*to).max(l.end);
        }
        self.sized.extend(files.iter().filter(|f| f.final_size.is_some()).map(|f| FileId(f.file_id.clone())));
        self.pending.retain(|p| !objects.iter().any(|o| o.key == p.key));
        self.relisted.retain(|r| !objects.iter().any(|o| o.key == r.key));
        self.drop_listed();
        self.head = Some(link);
    }

    /// Pending objects a digest lists already (below their file's
    /// `listed_to`) are pending no more.
    fn drop_listed(&mut self) {
        let listed_to = &self.listed_to;
        self.pending.retain(|p| listed_to.get(&FileId(p.file_id.clone())).is_none_or(|to| p.end > *to));
    }

    /// Folds another writer's ledger in: the later head, each file's
    /// furthest listed offset, and every pending object no digest lists.
    pub fn merge(&mut self, other: &DigestLedger) {
        self.since = match (self.since, other.since) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        self.period_seconds = match (self.period_seconds, other.period_seconds) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        };
        let later = |l: &Link| (l.period_end, l.sha256.clone());
        if other.head.as_ref().map(later) > self.head.as_ref().map(later) {
            self.head = other.head.clone();
        }
        for (id, to) in &other.listed_to {
            let mine = self.listed_to.entry(id.clone()).or_default();
            *mine = (*mine).max(*to);
        }
        for l in &other.pending {
            self.add_pending(l.clone());
        }
        // One a writer's digest listed since, ours lists once more: never
        // lost, and verify counts a listing repeated once.
        for l in &other.relisted {
            add_by_key(&mut self.relisted, l.clone());
        }
        self.sized.extend(other.sized.iter().cloned());
        self.drop_listed();
    }
}

/// Adds an object to a list by key, sorted. Records of one key keep the
/// earliest landing time and, should two writers have seen other bytes
/// there (deleted and put back between them), the greater facts: the same
/// in any order and grouping. Verify checks each listing against S3.
fn add_by_key(list: &mut Vec<Listed>, mut listed: Listed) {
    match list.iter_mut().find(|p| p.key == listed.key) {
        Some(p) => {
            let landed_at = p.landed_at.min(listed.landed_at);
            (p.landed_at, listed.landed_at) = (landed_at, landed_at);
            if listed > *p {
                *p = listed;
            }
        }
        None => list.push(listed),
    }
    list.sort();
}

/// A loss recorded in another resource id's checkpoint, by its key there.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct PagedLoss {
    pub dbi_resource_id: String,
    pub file_id: FileId,
    pub unnamed: bool,
}

/// How far one file (by identity) has been shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProgress {
    /// Hex sha256 of the file's identity prefix.
    pub fingerprint: String,
    /// Bytes `[0, shipped)` are in confirmed objects.
    pub shipped: u64,
    /// Hex sha256 of the (up to 4 KiB of) bytes just before `shipped`: on
    /// the next read, proves the bytes at those offsets are still the same.
    pub tail_sha256: String,
    pub last_name: String,
    pub last_size: u64,
    pub last_written_ms: i64,
    /// Rotated: the file can no longer grow.
    pub closed: bool,
    /// What tells it apart from other files with the same first line
    /// (`None`: no other file seen shares it). See `identify::tell_apart`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity: Option<Identity>,
}

/// A file a scan saw without a complete first line, so without an id to
/// track it by: where it stood (the named file just older than it, on its
/// Aurora stripe), its name then, and its bytes so far (fewer than the
/// identity prefix) by length and hash. Kept until a later scan finds it
/// named or finds it gone (then it is a loss). See `pipeline::ledger`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UnnamedFile {
    pub name: String,
    pub after: Option<FileId>,
    /// Files between `after` and it (rotated while empty, so unnamed too).
    #[serde(default)]
    pub between: u32,
    /// When the file just older than it is one rotated while empty (no
    /// name, but its LastWritten, the time it was begun, tells it apart):
    /// that time, in place of `after` and `between`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_empty_written_ms: Option<i64>,
    pub head_len: u64,
    pub head_sha256: String,
    /// Its LastWritten in a listing no rotation overtook. While a file is
    /// empty this is its creation time, so it tells two empty files apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_written_ms: Option<i64>,
    pub seen_at: DateTime<Utc>,
    /// Found named, or found gone and recorded as a loss.
    #[serde(default)]
    pub settled: bool,
}

impl UnnamedFile {
    /// One unnamed file is one position in the order of files.
    pub fn same_file(&self, other: &UnnamedFile) -> bool {
        self.name == other.name
            && self.after == other.after
            && self.between == other.between
            && self.after_empty_written_ms == other.after_empty_written_ms
    }
}

impl FileProgress {
    /// Closed and every byte shipped: nothing will ever be left to do.
    pub fn complete(&self) -> bool {
        self.closed && self.shipped >= self.last_size
    }
}

/// Bytes that were lost before they could be shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Gap {
    pub file_id: FileId,
    pub last_name: String,
    /// Bytes `[0, shipped)` are in S3.
    pub shipped: u64,
    /// The file's size when it was last listed.
    pub last_size: u64,
    pub detected_at: DateTime<Utc>,
    /// Still being written when last seen: bytes written after the last
    /// listing were lost too, and how many is unknowable.
    #[serde(default)]
    pub growing: bool,
    /// A run that finished has exited 3 for it. Until then every run
    /// reports it again (a run killed after recording a loss must not
    /// swallow the page). Losses recorded before this field were reported.
    #[serde(default = "reported_before_this_field")]
    pub reported: bool,
    /// Not the file `file_id` itself but a file that had no complete first
    /// line when last seen (`UnnamedFile`), begun right after `file_id`
    /// (after no named file: `file_id` is `{seen}-00000000`); `shipped` is
    /// 0, `last_size` its bytes when last seen.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unnamed: bool,
    /// The loss could not be decided: the file may still be on the
    /// instance (see `pipeline::ledger`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub uncertain: bool,
    /// The run that recorded it (absent in losses recorded before runs
    /// had ids): its logs say what it saw.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_by: Option<RunId>,
    /// The finished run that exited 3 for it, paging someone.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reported_by: Option<RunId>,
}

fn reported_before_this_field() -> bool {
    true
}

impl Checkpoint {
    pub fn empty(instance: &Instance) -> Self {
        Checkpoint {
            format: FORMAT,
            dbi_resource_id: instance.resource_id.0.clone(),
            instance_id: instance.id.0.clone(),
            updated_at: None,
            writer_version: env!("CARGO_PKG_VERSION").to_string(),
            files: BTreeMap::new(),
            gaps: Vec::new(),
            unnamed: Vec::new(),
            paged_for_replaced: Vec::new(),
            digests: DigestLedger::default(),
            events_pending: BTreeSet::new(),
            events: false,
        }
    }

    /// Parses a stored checkpoint, refusing what this version cannot read
    /// safely: it is never overwritten blindly.
    pub fn parse(bytes: &[u8], location: &str, instance: &Instance) -> Result<Self, Failure> {
        #[derive(Deserialize)]
        struct Probe {
            format: u32,
        }
        let probe: Probe = serde_json::from_slice(bytes).map_err(|e| corrupt(location, &e.to_string()))?;
        if probe.format > FORMAT {
            return Err(Failure::needs_person(format!(
                "checkpoint {location} has format {} but this auditship ({}) reads format {FORMAT}: upgrade auditship",
                probe.format,
                env!("CARGO_PKG_VERSION")
            )));
        }
        let mut cp: Checkpoint = serde_json::from_slice(bytes).map_err(|e| corrupt(location, &e.to_string()))?;
        let ids = cp.files.keys().chain(cp.gaps.iter().map(|g| &g.file_id));
        if let Some(bad) = ids.into_iter().find(|id| !id.is_well_formed()) {
            return Err(corrupt(location, &format!("'{bad}' is not a file id (YYYYMMDDTHHMMSSZ-xxxxxxxx)")));
        }
        // A file reported lost is done with, as `merge` has it, even if a
        // hand-edited checkpoint still tracks it.
        let lost: Vec<FileId> = cp.gaps.iter().filter(|g| !g.unnamed).map(|g| g.file_id.clone()).collect();
        cp.files.retain(|id, _| !lost.contains(id));
        if cp.dbi_resource_id != instance.resource_id.0 {
            return Err(corrupt(
                location,
                &format!("it belongs to {}, not {}", cp.dbi_resource_id, instance.resource_id),
            ));
        }
        Ok(cp)
    }

    /// Tracked files with bytes not yet shipped that are no longer among
    /// the files on the instance (`present`): lost.
    pub fn unshipped_and_gone(&self, present: &std::collections::HashSet<FileId>) -> Vec<(FileId, FileProgress)> {
        self.files
            .iter()
            .filter(|(id, p)| !p.complete() && !present.contains(*id))
            .map(|(id, p)| (id.clone(), p.clone()))
            .collect()
    }

    /// Whether another writer's state already records all this one does:
    /// files, losses, files without a first line, losses paged for a
    /// replaced instance, digests and events due. Only when a file without
    /// a first line was last seen may differ: the next scan sees it again.
    pub fn records_the_same_as(&self, other: &Checkpoint) -> bool {
        let unnamed = |cp: &Checkpoint| -> Vec<UnnamedFile> {
            cp.unnamed.iter().map(|u| UnnamedFile { seen_at: DateTime::<Utc>::UNIX_EPOCH, ..u.clone() }).collect()
        };
        self.files == other.files
            && self.gaps == other.gaps
            && unnamed(self) == unnamed(other)
            && self.paged_for_replaced == other.paged_for_replaced
            && self.digests == other.digests
            && self.events_pending == other.events_pending
            && self.events == other.events
    }

    /// Folds another writer's confirmed state into this one. Both only hold
    /// confirmed bytes, so for each file the furthest offset is true.
    pub fn merge(&mut self, other: &Checkpoint) {
        for (id, theirs) in &other.files {
            if let Some(ours) = self.files.get_mut(id) {
                ours.identity = stronger_identity(ours.identity.take(), theirs.identity.clone());
            }
            match self.files.get_mut(id) {
                Some(ours) if ours.shipped >= theirs.shipped => {
                    ours.closed |= theirs.closed && ours.shipped == theirs.shipped;
                    ours.last_size = ours.last_size.max(theirs.last_size);
                }
                Some(ours) => {
                    let closed = theirs.closed || ours.closed;
                    let size = ours.last_size.max(theirs.last_size);
                    let identity = ours.identity.take();
                    *ours = theirs.clone();
                    ours.closed = closed;
                    ours.last_size = size;
                    ours.identity = identity;
                }
                None => {
                    self.files.insert(id.clone(), theirs.clone());
                }
            }
        }
        for g in &other.gaps {
            match self.gaps.iter_mut().find(|mine| mine.file_id == g.file_id && mine.unnamed == g.unnamed) {
                Some(mine) => {
                    mine.reported |= g.reported;
                    // Of the finished runs that paged for it, the one that
                    // began first (ids begin with their start time).
                    mine.reported_by = match (mine.reported_by.take(), &g.reported_by) {
                        (Some(a), Some(b)) => Some(a.min(b.clone())),
                        (a, b) => a.or(b.clone()),
                    };
                }
                None => self.gaps.push(g.clone()),
            }
        }
        for u in &other.unnamed {
            match self.unnamed.iter_mut().find(|mine| mine.same_file(u)) {
                Some(mine) => {
                    mine.settled |= u.settled;
                    if u.head_len > mine.head_len {
                        mine.head_len = u.head_len;
                        mine.head_sha256 = u.head_sha256.clone();
                    }
                    mine.seen_at = mine.seen_at.max(u.seen_at);
                }
                None => self.unnamed.push(u.clone()),
            }
        }
        self.unnamed.sort_by(|a, b| (&a.name, &a.after, a.between).cmp(&(&b.name, &b.after, b.between)));
        for p in &other.paged_for_replaced {
            if !self.paged_for_replaced.contains(p) {
                self.paged_for_replaced.push(p.clone());
            }
        }
        self.paged_for_replaced.sort();
        self.digests.merge(&other.digests);
        // Ours and theirs: an object whose events one writer derived since
        // may come back, and is derived again (its event files exist: a
        // repeat writes nothing), never lost.
        self.events_pending.extend(other.events_pending.iter().cloned());
        self.events |= other.events;
        // A file reported lost is done with: it is not tracked again.
        let lost: Vec<FileId> = self.gaps.iter().filter(|g| !g.unnamed).map(|g| g.file_id.clone()).collect();
        self.files.retain(|id, _| !lost.contains(id));
        self.gaps.sort_by(|a, b| {
            a.detected_at.cmp(&b.detected_at).then(a.file_id.cmp(&b.file_id)).then(a.unnamed.cmp(&b.unnamed))
        });
    }
}

/// Of two writers' identities for one file, the one that tells it apart
/// from more: a file's exact bytes, else the longer start (both are starts
/// of the same file, so the longer one implies the shorter).
pub(crate) fn stronger_identity(a: Option<Identity>, b: Option<Identity>) -> Option<Identity> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if (b.exact, b.len) > (a.exact, a.len) { b } else { a }),
        (a, b) => a.or(b),
    }
}

/// 0–99 ms, from what this writer holds and the attempt: writers in step
/// hold different progress, so they wait different times; and the same
/// writer in the same state waits the same, which keeps the simulation
/// reproducible from its seed.
fn jitter(state: &Checkpoint, attempt: u32) -> std::time::Duration {
    use sha2::{Digest, Sha256};
    let files = serde_json::to_vec(&(&state.files, &state.gaps)).expect("checkpoint serializes");
    let digest = Sha256::new().chain_update(&files).chain_update(attempt.to_le_bytes()).finalize();
    std::time::Duration::from_millis(u64::from(u16::from_le_bytes([digest[0], digest[1]]) % 100))
}

fn corrupt(location: &str, why: &str) -> Failure {
    Failure::needs_person(format!(
        "checkpoint {location} is unreadable ({why}): restore an earlier version of it, or move it aside to re-ship \
         from the oldest file on the instance (objects already in S3 are verified, not duplicated)"
    ))
}

/// A checkpoint with the ETag it was read at (`None`: not yet stored).
#[derive(Debug, Clone)]
pub struct StoredCheckpoint {
    pub key: String,
    pub etag: Option<String>,
    pub state: Checkpoint,
}

/// Reads the instance's checkpoint, or starts an empty one.
pub async fn load(store: &dyn ObjectStore, key: &str, instance: &Instance) -> Result<StoredCheckpoint, Failure> {
    let location = store.location(key);
    match store.get_small(key).await? {
        None => Ok(StoredCheckpoint { key: key.to_string(), etag: None, state: Checkpoint::empty(instance) }),
        Some((bytes, etag)) => Ok(StoredCheckpoint {
            key: key.to_string(),
            etag: Some(etag),
            state: Checkpoint::parse(&bytes, &location, instance)?,
        }),
    }
}

/// How many times a commit re-reads and merges before giving up (transient).
const MAX_SWAPS: u32 = 16;

/// Stores the checkpoint with compare-and-swap, merging in whatever another
/// writer stored meanwhile.
pub async fn commit(store: &dyn ObjectStore, cp: &mut StoredCheckpoint, instance: &Instance) -> Result<(), Failure> {
    for attempt in 0..MAX_SWAPS {
        cp.state.updated_at = Some(Utc::now());
        cp.state.writer_version = env!("CARGO_PKG_VERSION").to_string();
        // A version that cannot read the ledger would drop it on its next
        // write: it refuses a checkpoint that has one instead.
        cp.state.format = match &cp.state.digests {
            d if d.is_empty() => FORMAT_WITHOUT_DIGESTS,
            d if d.relisted.is_empty() => FORMAT_WITHOUT_RELISTED,
            _ => FORMAT,
        };
        let body = serde_json::to_vec_pretty(&cp.state).expect("checkpoint serializes");
        match store.swap(&cp.key, body, cp.etag.as_deref()).await? {
            Swapped::Yes { etag } => {
                cp.etag = Some(etag);
                return Ok(());
            }
            Swapped::Conflict => {
                let theirs = load(store, &cp.key, instance).await?;
                cp.state.merge(&theirs.state);
                cp.etag = theirs.etag.clone();
                if cp.state.records_the_same_as(&theirs.state) {
                    // The other writer already recorded all of this (an
                    // overlapping run shipping the same bytes): done.
                    cp.state = theirs.state;
                    return Ok(());
                }
                // Writers in step keep colliding; a little random delay
                // lets one through.
                tokio::time::sleep(jitter(&cp.state, attempt)).await;
            }
        }
    }
    Err(Failure::transient(format!(
        "checkpoint {} kept changing under this run ({MAX_SWAPS} attempts): another writer is busy; the next run retries",
        store.location(&cp.key)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn instance() -> Instance {
        Instance::for_tests("db-RES")
    }

    /// A well-formed file id, distinct per `n`.
    fn fid(n: u8) -> FileId {
        FileId(format!("20261121T2239{:02}Z-0000{n:04x}", n % 60))
    }

    fn progress(shipped: u64, size: u64, closed: bool) -> FileProgress {
        FileProgress {
            fingerprint: "f".into(),
            shipped,
            tail_sha256: format!("tail-{shipped}"),
            last_name: "audit/server_audit.log".into(),
            last_size: size,
            last_written_ms: 0,
            closed,
            identity: None,
        }
    }

    #[test]
    fn round_trips_as_json() {
        let mut cp = Checkpoint::empty(&instance());
        cp.files.insert(fid(1), progress(5, 10, false));
        let bytes = serde_json::to_vec(&cp).unwrap();
        assert_eq!(Checkpoint::parse(&bytes, "loc", &instance()).unwrap(), cp);
    }

    #[test]
    fn corrupt_checkpoint_needs_a_person_and_names_it() {
        let err = Checkpoint::parse(b"{\"format\": 1, \"files\": [", "s3://b/k", &instance()).unwrap_err();
        assert_eq!(err.kind, crate::error::FailureKind::NeedsPerson);
        assert!(err.message.contains("s3://b/k"), "{}", err.message);
    }

    #[test]
    fn malformed_file_ids_are_refused_not_sliced() {
        let mut cp = Checkpoint::empty(&instance());
        cp.files.insert(FileId("x".into()), progress(5, 10, false));
        let err = Checkpoint::parse(&serde_json::to_vec(&cp).unwrap(), "s3://b/k", &instance()).unwrap_err();
        assert!(err.message.contains("'x' is not a file id"), "{}", err.message);
    }

    #[test]
    fn a_file_both_tracked_and_reported_lost_is_lost() {
        // Found by the checkpoint fuzz target: such a state did not merge
        // with itself to itself.
        let bytes = include_bytes!("../tests/fuzz/corpus/checkpoint/tracked-and-lost.json");
        let cp = Checkpoint::parse(bytes, "loc", &instance()).unwrap();
        assert!(cp.files.is_empty());
        assert_eq!(cp.gaps.len(), 1);
        let mut merged = cp.clone();
        merged.merge(&cp);
        assert_eq!(merged, cp);
    }

    #[test]
    fn newer_format_is_refused() {
        let err = Checkpoint::parse(b"{\"format\": 99}", "s3://b/k", &instance()).unwrap_err();
        assert!(err.message.contains("upgrade auditship"), "{}", err.message);
    }

    #[test]
    fn checkpoint_of_another_instance_is_refused() {
        let mut cp = Checkpoint::empty(&instance());
        cp.dbi_resource_id = "db-OTHER".into();
        let err = Checkpoint::parse(&serde_json::to_vec(&cp).unwrap(), "loc", &instance()).unwrap_err();
        assert!(err.message.contains("db-OTHER"), "{}", err.message);
    }

    #[test]
    fn merge_keeps_furthest_offset_and_tail() {
        let mut a = Checkpoint::empty(&instance());
        let mut b = Checkpoint::empty(&instance());
        a.files.insert(fid(2), progress(100, 100, false));
        b.files.insert(fid(2), progress(300, 300, true));
        b.files.insert(fid(3), progress(7, 9, false));
        a.merge(&b);
        assert_eq!(a.files[&fid(2)], progress(300, 300, true));
        assert_eq!(a.files[&fid(3)], progress(7, 9, false));
    }

    #[test]
    fn merge_keeps_the_identity_that_tells_a_file_apart_from_more() {
        let prefix = Identity { len: 80, sha256: "p".into(), exact: false };
        let exact = Identity { len: 200, sha256: "e".into(), exact: true };
        for (ours, theirs, shipped) in
            [(None, Some(&prefix), 5), (Some(&prefix), Some(&exact), 300), (Some(&exact), None, 5)]
        {
            let mut a = Checkpoint::empty(&instance());
            let mut b = Checkpoint::empty(&instance());
            a.files.insert(fid(2), FileProgress { identity: ours.cloned(), ..progress(100, 100, false) });
            b.files.insert(fid(2), FileProgress { identity: theirs.cloned(), ..progress(shipped, 300, true) });
            a.merge(&b);
            let want = if ours == Some(&exact) || theirs == Some(&exact) { &exact } else { &prefix };
            assert_eq!(a.files[&fid(2)].identity.as_ref(), Some(want), "{ours:?} + {theirs:?}");
        }
    }

    #[test]
    fn merge_drops_files_reported_lost() {
        let mut a = Checkpoint::empty(&instance());
        a.files.insert(fid(2), progress(10, 20, false));
        let mut b = Checkpoint::empty(&instance());
        b.gaps.push(Gap {
            file_id: fid(2),
            last_name: "n".into(),
            shipped: 10,
            last_size: 20,
            detected_at: Utc::now(),
            growing: false,
            reported: false,
            unnamed: false,
            uncertain: false,
            detected_by: None,
            reported_by: None,
        });
        a.merge(&b);
        assert!(a.files.is_empty());
        assert_eq!(a.gaps.len(), 1);
    }

    #[test]
    fn a_merged_loss_keeps_its_detecting_run_and_the_first_run_that_paged() {
        let run = |n: u32| Some(RunId(format!("20261206T2{n}0000Z-0000000{n}")));
        let lost = |detected: u32, reported: Option<u32>| {
            let mut cp = Checkpoint::empty(&instance());
            cp.gaps.push(Gap {
                reported: reported.is_some(),
                detected_by: run(detected),
                reported_by: reported.and_then(run),
                ..gap(2)
            });
            cp
        };
        for (ours, theirs, paged_by) in
            [(None, Some(3), 3), (Some(2), Some(3), 2), (Some(3), Some(2), 2), (Some(2), None, 2)]
        {
            let mut a = lost(1, ours);
            a.merge(&lost(1, theirs));
            assert_eq!(a.gaps.len(), 1);
            assert_eq!((a.gaps[0].reported, &a.gaps[0].reported_by), (true, &run(paged_by)), "{ours:?} + {theirs:?}");
            assert_eq!(a.gaps[0].detected_by, run(1));
        }
        let mut unreported = lost(1, None);
        unreported.merge(&lost(1, None));
        assert_eq!((unreported.gaps[0].reported, &unreported.gaps[0].reported_by), (false, &None));
    }

    /// A writer that lost the race to one that stored the same files,
    /// losses and ledger still stores what only it knew: a file seen
    /// without a first line (whose later disappearance is a loss) and a
    /// replaced instance's loss it paged for (else paged again).
    #[test]
    fn a_commit_that_lost_a_race_keeps_what_only_it_recorded() {
        let mut theirs = Checkpoint::empty(&instance());
        theirs.files.insert(fid(1), progress(10, 20, false));
        let mut ours = theirs.clone();
        ours.unnamed.push(UnnamedFile {
            name: "audit/server_audit.log".into(),
            after: Some(fid(1)),
            between: 0,
            after_empty_written_ms: None,
            head_len: 7,
            head_sha256: "ab".repeat(32),
            last_written_ms: Some(1),
            seen_at: Utc::now(),
            settled: false,
        });
        ours.paged_for_replaced.push(PagedLoss { dbi_resource_id: "db-OLD".into(), file_id: fid(3), unnamed: false });
        let store = crate::sim::store::MemStore::new();
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        let stored = rt.block_on(async {
            let body = serde_json::to_vec(&theirs).unwrap();
            assert!(matches!(store.swap("cp", body, None).await.unwrap(), Swapped::Yes { .. }));
            let mut mine = StoredCheckpoint { key: "cp".into(), etag: None, state: ours.clone() };
            commit(&store, &mut mine, &instance()).await.unwrap();
            load(&store, "cp", &instance()).await.unwrap().state
        });
        assert_eq!(stored.unnamed, ours.unnamed);
        assert_eq!(stored.paged_for_replaced, ours.paged_for_replaced);
        // When last seen is all that differs, the stored state is enough.
        let mut seen_later = stored.clone();
        seen_later.unnamed[0].seen_at += chrono::Duration::seconds(60);
        assert!(seen_later.records_the_same_as(&stored));
    }

    /// An object created where a digest listed one that is gone (a
    /// backfill filling the hole) waits for the next digest: neither the
    /// listed offset nor a merge drops it, and the digest that lists it
    /// ends its wait.
    #[test]
    fn an_object_recorded_again_below_the_listed_offset_waits_for_the_next_digest() {
        let object = |start: u64, end: u64| Listed {
            file_id: fid(1).0,
            start,
            end,
            key: format!("k/{start:020}"),
            sha256: "00".repeat(32),
            lines: 1,
            source_file: "server_audit.log".into(),
            landed_at: chrono::DateTime::<Utc>::UNIX_EPOCH,
            first_record: None,
            last_record: None,
        };
        let mut ledger = DigestLedger { since: Some(Utc::now()), ..Default::default() };
        ledger.listed_to.insert(fid(1), 30);
        ledger.record(object(10, 20));
        assert!(ledger.pending.is_empty(), "listed already: not recorded");
        ledger.record_again(object(10, 20));
        assert_eq!(ledger.awaiting().collect::<Vec<_>>(), vec![&object(10, 20)]);
        // Another writer's ledger, which listed up to 40, changes nothing.
        let mut other = DigestLedger { since: ledger.since, ..Default::default() };
        other.listed_to.insert(fid(1), 40);
        for (a, b) in [(ledger.clone(), other.clone()), (other.clone(), ledger.clone())] {
            let mut merged = a;
            merged.merge(&b);
            assert_eq!(merged.awaiting().collect::<Vec<_>>(), vec![&object(10, 20)], "kept through a merge");
        }
        let link = Link { key: "d".into(), period_end: Utc::now(), sha256: "11".into(), signature: "22".into() };
        ledger.sealed(&[object(10, 20)], &[], link);
        assert!(ledger.pending.is_empty() && ledger.relisted.is_empty(), "{ledger:?}");
    }

    fn arb_checkpoint() -> impl Strategy<Value = Checkpoint> {
        proptest::collection::btree_map(0u8..6, (0u64..50, 0u64..50, any::<bool>()), 0..6).prop_map(|m| {
            let mut cp = Checkpoint::empty(&instance());
            for (id, (shipped, extra, closed)) in m {
                cp.files.insert(fid(id), progress(shipped, shipped + extra, closed));
            }
            cp
        })
    }

    fn arb_gaps() -> impl Strategy<Value = Vec<u8>> {
        proptest::collection::vec(0u8..6, 0..2)
    }

    fn gap(id: u8) -> Gap {
        Gap {
            file_id: fid(id),
            last_name: "n".into(),
            shipped: 0,
            last_size: 1,
            detected_at: chrono::DateTime::<Utc>::UNIX_EPOCH,
            growing: true,
            reported: id % 2 == 0,
            unnamed: false,
            uncertain: false,
            detected_by: None,
            reported_by: None,
        }
    }

    /// Runs writers at once, each loading the checkpoint, folding in its
    /// own progress and committing; returns what each ended with and what
    /// is stored at the end.
    fn race(
        base: Option<Checkpoint>,
        writers: Vec<Checkpoint>,
        conflicts: Vec<bool>,
    ) -> (Vec<Result<Checkpoint, Failure>>, Checkpoint) {
        // S3's conditional writes in memory; every call yields first, so
        // writers on one thread interleave between their read and their swap.
        let store = std::sync::Arc::new(crate::sim::store::MemStore::new());
        {
            let mut bucket = store.bucket.lock().unwrap();
            bucket.conflicts = conflicts;
            if let Some(cp) = base {
                bucket.objects.insert(
                    "cp".into(),
                    crate::sim::store::MemObject {
                        body: serde_json::to_vec(&cp).unwrap(),
                        facts: None,
                        version: 0,
                        metadata: Default::default(),
                    },
                );
            }
        }
        // Paused time: the random back-off costs no real time.
        let rt = tokio::runtime::Builder::new_current_thread().enable_time().start_paused(true).build().unwrap();
        rt.block_on(async {
            let mut tasks = Vec::new();
            for mine in writers {
                let store = store.clone();
                tasks.push(tokio::spawn(async move {
                    let mut cp = load(&*store, "cp", &instance()).await?;
                    cp.state.merge(&mine);
                    commit(&*store, &mut cp, &instance()).await?;
                    Ok(cp.state)
                }));
            }
            let mut ended = Vec::new();
            for t in tasks {
                ended.push(t.await.unwrap());
            }
            let stored = load(&*store, "cp", &instance()).await.unwrap().state;
            (ended, stored)
        })
    }

    /// A ledger as runs leave it: objects recorded (each key names one
    /// object of one file; only its landing time differs between writers)
    /// beside a head, listed offsets and sized files.
    fn arb_ledger() -> impl Strategy<Value = DigestLedger> {
        // File, place, landing, recorded again (a backfill), and which of
        // two byte contents it held (deleted and put back between writers).
        let object = (0u8..4, 0u64..6, 0i64..600, any::<bool>(), 0u8..2);
        (
            proptest::option::of(0i64..120),
            proptest::option::of(prop_oneof![Just(60u64), Just(3600u64)]),
            proptest::option::of(0i64..8),
            proptest::collection::vec(object, 0..8),
            proptest::collection::btree_map(0u8..4, 0u64..6, 0..3),
            proptest::collection::btree_set(0u8..4, 0..2),
        )
            .prop_map(|(since, period, head, objects, listed, sized)| {
                let t = |m: i64| DateTime::<Utc>::UNIX_EPOCH + chrono::Duration::minutes(m);
                let mut ledger = DigestLedger {
                    since: since.map(t),
                    period_seconds: period,
                    head: head.map(|n| Link {
                        key: format!("d/{n}"),
                        period_end: t(n * 60),
                        sha256: format!("{n:064}"),
                        signature: format!("s{n}"),
                    }),
                    listed_to: listed.into_iter().map(|(f, n)| (fid(f), n * 10)).collect(),
                    sized: sized.into_iter().map(fid).collect(),
                    ..Default::default()
                };
                for (f, n, landed, again, bytes) in objects {
                    let listed = Listed {
                        file_id: fid(f).0,
                        start: n * 10,
                        end: n * 10 + 10,
                        key: format!("{}/{:020}.log.gz", fid(f), n * 10),
                        sha256: format!("{bytes}{n:063}"),
                        lines: 1,
                        source_file: "server_audit.log".into(),
                        landed_at: t(landed),
                        first_record: None,
                        last_record: None,
                    };
                    match again {
                        true => ledger.record_again(listed),
                        false => ledger.record(listed),
                    }
                }
                ledger
            })
    }

    proptest! {
        #[test]
        fn ledgers_merge_in_any_order_any_number_of_times_and_keep_every_object(
            a in arb_ledger(), b in arb_ledger(), c in arb_ledger(),
        ) {
            let merged = |x: &DigestLedger, y: &DigestLedger| {
                let mut m = x.clone();
                m.merge(y);
                m
            };
            let ab = merged(&a, &b);
            prop_assert_eq!(&ab, &merged(&b, &a), "order-free");
            prop_assert_eq!(&merged(&ab, &c), &merged(&a, &merged(&b, &c)), "grouping-free");
            prop_assert_eq!(&merged(&ab, &a), &ab, "merging again changes nothing");
            prop_assert_eq!(&merged(&ab, &b), &ab, "merging again changes nothing");
            // Every object either side recorded is pending, or a digest
            // lists it (it ends at or below its file's listed offset).
            for l in a.pending.iter().chain(&b.pending) {
                let listed = ab.listed_to.get(&FileId(l.file_id.clone())).is_some_and(|to| l.end <= *to);
                let kept = ab.pending.iter().find(|p| p.key == l.key);
                prop_assert!(listed || kept.is_some_and(|p| p.landed_at <= l.landed_at), "{:?} lost", l.key);
            }
            // One to be listed again stays, whatever the listed offsets.
            for l in a.relisted.iter().chain(&b.relisted) {
                let kept = ab.relisted.iter().find(|p| p.key == l.key);
                prop_assert!(kept.is_some_and(|p| p.landed_at <= l.landed_at), "{:?} not listed again", l.key);
            }
            for list in [&ab.pending, &ab.relisted] {
                prop_assert!(list.windows(2).all(|w| w[0].key < w[1].key), "one entry per object, in order");
            }
        }

        #[test]
        fn merge_never_moves_an_offset_backwards_and_is_order_free(a in arb_checkpoint(), b in arb_checkpoint()) {
            let mut ab = a.clone();
            ab.merge(&b);
            let mut ba = b.clone();
            ba.merge(&a);
            for (id, p) in &ab.files {
                let best = a.files.get(id).map_or(0, |x| x.shipped).max(b.files.get(id).map_or(0, |x| x.shipped));
                prop_assert_eq!(p.shipped, best);
                prop_assert_eq!(p.shipped, ba.files[id].shipped);
                prop_assert_eq!(&p.tail_sha256, &ba.files[id].tail_sha256);
            }
            prop_assert_eq!(ab.files.len(), a.files.keys().chain(b.files.keys()).collect::<std::collections::BTreeSet<_>>().len());
            // Merging is idempotent.
            let mut again = ab.clone();
            again.merge(&b);
            prop_assert_eq!(again.files, ab.files);
        }

        #[test]
        fn concurrent_commits_lose_no_progress_and_no_gap(
            base in proptest::option::of(arb_checkpoint()),
            writers in proptest::collection::vec((arb_checkpoint(), arb_gaps()), 1..5),
            conflicts in proptest::collection::vec(proptest::bool::weighted(0.3), 0..8),
        ) {
            let writers: Vec<Checkpoint> = writers
                .into_iter()
                .map(|(mut cp, gaps)| {
                    cp.gaps = gaps.into_iter().map(gap).collect();
                    cp.gaps.dedup_by(|a, b| a.file_id == b.file_id);
                    cp
                })
                .collect();
            let everyone: Vec<&Checkpoint> = base.iter().chain(writers.iter()).collect();
            let (ended, stored) = race(base.clone(), writers.clone(), conflicts);

            // Fewer writers than swap attempts: every commit gets through,
            // 409s and lost races included.
            for e in &ended {
                prop_assert!(e.is_ok(), "{:?}", e.as_ref().err());
            }
            let lost: std::collections::BTreeSet<&FileId> =
                everyone.iter().flat_map(|cp| cp.gaps.iter().map(|g| &g.file_id)).collect();
            let stored_lost: std::collections::BTreeSet<&FileId> = stored.gaps.iter().map(|g| &g.file_id).collect();
            prop_assert_eq!(&stored_lost, &lost, "every reported loss is kept");
            for id in everyone.iter().flat_map(|cp| cp.files.keys()) {
                if lost.contains(id) {
                    prop_assert!(!stored.files.contains_key(id), "a lost file is not tracked again");
                    continue;
                }
                let furthest = everyone.iter().filter_map(|cp| cp.files.get(id)).map(|p| p.shipped).max().unwrap();
                prop_assert_eq!(stored.files[id].shipped, furthest, "file {} keeps its furthest offset", id);
            }
            let tracked: std::collections::BTreeSet<&FileId> = everyone
                .iter()
                .flat_map(|cp| cp.files.keys())
                .filter(|id| !lost.contains(id))
                .collect();
            prop_assert_eq!(stored.files.keys().collect::<std::collections::BTreeSet<_>>(), tracked);
            // What each writer ended with is never ahead of what is stored.
            for state in ended.into_iter().flatten() {
                for (id, p) in &state.files {
                    if let Some(s) = stored.files.get(id) {
                        prop_assert!(p.shipped <= s.shipped);
                    }
                }
            }
        }
    }
}
