//! Family: files that share a first line, told apart.
//!
//! A file is tracked by the hash of its first line, and two files can begin
//! with the same line (a replayed session, a statement repeated within one
//! second, a restart that resets connection and query ids). When a scan
//! finds such a family, every member is read further, each is given the
//! bytes that tell it from the others (`identify::tell_apart`), and each is
//! matched to the checkpoint entry it is: the file tracked before keeps its
//! key, and a file new to the checkpoint gets a key of its own. A growing
//! member that so far holds only bytes another holds is tracked by its
//! place (its entry takes the member left when the others are matched)
//! until its bytes differ.

use super::scan::{Identified, Scan};
use super::{Shipper, Stop};
use crate::checkpoint::{FileProgress, StoredCheckpoint};
use crate::error::Failure;
use crate::fetch::FetchError;
use crate::identify::{tell_apart, FileId, Fingerprint, Identity, Start, DISTINCT_PREFIX_MAX};
use crate::instance::Instance;
use crate::keys::object_key;
use crate::list::{AuditName, LogFile};
use bytes::Bytes;
use std::collections::{BTreeMap, BTreeSet};

/// Which file a family member is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Told {
    /// The file the checkpoint tracks under this key.
    Tracked(FileId, Option<Identity>),
    /// A file new to the checkpoint, under a key of its own; without an
    /// identity while it holds only bytes another file also holds.
    New(FileId, Option<Identity>),
}

/// A member as read for telling it apart.
pub(super) struct Member<'a> {
    pub file: &'a LogFile,
    pub start: Start<'a>,
}

/// A family's members as read: each with its first bytes and whether they
/// are all the file has.
pub(super) struct Family {
    fingerprint: String,
    read: Vec<(Identified, Bytes, bool)>,
}

impl Family {
    fn first_record(&self) -> chrono::DateTime<chrono::Utc> {
        self.read
            .first()
            .and_then(|(i, _, _)| i.fingerprint.first_record)
            .unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH)
    }
}

/// The first object in S3 under a key a family's new member may take:
/// where it ends and the hash of its bytes (`None`: not auditship's).
pub(super) type FirstObjects = BTreeMap<FileId, Option<(u64, String)>>;

/// Keys looked up for one family before the lookup gives up finding
/// enough free ones (keys past them are not given out while any of those
/// is free).
const MAX_KEYS_LOOKED_UP: usize = 32;

impl Shipper {
    /// Takes every family out of the scan (none: nothing is read) and
    /// reads its members' starts:
    /// files whose first line another file on the instance shares, or that
    /// the checkpoint has told apart before. A complete file the scan took
    /// unread is read too. A member renamed away meanwhile is left out (the
    /// scan is then not steady, and done again).
    pub(super) async fn read_families(
        &self,
        instance: &Instance,
        cp: &StoredCheckpoint,
        scan: &mut Scan,
    ) -> Result<Vec<Family>, Stop> {
        let mut families = Vec::new();
        for fingerprint in families_in(cp, scan) {
            let mut members: Vec<Identified> = Vec::new();
            scan.identified.retain(|i| {
                let mine = i.fingerprint.sha256 == fingerprint;
                if mine {
                    members.push(i.clone());
                }
                !mine
            });
            // Unless it is known by its exact bytes: no other file is it.
            scan.known_complete.retain(|(file, id)| {
                let mine = cp.state.files.get(id).is_some_and(|p| p.fingerprint == fingerprint && !is_exact(p));
                if mine {
                    let fingerprint = Fingerprint { sha256: fingerprint.clone(), first_record: id.first_record_time() };
                    let (file, id) = (file.clone(), id.clone());
                    members.push(Identified {
                        file,
                        active: false,
                        fingerprint,
                        id,
                        identity: None,
                        listed: true,
                        whole: false,
                        scanned_with: std::sync::Arc::from(Vec::new()),
                    });
                }
                !mine
            });
            members.sort_by(|a, b| LogFile::newest_first(&a.file, &b.file));
            let mut read = Vec::new();
            for m in members {
                match self.read_start(instance, &m.file).await {
                    // The start is a file's, not a splice of two, if it came
                    // in one piece (or the scan turns out steady).
                    Ok((bytes, ended, one_piece)) if begins_with(&bytes, &fingerprint) => {
                        read.push((Identified { whole: one_piece, ..m }, bytes, ended))
                    }
                    // Renamed away since its head was read: another file
                    // holds the name now.
                    Ok(_) | Err(FetchError::Gone) => {}
                    Err(FetchError::Failed(f)) => return Err(f.into()),
                }
            }
            families.push(Family { fingerprint, read });
        }
        Ok(families)
    }

