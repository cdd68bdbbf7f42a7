//! Store: objects and state in S3, never overwriting.
//!
//! The pipeline sees S3 through the `ObjectStore` trait (`S3Store` in
//! production, an in-memory store with S3's conditional-write rules in the
//! tests), as mountpoint-s3 sees it through its `ObjectClient`.
//!
//! Objects are created with `If-None-Match: *` (PutObject, or a multipart
//! upload whose CompleteMultipartUpload carries it), so a key, once written,
//! keeps its bytes: a second writer gets 412 and reconciles instead. The
//! checkpoint is replaced with `If-Match: <etag>`, a compare-and-swap.
//! In aws-sdk-s3, 412 and 409 are not modelled errors: they are read from the
//! raw status.

use crate::aws::{classify, permission_hint, status_of};
use crate::compress::CompressedObject;
use crate::config::{LockMode, Retention};
use crate::error::{Failure, FailureKind};
use crate::BoxFuture;
use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{ChecksumAlgorithm, CompletedMultipartUpload, CompletedPart, ObjectLockMode};
use chrono::{DateTime, Utc};
use std::collections::HashMap;

/// Default size (compressed) above which an object goes up in parts.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
/// S3's smallest part (all but the last).
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
const MAX_PART_SIZE: u64 = 8 * 1024 * 1024;

/// What an object's metadata says it holds (`x-amz-meta-*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectFacts {
    pub start: u64,
    pub end: u64,
    pub sha256: String,
    pub lines: u64,
    pub source_file: String,
    pub role: String,
    pub instance_id: String,
    pub dbi_resource_id: String,
    pub file_id: String,
    /// The earliest and latest record time among its lines (absent from
    /// objects made before this was recorded).
    pub first_record: Option<DateTime<Utc>>,
    pub last_record: Option<DateTime<Utc>>,
}

impl ObjectFacts {
    /// The object's bytes from its gzip, once they are the ones these
    /// facts name (their length and sha256); else why they are not.
    pub fn unpack(&self, gzip: &[u8]) -> Result<Vec<u8>, String> {
        let mut plain = Vec::with_capacity((self.end - self.start) as usize);
        if let Err(e) = std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(gzip), &mut plain) {
            return Err(format!("does not gunzip: {e}"));
        }
        let (len, want) = (plain.len() as u64, self.end - self.start);
        if len != want {
            return Err(format!("holds {len} bytes, its metadata says {want}"));
        }
        let sha = crate::compress::sha256_hex(&plain);
        if sha != self.sha256 {
            return Err(format!("content sha256 {sha} differs from its metadata's {}", self.sha256));
        }
        Ok(plain)
    }

    pub fn to_metadata(&self) -> HashMap<String, String> {
        let mut m = HashMap::from([
            ("start-offset".into(), self.start.to_string()),
            ("end-offset".into(), self.end.to_string()),
            ("sha256".into(), self.sha256.clone()),
            ("lines".into(), self.lines.to_string()),
            ("source-file".into(), self.source_file.clone()),
            ("role".into(), self.role.clone()),
            ("instance-id".into(), self.instance_id.clone()),
            ("dbi-resource-id".into(), self.dbi_resource_id.clone()),
            ("file-id".into(), self.file_id.clone()),
            ("worker-version".into(), env!("CARGO_PKG_VERSION").into()),
        ]);
        let times = [("first-record", self.first_record), ("last-record", self.last_record)];
        for (name, time) in times {
            if let Some(t) = time {
                m.insert(name.into(), t.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true));
            }
        }
        m
    }

    /// Whether another writer's object at the same key holds these very
    /// bytes. The key fixes the start; the end and the content hash decide.
    /// A create that lost the race to such an object has shipped its bytes.
    pub fn same_bytes_as(&self, theirs: &ObjectFacts) -> bool {
        self.start == theirs.start && self.end == theirs.end && self.sha256 == theirs.sha256
    }

    /// Reads the facts back; `None` if the object was not written by
    /// auditship (missing or malformed metadata).
    pub fn from_metadata(m: &HashMap<String, String>) -> Option<ObjectFacts> {
        let get = |k: &str| m.get(k).cloned();
        Some(ObjectFacts {
            start: get("start-offset")?.parse().ok()?,
            end: get("end-offset")?.parse().ok()?,
            sha256: get("sha256")?,
            lines: get("lines")?.parse().ok()?,
            source_file: get("source-file").unwrap_or_default(),
            role: get("role").unwrap_or_default(),
            instance_id: get("instance-id").unwrap_or_default(),
            dbi_resource_id: get("dbi-resource-id").unwrap_or_default(),
            file_id: get("file-id").unwrap_or_default(),
            first_record: get("first-record").and_then(|t| t.parse().ok()),
            last_record: get("last-record").and_then(|t| t.parse().ok()),
        })
    }
}

