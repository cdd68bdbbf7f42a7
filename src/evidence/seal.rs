//! Sealing: after a run ships an instance, every period that has ended
//! since the chain's head gets its digest, oldest first, each committed to
//! the checkpoint before the next is begun.
//!
//! A period's digest lists the ledger's pending objects that landed before
//! the period ended (per file in offset order, up to the first that landed
//! later); what a concurrent run records after a period is sealed goes into
//! the next one. Digests are created with `If-None-Match`: when another run
//! sealed the period first, its digest is adopted (it must continue the
//! same chain) and what it does not list rolls on. So there is one digest
//! per period, whoever wrote it, and none is ever replaced.

use super::digest::{
    rfc3339, signing_string, Digest, FileFacts, FileStateFact, Link, Listed, LossFacts, Period, DIGEST_FORMAT,
};
use super::Evidence;
use crate::checkpoint::{self, Checkpoint, StoredCheckpoint};
use crate::compress::sha256_hex;
use crate::error::Failure;
use crate::identify::FileId;
use crate::instance::Instance;
use crate::keys::{digest_key, digest_prefix};
use crate::store::{Created, ObjectStore, Record};
use chrono::{DateTime, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// Most digests one run seals for one instance: a chain further behind
/// (digests turned on again after a long pause) catches up over the next
/// runs instead of holding this one.
pub const MAX_SEALS_PER_RUN: usize = 200;

/// The metadata a digest's signature travels in (`x-amz-meta-signature`,
/// as CloudTrail's digests have it).
pub const SIGNATURE: &str = "signature";
pub const SIGNATURE_ALGORITHM: &str = "signature-algorithm";
pub const SIGNING_KEY: &str = "signing-key";

/// What sealing did for one instance.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Sealed {
    /// Digests this run created.
    pub created: usize,
    /// Digests another run had created first, adopted.
    pub adopted: usize,
    /// Periods still to seal after `MAX_SEALS_PER_RUN`.
    pub behind: bool,
}

/// Seals every period of the instance's chain that has ended.
pub async fn seal_due(
    store: &dyn ObjectStore,
    evidence: &Evidence,
    prefix: &str,
    instance: &Instance,
    cp: &mut StoredCheckpoint,
) -> Result<Sealed, Failure> {
    let now = evidence.clock.now();
    let mut sealed = Sealed::default();
    if cp.state.digests.since.is_none() {
        // A checkpoint with no ledger: digests begin here, or the ledger
        // was lost (the checkpoint deleted or replaced) and the chain the
        // digests hold goes on from its newest one. The chain keeps its
        // period length: runs with another --digest-period would otherwise
        // seal overlapping periods and fork it.
        let ledger = &mut cp.state.digests;
        match chain_in_store(store, evidence, prefix, instance).await? {
            Some(found) => {
                tracing::warn!(
                    instance = %instance.id, head = %found.head.key,
                    "instance {}: its checkpoint holds no digest ledger, but digests are in S3: the chain goes on \
                     from {}",
                    instance.id,
                    found.head.key
                );
                ledger.since = Some(found.since);
                ledger.period_seconds = Some(found.period_seconds);
                ledger.head = Some(found.head);
            }
            None => {
                ledger.since = Some(now);
                ledger.period_seconds = Some(evidence.period.as_secs());
            }
        }
        checkpoint::commit(store, cp, instance).await?;
    }
    let chain_period = cp.state.digests.period_seconds.unwrap_or(evidence.period.as_secs());
    if chain_period != evidence.period.as_secs() {
        tracing::warn!(
            instance = %instance.id, chain_period_seconds = chain_period,
            "instance {}: its digest chain has {chain_period}s periods; --digest-period {}s is ignored for it",
            instance.id,
            evidence.period.as_secs()
        );
    }
    loop {
        let period = next_period(&cp.state, evidence.period);
        if period.end > now {
            return Ok(sealed);
        }
        if sealed.created + sealed.adopted == MAX_SEALS_PER_RUN {
            sealed.behind = true;
            tracing::warn!(
                instance = %instance.id, next_period_end = %rfc3339(period.end),
                "instance {}: its digest chain is more than {MAX_SEALS_PER_RUN} periods behind; the next runs catch up",
                instance.id
            );
            return Ok(sealed);
        }
        let key = digest_key(prefix, &instance.resource_id.0, period.end);
        let digest = build(&cp.state, instance, store.bucket(), &key, period, now, evidence);
        let (digest, link, created) = write(store, evidence, digest).await?;
        if created {
            sealed.created += 1;
        } else {
            sealed.adopted += 1;
        }
        tracing::info!(
            instance = %instance.id, key = %link.key, objects = digest.objects.len(), created,
            "{}", if created { "digest sealed" } else { "digest sealed by another run, adopted" }
        );
        cp.state.digests.sealed(&digest.objects, &digest.files, link);
        checkpoint::commit(store, cp, instance).await?;
    }
}