    /// The first objects under the keys each family's new members may take,
    /// in `assign`'s order of choice, until there are keys enough with
    /// none. A key whose objects hold another file's bytes is not free even
    /// when no checkpoint entry has it any more (its file shipped and gone).
    pub(super) async fn first_objects(
        &self,
        instance: &Instance,
        cp: &StoredCheckpoint,
        families: &[Family],
    ) -> Result<FirstObjects, Failure> {
        let taken = taken_keys(cp);
        let mut found = FirstObjects::new();
        for family in families {
            let mut free = 0;
            let keys = keys_in_order(family.first_record(), &family.fingerprint).filter(|k| !taken.contains(k));
            for key in keys.take(MAX_KEYS_LOOKED_UP) {
                if free >= family.read.len() {
                    break;
                }
                match self.store.head(&object_key(&self.cfg.prefix, instance, &key, 0)).await? {
                    Some(existing) => {
                        found.insert(key, existing.facts.map(|f| (f.end, f.sha256)));
                    }
                    None => free += 1,
                }
            }
        }
        Ok(found)
    }

    /// Reads a file's first bytes, up to `DISTINCT_PREFIX_MAX`: the bytes,
    /// whether they are all the file has, and whether they came in one
    /// piece (no rotation can have spliced them).
    async fn read_start(&self, instance: &Instance, file: &LogFile) -> Result<(Bytes, bool, bool), FetchError> {
        self.read_from_start(instance, file, "start", |stream| {
            Box::pin(async move {
                let (bytes, ended) = stream.peek_start(DISTINCT_PREFIX_MAX).await?;
                Ok((bytes, ended, stream.body_chunks() <= 1))
            })
        })
        .await
    }
}

/// First-line fingerprints to tell apart: shared by two files of the scan,
/// or by a file and a checkpoint entry that was told apart before.
fn families_in(cp: &StoredCheckpoint, scan: &Scan) -> BTreeSet<String> {
    let mut seen: BTreeSet<&str> = BTreeSet::new();
    let mut families = BTreeSet::new();
    let told_before: BTreeSet<&str> = cp
        .state
        .files
        .iter()
        .filter(|(id, p)| p.identity.is_some() || **id != first_line_id(id, &p.fingerprint))
        .map(|(_, p)| p.fingerprint.as_str())
        .collect();
    let complete: Vec<&str> = scan
        .known_complete
        .iter()
        .filter_map(|(_, id)| cp.state.files.get(id))
        .filter(|p| !is_exact(p))
        .map(|p| p.fingerprint.as_str())
        .collect();
    for fp in scan.identified.iter().map(|i| i.fingerprint.sha256.as_str()).chain(complete) {
        if !seen.insert(fp) || told_before.contains(fp) {
            families.insert(fp.to_string());
        }
    }
    // A file the tracked file with its first line may not be: read it to
    // see (it may be a namesake written after that file was deleted).
    for item in &scan.identified {
        if cp.state.files.get(&item.id).is_some_and(|p| may_be_a_namesake(p, item)) {
            families.insert(item.fingerprint.sha256.clone());
        }
    }
    families
}

