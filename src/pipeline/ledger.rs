//! Ledger: what the checkpoint says is tracked, shipped and lost, and the
//! losses a run reports.
//!
//! A loss is recorded once, in the checkpoint, and reported (exit 3) by
//! every run until one that reported it has finished its pass; so a run
//! killed between recording a loss and exiting does not swallow the page.

use super::scan::Identified;
use super::Shipper;
use crate::checkpoint::{self, Gap, StoredCheckpoint};
use crate::discover::{Instance, ResourceId};
use crate::error::Failure;
use crate::identify::FileId;
use crate::keys::{checkpoint_key, instance_pointer_key};
use crate::report::{age_seconds, oldest_unshipped_at, InstanceReport, Loss};
use crate::store::Swapped;
use chrono::Utc;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;

/// Tracked files with unshipped bytes that no longer exist are lost: each
/// is recorded as a gap, and every gap no finished run has reported yet is
/// reported now. Returns whether the checkpoint changed.
pub(super) fn record_losses(
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
        cp.state.files.remove(id);
        cp.state.gaps.push(Gap {
            file_id: id.clone(),
            last_name: p.last_name.clone(),
            shipped: p.shipped,
            last_size: p.last_size.max(p.shipped),
            detected_at: Utc::now(),
            growing: !p.closed,
            reported: false,
        });
        if let Some(oldest) = oldest_present.filter(|oldest| *oldest > id) {
            tracing::warn!(
                instance = %instance.id, from = id.time(), to = oldest.time(),
                "files begun between these first-record times that are not in S3 were deleted unseen"
            );
        }
    }
    report_unreported(instance, &cp.state.gaps, oldest_present, report);
    !lost.is_empty()
}

