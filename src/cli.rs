//! Flags, environment variables and help, defined once (clap derive).
//! Every flag has an `AUDITSHIP_*` environment variable so the ECS task
//! definition can configure the job without a command line.

use crate::config::{
    ActiveFilePolicy, AssumeRole, Config, DigestSettings, EventSettings, FileFilter, LockMode, Retention, S3Location,
    Scope, SecurityLake, Selection, SignerSource,
};
use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};
use clap::{Args, Parser, Subcommand, ValueEnum};
use std::time::Duration;

/// `0.1.0 (commit 0123456789ab, built 2026-12-01)`: which code a binary runs.
pub const VERSION: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("AUDITSHIP_BUILD_COMMIT"),
    ", built ",
    env!("AUDITSHIP_BUILD_DATE"),
    ")"
);

const EXIT_STATUS: &str = "\
Exit status (the worst over all instances):
  0  every selected instance is shipped up to what exists
  1  transient (throttling, network, 5xx, time limit, interrupted): the next run continues
  2  a person must fix something (flag, permission, endpoint, unreadable checkpoint)
  3  audit data lost, or an object in S3 differs from the file

Every flag also reads an AUDITSHIP_* environment variable (shown in each command's --help).";

#[derive(Debug, Parser)]
#[command(
    name = "auditship",
    version = VERSION,
    about = "Ship RDS / Aurora MySQL audit logs to S3, exactly once.",
    after_help = EXIT_STATUS
)]
pub struct Cli {
    /// Log format: human on a terminal, JSON lines otherwise.
    #[arg(long, global = true, value_enum, default_value = "auto", env = "AUDITSHIP_LOG_FORMAT")]
    pub log_format: LogFormat,
    /// Fewer log lines: warnings and errors only (RUST_LOG, if set, decides).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    /// More log lines: -v debug, -vv trace (RUST_LOG, if set, decides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Auto,
    Json,
    Human,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum MetricsMode {
    Auto,
    Emf,
    Off,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Ship everything new from the selected instances (the scheduled job).
    Run(RunArgs),
    /// Ship chosen files again from their first byte: verify what is in S3,
    /// create what is missing. Safe alongside scheduled runs.
    Backfill(BackfillArgs),
    /// Per instance: files on it, what is not yet shipped and how old it
    /// is, the last commit, and any loss already visible. Read-only.
    Status(StatusArgs),
    /// Reconcile files, checkpoints and objects: name every byte range
    /// missing, duplicated or diverged; exit 3 on any.
    Verify(VerifyArgs),
    /// Derive OCSF events (Parquet, one file per raw object and day) from
    /// objects already shipped. Safe alongside scheduled runs; the raw
    /// trail is only read.
    Events(EventsArgs),
    /// Preflight: credentials, each RDS and S3 permission, conditional
    /// writes, bucket protection, and (given DB credentials) that auditing
    /// records what matters.
    Doctor(DoctorArgs),
    /// Show the instances a selection resolves to, with roles and resource ids.
    Discover(DiscoverArgs),
    /// Print a shell completion script: `auditship completions bash >
    /// /etc/bash_completion.d/auditship` (zsh, fish, elvish, powershell too).
    Completions(CompletionsArgs),
    /// Print the man page (roff), or write one page per command with --out-dir.
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write auditship.1 and auditship-COMMAND.1 for each command here
    /// (e.g. /usr/local/share/man/man1) instead of printing auditship.1.
    #[arg(long, value_name = "DIR")]
    pub out_dir: Option<std::path::PathBuf>,
}

#[derive(Debug, Args)]
pub struct SelectionArgs {
    /// Cluster identifier (Aurora or Multi-AZ DB cluster): its writer and readers.
    #[arg(long = "cluster", value_name = "ID", env = "AUDITSHIP_CLUSTER", value_delimiter = ',')]
    pub clusters: Vec<String>,
    /// DB instance identifier.
    #[arg(long = "instance", value_name = "ID", env = "AUDITSHIP_INSTANCE", value_delimiter = ',')]
    pub instances: Vec<String>,
    /// With --instance: also its read replicas.
    #[arg(long, env = "AUDITSHIP_WITH_REPLICAS", value_parser = clap::builder::BoolishValueParser::new())]
    pub with_replicas: bool,
    /// Every instance whose tags include KEY=VALUE (repeat: all must match).
    #[arg(long = "tag", value_name = "KEY=VALUE", env = "AUDITSHIP_TAG", value_delimiter = ',', value_parser = parse_tag)]
    pub tags: Vec<(String, String)>,
    /// How instances are found: from the RDS API (the selection flags), or
    /// by asking the database at --db-endpoint for its writer and replicas.
    #[arg(long, value_enum, default_value = "api", env = "AUDITSHIP_DISCOVER")]
    pub discover: DiscoverMode,
    #[command(flatten)]
    pub db: DbArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DiscoverMode {
    Api,
    Sql,
}

#[derive(Debug, Args)]
pub struct AwsArgs {
    /// AWS region (default: the SDK's: AWS_REGION, profile).
    #[arg(long, env = "AUDITSHIP_REGION")]
    pub region: Option<String>,
    /// RDS API endpoint URL (VPC endpoint, local emulator).
    #[arg(long, value_name = "URL", env = "AUDITSHIP_RDS_ENDPOINT_URL")]
    pub rds_endpoint_url: Option<String>,
    /// S3 endpoint URL (local server); implies path-style addressing.
    #[arg(long, value_name = "URL", env = "AUDITSHIP_S3_ENDPOINT_URL")]
    pub s3_endpoint_url: Option<String>,
    /// Attempts per AWS call before a failure counts (throttling, 5xx).
    #[arg(long, default_value_t = 5, env = "AUDITSHIP_MAX_ATTEMPTS", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=20))]
    pub max_attempts: u32,
    /// Read RDS in another account: assume this IAM role for the RDS API,
    /// the log downloads and database IAM tokens. S3 keeps the task's own
    /// credentials.
    #[arg(long, value_name = "ARN", env = "AUDITSHIP_ASSUME_ROLE")]
    pub assume_role: Option<String>,
    /// With --assume-role: the external id the role's trust policy asks for.
    #[arg(long, value_name = "ID", env = "AUDITSHIP_EXTERNAL_ID")]
    pub external_id: Option<String>,
    /// With --assume-role: the session name CloudTrail shows.
    #[arg(long, value_name = "NAME", default_value = "auditship", env = "AUDITSHIP_ROLE_SESSION_NAME")]
    pub role_session_name: String,
    /// STS endpoint URL for --assume-role (VPC endpoint, local emulator).
    #[arg(long, value_name = "URL", env = "AUDITSHIP_STS_ENDPOINT_URL")]
    pub sts_endpoint_url: Option<String>,
    /// KMS endpoint URL for --signing-kms-key-id and --kms-key-id (VPC
    /// endpoint, local emulator).
    #[arg(long, value_name = "URL", env = "AUDITSHIP_KMS_ENDPOINT_URL")]
    pub kms_endpoint_url: Option<String>,
    /// Seconds a download may go without a byte, or an AWS call without an
    /// answer, before it counts as stalled (and is retried).
    #[arg(long, value_name = "SECONDS", default_value_t = 60, env = "AUDITSHIP_READ_TIMEOUT_SECONDS", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub read_timeout_seconds: u64,
    /// Never ask the log download for a byte range: read the whole file
    /// each time (for an endpoint that mishandles ranges; by default a
    /// range is asked for and every answer checked).
    #[arg(long, env = "AUDITSHIP_NO_RANGE_READS", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_range_reads: bool,
    /// Never ask for gzip-encoded log downloads (by default whole-file
    /// reads ask for gzip and accept identity bytes too).
    #[arg(long, env = "AUDITSHIP_NO_GZIP_DOWNLOADS", value_parser = clap::builder::BoolishValueParser::new())]
    pub no_gzip_downloads: bool,
}

/// Where objects and checkpoints live.
#[derive(Debug, Args)]
pub struct StoreArgs {
    /// Destination bucket.
    #[arg(long, env = "AUDITSHIP_BUCKET")]
    pub bucket: String,
    /// Key prefix for objects and state.
    #[arg(long, default_value = "rds-audit", env = "AUDITSHIP_PREFIX")]
    pub prefix: String,
    /// The bucket's region, when it is not --region's (a central bucket for
    /// instances in other regions).
    #[arg(long, value_name = "REGION", env = "AUDITSHIP_BUCKET_REGION")]
    pub bucket_region: Option<String>,
}

/// What a command works on: the instances, how to reach AWS, and where
/// their objects and checkpoints are.
#[derive(Debug, Args)]
pub struct TargetArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub store: StoreArgs,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Instances shipped at once.
    #[arg(long, default_value_t = 4, env = "AUDITSHIP_CONCURRENCY", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..=256))]
    pub concurrency: u64,
    /// Stop starting new work after this many seconds (fit the schedule):
    /// downloads in flight are abandoned then, other AWS calls 10 s later.
    #[arg(long, value_name = "SECONDS", env = "AUDITSHIP_MAX_RUN_SECONDS", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1..))]
    pub max_run_seconds: Option<u64>,
    /// The file still being written: ship its complete lines, or skip it until it rotates.
    #[arg(long, value_enum, default_value = "ship", env = "AUDITSHIP_ACTIVE_FILE")]
    pub active_file: ActiveFilePolicy,
    /// Uncompressed bytes after which an object ends at the next line boundary.
    #[arg(long, value_name = "BYTES", default_value_t = 32 * 1024 * 1024, env = "AUDITSHIP_OBJECT_SIZE", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(1024..=(1u64 << 32)))]
    pub object_size: u64,
    /// Compressed bytes above which an object is uploaded in parts (min 5 MiB).
    #[arg(long, value_name = "BYTES", default_value_t = crate::store::DEFAULT_MULTIPART_THRESHOLD, env = "AUDITSHIP_MULTIPART_THRESHOLD", allow_negative_numbers = true, value_parser = clap::value_parser!(u64).range(crate::store::MIN_PART_SIZE..))]
    pub multipart_threshold: u64,
    /// gzip level of the objects: 1 (fastest) to 9 (smallest). An object's
    /// key and sha256 are of its uncompressed bytes, so the level never
    /// changes what is shipped, only its size and the CPU it takes.
    #[arg(long, value_name = "LEVEL", default_value_t = crate::compress::DEFAULT_GZIP_LEVEL, env = "AUDITSHIP_GZIP_LEVEL", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=9))]
    pub gzip_level: u32,
    /// CloudWatch Embedded Metric Format lines on stdout, one per instance
    /// and one per run: on when neither stdout nor stderr is a terminal
    /// (the container).
    #[arg(long, value_enum, default_value = "auto", env = "AUDITSHIP_METRICS")]
    pub metrics: MetricsMode,
    /// CloudWatch namespace of those metrics.
    #[arg(long, default_value = "auditship", env = "AUDITSHIP_METRICS_NAMESPACE")]
    pub metrics_namespace: String,
    /// The shard this task ships (one of several tasks over a fleet): the
    /// run's metric line gets a `shard` dimension, so each shard's missed
    /// runs alarm on their own.
    #[arg(long, value_name = "NAME", env = "AUDITSHIP_SHARD")]
    pub shard: Option<String>,
    /// Run as a long-lived service: a pass every DURATION (e.g. 5m, 300s)
    /// until SIGTERM, instead of one pass per task.
    #[arg(long, value_name = "DURATION", env = "AUDITSHIP_INTERVAL", value_parser = parse_duration)]
    pub interval: Option<Duration>,
    /// Read and cut as usual but write nothing (no object, no checkpoint):
    /// print each object that would be created, with its key and sizes.
    #[arg(long, env = "AUDITSHIP_DRY_RUN", value_parser = clap::builder::BoolishValueParser::new())]
    pub dry_run: bool,
    #[command(flatten)]
    pub digests: DigestArgs,
    /// Also derive OCSF events (Parquet) from every object this run lands,
    /// as `auditship events` does (under `{prefix}/_events/`, or
    /// --security-lake-location). A run killed before it derives them
    /// leaves them to the next run.
    #[arg(long, env = "AUDITSHIP_EVENTS", value_parser = clap::builder::BoolishValueParser::new())]
    pub events: bool,
    #[command(flatten)]
    pub event_output: EventOutputArgs,
    /// Write every object and digest with S3 Object Lock retention in this
    /// mode (the bucket must have Object Lock); with --retain-days.
    #[arg(long, value_enum, value_name = "MODE", env = "AUDITSHIP_OBJECT_LOCK_MODE", requires = "retain_days")]
    pub object_lock_mode: Option<LockMode>,
    /// Days each object and digest is retained from when it is written.
    #[arg(long, value_name = "DAYS", env = "AUDITSHIP_RETAIN_DAYS", requires = "object_lock_mode", allow_negative_numbers = true, value_parser = clap::value_parser!(u32).range(1..=36_500))]
    pub retain_days: Option<u32>,
}

/// Signed digests: with a signing key, every period gets a digest of the
/// objects that landed in it, chained to the one before.
#[derive(Debug, Args)]
pub struct DigestArgs {
    /// Sign a digest per instance and period with this Ed25519 private key
    /// (PKCS#8 PEM: `openssl genpkey -algorithm ed25519`). Without it or
    /// --signing-kms-key-id, no digests are written.
    #[arg(long, value_name = "PATH", env = "AUDITSHIP_SIGNING_KEY_FILE")]
    pub signing_key_file: Option<std::path::PathBuf>,
    /// Sign the digests with this KMS asymmetric key instead (key id, key
    /// ARN or alias/NAME; ECC_NIST_P256 or RSA, SIGN_VERIFY): needs
    /// kms:GetPublicKey and kms:Sign on it.
    #[arg(long, value_name = "ID", env = "AUDITSHIP_SIGNING_KMS_KEY_ID", conflicts_with = "signing_key_file")]
    pub signing_kms_key_id: Option<String>,
    /// How long a digest's period is (1h, 15m, 60s; it must divide a day).
    #[arg(long, value_name = "DURATION", default_value = "1h", env = "AUDITSHIP_DIGEST_PERIOD", value_parser = crate::evidence::digest::parse_period)]
    pub digest_period: Duration,
    /// Seconds added to the clock digests are sealed by: for process tests
    /// only, which seal periods without waiting for them to end.
    #[arg(
        long,
        hide = true,
        default_value_t = 0,
        env = "AUDITSHIP_CLOCK_OFFSET_SECONDS",
        allow_negative_numbers = true
    )]
    pub clock_offset_seconds: i64,
}

