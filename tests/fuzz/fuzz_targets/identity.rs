//! A file's first bytes name it (identity prefix, first-record time). The
//! bytes are whatever the database wrote: any of them must give a file id
//! of the documented shape, or none.
#![no_main]

use auditship::identify::{first_record_time, identity_prefix, Fingerprint};
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
});
