//! Ledger: what the checkpoint says is tracked, shipped and lost, and the
//! losses a run reports.
//!
//! A loss is recorded once, in the checkpoint, and reported (exit 3) by
//! every run until one that reported it has finished its pass; so a run
//! killed between recording a loss and exiting does not swallow the page.

use super::scan::{Head, Identified, Scan};
use super::Shipper;
use crate::checkpoint::{self, Gap, PagedLoss, StoredCheckpoint, UnnamedFile};
use crate::error::Failure;
use crate::fetch::FetchError;
use crate::identify::FileId;
use crate::instance::{Instance, ResourceId};
use crate::keys::{checkpoint_key, file_prefix, instance_pointer_key, object_key, start_of_key};
use crate::list::{AuditName, LogFile};
use crate::report::{age_seconds, oldest_unshipped_at, InstanceReport, Loss};
use crate::run_id::RunId;
use crate::store::{ObjectFacts, Swapped};
use bytes::Bytes;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::cmp::Ordering;
use std::collections::{BTreeSet, HashSet};

/// Reports (exit 3) every recorded loss no finished run has reported.
pub(super) fn report_unreported(
    instance: &Instance,
    gaps: &[Gap],
    oldest_present: Option<&FileId>,
    report: &mut InstanceReport,
) {
    for g in gaps.iter().filter(|g| !g.reported) {
        let loss = Loss::of_gap(g, &instance.resource_id.0);
        if report.losses.contains(&loss) {
            continue;
        }
        // Files are deleted oldest first: files begun after the lost one
        // and before the oldest one still here went with it, seen or not.
        let unseen = match oldest_present {
            Some(oldest) if *oldest > g.file_id => format!(
                "; any file begun from {} to {} (first-record times) that is not in S3 was deleted unseen and is \
                 lost too",
                g.file_id.time(),
                oldest.time()
            ),
            None if g.unnamed => "; so is any file begun after it that is not in S3".to_string(),
            _ => String::new(),
        };
        report.gaps += 1;
        let message = format!(
            "instance {} ({}): {}{unseen}; {}",
            instance.id,
            instance.resource_id,
            loss.describe(),
            loss_hint(instance)
        );
        report.lose(loss, message);
    }
}

/// What to change so that files are shipped before they are deleted.
fn loss_hint(instance: &Instance) -> &'static str {
    if instance.engine.starts_with("aurora") {
        "Aurora removes audit files after about 24 hours or under local storage pressure: run more often"
    } else {
        "run more often or raise server_audit_file_rotations / server_audit_file_rotate_size"
    }
}

/// Marks the losses this pass reported as reported; whether any changed.
pub(super) fn mark_reported(cp: &mut StoredCheckpoint, report: &InstanceReport, run: &RunId) -> bool {
    let mut changed = false;
    let ours = cp.state.dbi_resource_id.clone();
    for g in cp.state.gaps.iter_mut().filter(|g| !g.reported) {
        if report.losses.iter().any(|l| l.dbi_resource_id == ours && l.file_id == g.file_id.0 && l.unnamed == g.unnamed)
        {
            g.reported = true;
            g.reported_by = Some(run.clone());
            changed = true;
        }
    }
    // A replaced instance's losses are marked here too, in the same last
    // write: marking them in their own checkpoint would be a second write,
    // and a run killed between the two would leave one marked unreported.
    for l in report.losses.iter().filter(|l| l.dbi_resource_id != ours) {
        let paged = PagedLoss {
            dbi_resource_id: l.dbi_resource_id.clone(),
            file_id: FileId(l.file_id.clone()),
            unnamed: l.unnamed,
        };
        if !cp.state.paged_for_replaced.contains(&paged) {
            cp.state.paged_for_replaced.push(paged);
            changed = true;
        }
    }
    changed
}

/// Records that a file no scan has seen follows `item` (it was found
/// rotated after the scan read it as the growing file): until a scan names
/// that file, losing it is a loss like any other.
pub(super) fn expect_unseen_successor(cp: &mut StoredCheckpoint, item: &Identified) {
    let unseen = UnnamedFile {
        name: item.file.name.clone(),
        after: Some(item.id.clone()),
        between: 0,
        after_empty_written_ms: None,
        head_len: 0,
        head_sha256: hex::encode(Sha256::digest(b"")),
        last_written_ms: None,
        seen_at: Utc::now(),
        settled: false,
    };
    if !cp.state.unnamed.iter().any(|u| u.same_file(&unseen)) {
        cp.state.unnamed.push(unseen);
    }
}