impl DigestArgs {
    fn to_settings(&self) -> Result<Option<DigestSettings>, String> {
        let signer = match (&self.signing_key_file, &self.signing_kms_key_id) {
            (Some(path), _) => SignerSource::KeyFile(path.clone()),
            (None, Some(id)) => SignerSource::Kms(check_kms_key_id("--signing-kms-key-id", id)?),
            (None, None) => return Ok(None),
        };
        Ok(Some(DigestSettings {
            period: self.digest_period,
            signer,
            clock_offset: chrono::Duration::seconds(self.clock_offset_seconds),
        }))
    }
}

/// A KMS key as KMS takes it: a key id, a key ARN, an alias name or an
/// alias ARN. The common slips (spaces, another service's ARN) are told
/// apart here rather than by KMS's NotFoundException after start-up.
fn check_kms_key_id(flag: &str, id: &str) -> Result<String, String> {
    let example = format!("e.g. {flag} alias/auditship-digests or {flag} arn:aws:kms:eu-west-1:123456789012:key/ID");
    let id = id.trim();
    if id.is_empty() {
        return Err(format!("{flag} is empty: {example}"));
    }
    if id.chars().any(char::is_whitespace) {
        return Err(format!("{flag} '{id}' is not a KMS key id: {example}"));
    }
    if id.starts_with("arn:") {
        let parts: Vec<&str> = id.splitn(6, ':').collect();
        let is_kms_arn = parts.len() == 6
            && parts[2] == "kms"
            && !parts[3].is_empty()
            && (parts[5].strip_prefix("key/").is_some_and(|k| !k.is_empty())
                || parts[5].strip_prefix("alias/").is_some_and(|a| !a.is_empty()));
        if !is_kms_arn {
            return Err(format!("{flag} '{id}' is not a KMS key or alias ARN: {example}"));
        }
    }
    Ok(id.to_string())
}

