//! `verify --report DIR`: what the digests prove, for an auditor, as
//! Markdown (`auditship-report.md`) and as JSON (`auditship-report.json`,
//! whose layout `docs/digests.md` documents and keeps stable).

use crate::error::Failure;
use crate::evidence::audit::{LockStatus, TrailAudit, VersionAudit};
use crate::evidence::digest::rfc3339;
use crate::evidence::digest::FileStateFact;
use crate::evidence::history::ChangeKind;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// What the JSON report's `format` says.
pub const REPORT_FORMAT: &str = "auditship-report/1";

#[derive(Debug, Serialize)]
pub struct TrailReport<'a> {
    pub format: &'static str,
    pub generated_at: DateTime<Utc>,
    pub bucket: &'a str,
    pub prefix: &'a str,
    /// The public key the signatures were checked with.
    pub public_key: String,
    pub deep: bool,
    /// `intact` when no instance has a problem, else `problems`.
    pub result: &'static str,
    pub instances: &'a [TrailAudit],
}

impl TrailReport<'_> {
    pub fn intact(&self) -> bool {
        self.instances.iter().all(|a| a.problems.is_empty())
    }
}

/// Writes both files; returns their paths.
pub fn write(dir: &Path, report: &TrailReport<'_>) -> Result<(PathBuf, PathBuf), Failure> {
    let cannot = |path: &Path, e: std::io::Error| {
        Failure::needs_person(format!(
            "cannot write the report to {} ({e}): give --report a directory this user can write",
            path.display()
        ))
    };
    std::fs::create_dir_all(dir).map_err(|e| cannot(dir, e))?;
    let md = dir.join("auditship-report.md");
    let json = dir.join("auditship-report.json");
    std::fs::write(&md, markdown(report)).map_err(|e| cannot(&md, e))?;
    let mut body = serde_json::to_vec_pretty(report).expect("the report serializes");
    body.push(b'\n');
    std::fs::write(&json, body).map_err(|e| cannot(&json, e))?;
    Ok((md, json))
}

/// The report as Markdown.
pub fn markdown(report: &TrailReport<'_>) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "# Audit trail report\n");
    let _ = writeln!(out, "- Generated: {}", rfc3339(report.generated_at));
    let _ = writeln!(out, "- Trail: `s3://{}/{}`", report.bucket, report.prefix);
    let _ = writeln!(out, "- Signatures checked with: `{}`", report.public_key);
    let _ = writeln!(
        out,
        "- Objects checked by: {}",
        if report.deep { "their bytes (sha256 of every object)" } else { "their metadata" }
    );
    let _ = writeln!(
        out,
        "- Result: **{}**\n",
        if report.intact() {
            "intact: every digest verifies and every listed object is as listed"
        } else {
            "PROBLEMS FOUND"
        }
    );
    for a in report.instances {
        instance_section(&mut out, a);
    }
    out
}

