//! Auditing one instance's trail against its digests: the chain (see
//! `chain`), every object a digest lists against what S3 holds (its
//! metadata, or with `deep` its bytes), every object in S3 that no digest
//! lists, and each file's coverage from its first listed byte to its final
//! size without a hole. What `verify --public-key` and its report show.

use super::chain::{check_chain, ChainProblem, ChainReport, StoredDigest};
use super::digest::{FileStateFact, Listed, LossFacts};
use super::history::{Deletion, History, KeyChange};
use super::seal::{earliest, latest};
use super::signing::PublicKey;
use crate::checkpoint::{Checkpoint, DigestLedger};
use crate::compress::sha256_hex;
use crate::error::Failure;
use crate::instance::{Instance, ResourceId};
use crate::keys::{checkpoint_key, digest_prefix, instance_prefix, parse_object_key};
use crate::store::{Existing, HeldUntil, ObjectStore, Versions};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::io::Read;

/// One thing wrong with the trail, by the digests' account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum TrailProblem {
    /// Something wrong with a digest itself: `fault` is `unreadable`,
    /// `bad_signature`, `altered` or `missing`.
    Digest { key: String, fault: String, why: String },
    /// A listed object is not in S3; in a bucket that keeps versions, when
    /// it was deleted and which version still holds its bytes.
    Deleted {
        key: String,
        file_id: String,
        start: u64,
        end: u64,
        #[serde(skip_serializing_if = "Option::is_none")]
        deleted_at: Option<DateTime<Utc>>,
        #[serde(skip_serializing_if = "Option::is_none")]
        version_id: Option<String>,
    },
    /// An object in no digest (shipped before the chain, or not listed
    /// yet) that a delete marker hides: audit bytes deleted all the same.
    Erased { key: String, deleted_at: DateTime<Utc>, version_id: Option<String> },
    /// A listed object's metadata says it holds other bytes than listed
    /// (overwritten, or swapped with another).
    Replaced { key: String, why: String },
    /// A listed object's bytes are not the ones listed (`deep`).
    Altered { key: String, why: String },
    /// An object no digest lists and no run has still to list.
    Unlisted { key: String, why: String },
    /// Bytes of a file between its listed objects that no digest lists and
    /// no recorded loss explains.
    Hole { file_id: String, start: u64, end: u64 },
    /// The chain stops too long before the time asked about: the digests
    /// after `sealed_to` are missing (deleted, with the checkpoint wound
    /// back), or no run has sealed them.
    Stale { sealed_to: DateTime<Utc>, due_by: DateTime<Utc>, at: DateTime<Utc> },
}

impl fmt::Display for TrailProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TrailProblem::Digest { key, fault, why } => match fault.as_str() {
                "bad_signature" => write!(f, "digest {key}: bad signature: {why}"),
                "missing" => write!(f, "digest {key} is missing: {why}"),
                "deleted" => write!(f, "digest {key} was deleted: {why}"),
                "altered" => write!(f, "digest {key} was altered: {why}"),
                _ => write!(f, "digest {key} is unreadable: {why}"),
            },
            TrailProblem::Deleted { key, file_id, start, end, deleted_at, version_id } => {
                write!(f, "object {key} (file {file_id}, bytes {start}..{end}) is listed in a digest but deleted")?;
                match deleted_at {
                    Some(at) => {
                        let deletion = Deletion { at: *at, version_id: version_id.clone() };
                        write!(f, ": {}", deletion.describe())
                    }
                    None => Ok(()),
                }
            }
            TrailProblem::Erased { key, deleted_at, version_id } => {
                let deletion = Deletion { at: *deleted_at, version_id: version_id.clone() };
                write!(f, "object {key}, in no digest, was deleted: {}", deletion.describe())
            }
            TrailProblem::Replaced { key, why } => write!(f, "object {key} was replaced: {why}"),
            TrailProblem::Altered { key, why } => write!(f, "object {key} was altered: {why}"),
            TrailProblem::Unlisted { key, why } => write!(f, "object {key} is in no digest: {why}"),
            TrailProblem::Hole { file_id, start, end } => {
                write!(f, "file {file_id}: bytes {start}..{end} are in no listed object and no recorded loss")
            }
            TrailProblem::Stale { sealed_to, due_by, at } => write!(
                f,
                "the digest chain ends at {}, but the next digest was due by {} and it is {}: later digests were \
                 deleted, or no run has sealed them (are scheduled runs signing digests?)",
                super::digest::rfc3339(*sealed_to),
                super::digest::rfc3339(*due_by),
                super::digest::rfc3339(*at)
            ),
        }
    }
}

