//! Source: where an instance's audit files come from.
//!
//! The pipeline sees an instance through the `LogSource` trait: list its
//! audit files, open one as a byte stream. `RdsLogSource` is the real one
//! (DescribeDBLogFiles and the complete-file download); the tests drive the
//! same pipeline against a simulated instance whose files rotate, grow and
//! vanish between any two calls.

use crate::error::Failure;
use crate::fetch::{FetchError, LogFetcher, LogStream};
use crate::instance::{Instance, InstanceId};
use crate::list::{self, LogFile};
use crate::BoxFuture;
use std::sync::Arc;

pub trait LogSource: Send + Sync {
    /// The instance's audit files, newest first (see `list::audit_files`).
    fn list<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<Vec<LogFile>, Failure>>;
    /// Opens a file by its current name; `FetchError::Gone` if no file has
    /// that name any more.
    fn open<'a>(&'a self, instance: &'a InstanceId, file: &'a str) -> BoxFuture<'a, Result<LogStream, FetchError>>;
}

/// The real instance: RDS's APIs.
pub struct RdsLogSource {
    pub rds: aws_sdk_rds::Client,
    pub fetcher: Arc<LogFetcher>,
}

impl LogSource for RdsLogSource {
    fn list<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<Vec<LogFile>, Failure>> {
        Box::pin(list::audit_files(&self.rds, instance))
    }

    fn open<'a>(&'a self, instance: &'a InstanceId, file: &'a str) -> BoxFuture<'a, Result<LogStream, FetchError>> {
        Box::pin(self.fetcher.open(instance, file))
    }
}
