//! Verify: reconcile an instance's files, its checkpoint and its objects,
//! and name every byte range that is missing, duplicated (overlapping
//! objects) or diverged, file by file.
//!
//! Without `--deep` it reads object metadata only (one HEAD per object):
//! each file's objects must start at 0 and follow one another without hole
//! or overlap, up to what the checkpoint says is shipped (for a complete
//! file still on the instance: its size). `--deep` also downloads every
//! object (gunzip, length, sha256, line count against its metadata) and
//! every file still on the instance, and compares each object with the
//! file's bytes at its offsets.
//!
//! Limit: a file that has left both the instance and the checkpoint (rotated
//! away after it was fully shipped) has no record of its final size, so a
//! deleted *last* object of such a file is not detectable; holes and
//! overlaps anywhere in its chain are.

use super::trail_report::{self, TrailReport, REPORT_FORMAT};
use super::{config_error, connect};
use crate::cli::VerifyArgs;
use crate::config::Config;
use crate::error::Failure;
use crate::error::{FailureKind, Severity};
use crate::evidence::audit::{TrailAudit, Window};
use crate::evidence::signing::{kms_public_key, PublicKey};
use crate::fetch::{FetchError, LogStream, Span};
use crate::identify::FileId;
use crate::instance::Instance;
use crate::keys::{instance_prefix, parse_object_key};
use crate::pipeline::{Shipper, Survey, SurveyedFile};
use crate::report::Loss;
use crate::store::ObjectFacts;
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

/// One thing wrong with what is in S3.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum Problem {
    /// Bytes that should be in S3 and are in no object.
    Missing { start: u64, end: u64, why: String },
    /// Bytes held by two objects.
    Overlap { start: u64, end: u64, keys: Vec<String> },
    /// An object whose bytes are not what its metadata or the file says.
    Diverged { key: String, why: String },
    /// An object auditship did not write, under its keys.
    Foreign { key: String, why: String },
}