#[derive(Debug, Args)]
pub struct BackfillArgs {
    #[command(flatten)]
    pub run: RunArgs,
    /// Files that cover records at or after this time (RFC 3339, or
    /// YYYY-MM-DD[THH:MM[:SS]] in UTC).
    #[arg(long, value_name = "TIME", env = "AUDITSHIP_SINCE", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// Files that cover records at or before this time.
    #[arg(long, value_name = "TIME", env = "AUDITSHIP_UNTIL", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    /// A file by the name DescribeDBLogFiles gives it, e.g.
    /// audit/server_audit.log.3 (repeat for several).
    #[arg(long = "file", value_name = "NAME", env = "AUDITSHIP_FILE", value_delimiter = ',')]
    pub files: Vec<String>,
}

/// `90`, `90s`, `5m`, `1h`: at least one second.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let (number, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = number.parse().map_err(|_| format!("'{s}' is not a duration: e.g. 300s, 5m, 1h"))?;
    let seconds = match unit {
        "" | "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("'{s}' is not a duration: e.g. 300s, 5m, 1h")),
    };
    if seconds == 0 {
        return Err("the interval must be at least 1s".into());
    }
    Ok(Duration::from_secs(seconds))
}

/// Times as an on-call engineer types them: RFC 3339, or a UTC date with an
/// optional time of day.
fn parse_time(s: &str) -> Result<DateTime<Utc>, String> {
    if let Ok(t) = DateTime::parse_from_rfc3339(s) {
        return Ok(t.with_timezone(&Utc));
    }
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M:%S", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(s, format) {
            return Ok(t.and_utc());
        }
    }
    if let Ok(d) = NaiveDate::parse_from_str(s, "%Y-%m-%d") {
        return Ok(d.and_hms_opt(0, 0, 0).expect("midnight exists").and_utc());
    }
    Err(format!("'{s}' is not a time: use RFC 3339 (2026-11-21T22:00:00Z) or YYYY-MM-DD[THH:MM[:SS]] in UTC"))
}

