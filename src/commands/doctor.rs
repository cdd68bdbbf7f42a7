//! Doctor: preflight for a new deployment or after an alarm. Each check
//! names the thing it tried and, when it fails, the IAM action, setting or
//! flag to fix. Nothing is changed except one small probe object under
//! `{prefix}/_doctor/` that proves S3 honours conditional writes.

use super::{config_error, stop_on_signal, Writes};
use crate::checkpoint;
use crate::cli::DoctorArgs;
use crate::clients::Clients;
use crate::config::{DbAccess, DigestSettings, EventSettings, SignerSource};
use crate::db;
use crate::discover;
use crate::error::{Failure, Severity};
use crate::events::derive::Layout;
use crate::evidence::Evidence;
use crate::fetch::{FetchError, Span};
use crate::identify::FileId;
use crate::instance::Instance;
use crate::keys::checkpoint_key;
use crate::list;
use crate::store::Swapped;
use std::sync::Arc;

/// What one check found.
#[derive(Debug)]
pub enum Verdict {
    Ok(String),
    /// Works, but an SRE should know (and may want to change it).
    Warn(String),
    Fail(Failure),
}

#[derive(Debug)]
pub struct Check {
    pub name: String,
    pub verdict: Verdict,
}

impl Check {
    fn new(name: impl Into<String>, verdict: Verdict) -> Self {
        Check { name: name.into(), verdict }
    }

    pub fn failed(name: impl Into<String>, f: Failure) -> Self {
        Check::new(name, Verdict::Fail(f))
    }

    fn of<T>(name: impl Into<String>, result: Result<T, Failure>, ok: impl FnOnce(T) -> Verdict) -> Self {
        Check::new(name, result.map_or_else(Verdict::Fail, ok))
    }

    /// `{"check", "verdict": ok|warn|fail, "detail", "exit_code"}`.
    pub fn json(&self) -> serde_json::Value {
        let (verdict, detail, exit_code) = match &self.verdict {
            Verdict::Ok(s) => ("ok", s.clone(), 0),
            Verdict::Warn(s) => ("warn", s.clone(), 0),
            Verdict::Fail(f) => ("fail", f.message.clone(), f.kind.exit_code()),
        };
        serde_json::json!({ "check": self.name, "verdict": verdict, "detail": detail, "exit_code": exit_code })
    }

    fn print(&self, json: bool) {
        if json {
            crate::outln!("{}", self.json());
        } else {
            crate::outln!("{}", self.line());
        }
    }

    pub fn line(&self) -> String {
        match &self.verdict {
            Verdict::Ok(s) => format!("ok    {}: {s}", self.name),
            Verdict::Warn(s) => format!("warn  {}: {s}", self.name),
            Verdict::Fail(f) => format!("FAIL  {}: {} (exit {})", self.name, f.message, f.kind.exit_code()),
        }
    }
}

/// Runs every check and prints each as it completes; returns the severity.
pub async fn examine(
    clients: &Clients,
    db: Option<&DbAccess>,
    signing: Option<&DigestSettings>,
    events: Option<&EventSettings>,
    json: bool,
) -> Severity {
    let mut checks = Checks { json, ..Checks::default() };
    checks.push(Check::new(
        "aws credentials",
        match clients.identity.credentials().await {
            Ok(c) => Verdict::Ok(format!(
                "access key {}…, region {}",
                c.access_key_id().chars().take(8).collect::<String>(),
                clients.identity.region()
            )),
            Err(f) => Verdict::Fail(f),
        },
    ));
    let instances = discover::discover(&clients.rds, &clients.cfg.selection, clients.db_login()).await;
    let instances = match instances {
        Ok(list) if list.is_empty() => {
            checks.push(Check::new(
                "rds:DescribeDBInstances",
                Verdict::Fail(Failure::needs_person("the selection matches no instance: check it and --region")),
            ));
            Vec::new()
        }
        Ok(list) => {
            let names: Vec<String> = list.iter().map(|i| format!("{} ({})", i.id, i.role.as_str())).collect();
            checks.push(Check::new("rds:DescribeDBInstances", Verdict::Ok(names.join(", "))));
            list
        }
        Err(f) => {
            checks.push(Check::new("rds:DescribeDBInstances", Verdict::Fail(f)));
            Vec::new()
        }
    };
    for instance in &instances {
        check_instance_logs(clients, instance, &mut checks).await;
    }
    check_bucket(clients, &instances, &mut checks).await;
    checks.push(check_signing(clients, signing).await);
    checks.push(check_events(clients, events, &instances).await);
    // With SQL discovery --db-endpoint is where discovery started, not a
    // stand-in for each instance's own endpoint.
    let db =
        db.map(|a| DbAccess { endpoint: a.endpoint.clone().filter(|_| !clients.cfg.selection.via_sql), ..a.clone() });
    if let Some(access) = &db {
        if access.endpoint.is_some() && instances.len() > 1 {
            checks.push(Check::new(
                "database",
                Verdict::Fail(Failure::needs_person(
                    "--db-endpoint names one database but the selection matches several: select one with --instance",
                )),
            ));
        } else {
            for instance in &instances {
                check_audit_settings(clients, instance, access, &mut checks).await;
            }
        }
    }
    checks.finish()
}

