//! The one `Config` a run works from, built from flags and `AUDITSHIP_*`
//! environment variables (see `cli`). Nothing else reads the environment.

use std::time::Duration;

/// Which instances a run covers.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selection {
    pub clusters: Vec<String>,
    pub instances: Vec<String>,
    pub with_replicas: bool,
    /// Every pair must be in an instance's TagList.
    pub tags: Vec<(String, String)>,
}

impl Selection {
    pub fn is_empty(&self) -> bool {
        self.clusters.is_empty() && self.instances.is_empty() && self.tags.is_empty()
    }
}

/// What to do with the file the audit plugin is still writing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ActiveFilePolicy {
    /// Ship its complete lines on every run (re-reads it whole each time).
    Ship,
    /// Leave it until it rotates.
    Skip,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub selection: Selection,
    pub bucket: String,
    pub prefix: String,
    pub region: Option<String>,
    pub rds_endpoint_url: Option<String>,
    pub s3_endpoint_url: Option<String>,
    pub concurrency: usize,
    pub max_run: Option<Duration>,
    pub active_file: ActiveFilePolicy,
    /// Uncompressed bytes after which an object ends at the next newline.
    pub object_size: u64,
    /// Compressed bytes above which an object is uploaded in parts.
    pub multipart_threshold: u64,
    pub max_attempts: u32,
    pub read_timeout: Duration,
}