/// A file as the digests cover it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileCoverage {
    pub file_id: String,
    pub source_file: String,
    pub objects: usize,
    pub bytes: u64,
    pub lines: u64,
    /// Listed without a hole from `covered_from` to `covered_to`; bytes
    /// before `covered_from` were shipped before the chain began.
    pub covered_from: u64,
    pub covered_to: u64,
    /// Its final size, once a digest recorded it (rotated and all shipped).
    pub final_size: Option<u64>,
    pub first_landed_at: DateTime<Utc>,
    pub last_landed_at: DateTime<Utc>,
    /// The earliest and latest record time its listed objects hold.
    pub first_record: Option<DateTime<Utc>>,
    pub last_record: Option<DateTime<Utc>>,
    /// `closed` once a digest recorded it rotated, else `growing`.
    pub state: FileStateFact,
}

/// The Object Lock retention of the listed objects, as HEAD showed it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct LockStatus {
    /// Objects under retention now, by mode (`GOVERNANCE`, `COMPLIANCE`).
    pub retained: BTreeMap<String, usize>,
    /// The soonest any of them may be deleted.
    pub earliest_retain_until: Option<DateTime<Utc>>,
    /// Objects with no retention, or one that has run out (or the caller
    /// lacks `s3:GetObjectRetention`, which HEAD needs to show it).
    pub unretained: usize,
}

impl LockStatus {
    fn count(&mut self, held: Option<&HeldUntil>, now: DateTime<Utc>) {
        match held.filter(|h| h.retain_until > now) {
            Some(h) => {
                *self.retained.entry(h.mode.clone()).or_default() += 1;
                self.earliest_retain_until = earliest(self.earliest_retain_until, Some(h.retain_until));
            }
            None => self.unretained += 1,
        }
    }
}

/// The time span `verify --since/--until` asks about: the digests whose
/// periods overlap it, and the objects they list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Window {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl Window {
    /// Whether the period `[start, end)` overlaps the window.
    pub fn overlaps(&self, (start, end): (DateTime<Utc>, DateTime<Utc>)) -> bool {
        self.since.is_none_or(|since| end > since) && self.until.is_none_or(|until| start <= until)
    }

    pub fn is_whole(&self) -> bool {
        self.since.is_none() && self.until.is_none()
    }
}

/// A loss as a digest recorded it (signed), with the run that paged for
/// it as the checkpoint records it (not signed: a run marks it once it has
/// exited 3, after the digest was sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RecordedLoss {
    #[serde(flatten)]
    pub facts: LossFacts,
    /// The finished run that exited 3 for it; `None` while no run has
    /// (the next one pages), or where the checkpoint does not say.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reported_by: Option<String>,
    /// Whether a finished run has paged for it, by the checkpoint; `None`
    /// where the checkpoint no longer holds it (restored from before it).
    pub reported: Option<bool>,
}

/// What the digests prove of one instance's trail.
#[derive(Debug, Clone, Serialize)]
pub struct TrailAudit {
    pub instance: String,
    pub dbi_resource_id: String,
    /// For an earlier instance under the same identifier (deleted and
    /// created again): the resource id of the one there now. Its chain
    /// ended when it was deleted; the new one began a chain of its own.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub replaced_by: Option<String>,
    pub chain: ChainReport,
    /// The span asked about (the whole chain when neither end is given):
    /// the chain is checked whole, the objects and files of the digests in
    /// the window.
    pub window: Window,
    pub digests_in_window: usize,
    /// Listed objects checked against S3, and whether by their bytes.
    pub objects_checked: usize,
    pub deep: bool,
    pub object_lock: LockStatus,
    /// The earliest and latest record time of the listed objects.
    pub first_record: Option<DateTime<Utc>>,
    pub last_record: Option<DateTime<Utc>>,
    pub files: Vec<FileCoverage>,
    /// Objects not yet in a digest: confirmed and waiting for their
    /// period to be sealed, or made by a run that stopped before recording
    /// them (the next run verifies and records them).
    pub pending: usize,
    /// Objects under the instance from before its chain began (no digest
    /// can speak for them).
    pub before_chain: usize,
    pub losses: Vec<RecordedLoss>,
    /// What the bucket's versions show of the trail's keys.
    pub versions: VersionAudit,
    pub problems: Vec<TrailProblem>,
}

/// What the bucket's object versions (ListObjectVersions) show: read or
/// not (and why not), and the trail's keys that are there now but were
/// deleted or overwritten before. Deletions of what is not there now are
/// problems (`deleted`, `erased`, a digest `deleted`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct VersionAudit {
    pub read: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub unread: Option<String>,
    pub changes: Vec<KeyChange>,
}

