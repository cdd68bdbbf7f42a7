//! Checking a chain of digests with the public key alone: each digest's
//! signature, each link to the one before (its key, the sha256 of its
//! bytes, its signature), the periods following one another without a
//! hole, and the newest digest against the head the checkpoint recorded
//! (so a deleted newest digest is named too). Pure: the caller fetches.

use super::digest::{signing_string, Digest, FileStateFact, Link, Listed, LossFacts};
use super::seal::SIGNATURE;
use super::signing::PublicKey;
use crate::compress::sha256_hex;
use crate::store::Record;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

/// A digest as stored: its key and what S3 returned for it.
#[derive(Debug, Clone)]
pub struct StoredDigest {
    pub key: String,
    pub record: Record,
}

/// One thing wrong with a chain of digests.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "problem", rename_all = "snake_case")]
pub enum ChainProblem {
    /// Not an auditship digest, or not the one its key names.
    Unreadable { key: String, why: String },
    /// Its signature does not verify with the public key given.
    BadSignature { key: String, why: String },
    /// Its bytes are not what the digest after it recorded.
    Altered { key: String, why: String },
    /// A digest the chain needs is not there.
    Missing { key: String, why: String },
}

impl fmt::Display for ChainProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ChainProblem::Unreadable { key, why } => write!(f, "digest {key} is unreadable: {why}"),
            ChainProblem::BadSignature { key, why } => write!(f, "digest {key}: bad signature: {why}"),
            ChainProblem::Altered { key, why } => write!(f, "digest {key} was altered: {why}"),
            ChainProblem::Missing { key, why } => write!(f, "digest {key} is missing: {why}"),
        }
    }
}

/// What a chain holds, and what is wrong with it.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ChainReport {
    pub digests: usize,
    pub first_period_start: Option<DateTime<Utc>>,
    /// When the chain began, as its first digest that records it says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub since: Option<DateTime<Utc>>,
    pub last_period_end: Option<DateTime<Utc>>,
    /// The keys that signed the digests (algorithm and key as recorded).
    pub signed_by: Vec<String>,
    /// Every object the chain's digests list, by file id and start.
    #[serde(skip)]
    pub objects: Vec<Listed>,
    /// Per file: its final size, where a digest recorded one.
    #[serde(skip)]
    pub final_sizes: BTreeMap<String, u64>,
    /// Per listed object (by key): the periods of the digests listing it
    /// (more than one once a backfill or a lost ledger listed it again).
    #[serde(skip)]
    pub listed_in: BTreeMap<String, Vec<(DateTime<Utc>, DateTime<Utc>)>>,
    /// Per file: whether a digest recorded it rotated.
    #[serde(skip)]
    pub closed: BTreeSet<String>,
    #[serde(skip)]
    pub losses: Vec<LossFacts>,
    pub problems: Vec<ChainProblem>,
}

/// Checks the digests of one instance (any order; those that are not
/// digests are named). `head`: the chain's newest digest as the checkpoint
/// recorded it, if known.
pub fn check_chain(bucket: &str, digests: &[StoredDigest], public: &PublicKey, head: Option<&Link>) -> ChainReport {
    let mut report = ChainReport::default();
    let mut chain: Vec<(&StoredDigest, Digest, Link)> = Vec::new();
    for stored in digests {
        match read(bucket, stored) {
            Ok((digest, link)) => chain.push((stored, digest, link)),
            Err(why) => report.problems.push(ChainProblem::Unreadable { key: stored.key.clone(), why }),
        }
    }
    chain.sort_by_key(|(_, d, _)| d.period_end);
    for (i, (stored, digest, link)) in chain.iter().enumerate() {
        if let Err(why) = check_signature(bucket, stored, digest, link, public) {
            report.problems.push(ChainProblem::BadSignature { key: stored.key.clone(), why });
        }
        match (i.checked_sub(1).map(|p| &chain[p]), &digest.previous) {
            (Some((_, before, before_link)), Some(named)) => {
                report.problems.extend(check_link(before, before_link, digest, named));
            }
            (Some((_, before, _)), None) => report.problems.push(ChainProblem::Altered {
                key: stored.key.clone(),
                why: format!("it begins a new chain, but {} comes before it", before.key),
            }),
            (None, Some(named)) => report.problems.push(ChainProblem::Missing {
                key: named.key.clone(),
                why: format!("{} names it as the digest before it", stored.key),
            }),
            (None, None) => {}
        }
        let signer = format!("{} {}", digest.signing.algorithm, digest.signing.key);
        if !report.signed_by.contains(&signer) {
            report.signed_by.push(signer);
        }
        report.objects.extend(digest.objects.iter().cloned());
        let period = (digest.period_start, digest.period_end);
        for l in &digest.objects {
            report.listed_in.entry(l.key.clone()).or_default().push(period);
        }
        for f in &digest.files {
            if let Some(size) = f.final_size {
                report.final_sizes.insert(f.file_id.clone(), size);
            }
            if f.state == FileStateFact::Closed {
                report.closed.insert(f.file_id.clone());
            }
        }
        report.losses.extend(digest.losses.iter().cloned());
    }
    if let Some(head) = head {
        report.problems.extend(check_head(&chain, head));
    }
    report.digests = chain.len();
    report.first_period_start = chain.first().map(|(_, d, _)| d.period_start);
    report.since = chain.iter().find_map(|(_, d, _)| d.chain_since);
    report.last_period_end = chain.last().map(|(_, d, _)| d.period_end);
    report.objects.sort();
    // A ledger lost with its checkpoint, and a backfill, list objects again
    // in later digests: one listing of the same bytes is checked once, one
    // of other bytes (the object deleted and put back cut otherwise) too.
    report.objects.dedup_by(|a, b| (&a.key, a.start, a.end, &a.sha256) == (&b.key, b.start, b.end, &b.sha256));
    report
}