/// Complete files that left the instance need no tracking any more.
pub(super) fn forget_complete_and_gone(cp: &mut StoredCheckpoint, present: &HashSet<FileId>) -> bool {
    let before = cp.state.files.len();
    let ledger = &cp.state.digests;
    cp.state.files.retain(|id, p| !p.complete() || present.contains(id) || !ledger.done_with(id, p.last_size));
    // What the ledger keeps per file is needed only while the file is
    // tracked or has objects waiting for a digest; without pruning it, a
    // checkpoint would grow by a file per rotation, forever.
    let files = &cp.state.files;
    let ledger = &mut cp.state.digests;
    let waiting: HashSet<String> = ledger.awaiting().map(|l| l.file_id.clone()).collect();
    let keep = |id: &FileId| files.contains_key(id) || waiting.contains(&id.0);
    let listed_before = ledger.listed_to.len();
    ledger.sized.retain(|id| files.contains_key(id));
    ledger.listed_to.retain(|id, _| keep(id));
    cp.state.files.len() != before || cp.state.digests.listed_to.len() != listed_before
}

/// Adds every newly identified file to the checkpoint with nothing shipped.
/// Gap detection only knows files the checkpoint tracks; tracking each file
/// as soon as it is seen means that, whatever happens to later runs, the
/// newest tracked file is one that can still grow, and its disappearance
/// (with everything begun after it) is reported.
pub(super) fn track_new_files(identified: &[Identified], cp: &mut StoredCheckpoint) -> bool {
    let mut added = false;
    for item in identified {
        if let Some(p) = cp.state.files.get_mut(&item.id) {
            // Told apart from a file with the same first line since.
            let identity = crate::checkpoint::stronger_identity(p.identity.clone(), item.identity.clone());
            added |= identity != p.identity;
            p.identity = identity;
            continue;
        }
        if cp.state.gaps.iter().any(|g| g.file_id == item.id) {
            continue;
        }
        cp.state.files.insert(item.id.clone(), item.untouched_progress());
        added = true;
    }
    added
}

/// What is left to ship after a pass, and how old it is.
pub(super) fn summarize_pending(scan: &Scan, cp: &StoredCheckpoint, report: &mut InstanceReport) {
    report.pending_files = 0;
    report.pending_bytes = 0;
    report.lag_seconds = 0;
    let identified = &scan.identified;
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

/// What an instance the run did not reach is behind by, from its
/// checkpoint and, when it could be had, its listing: the bytes the
/// checkpoint recorded as unshipped, and as lag the age of the oldest of
/// them or, if that is younger and a file was written after the last
/// commit (or the listing is not known), the time since that commit:
/// whatever was written since is not in S3 either. So the lag of an
/// instance that never gets its turn keeps growing, and alarms, while an
/// idle one whose files nobody wrote since reads no false staleness.
/// (The listing's write times are RDS's clock, the commit time ours: a
/// skew of seconds can hide a write made just after a commit for one run.)
pub(super) fn estimate_from_checkpoint(
    cp: &StoredCheckpoint,
    listing: Option<&[LogFile]>,
    report: &mut InstanceReport,
) {
    let written_since_commit = |at: DateTime<Utc>| {
        listing.is_none_or(|files| files.iter().any(|f| f.size > 0 && f.last_written_ms > at.timestamp_millis()))
    };
    let mut lag = match cp.state.updated_at {
        Some(at) if written_since_commit(at) => age_seconds(at),
        _ => 0,
    };
    for (id, p) in &cp.state.files {
        let pending = p.last_size.saturating_sub(p.shipped);
        if pending == 0 {
            continue;
        }
        report.pending_files += 1;
        report.pending_bytes += pending;
        let since = oldest_unshipped_at(p.shipped, id.first_record_time(), p.closed, p.last_written_ms);
        lag = lag.max(since.map_or(0, age_seconds));
    }
    report.lag_seconds = lag;
}

/// The same for an instance with no checkpoint yet: all its files are
/// unshipped; their oldest byte is at least as old as the oldest last
/// write.
pub(super) fn estimate_from_listing(files: &[LogFile], report: &mut InstanceReport) {
    let with_bytes = files.iter().filter(|f| f.size > 0);
    report.pending_files = with_bytes.clone().count();
    report.pending_bytes = with_bytes.clone().map(|f| f.size).sum();
    report.lag_seconds =
        with_bytes.filter_map(|f| DateTime::from_timestamp_millis(f.last_written_ms)).min().map_or(0, age_seconds);
}

/// A file in the order of files: its listing, its id if it has one, else
/// the bytes it has.
type Placed<'a> = (LogFile, Option<FileId>, Option<&'a [u8]>);

/// Whether the file that had no first line is still on the instance.
enum Found {
    Named,
    StillUnnamed,
    Gone,
    CannotTell,
}