/// Reports (exit 3) every recorded loss no finished run has reported.
pub(super) fn report_unreported(
    instance: &Instance,
    gaps: &[Gap],
    oldest_present: Option<&FileId>,
    report: &mut InstanceReport,
) {
    for g in gaps.iter().filter(|g| !g.reported) {
        let loss = Loss {
            dbi_resource_id: instance.resource_id.0.clone(),
            file_id: g.file_id.0.clone(),
            last_name: g.last_name.clone(),
            shipped: g.shipped,
            last_size: g.last_size,
            growing: g.growing,
        };
        if report.losses.contains(&loss) {
            continue;
        }
        let unseen = match oldest_present {
            Some(oldest) if *oldest > g.file_id => format!(
                "; any file begun from {} to {} (first-record times) that is not in S3 was deleted unseen and is \
                 lost too",
                g.file_id.time(),
                oldest.time()
            ),
            _ => String::new(),
        };
        report.gaps += 1;
        report.fail(Failure::data_loss(format!(
            "instance {} ({}): {}{unseen}; {}",
            instance.id,
            instance.resource_id,
            loss.describe(),
            loss_hint(instance)
        )));
        report.losses.push(loss);
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
pub(super) fn mark_reported(cp: &mut StoredCheckpoint, report: &InstanceReport) -> bool {
    let mut changed = false;
    for g in cp.state.gaps.iter_mut().filter(|g| !g.reported) {
        if report.losses.iter().any(|l| l.file_id == g.file_id.0) {
            g.reported = true;
            changed = true;
        }
    }
    changed
}

/// Complete files that left the instance need no tracking any more.
pub(super) fn forget_complete_and_gone(cp: &mut StoredCheckpoint, present: &HashSet<FileId>) -> bool {
    let before = cp.state.files.len();
    cp.state.files.retain(|id, p| !(p.complete() && !present.contains(id)));
    cp.state.files.len() != before
}

/// Adds every newly identified file to the checkpoint with nothing shipped.
/// Gap detection only knows files the checkpoint tracks; tracking each file
/// as soon as it is seen means that, whatever happens to later runs, the
/// newest tracked file is one that can still grow, and its disappearance
/// (with everything begun after it) is reported.
pub(super) fn track_new_files(identified: &[Identified], cp: &mut StoredCheckpoint) -> bool {
    let mut added = false;
    for item in identified {
        if cp.state.files.contains_key(&item.id) || cp.state.gaps.iter().any(|g| g.file_id == item.id) {
            continue;
        }
        cp.state.files.insert(item.id.clone(), item.untouched_progress());
        added = true;
    }
    added
}

/// What is left to ship after a pass, and how old it is.
pub(super) fn summarize_pending(identified: &[Identified], cp: &StoredCheckpoint, report: &mut InstanceReport) {
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

/// Which resource id an instance identifier stands for, and which it
/// stood for before: `{prefix}/_state/instances/{instance-id}.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InstancePointer {
    pub instance_id: String,
    pub dbi_resource_id: String,
    /// Resource ids this identifier belonged to before, oldest first.
    #[serde(default)]
    pub replaced: Vec<String>,
}

impl Shipper {
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
        for _ in 0..8 {
            let stored = self.store.get_small(&key).await?;
            let (pointer, etag) = match &stored {
                None => (None, None),
                Some((body, etag)) => {
                    let p: InstancePointer = serde_json::from_slice(body).map_err(|e| {
                        Failure::needs_person(format!(
                            "{} is unreadable ({e}): delete it; the next run writes it again",
                            self.store.location(&key)
                        ))
                    })?;
                    (Some(p), Some(etag.as_str()))
                }
            };
            let ours = &instance.resource_id.0;
            let next = match pointer {
                Some(p) if &p.dbi_resource_id == ours => return Ok(()),
                Some(p) if p.replaced.contains(ours) => {
                    return Err(Failure::transient(format!(
                        "instance {} was replaced by {} while this run held {ours}; the next run ships the new one",
                        instance.id, p.dbi_resource_id
                    )))
                }
                Some(mut p) => {
                    self.retire(instance, &ResourceId(p.dbi_resource_id.clone()), report).await?;
                    p.replaced.push(std::mem::replace(&mut p.dbi_resource_id, ours.clone()));
                    p
                }
                None => InstancePointer {
                    instance_id: instance.id.0.clone(),
                    dbi_resource_id: ours.clone(),
                    replaced: Vec::new(),
                },
            };
            let body = serde_json::to_vec_pretty(&next).expect("pointer serializes");
            if let Swapped::Yes { .. } = self.store.swap(&key, body, etag).await? {
                return Ok(());
            }
        }
        Err(Failure::transient(format!(
            "{} kept changing under this run; the next run retries",
            self.store.location(&key)
        )))
    }

    /// Closes the trail of a replaced resource id: its unshipped files are
    /// recorded lost in its checkpoint and reported; once reported they
    /// are marked so.
    async fn retire(&self, instance: &Instance, old: &ResourceId, report: &mut InstanceReport) -> Result<(), Failure> {
        let old_instance = Instance { resource_id: old.clone(), ..instance.clone() };
        let key = checkpoint_key(&self.cfg.prefix, &old_instance);
        let mut cp = checkpoint::load(&*self.store, &key, &old_instance).await?;
        tracing::warn!(instance = %instance.id, old = %old, new = %instance.resource_id, "instance replaced under the same identifier");
        // Nothing of the old instance is present any more.
        record_losses(&old_instance, &mut cp, &HashSet::new(), report);
        if cp.etag.is_some() || !cp.state.gaps.is_empty() {
            checkpoint::commit(&*self.store, &mut cp, &old_instance).await?;
        }
        if mark_reported(&mut cp, report) {
            checkpoint::commit(&*self.store, &mut cp, &old_instance).await?;
        }
        Ok(())
    }
}

impl Loss {
    /// One wording of a loss, with the same numbers everywhere.
    pub fn describe(&self) -> String {
        if self.growing {
            format!(
                "audit file {} (last seen as {}, still being written) is gone with {} bytes shipped: lost are bytes \
                 {}..{} listed before it vanished, and whatever was written after that listing (unknowable)",
                self.file_id, self.last_name, self.shipped, self.shipped, self.last_size
            )
        } else {
            format!(
                "audit file {} (last seen as {}, rotated, {} bytes) is gone with {} bytes shipped: bytes {}..{} \
                 ({} bytes) lost",
                self.file_id,
                self.last_name,
                self.last_size,
                self.shipped,
                self.shipped,
                self.last_size,
                self.last_size - self.shipped
            )
        }
    }
}