/// The digest signing key, as a run would read it: a key file parsed, a
/// KMS key read (kms:GetPublicKey) and a probe signed (kms:Sign) and
/// checked with its public key.
async fn check_signing(clients: &Clients, signing: Option<&DigestSettings>) -> Check {
    let Some(settings) = signing else {
        return Check::new(
            "digest signing",
            Verdict::Ok("off: no digests (--signing-key-file or --signing-kms-key-id turns them on)".into()),
        );
    };
    let name = match &settings.signer {
        SignerSource::KeyFile(path) => format!("digest signing key file {}", path.display()),
        SignerSource::Kms(key_id) => format!("kms:GetPublicKey, kms:Sign {key_id}"),
    };
    Check::of(name, probe_signature(clients, settings).await, |evidence| {
        let facts = evidence.signer.facts();
        Verdict::Ok(format!(
            "{} key {}: a probe was signed and verified with its public key {}; {}s periods",
            facts.algorithm,
            facts.key,
            evidence.signer.public().fingerprint(),
            settings.period.as_secs()
        ))
    })
}

/// Where runs' events go, as a run would reach it: a Security Lake
/// provider role assumed (sts:AssumeRole), and every instance's account
/// known (its `accountId=` partition). The writes themselves are a run's:
/// the provider role may not list or read, so nothing is probed there.
async fn check_events(clients: &Clients, events: Option<&EventSettings>, instances: &[Instance]) -> Check {
    let Some(settings) = events else {
        return Check::new(
            "events destination",
            Verdict::Ok("off: no derived events (run --events turns them on)".into()),
        );
    };
    let sink = match clients.events_for(settings).await {
        Ok(sink) => sink,
        Err(f) => return Check::failed("events destination", f),
    };
    let redacted = if settings.redact { ", literals redacted" } else { "" };
    match (&sink.layout, &settings.security_lake) {
        (Layout::SecurityLake { prefix }, Some(lake)) => {
            let day = chrono::NaiveDate::default();
            let probe = FileId(String::new());
            if let Some(f) = instances.iter().find_map(|i| sink.key(i, &probe, 0, day).err()) {
                return Check::failed("events destination", f);
            }
            let role = lake
                .role
                .as_ref()
                .map_or("the task's own credentials".to_string(), |r| format!("role {} (assumed)", r.arn));
            Check::new(
                "events destination",
                Verdict::Ok(format!(
                    "Security Lake custom source s3://{}/{prefix}/region={}/accountId=…/ with {role}{redacted}; \
                     whether the role may write there shows at a run's first write (exit 2 naming the key)",
                    lake.location.bucket, sink.region
                )),
            )
        }
        _ => Check::new(
            "events destination",
            Verdict::Ok(format!(
                "s3://{}/{}/_events/{}/ with the trail's own permissions{redacted}",
                clients.cfg.bucket,
                clients.cfg.prefix,
                if settings.redact { "ocsf-redacted" } else { "ocsf" }
            )),
        ),
    }
}