#[derive(Debug, Clone, Serialize)]
pub struct Finding {
    pub file_id: Option<String>,
    /// The file's name on the instance (now, or when last seen).
    pub source: Option<String>,
    #[serde(flatten)]
    pub problem: Problem,
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file_id, &self.source) {
            (Some(id), Some(name)) => write!(f, "{id} ({name}): ")?,
            (Some(id), None) => write!(f, "{id}: ")?,
            _ => {}
        }
        match &self.problem {
            Problem::Missing { start, end, why } if start == end => write!(f, "missing bytes from {start} on ({why})"),
            Problem::Missing { start, end, why } => write!(f, "missing bytes {start}..{end} ({why})"),
            Problem::Overlap { start, end, keys } => {
                write!(f, "bytes {start}..{end} are in two objects: {}", keys.join(" and "))
            }
            Problem::Diverged { key, why } => write!(f, "diverged: {key}: {why}"),
            Problem::Foreign { key, why } => write!(f, "foreign object {key}: {why}"),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct VerifyReport {
    pub files: usize,
    pub objects: usize,
    pub findings: Vec<Finding>,
    /// Losses runs already reported (exit 3 then): listed, not counted again.
    pub recorded_losses: Vec<String>,
    /// Objects under this identifier written for another resource id: an
    /// earlier instance deleted and created again under the same name. Its
    /// trail is counted apart, never checked against this one's files.
    pub earlier_trails: BTreeMap<String, usize>,
}

/// An object under an instance's prefix, with what its metadata says.
struct StoredObject {
    key: String,
    start: u64,
    facts: Option<ObjectFacts>,
}

/// Verifies one instance.
pub async fn verify_instance(shipper: &Shipper, instance: &Instance, deep: bool) -> Result<VerifyReport, Failure> {
    let survey = shipper.survey(instance).await?;
    let mut report = VerifyReport::default();
    let chains = read_chains(shipper, instance, &mut report).await?;
    let expected = expected_ends(&survey);
    report.files = chains.len();
    for (id, (end, source)) in &expected {
        if !chains.contains_key(id) && *end > 0 {
            report.findings.push(Finding {
                file_id: Some(id.0.clone()),
                source: source.clone(),
                problem: Problem::Missing { start: 0, end: *end, why: "no object at all".into() },
            });
        }
    }
    for (id, objects) in &chains {
        let (expected_end, source) = expected.get(id).cloned().unwrap_or((0, None));
        let source = source.or_else(|| objects.iter().find_map(|o| o.facts.as_ref().map(|f| f.source_file.clone())));
        for problem in check_chain(objects, expected_end) {
            report.findings.push(Finding { file_id: Some(id.0.clone()), source: source.clone(), problem });
        }
    }
    for (id, p) in &survey.vanished {
        let loss = Loss::of_vanished(&instance.resource_id.0, id, p);
        report.findings.push(Finding {
            file_id: Some(id.0.clone()),
            source: Some(p.last_name.clone()),
            problem: Problem::Missing {
                start: loss.shipped,
                end: loss.last_size,
                why: format!("{}; not yet reported by a run", loss.describe()),
            },
        });
    }
    for g in &survey.checkpoint.state.gaps {
        report.recorded_losses.push(format!(
            "{}, detected {}{}{}",
            Loss::of_gap(g, &instance.resource_id.0).describe(),
            crate::output::rfc3339(g.detected_at),
            g.detected_by.as_ref().map_or(String::new(), |run| format!(" by run {run}")),
            g.reported_by.as_ref().map_or(String::new(), |run| format!(", reported (exit 3) by run {run}"))
        ));
    }
    if deep {
        check_contents(shipper, &chains, &mut report).await?;
        check_against_files(shipper, instance, &survey, &chains, &mut report).await?;
    }
    Ok(report)
}

/// Lists the instance's objects and reads each one's metadata, grouped by
/// file and ordered by offset. Keys that are not auditship object keys are
/// findings.
async fn read_chains(
    shipper: &Shipper,
    instance: &Instance,
    report: &mut VerifyReport,
) -> Result<BTreeMap<FileId, Vec<StoredObject>>, Failure> {
    let mut chains: BTreeMap<FileId, Vec<StoredObject>> = BTreeMap::new();
    for key in shipper.store.list_keys(&instance_prefix(&shipper.cfg.prefix, instance)).await? {
        let Some((id, start)) = parse_object_key(&key) else {
            report.findings.push(Finding {
                file_id: None,
                source: None,
                problem: Problem::Foreign { key, why: "not an auditship object key".into() },
            });
            continue;
        };
        let facts = shipper.store.head(&key).await?.and_then(|e| e.facts);
        if let Some(other) =
            facts.as_ref().map(|f| &f.dbi_resource_id).filter(|r| !r.is_empty() && **r != instance.resource_id.0)
        {
            *report.earlier_trails.entry(other.clone()).or_default() += 1;
            continue;
        }
        report.objects += 1;
        chains.entry(id).or_default().push(StoredObject { key, start, facts });
    }
    for objects in chains.values_mut() {
        objects.sort_by_key(|o| o.start);
    }
    Ok(chains)
}

/// How far each known file must be covered by objects, and its name: the
/// checkpoint's shipped offset, or the whole file for a file on the
/// instance the checkpoint has as complete.
fn expected_ends(survey: &Survey) -> BTreeMap<FileId, (u64, Option<String>)> {
    let cp = &survey.checkpoint.state;
    let mut expected: BTreeMap<FileId, (u64, Option<String>)> =
        cp.files.iter().map(|(id, p)| (id.clone(), (p.shipped, Some(p.last_name.clone())))).collect();
    for SurveyedFile { file, id, .. } in &survey.files {
        let Some(id) = id else { continue };
        if let Some(p) = cp.files.get(id) {
            let end = if p.complete() { p.shipped.max(file.size) } else { p.shipped };
            expected.insert(id.clone(), (end, Some(file.name.clone())));
        }
    }
    expected
}

/// Holes, overlaps and foreign objects in one file's chain of objects.
fn check_chain(objects: &[StoredObject], expected_end: u64) -> Vec<Problem> {
    let mut problems = Vec::new();
    let mut covered = 0u64;
    let mut last_key: Option<&str> = None;
    for o in objects {
        let Some(facts) = &o.facts else {
            close_hole(&mut covered, o.start, &mut problems);
            problems.push(Problem::Foreign {
                key: o.key.clone(),
                why: "no auditship metadata: written or overwritten by something else".into(),
            });
            continue;
        };
        if facts.start != o.start || facts.end <= facts.start {
            close_hole(&mut covered, o.start, &mut problems);
            problems.push(Problem::Foreign {
                key: o.key.clone(),
                why: format!("metadata says offsets {}..{}, the key says {}", facts.start, facts.end, o.start),
            });
            continue;
        }
        if o.start > covered {
            close_hole(&mut covered, o.start, &mut problems);
        } else if o.start < covered {
            problems.push(Problem::Overlap {
                start: o.start,
                end: covered.min(facts.end),
                keys: vec![last_key.unwrap_or_default().to_string(), o.key.clone()],
            });
        }
        if facts.end > covered {
            covered = facts.end;
            last_key = Some(&o.key);
        }
    }
    if expected_end > covered {
        problems.push(Problem::Missing {
            start: covered,
            end: expected_end,
            why: "recorded as shipped but in no object".into(),
        });
    }
    problems
}

/// Bytes before `at` not yet covered are a hole. A foreign object closes
/// the hole at its key's offset; what it holds is unknown, so the bytes it
/// stands in for count as missing up to the next trustworthy object.
fn close_hole(covered: &mut u64, at: u64, problems: &mut Vec<Problem>) {
    if at > *covered {
        problems.push(Problem::Missing { start: *covered, end: at, why: "hole between objects".into() });
        *covered = at;
    }
}

/// `--deep`, objects: each one gunzips to exactly the bytes its metadata
/// describes (length, sha256, line count).
async fn check_contents(
    shipper: &Shipper,
    chains: &BTreeMap<FileId, Vec<StoredObject>>,
    report: &mut VerifyReport,
) -> Result<(), Failure> {
    for (id, objects) in chains {
        for o in objects {
            let Some(facts) = &o.facts else { continue };
            let Some((gzip, _)) = shipper.store.get_small(&o.key).await? else {
                report.findings.push(diverged(id, facts, &o.key, "deleted while it was verified".into()));
                continue;
            };
            if let Some(why) = content_problem(&gzip, facts) {
                report.findings.push(diverged(id, facts, &o.key, why));
            }
        }
    }
    Ok(())
}

fn content_problem(gzip: &[u8], facts: &ObjectFacts) -> Option<String> {
    let plain = match facts.unpack(gzip) {
        Ok(plain) => plain,
        Err(why) => return Some(why),
    };
    let lines = plain.iter().filter(|&&b| b == b'\n').count() as u64;
    if lines != facts.lines {
        return Some(format!("holds {lines} line ends, its metadata says {}", facts.lines));
    }
    None
}

/// `--deep`, files: every object of a file still on the instance holds the
/// file's bytes at its offsets.
async fn check_against_files(
    shipper: &Shipper,
    instance: &Instance,
    survey: &Survey,
    chains: &BTreeMap<FileId, Vec<StoredObject>>,
    report: &mut VerifyReport,
) -> Result<(), Failure> {
    for surveyed in &survey.files {
        let (Some(id), Some(head)) = (&surveyed.id, &surveyed.head) else { continue };
        let Some(objects) = chains.get(id) else { continue };
        let mut stream = match shipper.source.open(&instance.id, &surveyed.file.name, Span::Whole).await {
            Ok(s) => s.cancelled_by(shipper.stop.clone()),
            Err(FetchError::Gone) => continue,
            Err(FetchError::Failed(f)) => return Err(f),
        };
        if !head.matches(&mut stream).await? {
            return Err(rotated(instance, surveyed));
        }
        let mut mismatches = Vec::new();
        for o in objects {
            let Some(facts) = o.facts.as_ref().filter(|f| f.start >= stream.offset()) else { continue };
            let to_start = facts.start - stream.offset();
            if !stream.take(to_start, &mut |_| {}).await? {
                break;
            }
            match hash_up_to(&mut stream, facts.end).await? {
                Some(sha) if sha == facts.sha256 => {}
                Some(_) => mismatches.push((o.key.clone(), "differs from the file's bytes at its offsets".to_string())),
                None => mismatches.push((o.key.clone(), format!("reaches offset {} past the file's end", facts.end))),
            }
        }
        // A mismatch only counts if no rotation renamed the file meanwhile.
        if !mismatches.is_empty() {
            if !shipper.holds(instance, &surveyed.file, head).await.unwrap_or(false) {
                return Err(rotated(instance, surveyed));
            }
        }
        for (key, why) in mismatches {
            report.findings.push(Finding {
                file_id: Some(id.0.clone()),
                source: Some(surveyed.file.name.clone()),
                problem: Problem::Diverged { key, why },
            });
        }
    }
    Ok(())
}

fn rotated(instance: &Instance, surveyed: &SurveyedFile) -> Failure {
    Failure::transient(format!(
        "instance {}: {} rotated while it was compared; run verify again",
        instance.id, surveyed.file.name
    ))
}

fn diverged(id: &FileId, facts: &ObjectFacts, key: &str, why: String) -> Finding {
    Finding {
        file_id: Some(id.0.clone()),
        source: Some(facts.source_file.clone()),
        problem: Problem::Diverged { key: key.to_string(), why },
    }
}

/// The sha256 of the bytes from where the stream is up to offset `to`;
/// `None` if the file ends first.
async fn hash_up_to(stream: &mut LogStream, to: u64) -> Result<Option<String>, Failure> {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    let complete = stream.take(to.saturating_sub(stream.offset()), &mut |b| hasher.update(b)).await?;
    Ok(complete.then(|| hex::encode(hasher.finalize())))
}

/// `verify`: one line per finding and a summary per instance; exit 3 if
/// anything is missing, duplicated or diverged.
pub(crate) async fn command(args: VerifyArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let (clients, instances) = connect(cfg).await?;
    let shipper = clients.shipper(None, crate::run_id::RunId::generate());
    let public = match (&args.public_key, args.kms_key_id.as_deref().map(str::trim)) {
        (Some(path), _) => Some(PublicKey::from_pem_file(path)?),
        (None, Some(key_id)) => Some(kms_public_key(&clients.kms(key_id), key_id).await?),
        (None, None) => None,
    };
    let window = Window { since: args.since, until: args.until };
    let mut severity = Severity::default();
    let mut audits = Vec::new();
    for instance in &instances {
        if let Some(public) = &public {
            match audit_trail(&shipper, instance, public, args.deep, window).await {
                Ok(trails) => {
                    for audit in trails {
                        if !audit.problems.is_empty() {
                            severity.record(FailureKind::DataLoss);
                        }
                        print_trail_audit(&audit, args.json);
                        audits.push(audit);
                    }
                }
                Err(f) => {
                    eprintln!("auditship: error: {}", f.message);
                    severity.record(f.kind);
                }
            }
        }
        let report = match verify_instance(&shipper, instance, args.deep).await {
            Ok(report) => report,
            Err(f) => {
                if crate::logging::json() {
                    tracing::error!(instance = %instance.id, kind = f.kind.label(), "{}", f.message);
                }
                eprintln!("auditship: error: {}", f.message);
                severity.record(f.kind);
                continue;
            }
        };
        if !report.findings.is_empty() {
            severity.record(FailureKind::DataLoss);
        }
        print_verify_report(instance, &report, args.json, args.deep, &clients.cfg);
    }
    if let (Some(dir), Some(public)) = (&args.report, &public) {
        let report = TrailReport {
            format: REPORT_FORMAT,
            generated_at: chrono::Utc::now(),
            bucket: &clients.cfg.bucket,
            prefix: &clients.cfg.prefix,
            public_key: public.fingerprint(),
            deep: args.deep,
            result: if audits.iter().all(|a| a.problems.is_empty()) { "intact" } else { "problems" },
            instances: &audits,
        };
        let (md, json) = trail_report::write(dir, &report)?;
        eprintln!("auditship: report written to {} and {}", md.display(), json.display());
    }
    Ok(severity)
}

/// The instance's digests and what they list, checked with `public`; then
/// those of earlier instances under its identifier.
async fn audit_trail(
    shipper: &Shipper,
    instance: &Instance,
    public: &PublicKey,
    deep: bool,
    window: Window,
) -> Result<Vec<TrailAudit>, Failure> {
    let key = crate::keys::checkpoint_key(&shipper.cfg.prefix, instance);
    let cp = crate::checkpoint::load(&*shipper.store, &key, instance).await?;
    let store = &*shipper.store;
    crate::evidence::audit::audit_instance(store, &shipper.cfg.prefix, instance, public, &cp.state, deep, window).await
}

fn print_trail_audit(a: &TrailAudit, json: bool) {
    if json {
        for p in &a.problems {
            let mut line = serde_json::to_value(p).expect("a problem serializes");
            line["instance"] = a.instance.clone().into();
            line["dbi_resource_id"] = a.dbi_resource_id.clone().into();
            line["evidence"] = true.into();
            crate::outln!("{line}");
        }
        let summary = serde_json::json!({
            "instance": a.instance,
            "dbi_resource_id": a.dbi_resource_id,
            "replaced_by": a.replaced_by,
            "evidence": true,
            "digests": a.chain.digests,
            "objects_listed": a.objects_checked,
            "pending": a.pending,
            "before_chain": a.before_chain,
            "files": a.files.len(),
            "deep": a.deep,
            "versions_read": a.versions.read,
            "keys_changed_before": a.versions.changes.len(),
            "problems": a.problems.len(),
        });
        crate::outln!("{summary}");
        return;
    }
    let who = match &a.replaced_by {
        Some(now) => format!("{} (earlier instance {}, replaced by {now})", a.instance, a.dbi_resource_id),
        None => a.instance.clone(),
    };
    for p in &a.problems {
        crate::outln!("{who} {p}");
    }
    crate::outln!(
        "{}: digests: {} ({}), {} objects listed{}, {} awaiting their digest, {} from before the chain: {} problems: {}",
        who,
        a.chain.digests,
        match (a.chain.first_period_start, a.chain.last_period_end) {
            (Some(from), Some(to)) => format!("{} to {}", crate::output::rfc3339(from), crate::output::rfc3339(to)),
            _ => "none yet".to_string(),
        },
        a.objects_checked,
        if a.deep { " and checked by their bytes" } else { " and checked by their metadata" },
        a.pending,
        a.before_chain,
        a.problems.len(),
        if a.problems.is_empty() { "ok" } else { "PROBLEMS FOUND (exit 3)" }
    );
}

fn print_verify_report(instance: &Instance, report: &VerifyReport, json: bool, deep: bool, cfg: &Config) {
    if json {
        for f in &report.findings {
            let mut line = serde_json::to_value(f).expect("finding serializes");
            line["instance"] = instance.id.0.clone().into();
            crate::outln!("{line}");
        }
        let summary = serde_json::json!({
            "instance": instance.id.0,
            "files": report.files,
            "objects": report.objects,
            "deep": deep,
            "problems": report.findings.len(),
            "recorded_losses": report.recorded_losses,
            "earlier_trails": report.earlier_trails,
        });
        crate::outln!("{summary}");
        return;
    }
    for f in &report.findings {
        crate::outln!("{} {f}", instance.id);
        if let Some(repair) = repair_command(instance, f, cfg) {
            crate::outln!("{} {repair}", instance.id);
        }
    }
    for loss in &report.recorded_losses {
        crate::outln!("{} recorded loss: {loss}", instance.id);
    }
    for (rid, objects) in &report.earlier_trails {
        crate::outln!(
            "{} earlier instance {rid} under this identifier: {objects} objects, a trail of its own (verify counts it apart)",
            instance.id
        );
    }
    crate::outln!(
        "{}: {} files, {} objects{} checked: {} problems, {} recorded losses: {}",
        instance.id,
        report.files,
        report.objects,
        if deep { " (deep)" } else { "" },
        report.findings.len(),
        report.recorded_losses.len(),
        if report.findings.is_empty() { "ok" } else { "PROBLEMS FOUND (exit 3)" }
    );
}

/// The command that fills a hole, while the file is still on the
/// instance: a backfill of that file (it verifies what is there and creates
/// only what is missing).
fn repair_command(instance: &Instance, finding: &Finding, cfg: &Config) -> Option<String> {
    let (Problem::Missing { .. }, Some(name)) = (&finding.problem, &finding.source) else { return None };
    Some(format!(
        "  to repair, if {name} is still on the instance: auditship backfill --instance {} --bucket {} --prefix {} --file {name}",
        instance.id, cfg.bucket, cfg.prefix
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(start: u64, end: u64) -> StoredObject {
        StoredObject {
            key: format!("k/{start:020}.log.gz"),
            start,
            facts: Some(ObjectFacts {
                start,
                end,
                sha256: String::new(),
                lines: 0,
                source_file: String::new(),
                role: String::new(),
                instance_id: String::new(),
                dbi_resource_id: String::new(),
                file_id: String::new(),
                first_record: None,
                last_record: None,
            }),
        }
    }

    #[test]
    fn a_contiguous_chain_up_to_the_shipped_offset_is_clean() {
        assert_eq!(check_chain(&[object(0, 10), object(10, 25)], 25), vec![]);
        assert_eq!(check_chain(&[], 0), vec![]);
    }

    #[test]
    fn holes_overlaps_and_short_chains_are_named_by_range() {
        let problems = check_chain(&[object(0, 10), object(15, 30), object(20, 40)], 50);
        assert_eq!(
            problems,
            vec![
                Problem::Missing { start: 10, end: 15, why: "hole between objects".into() },
                Problem::Overlap { start: 20, end: 30, keys: vec![object(15, 0).key, object(20, 0).key] },
                Problem::Missing { start: 40, end: 50, why: "recorded as shipped but in no object".into() },
            ]
        );
    }

    #[test]
    fn objects_without_metadata_or_with_wrong_offsets_are_foreign() {
        let mut bare = object(10, 20);
        bare.facts = None;
        let mut moved = object(20, 30);
        moved.start = 25;
        let problems = check_chain(&[object(0, 10), bare, moved], 0);
        assert_eq!(problems.len(), 3, "{problems:?}");
        assert!(matches!(problems[0], Problem::Foreign { .. }), "{problems:?}");
        // The bytes the foreign objects stand in for are in no trustworthy object.
        assert_eq!(problems[1], Problem::Missing { start: 10, end: 25, why: "hole between objects".into() });
        assert!(matches!(problems[2], Problem::Foreign { .. }), "{problems:?}");
    }

    #[test]
    fn content_is_checked_against_metadata() {
        let mut builder = crate::compress::ObjectBuilder::default();
        builder.write(b"a\nbb\n");
        let built = builder.finish();
        let mut facts = object_facts(&built);
        assert_eq!(content_problem(&built.gzip, &facts), None);
        facts.lines = 3;
        assert!(content_problem(&built.gzip, &facts).unwrap().contains("line ends"));
        facts = object_facts(&built);
        facts.sha256 = "0".repeat(64);
        assert!(content_problem(&built.gzip, &facts).unwrap().contains("sha256"));
        assert!(content_problem(b"not gzip", &object_facts(&built)).unwrap().contains("gunzip"));
    }

    fn object_facts(built: &crate::compress::CompressedObject) -> ObjectFacts {
        let mut facts = object(0, built.len).facts.unwrap();
        facts.sha256 = built.sha256.clone();
        facts.lines = built.lines;
        facts
    }
}