/// Audits one instance's digests and the objects they list; then, for
/// every earlier instance whose objects are under the same identifier (one
/// deleted and created again: a new resource id), that instance's own
/// chain, marked `replaced_by` the current one. The current one comes first.
pub async fn audit_instance(
    store: &dyn ObjectStore,
    prefix: &str,
    instance: &Instance,
    public: &PublicKey,
    checkpoint: &Checkpoint,
    deep: bool,
    window: Window,
) -> Result<Vec<TrailAudit>, Failure> {
    let objects_prefix = instance_prefix(prefix, instance);
    let keys = store.list_keys(&objects_prefix).await?;
    let (digests, chain) = read_chain(store, prefix, &instance.resource_id.0, public, checkpoint).await?;
    let (mine, earlier) = split_by_instance(store, instance, &chain, &checkpoint.digests, keys).await?;
    let mut versions = Vec::new();
    let mut unread = None;
    for p in std::iter::once(objects_prefix.clone()).chain(
        std::iter::once(instance.resource_id.0.clone())
            .chain(earlier.keys().cloned())
            .map(|rid| digest_prefix(prefix, &rid)),
    ) {
        match store.list_versions(&p).await? {
            Versions::Listed(found) => versions.extend(found),
            Versions::Unreadable(why) => unread = Some(why),
        }
    }
    if versions.iter().all(|v| v.version_id == "null") && unread.is_none() {
        unread = Some(
            "the bucket keeps no versions (versioning is off): a deleted or overwritten object leaves no trace but \
             the digests"
                .into(),
        );
    }
    let history = match unread {
        None => Ok(History::of(versions)),
        Some(why) => Err(why),
    };
    let places = |rid: &str| Places { objects: objects_prefix.clone(), digests: digest_prefix(prefix, rid) };
    let trail = Trail {
        instance,
        checkpoint,
        digests,
        chain,
        keys: mine,
        replaced_by: None,
        history: &history,
        places: places(&instance.resource_id.0),
    };
    let mut awaiting: BTreeSet<String> = checkpoint.digests.awaiting().map(|l| l.key.clone()).collect();
    let mut audits = vec![audit_trail(store, trail, deep, window).await?];
    for (rid, keys) in earlier {
        let old = Instance { resource_id: ResourceId(rid), ..instance.clone() };
        let cp = crate::checkpoint::load(store, &checkpoint_key(prefix, &old), &old).await?.state;
        awaiting.extend(cp.digests.awaiting().map(|l| l.key.clone()));
        let (digests, chain) = read_chain(store, prefix, &old.resource_id.0, public, &cp).await?;
        let replaced_by = Some(instance.resource_id.0.clone());
        let places = places(&old.resource_id.0);
        let trail =
            Trail { instance: &old, checkpoint: &cp, digests, chain, keys, replaced_by, history: &history, places };
        audits.push(audit_trail(store, trail, deep, window).await?);
    }
    if let Ok(history) = &history {
        let listed: BTreeSet<&str> =
            audits.iter().flat_map(|a| a.chain.objects.iter().map(|l| l.key.as_str())).collect();
        let known = |key: &str| listed.contains(key) || awaiting.contains(key);
        let erased = erased(history, &objects_prefix, known, window);
        audits[0].problems.extend(erased);
    }
    Ok(audits)
}

/// Objects of the trail under a delete marker that no chain lists or
/// awaits (`known`): shipped before the chain, or not listed yet. Only
/// auditship's own keys, of files begun by the window's end.
fn erased(history: &History, objects_prefix: &str, known: impl Fn(&str) -> bool, window: Window) -> Vec<TrailProblem> {
    let began_by_the_end = |key: &str| {
        let began = parse_object_key(key).and_then(|(id, _)| id.first_record_time());
        began.is_some_and(|t| window.until.is_none_or(|until| t <= until))
    };
    history
        .deleted_under(objects_prefix)
        .filter(|(key, _)| !known(key) && began_by_the_end(key))
        .map(|(key, d)| TrailProblem::Erased { key: key.to_string(), deleted_at: d.at, version_id: d.version_id })
        .collect()
}

/// Where a trail's objects and digests are.
struct Places {
    objects: String,
    digests: String,
}

