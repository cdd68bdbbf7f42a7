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

/// At most this many leading bytes are compared to tell apart files that
/// share a first line. Files alike for longer than this cannot be told
/// apart by their starts (unless one of them is rotated and shorter).
pub const DISTINCT_PREFIX_MAX: usize = 1 << 20;

/// What tells a file apart from others with the same first line: its first
/// `len` bytes hash to `sha256`. `exact`: the whole of a rotated file,
/// which never changes again, so only a rotated file of exactly these
/// bytes is it. Files whose first line no other file shares have none:
/// the first line is enough.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Identity {
    pub len: u64,
    pub sha256: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exact: bool,
}

impl Identity {
    fn of(bytes: &[u8], exact: bool) -> Identity {
        Identity { len: bytes.len() as u64, sha256: hex::encode(Sha256::digest(bytes)), exact }
    }

    /// Whether a file may be the one this identifies, from its leading
    /// bytes (`whole`: all it has) and whether it is still written to.
    pub fn matches(&self, start: &Start<'_>) -> bool {
        let Ok(len) = usize::try_from(self.len) else { return false };
        if self.exact {
            return !start.active
                && start.whole
                && start.bytes.len() == len
                && hex::encode(Sha256::digest(start.bytes)) == self.sha256;
        }
        start.bytes.len() >= len && hex::encode(Sha256::digest(&start.bytes[..len])) == self.sha256
    }

    /// Bytes to read of a file to check it against this identity: one past
    /// an exact identity's length shows whether the file ends there.
    pub fn bytes_to_read(&self) -> usize {
        usize::try_from(self.len).unwrap_or(usize::MAX).saturating_add(usize::from(self.exact))
    }
}

/// The leading bytes of a file, as read for telling it apart.
#[derive(Debug, Clone, Copy)]
pub struct Start<'a> {
    /// Up to `DISTINCT_PREFIX_MAX` bytes.
    pub bytes: &'a [u8],
    /// `bytes` is all the file has (it ended within the read).
    pub whole: bool,
    /// Still written to: it may grow, so a file that holds a prefix of its
    /// bytes now may hold all of them later.
    pub active: bool,
}

impl Start<'_> {
    /// A rotated file read to its end: it is these bytes forever.
    fn fixed(&self) -> bool {
        !self.active && self.whole
    }
}

/// Gives each of files that share a first line an identity that tells it
/// from every other, now and as they grow; `None` for a file that cannot
/// be told apart yet (it holds only bytes another still-growing file also
/// holds, or another file holds all of its bytes and more, so far).
///
/// A rotated file read to its end is its exact bytes. Any other file is
/// its first bytes up to one past where it first differs from each other
/// file (past the end of a shorter rotated one): written bytes never
/// change, so those bytes tell it apart for as long as it exists. At least
/// one byte past the first line is always taken, so such an identity never
/// hashes like a first line.
pub fn tell_apart(starts: &[Start<'_>]) -> Vec<Option<Identity>> {
    starts.iter().enumerate().map(|(i, me)| told_apart(i, me, starts)).collect()
}

fn told_apart(me_index: usize, me: &Start<'_>, all: &[Start<'_>]) -> Option<Identity> {
    if me.fixed() {
        return Some(Identity::of(me.bytes, true));
    }
    let first_line = identity_prefix(me.bytes)?.len();
    let mut need = first_line + 1;
    for (_, other) in all.iter().enumerate().filter(|(j, _)| *j != me_index) {
        need = need.max(differs_by(me, other)?);
    }
    (me.bytes.len() >= need).then(|| Identity::of(&me.bytes[..need], false))
}