/// A chain already in S3 for an instance whose checkpoint has no ledger.
struct FoundChain {
    since: DateTime<Utc>,
    period_seconds: u64,
    head: Link,
}

/// The instance's chain as its digests hold it: begun with the oldest, its
/// head the newest, which must be a digest of this chain's key (anything
/// else is left for a person, as `adopt` does). `None` when there are no
/// digests.
async fn chain_in_store(
    store: &dyn ObjectStore,
    evidence: &Evidence,
    prefix: &str,
    instance: &Instance,
) -> Result<Option<FoundChain>, Failure> {
    // Keys name their period's end, so they sort oldest first.
    let keys = store.list_keys(&digest_prefix(prefix, &instance.resource_id.0)).await?;
    let (Some(oldest), Some(newest)) = (keys.first(), keys.last()) else { return Ok(None) };
    let location = store.location(newest);
    let broken = |why: String| {
        Failure::data_loss(format!(
            "digest {location} {why}: this instance's checkpoint has no digest ledger, so its chain would go on \
             from there; it was left untouched, and no digest is sealed until it is looked into (`auditship \
             verify --report` shows the chain)"
        ))
    };
    let read = |key: &str| {
        let key = key.to_string();
        async move {
            let record = store.get_record(&key).await?;
            let parsed = record.as_ref().map(|r| Digest::parse(&r.body));
            Ok::<_, Failure>((record, parsed))
        }
    };
    let (Some(record), Some(parsed)) = read(newest).await? else {
        return Err(Failure::transient(format!("digest {location} was listed and is gone; the next run looks again")));
    };
    let head = parsed.map_err(|e| broken(format!("is not an auditship digest ({e})")))?;
    let link = stored_link(newest, &head, &record).ok_or_else(|| broken("has no signature".into()))?;
    let ours = head.key == *newest && head.bucket == store.bucket() && head.dbi_resource_id == instance.resource_id.0;
    if !signed_by_chain_key(evidence, &head, &link) || !ours {
        return Err(broken(format!(
            "is not a digest of this instance signed by this chain's key ({})",
            evidence.signer.facts().key
        )));
    }
    let since = match head.chain_since {
        Some(since) => since,
        // A digest from before digests recorded it: the first period's start.
        None => match read(oldest).await? {
            (_, Some(Ok(first))) => first.period_start,
            _ => head.period_start,
        },
    };
    let period_seconds = (head.period_end - head.period_start).num_seconds().max(1) as u64;
    Ok(Some(FoundChain { since, period_seconds, head: link }))
}

/// The period after the chain's head; the chain's first period holds the
/// time digests began. After a change of period length the next period
/// still starts where the head ended (and is shorter once).
fn next_period(state: &Checkpoint, flag: Duration) -> Period {
    let ledger = &state.digests;
    let length = ledger.period_seconds.map_or(flag, Duration::from_secs);
    match &ledger.head {
        Some(head) => Period { start: head.period_end, end: Period::containing(head.period_end, length).end },
        None => Period::containing(ledger.since.expect("set before sealing"), length),
    }
}