/// One resource id's chain and the object keys that belong to it.
struct Trail<'a> {
    instance: &'a Instance,
    checkpoint: &'a Checkpoint,
    digests: Vec<StoredDigest>,
    chain: ChainReport,
    keys: Vec<String>,
    replaced_by: Option<String>,
    /// The versions under the instance's objects and every chain's
    /// digests, or why they could not be read.
    history: &'a Result<History, String>,
    places: Places,
}

/// A resource id's digests, and its chain checked with `public` up to the
/// head its checkpoint recorded.
async fn read_chain(
    store: &dyn ObjectStore,
    prefix: &str,
    resource_id: &str,
    public: &PublicKey,
    checkpoint: &Checkpoint,
) -> Result<(Vec<StoredDigest>, ChainReport), Failure> {
    let mut digests = Vec::new();
    for key in store.list_keys(&digest_prefix(prefix, resource_id)).await? {
        if let Some(record) = store.get_record(&key).await? {
            digests.push(StoredDigest { key, record });
        }
    }
    let chain = check_chain(store.bucket(), &digests, public, checkpoint.digests.head.as_ref());
    Ok((digests, chain))
}

/// The keys under the instance's identifier that are its own, and, by
/// resource id, those an earlier instance under the same identifier wrote.
/// A file's objects all belong to one resource id, so one HEAD per file the
/// current chain does not know tells which.
async fn split_by_instance(
    store: &dyn ObjectStore,
    instance: &Instance,
    chain: &ChainReport,
    ledger: &DigestLedger,
    keys: Vec<String>,
) -> Result<(Vec<String>, BTreeMap<String, Vec<String>>), Failure> {
    let known: BTreeSet<&str> = chain.objects.iter().chain(ledger.awaiting()).map(|l| l.file_id.as_str()).collect();
    let mut owner: BTreeMap<String, Option<String>> = BTreeMap::new();
    let (mut mine, mut earlier) = (Vec::new(), BTreeMap::<String, Vec<String>>::new());
    for key in keys {
        let Some((id, _)) = parse_object_key(&key).filter(|(id, _)| !known.contains(id.0.as_str())) else {
            mine.push(key);
            continue;
        };
        if !owner.contains_key(&id.0) {
            let rid = store.head(&key).await?.and_then(|e| e.facts).map(|f| f.dbi_resource_id);
            let other = rid.filter(|r| !r.is_empty() && *r != instance.resource_id.0);
            owner.insert(id.0.clone(), other);
        }
        match &owner[&id.0] {
            Some(rid) => earlier.entry(rid.clone()).or_default().push(key),
            None => mine.push(key),
        }
    }
    Ok((mine, earlier))
}

/// Audits one resource id's chain and objects.
async fn audit_trail(
    store: &dyn ObjectStore,
    trail: Trail<'_>,
    deep: bool,
    window: Window,
) -> Result<TrailAudit, Failure> {
    let Trail { instance, checkpoint, digests, chain, keys, replaced_by, history, places } = trail;
    let ledger = &checkpoint.digests;
    let mut problems: Vec<TrailProblem> = chain.problems.iter().map(digest_problem).collect();
    let mut object_lock = LockStatus::default();
    let now = Utc::now();
    let in_window: Vec<&Listed> = chain
        .objects
        .iter()
        .filter(|l| chain.listed_in.get(&l.key).is_some_and(|ps| ps.iter().any(|p| window.overlaps(*p))))
        .collect();
    for l in in_window.iter().copied() {
        let (problem, held) = check_object(store, l, deep).await?;
        problems.extend(problem);
        object_lock.count(held.as_ref(), now);
    }
    let listed: BTreeSet<&str> = chain.objects.iter().map(|l| l.key.as_str()).collect();
    let pending: BTreeSet<&str> = ledger.awaiting().map(|l| l.key.as_str()).collect();
    // Per file, where its listed objects begin: bytes before that may
    // have shipped before the chain began.
    let mut first_listed: BTreeMap<&str, u64> = BTreeMap::new();
    for l in &chain.objects {
        let first = first_listed.entry(l.file_id.as_str()).or_insert(l.start);
        *first = (*first).min(l.start);
    }
    // When the chain began: as its digests record it (signed), else as the
    // checkpoint does.
    let since = chain.since.or(ledger.since);
    let mut before_chain = 0;
    let mut unrecorded = 0;
    for key in keys {
        if listed.contains(key.as_str()) || pending.contains(key.as_str()) {
            continue;
        }
        let parsed = parse_object_key(&key);
        if let Some((id, start)) = &parsed {
            if checkpoint.files.get(id).is_some_and(|p| *start >= p.shipped) {
                // Made by a run that stopped before it could record it: the
                // next run verifies it against the file and records it.
                unrecorded += 1;
                continue;
            }
        }
        match parsed {
            Some((id, start))
                if first_listed.get(id.0.as_str()).is_none_or(|first| start < *first)
                    && began_before_digests(since, &id) =>
            {
                before_chain += 1
            }
            Some((id, _)) => {
                let why = match first_listed.contains_key(id.0.as_str()) {
                    true => "its file's other objects are listed, this one is not (added by hand?)",
                    false => "its file began after digests did, yet no digest lists it (added by hand?)",
                };
                problems.push(TrailProblem::Unlisted { key, why: why.into() })
            }
            None => problems.push(TrailProblem::Unlisted { key, why: "not an auditship object key".into() }),
        }
    }
    if replaced_by.is_none() && ships_now(instance) {
        problems.extend(stale(ledger, &chain, window, now));
    }
    let window_files: BTreeSet<&str> = in_window.iter().map(|l| l.file_id.as_str()).collect();
    let files = coverage(&chain, &window_files, since, &mut problems);
    let versions = match history {
        Ok(history) => {
            // The instance's prefix holds an earlier instance's objects
            // too: the current trail shows their history.
            versions_audit(history, &places, &mut problems, replaced_by.is_none())
        }
        Err(why) => VersionAudit { read: false, unread: Some(why.clone()), changes: Vec::new() },
    };
    let digests_in_window = digests_in(&digests, window);
    Ok(TrailAudit {
        instance: instance.id.0.clone(),
        dbi_resource_id: instance.resource_id.0.clone(),
        replaced_by,
        window,
        digests_in_window,
        objects_checked: in_window.len(),
        deep,
        object_lock,
        first_record: files.iter().map(|f| f.first_record).fold(None, earliest),
        last_record: files.iter().map(|f| f.last_record).fold(None, latest),
        files,
        pending: ledger.awaiting().count() + unrecorded,
        before_chain,
        losses: chain.losses.iter().map(|l| recorded_loss(l, checkpoint)).collect(),
        versions,
        problems,
        chain,
    })
}

