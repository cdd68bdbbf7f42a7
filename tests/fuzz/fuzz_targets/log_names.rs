//! Log file names come from DescribeDBLogFiles. Whatever a name is, parsing
//! must not panic, and a parsed name must order consistently.
#![no_main]

use auditship::list::{AuditName, LogFile};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let names: Vec<&str> = text.split('\n').collect();
    let files: Vec<LogFile> = names
        .iter()
        .filter_map(|n| AuditName::parse(n).map(|kind| (n, kind)))
        .map(|(n, kind)| LogFile { name: n.to_string(), size: 1, last_written_ms: 0, kind })
        .collect();
    for a in &files {
        assert_eq!(LogFile::newest_first(a, a), std::cmp::Ordering::Equal);
        for b in &files {
            assert_eq!(LogFile::newest_first(a, b), LogFile::newest_first(b, a).reverse());
        }
    }
    let flags = auditship::list::active_flags(&files);
    assert_eq!(flags.len(), files.len());
});