/// Marks a recorded unnamed file settled, recording its loss if it is one
/// (`Some(uncertain)`).
fn settle(cp: &mut StoredCheckpoint, u: &UnnamedFile, loss: Option<bool>, run: &RunId) {
    if let Some(uncertain) = loss {
        let file_id = u.after.clone().unwrap_or_else(|| placeholder_id(u));
        if !cp.state.gaps.iter().any(|g| g.unnamed && g.file_id == file_id) {
            cp.state.gaps.push(Gap {
                file_id,
                last_name: u.name.clone(),
                shipped: 0,
                last_size: u.head_len,
                detected_at: Utc::now(),
                growing: true,
                reported: false,
                unnamed: true,
                uncertain,
                detected_by: Some(run.clone()),
                reported_by: None,
            });
        }
    }
    if let Some(mine) = cp.state.unnamed.iter_mut().find(|m| m.same_file(u)) {
        mine.settled = true;
    }
}

/// The id an unnamed file's loss is recorded under when no named file
/// preceded it: its sighting time and a hash of where it was seen.
fn placeholder_id(u: &UnnamedFile) -> FileId {
    let place = format!("{}|{:?}|{}", u.name, u.last_written_ms, u.head_len);
    FileId::new(u.seen_at, &hex::encode(Sha256::digest(place.as_bytes())))
}

/// A file listings showed with bytes, deleted before any read: it had no
/// id, and is known by its listing alone. Its loss is recorded under an id
/// made of that listing, so every run that sees it records the one gap.
/// Returns whether the checkpoint changed.
fn record_listed_then_gone(cp: &mut StoredCheckpoint, file: &LogFile, run: &RunId) -> bool {
    let file_id = listing_id(file);
    if cp.state.gaps.iter().any(|g| g.unnamed && g.file_id == file_id) {
        return false;
    }
    cp.state.gaps.push(Gap {
        file_id,
        last_name: file.name.clone(),
        shipped: 0,
        last_size: file.size,
        detected_at: Utc::now(),
        growing: !matches!(file.kind, AuditName::MariaDbRotated(_)),
        reported: false,
        unnamed: true,
        uncertain: false,
        detected_by: Some(run.clone()),
        reported_by: None,
    });
    true
}

/// Whether a tracked file could be this listed file: one with the size and
/// write time the listing shows, or one gone since, on its stripe, that
/// was still growing and had no more bytes and no later write than that.
fn could_be_tracked(cp: &StoredCheckpoint, present: &HashSet<FileId>, file: &LogFile) -> bool {
    cp.state.files.iter().any(|(id, p)| {
        let same = p.last_size == file.size && p.last_written_ms == file.last_written_ms;
        let grown = p.last_size <= file.size && p.last_written_ms <= file.last_written_ms;
        let stripe = AuditName::parse(&p.last_name).and_then(|n| n.stripe());
        same || (!present.contains(id) && stripe == file.kind.stripe() && !p.closed && grown)
    })
}

/// The id a file known only by a listing is recorded under: its write time
/// and a hash of its size, write time and stripe — not its name, which a
/// rotation changes (two runs may list it as `.1` and `.2`).
fn listing_id(file: &LogFile) -> FileId {
    let listing = format!("{}|{}|{:?}", file.size, file.last_written_ms, file.kind.stripe());
    let at = DateTime::from_timestamp_millis(file.last_written_ms).unwrap_or_default();
    FileId::new(at, &hex::encode(Sha256::digest(listing.as_bytes())))
}

/// Which resource id an instance identifier stands for, and which it
/// stood for before: `{prefix}/_state/instances/{instance-id}.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePointer {
    pub instance_id: String,
    pub dbi_resource_id: String,
    /// Resource ids this identifier belonged to before, oldest first.
    #[serde(default)]
    pub replaced: Vec<String>,
    /// Of those, the ones whose losses a finished run may not have
    /// reported yet: every run looks at their checkpoints again.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unreported: Vec<String>,
}