/// The period's digest from the checkpoint's ledger.
fn build(
    state: &Checkpoint,
    instance: &Instance,
    bucket: &str,
    key: &str,
    period: Period,
    now: DateTime<Utc>,
    evidence: &Evidence,
) -> Digest {
    let ledger = &state.digests;
    let mut objects: Vec<Listed> = Vec::new();
    let mut blocked: Option<&str> = None;
    // Pending and relisted, one file's objects after another in offset
    // order (a key in both once).
    let mut awaiting: Vec<&Listed> = ledger.awaiting().collect();
    awaiting.sort();
    awaiting.dedup_by(|a, b| a.key == b.key);
    for l in awaiting {
        if blocked == Some(l.file_id.as_str()) {
            continue;
        }
        // A landing time ahead of this clock (another writer's clock runs
        // ahead) cannot be placed: it goes into the first digest sealed,
        // rather than holding the file's objects back until then.
        let landed = if l.landed_at > now { period.start } else { l.landed_at };
        if landed >= period.end {
            // Later objects of this file wait too: each digest lists a
            // file's objects in order.
            blocked = Some(&l.file_id);
            continue;
        }
        objects.push(l.clone());
    }
    let mut files: Vec<FileFacts> = Vec::new();
    for l in &objects {
        match files.last_mut() {
            Some(f) if f.file_id == l.file_id => {
                f.listed_to = f.listed_to.max(l.end);
                f.source_file.clone_from(&l.source_file);
                f.first_record = earliest(f.first_record, l.first_record);
                f.last_record = latest(f.last_record, l.last_record);
            }
            _ => files.push(FileFacts {
                file_id: l.file_id.clone(),
                source_file: l.source_file.clone(),
                listed_to: l.end,
                final_size: None,
                state: FileStateFact::Growing,
                first_record: l.first_record,
                last_record: l.last_record,
            }),
        }
    }
    for f in &mut files {
        if let Some(p) = state.files.get(&FileId(f.file_id.clone())) {
            if p.complete() && f.listed_to == p.last_size {
                f.final_size = Some(p.last_size);
            }
            if p.closed {
                f.state = FileStateFact::Closed;
            }
        }
    }
    files.extend(closed_since_listed(state, &files));
    let losses = state
        .gaps
        .iter()
        .filter(|g| g.detected_at >= period.start && g.detected_at < period.end)
        .map(|g| LossFacts {
            file_id: g.file_id.0.clone(),
            source_file: g.last_name.clone(),
            shipped: g.shipped,
            last_size: g.last_size,
            growing: g.growing,
            detected_at: g.detected_at,
            detected_by: g.detected_by.as_ref().map(|r| r.0.clone()),
        })
        .collect();
    let mut digest = Digest {
        format: DIGEST_FORMAT.into(),
        dbi_resource_id: instance.resource_id.0.clone(),
        instance_id: instance.id.0.clone(),
        bucket: bucket.to_string(),
        key: key.to_string(),
        period_start: period.start,
        period_end: period.end,
        chain_since: ledger.since,
        previous: ledger.head.clone(),
        objects,
        files,
        losses,
        signing: evidence.signer.facts().clone(),
    };
    digest.normalize();
    digest
}

/// Files that rotated after a digest listed their last object: listed to
/// their end but with no final size recorded, so this digest records it.
fn closed_since_listed(state: &Checkpoint, listing: &[FileFacts]) -> Vec<FileFacts> {
    let ledger = &state.digests;
    state
        .files
        .iter()
        .filter(|(id, p)| p.complete() && !ledger.sized.contains(*id) && !listing.iter().any(|f| f.file_id == id.0))
        .filter(|(id, p)| ledger.listed_to.get(*id) == Some(&p.last_size))
        .map(|(id, p)| FileFacts {
            file_id: id.0.clone(),
            source_file: p.last_name.clone(),
            listed_to: p.last_size,
            final_size: Some(p.last_size),
            state: FileStateFact::Closed,
            first_record: None,
            last_record: None,
        })
        .collect()
}