/// Puts a family's members back into the scan, each as the file it is.
/// While files rotated during the scan (`!steady`), a read may be a splice
/// of two files and one file may have been read under two names: then
/// members are only matched to the entries they fit, nothing new is
/// keyed and no identity is kept (the scan is done again), and a member
/// no entry fits is kept under the first-line id only if it is the first
/// read, as any file in such a scan, and no objects are under that id.
pub(super) fn settle(
    instance: &Instance,
    cp: &StoredCheckpoint,
    scan: &mut Scan,
    families: Vec<Family>,
    first_objects: &FirstObjects,
    steady: bool,
) {
    for Family { fingerprint, read } in families {
        let read = if steady { read } else { one_read_per_file(read) };
        let members = members_of(&read);
        let first_record = read.first().and_then(|(i, _, _)| i.fingerprint.first_record);
        let claimed: BTreeSet<&FileId> = scan.known_complete.iter().map(|(_, id)| id).collect();
        let told = assign(cp, &fingerprint, first_record, &members, &claimed, first_objects);
        let alone = read.len() == 1;
        let mut first = true;
        for ((item, _, _), told) in read.into_iter().zip(told) {
            let shares = item.fingerprint.file_id();
            let first_read = std::mem::take(&mut first);
            match told {
                Told::New(..) if !steady => {
                    let others_bytes_there = first_objects.contains_key(&shares);
                    if first_read && !cp.state.files.contains_key(&shares) && !others_bytes_there {
                        scan.identified.push(Identified { id: shares, identity: None, ..item });
                    }
                }
                // A file read alone was only checked against its entry:
                // nothing to tell it apart from. Nor is a spliced read.
                Told::Tracked(id, _) if alone || !steady => {
                    let identity = cp.state.files.get(&id).and_then(|p| p.identity.clone());
                    scan.identified.push(Identified { id, identity, ..item })
                }
                Told::Tracked(id, identity) => scan.identified.push(Identified { id, identity, ..item }),
                Told::New(id, identity) => {
                    if identity.is_some() {
                        tracing::info!(
                            instance = %instance.id, file = %item.file.name, file_id = %id, shares = %shares,
                            "a file shares its first line with another; it is tracked under an id of its own"
                        );
                    } else {
                        tracing::warn!(
                            instance = %instance.id, file = %item.file.name, file_id = %id, shares = %shares,
                            "file {} so far holds only bytes another file with its first line holds too: it is \
                             tracked under {id} by its place among the files until its bytes differ",
                            item.file.name
                        );
                    }
                    scan.identified.push(Identified { id, identity, ..item });
                }
            }
        }
    }
    scan.identified.sort_by(|a, b| LogFile::newest_first(&a.file, &b.file));
    let present = scan.identified.iter().map(|i| &i.id).chain(scan.known_complete.iter().map(|(_, id)| id)).cloned();
    if steady {
        scan.present = present.collect();
    } else {
        // A file read under a name that rotated may be any of the files
        // read: every id seen stays present (no loss is concluded from a
        // scan that rotations overtook).
        scan.present.extend(present);
    }
}

/// Whether some member of the families is new to the checkpoint: only then
/// are the keys it may take looked up in S3 (`first_objects`).
pub(super) fn gives_new_keys(cp: &StoredCheckpoint, scan: &Scan, families: &[Family], steady: bool) -> bool {
    let claimed: BTreeSet<&FileId> = scan.known_complete.iter().map(|(_, id)| id).collect();
    families.iter().any(|f| {
        let read = if steady { f.read.clone() } else { one_read_per_file(f.read.clone()) };
        let first_record = read.first().and_then(|(i, _, _)| i.fingerprint.first_record);
        let told = assign(cp, &f.fingerprint, first_record, &members_of(&read), &claimed, &FirstObjects::new());
        told.iter().any(|t| matches!(t, Told::New(..)))
    })
}

/// In a scan that rotations overtook, one file may have been read under
/// two names, or a read may be a splice: of reads that are prefixes of
/// one another, only the first is kept.
fn one_read_per_file(read: Vec<(Identified, Bytes, bool)>) -> Vec<(Identified, Bytes, bool)> {
    let mut kept: Vec<(Identified, Bytes, bool)> = Vec::new();
    for m in read {
        if !kept.iter().any(|(_, bytes, _)| bytes.starts_with(&m.1) || m.1.starts_with(bytes)) {
            kept.push(m);
        }
    }
    kept
}

fn members_of(read: &[(Identified, Bytes, bool)]) -> Vec<Member<'_>> {
    read.iter()
        .map(|(i, bytes, ended)| Member { file: &i.file, start: Start { bytes, whole: *ended, active: i.active } })
        .collect()
}

/// Whether `bytes` begin with the first line whose fingerprint is given.
fn begins_with(bytes: &[u8], fingerprint: &str) -> bool {
    crate::identify::identity_prefix(bytes).is_some_and(|p| Fingerprint::of_prefix(p).sha256 == fingerprint)
}