impl Shipper {
    /// Tracked files with unshipped bytes that no longer exist are lost:
    /// each is recorded as a gap, and every gap no finished run has
    /// reported yet is reported now. The shipped offset of a lost file is
    /// taken from S3, not only the checkpoint: a run killed between an
    /// object's create and its checkpoint commit shipped more than the
    /// checkpoint says. Returns whether the checkpoint changed.
    pub(super) async fn record_losses(
        &self,
        instance: &Instance,
        cp: &mut StoredCheckpoint,
        present: &HashSet<FileId>,
        report: &mut InstanceReport,
    ) -> Result<bool, Failure> {
        let lost = cp.state.unshipped_and_gone(present);
        // Rotation deletes the oldest file first, so files begun after a
        // vanished one and before the oldest file still there are gone too,
        // even those no run ever saw.
        let oldest_present = present.iter().min();
        for (id, p) in &lost {
            let (shipped, found) = self.shipped_in_s3(instance, id, p.shipped).await?;
            // Objects a killed run made past the checkpoint's offset are in
            // the trail: the digests list them.
            let records = self.records_digests(cp);
            for (key, facts) in found.iter().filter(|_| records) {
                if let Some(listed) = self.listed(key, facts) {
                    cp.state.digests.record(listed);
                }
            }
            // And they have events due, like any object.
            if self.records_events(cp) {
                cp.state.events_pending.extend(found.iter().map(|(key, _)| key.clone()));
            }
            cp.state.files.remove(id);
            cp.state.gaps.push(Gap {
                file_id: id.clone(),
                last_name: p.last_name.clone(),
                shipped,
                last_size: p.last_size.max(shipped),
                detected_at: Utc::now(),
                growing: !p.closed,
                reported: false,
                unnamed: false,
                uncertain: false,
                detected_by: Some(self.run.clone()),
                reported_by: None,
            });
            if let Some(oldest) = oldest_present.filter(|oldest| *oldest > id) {
                tracing::warn!(
                    instance = %instance.id, from = id.time(), to = oldest.time(),
                    "files begun between these first-record times that are not in S3 were deleted unseen"
                );
            }
        }
        report_unreported(instance, &cp.state.gaps, oldest_present, report);
        Ok(!lost.is_empty())
    }

    /// How far a file's objects in S3 reach without a hole, from `from`,
    /// and the objects past `from` that reach it.
    async fn shipped_in_s3(
        &self,
        instance: &Instance,
        id: &FileId,
        from: u64,
    ) -> Result<(u64, Vec<(String, ObjectFacts)>), Failure> {
        let prefix = file_prefix(&self.cfg.prefix, instance, id);
        let starts: BTreeSet<u64> =
            self.store.list_keys(&prefix).await?.iter().filter_map(|k| start_of_key(k)).collect();
        let mut reached = from;
        let mut found = Vec::new();
        while starts.contains(&reached) {
            let key = object_key(&self.cfg.prefix, instance, id, reached);
            match self.store.head(&key).await?.and_then(|e| e.facts) {
                Some(f) if f.start == reached && f.end > reached => {
                    reached = f.end;
                    found.push((key, f));
                }
                _ => break,
            }
        }
        Ok((reached, found))
    }

    /// Files without a complete first line have no id to be tracked by, yet
    /// they hold audit bytes: the newest file right after a rotation, an
    /// Aurora stripe just begun. Each one a scan sees is recorded by its
    /// place (the named file just older than it), and every later scan
    /// settles the recorded ones: found named (it is tracked from then on),
    /// still unnamed, or gone, which is a loss (exit 3) — uncertain when it
    /// had no bytes to recognise it by and could be the oldest file left.
    /// Returns whether the checkpoint changed.
    pub(super) async fn settle_unnamed(
        &self,
        instance: &Instance,
        cp: &mut StoredCheckpoint,
        scan: &Scan,
    ) -> Result<bool, Failure> {
        let mut changed = false;
        for file in &scan.listed_then_gone {
            // A tracked file may be it (gone since, it may have grown and
            // rotated first): then its loss is that file's, counted there.
            if !could_be_tracked(cp, &scan.present, file) {
                changed |= record_listed_then_gone(cp, file, &self.run);
            }
        }
        let open: Vec<UnnamedFile> = cp.state.unnamed.iter().filter(|u| !u.settled).cloned().collect();
        for u in open {
            let loss = match self.find_unnamed(instance, scan, &u).await? {
                Found::Named => None,
                Found::StillUnnamed => continue,
                Found::Gone => Some(false),
                Found::CannotTell => Some(true),
            };
            settle(cp, &u, loss, &self.run);
            changed = true;
        }
        let named = scan.named_files();
        for (file, active, head) in &scan.unnamed {
            // A rotated file that is empty can never hold anything.
            if !active && head.is_empty() {
                continue;
            }
            let older =
                |f: &LogFile| LogFile::newest_first(file, f) == Ordering::Less && f.kind.stripe() == file.kind.stripe();
            let after = named.iter().find(|(f, _)| older(f));
            let between: Vec<&(LogFile, bool, Bytes)> = scan
                .unnamed
                .iter()
                .filter(|(f, _, _)| {
                    older(f) && after.is_none_or(|(a, _)| LogFile::newest_first(f, a) == Ordering::Less)
                })
                .collect();
            // The file just older, when it is an empty rotated one whose
            // LastWritten (a listing no rotation overtook) names it.
            let empty_neighbour = between
                .iter()
                .min_by(|a, b| LogFile::newest_first(&a.0, &b.0))
                .filter(|(f, active, head)| scan.steady && !active && head.is_empty() && f.kind.stripe().is_none())
                .map(|(f, _, _)| f.last_written_ms);
            let seen = UnnamedFile {
                name: file.name.clone(),
                after: after.filter(|_| empty_neighbour.is_none()).map(|(_, id)| (*id).clone()),
                between: if empty_neighbour.is_some() { 0 } else { between.len() as u32 },
                after_empty_written_ms: empty_neighbour,
                head_len: head.len() as u64,
                head_sha256: hex::encode(Sha256::digest(head)),
                last_written_ms: scan.steady.then_some(file.last_written_ms),
                seen_at: Utc::now(),
                settled: false,
            };
            match cp.state.unnamed.iter_mut().find(|m| m.same_file(&seen)) {
                Some(known) if known.head_len < seen.head_len && !known.settled => {
                    *known = seen;
                    changed = true;
                }
                Some(_) => {}
                None => {
                    cp.state.unnamed.push(seen);
                    changed = true;
                }
            }
        }
        let before = cp.state.unnamed.len();
        let old = Utc::now() - chrono::Duration::days(2);
        cp.state.unnamed.retain(|u| !(u.settled && u.seen_at < old));
        Ok(changed || cp.state.unnamed.len() != before)
    }