/// The earlier of two record times, where either is known.
pub(crate) fn earliest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.into_iter().chain(b).min()
}

pub(crate) fn latest(a: Option<DateTime<Utc>>, b: Option<DateTime<Utc>>) -> Option<DateTime<Utc>> {
    a.into_iter().chain(b).max()
}

/// Signs and creates the digest; if the period's digest exists already,
/// adopts that one. Returns the digest stored, its link, and whether this
/// run created it.
async fn write(store: &dyn ObjectStore, evidence: &Evidence, digest: Digest) -> Result<(Digest, Link, bool), Failure> {
    let body = digest.to_bytes();
    let sha256 = sha256_hex(&body);
    let message = signing_string(digest.period_end, &digest.bucket, &digest.key, &sha256, digest.previous.as_ref());
    let signature = hex::encode(evidence.signer.sign(message.as_bytes()).await?);
    let metadata = HashMap::from([
        (SIGNATURE.to_string(), signature.clone()),
        (SIGNATURE_ALGORITHM.to_string(), digest.signing.algorithm.clone()),
        (SIGNING_KEY.to_string(), digest.signing.key.clone()),
        ("dbi-resource-id".to_string(), digest.dbi_resource_id.clone()),
        ("period-end".to_string(), rfc3339(digest.period_end)),
    ]);
    let record = Record { body, content_type: "application/json".into(), metadata };
    match store.create_record(&digest.key, &record).await? {
        Created::Yes => {
            let link = Link { key: digest.key.clone(), period_end: digest.period_end, sha256, signature };
            Ok((digest, link, true))
        }
        Created::AlreadyExists => {
            let (theirs, link) = adopt(store, evidence, &digest).await?;
            Ok((theirs, link, false))
        }
    }
}

/// The digest another run stored for the period, if it continues the same
/// chain; anything else there is a broken chain, for a person.
async fn adopt(store: &dyn ObjectStore, evidence: &Evidence, ours: &Digest) -> Result<(Digest, Link), Failure> {
    let location = store.location(&ours.key);
    let broken = |why: String| {
        Failure::data_loss(format!(
            "digest {location} {why}: it was left untouched, and this instance's chain stops here until it is \
             looked into; `auditship verify --report` shows the chain"
        ))
    };
    let Some(record) = store.get_record(&ours.key).await? else {
        return Err(Failure::transient(format!(
            "digest {location} was there when this run tried to create it and gone when it read it; the next run \
             seals the period"
        )));
    };
    let theirs = Digest::parse(&record.body).map_err(|e| broken(format!("is not an auditship digest ({e})")))?;
    if theirs.previous != ours.previous
        || theirs.period_start != ours.period_start
        || theirs.period_end != ours.period_end
        || theirs.dbi_resource_id != ours.dbi_resource_id
    {
        let said = theirs.previous.as_ref().map_or("none".to_string(), |p| p.key.clone());
        let ours_previous = ours.previous.as_ref().map_or("none".to_string(), |p| p.key.clone());
        return Err(broken(format!(
            "does not continue this instance's chain (its previous digest is {said}, the chain's head is \
             {ours_previous})"
        )));
    }
    let link = stored_link(&ours.key, &theirs, &record).ok_or_else(|| broken("has no signature".into()))?;
    // Only a digest this chain's key signed is adopted: one written by
    // anyone else would mark objects as listed that no signed digest lists.
    let signed = theirs.signing == ours.signing && signed_by_chain_key(evidence, &theirs, &link);
    if !signed || theirs.bucket != ours.bucket || theirs.key != ours.key {
        return Err(broken(format!("is not signed by this chain's key ({})", ours.signing.key)));
    }
    Ok((theirs, link))
}

/// The link the next digest holds to a digest stored at `key`: its sha256
/// and the signature in its metadata (`None` without one).
fn stored_link(key: &str, digest: &Digest, record: &Record) -> Option<Link> {
    let signature = record.metadata.get(SIGNATURE).cloned()?;
    Some(Link { key: key.to_string(), period_end: digest.period_end, sha256: sha256_hex(&record.body), signature })
}

