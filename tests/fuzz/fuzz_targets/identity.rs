//! A file's first bytes name it (identity prefix, first-record time). The
//! bytes are whatever the database wrote: any of them must give a file id
//! of the documented shape, or none. Files that share the first line are
//! told apart: no file's identity fits another's bytes unless they are the
//! same bytes.
#![no_main]

use auditship::identify::{first_record_time, identity_prefix, tell_apart, Fingerprint, Start};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = first_record_time(data);
    let Some(prefix) = identity_prefix(data) else { return };
    assert!(data.starts_with(prefix));
    let id = Fingerprint::of_prefix(prefix).file_id();
    let s = id.to_string();
    let shape = s.len() == 25
        && s.as_bytes()[8] == b'T'
        && s.as_bytes()[15] == b'Z'
        && s.as_bytes()[16] == b'-'
        && s.bytes().enumerate().all(|(i, b)| matches!(i, 8 | 15 | 16) || b.is_ascii_hexdigit());
    assert!(shape, "file id {s:?} is not YYYYMMDDTHHMMSSZ-xxxxxxxx");
    let _ = (id.time(), id.date());

    // The rest, cut at NUL bytes, gives up to four files with this first
    // line; each tail's length says whether it still grows.
    let files: Vec<(Vec<u8>, bool)> = data[prefix.len()..]
        .split(|&b| b == 0)
        .take(4)
        .map(|tail| ([prefix, tail].concat(), tail.len() % 2 == 1))
        .collect();
    let starts: Vec<Start<'_>> = files.iter().map(|(b, active)| Start { bytes: b, whole: true, active: *active }).collect();
    for (i, identity) in tell_apart(&starts).iter().enumerate() {
        let Some(identity) = identity else { continue };
        assert!(identity.matches(&starts[i]), "file {i} is not its own identity");
        for (j, other) in starts.iter().enumerate().filter(|(j, _)| *j != i) {
            if identity.matches(other) {
                assert!(identity.exact && other.bytes == starts[i].bytes, "file {i}'s identity fits file {j}");
            }
        }
    }
});