    /// Where a recorded unnamed file is now. Aurora names are never reused:
    /// its name tells. MariaDB files are deleted oldest first, so while the
    /// file just older than it is present, it is the next newer file; once
    /// that one is gone, it can only be the oldest file left, and only if
    /// that file is new to the checkpoint and begins with its bytes.
    async fn find_unnamed(&self, instance: &Instance, scan: &Scan, u: &UnnamedFile) -> Result<Found, Failure> {
        if matches!(AuditName::parse(&u.name), Some(AuditName::Aurora { .. })) {
            return Ok(if scan.named_files().iter().any(|(f, _)| f.name == u.name) {
                Found::Named
            } else if scan.unnamed.iter().any(|(f, _, _)| f.name == u.name) {
                Found::StillUnnamed
            } else {
                Found::Gone
            });
        }
        // Every MariaDB file on the instance, newest first.
        let mut files: Vec<Placed> = scan
            .named_files()
            .into_iter()
            .map(|(f, id)| (f.clone(), Some(id.clone()), None))
            .chain(scan.unnamed.iter().map(|(f, _, head)| (f.clone(), None, Some(&head[..]))))
            .filter(|(f, _, _)| f.kind.stripe().is_none())
            .collect();
        files.sort_by(|a, b| LogFile::newest_first(&a.0, &b.0));
        // A rotated file without bytes holds nothing, ever: it can be a
        // file between `after` and the unnamed one, or the unnamed one
        // itself, rotated while still empty (then nothing of it is lost).
        let empty_rotated = |e: &Placed| {
            matches!(e.0.kind, AuditName::MariaDbRotated(_)) && e.1.is_none() && e.2.is_some_and(<[u8]>::is_empty)
        };
        let same_time = |f: &LogFile| scan.steady && u.last_written_ms == Some(f.last_written_ms);
        if u.head_len == 0 && files.iter().any(|e| empty_rotated(e) && same_time(&e.0)) {
            return Ok(Found::Named);
        }
        let place = match u.after_empty_written_ms {
            // Times in a disturbed listing may be other files': wait.
            Some(_) if !scan.steady => return Ok(Found::StillUnnamed),
            Some(lw) => files.iter().position(|e| empty_rotated(e) && e.0.last_written_ms == lw),
            None => u.after.as_ref().and_then(|a| files.iter().position(|(_, id, _)| id.as_ref() == Some(a))),
        };
        if let Some(i) = place {
            // Deletion is oldest first: with `after` here, so is the unnamed
            // file, `between` places newer.
            let at = i.checked_sub(u.between as usize + 1).map(|j| &files[j]);
            return Ok(match at {
                Some((_, Some(_), _)) => Found::Named,
                Some(e) if empty_rotated(e) => Found::Named,
                Some(_) => Found::StillUnnamed,
                None => Found::CannotTell,
            });
        }
        // The file just older than it is gone. Only a steady scan read every
        // file, so only then is it gone rather than unread; and then a
        // rotation deleted it, so the unnamed file is no longer the active
        // one: it is the oldest file left with bytes, or gone.
        let anchored = u.after.is_some() || u.after_empty_written_ms.is_some();
        if anchored && !scan.steady {
            return Ok(Found::StillUnnamed);
        }
        let ruled_out = |e: &Placed| anchored && e.0.kind == AuditName::MariaDbActive;
        let candidate = |e: &&Placed| !empty_rotated(e) && !ruled_out(e);
        let Some((oldest, id, head)) = files.iter().rev().find(candidate) else {
            // Only empty rotated files are left: the unnamed one is gone,
            // unless it is one of them. Its time tells; without it, neither
            // this scan nor any later one can.
            let known = u.last_written_ms.is_some() && scan.steady;
            return Ok(match (u.head_len > 0 || known, anchored) {
                (true, _) => Found::Gone,
                (false, true) => Found::CannotTell,
                (false, false) => Found::StillUnnamed,
            });
        };
        let same_head = |bytes: &[u8]| {
            bytes.len() as u64 >= u.head_len
                && hex::encode(Sha256::digest(&bytes[..u.head_len as usize])) == u.head_sha256
        };
        match (id, head) {
            // An empty file keeps its creation time as LastWritten: two
            // empty files with different times are two files.
            (None, Some(head)) if head.is_empty() && u.head_len == 0 => {
                let other = scan.steady && u.last_written_ms.is_some_and(|lw| lw != oldest.last_written_ms);
                Ok(if other { Found::Gone } else { Found::StillUnnamed })
            }
            (None, Some(head)) => Ok(if same_head(head) { Found::StillUnnamed } else { Found::Gone }),
            // No bytes to recognise it by. (Even a file the checkpoint
            // tracks may be it: a run overlapping the one that saw it
            // unnamed may have named it.)
            _ if u.head_len == 0 => Ok(Found::CannotTell),
            // Its bytes hold no newline, so any head read of it reaches past them.
            _ => Ok(match self.read_head(instance, oldest).await {
                Ok(Head::Line(_, _, bytes) | Head::Partial(bytes)) if same_head(&bytes) => Found::Named,
                Ok(_) | Err(FetchError::Gone) => Found::Gone,
                Err(FetchError::Failed(f)) => return Err(f),
            }),
        }
    }