/// What the versions add to the problems found: when a listed object or a
/// digest that is gone was deleted and which version still holds it; a
/// digest deleted that nothing else named (the newest ones, with the
/// checkpoint wound back). And the keys that are there now but were
/// deleted or overwritten before (objects by the `current` trail only).
fn versions_audit(history: &History, places: &Places, problems: &mut Vec<TrailProblem>, current: bool) -> VersionAudit {
    let mut named: BTreeSet<String> = BTreeSet::new();
    for p in problems.iter_mut() {
        match p {
            TrailProblem::Deleted { key, deleted_at, version_id, .. } => {
                if let Some(d) = history.deletion(key) {
                    (*deleted_at, *version_id) = (Some(d.at), d.version_id);
                }
                named.insert(key.clone());
            }
            TrailProblem::Digest { key, why, .. } => {
                if let Some(d) = history.deletion(key) {
                    why.push_str(&format!("; {}", d.describe()));
                }
                named.insert(key.clone());
            }
            _ => {}
        }
    }
    for (key, d) in history.deleted_under(&places.digests).filter(|(key, _)| !named.contains(*key)) {
        problems.push(TrailProblem::Digest { key: key.to_string(), fault: "deleted".into(), why: d.describe() });
    }
    let mut changes: Vec<KeyChange> = history.changed_under(&places.digests).collect();
    changes.extend(history.changed_under(&places.objects).filter(|_| current));
    VersionAudit { read: true, unread: None, changes }
}

/// A digest's loss with what the checkpoint says of its page.
fn recorded_loss(facts: &LossFacts, checkpoint: &Checkpoint) -> RecordedLoss {
    let gap = checkpoint.gaps.iter().find(|g| g.file_id.0 == facts.file_id && g.detected_at == facts.detected_at);
    RecordedLoss {
        facts: facts.clone(),
        reported_by: gap.and_then(|g| g.reported_by.as_ref()).map(|r| r.0.clone()),
        reported: gap.map(|g| g.reported),
    }
}

/// How long after a period ends its digest may still be unsealed: a run
/// seals it once the period is over, and runs come every few minutes.
fn sealing_grace(period: chrono::Duration) -> chrono::Duration {
    period.max(chrono::Duration::minutes(15))
}

/// Whether runs are expected to seal the instance's periods now: not while
/// it is stopped or going away (its audit log cannot be read then).
fn ships_now(instance: &Instance) -> bool {
    !matches!(instance.status.as_str(), "stopped" | "stopping" | "starting" | "deleting" | "failed")
}

