//! An in-memory object store with S3's conditional-write rules: a create
//! with `If-None-Match: *` never replaces, a swap with `If-Match` only at
//! the current ETag, and extra 409s (ConditionalRequestConflict) on demand.

use crate::compress::CompressedObject;
use crate::error::Failure;
use crate::store::{Created, Existing, ObjectFacts, ObjectStore, Record, Swapped};
use crate::BoxFuture;
use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

/// One stored object.
#[derive(Debug, Clone)]
pub struct MemObject {
    pub body: Vec<u8>,
    pub facts: Option<ObjectFacts>,
    pub version: u64,
    /// A record's metadata (objects' metadata is `facts`).
    pub metadata: HashMap<String, String>,
}

/// The bucket's contents; shared by every handle onto the store.
#[derive(Debug, Default)]
pub struct Bucket {
    pub objects: BTreeMap<String, MemObject>,
    next_version: u64,
    /// Answers for the next swaps: `true` is a 409.
    pub conflicts: Vec<bool>,
}

impl Bucket {
    fn put(&mut self, key: &str, body: Vec<u8>, facts: Option<ObjectFacts>) -> String {
        self.next_version += 1;
        self.objects
            .insert(key.to_string(), MemObject { body, facts, version: self.next_version, metadata: HashMap::new() });
        format!("v{}", self.next_version)
    }
}

/// What a store handle does before each call: nothing, or a step of the
/// simulated world (which may apply events, or never return: a kill).
pub trait Step: Send + Sync {
    fn step<'a>(&'a self, what: String) -> BoxFuture<'a, ()>;
}

/// A plain step: yields, so writers on one thread interleave between any
/// two of their calls.
pub struct Yield;

impl Step for Yield {
    fn step<'a>(&'a self, _what: String) -> BoxFuture<'a, ()> {
        Box::pin(tokio::task::yield_now())
    }
}

#[derive(Clone)]
pub struct MemStore {
    pub bucket: Arc<Mutex<Bucket>>,
    pub step: Arc<dyn Step>,
}

impl MemStore {
    pub fn new() -> Self {
        MemStore { bucket: Arc::default(), step: Arc::new(Yield) }
    }

    /// Another handle onto the same bucket, stepping through `step`.
    pub fn with_step(&self, step: Arc<dyn Step>) -> Self {
        MemStore { bucket: self.bucket.clone(), step }
    }
}

impl Default for MemStore {
    fn default() -> Self {
        Self::new()
    }
}

impl ObjectStore for MemStore {
    fn bucket(&self) -> &str {
        "sim"
    }

    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Existing>, Failure>> {
        Box::pin(async move {
            self.step.step(format!("head {key}")).await;
            let bucket = self.bucket.lock().unwrap();
            Ok(bucket.objects.get(key).map(|o| Existing {
                key: key.to_string(),
                facts: o.facts.clone(),
                retention: None,
            }))
        })
    }

    fn create<'a>(
        &'a self,
        key: &'a str,
        object: &'a CompressedObject,
        facts: &'a ObjectFacts,
    ) -> BoxFuture<'a, Result<Created, Failure>> {
        Box::pin(async move {
            self.step.step(format!("create {key}")).await;
            let mut bucket = self.bucket.lock().unwrap();
            if bucket.objects.contains_key(key) {
                return Ok(Created::AlreadyExists);
            }
            bucket.put(key, object.gzip.to_vec(), Some(facts.clone()));
            Ok(Created::Yes)
        })
    }

    fn list_keys<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, Failure>> {
        Box::pin(async move {
            self.step.step(format!("list {prefix}")).await;
            let bucket = self.bucket.lock().unwrap();
            Ok(bucket.objects.keys().filter(|k| k.starts_with(prefix)).cloned().collect())
        })
    }

    fn get_small<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Vec<u8>, String)>, Failure>> {
        Box::pin(async move {
            self.step.step(format!("get {key}")).await;
            let bucket = self.bucket.lock().unwrap();
            Ok(bucket.objects.get(key).map(|o| (o.body.clone(), format!("v{}", o.version))))
        })
    }

    fn swap<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        etag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Swapped, Failure>> {
        Box::pin(async move {
            self.step.step(format!("swap {key}")).await;
            let mut bucket = self.bucket.lock().unwrap();
            if bucket.conflicts.pop() == Some(true) {
                return Ok(Swapped::Conflict);
            }
            let current = bucket.objects.get(key).map(|o| format!("v{}", o.version));
            if current.as_deref() != etag {
                return Ok(Swapped::Conflict);
            }
            let etag = bucket.put(key, body, None);
            Ok(Swapped::Yes { etag })
        })
    }

    fn create_record<'a>(&'a self, key: &'a str, record: &'a Record) -> BoxFuture<'a, Result<Created, Failure>> {
        Box::pin(async move {
            self.step.step(format!("create record {key}")).await;
            let mut bucket = self.bucket.lock().unwrap();
            if bucket.objects.contains_key(key) {
                return Ok(Created::AlreadyExists);
            }
            bucket.put(key, record.body.clone(), None);
            bucket.objects.get_mut(key).expect("just put").metadata = record.metadata.clone();
            Ok(Created::Yes)
        })
    }

    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, Failure>> {
        Box::pin(async move {
            self.step.step(format!("get record {key}")).await;
            let bucket = self.bucket.lock().unwrap();
            Ok(bucket.objects.get(key).map(|o| Record {
                body: o.body.clone(),
                content_type: "application/json".into(),
                metadata: o.metadata.clone(),
            }))
        })
    }
}