    /// Confirms that the identifier still stands for the resource id this
    /// run discovered, after a scan and before anything it found is kept:
    /// an instance replaced before or during the scan shows the new one's
    /// files under the old one's identifier, and tracking them in the old
    /// checkpoint would later read as the old instance's losses. (Shipping
    /// a tracked file needs no such check: each read is checked against the
    /// file's fingerprint, which no new instance's file has.)
    pub(super) async fn confirm_same_instance(&self, instance: &Instance) -> Result<(), Failure> {
        let now = self.source.resource_id(&instance.id).await?;
        match now {
            Some(rid) if rid == instance.resource_id => Ok(()),
            _ => Err(Failure::transient(format!(
                "instance {} {} while this run read it as {}: nothing it found is kept; the next run ships {}",
                instance.id,
                now.as_ref().map_or("was deleted".to_string(), |rid| format!("was replaced by {rid}")),
                instance.resource_id,
                if now.is_some() { "the new instance" } else { "whatever instance then has the identifier" }
            ))),
        }
    }

    /// An instance deleted and created again under the same identifier has
    /// a new resource id, and the old one's files are gone with its local
    /// storage: bytes it had not shipped are lost. This finds such a
    /// replacement, records the old instance's unshipped files as losses in
    /// its own checkpoint and reports them (exit 3), then points the
    /// identifier at the new resource id. A run that still holds the old
    /// resource id (discovered before the replacement) stops.
    pub(super) async fn check_replaced(&self, instance: &Instance, report: &mut InstanceReport) -> Result<(), Failure> {
        if self.cfg.dry_run {
            return Ok(());
        }
        let key = instance_pointer_key(&self.cfg.prefix, instance);
        let ours = &instance.resource_id.0;
        for _ in 0..8 {
            let (pointer, etag) = self.load_pointer(&key).await?;
            let next = match pointer {
                Some(p) if &p.dbi_resource_id == ours => {
                    return self.report_retired(instance, &key, p, etag, report).await
                }
                Some(p) if p.replaced.contains(ours) => {
                    return Err(Failure::transient(format!(
                        "instance {} was replaced by {} while this run held {ours}; the next run ships the new one",
                        instance.id, p.dbi_resource_id
                    )))
                }
                Some(mut p) => {
                    self.retire(instance, &ResourceId(p.dbi_resource_id.clone()), report).await?;
                    let old = std::mem::replace(&mut p.dbi_resource_id, ours.clone());
                    p.replaced.push(old.clone());
                    // Until a run that reported its losses finishes, the
                    // old trail is looked at again by every run.
                    p.unreported.push(old);
                    p
                }
                None => InstancePointer {
                    instance_id: instance.id.0.clone(),
                    dbi_resource_id: ours.clone(),
                    replaced: Vec::new(),
                    unreported: Vec::new(),
                },
            };
            let body = serde_json::to_vec_pretty(&next).expect("pointer serializes");
            if let Swapped::Yes { etag } = self.store.swap(&key, body, etag.as_deref()).await? {
                // Trails replaced before the one just retired may still have
                // losses to report.
                return self.report_retired(instance, &key, next, Some(etag), report).await;
            }
        }
        Err(Failure::transient(format!(
            "{} kept changing under this run; the next run retries",
            self.store.location(&key)
        )))
    }

