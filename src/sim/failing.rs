//! Failure-injecting decorators over any `LogSource` and `ObjectStore`, in
//! the manner of mountpoint-s3's `FailureClient`: the calls whose numbers a
//! `FailurePlan` lists (counted over both wrappers together) fail with a
//! transient error (RDS throttling, S3 SlowDown) before reaching the inner
//! implementation, as a real one would when it answers 5xx. A listing the
//! plan names instead answers with no files at all (an answer one must not
//! take for "every file is gone").

use crate::compress::CompressedObject;
use crate::error::Failure;
use crate::fetch::{FetchError, LogStream, Span};
use crate::instance::{Instance, InstanceId, ResourceId};
use crate::list::LogFile;
use crate::source::LogSource;
use crate::store::{Created, Existing, ObjectFacts, ObjectStore, Record, Swapped};
use crate::BoxFuture;
use std::collections::BTreeSet;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

/// Which calls fail: numbers counted from 1 over every wrapped call.
#[derive(Default)]
pub struct FailurePlan {
    fail: Mutex<BTreeSet<u64>>,
    /// Calls that, if they are a DescribeDBLogFiles, answer an empty list.
    empty: BTreeSet<u64>,
    calls: AtomicU64,
    /// How many calls failed, for tests that check the plan took effect.
    pub failed: AtomicU64,
    /// How many listings answered no files.
    pub emptied: AtomicU64,
}

impl FailurePlan {
    pub fn failing(calls: impl IntoIterator<Item = u64>) -> Arc<FailurePlan> {
        Self::new(calls, [])
    }

    /// Fails the `failing` calls; the `empty` ones answer no files if they
    /// are listings.
    pub fn new(failing: impl IntoIterator<Item = u64>, empty: impl IntoIterator<Item = u64>) -> Arc<FailurePlan> {
        Arc::new(FailurePlan {
            fail: Mutex::new(failing.into_iter().collect()),
            empty: empty.into_iter().collect(),
            ..FailurePlan::default()
        })
    }

    /// The failure for this call, if the plan has one.
    fn next(&self, what: &str) -> Option<Failure> {
        self.next_numbered(what).1
    }

    /// This call's number, and its failure if the plan has one.
    fn next_numbered(&self, what: &str) -> (u64, Option<Failure>) {
        let n = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if !self.fail.lock().unwrap().remove(&n) {
            return (n, None);
        }
        self.failed.fetch_add(1, Ordering::SeqCst);
        (n, Some(Failure::transient(format!("{what} failed: injected 503 (call {n})"))))
    }
}

pub struct FailingSource {
    pub inner: Arc<dyn LogSource>,
    pub plan: Arc<FailurePlan>,
}

impl LogSource for FailingSource {
    fn list<'a>(&'a self, instance: &'a Instance) -> BoxFuture<'a, Result<Vec<LogFile>, Failure>> {
        match self.plan.next_numbered("DescribeDBLogFiles") {
            (_, Some(f)) => Box::pin(async move { Err(f) }),
            (n, None) if self.plan.empty.contains(&n) => {
                self.plan.emptied.fetch_add(1, Ordering::SeqCst);
                let listing = self.inner.list(instance);
                Box::pin(async move { listing.await.map(|_| Vec::new()) })
            }
            (_, None) => self.inner.list(instance),
        }
    }

    fn open<'a>(
        &'a self,
        instance: &'a InstanceId,
        file: &'a str,
        span: Span,
    ) -> BoxFuture<'a, Result<LogStream, FetchError>> {
        match self.plan.next("DownloadCompleteDBLogFile") {
            Some(f) => Box::pin(async move { Err(FetchError::Failed(f)) }),
            None => self.inner.open(instance, file, span),
        }
    }

    fn resource_id<'a>(&'a self, instance: &'a InstanceId) -> BoxFuture<'a, Result<Option<ResourceId>, Failure>> {
        match self.plan.next("DescribeDBInstances") {
            Some(f) => Box::pin(async move { Err(f) }),
            None => self.inner.resource_id(instance),
        }
    }
}

pub struct FailingStore {
    pub inner: Arc<dyn ObjectStore>,
    pub plan: Arc<FailurePlan>,
}

impl FailingStore {
    fn fail<'a, T: Send + 'a>(&self, what: &str) -> Option<BoxFuture<'a, Result<T, Failure>>> {
        self.plan.next(what).map(|f| -> BoxFuture<'a, Result<T, Failure>> { Box::pin(async move { Err(f) }) })
    }
}

impl ObjectStore for FailingStore {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Existing>, Failure>> {
        self.fail("HeadObject").unwrap_or_else(|| self.inner.head(key))
    }

    fn create<'a>(
        &'a self,
        key: &'a str,
        object: &'a CompressedObject,
        facts: &'a ObjectFacts,
    ) -> BoxFuture<'a, Result<Created, Failure>> {
        self.fail("PutObject").unwrap_or_else(|| self.inner.create(key, object, facts))
    }

    fn list_keys<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, Failure>> {
        self.fail("ListObjectsV2").unwrap_or_else(|| self.inner.list_keys(prefix))
    }

    fn get_small<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Vec<u8>, String)>, Failure>> {
        self.fail("GetObject").unwrap_or_else(|| self.inner.get_small(key))
    }

    fn swap<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        etag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Swapped, Failure>> {
        self.fail("PutObject (state)").unwrap_or_else(|| self.inner.swap(key, body, etag))
    }

    fn create_record<'a>(&'a self, key: &'a str, record: &'a Record) -> BoxFuture<'a, Result<Created, Failure>> {
        self.fail("PutObject (digest)").unwrap_or_else(|| self.inner.create_record(key, record))
    }

    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, Failure>> {
        self.fail("GetObject (digest)").unwrap_or_else(|| self.inner.get_record(key))
    }
}