impl BackfillArgs {
    pub fn to_config(&self) -> Result<Config, String> {
        let filter = FileFilter { names: self.files.clone(), since: self.since, until: self.until };
        if filter == FileFilter::default() {
            return Err(
                "backfill needs --file, --since or --until: name what to ship (`run` ships everything new)".into()
            );
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(format!("--since {since} is after --until {until}"));
            }
        }
        if let Some(bad) = self.files.iter().find(|f| crate::list::AuditName::parse(f).is_none()) {
            return Err(format!(
                "--file '{bad}' is not an audit log name: use the name `auditship status` or DescribeDBLogFiles shows, \
                 e.g. audit/server_audit.log.3"
            ));
        }
        let mut cfg = self.run.to_config()?;
        if cfg.interval.is_some() {
            return Err("--interval is for `run` (the service mode); a backfill runs once".into());
        }
        cfg.scope = Scope::Backfill(filter);
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// One JSON object per instance instead of a table.
    #[arg(long, env = "AUDITSHIP_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct VerifyArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Also download every object (gunzip, length, sha256, line count) and
    /// every file still on the instance, and compare them byte for byte.
    #[arg(long, env = "AUDITSHIP_DEEP", value_parser = clap::builder::BoolishValueParser::new())]
    pub deep: bool,
    /// One JSON object per finding and per instance instead of text.
    #[arg(long, env = "AUDITSHIP_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,
    /// Also check each instance's signed digests with this public key
    /// (PEM): signatures, the chain, every listed object, every file's
    /// coverage.
    #[arg(long, value_name = "PATH", env = "AUDITSHIP_PUBLIC_KEY_FILE", group = "trail_key")]
    pub public_key: Option<std::path::PathBuf>,
    /// Check the digests with the public key of this KMS key instead (key
    /// id, key ARN or alias/NAME; needs kms:GetPublicKey on it).
    #[arg(
        long,
        value_name = "ID",
        env = "AUDITSHIP_VERIFY_KMS_KEY_ID",
        group = "trail_key",
        conflicts_with = "public_key"
    )]
    pub kms_key_id: Option<String>,
    /// With --public-key or --kms-key-id: write auditship-report.md and
    /// auditship-report.json, for an auditor, into this directory.
    #[arg(long, value_name = "DIR", env = "AUDITSHIP_REPORT_DIR", requires = "trail_key")]
    pub report: Option<std::path::PathBuf>,
    /// With --public-key or --kms-key-id: check the objects and files of
    /// the digests whose periods end after this time (RFC 3339, or
    /// YYYY-MM-DD[THH:MM[:SS]] in UTC); the chain is checked whole.
    #[arg(long, value_name = "TIME", env = "AUDITSHIP_VERIFY_SINCE", value_parser = parse_time, requires = "trail_key")]
    pub since: Option<DateTime<Utc>>,
    /// … and whose periods begin at or before this time.
    #[arg(long, value_name = "TIME", env = "AUDITSHIP_VERIFY_UNTIL", value_parser = parse_time, requires = "trail_key")]
    pub until: Option<DateTime<Utc>>,
}

#[derive(Debug, Args)]
pub struct EventsArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// Only objects holding records at or after this time (RFC 3339, or
    /// YYYY-MM-DD[THH:MM[:SS]] in UTC).
    #[arg(long, value_name = "TIME", env = "AUDITSHIP_EVENTS_SINCE", value_parser = parse_time)]
    pub since: Option<DateTime<Utc>>,
    /// … and at or before this time.
    #[arg(long, value_name = "TIME", env = "AUDITSHIP_EVENTS_UNTIL", value_parser = parse_time)]
    pub until: Option<DateTime<Utc>>,
    #[command(flatten)]
    pub output: EventOutputArgs,
    /// One JSON object per instance instead of a line.
    #[arg(long, env = "AUDITSHIP_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,
}

/// Where derived events go, and what they leave out.
#[derive(Debug, Args)]
pub struct EventOutputArgs {
    /// `literals`: string and number literals in statements become `?` in
    /// the events, and the raw line is left out (the raw trail keeps every
    /// byte). In the trail's bucket, written under `_events/ocsf-redacted/`.
    #[arg(long, value_enum, value_name = "WHAT", env = "AUDITSHIP_REDACT")]
    pub redact: Option<Redact>,
    /// Write the events to an Amazon Security Lake custom source instead:
    /// the location its CreateCustomLogSource gave (`s3://BUCKET/ext/NAME/…`),
    /// under which they go as `region=…/accountId=…/eventDay=YYYYMMDD/`.
    #[arg(long, value_name = "S3_URL", env = "AUDITSHIP_SECURITY_LAKE_LOCATION")]
    pub security_lake_location: Option<String>,
    /// With --security-lake-location: the role Security Lake made for the
    /// custom source, assumed to write there.
    #[arg(long, value_name = "ARN", env = "AUDITSHIP_SECURITY_LAKE_ROLE_ARN")]
    pub security_lake_role_arn: Option<String>,
    /// With --security-lake-role-arn: the external id its trust policy asks for.
    #[arg(long, value_name = "ID", env = "AUDITSHIP_SECURITY_LAKE_EXTERNAL_ID")]
    pub security_lake_external_id: Option<String>,
}

impl EventOutputArgs {
    fn any(&self) -> bool {
        self.redact.is_some() || self.security_lake_location.is_some() || self.security_lake_role_arn.is_some()
    }