/// The signer, once a probe it signed verifies with its public key.
async fn probe_signature(clients: &Clients, settings: &DigestSettings) -> Result<Evidence, Failure> {
    const PROBE: &[u8] = b"auditship doctor: digest signing probe";
    let evidence = clients.evidence_for(settings).await?;
    let signature = evidence.signer.sign(PROBE).await?;
    let facts = evidence.signer.facts();
    if !evidence.signer.public().verify(&facts.algorithm, PROBE, &signature) {
        return Err(Failure::needs_person(format!(
            "signing key {}: a probe it signed does not verify with its public key: use another key",
            facts.key
        )));
    }
    Ok(evidence)
}

/// Prints each check as it is added and keeps the worst failure.
#[derive(Default)]
struct Checks {
    severity: Severity,
    counts: [usize; 3],
    json: bool,
}

impl Checks {
    fn push(&mut self, check: Check) {
        check.print(self.json);
        match &check.verdict {
            Verdict::Ok(_) => self.counts[0] += 1,
            Verdict::Warn(_) => self.counts[1] += 1,
            Verdict::Fail(f) => {
                // In human logs the FAIL line on stdout says it.
                if crate::logging::json() {
                    tracing::error!(check = %check.name, kind = f.kind.label(), "{}", f.message);
                }
                self.counts[2] += 1;
                self.severity.record(f.kind);
            }
        }
    }

    fn finish(self) -> Severity {
        let [ok, warn, fail] = self.counts;
        if self.json {
            let exit_code = self.severity.worst().map_or(0, |k| k.exit_code());
            let summary = serde_json::json!({
                "checks": ok + warn + fail, "ok": ok, "warnings": warn, "failed": fail, "exit_code": exit_code
            });
            crate::outln!("{summary}");
        } else {
            crate::outln!("doctor: {} checks, {ok} ok, {warn} warnings, {fail} failed", ok + warn + fail);
        }
        self.severity
    }
}

/// The instance lists audit files, and the newest can be downloaded.
async fn check_instance_logs(clients: &Clients, instance: &Instance, checks: &mut Checks) {
    let files = list::audit_files(&clients.rds, instance).await;
    let files = match files {
        Ok(files) if files.is_empty() => {
            checks.push(Check::new(
                format!("rds:DescribeDBLogFiles {}", instance.id),
                Verdict::Fail(Failure::data_loss(format!(
                    "instance {} has no audit log files: audit logging is off; enable the MARIADB_AUDIT_PLUGIN \
                     option (RDS for MySQL/MariaDB) or server_audit_logging (Aurora MySQL)",
                    instance.id
                ))),
            ));
            return;
        }
        Ok(files) => {
            let bytes: u64 = files.iter().map(|f| f.size).sum();
            checks.push(Check::new(
                format!("rds:DescribeDBLogFiles {}", instance.id),
                Verdict::Ok(format!("{} audit files, {bytes} bytes", files.len())),
            ));
            files
        }
        Err(f) => {
            checks.push(Check::new(format!("rds:DescribeDBLogFiles {}", instance.id), Verdict::Fail(f)));
            return;
        }
    };
    let newest = files.iter().min_by(|a, b| list::LogFile::newest_first(a, b)).expect("files is not empty");
    let name = format!("rds:DownloadCompleteDBLogFile {}", instance.id);
    let verdict = match clients.fetcher.open(&instance.id, &newest.name, Span::Head).await {
        Ok(mut stream) => match stream.peek_head(64).await {
            Ok(_) => Verdict::Ok(format!("read {}", newest.name)),
            Err(f) => Verdict::Fail(f),
        },
        // Rotated between the listing and the read: the call itself worked.
        Err(FetchError::Gone) => Verdict::Ok(format!("{} rotated away meanwhile; the call is allowed", newest.name)),
        Err(FetchError::Failed(f)) => Verdict::Fail(f),
    };
    checks.push(Check::new(name, verdict));
}