/// Result of a conditional create.
#[derive(Debug, PartialEq, Eq)]
pub enum Created {
    Yes,
    /// 412: the key already exists (another run wrote it first).
    AlreadyExists,
}

/// Result of a conditional replace of a state object.
#[derive(Debug, PartialEq, Eq)]
pub enum Swapped {
    Yes {
        etag: String,
    },
    /// 412 (or 409): someone else changed it since we read it.
    Conflict,
}

/// What S3 holds at a key, for an existence check.
#[derive(Debug, Clone)]
pub struct Existing {
    pub key: String,
    pub facts: Option<ObjectFacts>,
    /// Its Object Lock retention, as HEAD shows it (only to a caller with
    /// `s3:GetObjectRetention`; `None` also when it has none).
    pub retention: Option<HeldUntil>,
}

/// An object's Object Lock retention.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct HeldUntil {
    /// `GOVERNANCE` or `COMPLIANCE`.
    pub mode: String,
    pub retain_until: DateTime<Utc>,
}

/// One version of a key, or one of its delete markers, as
/// ListObjectVersions shows it in a bucket that keeps versions (Object
/// Lock needs versioning): what verify reads to name when an object or
/// digest was deleted or overwritten, and which version still holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub key: String,
    pub version_id: String,
    /// The key's current version (or marker).
    pub latest: bool,
    pub delete_marker: bool,
    pub last_modified: DateTime<Utc>,
}

/// What ListObjectVersions told of a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Versions {
    Listed(Vec<Version>),
    /// Why no versions could be read (refused, or a store without them).
    Unreadable(String),
}

/// What the pipeline, the checkpoint and the read-only commands need of S3.
/// Every write is conditional: `create` never replaces an object, `swap`
/// replaces a state object only at the ETag it was read at.
pub trait ObjectStore: Send + Sync {
    fn bucket(&self) -> &str;
    /// The key as a person would find it (`s3://bucket/key`).
    fn location(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket())
    }
    /// The facts of the object at `key`, or `None` if there is none.
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Existing>, Failure>>;
    /// Creates the object only if the key is free (`If-None-Match: *`).
    fn create<'a>(
        &'a self,
        key: &'a str,
        object: &'a CompressedObject,
        facts: &'a ObjectFacts,
    ) -> BoxFuture<'a, Result<Created, Failure>>;
    /// Every key under a prefix.
    fn list_keys<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, Failure>>;
    /// A whole (small) object with its ETag; `None` if absent.
    fn get_small<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Vec<u8>, String)>, Failure>>;
    /// Writes a state object: created if `etag` is `None`, else replaced
    /// only if it still has that ETag.
    fn swap<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        etag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Swapped, Failure>>;
    /// Creates a small record (a digest) with its metadata, only if the key
    /// is free (`If-None-Match: *`).
    fn create_record<'a>(&'a self, key: &'a str, record: &'a Record) -> BoxFuture<'a, Result<Created, Failure>>;
    /// A whole small record with its metadata; `None` if absent.
    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, Failure>>;
    /// Every version and delete marker under a prefix (only `verify`
    /// reads them). A store that keeps no versions says so.
    fn list_versions<'a>(&'a self, _prefix: &'a str) -> BoxFuture<'a, Result<Versions, Failure>> {
        Box::pin(async { Ok(Versions::Unreadable("this store keeps no versions".into())) })
    }
}

/// A small object written once with its own metadata: a digest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub body: Vec<u8>,
    pub content_type: String,
    /// `x-amz-meta-*`, without the prefix.
    pub metadata: HashMap<String, String>,
}