/// The digest in a stored record, with the link the next digest should
/// hold to it.
fn read(bucket: &str, stored: &StoredDigest) -> Result<(Digest, Link), String> {
    let digest = Digest::parse(&stored.record.body)?;
    if digest.key != stored.key || digest.bucket != bucket {
        return Err(format!("it says it is s3://{}/{}", digest.bucket, digest.key));
    }
    let signature = stored.record.metadata.get(SIGNATURE).cloned().ok_or("it has no signature metadata")?;
    let link = Link {
        key: stored.key.clone(),
        period_end: digest.period_end,
        sha256: sha256_hex(&stored.record.body),
        signature,
    };
    Ok((digest, link))
}

fn check_signature(
    bucket: &str,
    stored: &StoredDigest,
    digest: &Digest,
    link: &Link,
    public: &PublicKey,
) -> Result<(), String> {
    let signature = hex::decode(&link.signature).map_err(|_| "its signature is not hex".to_string())?;
    let message = signing_string(digest.period_end, bucket, &stored.key, &link.sha256, digest.previous.as_ref());
    if public.verify(&digest.signing.algorithm, message.as_bytes(), &signature) {
        return Ok(());
    }
    let by = if digest.signing.key == public.fingerprint() {
        "the key it names".to_string()
    } else {
        format!("{} (it names {})", public.fingerprint(), digest.signing.key)
    };
    Err(format!("its {} signature does not verify with {by}", digest.signing.algorithm))
}

/// What is wrong between a digest and the one before it.
fn check_link(before: &Digest, before_link: &Link, digest: &Digest, named: &Link) -> Vec<ChainProblem> {
    let mut problems = Vec::new();
    if named.key != before.key {
        problems.push(ChainProblem::Missing {
            key: named.key.clone(),
            why: format!("{} names it as the digest before it", digest.key),
        });
        return problems;
    }
    if named.sha256 != before_link.sha256 {
        problems.push(ChainProblem::Altered {
            key: before.key.clone(),
            why: format!("its sha256 is {}, but {} recorded {}", before_link.sha256, digest.key, named.sha256),
        });
    }
    if named.signature != before_link.signature {
        problems.push(ChainProblem::Altered {
            key: before.key.clone(),
            why: format!("its signature is not the one {} recorded (re-signed)", digest.key),
        });
    }
    if digest.period_start != before.period_end {
        problems.push(ChainProblem::Altered {
            key: digest.key.clone(),
            why: format!("its period starts at {}, the one before ends at {}", digest.period_start, before.period_end),
        });
    }
    problems
}

/// The chain's newest digest must be the one the checkpoint recorded.
fn check_head(chain: &[(&StoredDigest, Digest, Link)], head: &Link) -> Vec<ChainProblem> {
    match chain.iter().find(|(s, _, _)| s.key == head.key) {
        None => vec![ChainProblem::Missing {
            key: head.key.clone(),
            why: "the checkpoint records it as the chain's newest digest".into(),
        }],
        Some((_, _, link)) if link.sha256 != head.sha256 || link.signature != head.signature => {
            vec![ChainProblem::Altered {
                key: head.key.clone(),
                why: "it is not the digest the checkpoint recorded as the chain's newest".into(),
            }]
        }
        Some(_) => Vec::new(),
    }
}