/// Matches a family's members (newest first) to the checkpoint's entries
/// with their first line: each entry to at most one member, the entries
/// that were told apart before first (exact bytes, then longest start),
/// and each entry, oldest name first, to the oldest member that fits it:
/// rotation keeps files in order, so pairs stay the same from run to run
/// (and a tracked file was there before a newcomer). A member no entry
/// fits is new, under the first key no entry has and no other file's
/// objects are under (`first_objects`).
pub(super) fn assign(
    cp: &StoredCheckpoint,
    fingerprint: &str,
    first_record: Option<chrono::DateTime<chrono::Utc>>,
    members: &[Member<'_>],
    claimed: &BTreeSet<&FileId>,
    first_objects: &FirstObjects,
) -> Vec<Told> {
    let starts: Vec<Start<'_>> = members.iter().map(|m| m.start).collect();
    let identities = tell_apart(&starts);
    let mut entries: Vec<(&FileId, &FileProgress)> =
        cp.state.files.iter().filter(|(id, p)| p.fingerprint == fingerprint && !claimed.contains(id)).collect();
    let first_line_key = FileId::new(first_record.unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH), fingerprint);
    entries.sort_by(|(a_id, a), (b_id, b)| {
        let strength = |p: &FileProgress| p.identity.as_ref().map(|i| (i.exact, i.len));
        strength(b)
            .cmp(&strength(a))
            .then_with(|| oldest_first(&a.last_name, &b.last_name))
            // Under one name: the first-line id was there first.
            .then_with(|| (**b_id == first_line_key).cmp(&(**a_id == first_line_key)))
            .then_with(|| b.shipped.cmp(&a.shipped))
    });
    let mut told: Vec<Option<Told>> = vec![None; members.len()];
    for (id, p) in entries {
        let fits = |m: &Member<'_>| p.identity.as_ref().is_none_or(|i| i.matches(&m.start)) && could_be(p, m);
        let free = |at: &usize| told[*at].is_none();
        let found = (0..members.len()).rev().filter(free).find(|&at| fits(&members[at])).or_else(|| {
            // An entry from before files were told apart may mix two files'
            // names and sizes: the bytes shipped from it decide (and a
            // rotated file is never the active one).
            let legacy = p.identity.is_none() && p.shipped > 0;
            let fits = |m: &Member<'_>| !(p.closed && m.start.active) && shipped_bytes_fit(p, m);
            (0..members.len()).rev().filter(free).find(|&at| legacy && fits(&members[at]))
        });
        if let Some(at) = found {
            let identity = crate::checkpoint::stronger_identity(p.identity.clone(), identities[at].clone());
            told[at] = Some(Told::Tracked(id.clone(), identity));
        }
    }
    let at = first_record.unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH);
    let mut taken = taken_keys(cp);
    // Oldest first, as entries are matched. The oldest new member takes the
    // first-line id if no file has it: the one a run that saw it before its
    // newer namesakes (one running beside this) gives it.
    for at_member in (0..members.len()).rev() {
        if told[at_member].is_some() {
            continue;
        }
        let bytes = members[at_member].start.bytes;
        let whole = members[at_member].start.whole;
        let free = |key: &FileId| match first_objects.get(key) {
            None => true,
            // Objects under it: free only if they are this file's (a run
            // beside this one gave it the key). An object longer than the
            // start read is taken for the file's (files that share their
            // first MiB are not told apart; see `identify`).
            Some(object) => object.as_ref().is_some_and(|(end, sha256)| holds_object(bytes, *end, sha256, whole)),
        };
        let id = keys_in_order(at, fingerprint).find(|key| !taken.contains(key) && free(key)).expect("a free key");
        taken.insert(id.clone());
        told[at_member] = Some(Told::New(id, identities[at_member].clone()));
    }
    told.into_iter().flatten().collect()
}

/// Keys the checkpoint has given: its files' and its losses'.
fn taken_keys(cp: &StoredCheckpoint) -> BTreeSet<FileId> {
    cp.state.files.keys().chain(cp.state.gaps.iter().map(|g| &g.file_id)).cloned().collect()
}