    async fn load_pointer(&self, key: &str) -> Result<(Option<InstancePointer>, Option<String>), Failure> {
        match self.store.get_small(key).await? {
            None => Ok((None, None)),
            Some((body, etag)) => {
                let p: InstancePointer = serde_json::from_slice(&body).map_err(|e| {
                    Failure::needs_person(format!(
                        "{} is unreadable ({e}): delete it; the next run writes it again",
                        self.store.location(key)
                    ))
                })?;
                Ok((Some(p), Some(etag)))
            }
        }
    }

    /// Reports the losses of replaced resource ids that no finished run has
    /// reported yet. A loss the current instance's checkpoint says a pass
    /// reported (`paged_for_replaced`) is marked in the old checkpoint
    /// instead; a trail with nothing left to report is dropped from the
    /// pointer's list (a lost race there only means the next run looks
    /// again).
    async fn report_retired(
        &self,
        instance: &Instance,
        key: &str,
        mut pointer: InstancePointer,
        etag: Option<String>,
        report: &mut InstanceReport,
    ) -> Result<(), Failure> {
        if pointer.unreported.is_empty() {
            return Ok(());
        }
        let current = checkpoint::load(&*self.store, &checkpoint_key(&self.cfg.prefix, instance), instance).await?;
        let paged = &current.state.paged_for_replaced;
        let mut done = Vec::new();
        for rid in &pointer.unreported {
            let old = Instance { resource_id: ResourceId(rid.clone()), ..instance.clone() };
            let key = checkpoint_key(&self.cfg.prefix, &old);
            let mut cp = checkpoint::load(&*self.store, &key, &old).await?;
            let mut marked = false;
            for g in cp.state.gaps.iter_mut().filter(|g| !g.reported) {
                let p = PagedLoss { dbi_resource_id: rid.clone(), file_id: g.file_id.clone(), unnamed: g.unnamed };
                if paged.contains(&p) {
                    g.reported = true;
                    marked = true;
                }
            }
            if marked {
                checkpoint::commit(&*self.store, &mut cp, &old).await?;
            }
            if cp.state.gaps.iter().any(|g| !g.reported) {
                report_unreported(&old, &cp.state.gaps, None, report);
            } else {
                done.push(rid.clone());
            }
        }
        if !done.is_empty() {
            pointer.unreported.retain(|rid| !done.contains(rid));
            let body = serde_json::to_vec_pretty(&pointer).expect("pointer serializes");
            self.store.swap(key, body, etag.as_deref()).await?;
        }
        Ok(())
    }

