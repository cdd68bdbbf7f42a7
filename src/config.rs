//! The one `Config` a run works from, built from flags and `AUDITSHIP_*`
//! environment variables (see `cli`). Nothing else reads the environment.

use chrono::{DateTime, Utc};
use std::fmt;
use std::time::Duration;

/// Which instances a run covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub clusters: Vec<String>,
    pub instances: Vec<String>,
    pub with_replicas: bool,
    /// Every pair must be in an instance's TagList.
    pub tags: Vec<(String, String)>,
    /// Find the instances by asking the database (`--discover sql`).
    pub via_sql: bool,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty() && self.instances.is_empty() && self.tags.is_empty()
    }
}

/// What to do with the file the audit plugin is still writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActiveFilePolicy {
    /// Ship its complete lines on every run (from the shipped offset where
    /// the download honours ranges, else reading it whole).
    Ship,
    /// Leave it until it rotates.
    Skip,
}

/// Which of an instance's files a command ships.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// `run`: everything not yet shipped, from each file's checkpoint offset.
    New,
    /// `backfill`: the chosen files, walked from their first byte: objects
    /// already in S3 are verified, missing ones created.
    Backfill(FileFilter),
}

/// `backfill`'s choice of files: by name, or by the time span a file covers
/// (first record to last write) overlapping `[since, until]`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FileFilter {
    pub names: Vec<String>,
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
}

impl FileFilter {
    /// Whether a file spanning `[first, last]` is chosen.
    pub fn matches(&self, name: &str, first: Option<DateTime<Utc>>, last: DateTime<Utc>) -> bool {
        if !self.names.is_empty() && !self.names.iter().any(|n| n == name) {
            return false;
        }
        let starts_in_time = self.until.is_none_or(|until| first.is_none_or(|f| f <= until));
        let ends_in_time = self.since.is_none_or(|since| last >= since);
        starts_in_time && ends_in_time
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub scope: Scope,
    /// Read everything, write nothing: print the objects a run would create.
    pub dry_run: bool,
    pub selection: Selection,
    pub bucket: String,
    pub prefix: String,
    pub region: Option<String>,
    pub rds_endpoint_url: Option<String>,
    pub s3_endpoint_url: Option<String>,
    pub sts_endpoint_url: Option<String>,
    /// KMS endpoint for the digest signing key and `verify --kms-key-id`.
    pub kms_endpoint_url: Option<String>,
    /// The role whose credentials read the instances (another account).
    pub assume_role: Option<AssumeRole>,
    /// The bucket's region when it is not `region`.
    pub bucket_region: Option<String>,
    pub concurrency: usize,
    pub max_run: Option<Duration>,
    pub active_file: ActiveFilePolicy,
    /// Uncompressed bytes after which an object ends at the next newline.
    pub object_size: u64,
    /// Compressed bytes above which an object is uploaded in parts.
    pub multipart_threshold: u64,
    pub max_attempts: u32,
    pub read_timeout: Duration,
    /// Ask the download for only the bytes after the shipped offset
    /// (`Range`), checked against the checkpoint's tail hash.
    pub range_reads: bool,
    /// Ask for whole-file downloads gzip-encoded (`Accept-Encoding`).
    pub gzip_downloads: bool,
    /// The gzip level objects are compressed at.
    pub gzip_level: u32,
    /// Emit CloudWatch EMF metric lines under this namespace; `None`: off.
    pub metrics_namespace: Option<String>,
    /// The shard's name in the run's metrics (`--shard`).
    pub shard: Option<String>,
    /// Database login for the checks that need SQL; `None`: skipped.
    pub db: Option<DbAccess>,
    /// `run --interval`: repeat a pass this often until SIGTERM (service mode).
    pub interval: Option<Duration>,
    /// Signed digests of what landed (`--signing-key-file`,
    /// `--signing-kms-key-id`); `None`: off.
    pub digests: Option<DigestSettings>,
    /// Object Lock retention for objects and digests; `None`: the bucket's
    /// default, if any.
    pub object_lock: Option<Retention>,
    /// `run --events`: derive OCSF events from what each pass lands.
    pub events: Option<EventSettings>,
}

/// How derived events are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSettings {
    /// `--redact literals`.
    pub redact: bool,
    /// `--security-lake-location`: a Security Lake custom source instead
    /// of the trail's bucket.
    pub security_lake: Option<SecurityLake>,
}

/// An Amazon Security Lake custom source the events are written to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SecurityLake {
    pub location: S3Location,
    /// The provider role Security Lake made for the source, if the task's
    /// own credentials may not write there.
    pub role: Option<AssumeRole>,
}

/// A bucket and a prefix in it (no slashes at either end).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Location {
    pub bucket: String,
    pub prefix: String,
}

/// How digests are made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DigestSettings {
    /// How long each digest's period is (divides a day).
    pub period: Duration,
    pub signer: SignerSource,
    /// Added to the system clock for digests (0 but in process tests, which
    /// seal periods without waiting for them to end).
    pub clock_offset: chrono::Duration,
}

/// Where the digest signing key is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SignerSource {
    /// An Ed25519 private key, PKCS#8 PEM.
    KeyFile(std::path::PathBuf),
    /// A KMS asymmetric key (key id, key ARN, alias name or alias ARN),
    /// signed with through `kms:Sign`.
    Kms(String),
}

/// `--assume-role`: the instances are read with this role's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AssumeRole {
    pub arn: String,
    pub external_id: Option<String>,
    pub session_name: String,
}

/// A password: shown as `***` wherever it is formatted, so no log or error
/// message can carry it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// How TLS to the database is done.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DbTls {
    /// TLS with the server's certificate verified (give the RDS CA bundle
    /// with --db-ca-file).
    Required,
    /// Plain TCP: only for a database on loopback or inside a tunnel.
    Off,
}

/// How the database user proves who it is.
#[derive(Debug, Clone)]
pub enum DbAuth {
    Password(Secret),
    /// An RDS IAM authentication token, made from the AWS credentials for
    /// each connection (valid 15 minutes; needs TLS).
    IamToken,
}

/// How to log in to the selected instances.
#[derive(Debug, Clone)]
pub struct DbAccess {
    pub user: String,
    pub auth: DbAuth,
    pub tls: DbTls,
    pub ca_file: Option<std::path::PathBuf>,
    /// `host:port` to use instead of the instance's own endpoint (a tunnel,
    /// a proxy); only with a single instance.
    pub endpoint: Option<String>,
}

/// `--object-lock-mode` with `--retain-days`: every object and digest is
/// written with this retention (S3 Object Lock; the bucket must have it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub mode: LockMode,
    pub days: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LockMode {
    /// Only a principal with s3:BypassGovernanceRetention can delete a
    /// version or shorten its retention before it ends.
    Governance,
    /// No one, the root user included, can until it ends.
    Compliance,
}
