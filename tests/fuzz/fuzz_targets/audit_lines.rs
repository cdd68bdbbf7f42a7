//! The event parser meets whatever an object holds. For any bytes: no
//! panic; exactly one event per line, each at its own offset with its own
//! bytes; and a parsed statement is never longer than its line, nor a
//! borrowed field outside it.
#![no_main]

use auditship::events::parse_object;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let mut next = 0u64;
    let mut events = 0usize;
    for event in parse_object(data, 0) {
        assert_eq!(event.line.offset, next);
        let at = event.line.offset as usize;
        assert_eq!(&data[at..at + event.line.bytes.len()], event.line.bytes);
        next += event.line.bytes.len() as u64 + 1;
        events += 1;
        if let Ok(record) = event.record {
            assert!(record.object.len() <= event.line.bytes.len());
            for field in [record.server_host, record.user, record.host, record.operation, record.database] {
                let inside = event.line.bytes.as_ptr_range();
                assert!(field.is_empty() || inside.contains(&field.as_ptr()));
            }
        }
    }
    let lines = data.split(|&b| b == b'\n').count() - usize::from(data.last().is_none_or(|&b| b == b'\n'));
    assert_eq!(events, lines);
});