    /// Closes the trail of a replaced resource id: its unshipped files (and
    /// files never named) are recorded lost in its checkpoint and reported.
    async fn retire(&self, instance: &Instance, old: &ResourceId, report: &mut InstanceReport) -> Result<(), Failure> {
        let old_instance = Instance { resource_id: old.clone(), ..instance.clone() };
        let key = checkpoint_key(&self.cfg.prefix, &old_instance);
        let mut cp = checkpoint::load(&*self.store, &key, &old_instance).await?;
        tracing::warn!(instance = %instance.id, old = %old, new = %instance.resource_id, "instance replaced under the same identifier");
        // Nothing of the old instance is present any more.
        let gaps_before = cp.state.gaps.len();
        let open: Vec<UnnamedFile> = cp.state.unnamed.iter().filter(|u| !u.settled).cloned().collect();
        for u in &open {
            settle(&mut cp, u, Some(false), &self.run);
        }
        let mut changed =
            self.record_losses(&old_instance, &mut cp, &HashSet::new(), report).await? || !open.is_empty();
        if !cp.state.gaps[gaps_before..].iter().any(|g| g.growing) {
            // Nothing recorded could still grow (a run that saw it was
            // killed before committing, say): whatever the old instance held
            // beyond its complete files is gone, how much is unknowable.
            let seen_at = Utc::now();
            let whole = UnnamedFile {
                name: String::new(),
                after: None,
                between: 0,
                after_empty_written_ms: None,
                head_len: 0,
                head_sha256: String::new(),
                last_written_ms: None,
                seen_at,
                settled: false,
            };
            cp.state.unnamed.push(whole.clone());
            settle(&mut cp, &whole, Some(true), &self.run);
            report_unreported(&old_instance, &cp.state.gaps, None, report);
            changed = true;
        }
        if changed {
            checkpoint::commit(&*self.store, &mut cp, &old_instance).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_forgotten_file_leaves_nothing_in_the_digest_ledger() {
        let id = |n: u8| FileId(format!("20261202T09000{n}Z-0000000{n}"));
        let done = crate::checkpoint::FileProgress {
            fingerprint: "f".into(),
            shipped: 10,
            tail_sha256: "t".into(),
            last_name: "audit/server_audit.log.1".into(),
            last_size: 10,
            last_written_ms: 0,
            closed: true,
            identity: None,
        };
        let mut state = crate::checkpoint::Checkpoint::empty(&Instance::for_tests("db-R"));
        state.digests.since = Some(Utc::now());
        // 1: shipped, listed and sized; 2: its last object still waits for
        // a digest; 3: no longer tracked (lost), nothing waiting.
        for n in 1..=3 {
            state.digests.listed_to.insert(id(n), if n == 2 { 5 } else { 10 });
        }
        state.files.insert(id(1), done.clone());
        state.files.insert(id(2), done);
        state.digests.sized.insert(id(1));
        state.digests.record(crate::evidence::digest::Listed {
            file_id: id(2).0,
            start: 5,
            end: 10,
            key: "k".into(),
            sha256: "00".into(),
            lines: 1,
            source_file: "audit/server_audit.log.1".into(),
            landed_at: Utc::now(),
            first_record: None,
            last_record: None,
        });
        let mut cp = StoredCheckpoint { key: "cp".into(), etag: None, state };
        assert!(forget_complete_and_gone(&mut cp, &HashSet::new()));
        let ledger = &cp.state.digests;
        assert_eq!(cp.state.files.keys().cloned().collect::<Vec<_>>(), vec![id(2)], "2 waits for its digest");
        assert_eq!(ledger.listed_to.keys().cloned().collect::<Vec<_>>(), vec![id(2)]);
        assert!(ledger.sized.is_empty());
        assert!(!forget_complete_and_gone(&mut cp, &HashSet::new()), "nothing more to forget");
    }

    /// A loss on Aurora says the engine removed the file; on MariaDB it
    /// names the plugin's rotation settings.
    #[test]
    fn a_loss_message_names_what_removes_files_on_its_engine() {
        let gap = Gap {
            file_id: FileId("20261122T000000Z-0123abcd".into()),
            last_name: "audit/audit.log.0.2026-11-22-00-00.1".into(),
            shipped: 10,
            last_size: 20,
            detected_at: Utc::now(),
            growing: false,
            reported: false,
            unnamed: false,
            uncertain: false,
            detected_by: None,
            reported_by: None,
        };
        for (engine, says, never) in [
            ("aurora-mysql", "Aurora removes audit files", "server_audit_file_rotations"),
            ("mariadb", "server_audit_file_rotations", "Aurora"),
            ("mysql", "server_audit_file_rotate_size", "Aurora"),
        ] {
            let instance = Instance { engine: engine.into(), ..Instance::for_tests("db-R") };
            let mut report = InstanceReport::new(instance.clone());
            report_unreported(&instance, std::slice::from_ref(&gap), None, &mut report);
            let message = &report.failures[0].message;
            assert!(message.contains(says) && !message.contains(never), "{engine}: {message}");
        }
    }

    /// An unreached instance's lag: the time since the last commit only
    /// when a file was written after it, or nothing is known of the files.
    #[test]
    fn an_unreached_instance_is_stale_only_if_written_since_its_last_commit() {
        let instance = Instance::for_tests("db-R");
        let committed = Utc::now() - chrono::Duration::hours(2);
        let mut state = checkpoint::Checkpoint::empty(&instance);
        state.updated_at = Some(committed);
        let cp = StoredCheckpoint { key: "k".into(), etag: Some("e".into()), state };
        let file = |written: DateTime<Utc>| LogFile {
            name: "audit/server_audit.log".into(),
            size: 100,
            last_written_ms: written.timestamp_millis(),
            kind: AuditName::MariaDbActive,
        };
        let lag = |listing: Option<&[LogFile]>| {
            let mut report = InstanceReport::new(instance.clone());
            estimate_from_checkpoint(&cp, listing, &mut report);
            report.lag_seconds
        };
        let idle = [file(committed - chrono::Duration::seconds(5))];
        let busy = [file(committed + chrono::Duration::seconds(5))];
        assert_eq!(lag(Some(&idle)), 0);
        for lag in [lag(Some(&busy)), lag(None)] {
            assert!((7190..7300).contains(&lag), "{lag}");
        }
    }
}
