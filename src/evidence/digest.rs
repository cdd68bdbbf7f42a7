//! Digest: the record of what landed for one instance in one period, in a
//! layout that does not depend on who writes it. Pure: building a digest
//! from the same entries gives the same bytes, so two runs that seal the
//! same period agree, and the bytes are what the signature covers.
//!
//! The layout and the signing string are documented in `docs/digests.md`;
//! anything changed here changes what an auditor's own tools check.

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What the `format` field of every digest this version writes says.
pub const DIGEST_FORMAT: &str = "auditship-digest/1";

/// An object as a digest lists it: recorded when S3 confirmed it (created
/// by this run, or found already there with the same bytes).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Listed {
    pub file_id: String,
    pub start: u64,
    pub end: u64,
    pub key: String,
    /// Hex sha256 of the object's uncompressed bytes (the file's bytes
    /// `start..end`).
    pub sha256: String,
    pub lines: u64,
    /// The file's name on the instance when the object was made.
    pub source_file: String,
    /// When a run saw S3 confirm the object.
    pub landed_at: DateTime<Utc>,
    /// The earliest and latest record time among its lines (records are
    /// not in time order within a file); absent where no line has one, or
    /// the object was made before this was recorded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_record: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_record: Option<DateTime<Utc>>,
}

/// A file a digest lists objects of, with what was known of it at sealing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileFacts {
    pub file_id: String,
    pub source_file: String,
    /// The end of the file's last listed object: in this digest, or for a
    /// file listed only to record its final size, in the digests before.
    pub listed_to: u64,
    /// The file's final size, once it is rotated (closed) and this digest
    /// lists its last object.
    pub final_size: Option<u64>,
    /// `closed` once the instance rotated it (nothing more is written to
    /// it), else `growing`.
    #[serde(default)]
    pub state: FileStateFact,
    /// The earliest and latest record time among the objects of the file
    /// this digest lists.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_record: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_record: Option<DateTime<Utc>>,
}

/// Whether a file is still being written, as a digest records it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FileStateFact {
    #[default]
    Growing,
    Closed,
}

/// A loss recorded (and reported, exit 3) in the period: the evidence that
/// bytes are missing because they were gone before they could be shipped.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LossFacts {
    pub file_id: String,
    pub source_file: String,
    /// Bytes `[0, shipped)` are in objects.
    pub shipped: u64,
    /// The file's size when it was last listed.
    pub last_size: u64,
    /// Still being written when last seen: more than `last_size - shipped`
    /// bytes may be lost.
    pub growing: bool,
    pub detected_at: DateTime<Utc>,
    /// The run that detected it (its "run started" log line names it), and
    /// whose exit 3 paged for it unless it was killed first (then the next
    /// run's did). Absent in digests made before runs had ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub detected_by: Option<String>,
}

/// The previous digest of the chain, as the next one names it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Link {
    pub key: String,
    pub period_end: DateTime<Utc>,
    /// Hex sha256 of the previous digest's bytes.
    pub sha256: String,
    /// Hex of the previous digest's signature.
    pub signature: String,
}

/// Which key signs the digest, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SigningFacts {
    /// `ED25519`, `ECDSA_SHA_256`, `RSASSA_PKCS1_V1_5_SHA_256`.
    pub algorithm: String,
    /// A KMS key ARN, or `sha256:<hex>` of a local key's public key (DER
    /// SubjectPublicKeyInfo).
    pub key: String,
}

/// One period's digest for one instance (by resource id).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Digest {
    pub format: String,
    pub dbi_resource_id: String,
    pub instance_id: String,
    pub bucket: String,
    pub key: String,
    pub period_start: DateTime<Utc>,
    pub period_end: DateTime<Utc>,
    /// When the chain began: files that began before it may have objects
    /// no digest lists (shipped before digests were turned on). Signed
    /// here so that verify need not take it from the (unsigned)
    /// checkpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chain_since: Option<DateTime<Utc>>,
    /// `None` for the first digest of a chain.
    pub previous: Option<Link>,
    /// Sorted by file id, then start offset.
    pub objects: Vec<Listed>,
    /// Sorted by file id.
    pub files: Vec<FileFacts>,
    pub losses: Vec<LossFacts>,
    pub signing: SigningFacts,
}

impl Digest {
    /// The bytes stored and signed: the same digest always gives the same
    /// bytes (fields in a fixed order, lists sorted).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut body = serde_json::to_vec_pretty(self).expect("a digest serializes");
        body.push(b'\n');
        body
    }

    pub fn parse(bytes: &[u8]) -> Result<Digest, String> {
        let digest: Digest = serde_json::from_slice(bytes).map_err(|e| format!("not a digest: {e}"))?;
        if digest.format != DIGEST_FORMAT {
            return Err(format!("format '{}' is not {DIGEST_FORMAT}", digest.format));
        }
        Ok(digest)
    }

    /// Puts the lists in their one order.
    pub fn normalize(&mut self) {
        self.objects.sort();
        self.objects.dedup_by(|a, b| a.key == b.key);
        self.files.sort_by(|a, b| a.file_id.cmp(&b.file_id));
        self.losses.sort_by(|a, b| (&a.file_id, a.detected_at).cmp(&(&b.file_id, b.detected_at)));
    }
}

/// What is signed, CloudTrail's layout: the period's end, `bucket/key`, the
/// hex sha256 of the digest's bytes and the previous digest's signature in
/// hex (`null` for the first of a chain), one per line.
pub fn signing_string(
    period_end: DateTime<Utc>,
    bucket: &str,
    key: &str,
    body_sha256: &str,
    previous: Option<&Link>,
) -> String {
    format!(
        "{}\n{bucket}/{key}\n{body_sha256}\n{}",
        rfc3339(period_end),
        previous.map_or("null", |p| p.signature.as_str())
    )
}

