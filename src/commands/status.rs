//! Status: where each instance stands, read-only. What an SRE asks first:
//! what is on the instance, what is not yet in S3 and how old it is, when
//! the last commit was, and whether anything is already lost.

use super::{config_error, connect};
use crate::checkpoint::FileProgress;
use crate::cli::StatusArgs;
use crate::error::{Failure, Severity};
use crate::instance::Instance;
use crate::output::{human_bytes, human_seconds, rfc3339, Align, Table};
use crate::pipeline::{Survey, SurveyedFile};
use crate::report::{age_seconds, oldest_unshipped_at};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

#[derive(Debug, Clone, Serialize)]
pub struct InstanceStatus {
    pub instance: String,
    pub role: String,
    pub dbi_resource_id: String,
    pub cluster: Option<String>,
    /// What was read; absent when the instance could not be read (`error`
    /// says why), so nothing unknown reads as zero.
    #[serde(flatten)]
    pub standing: Option<Standing>,
    pub warnings: Vec<String>,
    /// Set when the instance could not be read.
    pub error: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Standing {
    /// Audit files on the instance and their bytes.
    pub files: usize,
    pub bytes: u64,
    /// Files with bytes not yet in S3, and those bytes.
    pub unshipped_files: usize,
    pub unshipped_bytes: u64,
    /// Age of the oldest unshipped byte; `None` when nothing is unshipped.
    pub lag_seconds: Option<u64>,
    /// When a run last stored the checkpoint; `None`: never.
    pub last_commit: Option<DateTime<Utc>>,
    /// Losses already reported by runs (kept in the checkpoint).
    pub gaps_recorded: usize,
    /// Files gone with bytes unshipped that no run has reported yet (the
    /// next run reports them, exit 3).
    pub gaps_unreported: usize,
    /// Whether the scheduled runs derive this instance's events (`run
    /// --events`), and shipped objects whose events are not derived yet.
    pub events_derived: bool,
    pub objects_awaiting_events: usize,
}

impl InstanceStatus {
    fn empty(instance: &Instance) -> Self {
        InstanceStatus {
            instance: instance.id.0.clone(),
            role: instance.role.as_str().to_string(),
            dbi_resource_id: instance.resource_id.0.clone(),
            cluster: instance.cluster.clone(),
            standing: None,
            warnings: Vec::new(),
            error: None,
        }
    }

    pub fn failed(instance: &Instance, error: String) -> Self {
        InstanceStatus { error: Some(error), ..InstanceStatus::empty(instance) }
    }

    pub fn of(instance: &Instance, survey: &Survey) -> Self {
        let cp = &survey.checkpoint.state;
        let mut standing = Standing {
            last_commit: cp.updated_at,
            gaps_recorded: cp.gaps.len(),
            gaps_unreported: survey.vanished.len(),
            files: survey.files.len(),
            events_derived: cp.events,
            objects_awaiting_events: cp.events_pending.len(),
            ..Standing::default()
        };
        let mut oldest: Option<DateTime<Utc>> = None;
        for f in &survey.files {
            standing.bytes += f.file.size;
            let progress = f.id.as_ref().and_then(|id| cp.files.get(id));
            let shipped = shipped_of(f, progress);
            let unshipped = f.file.size.saturating_sub(shipped);
            if unshipped == 0 {
                continue;
            }
            standing.unshipped_files += 1;
            standing.unshipped_bytes += unshipped;
            if let Some(at) = oldest_unshipped_at(shipped, f.first_record, !f.active, f.file.last_written_ms) {
                oldest = Some(oldest.map_or(at, |o| o.min(at)));
            }
        }
        if standing.unshipped_bytes > 0 {
            standing.lag_seconds = Some(oldest.map_or(0, age_seconds));
        }
        InstanceStatus {
            standing: Some(standing),
            warnings: warnings(instance, survey),
            ..InstanceStatus::empty(instance)
        }
    }

    /// The terminal table, its columns as wide as the selected instances'
    /// names and ids. Sizes and ages are for reading; `--json` has them exact.
    pub fn table(instances: &[Instance]) -> Table {
        use Align::{Left, Right};
        let mut table = Table::new(&[
            ("INSTANCE", Left),
            ("ROLE", Left),
            ("RESOURCE ID", Left),
            ("FILES", Right),
            ("SIZE", Right),
            ("UNSHIPPED", Right),
            ("UNSHIPPED SIZE", Right),
            ("LAG", Right),
            ("LOSSES", Right),
            ("LAST COMMIT", Left),
        ]);
        for i in instances {
            table.fit(0, &i.id.0);
            table.fit(1, i.role.as_str());
            table.fit(2, &i.resource_id.0);
        }
        table.fit(4, "1023.99 KiB");
        table.fit(6, "1023.99 KiB");
        table
    }

