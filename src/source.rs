//! Source: where an instance's audit files come from.
//!
//! The pipeline sees an instance through the `LogSource` trait: list its
//! audit files, open one as a byte stream. `RdsLogSource` is the real one
//! (DescribeDBLogFiles and the complete-file download); the tests drive the
//! same pipeline against a simulated instance whose files rotate, grow and
//! vanish between any two calls.

use crate::error::Failure;
use crate::fetch::{FetchError, LogFetcher, LogStream, Span, Transfer};
use crate::instance::{Instance, InstanceId, ResourceId};
use crate::list::{self, LogFile};
use crate::BoxFuture;
use std::sync::Arc;

pub trait LogSource: Send + Sync {
    /// The instance's audit files, newest first (see `list::audit_files`).
    fn list<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<Vec<LogFile>, Failure>>;
    /// Opens a file by its current name, for the bytes `span` asks for (a
    /// source may give more: the stream's `start` says where it begins);
    /// `FetchError::Gone` if no file has that name any more.
    fn open<'a>(
        &'a self,
        instance: &'a InstanceId,
        file: &'a str,
        span: Span,
    ) -> BoxFuture<'a, Result<LogStream, FetchError>>;
    /// The resource id the identifier stands for now (`None`: no instance
    /// has it). An identifier never goes back to a resource id it left, so
    /// the answer vouches for every call made before it.
    fn resource_id<'a>(&'a self, instance: &'a InstanceId) -> BoxFuture<'a, Result<Option<ResourceId>, Failure>>;
    /// What the reads of the instance's files cost since this was last
    /// asked (and what the endpoint did with ranges and gzip).
    fn transfer(&self, _instance: &InstanceId) -> Transfer {
        Transfer::default()
    }
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

    fn open<'a>(
        &'a self,
        instance: &'a InstanceId,
        file: &'a str,
        span: Span,
    ) -> BoxFuture<'a, Result<LogStream, FetchError>> {
        Box::pin(self.fetcher.open(instance, file, span))
    }

    fn transfer(&self, instance: &InstanceId) -> Transfer {
        self.fetcher.transfers.take(&instance.0)
    }

    fn resource_id<'a>(&'a self, instance: &'a InstanceId) -> BoxFuture<'a, Result<Option<ResourceId>, Failure>> {
        Box::pin(crate::discover::current_resource_id(&self.rds, instance))
    }
}
