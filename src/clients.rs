//! Clients: everything a command talks to, built once from `Config`.
//!
//! The shipping algorithm (`pipeline::Shipper`) gets its I/O from here as
//! trait objects; the read-only commands and `doctor` use the same clients
//! without building a shipper.

use crate::aws;
use crate::config::DbAccess;
use crate::config::{Config, Scope};
use crate::config::{DigestSettings, EventSettings, SignerSource};
use crate::error::Failure;
use crate::events::derive::{EventSink, Layout};
use crate::evidence::signing::{Ed25519File, KmsSigner, Signer};
use crate::evidence::{Evidence, SystemClock};
use crate::fetch::LogFetcher;
use crate::pipeline::Shipper;
use crate::progress::Progress;
use crate::run_id::RunId;
use crate::signer::AwsIdentity;
use crate::source::RdsLogSource;
use crate::store::{ObjectStore, S3Store};
use aws_config::SdkConfig;
use std::sync::Arc;
use std::time::Instant;
use tokio_util::sync::CancellationToken;

pub struct Clients {
    pub cfg: Arc<Config>,
    pub rds: aws_sdk_rds::Client,
    /// The run's one AWS identity: signs log downloads and DB IAM tokens.
    pub identity: Arc<AwsIdentity>,
    pub fetcher: Arc<LogFetcher>,
    pub s3: S3Store,
    /// Cancelled on SIGTERM / SIGINT.
    pub stop: CancellationToken,
    /// Bytes walked, for `backfill`'s progress display.
    pub progress: Arc<Progress>,
    /// Digests' signer, period and clock (`--signing-key-file`,
    /// `--signing-kms-key-id`).
    pub evidence: Option<Evidence>,
    /// Where derived events are written (`--events`, `auditship events`).
    pub events: Option<EventSink>,
    /// The task's own AWS configuration (never --assume-role's), which S3
    /// and KMS are reached with.
    sdk: SdkConfig,
}

impl Clients {
    /// The clients, from the standard AWS chain; no call is made beyond
    /// resolving credentials.
    pub async fn build(cfg: Arc<Config>, stop: CancellationToken) -> Result<Clients, Failure> {
        let sdk = aws::load_sdk_config(&cfg).await?;
        // The instances may be another account's (--assume-role); the
        // bucket is always this task's own.
        let instances = aws::instances_config(&sdk, &cfg).await?;
        let rds = aws::rds_client(&instances, &cfg);
        let s3 = S3Store::new(aws::s3_client(&sdk, &cfg), cfg.bucket.clone(), cfg.multipart_threshold)
            .with_retention(cfg.object_lock);
        let identity = Arc::new(AwsIdentity::new(
            instances.credentials_provider().expect("credentials checked"),
            instances.region().expect("region checked").as_ref(),
        ));
        let fetcher = Arc::new(LogFetcher::new(
            cfg.rds_endpoint_url.as_deref(),
            identity.clone(),
            cfg.max_attempts,
            cfg.read_timeout,
            cfg.gzip_downloads,
        )?);
        let progress = Arc::new(match cfg.scope {
            Scope::Backfill(_) => Progress::for_terminal_or_log(),
            Scope::New => Progress::off(),
        });
        let evidence = match &cfg.digests {
            Some(settings) => Some(evidence(settings, &sdk, &cfg).await?),
            None => None,
        };
        let events = match &cfg.events {
            Some(settings) => Some(event_sink(settings, &sdk, &cfg, &s3, identity.region()).await?),
            None => None,
        };
        Ok(Clients { cfg, rds, identity, fetcher, s3, stop, progress, evidence, events, sdk })
    }

    /// The digests' signer for `settings`, read (and a KMS key tried) now.
    pub async fn evidence_for(&self, settings: &DigestSettings) -> Result<Evidence, Failure> {
        evidence(settings, &self.sdk, &self.cfg).await
    }

    /// Where events go for `settings`: a Security Lake provider role is
    /// assumed now, so a role that cannot be is a failure here.
    pub async fn events_for(&self, settings: &EventSettings) -> Result<EventSink, Failure> {
        event_sink(settings, &self.sdk, &self.cfg, &self.s3, self.identity.region()).await
    }

    /// A KMS client for `key_id` (the key's region if it is an ARN), with
    /// the task's own credentials.
    pub fn kms(&self, key_id: &str) -> aws_sdk_kms::Client {
        aws::kms_client(&self.sdk, &self.cfg, key_id)
    }

    /// A shipper over these clients whose work ends at `deadline`, for
    /// the run `run`.
    pub fn shipper(&self, deadline: Option<Instant>, run: RunId) -> Shipper {
        Shipper {
            cfg: self.cfg.clone(),
            source: Arc::new(RdsLogSource { rds: self.rds.clone(), fetcher: self.fetcher.clone() }),
            store: Arc::new(self.s3.clone()),
            deadline,
            stop: self.stop.clone(),
            progress: self.progress.clone(),
            evidence: self.evidence.clone(),
            events: self.events.clone(),
            landed_events: Default::default(),
            run,
        }
    }

    /// The database login with what an IAM token is made from.
    pub fn db_login(&self) -> Option<(&DbAccess, &AwsIdentity)> {
        self.cfg.db.as_ref().map(|access| (access, &*self.identity))
    }
}

/// The digests' signer, period and clock: the key is read (and a KMS key
/// tried) before any work, so a bad key fails the run at once.
async fn evidence(settings: &DigestSettings, sdk: &SdkConfig, cfg: &Config) -> Result<Evidence, Failure> {
    let signer: Arc<dyn Signer> = match &settings.signer {
        SignerSource::KeyFile(path) => Arc::new(Ed25519File::from_pem_file(path)?),
        SignerSource::Kms(key_id) => Arc::new(KmsSigner::new(aws::kms_client(sdk, cfg, key_id), key_id).await?),
    };
    Ok(Evidence { signer, period: settings.period, clock: Arc::new(SystemClock { offset: settings.clock_offset }) })
}

/// Where events go: the trail's bucket, or a Security Lake custom source
/// (with its provider role, tried now, if one is given).
async fn event_sink(
    settings: &EventSettings,
    sdk: &SdkConfig,
    cfg: &Config,
    trail: &S3Store,
    region: &str,
) -> Result<EventSink, Failure> {
    let (store, layout): (Arc<dyn ObjectStore>, Layout) = match &settings.security_lake {
        None => (Arc::new(trail.clone()), Layout::Trail { prefix: cfg.prefix.clone() }),
        Some(lake) => {
            let writer = match &lake.role {
                Some(role) => aws::assumed_config(sdk, cfg, role).await?,
                None => sdk.clone(),
            };
            // Security Lake's bucket is in the region of the data it holds.
            let client = aws::s3_client_in(&writer, cfg, Some(region));
            let store = S3Store::new(client, lake.location.bucket.clone(), cfg.multipart_threshold);
            (Arc::new(store), Layout::SecurityLake { prefix: lake.location.prefix.clone() })
        }
    };
    Ok(EventSink { store, layout, redact: settings.redact, region: region.to_string() })
}