/// Whether a file's start (`whole`: all of it) begins with an object's
/// bytes: `end` bytes hashing to `sha256`; past the start read, it may.
fn holds_object(bytes: &[u8], end: u64, sha256: &str, whole: bool) -> bool {
    use sha2::{Digest, Sha256};
    match usize::try_from(end).ok().and_then(|end| bytes.get(..end)) {
        Some(b) => hex::encode(Sha256::digest(b)) == sha256,
        None => !whole && bytes.len() >= DISTINCT_PREFIX_MAX,
    }
}

/// The keys a file new to a family may have, in order of choice: the
/// first-line id, then its time and a hash of its first line marked as a
/// newcomer's, numbered for further newcomers. Every run that sees the
/// file gives it alike, however much of it each has seen (the identity
/// that tells it apart may change as it grows; the key never does).
pub fn keys_in_order(at: chrono::DateTime<chrono::Utc>, fingerprint: &str) -> impl Iterator<Item = FileId> + '_ {
    use sha2::{Digest, Sha256};
    let basis = hex::encode(Sha256::new().chain_update(fingerprint).chain_update("+untold").finalize());
    let first_newcomer = FileId::new(at, &basis);
    let numbered = (2u32..).map(move |n| {
        FileId::new(at, &hex::encode(Sha256::new().chain_update(&basis).chain_update(n.to_string()).finalize()))
    });
    [FileId::new(at, fingerprint), first_newcomer].into_iter().chain(numbered)
}

/// The id a file with this first line has when no other file shares it
/// (same time as `id`).
fn first_line_id(id: &FileId, fingerprint: &str) -> FileId {
    if !fingerprint.get(..8).is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit())) {
        // Not a fingerprint this version writes: no family to tell apart.
        return id.clone();
    }
    FileId::new(id.first_record_time().unwrap_or(chrono::DateTime::<chrono::Utc>::UNIX_EPOCH), fingerprint)
}

fn is_exact(p: &FileProgress) -> bool {
    p.identity.as_ref().is_some_and(|i| i.exact)
}

/// Whether what the listing shows of a file disagrees with what the
/// checkpoint knows of the file with its id: a rotated file that is active
/// again or of another size, a growing one shorter than what was shipped
/// from it, or under a name it could not have or was not seen under (a
/// rotation since, or another file). Reading its start settles it.
fn may_be_a_namesake(p: &FileProgress, item: &Identified) -> bool {
    name_rules_out(p, &item.file)
        || if p.closed {
            item.active || item.file.size != p.last_size
        } else {
            item.file.size < p.shipped.max(p.last_size) || p.last_name != item.file.name
        }
}

/// Whether a file's name shows it is not the tracked one: an Aurora file
/// keeps its name; a MariaDB file only ever moves to older names.
fn name_rules_out(p: &FileProgress, file: &LogFile) -> bool {
    match (file.kind, AuditName::parse(&p.last_name)) {
        (AuditName::Aurora { .. }, _) => p.last_name != file.name,
        (_, Some(AuditName::Aurora { .. }) | None) => false,
        (_, Some(_)) => oldest_first(&file.name, &p.last_name) == std::cmp::Ordering::Greater,
    }
}

/// Orders two file names as the files they name, oldest first.
fn oldest_first(a: &str, b: &str) -> std::cmp::Ordering {
    match (AuditName::parse(a), AuditName::parse(b)) {
        (Some(ka), Some(kb)) => {
            let file = |name: &str, kind| LogFile { name: name.to_string(), size: 0, last_written_ms: 0, kind };
            LogFile::newest_first(&file(b, kb), &file(a, ka))
        }
        _ => a.cmp(b),
    }
}

/// Whether a member may be the file an entry tracks, by what the entry
/// knows of it: a rotated file never grows or becomes active again; the
/// bytes before its shipped offset are the ones shipped; an Aurora file
/// keeps its name.
fn could_be(p: &FileProgress, m: &Member<'_>) -> bool {
    let bytes = m.start.bytes;
    if name_rules_out(p, m.file) {
        return false;
    }
    if p.closed {
        let size_differs =
            if m.start.whole { bytes.len() as u64 != p.last_size } else { p.last_size <= bytes.len() as u64 };
        if m.start.active || size_differs {
            return false;
        }
    }
    // A file only grows: one shorter than it was seen is another.
    if m.start.whole && (bytes.len() as u64) < p.last_size {
        return false;
    }
    p.shipped == 0 || shipped_bytes_fit(p, m)
}