impl ObjectStore for S3Store {
    fn bucket(&self) -> &str {
        &self.bucket
    }
    fn head<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Existing>, Failure>> {
        Box::pin(S3Store::head(self, key))
    }
    fn create<'a>(
        &'a self,
        key: &'a str,
        object: &'a CompressedObject,
        facts: &'a ObjectFacts,
    ) -> BoxFuture<'a, Result<Created, Failure>> {
        Box::pin(S3Store::create(self, key, object, facts))
    }
    fn list_versions<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Versions, Failure>> {
        Box::pin(S3Store::list_versions(self, prefix))
    }
    fn list_keys<'a>(&'a self, prefix: &'a str) -> BoxFuture<'a, Result<Vec<String>, Failure>> {
        Box::pin(S3Store::list_keys(self, prefix))
    }
    fn get_small<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<(Vec<u8>, String)>, Failure>> {
        Box::pin(S3Store::get_small(self, key))
    }
    fn swap<'a>(
        &'a self,
        key: &'a str,
        body: Vec<u8>,
        etag: Option<&'a str>,
    ) -> BoxFuture<'a, Result<Swapped, Failure>> {
        Box::pin(S3Store::swap(self, key, body, etag))
    }
    fn create_record<'a>(&'a self, key: &'a str, record: &'a Record) -> BoxFuture<'a, Result<Created, Failure>> {
        Box::pin(S3Store::create_record(self, key, record))
    }
    fn get_record<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Record>, Failure>> {
        Box::pin(S3Store::get_record(self, key))
    }
}

