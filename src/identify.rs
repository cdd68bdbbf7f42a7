//! Identify: a file is the fingerprint of its first line, never its name.
//!
//! MariaDB-plugin rotation renames every file (`server_audit.log` becomes
//! `.1`, `.1` becomes `.2`, …), so a name says nothing about which bytes it
//! holds. Written bytes never change, so the start of a file is a stable
//! identity for as long as the file exists.

use chrono::{DateTime, Datelike, NaiveDateTime, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::fmt;

/// At most this many leading bytes form a file's identity. A first line
/// longer than this is identified by its first `IDENTITY_PREFIX_MAX` bytes,
/// which are just as stable.
pub const IDENTITY_PREFIX_MAX: usize = 4096;

/// The leading bytes that identify a file: its first line including the
/// newline, or its first `IDENTITY_PREFIX_MAX` bytes, whichever is shorter.
/// Returns `None` while the file has neither (nothing stable to name it by
/// yet: it is skipped until it has).
pub fn identity_prefix(head: &[u8]) -> Option<&[u8]> {
    let window = &head[..head.len().min(IDENTITY_PREFIX_MAX)];
    match window.iter().position(|&b| b == b'\n') {
        Some(nl) => Some(&window[..=nl]),
        None if window.len() == IDENTITY_PREFIX_MAX => Some(window),
        None => None,
    }
}

/// A file's identity: the sha256 of its identity prefix and the time of its
/// first record. Displayed as the `file-id` used in object keys.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Fingerprint {
    /// Hex sha256 of the identity prefix.
    pub sha256: String,
    /// First record's timestamp, if the first line parses as an audit record.
    pub first_record: Option<DateTime<Utc>>,
}

impl Fingerprint {
    pub fn of_prefix(prefix: &[u8]) -> Self {
        Fingerprint { sha256: hex::encode(Sha256::digest(prefix)), first_record: first_record_time(prefix) }
    }

    /// The short, readable, sortable id used in keys and checkpoints:
    /// `20261121T223901Z-3f9a1c2b`. Files without a parsable first record
    /// sort first, under the epoch.
    pub fn file_id(&self) -> FileId {
        FileId::new(self.first_record.unwrap_or(DateTime::<Utc>::UNIX_EPOCH), &self.sha256)
    }
}

/// `20261121T223901Z-3f9a1c2b`: first-record time plus a short content hash.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct FileId(pub String);

impl fmt::Display for FileId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl FileId {
    /// `YYYYMMDDTHHMMSSZ-xxxxxxxx`: a time and the first 8 hex digits of a
    /// sha256. The one place the id format is written.
    pub fn new(at: DateTime<Utc>, sha256_hex: &str) -> FileId {
        FileId(format!("{}-{}", at.format("%Y%m%dT%H%M%SZ"), &sha256_hex[..8]))
    }

    /// `YYYYMMDDTHHMMSSZ-xxxxxxxx`, as `Fingerprint::file_id` makes them.
    /// Ids read from a checkpoint are checked against it: keys and
    /// partitions are cut out of them.
    pub fn is_well_formed(&self) -> bool {
        let b = self.0.as_bytes();
        b.len() == 25
            && b.iter().enumerate().all(|(i, &c)| match i {
                8 => c == b'T',
                15 => c == b'Z',
                16 => c == b'-',
                0..=14 => c.is_ascii_digit(),
                _ => c.is_ascii_hexdigit(),
            })
    }

    /// The first record's time as it stands in the id, `20261121T223901Z`.
    pub fn time(&self) -> &str {
        &self.0[..16]
    }

    /// The first record's time, back from the id (`None` for the epoch
    /// placeholder of files without a parsable first record).
    pub fn first_record_time(&self) -> Option<DateTime<Utc>> {
        let t = NaiveDateTime::parse_from_str(self.time(), "%Y%m%dT%H%M%SZ").ok()?;
        Some(Utc.from_utc_datetime(&t)).filter(|t| t.timestamp() != 0)
    }

