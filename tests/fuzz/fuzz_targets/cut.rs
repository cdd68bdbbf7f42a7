//! Cutting decides where objects begin and end. For any bytes, any chunking
//! and any size: the objects put back together are the input (closed file)
//! or its complete lines (active file), every object but a hard-capped one
//! ends at a newline, and none exceeds the cap.
#![no_main]

use auditship::cut::{cut_all, CutRule, FileState};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 3 {
        return;
    }
    let target = u64::from(data[0]) + 1;
    let chunk = usize::from(data[1]) + 1;
    let state = if data[2] & 1 == 0 { FileState::Closed } else { FileState::Active };
    let input = &data[3..];
    let rule = CutRule::new(target);
    let objects = cut_all(input.chunks(chunk), rule, state);
    let joined: Vec<u8> = objects.concat();
    match state {
        FileState::Closed => assert_eq!(joined, input),
        FileState::Active => assert!(input.starts_with(&joined)),
    }
    for (i, o) in objects.iter().enumerate() {
        assert!(!o.is_empty());
        assert!(o.len() as u64 <= rule.hard_max);
        let last = i + 1 == objects.len();
        if !last && o.len() as u64 != rule.hard_max {
            assert_eq!(o.last(), Some(&b'\n'));
        }
    }
    // Content decides the cuts: the same bytes in one chunk cut the same.
    assert_eq!(cut_all([input], rule, state), objects);
});