/// `2026-12-02T15:00:00Z`.
pub fn rfc3339(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Secs, true)
}

/// A span of time digests are sealed for: `[start, end)`, aligned to whole
/// multiples of its length since the Unix epoch (so hourly periods start on
/// the hour, whoever computes them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Period {
    pub start: DateTime<Utc>,
    pub end: DateTime<Utc>,
}

impl Period {
    pub fn containing(t: DateTime<Utc>, length: Duration) -> Period {
        let len = length.as_secs().max(1) as i64;
        let start = t.timestamp().div_euclid(len) * len;
        Period::from_start(start, len)
    }

    /// The period right after this one.
    pub fn next(&self) -> Period {
        let len = (self.end - self.start).num_seconds();
        Period::from_start(self.end.timestamp(), len)
    }

    fn from_start(start: i64, len: i64) -> Period {
        let at = |s: i64| Utc.timestamp_opt(s, 0).single().expect("a period within chrono's range");
        Period { start: at(start), end: at(start + len) }
    }
}

/// A digest period's length from a flag: `1h`, `15m`, `30s` or seconds. It
/// must divide a day, so periods line up with dates.
pub fn parse_period(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (digits, unit) = match s.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => s.split_at(i),
        None => (s, "s"),
    };
    let n: u64 = digits.parse().map_err(|_| format!("'{s}' is not a period (examples: 1h, 15m, 60s)"))?;
    let secs = match unit {
        "s" => n,
        "m" => n * 60,
        "h" => n * 3600,
        _ => return Err(format!("'{s}' is not a period: the unit is s, m or h (examples: 1h, 15m, 60s)")),
    };
    if secs < 60 {
        return Err(format!(
            "digest period '{s}' is shorter than a minute: a run seals at most a few hundred periods (examples: 1h, \
             15m, 60s)"
        ));
    }
    if 86_400 % secs != 0 {
        return Err(format!("digest period '{s}' must divide a day evenly (examples: 1h, 15m, 60s, 24h)"));
    }
    Ok(Duration::from_secs(secs))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn periods_align_to_the_epoch_and_follow_one_another() {
        let p = Period::containing(at("2026-12-02T14:55:10Z"), Duration::from_secs(3600));
        assert_eq!((p.start, p.end), (at("2026-12-02T14:00:00Z"), at("2026-12-02T15:00:00Z")));
        assert_eq!(p.next().start, p.end);
        assert_eq!(p.next().end, at("2026-12-02T16:00:00Z"));
        let edge = Period::containing(at("2026-12-02T15:00:00Z"), Duration::from_secs(3600));
        assert_eq!(edge.start, at("2026-12-02T15:00:00Z"), "a period includes its start, not its end");
    }

    #[test]
    fn period_flags_must_divide_a_day() {
        assert_eq!(parse_period("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_period("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_period("60"), Ok(Duration::from_secs(60)));
        assert!(parse_period("30s").unwrap_err().contains("shorter than a minute"));
        assert!(parse_period("7m").unwrap_err().contains("divide a day"));
        assert!(parse_period("0s").is_err());
        assert!(parse_period("1d").unwrap_err().contains("unit"));
        assert!(parse_period("h").is_err());
    }

    #[test]
    fn the_signing_string_is_cloudtrails_layout() {
        let first = signing_string(at("2026-12-02T15:00:00Z"), "b", "p/_digests/x.json", "ab12", None);
        assert_eq!(first, "2026-12-02T15:00:00Z\nb/p/_digests/x.json\nab12\nnull");
        let link = Link {
            key: "k".into(),
            period_end: at("2026-12-02T14:00:00Z"),
            sha256: "00".into(),
            signature: "beef".into(),
        };
        assert!(signing_string(at("2026-12-02T15:00:00Z"), "b", "k2", "cd", Some(&link)).ends_with("\ncd\nbeef"));
    }

    #[test]
    fn the_same_digest_gives_the_same_bytes_whatever_order_it_was_built_in() {
        let listed = |file: &str, start: u64| Listed {
            file_id: file.into(),
            start,
            end: start + 10,
            key: format!("{file}/{start:020}.log.gz"),
            sha256: "00".into(),
            lines: 1,
            source_file: "audit.log".into(),
            landed_at: at("2026-12-02T14:10:00Z"),
            first_record: None,
            last_record: None,
        };
        let digest = |objects: Vec<Listed>| {
            let mut d = Digest {
                format: DIGEST_FORMAT.into(),
                dbi_resource_id: "db-R".into(),
                instance_id: "db-1".into(),
                bucket: "b".into(),
                key: "k".into(),
                period_start: at("2026-12-02T14:00:00Z"),
                period_end: at("2026-12-02T15:00:00Z"),
                chain_since: None,
                previous: None,
                objects,
                files: vec![],
                losses: vec![],
                signing: SigningFacts { algorithm: "ED25519".into(), key: "sha256:00".into() },
            };
            d.normalize();
            d
        };
        let a = digest(vec![listed("f1", 0), listed("f1", 10), listed("f2", 0)]);
        let b = digest(vec![listed("f2", 0), listed("f1", 10), listed("f1", 0), listed("f1", 10)]);
        assert_eq!(a.to_bytes(), b.to_bytes());
        assert_eq!(Digest::parse(&a.to_bytes()).unwrap(), a);
        let mut other = a.clone();
        other.format = "auditship-digest/9".into();
        assert!(Digest::parse(&other.to_bytes()).unwrap_err().contains("auditship-digest/9"));
    }
}