/// The chain's end against the time asked about (the window's end, or
/// now): the period after the newest digest (or the chain's first period)
/// must be sealed within `sealing_grace` of its end.
fn stale(ledger: &DigestLedger, chain: &ChainReport, window: Window, now: DateTime<Utc>) -> Option<TrailProblem> {
    let (since, seconds) = (ledger.since?, ledger.period_seconds?);
    let length = std::time::Duration::from_secs(seconds);
    let period = chrono::Duration::seconds(seconds as i64);
    let sealed_to = chain.last_period_end.unwrap_or(super::digest::Period::containing(since, length).start);
    let due_by = sealed_to + period + sealing_grace(period);
    let at = window.until.map_or(now, |until| until.min(now));
    (at > due_by).then_some(TrailProblem::Stale { sealed_to, due_by, at })
}

/// Whether a file (by its id, whose time is its first record's) began
/// before digests did (`since`, as the digests record it, else as the
/// checkpoint does): its objects may predate them.
fn began_before_digests(since: Option<DateTime<Utc>>, file: &crate::identify::FileId) -> bool {
    match (file.first_record_time(), since) {
        (Some(began), Some(since)) => began < since,
        // No digests yet: every object is from before them.
        (_, None) => true,
        (None, Some(_)) => false,
    }
}

fn deleted(l: &Listed) -> TrailProblem {
    TrailProblem::Deleted {
        key: l.key.clone(),
        file_id: l.file_id.clone(),
        start: l.start,
        end: l.end,
        deleted_at: None,
        version_id: None,
    }
}

fn digest_problem(p: &ChainProblem) -> TrailProblem {
    let (fault, key, why) = match p {
        ChainProblem::Unreadable { key, why } => ("unreadable", key, why),
        ChainProblem::BadSignature { key, why } => ("bad_signature", key, why),
        ChainProblem::Altered { key, why } => ("altered", key, why),
        ChainProblem::Missing { key, why } => ("missing", key, why),
    };
    TrailProblem::Digest { key: key.clone(), fault: fault.into(), why: why.clone() }
}

/// A listed object against S3: its metadata, and with `deep` its bytes;
/// and its retention.
async fn check_object(
    store: &dyn ObjectStore,
    l: &Listed,
    deep: bool,
) -> Result<(Option<TrailProblem>, Option<HeldUntil>), Failure> {
    let Some(found) = store.head(&l.key).await? else {
        return Ok((Some(deleted(l)), None));
    };
    let held = found.retention.clone();
    Ok((object_problem(store, l, found, deep).await?, held))
}

async fn object_problem(
    store: &dyn ObjectStore,
    l: &Listed,
    found: Existing,
    deep: bool,
) -> Result<Option<TrailProblem>, Failure> {
    let replaced = |why: String| Ok(Some(TrailProblem::Replaced { key: l.key.clone(), why }));
    let Some(facts) = found.facts else { return replaced("it has no auditship metadata now".into()) };
    if (facts.start, facts.end, &facts.sha256) != (l.start, l.end, &l.sha256) || facts.file_id != l.file_id {
        return replaced(format!(
            "it now says bytes {}..{} of {} with sha256 {}; the digest lists {}..{} of {} with {}",
            facts.start, facts.end, facts.file_id, facts.sha256, l.start, l.end, l.file_id, l.sha256
        ));
    }
    if !deep {
        return Ok(None);
    }
    let Some((gzip, _)) = store.get_small(&l.key).await? else {
        return Ok(Some(deleted(l)));
    };
    let mut plain = Vec::new();
    let altered = |why: String| Ok(Some(TrailProblem::Altered { key: l.key.clone(), why }));
    if let Err(e) = flate2::read::MultiGzDecoder::new(&gzip[..]).read_to_end(&mut plain) {
        return altered(format!("it is not gzip any more ({e})"));
    }
    let sha = sha256_hex(&plain);
    if sha != l.sha256 || plain.len() as u64 != l.end - l.start {
        return altered(format!(
            "its {} bytes hash to {sha}; the digest lists {} bytes with sha256 {}",
            plain.len(),
            l.end - l.start,
            l.sha256
        ));
    }
    Ok(None)
}

/// How many digests (by the period their key names) the window holds.
fn digests_in(digests: &[StoredDigest], window: Window) -> usize {
    let periods = digests.iter().filter_map(|d| super::digest::Digest::parse(&d.record.body).ok());
    periods.filter(|d| window.overlaps((d.period_start, d.period_end))).count()
}