    pub fn to_settings(&self, session_name: &str) -> Result<EventSettings, String> {
        let security_lake = match &self.security_lake_location {
            None if self.security_lake_role_arn.is_some() => {
                return Err("--security-lake-role-arn goes with --security-lake-location s3://BUCKET/PREFIX".into())
            }
            None => None,
            Some(url) => Some(SecurityLake {
                location: parse_s3_location("--security-lake-location", url)?,
                role: self.security_lake_role(session_name)?,
            }),
        };
        Ok(EventSettings { redact: self.redact == Some(Redact::Literals), security_lake })
    }

    fn security_lake_role(&self, session_name: &str) -> Result<Option<AssumeRole>, String> {
        let Some(arn) = &self.security_lake_role_arn else {
            if self.security_lake_external_id.is_some() {
                return Err("--security-lake-external-id goes with --security-lake-role-arn ARN".into());
            }
            return Ok(None);
        };
        check_role_arn("--security-lake-role-arn", arn, "AmazonSecurityLake-Provider-auditship-eu-west-1")?;
        if let Some(id) = self.security_lake_external_id.as_ref().filter(|id| !(2..=1224).contains(&id.len())) {
            return Err(format!("--security-lake-external-id '{id}' must be 2 to 1224 characters long"));
        }
        Ok(Some(AssumeRole {
            arn: arn.clone(),
            external_id: self.security_lake_external_id.clone(),
            session_name: session_name.to_string(),
        }))
    }
}

/// `s3://BUCKET[/PREFIX]` as its bucket and prefix.
fn parse_s3_location(flag: &str, url: &str) -> Result<S3Location, String> {
    let rest = url.strip_prefix("s3://").ok_or_else(|| {
        format!("{flag} '{url}' is not an S3 URL: e.g. {flag} s3://aws-security-data-lake-eu-west-1-abc/ext/auditship/")
    })?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(format!("{flag} '{url}' names no bucket: e.g. {flag} s3://BUCKET/ext/auditship/"));
    }
    Ok(S3Location { bucket: bucket.to_string(), prefix: prefix.trim_matches('/').to_string() })
}

/// What `--redact` removes from derived events.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Redact {
    Literals,
}

impl EventsArgs {
    pub fn to_config(&self) -> Result<Config, String> {
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(format!("--since {since} is after --until {until}"));
            }
        }
        let mut cfg = self.target.to_config()?;
        cfg.events = Some(self.output.to_settings(&self.target.aws.role_session_name)?);
        Ok(cfg)
    }
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    #[command(flatten)]
    pub target: TargetArgs,
    /// The signing key runs use (as their flags or environment give it):
    /// doctor reads it and signs a probe with it.
    #[command(flatten)]
    pub digests: DigestArgs,
    /// Runs derive events (as their flags or environment give it): doctor
    /// checks where they go (and assumes a Security Lake provider role).
    #[arg(long, env = "AUDITSHIP_EVENTS", value_parser = clap::builder::BoolishValueParser::new())]
    pub events: bool,
    #[command(flatten)]
    pub event_output: EventOutputArgs,
    /// One JSON object per check, then a summary, instead of text.
    #[arg(long, env = "AUDITSHIP_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,
}

/// Logging in to the databases. The password comes from the environment
/// (AUDITSHIP_DB_PASSWORD, as ECS `secrets` provide it) or a file, never
/// from a flag that `ps` would show.
#[derive(Debug, Args)]
pub struct DbArgs {
    /// Database user for the checks that need SQL (without it they are skipped).
    #[arg(long, value_name = "USER", env = "AUDITSHIP_DB_USER")]
    pub db_user: Option<String>,
    /// File holding the password (else AUDITSHIP_DB_PASSWORD).
    #[arg(long, value_name = "PATH", env = "AUDITSHIP_DB_PASSWORD_FILE")]
    pub db_password_file: Option<std::path::PathBuf>,
    /// TLS to the database: required (verified) or off (loopback, tunnels).
    #[arg(long, value_enum, default_value = "required", env = "AUDITSHIP_DB_TLS")]
    pub db_tls: crate::config::DbTls,
    /// CA bundle to verify the database with (the RDS global-bundle.pem).
    #[arg(long, value_name = "PATH", env = "AUDITSHIP_DB_CA_FILE")]
    pub db_ca_file: Option<std::path::PathBuf>,
    /// Log in with an RDS IAM authentication token made from the AWS
    /// credentials instead of a password (needs TLS).
    #[arg(long, env = "AUDITSHIP_DB_IAM_AUTH", value_parser = clap::builder::BoolishValueParser::new())]
    pub db_iam_auth: bool,
    /// HOST:PORT to connect to instead of the instance's endpoint (one instance).
    #[arg(long, value_name = "HOST:PORT", env = "AUDITSHIP_DB_ENDPOINT")]
    pub db_endpoint: Option<String>,
}

impl DbArgs {
    /// `None` when no user is given: the SQL checks are skipped.
    pub fn to_access(&self) -> Result<Option<crate::config::DbAccess>, String> {
        let Some(user) = self.db_user.clone() else {
            return Ok(None);
        };
        if let Some(endpoint) = &self.db_endpoint {
            if !endpoint.rsplit_once(':').is_some_and(|(h, p)| !h.is_empty() && p.parse::<u16>().is_ok()) {
                return Err(format!("--db-endpoint '{endpoint}' is not HOST:PORT"));
            }
        }
        let auth = if self.db_iam_auth {
            if self.db_tls == crate::config::DbTls::Off {
                return Err("--db-iam-auth sends the token in clear text: it needs --db-tls required".into());
            }
            crate::config::DbAuth::IamToken
        } else {
            crate::config::DbAuth::Password(crate::config::Secret::new(match &self.db_password_file {
                Some(path) => std::fs::read_to_string(path)
                    .map(|p| p.trim_end_matches(['\r', '\n']).to_string())
                    .map_err(|e| format!("--db-password-file {}: {e}", path.display()))?,
                None => std::env::var("AUDITSHIP_DB_PASSWORD").map_err(|_| {
                    "--db-user needs a password: set AUDITSHIP_DB_PASSWORD, pass --db-password-file, or use --db-iam-auth"
                        .to_string()
                })?,
            }))
        };
        Ok(Some(crate::config::DbAccess {
            user,
            auth,
            tls: self.db_tls,
            ca_file: self.db_ca_file.clone(),
            endpoint: self.db_endpoint.clone(),
        }))
    }
}