/// Bucket reachable, listing and reading allowed, checkpoints readable,
/// conditional writes honoured, and how the bucket protects objects.
async fn check_bucket(clients: &Clients, instances: &[Instance], checks: &mut Checks) {
    let store = &clients.s3;
    let bucket = store.bucket().to_string();
    if let Err(f) = store.check_bucket().await {
        checks.push(Check::new(format!("bucket {bucket}"), Verdict::Fail(f)));
        return;
    }
    checks.push(Check::new(format!("bucket {bucket}"), Verdict::Ok("reachable".into())));
    let prefix = &clients.cfg.prefix;
    checks.push(Check::of("s3:ListBucket", store.list_keys(&format!("{prefix}/_state/")).await, |keys| {
        Verdict::Ok(format!("{} checkpoints under {prefix}/_state/", keys.len()))
    }));
    for instance in instances {
        let key = checkpoint_key(prefix, instance);
        checks.push(Check::of(
            format!("s3:GetObject checkpoint {}", instance.id),
            checkpoint::load(store, &key, instance).await,
            |cp| match (cp.etag, cp.state.updated_at) {
                (None, _) => Verdict::Ok(format!("none yet at {key}: the first run starts one")),
                (Some(_), at) => Verdict::Ok(format!(
                    "{key}: {} files tracked, last commit {}",
                    cp.state.files.len(),
                    at.map_or("unknown".to_string(), crate::output::rfc3339)
                )),
            },
        ));
    }
    checks.push(Check::new("s3:PutObject conditional writes", conditional_writes(clients).await));
    // Informational: the worker needs neither permission, so not being
    // able to read them is a warning, not a failure.
    let unreadable = |f: Failure| Verdict::Warn(format!("cannot tell: {}", f.message));
    checks.push(Check::new(
        "bucket versioning",
        match store.versioning().await {
            Ok(state) if state == "Enabled" => Verdict::Ok("enabled".into()),
            Ok(state) => Verdict::Warn(format!(
                "{state}: an object deleted or overwritten by anything else cannot be recovered; enable versioning"
            )),
            Err(f) => unreadable(f),
        },
    ));
    checks.push(Check::new(
        "bucket object lock",
        match store.object_lock().await {
            Ok(Some(rule)) => lock_verdict(rule),
            Ok(None) => {
                Verdict::Warn("off: objects can be deleted by anyone allowed to; consider Object Lock for WORM".into())
            }
            Err(f) => unreadable(f),
        },
    ));
}

/// What a bucket's default retention means for who can undo it.
fn lock_verdict(rule: String) -> Verdict {
    if rule.starts_with("COMPLIANCE") {
        Verdict::Ok(format!("default retention {rule}: no one, the root user included, can shorten it or delete a version before it ends"))
    } else if rule.starts_with("GOVERNANCE") {
        Verdict::Ok(format!(
            "default retention {rule}: a principal allowed s3:BypassGovernanceRetention can shorten it or delete a \
             version; keep that permission from this task's role (or use COMPLIANCE)"
        ))
    } else {
        Verdict::Warn(format!(
            "{rule}: objects are locked only when written with --object-lock-mode and --retain-days; set a default \
             retention on the bucket to lock every write"
        ))
    }
}

/// Writes the probe object with a precondition that holds, then again with
/// one that no longer holds: the second must be refused (412), or S3 (or
/// whatever answers in its place) would let runs overwrite each other.
async fn conditional_writes(clients: &Clients) -> Verdict {
    let store = &clients.s3;
    let key = format!("{}/_doctor/conditional-write-probe.json", clients.cfg.prefix);
    // New content every time: an ETag is often the content's MD5, and an
    // unchanged ETag would make the stale precondition hold.
    let nonce = chrono::Utc::now().timestamp_nanos_opt().unwrap_or_default();
    let body = |n: u8| {
        format!("{{\"probe\": {n}, \"nonce\": {nonce}, \"writer_version\": \"{}\"}}", env!("CARGO_PKG_VERSION"))
            .into_bytes()
    };
    let before = match store.get_small(&key).await {
        Ok(found) => found.map(|(_, etag)| etag),
        Err(f) => return Verdict::Fail(f),
    };
    match store.swap(&key, body(1), before.as_deref()).await {
        Ok(Swapped::Yes { .. }) => {}
        Ok(Swapped::Conflict) => {
            return Verdict::Warn("the probe object changed meanwhile (another doctor?); run doctor again".into())
        }
        Err(f) => return Verdict::Fail(f),
    }
    match store.swap(&key, body(2), before.as_deref()).await {
        Ok(Swapped::Conflict) => Verdict::Ok(format!("If-None-Match / If-Match honoured (probe at {key})")),
        Ok(Swapped::Yes { .. }) => Verdict::Fail(Failure::needs_person(format!(
            "a write to s3://{}/{key} with a stale precondition succeeded: this S3 endpoint ignores conditional \
             writes, so overlapping runs could overwrite each other; use Amazon S3 or a store that honours \
             If-None-Match and If-Match",
            store.bucket()
        ))),
        Err(f) => Verdict::Fail(f),
    }
}