/// The real store: aws-sdk-s3 against one bucket.
#[derive(Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
    multipart_threshold: u64,
    /// Object Lock retention for every object and digest (not for state
    /// objects, which are replaced).
    retention: Option<Retention>,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>, multipart_threshold: u64) -> Self {
        S3Store {
            client,
            bucket: bucket.into(),
            multipart_threshold: multipart_threshold.max(MIN_PART_SIZE),
            retention: None,
        }
    }

    /// Writes objects and digests with this retention from now on.
    pub fn with_retention(mut self, retention: Option<Retention>) -> Self {
        self.retention = retention;
        self
    }

    /// The lock mode and retain-until date of a write made now; `None`
    /// without `--object-lock-mode`.
    fn lock(&self) -> Option<(ObjectLockMode, aws_sdk_s3::primitives::DateTime)> {
        let r = self.retention?;
        let mode = match r.mode {
            LockMode::Governance => ObjectLockMode::Governance,
            LockMode::Compliance => ObjectLockMode::Compliance,
        };
        let until = chrono::Utc::now() + chrono::Duration::days(i64::from(r.days));
        Some((mode, aws_sdk_s3::primitives::DateTime::from_secs(until.timestamp())))
    }

    /// A write with lock headers refused because the bucket has no Object
    /// Lock: for a person, with the fix.
    fn lock_refused<E: ProvideErrorMetadata>(&self, e: &E) -> Option<Failure> {
        // moto says "ObjectLockConfiguration", S3 "Object Lock Configuration".
        let names_lock = |m: &str| m.replace(' ', "").to_ascii_lowercase().contains("objectlock");
        let lock_missing = e.code() == Some("InvalidRequest") && e.message().is_some_and(names_lock);
        (self.retention.is_some() && lock_missing).then(|| {
            Failure::needs_person(format!(
                "bucket {} has no Object Lock configuration, so --object-lock-mode cannot be applied: enable Object \
                 Lock on the bucket (`aws s3api put-object-lock-configuration`, versioning on), or drop \
                 --object-lock-mode and --retain-days",
                self.bucket
            ))
        })
    }

    /// Parts are at most 8 MiB, and never below S3's 5 MiB minimum.
    fn part_size(&self) -> usize {
        self.multipart_threshold.clamp(MIN_PART_SIZE, MAX_PART_SIZE) as usize
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    fn fail<E>(
        &self,
        op: &str,
        key: &str,
        action: &str,
        e: &aws_sdk_s3::error::SdkError<E, aws_smithy_runtime_api::client::orchestrator::HttpResponse>,
    ) -> Failure
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let f = classify(e);
        let at = format!("{op} s3://{}/{key}", self.bucket);
        match e.code() {
            Some("NoSuchBucket") => Failure::needs_person(format!(
                "bucket {} does not exist ({at}): create it or fix --bucket",
                self.bucket
            )),
            // Refused by S3 (not unreachable): a permission or credentials matter.
            _ if f.kind == FailureKind::NeedsPerson && status_of(e).is_some() => {
                let hint = permission_hint(action);
                f.context(format!("{at} ({hint})"))
            }
            _ => f.context(at),
        }
    }

    /// Checks that the bucket exists and is reachable, before any work.
    pub async fn check_bucket(&self) -> Result<(), Failure> {
        match self.client.head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(()),
            Err(e) => match status_of(&e) {
                Some(404) => Err(Failure::needs_person(format!(
                    "bucket {} does not exist: create it or fix --bucket",
                    self.bucket
                ))),
                Some(403) => Err(Failure::needs_person(format!(
                    "access to bucket {} denied: check the credentials and that the role allows s3:ListBucket on it",
                    self.bucket
                ))),
                _ => Err(self.fail("HeadBucket", "", "s3:ListBucket", &e)),
            },
        }
    }

    /// The facts of the object at `key`, or `None` if there is none.
    pub async fn head(&self, key: &str) -> Result<Option<Existing>, Failure> {
        match self.client.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let retention = match (out.object_lock_mode(), out.object_lock_retain_until_date()) {
                    (Some(mode), Some(until)) => DateTime::from_timestamp(until.secs(), until.subsec_nanos())
                        .map(|retain_until| HeldUntil { mode: mode.as_str().to_string(), retain_until }),
                    _ => None,
                };
                let facts = out.metadata().and_then(ObjectFacts::from_metadata);
                Ok(Some(Existing { key: key.to_string(), facts, retention }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.fail("HeadObject", key, "s3:GetObject", &e)),
        }
    }

    /// Creates the object only if the key is free.
    pub async fn create(&self, key: &str, object: &CompressedObject, facts: &ObjectFacts) -> Result<Created, Failure> {
        if object.gzip.len() as u64 > self.multipart_threshold {
            return self.create_multipart(key, object, facts).await;
        }
        self.put_new(key, "application/gzip", facts.to_metadata(), ByteStream::from(object.gzip.clone())).await
    }

    /// One PutObject with `If-None-Match: *`.
    async fn put_new(
        &self,
        key: &str,
        content_type: &str,
        metadata: HashMap<String, String>,
        body: ByteStream,
    ) -> Result<Created, Failure> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .content_type(content_type)
            .set_metadata(Some(metadata))
            .body(body);
        if let Some((mode, until)) = self.lock() {
            // S3 wants an integrity checksum with lock headers (moto asks
            // for the algorithm header): CRC32, computed by the SDK.
            put = put
                .object_lock_mode(mode)
                .object_lock_retain_until_date(until)
                .checksum_algorithm(ChecksumAlgorithm::Crc32);
        }
        match put.send().await {
            Ok(_) => Ok(Created::Yes),
            Err(e) if status_of(&e) == Some(412) => Ok(Created::AlreadyExists),
            Err(e) => Err(self.lock_refused(&e).unwrap_or_else(|| self.fail("PutObject", key, "s3:PutObject", &e))),
        }
    }

    async fn create_multipart(
        &self,
        key: &str,
        object: &CompressedObject,
        facts: &ObjectFacts,
    ) -> Result<Created, Failure> {
        let upload = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/gzip")
            .set_metadata(Some(facts.to_metadata()))
            .set_object_lock_mode(self.lock().map(|(mode, _)| mode))
            .set_object_lock_retain_until_date(self.lock().map(|(_, until)| until))
            // With lock headers every part carries a checksum, which S3
            // accepts only when the upload names its algorithm.
            .set_checksum_algorithm(self.lock().map(|_| ChecksumAlgorithm::Crc32))
            .send()
            .await
            .map_err(|e| {
                self.lock_refused(&e).unwrap_or_else(|| self.fail("CreateMultipartUpload", key, "s3:PutObject", &e))
            })?;
        let upload_id = upload.upload_id().unwrap_or_default().to_string();
        let result = self.upload_parts_and_complete(key, &upload_id, object).await;
        if !matches!(result, Ok(Created::Yes)) {
            // Leave nothing behind: an incomplete upload costs storage and
            // can never be completed by another run (it has its own id).
            let _ =
                self.client.abort_multipart_upload().bucket(&self.bucket).key(key).upload_id(&upload_id).send().await;
        }
        result
    }

    async fn upload_parts_and_complete(
        &self,
        key: &str,
        upload_id: &str,
        object: &CompressedObject,
    ) -> Result<Created, Failure> {
        let mut parts = Vec::new();
        let part_size = self.part_size();
        for (i, at) in (0..object.gzip.len()).step_by(part_size).enumerate() {
            let chunk = object.gzip.slice(at..(at + part_size).min(object.gzip.len()));
            let number = i as i32 + 1;
            let out = self
                .client
                .upload_part()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .part_number(number)
                .set_checksum_algorithm(self.retention.map(|_| ChecksumAlgorithm::Crc32))
                .body(ByteStream::from(chunk))
                .send()
                .await
                .map_err(|e| self.fail("UploadPart", key, "s3:PutObject", &e))?;
            let mut part = CompletedPart::builder().part_number(number).set_e_tag(out.e_tag().map(str::to_string));
            if self.retention.is_some() {
                // The upload named CRC32: completing it lists each part's.
                part = part.set_checksum_crc32(out.checksum_crc32().map(str::to_string));
            }
            parts.push(part.build());
        }
        let result = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .if_none_match("*")
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await;
        match result {
            Ok(_) => Ok(Created::Yes),
            Err(e) if status_of(&e) == Some(412) => Ok(Created::AlreadyExists),
            Err(e) => Err(self.fail("CompleteMultipartUpload", key, "s3:PutObject", &e)),
        }
    }

    /// The bucket's versioning state (`Enabled`, `Suspended`, or `Off` if
    /// never enabled).
    pub async fn versioning(&self) -> Result<String, Failure> {
        let out = self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
            .map_err(|e| self.fail("GetBucketVersioning", "", "s3:GetBucketVersioning", &e))?;
        Ok(out.status().map_or("Off".to_string(), |s| s.as_str().to_string()))
    }

    /// The bucket's Object Lock default retention (`COMPLIANCE 365 days`),
    /// `Enabled, no default retention`, or `None`.
    pub async fn object_lock(&self) -> Result<Option<String>, Failure> {
        match self.client.get_object_lock_configuration().bucket(&self.bucket).send().await {
            Ok(out) => {
                let Some(config) = out.object_lock_configuration() else { return Ok(None) };
                let retention = config.rule().and_then(|r| r.default_retention());
                Ok(Some(match retention {
                    Some(r) => format!(
                        "{} {}",
                        r.mode().map_or("", |m| m.as_str()),
                        match (r.days(), r.years()) {
                            (Some(d), _) => format!("{d} days"),
                            (_, Some(y)) => format!("{y} years"),
                            _ => String::new(),
                        }
                    ),
                    None => "Enabled, no default retention".to_string(),
                }))
            }
            Err(e) if e.code() == Some("ObjectLockConfigurationNotFoundError") => Ok(None),
            Err(e) => Err(self.fail("GetObjectLockConfiguration", "", "s3:GetBucketObjectLockConfiguration", &e)),
        }
    }

    /// Every key under a prefix (ListObjectsV2, all pages).
    pub async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, Failure> {
        let mut keys = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(|e| self.fail("ListObjectsV2", prefix, "s3:ListBucket", &e))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
            token = page.next_continuation_token().map(str::to_string);
            if token.is_none() {
                return Ok(keys);
            }
        }
    }

    /// Every version and delete marker under a prefix, paged. Refused
    /// (no `s3:ListBucketVersions`) it is `Unreadable`, not a failure:
    /// verify says what it could not see and checks the rest.
    pub async fn list_versions(&self, prefix: &str) -> Result<Versions, Failure> {
        let mut versions = Vec::new();
        let (mut key_marker, mut version_marker) = (None, None);
        let when = |t: Option<&aws_sdk_s3::primitives::DateTime>| {
            t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos())).unwrap_or_default()
        };
        loop {
            let page = match self
                .client
                .list_object_versions()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_key_marker(key_marker)
                .set_version_id_marker(version_marker)
                .send()
                .await
            {
                Ok(page) => page,
                // Refused, or an S3-compatible store without versions.
                Err(e) if matches!(status_of(&e), Some(403 | 501)) => {
                    return Ok(Versions::Unreadable(format!(
                        "ListObjectVersions s3://{}/{prefix} was refused: grant s3:ListBucketVersions to see deleted \
                         and overwritten objects and digests",
                        self.bucket
                    )))
                }
                Err(e) => return Err(self.fail("ListObjectVersions", prefix, "s3:ListBucketVersions", &e)),
            };
            let version = |key: Option<&str>, id: Option<&str>, latest: Option<bool>, marker: bool, at| Version {
                key: key.unwrap_or_default().to_string(),
                version_id: id.unwrap_or("null").to_string(),
                latest: latest.unwrap_or(false),
                delete_marker: marker,
                last_modified: when(at),
            };
            for v in page.versions() {
                versions.push(version(v.key(), v.version_id(), v.is_latest(), false, v.last_modified()));
            }
            for m in page.delete_markers() {
                versions.push(version(m.key(), m.version_id(), m.is_latest(), true, m.last_modified()));
            }
            key_marker = page.next_key_marker().map(str::to_string);
            version_marker = page.next_version_id_marker().map(str::to_string);
            // A truncated page without markers to go on from ends it too.
            if !page.is_truncated().unwrap_or(false) || (key_marker.is_none() && version_marker.is_none()) {
                return Ok(Versions::Listed(versions));
            }
        }
    }

    /// Reads a whole (small) object with its ETag; `None` if absent.
    pub async fn get_small(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Failure> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let etag = out.e_tag().unwrap_or_default().to_string();
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| Failure::transient(format!("reading s3://{}/{key} failed: {e}", self.bucket)))?;
                Ok(Some((body.into_bytes().to_vec(), etag)))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.fail("GetObject", key, "s3:GetObject", &e)),
        }
    }

    /// Creates a small record only if the key is free.
    pub async fn create_record(&self, key: &str, record: &Record) -> Result<Created, Failure> {
        let body = ByteStream::from(record.body.clone());
        self.put_new(key, &record.content_type, record.metadata.clone(), body).await
    }

    /// Reads a whole small record with its metadata; `None` if absent.
    pub async fn get_record(&self, key: &str) -> Result<Option<Record>, Failure> {
        match self.client.get_object().bucket(&self.bucket).key(key).send().await {
            Ok(out) => {
                let metadata = out.metadata().cloned().unwrap_or_default();
                let content_type = out.content_type().unwrap_or_default().to_string();
                let body = out
                    .body
                    .collect()
                    .await
                    .map_err(|e| Failure::transient(format!("reading s3://{}/{key} failed: {e}", self.bucket)))?;
                Ok(Some(Record { body: body.into_bytes().to_vec(), content_type, metadata }))
            }
            Err(e) if status_of(&e) == Some(404) => Ok(None),
            Err(e) => Err(self.fail("GetObject", key, "s3:GetObject", &e)),
        }
    }

    /// Writes a state object: created if `etag` is `None`, else replaced
    /// only if it still has that ETag.
    pub async fn swap(&self, key: &str, body: Vec<u8>, etag: Option<&str>) -> Result<Swapped, Failure> {
        let mut put = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/json")
            .body(ByteStream::from(body));
        put = match etag {
            Some(tag) => put.if_match(tag),
            None => put.if_none_match("*"),
        };
        match put.send().await {
            Ok(out) => Ok(Swapped::Yes { etag: out.e_tag().unwrap_or_default().to_string() }),
            Err(e) if matches!(status_of(&e), Some(412) | Some(409)) => Ok(Swapped::Conflict),
            // If-Match on a key deleted meanwhile answers 404.
            Err(e) if status_of(&e) == Some(404) && e.code() != Some("NoSuchBucket") => Ok(Swapped::Conflict),
            Err(e) => Err(self.fail("PutObject", key, "s3:PutObject", &e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_round_trip_through_metadata() {
        let facts = ObjectFacts {
            start: 10,
            end: 2000,
            sha256: "ab".repeat(32),
            lines: 7,
            source_file: "audit/server_audit.log.1".into(),
            role: "writer".into(),
            instance_id: "db-1".into(),
            dbi_resource_id: "db-ABC".into(),
            file_id: "20261121T223901Z-3f9a1c2b".into(),
            first_record: "2025-11-21T22:43:57.123456Z".parse().ok(),
            last_record: "2026-11-21T23:59:59Z".parse().ok(),
        };
        let m = facts.to_metadata();
        assert_eq!(m["worker-version"], env!("CARGO_PKG_VERSION"));
        assert_eq!(m["first-record"], "2025-11-21T22:43:57.123456Z");
        assert_eq!(ObjectFacts::from_metadata(&m), Some(facts.clone()));
        let older = ObjectFacts { first_record: None, last_record: None, ..facts };
        let m = older.to_metadata();
        assert!(!m.contains_key("first-record"), "no time, no field");
        assert_eq!(ObjectFacts::from_metadata(&m), Some(older));
    }

    #[test]
    fn foreign_object_has_no_facts() {
        let m = HashMap::from([("end-offset".to_string(), "x".to_string())]);
        assert_eq!(ObjectFacts::from_metadata(&m), None);
    }
}