impl DoctorArgs {
    /// The checks' configuration; the signing key is not in it, so that a
    /// bad key is a failed check rather than a refusal to start.
    pub fn to_config(&self) -> Result<Config, String> {
        self.target.to_config()
    }

    /// The digest signing runs would do, for doctor to try.
    pub fn digest_settings(&self) -> Result<Option<DigestSettings>, String> {
        self.digests.to_settings()
    }

    /// Where runs' events would go, for doctor to try (not in the
    /// configuration either: a role that cannot be assumed is a failed
    /// check).
    pub fn event_settings(&self) -> Result<Option<EventSettings>, String> {
        if !self.events && self.event_output.any() {
            return Err("--redact and --security-lake-* choose how events are written: they go with --events".into());
        }
        self.events.then(|| self.event_output.to_settings(&self.target.aws.role_session_name)).transpose()
    }
}

#[derive(Debug, Args)]
pub struct DiscoverArgs {
    #[command(flatten)]
    pub selection: SelectionArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// One JSON object per instance instead of the table.
    #[arg(long, env = "AUDITSHIP_JSON", value_parser = clap::builder::BoolishValueParser::new())]
    pub json: bool,
}

fn parse_tag(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("'{s}' is not KEY=VALUE")),
    }
}

impl SelectionArgs {
    pub fn to_selection(&self) -> Result<Selection, String> {
        let sel = Selection {
            clusters: self.clusters.clone(),
            instances: self.instances.clone(),
            with_replicas: self.with_replicas,
            tags: self.tags.clone(),
            via_sql: self.discover == DiscoverMode::Sql,
        };
        if sel.via_sql {
            if !sel.is_empty() || sel.with_replicas {
                return Err("--discover sql finds the instances itself: drop --cluster, --instance and --tag".into());
            }
            if self.db.db_user.is_none() || self.db.db_endpoint.is_none() {
                return Err("--discover sql needs --db-endpoint HOST:PORT and --db-user (password from \
                            AUDITSHIP_DB_PASSWORD or --db-password-file)"
                    .into());
            }
            return Ok(sel);
        }
        if sel.is_empty() {
            return Err("nothing selected: pass --cluster, --instance or --tag (or AUDITSHIP_CLUSTER, AUDITSHIP_INSTANCE, AUDITSHIP_TAG)".into());
        }
        if sel.with_replicas && sel.instances.is_empty() {
            return Err("--with-replicas needs --instance".into());
        }
        Ok(sel)
    }
}

/// A bucket name as S3 takes it; the common slips (a URL, an ARN, a path)
/// get told apart. Legacy names with capitals or underscores still pass.
fn check_bucket_name(bucket: &str) -> Result<(), String> {
    if bucket.trim().is_empty() {
        return Err("--bucket is empty".into());
    }
    if bucket.starts_with("s3://") || bucket.starts_with("arn:") {
        return Err(format!(
            "--bucket takes a bucket name, not '{bucket}': e.g. --bucket my-audit-bucket --prefix rds-audit"
        ));
    }
    if bucket.contains('/') {
        return Err(format!("--bucket '{bucket}' contains '/': put the path in --prefix"));
    }
    if !(3..=255).contains(&bucket.len()) || !bucket.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        return Err(format!("--bucket '{bucket}' is not a bucket name (3-63 letters, digits, dots and hyphens)"));
    }
    Ok(())
}

/// Key prefixes join with '/': an empty segment would put objects under a
/// different key than other tools expect.
fn check_prefix(prefix: &str) -> Result<String, String> {
    let trimmed = prefix.trim_matches('/');
    if trimmed.split('/').any(|segment| segment.is_empty()) && !trimmed.is_empty() {
        return Err(format!("--prefix '{prefix}' has an empty path segment ('//'): e.g. --prefix rds-audit/prod"));
    }
    if trimmed.chars().any(|c| c.is_control() || c == '\\') {
        return Err(format!("--prefix '{prefix}' holds a control character or backslash"));
    }
    Ok(trimmed.to_string())
}

impl AwsArgs {
    fn check(&self) -> Result<(), String> {
        check_region("--region", self.region.as_deref())?;
        for (flag, url) in [
            ("--rds-endpoint-url", &self.rds_endpoint_url),
            ("--s3-endpoint-url", &self.s3_endpoint_url),
            ("--sts-endpoint-url", &self.sts_endpoint_url),
            ("--kms-endpoint-url", &self.kms_endpoint_url),
        ] {
            if let Some(url) = url {
                check_endpoint(flag, url)?;
            }
        }
        Ok(())
    }

    fn to_assume_role(&self) -> Result<Option<AssumeRole>, String> {
        let Some(arn) = &self.assume_role else {
            if self.external_id.is_some() {
                return Err("--external-id goes with --assume-role ARN".into());
            }
            return Ok(None);
        };
        check_role_arn("--assume-role", arn, "auditship-reader")?;
        let name = &self.role_session_name;
        let name_ok = (2..=64).contains(&name.len())
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"+=,.@_-".contains(&b));
        if !name_ok {
            return Err(format!(
                "--role-session-name '{name}' is not a session name: 2 to 64 of letters, digits and +=,.@_-"
            ));
        }
        if let Some(id) = self.external_id.as_ref().filter(|id| !(2..=1224).contains(&id.len())) {
            return Err(format!("--external-id '{id}' must be 2 to 1224 characters long"));
        }
        Ok(Some(AssumeRole { arn: arn.clone(), external_id: self.external_id.clone(), session_name: name.clone() }))
    }
}

fn check_role_arn(flag: &str, arn: &str, example: &str) -> Result<(), String> {
    let resource = arn.split(':').collect::<Vec<_>>();
    let is_role_arn = resource.len() == 6
        && resource[0] == "arn"
        && resource[1].starts_with("aws")
        && resource[2] == "iam"
        && resource[4].len() == 12
        && resource[4].bytes().all(|b| b.is_ascii_digit())
        && resource[5].strip_prefix("role/").is_some_and(|name| !name.is_empty());
    if is_role_arn {
        Ok(())
    } else {
        Err(format!("{flag} '{arn}' is not an IAM role ARN: e.g. {flag} arn:aws:iam::123456789012:role/{example}"))
    }
}