/// Whether the bytes before an entry's shipped offset are the member's
/// (unknown past the start read: then they may be).
fn shipped_bytes_fit(p: &FileProgress, m: &Member<'_>) -> bool {
    let bytes = m.start.bytes;
    match usize::try_from(p.shipped) {
        Ok(shipped) if shipped <= bytes.len() => super::file::tail_sha256(&bytes[..shipped]) == p.tail_sha256,
        // Shorter than what was shipped from it: not it.
        _ => !m.start.whole,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::Checkpoint;
    use crate::identify::identity_prefix;
    use crate::instance::Instance;

    const LINE: &[u8] = b"20261122 00:00:01,host,rdsadmin,localhost,1,1,QUERY,,'SELECT 1',0\n";

    fn checkpoint(files: &[(&FileId, FileProgress)]) -> StoredCheckpoint {
        let mut state = Checkpoint::empty(&Instance::for_tests("db-RES"));
        for (id, p) in files {
            state.files.insert((*id).clone(), p.clone());
        }
        StoredCheckpoint { key: "k".into(), etag: None, state }
    }

    fn fingerprint() -> Fingerprint {
        Fingerprint::of_prefix(identity_prefix(LINE).unwrap())
    }

    fn listed(name: &str, bytes: &[u8]) -> LogFile {
        let kind = AuditName::parse(name).unwrap();
        LogFile { name: name.into(), size: bytes.len() as u64, last_written_ms: 1, kind }
    }

    /// The checkpoint entry of a file shipped up to `shipped`.
    fn shipped(bytes: &[u8], name: &str, shipped: usize, closed: bool) -> FileProgress {
        FileProgress {
            fingerprint: fingerprint().sha256,
            shipped: shipped as u64,
            tail_sha256: crate::pipeline::file::tail_sha256(&bytes[..shipped]),
            last_name: name.into(),
            last_size: bytes.len() as u64,
            last_written_ms: 1,
            closed,
            identity: None,
        }
    }

    fn assign_files(cp: &StoredCheckpoint, files: &[(&str, &[u8], bool)]) -> Vec<Told> {
        assign_with_objects(cp, files, &FirstObjects::new())
    }

    fn assign_with_objects(cp: &StoredCheckpoint, files: &[(&str, &[u8], bool)], objects: &FirstObjects) -> Vec<Told> {
        let listed: Vec<LogFile> = files.iter().map(|(name, bytes, _)| listed(name, bytes)).collect();
        let members: Vec<Member<'_>> = files
            .iter()
            .zip(&listed)
            .map(|((_, bytes, active), file)| Member { file, start: Start { bytes, whole: true, active: *active } })
            .collect();
        assign(cp, &fingerprint().sha256, fingerprint().first_record, &members, &BTreeSet::new(), objects)
    }

    #[test]
    fn the_tracked_file_keeps_its_key_and_a_newcomer_gets_its_own() {
        let old = [LINE, b"old\n"].concat();
        let new = [LINE, b"new\n"].concat();
        let x = fingerprint().file_id();
        // Shipped in full while it grew, then rotated; the newcomer began
        // with the same line.
        let cp = checkpoint(&[(&x, shipped(&old, "audit/server_audit.log", old.len(), false))]);
        let told =
            assign_files(&cp, &[("audit/server_audit.log", &new, true), ("audit/server_audit.log.1", &old, false)]);
        assert!(matches!(&told[1], Told::Tracked(id, Some(i)) if *id == x && i.exact), "{told:?}");
        let Told::New(id, Some(identity)) = &told[0] else { panic!("{told:?}") };
        assert_ne!(*id, x);
        assert!(!identity.exact && identity.len as usize == LINE.len() + 1, "{identity:?}");
    }

    #[test]
    fn a_namesake_of_a_deleted_file_is_not_it() {
        let gone = [LINE, b"gone, longer\n"].concat();
        let x = fingerprint().file_id();
        let cp = checkpoint(&[(&x, shipped(&gone, "audit/server_audit.log.1", gone.len(), true))]);
        for (name, bytes, active) in [
            // A rotated file of another size.
            ("audit/server_audit.log.1", [LINE, b"short\n"].concat(), false),
            // Active: a rotated file never is again.
            ("audit/server_audit.log", gone.clone(), true),
            // Of the same size, other bytes.
            ("audit/server_audit.log.1", [LINE, b"gone, LONGER\n"].concat(), false),
        ] {
            let told = assign_files(&cp, &[(name, &bytes, active)]);
            assert!(matches!(&told[0], Told::New(id, _) if *id != x), "{name} {bytes:?}: {told:?}");
        }
        // The file itself, under an older name: it.
        let told = assign_files(&cp, &[("audit/server_audit.log.2", &gone, false)]);
        assert!(matches!(&told[0], Told::Tracked(id, _) if *id == x), "{told:?}");
    }

    /// Before files were told apart, two files with one first line shared
    /// an entry: names and sizes of both, bytes shipped of one. The bytes
    /// decide; the other file is new; nothing is lost.
    #[test]
    fn an_entry_that_mixed_two_files_goes_to_the_one_its_bytes_came_from() {
        let a = [LINE, b"rotated\n"].concat();
        let b = [LINE, b"active and longer\n"].concat();
        let x = fingerprint().file_id();
        let mixed = FileProgress { last_size: b.len() as u64, ..shipped(&a, "audit/server_audit.log", a.len(), true) };
        let cp = checkpoint(&[(&x, mixed)]);
        let told = assign_files(&cp, &[("audit/server_audit.log", &b, true), ("audit/server_audit.log.1", &a, false)]);
        assert!(matches!(&told[1], Told::Tracked(id, _) if *id == x), "{told:?}");
        assert!(matches!(&told[0], Told::New(id, _) if *id != x), "{told:?}");
    }

    #[test]
    fn with_nothing_tracked_the_oldest_takes_the_first_line_id() {
        let cp = checkpoint(&[]);
        let (a, b) = ([LINE, b"a\n"].concat(), [LINE, b"b\n"].concat());
        let told = assign_files(&cp, &[("audit/server_audit.log", &b, true), ("audit/server_audit.log.1", &a, false)]);
        assert!(matches!(&told[1], Told::New(id, _) if *id == fingerprint().file_id()), "{told:?}");
        assert!(matches!(&told[0], Told::New(id, _) if *id != fingerprint().file_id()), "{told:?}");
    }

    /// A file shipped and gone leaves no entry, but its objects stay: a
    /// newcomer with its first line never takes its key (every read would
    /// diverge), while one a run beside this one keyed does keep its key.
    #[test]
    fn a_key_whose_objects_hold_another_files_bytes_is_not_given_out() {
        use sha2::{Digest, Sha256};
        let cp = checkpoint(&[]);
        let gone = [LINE, b"shipped, then deleted\n"].concat();
        let new = [LINE, b"new\n"].concat();
        let x = fingerprint().file_id();
        let object = |bytes: &[u8]| Some((bytes.len() as u64, hex::encode(Sha256::digest(bytes))));
        let files: [(&str, &[u8], bool); 1] = [("audit/server_audit.log", &new, true)];
        let theirs = FirstObjects::from([(x.clone(), object(&gone))]);
        let told = assign_with_objects(&cp, &files, &theirs);
        assert!(matches!(&told[0], Told::New(id, _) if *id != x), "{told:?}");
        // Nor a key with an object auditship did not write.
        let foreign = FirstObjects::from([(x.clone(), None)]);
        let told = assign_with_objects(&cp, &files, &foreign);
        assert!(matches!(&told[0], Told::New(id, _) if *id != x), "{told:?}");
        let mine = FirstObjects::from([(x.clone(), object(&new[..LINE.len()]))]);
        let told = assign_with_objects(&cp, &files, &mine);
        assert!(matches!(&told[0], Told::New(id, _) if *id == x), "{told:?}");
    }

    #[test]
    fn rotated_files_with_the_same_bytes_get_numbered_keys() {
        let cp = checkpoint(&[]);
        let told =
            assign_files(&cp, &[("audit/server_audit.log.1", LINE, false), ("audit/server_audit.log.2", LINE, false)]);
        let ids: Vec<&FileId> = told
            .iter()
            .map(|t| match t {
                Told::New(id, _) | Told::Tracked(id, _) => id,
            })
            .collect();
        assert_ne!(ids[0], ids[1]);
    }
}