/// Each file's listed objects (of the files `wanted`), in offset order:
/// what they cover, and the holes between them that no recorded loss
/// explains; a file that began after the chain did (`since`) is covered
/// from offset 0, since every byte of it shipped once digests were on.
fn coverage(
    chain: &ChainReport,
    wanted: &BTreeSet<&str>,
    since: Option<DateTime<Utc>>,
    problems: &mut Vec<TrailProblem>,
) -> Vec<FileCoverage> {
    let mut by_file: BTreeMap<&str, Vec<&Listed>> = BTreeMap::new();
    for l in chain.objects.iter().filter(|l| wanted.contains(l.file_id.as_str())) {
        by_file.entry(&l.file_id).or_default().push(l);
    }
    let mut files = Vec::new();
    for (file_id, mut objects) in by_file {
        objects.sort_by_key(|l| l.start);
        objects.dedup_by_key(|l| l.start);
        let first = objects[0];
        let began_in_chain = !began_before_digests(since, &crate::identify::FileId(file_id.to_string()));
        if began_in_chain && first.start > 0 && !explained_by_loss(chain, file_id, 0) {
            problems.push(TrailProblem::Hole { file_id: file_id.to_string(), start: 0, end: first.start });
        }
        let mut cover = FileCoverage {
            file_id: file_id.to_string(),
            source_file: objects.last().map(|l| l.source_file.clone()).unwrap_or_default(),
            objects: objects.len(),
            bytes: 0,
            lines: 0,
            covered_from: first.start,
            covered_to: first.start,
            final_size: chain.final_sizes.get(file_id).copied(),
            first_landed_at: first.landed_at,
            last_landed_at: first.landed_at,
            first_record: None,
            last_record: None,
            state: match chain.closed.contains(file_id) {
                true => FileStateFact::Closed,
                false => FileStateFact::Growing,
            },
        };
        for l in &objects {
            if l.start > cover.covered_to && !explained_by_loss(chain, file_id, cover.covered_to) {
                problems.push(TrailProblem::Hole {
                    file_id: file_id.to_string(),
                    start: cover.covered_to,
                    end: l.start,
                });
            }
            cover.covered_to = cover.covered_to.max(l.end);
            cover.bytes += l.end - l.start;
            cover.lines += l.lines;
            cover.first_landed_at = cover.first_landed_at.min(l.landed_at);
            cover.last_landed_at = cover.last_landed_at.max(l.landed_at);
            cover.first_record = earliest(cover.first_record, l.first_record);
            cover.last_record = latest(cover.last_record, l.last_record);
        }
        if let Some(size) = cover.final_size.filter(|size| *size > cover.covered_to) {
            problems.push(TrailProblem::Hole { file_id: file_id.to_string(), start: cover.covered_to, end: size });
        }
        files.push(cover);
    }
    files
}