    /// The instance's row, then a `  ! ` line per warning or error.
    pub fn table_row(&self, table: &Table) -> String {
        let mut cells = vec![self.instance.clone(), self.role.clone(), self.dbi_resource_id.clone()];
        match &self.standing {
            Some(s) => cells.extend([
                s.files.to_string(),
                human_bytes(s.bytes),
                s.unshipped_files.to_string(),
                human_bytes(s.unshipped_bytes),
                s.lag_seconds.map_or("-".to_string(), human_seconds),
                (s.gaps_recorded + s.gaps_unreported).to_string(),
                s.last_commit
                    .map_or("never".to_string(), |t| format!("{} ({} ago)", rfc3339(t), human_seconds(age_seconds(t)))),
            ]),
            None => {
                cells.extend(std::iter::repeat_n("?".to_string(), 6));
                cells.push("unknown: the instance could not be read".to_string());
            }
        }
        let mut row = table.row(&cells);
        for w in self.error.iter().chain(&self.warnings) {
            row.push_str(&format!("\n  ! {w}"));
        }
        row
    }
}

/// Bytes of a file already in S3. A file the checkpoint vouched for as
/// complete (and which was not read) is shipped whole.
fn shipped_of(f: &SurveyedFile, progress: Option<&FileProgress>) -> u64 {
    match progress {
        Some(p) if p.complete() => f.file.size,
        Some(p) => p.shipped,
        None => 0,
    }
}

fn warnings(instance: &Instance, survey: &Survey) -> Vec<String> {
    let mut out = Vec::new();
    let cp = &survey.checkpoint;
    if survey.files.is_empty() {
        out.push(format!(
            "no audit files on {}: audit logging is off; nothing can be shipped until it is on",
            instance.id
        ));
    }
    if cp.etag.is_none() {
        out.push("no checkpoint yet: nothing has been shipped from this instance".to_string());
    }
    if !cp.state.events_pending.is_empty() {
        out.push(format!(
            "{} shipped objects have no derived events yet: the next `run --events` derives them{}",
            cp.state.events_pending.len(),
            if cp.state.events { "" } else { " (runs no longer derive events: use `auditship events`)" }
        ));
    }
    let oldest_on_instance = survey.files.iter().filter_map(|f| f.id.as_ref()).min();
    for (id, p) in &survey.vanished {
        let loss = crate::report::Loss::of_vanished(&instance.resource_id.0, id, p);
        let mut w = format!("data already lost: {}", loss.describe());
        if let Some(oldest) = oldest_on_instance.filter(|o| *o > id) {
            w.push_str(&format!(
                "; files begun from {} to {} that are not in S3 are gone too",
                id.time(),
                oldest.time()
            ));
        }
        w.push_str("; the next run reports it (exit 3): run more often or keep more rotations");
        out.push(w);
    }
    if let Some(last) = cp.state.gaps.last() {
        out.push(format!(
            "{} loss(es) recorded, the latest detected {} ({}): see `auditship verify`",
            cp.state.gaps.len(),
            rfc3339(last.detected_at),
            last.file_id
        ));
    }
    out
}

/// `status`: a table (or JSON lines) of where each instance stands.
/// Read-only. Exit 0 even with warnings (they are the report); an
/// instance that cannot be read counts like a failed run.
pub(crate) async fn command(args: StatusArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let (clients, instances) = connect(cfg).await?;
    let shipper = clients.shipper(None, crate::run_id::RunId::generate());
    let mut severity = Severity::default();
    let table = InstanceStatus::table(&instances);
    if !args.json {
        crate::outln!("{}", table.header());
    }
    for instance in &instances {
        let status = match shipper.survey(instance).await {
            Ok(survey) => InstanceStatus::of(instance, &survey),
            Err(f) => {
                tracing::error!(instance = %instance.id, kind = f.kind.label(), "{}", f.message);
                severity.record(f.kind);
                InstanceStatus::failed(instance, f.message)
            }
        };
        if args.json {
            crate::outln!("{}", serde_json::to_string(&status).expect("status serializes"));
        } else {
            crate::outln!("{}", status.table_row(&table));
        }
    }
    Ok(severity)
}