/// Whether a stored digest's signature (in `link`) verifies with this
/// chain's key, over the signing string of the key it is stored at.
fn signed_by_chain_key(evidence: &Evidence, digest: &Digest, link: &Link) -> bool {
    let message = signing_string(digest.period_end, &digest.bucket, &link.key, &link.sha256, digest.previous.as_ref());
    hex::decode(&link.signature)
        .ok()
        .is_some_and(|sig| evidence.signer.public().verify(&digest.signing.algorithm, message.as_bytes(), &sig))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::evidence::chain::{check_chain, StoredDigest};
    use crate::evidence::signing::{Ed25519File, PublicKey};
    use crate::evidence::Clock;
    use crate::sim::store::MemStore;
    use chrono::{DateTime, Utc};
    use std::sync::Arc;

    struct Fixed(DateTime<Utc>);
    impl Clock for Fixed {
        fn now(&self) -> DateTime<Utc> {
            self.0
        }
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn evidence(now: &str) -> (Evidence, PublicKey) {
        let signer = Ed25519File::from_pkcs8(&Ed25519File::generate_pkcs8()).unwrap();
        let public = signer.public_key();
        (
            Evidence { signer: Arc::new(signer), period: Duration::from_secs(3600), clock: Arc::new(Fixed(at(now))) },
            public,
        )
    }

    fn listed(start: u64, end: u64, landed: &str) -> Listed {
        Listed {
            file_id: "20261202T090000Z-0000abcd".into(),
            start,
            end,
            key: format!("p/standalone/db-1/dt=2026-12-02/20261202T090000Z-0000abcd/{start:020}.log.gz"),
            sha256: "00".repeat(32),
            lines: 1,
            source_file: "audit/server_audit.log".into(),
            landed_at: at(landed),
            first_record: Some(at("2026-12-02T09:00:00Z") + chrono::Duration::seconds(start as i64)),
            last_record: Some(at("2026-12-02T09:00:00Z") + chrono::Duration::seconds(end as i64)),
        }
    }

    fn checkpoint(since: &str, pending: Vec<Listed>) -> StoredCheckpoint {
        let mut state = Checkpoint::empty(&Instance::for_tests("db-R"));
        state.digests.since = Some(at(since));
        for l in pending {
            state.digests.record(l);
        }
        StoredCheckpoint { key: "p/_state/db-R.json".into(), etag: None, state }
    }

    fn stored(store: &MemStore) -> Vec<StoredDigest> {
        let bucket = store.bucket.lock().unwrap();
        bucket
            .objects
            .iter()
            .filter(|(k, _)| k.contains("/_digests/"))
            .map(|(k, o)| StoredDigest {
                key: k.clone(),
                record: Record {
                    body: o.body.clone(),
                    content_type: "application/json".into(),
                    metadata: o.metadata.clone(),
                },
            })
            .collect()
    }

    #[tokio::test]
    async fn every_ended_period_is_sealed_in_order_with_what_landed_before_its_end() {
        let store = MemStore::new();
        let (evidence, public) = evidence("2026-12-02T12:30:00Z");
        let instance = Instance::for_tests("db-R");
        let mut cp = checkpoint(
            "2026-12-02T09:10:00Z",
            vec![
                listed(0, 10, "2026-12-02T09:20:00Z"),
                listed(10, 20, "2026-12-02T11:05:00Z"),
                listed(20, 30, "2026-12-02T12:10:00Z"),
            ],
        );
        let sealed = seal_due(&store, &evidence, "p", &instance, &mut cp).await.unwrap();
        assert_eq!(sealed, Sealed { created: 3, adopted: 0, behind: false }, "09, 10 and 11 o'clock; 12 has not ended");
        let digests = stored(&store);
        let report = check_chain("sim", &digests, &public, cp.state.digests.head.as_ref());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        let lists: Vec<Vec<u64>> = digests
            .iter()
            .map(|d| Digest::parse(&d.record.body).unwrap().objects.iter().map(|o| o.start).collect())
            .collect();
        assert_eq!(lists, vec![vec![0], vec![], vec![10]], "an empty period has its digest too");
        assert_eq!(cp.state.digests.pending.len(), 1, "the object that landed at 12:10 waits for 12 o'clock's digest");
        assert_eq!(cp.state.digests.head.as_ref().unwrap().period_end, at("2026-12-02T12:00:00Z"));
    }

    #[tokio::test]
    async fn a_period_another_run_sealed_is_adopted_and_what_it_lacks_rolls_on() {
        let store = MemStore::new();
        let (evidence, public) = evidence("2026-12-02T10:30:00Z");
        let instance = Instance::for_tests("db-R");
        let mut theirs = checkpoint("2026-12-02T09:10:00Z", vec![listed(0, 10, "2026-12-02T09:20:00Z")]);
        seal_due(&store, &evidence, "p", &instance, &mut theirs).await.unwrap();
        // This run recorded one more object of the period, and its
        // checkpoint has not seen the other run's seal.
        let mut ours = checkpoint(
            "2026-12-02T09:10:00Z",
            vec![listed(0, 10, "2026-12-02T09:20:00Z"), listed(10, 20, "2026-12-02T09:50:00Z")],
        );
        ours.state.digests.head = None;
        let store_ours = store.clone();
        let sealed = seal_due(&store_ours, &evidence, "p", &instance, &mut ours).await.unwrap();
        assert_eq!(sealed.adopted, 1, "{sealed:?}");
        assert_eq!(ours.state.digests.pending.iter().map(|l| l.start).collect::<Vec<_>>(), vec![10]);
        assert_eq!(stored(&store).len(), 1, "one digest for the period, whoever wrote it");
        let later = evidence_at(&evidence, "2026-12-02T11:30:00Z");
        seal_due(&store, &later, "p", &instance, &mut ours).await.unwrap();
        let report = check_chain("sim", &stored(&store), &public, ours.state.digests.head.as_ref());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(report.objects.iter().map(|l| l.start).collect::<Vec<_>>(), vec![0, 10]);
    }

    #[tokio::test]
    async fn a_digest_that_does_not_continue_the_chain_is_left_alone_and_is_a_data_loss() {
        let store = MemStore::new();
        let (evidence, _) = evidence("2026-12-02T11:30:00Z");
        let instance = Instance::for_tests("db-R");
        let mut cp = checkpoint("2026-12-02T09:10:00Z", vec![]);
        seal_due(&store, &evidence, "p", &instance, &mut cp).await.unwrap();
        // Someone replaces the newest digest's predecessor link: the next
        // run's period finds a digest there that forks the chain.
        let key = digest_key("p", "db-R", at("2026-12-02T12:00:00Z"));
        let mut forged = Digest::parse(&stored(&store)[0].record.body).unwrap();
        forged.key = key.clone();
        forged.period_start = at("2026-12-02T11:00:00Z");
        forged.period_end = at("2026-12-02T12:00:00Z");
        let record =
            Record { body: forged.to_bytes(), content_type: "application/json".into(), metadata: Default::default() };
        store.create_record(&key, &record).await.unwrap();
        let later = evidence_at(&evidence, "2026-12-02T12:30:00Z");
        let err = seal_due(&store, &later, "p", &instance, &mut cp).await.unwrap_err();
        assert_eq!(err.kind, crate::error::FailureKind::DataLoss);
        assert!(err.message.contains(&key) && err.message.contains("does not continue"), "{}", err.message);
        assert_eq!(stored(&store).iter().find(|d| d.key == key).unwrap().record, record, "left untouched");
    }

    #[tokio::test]
    async fn a_digest_signed_by_another_key_is_not_adopted() {
        let store = MemStore::new();
        let (forger, _) = evidence("2026-12-02T10:30:00Z");
        let (evidence, _) = evidence("2026-12-02T10:30:00Z");
        let instance = Instance::for_tests("db-R");
        // The forger seals the period first, listing an object far beyond
        // anything shipped (which would mark every real one as listed).
        let mut forged = checkpoint("2026-12-02T09:10:00Z", vec![listed(0, 1 << 40, "2026-12-02T09:20:00Z")]);
        seal_due(&store, &forger, "p", &instance, &mut forged).await.unwrap();
        let mut ours = checkpoint("2026-12-02T09:10:00Z", vec![listed(0, 10, "2026-12-02T09:20:00Z")]);
        let err = seal_due(&store, &evidence, "p", &instance, &mut ours).await.unwrap_err();
        assert_eq!(err.kind, crate::error::FailureKind::DataLoss);
        assert!(err.message.contains("not signed by this chain's key"), "{}", err.message);
        assert_eq!(ours.state.digests.pending.len(), 1, "nothing is taken as listed");
    }

    #[tokio::test]
    async fn a_ledger_lost_with_its_checkpoint_goes_on_from_the_newest_digest() {
        let store = MemStore::new();
        let (evidence, public) = evidence("2026-12-02T11:30:00Z");
        let instance = Instance::for_tests("db-R");
        let mut cp = checkpoint("2026-12-02T09:10:00Z", vec![listed(0, 10, "2026-12-02T09:20:00Z")]);
        seal_due(&store, &evidence, "p", &instance, &mut cp).await.unwrap();
        // The checkpoint is deleted: the next run has no ledger, and records
        // again the object it finds already there, and a new one.
        let mut fresh = checkpoint(
            "2026-12-02T09:10:00Z",
            vec![listed(0, 10, "2026-12-02T12:40:00Z"), listed(10, 20, "2026-12-02T12:45:00Z")],
        );
        fresh.state.digests.since = None;
        let later = evidence_at(&evidence, "2026-12-02T13:30:00Z");
        seal_due(&store, &later, "p", &instance, &mut fresh).await.unwrap();
        let digests = stored(&store);
        assert_eq!(digests.len(), 4, "09, 10, 11 and 12 o'clock, one chain");
        let report = check_chain("sim", &digests, &public, fresh.state.digests.head.as_ref());
        assert!(report.problems.is_empty(), "{:?}", report.problems);
        assert_eq!(fresh.state.digests.since, Some(at("2026-12-02T09:10:00Z")), "as the digests recorded it");
        assert_eq!(report.objects.iter().map(|l| l.start).collect::<Vec<_>>(), vec![0, 10], "listed twice, once here");
    }

    #[tokio::test]
    async fn a_lost_ledger_does_not_go_on_from_a_digest_another_key_signed() {
        let store = MemStore::new();
        let (forger, _) = evidence("2026-12-02T10:30:00Z");
        let (evidence, _) = evidence("2026-12-02T10:30:00Z");
        let instance = Instance::for_tests("db-R");
        let mut forged = checkpoint("2026-12-02T09:10:00Z", vec![listed(0, 1 << 40, "2026-12-02T09:20:00Z")]);
        seal_due(&store, &forger, "p", &instance, &mut forged).await.unwrap();
        let mut ours = checkpoint("2026-12-02T09:10:00Z", vec![listed(0, 10, "2026-12-02T10:20:00Z")]);
        ours.state.digests.since = None;
        let later = evidence_at(&evidence, "2026-12-02T11:30:00Z");
        let err = seal_due(&store, &later, "p", &instance, &mut ours).await.unwrap_err();
        assert_eq!(err.kind, crate::error::FailureKind::DataLoss);
        assert!(err.message.contains("signed by this chain's key"), "{}", err.message);
        assert_eq!(stored(&store).len(), 1, "nothing sealed after it");
    }

    #[tokio::test]
    async fn a_chain_keeps_the_period_it_began_with() {
        let store = MemStore::new();
        let (hourly, public) = evidence("2026-12-02T09:30:00Z");
        let instance = Instance::for_tests("db-R");
        let mut cp = checkpoint("2026-12-02T09:10:00Z", vec![]);
        cp.state.digests.since = None;
        seal_due(&store, &hourly, "p", &instance, &mut cp).await.unwrap();
        let quarter = Evidence { period: Duration::from_secs(900), ..evidence_at(&hourly, "2026-12-02T11:20:00Z") };
        seal_due(&store, &quarter, "p", &instance, &mut cp).await.unwrap();
        let keys: Vec<String> = stored(&store).into_iter().map(|d| d.key).collect();
        assert_eq!(keys.len(), 2, "{keys:?}");
        assert!(keys.iter().all(|k| k.ends_with("0000Z.json")), "hourly periods only: {keys:?}");
        assert!(check_chain("sim", &stored(&store), &public, cp.state.digests.head.as_ref()).problems.is_empty());
    }

    /// The usual end of a file: shipped to its end while still active,
    /// then seen rotated with nothing more. The digest that lists its end
    /// cannot know its final size; the next one records it, once, with
    /// the objects' record times and its state.
    #[tokio::test]
    async fn a_file_rotated_after_its_end_was_listed_gets_its_final_size_in_the_next_digest() {
        let store = MemStore::new();
        let (evidence, public) = evidence("2026-12-02T10:30:00Z");
        let instance = Instance::for_tests("db-R");
        let mut cp = checkpoint("2026-12-02T09:10:00Z", vec![listed(0, 10, "2026-12-02T09:20:00Z")]);
        let id = FileId("20261202T090000Z-0000abcd".into());
        let progress = |closed: bool| crate::checkpoint::FileProgress {
            fingerprint: String::new(),
            shipped: 10,
            tail_sha256: String::new(),
            last_name: "audit/server_audit.log.1".into(),
            last_size: 10,
            last_written_ms: 1,
            closed,
            identity: None,
        };
        cp.state.files.insert(id.clone(), progress(false));
        seal_due(&store, &evidence, "p", &instance, &mut cp).await.unwrap();
        let file = |cp: &StoredCheckpoint| {
            let bytes = store.bucket.lock().unwrap().objects[&cp.state.digests.head.as_ref().unwrap().key].body.clone();
            Digest::parse(&bytes).unwrap().files
        };
        let first = file(&cp);
        assert_eq!(first.len(), 1);
        assert_eq!((first[0].final_size, first[0].state), (None, FileStateFact::Growing), "still active when listed");
        assert_eq!(first[0].first_record, Some(at("2026-12-02T09:00:00Z")));
        assert_eq!(first[0].last_record, Some(at("2026-12-02T09:00:10Z")));
        assert!(!cp.state.digests.done_with(&id, 10), "kept tracked until its size is recorded");

        cp.state.files.insert(id.clone(), progress(true));
        seal_due(&store, &evidence_at(&evidence, "2026-12-02T11:30:00Z"), "p", &instance, &mut cp).await.unwrap();
        let second = file(&cp);
        assert_eq!(second.len(), 1, "no objects, only the file's end");
        assert_eq!((second[0].final_size, second[0].state), (Some(10), FileStateFact::Closed));
        assert_eq!(second[0].source_file, "audit/server_audit.log.1");
        assert!(cp.state.digests.done_with(&id, 10));
        let shipped_before_the_chain = FileId("20261202T080000Z-0000ffff".into());
        assert!(cp.state.digests.done_with(&shipped_before_the_chain, 10), "no digest will record it");

        seal_due(&store, &evidence_at(&evidence, "2026-12-02T12:30:00Z"), "p", &instance, &mut cp).await.unwrap();
        assert!(file(&cp).is_empty(), "recorded once");
        assert!(check_chain("sim", &stored(&store), &public, cp.state.digests.head.as_ref()).problems.is_empty());
    }

    fn evidence_at(e: &Evidence, now: &str) -> Evidence {
        Evidence { clock: Arc::new(Fixed(at(now))), ..e.clone() }
    }
}