/// How many of `me`'s first bytes tell it from `other` for good; `None`
/// while `other` could be `me` or become it.
fn differs_by(me: &Start<'_>, other: &Start<'_>) -> Option<usize> {
    match me.bytes.iter().zip(other.bytes).position(|(a, b)| a != b) {
        Some(at) => Some(at + 1),
        // `other` is all of its bytes, and `me` has one more.
        None if other.fixed() && other.bytes.len() < me.bytes.len() => Some(other.bytes.len() + 1),
        None => None,
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
    record_time(&line[..field_end])
}

/// The time in a record's first field (the bytes before its first comma),
/// in either dialect. The MariaDB plugin's fixed layout is read digit by
/// digit (every line of every object is read); anything else goes through
/// the general parser, so both give one answer.
pub fn record_time(field: &[u8]) -> Option<DateTime<Utc>> {
    if let Some(t) = mariadb_time_fast(field) {
        return Some(t);
    }
    let field = std::str::from_utf8(field).ok()?;
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

/// `YYYYMMDD HH:MM:SS` exactly, or `None` for the general parser to try.
fn mariadb_time_fast(f: &[u8]) -> Option<DateTime<Utc>> {
    if f.len() != 17 || f[8] != b' ' || f[11] != b':' || f[14] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        f[r].iter().try_fold(0u32, |n, &b| b.is_ascii_digit().then(|| n * 10 + u32::from(b - b'0')))
    };
    let date = chrono::NaiveDate::from_ymd_opt(num(0..4)? as i32, num(4..6)?, num(6..8)?)?;
    let time = date.and_hms_opt(num(9..11)?, num(12..14)?, num(15..17)?)?;
    Some(Utc.from_utc_datetime(&time))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARIADB_LINE: &[u8] =
        b"20261121 22:43:57,vm,app,127.0.0.1,9,8782,QUERY,shop,'INSERT INTO t VALUES (\\'a,b\\')',0\n";

    fn start(bytes: &[u8], active: bool) -> Start<'_> {
        Start { bytes, whole: true, active }
    }

    #[test]
    fn files_with_one_first_line_are_told_apart_by_where_they_differ() {
        let (a, b) = (b"L1\nabcX\n".as_slice(), b"L1\nabcY\nmore\n".as_slice());
        let ids = tell_apart(&[start(a, false), start(b, true)]);
        // The rotated one is its exact bytes; the growing one its bytes up
        // to and including the first that differs.
        assert_eq!(ids[0], Some(Identity::of(a, true)));
        assert_eq!(ids[1], Some(Identity::of(&b[..7], false)));
        assert!(!ids[1].as_ref().unwrap().matches(&start(a, false)));
        assert!(!ids[0].as_ref().unwrap().matches(&start(b, false)));
    }

    #[test]
    fn a_growing_file_that_holds_only_what_another_holds_is_not_told_apart_yet() {
        let (old, new) = (b"L1\nabc\n".as_slice(), b"L1\n".as_slice());
        let ids = tell_apart(&[start(old, false), start(new, true)]);
        assert!(ids[0].is_some(), "the rotated file is its bytes");
        assert_eq!(ids[1], None, "the growing one may yet become the other's bytes");
        // Once it differs, it is told apart.
        let ids = tell_apart(&[start(old, false), start(b"L1\nabd", true)]);
        assert_eq!(ids[1], Some(Identity::of(b"L1\nabd", false)));
    }

    #[test]
    fn a_rotated_file_that_holds_only_the_start_of_another_is_its_exact_bytes() {
        let (short, long) = (b"L1\n".as_slice(), b"L1\nmore\n".as_slice());
        let ids = tell_apart(&[start(short, false), start(long, false)]);
        let short_id = ids[0].clone().unwrap();
        assert!(short_id.exact);
        assert!(!short_id.matches(&start(long, false)));
        assert!(!short_id.matches(&start(short, true)), "a growing file is never a rotated one");
        assert!(short_id.matches(&start(short, false)));
        // The longer one is told apart by its first byte past the shorter.
        let ids = tell_apart(&[start(short, false), start(long, true)]);
        assert_eq!(ids[1], Some(Identity::of(&long[..4], false)));
    }

    #[test]
    fn a_file_read_only_in_part_is_not_exact() {
        let part = Start { bytes: b"L1\nabc\n", whole: false, active: false };
        let ids = tell_apart(&[part, start(b"L1\nabd\n", false)]);
        assert_eq!(ids[0], Some(Identity::of(b"L1\nabc", false)));
    }

    /// A set of files that share a first line: bytes after it from a small
    /// alphabet (so that files often hold the start of another), whether
    /// each still grows, and what each gains before a later look.
    fn family() -> impl proptest::strategy::Strategy<Value = Vec<(Vec<u8>, bool, Vec<u8>, bool)>> {
        use proptest::prelude::*;
        let bytes = || proptest::collection::vec(prop_oneof![Just(b'a'), Just(b'b'), Just(b'\n')], 0..6);
        proptest::collection::vec((bytes(), any::<bool>(), bytes(), any::<bool>()), 1..5)
    }

    proptest::proptest! {
        /// Distinct files never share an identity unless their contents so
        /// far are identical: no file's identity is another's, now or after
        /// any of them grows or rotates.
        #[test]
        fn distinct_files_never_share_an_identity(files in family()) {
            let line = b"20261121 22:43:57,host,u,h,1,1,CONNECT,,,0\n";
            let now: Vec<(Vec<u8>, bool)> =
                files.iter().map(|(rest, active, _, _)| ([&line[..], rest].concat(), *active)).collect();
            // Later: a growing file may have grown, and may have rotated.
            let later: Vec<(Vec<u8>, bool)> = files
                .iter()
                .zip(&now)
                .map(|((_, active, more, rotates), (bytes, _))| {
                    if *active { ([&bytes[..], more].concat(), !rotates) } else { (bytes.clone(), false) }
                })
                .collect();
            let starts: Vec<Start<'_>> = now.iter().map(|(b, a)| start(b, *a)).collect();
            let ids = tell_apart(&starts);
            for (i, id) in ids.iter().enumerate() {
                let Some(id) = id else { continue };
                proptest::prop_assert!(id.matches(&starts[i]), "a file is its own identity");
                proptest::prop_assert!(id.matches(&start(&later[i].0, later[i].1)), "and stays it as it grows");
                for (j, (bytes, active)) in now.iter().chain(&later).enumerate() {
                    let j = j % now.len();
                    if j != i && id.matches(&start(bytes, *active)) {
                        proptest::prop_assert!(
                            id.exact && *bytes == now[i].0 && !*active,
                            "file {i}'s identity {id:?} also fits file {j} ({bytes:?})"
                        );
                    }
                }
            }
        }
    }

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

    proptest::proptest! {
        /// The digit-by-digit reading of MariaDB's layout gives what the
        /// general parser gives, valid dates or not.
        #[test]
        fn the_fast_mariadb_reading_agrees_with_the_general_parser(
            y in 0u32..10_000, mo in 0u32..14, d in 0u32..33, h in 0u32..26, mi in 0u32..62, s in 0u32..62,
        ) {
            let field = format!("{y:04}{mo:02}{d:02} {h:02}:{mi:02}:{s:02}");
            let general = NaiveDateTime::parse_from_str(&field, "%Y%m%d %H:%M:%S").ok().map(|t| Utc.from_utc_datetime(&t));
            if let Some(fast) = mariadb_time_fast(field.as_bytes()) {
                proptest::prop_assert_eq!(Some(fast), general);
            }
            proptest::prop_assert_eq!(record_time(field.as_bytes()), general);
        }
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