/// Logs in to the instance's database and checks the audit plugin records
/// what matters. Auditing off, or CONNECT / QUERY not recorded, is data
/// that never reaches a log: exit 3.
async fn check_audit_settings(clients: &Clients, instance: &Instance, access: &DbAccess, checks: &mut Checks) {
    let Some(endpoint) = access.endpoint.clone().or_else(|| instance.endpoint.clone()) else {
        checks.push(Check::new(
            format!("database {}", instance.id),
            Verdict::Fail(Failure::needs_person(format!(
                "instance {} reports no endpoint (not available yet?): pass --db-endpoint HOST:PORT",
                instance.id
            ))),
        ));
        return;
    };
    let mut conn = match db::connect(access, &endpoint, &clients.identity).await {
        Ok(conn) => conn,
        Err(f) => {
            checks.push(Check::new(format!("database {}", instance.id), Verdict::Fail(f)));
            return;
        }
    };
    checks.push(Check::new(format!("database {}", instance.id), Verdict::Ok(format!("logged in at {endpoint}"))));
    let settings = db::audit_settings(&mut conn).await;
    let _ = conn.disconnect().await;
    let settings = match settings {
        Ok(s) => s,
        Err(f) => {
            checks.push(Check::new(format!("audit settings {}", instance.id), Verdict::Fail(f)));
            return;
        }
    };
    let name = format!("server_audit_logging {}", instance.id);
    if !settings.logging_on() {
        checks.push(Check::new(
            name,
            Verdict::Fail(Failure::data_loss(format!(
                "auditing is off on {}: nothing is recorded; set server_audit_logging=1 (Aurora: DB cluster \
                 parameter group; RDS MySQL/MariaDB: the MARIADB_AUDIT_PLUGIN option)",
                instance.id
            ))),
        ));
        return;
    }
    checks.push(Check::new(name, Verdict::Ok("ON".into())));
    let missing = settings.missing_events();
    let name = format!("server_audit_events {}", instance.id);
    checks.push(Check::new(
        name,
        if missing.is_empty() {
            Verdict::Ok("CONNECT and QUERY recorded".into())
        } else {
            Verdict::Fail(Failure::data_loss(format!(
                "{} does not record {}: add them to server_audit_events (or leave it empty to record all)",
                instance.id,
                missing.join(" and ")
            )))
        },
    ));
    if let Some(users) = settings.excluded_users() {
        checks.push(Check::new(
            format!("server_audit_excl_users {}", instance.id),
            Verdict::Warn(format!("activity of {users} is not audited")),
        ));
    }
    if let Some(users) = settings.only_users() {
        checks.push(Check::new(
            format!("server_audit_incl_users {}", instance.id),
            Verdict::Warn(format!("only {users} are audited")),
        ));
    }
}

/// `doctor`: one line per check, the worst failure decides the exit code.
pub(crate) async fn command(args: DoctorArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let signing = args.digest_settings().map_err(config_error)?;
    let events = args.event_settings().map_err(config_error)?;
    match Clients::build(cfg.clone(), stop_on_signal(Writes::Nothing)).await {
        Ok(clients) => Ok(examine(&clients, cfg.db.as_ref(), signing.as_ref(), events.as_ref(), args.json).await),
        Err(f) => {
            Check::failed("aws credentials", f.clone()).print(args.json);
            Err(f)
        }
    }
}