fn check_region(flag: &str, region: Option<&str>) -> Result<(), String> {
    match region {
        Some(r) if r.is_empty() || !r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-') => {
            Err(format!("{flag} '{r}' is not a region name: e.g. {flag} eu-west-1"))
        }
        _ => Ok(()),
    }
}

fn check_endpoint(flag: &str, url: &str) -> Result<(), String> {
    let parsed: Result<http::Uri, _> = url.parse();
    match parsed {
        Ok(uri) if matches!(uri.scheme_str(), Some("http" | "https")) && uri.host().is_some() => Ok(()),
        _ => {
            let example = if flag.contains("s3") {
                "https://s3.eu-west-1.amazonaws.com"
            } else if flag.contains("kms") {
                "https://kms.eu-west-1.amazonaws.com"
            } else {
                "https://rds.eu-west-1.amazonaws.com"
            };
            Err(format!("{flag} '{url}' is not an http(s) URL: e.g. {flag} {example}"))
        }
    }
}

/// The configuration every command starts from: a selection, AWS access,
/// and defaults for the rest.
fn base_config(selection: &SelectionArgs, aws: &AwsArgs) -> Result<Config, String> {
    aws.check()?;
    Ok(Config {
        scope: Scope::New,
        dry_run: false,
        selection: selection.to_selection()?,
        bucket: String::new(),
        prefix: String::new(),
        region: aws.region.clone(),
        rds_endpoint_url: aws.rds_endpoint_url.clone(),
        s3_endpoint_url: aws.s3_endpoint_url.clone(),
        sts_endpoint_url: aws.sts_endpoint_url.clone(),
        kms_endpoint_url: aws.kms_endpoint_url.clone(),
        assume_role: aws.to_assume_role()?,
        bucket_region: None,
        concurrency: 4,
        max_run: None,
        active_file: ActiveFilePolicy::Ship,
        object_size: 32 * 1024 * 1024,
        multipart_threshold: crate::store::DEFAULT_MULTIPART_THRESHOLD,
        max_attempts: aws.max_attempts,
        read_timeout: Duration::from_secs(aws.read_timeout_seconds),
        range_reads: !aws.no_range_reads,
        gzip_downloads: !aws.no_gzip_downloads,
        gzip_level: crate::compress::DEFAULT_GZIP_LEVEL,
        metrics_namespace: None,
        shard: None,
        db: selection.db.to_access()?,
        interval: None,
        digests: None,
        object_lock: None,
        events: None,
    })
}

impl TargetArgs {
    fn to_config(&self) -> Result<Config, String> {
        let mut cfg = base_config(&self.selection, &self.aws)?;
        check_bucket_name(&self.store.bucket)?;
        check_region("--bucket-region", self.store.bucket_region.as_deref())?;
        cfg.bucket = self.store.bucket.clone();
        cfg.bucket_region = self.store.bucket_region.clone();
        cfg.prefix = check_prefix(&self.store.prefix)?;
        Ok(cfg)
    }
}

impl RunArgs {
    pub fn to_config(&self) -> Result<Config, String> {
        let mut cfg = self.target.to_config()?;
        cfg.dry_run = self.dry_run;
        cfg.interval = self.interval;
        let emf = match self.metrics {
            MetricsMode::Emf => true,
            MetricsMode::Off => false,
            // Where no person reads: a container. `run | tee` on a
            // terminal is a person reading.
            MetricsMode::Auto => {
                !std::io::IsTerminal::is_terminal(&std::io::stdout())
                    && !std::io::IsTerminal::is_terminal(&std::io::stderr())
            }
        };
        if emf && self.metrics_namespace.trim().is_empty() {
            return Err("--metrics-namespace is empty".into());
        }
        cfg.metrics_namespace = emf.then(|| self.metrics_namespace.clone());
        cfg.shard = match self.shard.as_deref().map(str::trim) {
            Some("") => return Err("--shard is empty: give the shard's name, or leave the flag out".into()),
            other => other.map(String::from),
        };
        cfg.concurrency = self.concurrency as usize;
        cfg.max_run = self.max_run_seconds.map(Duration::from_secs);
        cfg.active_file = self.active_file;
        cfg.object_size = self.object_size;
        cfg.multipart_threshold = self.multipart_threshold;
        cfg.gzip_level = self.gzip_level;
        cfg.digests = self.digests.to_settings()?;
        cfg.object_lock = self.object_lock_mode.zip(self.retain_days).map(|(mode, days)| Retention { mode, days });
        if !self.events && self.event_output.any() {
            return Err("--redact and --security-lake-* choose how events are written: they go with --events".into());
        }
        cfg.events = match self.events {
            true => Some(self.event_output.to_settings(&self.target.aws.role_session_name)?),
            false => None,
        };
        Ok(cfg)
    }
}

impl DiscoverArgs {
    pub fn to_config(&self) -> Result<Config, String> {
        base_config(&self.selection, &self.aws)
    }
}

impl VerifyArgs {
    pub fn to_config(&self) -> Result<Config, String> {
        if let Some(id) = &self.kms_key_id {
            check_kms_key_id("--kms-key-id", id)?;
        }
        if let (Some(since), Some(until)) = (self.since, self.until) {
            if since > until {
                return Err(format!("--since {since} is after --until {until}: give the window's start first"));
            }
        }
        self.target.to_config()
    }
}