fn instance_section(out: &mut String, a: &TrailAudit) {
    let _ = writeln!(out, "## {} ({})\n", a.instance, a.dbi_resource_id);
    if let Some(now) = &a.replaced_by {
        let _ = writeln!(
            out,
            "- Earlier instance: deleted and created again under this identifier as {now}; this is its own chain, \
             which ended when it was deleted (the new instance began a new one)"
        );
    }
    let chain = &a.chain;
    match (chain.first_period_start, chain.last_period_end) {
        (Some(from), Some(to)) => {
            let _ = writeln!(out, "- Digests: {} covering {} to {}", chain.digests, rfc3339(from), rfc3339(to));
        }
        _ => {
            let _ = writeln!(out, "- Digests: none yet");
        }
    }
    if !a.window.is_whole() {
        let _ = writeln!(
            out,
            "- Window: {} to {}: {} digests, whose objects and files are checked below (the chain is checked whole)",
            a.window.since.map_or("the chain's start".into(), rfc3339),
            a.window.until.map_or("its end".into(), rfc3339),
            a.digests_in_window
        );
    }
    let intact = a.problems.iter().all(|p| !matches!(p, crate::evidence::audit::TrailProblem::Digest { .. }));
    let _ = writeln!(out, "- Chain: {}", if intact { "intact" } else { "BROKEN (see exceptions)" });
    for signer in &chain.signed_by {
        let _ = writeln!(out, "- Signed by: `{signer}`");
    }
    let bytes: u64 = a.files.iter().map(|f| f.bytes).sum();
    let lines: u64 = a.files.iter().map(|f| f.lines).sum();
    let _ = writeln!(
        out,
        "- Objects listed: {} ({bytes} bytes, {lines} lines), checked: {}",
        a.objects_checked, a.objects_checked
    );
    let _ = writeln!(out, "- Records from {} to {}", time_or_unknown(a.first_record), time_or_unknown(a.last_record));
    let _ = writeln!(out, "- Object Lock: {}", lock_line(&a.object_lock));
    let _ = writeln!(out, "- Object versions: {}", versions_line(&a.versions));
    let _ = writeln!(out, "- Objects awaiting their digest: {}", a.pending);
    let _ = writeln!(out, "- Objects from before the chain began: {}\n", a.before_chain);
    if !a.files.is_empty() {
        let _ = writeln!(
            out,
            "| file | name | state | objects | bytes | lines | covered | final size | first record | last record | first \
             landed | last landed |"
        );
        let _ = writeln!(out, "|---|---|---|---|---|---|---|---|---|---|---|---|");
        for f in &a.files {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} | {} | {}..{} | {} | {} | {} | {} | {} |",
                f.file_id,
                f.source_file,
                match f.state {
                    FileStateFact::Closed => "closed",
                    FileStateFact::Growing => "growing",
                },
                f.objects,
                f.bytes,
                f.lines,
                f.covered_from,
                f.covered_to,
                f.final_size.map_or("not yet known".to_string(), |s| s.to_string()),
                time_or_unknown(f.first_record),
                time_or_unknown(f.last_record),
                rfc3339(f.first_landed_at),
                rfc3339(f.last_landed_at)
            );
        }
        let _ = writeln!(out);
    }
    if !a.losses.is_empty() {
        let _ = writeln!(out, "Recorded losses (each pages, exit 3, until a finished run has reported it):\n");
        for loss in &a.losses {
            let g = &loss.facts;
            let _ = writeln!(
                out,
                "- {} ({}): bytes 0..{} shipped of {} when last listed{}, detected {}{}; {}",
                g.file_id,
                g.source_file,
                g.shipped,
                g.last_size,
                if g.growing { ", still being written" } else { "" },
                rfc3339(g.detected_at),
                g.detected_by.as_ref().map_or(String::new(), |run| format!(" by run {run}")),
                match (&loss.reported_by, loss.reported) {
                    (Some(run), _) => format!("reported (exit 3) by run {run}"),
                    (None, Some(true)) => "reported (exit 3)".to_string(),
                    (None, Some(false)) => "not yet reported by a finished run: the next run pages for it".to_string(),
                    (None, None) => "the checkpoint no longer records whether a run paged for it".to_string(),
                }
            );
        }
        let _ = writeln!(out);
    }
    if !a.versions.changes.is_empty() {
        let _ = writeln!(out, "Keys there now that were deleted or overwritten before (by the bucket's versions):\n");
        for c in &a.versions.changes {
            let what = match c.change {
                ChangeKind::PutBack => "deleted, then written again",
                ChangeKind::Overwritten => "overwritten",
            };
            let _ = writeln!(
                out,
                "- `{}`: {what}; the current version is of {} ({} versions and markers)",
                c.key,
                rfc3339(c.at),
                c.versions
            );
        }
        let _ = writeln!(out);
    }
    if a.problems.is_empty() {
        let _ = writeln!(out, "Exceptions: none.\n");
    } else {
        let _ = writeln!(out, "Exceptions:\n");
        for p in &a.problems {
            let _ = writeln!(out, "- {p}");
        }
        let _ = writeln!(out);
    }
}

/// `read: 1 key there now was deleted or overwritten before (below)`, or why not read.
fn versions_line(v: &VersionAudit) -> String {
    match (&v.unread, v.changes.len()) {
        (Some(why), _) => format!("not read: {why}"),
        (None, 0) => "read: no object or digest was deleted or overwritten".to_string(),
        (None, n) => format!("read: {n} keys there now were deleted or overwritten before (below)"),
    }
}

fn time_or_unknown(t: Option<DateTime<Utc>>) -> String {
    t.map_or("unknown".into(), rfc3339)
}

/// `120 under COMPLIANCE retention (the soonest until 2027-12-01T10:00:00Z), 0 without`.
fn lock_line(lock: &LockStatus) -> String {
    let retained: Vec<String> = lock.retained.iter().map(|(mode, n)| format!("{n} under {mode} retention")).collect();
    let mut line = match retained.is_empty() {
        true => "no listed object is under retention".to_string(),
        false => retained.join(", "),
    };
    if let Some(until) = lock.earliest_retain_until {
        let _ = write!(line, " (the soonest until {})", rfc3339(until));
    }
    if lock.unretained > 0 && !lock.retained.is_empty() {
        let _ = write!(line, "; {} without", lock.unretained);
    }
    if lock.unretained > 0 {
        line.push_str(" (HEAD shows retention only with s3:GetObjectRetention)");
    }
    line
}