    /// The `YYYY-MM-DD` date of the first record, for the `dt=` partition.
    pub fn date(&self) -> String {
        let s = &self.0;
        format!("{}-{}-{}", &s[0..4], &s[4..6], &s[6..8])
    }
}

/// Parses the timestamp that starts an audit record. MariaDB plugin
/// (RDS for MySQL/MariaDB): `YYYYMMDD HH:MM:SS,`. Aurora MySQL: Unix epoch
/// microseconds, `1732229941123456,`. Record times are not in order within a
/// file, so this is only a readable label, never a cursor.
pub fn first_record_time(line: &[u8]) -> Option<DateTime<Utc>> {
    let field_end = line.iter().position(|&b| b == b',')?;
    let field = std::str::from_utf8(&line[..field_end]).ok()?;
    let time = if let Ok(t) = NaiveDateTime::parse_from_str(field, "%Y%m%d %H:%M:%S") {
        Utc.from_utc_datetime(&t)
    } else if field.len() >= 13 && field.bytes().all(|b| b.is_ascii_digit()) {
        DateTime::<Utc>::from_timestamp_micros(field.parse().ok()?)?
    } else {
        return None;
    };
    // A four-digit year keeps file ids (and `dt=` partitions) one shape.
    (0..=9999).contains(&time.year()).then_some(time)
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARIADB_LINE: &[u8] =
        b"20261121 22:43:57,vm,app,127.0.0.1,9,8782,QUERY,shop,'INSERT INTO t VALUES (\\'a,b\\')',0\n";

    #[test]
    fn record_times_beyond_year_9999_are_no_time() {
        assert_eq!(first_record_time(b"9223372036854775807,host,u,h,1,1,CONNECT,,,0\n"), None);
        let id = Fingerprint::of_prefix(b"9223372036854775807,host\n").file_id();
        assert!(id.is_well_formed(), "{id}");
        assert!(id.0.starts_with("19700101T000000Z-"), "{id}");
    }

    #[test]
    fn prefix_is_first_line_with_newline() {
        let mut file = MARIADB_LINE.to_vec();
        file.extend_from_slice(b"second line\n");
        assert_eq!(identity_prefix(&file), Some(MARIADB_LINE));
    }

    #[test]
    fn no_identity_until_first_line_is_complete() {
        assert_eq!(identity_prefix(b""), None);
        assert_eq!(identity_prefix(&MARIADB_LINE[..20]), None);
    }

    #[test]
    fn long_first_line_is_identified_by_its_first_bytes() {
        let long = vec![b'x'; IDENTITY_PREFIX_MAX + 10];
        assert_eq!(identity_prefix(&long).map(<[u8]>::len), Some(IDENTITY_PREFIX_MAX));
        // Growing the file does not change the identity.
        let mut longer = long.clone();
        longer.extend_from_slice(b"more\n");
        assert_eq!(identity_prefix(&long), identity_prefix(&longer));
    }

    #[test]
    fn file_id_has_first_record_time_and_short_hash() {
        let fp = Fingerprint::of_prefix(MARIADB_LINE);
        let id = fp.file_id();
        assert!(id.0.starts_with("20261121T224357Z-"), "{id}");
        assert_eq!(id.0.len(), "20261121T224357Z-".len() + 8);
        assert_eq!(id.date(), "2026-11-21");
        assert_eq!(id.time(), "20261121T224357Z");
        assert_ne!(Fingerprint::of_prefix(b"20261121 22:43:57,other\n").sha256, fp.sha256);
    }

    #[test]
    fn aurora_epoch_micros_timestamp_parses() {
        let t = first_record_time(b"1763765037123456,ip-10-0-0-1,app,10.0.0.2,7,0,CONNECT,,,0\n").unwrap();
        assert_eq!(t.format("%Y%m%dT%H%M%SZ").to_string(), "20251121T224357Z");
    }

    #[test]
    fn unparsable_first_line_sorts_under_epoch() {
        let fp = Fingerprint::of_prefix(b"garbage without a timestamp\n");
        assert!(fp.first_record.is_none());
        assert!(fp.file_id().0.starts_with("19700101T000000Z-"));
    }
}