impl StatusArgs {
    pub fn to_config(&self) -> Result<Config, String> {
        self.target.to_config()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<Cli, clap::Error> {
        Cli::try_parse_from(std::iter::once("auditship").chain(args.iter().copied()))
    }

    #[test]
    fn run_flags_build_a_config() {
        let cli = parse(&[
            "run",
            "--bucket",
            "bkt",
            "--cluster",
            "c1",
            "--cluster",
            "c2",
            "--tag",
            "team=db",
            "--prefix",
            "/x/",
        ])
        .unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        let cfg = run.to_config().unwrap();
        assert_eq!(cfg.selection.clusters, ["c1", "c2"]);
        assert_eq!(cfg.selection.tags, [("team".to_string(), "db".to_string())]);
        assert_eq!(cfg.prefix, "x");
    }

    #[test]
    fn event_output_flags_need_events_and_a_security_lake_location() {
        let run = |extra: &[&str]| {
            let args = [&["run", "--bucket", "bkt", "--instance", "i"][..], extra].concat();
            let Command::Run(run) = parse(&args).unwrap().command else { panic!("not run") };
            run.to_config()
        };
        let lake = run(&[
            "--events",
            "--redact",
            "literals",
            "--security-lake-location",
            "s3://aws-security-data-lake-eu-west-1-abc/ext/auditship/1.0/",
            "--security-lake-role-arn",
            "arn:aws:iam::123456789012:role/AmazonSecurityLake-Provider-auditship",
        ])
        .unwrap()
        .events
        .unwrap();
        assert!(lake.redact);
        let to = lake.security_lake.unwrap();
        assert_eq!(
            (to.location.bucket.as_str(), to.location.prefix.as_str()),
            ("aws-security-data-lake-eu-west-1-abc", "ext/auditship/1.0")
        );
        assert_eq!(to.role.unwrap().session_name, "auditship");
        assert_eq!(run(&["--events"]).unwrap().events.unwrap(), EventSettings { redact: false, security_lake: None });
        assert!(run(&[]).unwrap().events.is_none());
        assert!(run(&["--redact", "literals"]).unwrap_err().contains("--events"));
        assert!(run(&["--events", "--security-lake-location", "bucket/x"]).unwrap_err().contains("not an S3 URL"));
        assert!(run(&["--events", "--security-lake-role-arn", "arn:aws:iam::123456789012:role/r"])
            .unwrap_err()
            .contains("--security-lake-location"));
        let bad_role = run(&["--events", "--security-lake-location", "s3://b/p", "--security-lake-role-arn", "r"]);
        assert!(bad_role.unwrap_err().contains("not an IAM role ARN"));
    }

    #[test]
    fn empty_selection_is_an_error() {
        let cli = parse(&["run", "--bucket", "bkt"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert!(run.to_config().unwrap_err().contains("nothing selected"));
    }

    #[test]
    fn malformed_tag_and_zero_concurrency_are_rejected() {
        assert!(parse(&["run", "--bucket", "bkt", "--tag", "novalue"]).is_err());
        assert!(parse(&["run", "--bucket", "bkt", "--instance", "i", "--concurrency", "0"]).is_err());
    }

    #[test]
    fn digests_are_signed_with_a_key_file_or_a_kms_key_never_both() {
        let run = |extra: &[&str]| {
            let args = [&["run", "--bucket", "bkt", "--instance", "i"][..], extra].concat();
            parse(&args).map(|cli| match cli.command {
                Command::Run(run) => run.to_config().map(|cfg| cfg.digests.map(|d| d.signer)),
                _ => panic!("not run"),
            })
        };
        assert_eq!(run(&[]).unwrap(), Ok(None));
        assert_eq!(
            run(&["--signing-kms-key-id", "alias/digests"]).unwrap(),
            Ok(Some(SignerSource::Kms("alias/digests".into())))
        );
        let arn = "arn:aws:kms:eu-west-1:123456789012:key/0f3d8c2e-4b7a-4c1e-9d2f-6a5b4c3d2e1f";
        assert_eq!(run(&["--signing-kms-key-id", arn]).unwrap(), Ok(Some(SignerSource::Kms(arn.into()))));
        let both = run(&["--signing-key-file", "k.pem", "--signing-kms-key-id", "alias/digests"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
        for bad in ["", "alias/a b", "arn:aws:iam::123456789012:role/x", "arn:aws:kms:eu-west-1:123456789012:key/"] {
            let said = run(&["--signing-kms-key-id", bad]).unwrap().unwrap_err();
            assert!(said.contains("--signing-kms-key-id") && said.contains("e.g."), "{bad}: {said}");
        }
    }

    #[test]
    fn verify_checks_digests_with_a_public_key_or_a_kms_key_and_its_report_needs_one() {
        let verify = |extra: &[&str]| {
            let args = [&["verify", "--bucket", "bkt", "--instance", "i"][..], extra].concat();
            parse(&args).map(|cli| match cli.command {
                Command::Verify(v) => v,
                _ => panic!("not verify"),
            })
        };
        let by_kms = verify(&["--kms-key-id", "alias/digests", "--report", "out"]).unwrap();
        assert_eq!(by_kms.kms_key_id.as_deref(), Some("alias/digests"));
        assert!(by_kms.to_config().is_ok());
        assert!(verify(&["--public-key", "p.pem", "--report", "out"]).is_ok());
        let neither = verify(&["--report", "out"]).unwrap_err();
        assert_eq!(neither.kind(), clap::error::ErrorKind::MissingRequiredArgument);
        let both = verify(&["--public-key", "p.pem", "--kms-key-id", "alias/digests"]).unwrap_err();
        assert_eq!(both.kind(), clap::error::ErrorKind::ArgumentConflict);
        let said = verify(&["--kms-key-id", "arn:aws:s3:::bucket"]).unwrap().to_config().unwrap_err();
        assert!(said.contains("--kms-key-id"), "{said}");
        let url = verify(&["--kms-endpoint-url", "localhost:4566"]).unwrap().to_config().unwrap_err();
        assert!(url.contains("--kms-endpoint-url") && url.contains("https://kms."), "{url}");
    }

    #[test]
    fn replicas_need_an_instance() {
        let cli = parse(&["run", "--bucket", "bkt", "--cluster", "c", "--with-replicas"]).unwrap();
        let Command::Run(run) = cli.command else { panic!("not run") };
        assert!(run.to_config().unwrap_err().contains("--with-replicas"));
    }
}