fn explained_by_loss(chain: &ChainReport, file_id: &str, at: u64) -> bool {
    chain.losses.iter().any(|g| g.file_id == file_id && g.shipped <= at)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_chain_is_stale_once_the_period_after_its_end_is_overdue() {
        let ledger =
            DigestLedger { since: Some(at("2026-12-02T09:10:00Z")), period_seconds: Some(3600), ..Default::default() };
        let ended = |end: Option<&str>| ChainReport { last_period_end: end.map(at), ..Default::default() };
        let asked = |until: Option<&str>| Window { since: None, until: until.map(at) };
        let now = at("2026-12-02T12:30:00Z");
        // The 11:00-12:00 period is due by 13:00 (an hour's grace).
        assert_eq!(stale(&ledger, &ended(Some("2026-12-02T11:00:00Z")), asked(None), now), None);
        let Some(TrailProblem::Stale { due_by, .. }) =
            stale(&ledger, &ended(Some("2026-12-02T10:00:00Z")), asked(None), now)
        else {
            panic!("10:00 + 1h + 1h grace is before 12:30")
        };
        assert_eq!(due_by, at("2026-12-02T12:00:00Z"));
        // A window that ends earlier asks only up to its end.
        let early = asked(Some("2026-12-02T11:30:00Z"));
        assert_eq!(stale(&ledger, &ended(Some("2026-12-02T10:00:00Z")), early, now), None);
        // No digest yet: the chain's first period (09:00-10:00) was due by 11:00.
        assert!(stale(&ledger, &ended(None), asked(None), now).is_some());
        assert_eq!(stale(&ledger, &ended(None), asked(None), at("2026-12-02T10:59:00Z")), None);
        // No chain at all: nothing is due.
        assert_eq!(stale(&DigestLedger::default(), &ended(None), asked(None), now), None);
    }

    #[test]
    fn a_file_begun_after_the_chain_must_be_listed_from_offset_0() {
        let object = |file: &str, start: u64, end: u64| Listed {
            file_id: file.into(),
            start,
            end,
            key: format!("p/{file}/{start:020}.log.gz"),
            sha256: "00".repeat(32),
            lines: 1,
            source_file: "server_audit.log".into(),
            landed_at: at("2026-12-02T12:00:00Z"),
            first_record: None,
            last_record: None,
        };
        let (before, after) = ("20261202T080000Z-0000aaaa", "20261202T100000Z-0000bbbb");
        let chain = ChainReport {
            objects: vec![object(before, 20, 30), object(after, 20, 30), object(after, 30, 40)],
            ..Default::default()
        };
        let wanted: BTreeSet<&str> = [before, after].into();
        let mut problems = Vec::new();
        let files = coverage(&chain, &wanted, Some(at("2026-12-02T09:00:00Z")), &mut problems);
        assert_eq!(problems, vec![TrailProblem::Hole { file_id: after.into(), start: 0, end: 20 }]);
        assert_eq!(files.iter().map(|f| (f.covered_from, f.covered_to)).collect::<Vec<_>>(), vec![(20, 30), (20, 40)]);
        // A loss recorded with nothing shipped explains it.
        let lost = LossFacts {
            file_id: after.into(),
            source_file: "server_audit.log".into(),
            shipped: 0,
            last_size: 20,
            growing: false,
            detected_at: at("2026-12-02T11:00:00Z"),
            detected_by: None,
        };
        let chain = ChainReport { losses: vec![lost], ..chain };
        let mut problems = Vec::new();
        coverage(&chain, &wanted, Some(at("2026-12-02T09:00:00Z")), &mut problems);
        assert!(problems.is_empty(), "{problems:?}");
    }

    /// Erased: auditship's own object keys under a delete marker that no
    /// chain lists or awaits, of files begun by the window's end.
    #[test]
    fn only_unlisted_object_keys_under_a_marker_are_erased() {
        let version = |key: &str, id: &str, latest: bool, marker: bool| crate::store::Version {
            key: key.into(),
            version_id: id.into(),
            latest,
            delete_marker: marker,
            last_modified: at("2026-12-02T12:00:00Z"),
        };
        let key = |file: &str, start: u64| format!("p/standalone/db/dt=2026-12-02/{file}/{start:020}.log.gz");
        let (early, late) = ("20261202T080000Z-0000aaaa", "20261202T110000Z-0000bbbb");
        let history = History::of([
            version(&key(early, 0), "v1", false, false),
            version(&key(early, 0), "m1", true, true),
            version(&key(early, 10), "v2", false, false),
            version(&key(early, 10), "m2", true, true),
            version(&key(late, 0), "m3", true, true),
            version("p/standalone/db/notes.txt", "m4", true, true),
            version(&key(early, 20), "v5", true, false),
        ]);
        let listed = key(early, 10);
        let known = |k: &str| k == listed;
        let names = |w: Window| -> Vec<String> {
            erased(&history, "p/standalone/db/", known, w)
                .into_iter()
                .map(|p| match p {
                    TrailProblem::Erased { key, version_id, .. } => format!("{key} {version_id:?}"),
                    other => panic!("{other:?}"),
                })
                .collect()
        };
        assert_eq!(
            names(Window::default()),
            vec![format!("{} Some(\"v1\")", key(early, 0)), format!("{} None", key(late, 0))]
        );
        let before_late = Window { since: None, until: Some(at("2026-12-02T10:00:00Z")) };
        assert_eq!(
            names(before_late),
            vec![format!("{} Some(\"v1\")", key(early, 0))],
            "a file begun after the window"
        );
    }

    #[test]
    fn a_window_holds_the_periods_that_overlap_it() {
        let hour = |h: u32| (at(&format!("2026-12-02T{h:02}:00:00Z")), at(&format!("2026-12-02T{:02}:00:00Z", h + 1)));
        let w = Window { since: Some(at("2026-12-02T10:30:00Z")), until: Some(at("2026-12-02T12:00:00Z")) };
        let held: Vec<u32> = (8..14).filter(|h| w.overlaps(hour(*h))).collect();
        assert_eq!(held, vec![10, 11, 12], "10:00-11:00 overlaps 10:30; 12:00-13:00 begins at the window's end");
        assert!(!Window { since: Some(at("2026-12-02T11:00:00Z")), until: None }.overlaps(hour(10)), "ends at since");
        assert!(Window::default().overlaps(hour(3)) && Window::default().is_whole());
    }
}
