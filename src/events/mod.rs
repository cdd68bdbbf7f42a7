//! Derived events: every line of a raw object parsed into an audit record
//! (see `parse`), each pointing back at the object and the byte offset of
//! its line, so that an event can always be checked against the signed
//! raw trail. A line that does not parse is kept as an event with the
//! line and the reason, never dropped. The raw trail is never changed by
//! this: events are derived from it and can be rebuilt from it.

pub mod derive;
pub mod ocsf;
pub mod parquet;
pub mod parse;
pub mod redact;

use parse::{parse_line, AuditRecord, ParseError};

/// One line of a raw object: where it is in its file, and its bytes
/// without the newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RawLine<'a> {
    pub offset: u64,
    pub bytes: &'a [u8],
}

/// The lines of an object that holds its file's bytes from `start`. The
/// last one may lack its newline (a closed file's last line, or a line
/// longer than an object, cut at the object's end).
pub fn lines(object: &[u8], start: u64) -> impl Iterator<Item = RawLine<'_>> {
    let mut at = 0usize;
    std::iter::from_fn(move || {
        if at >= object.len() {
            return None;
        }
        let rest = &object[at..];
        let len = memchr::memchr(b'\n', rest).map_or(rest.len(), |nl| nl + 1);
        let line =
            RawLine { offset: start + at as u64, bytes: rest[..len].strip_suffix(b"\n").unwrap_or(&rest[..len]) };
        at += len;
        Some(line)
    })
}

/// A line and what it holds: a record, or why it is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed<'a> {
    pub line: RawLine<'a>,
    pub record: Result<AuditRecord<'a>, ParseError>,
}

/// Every line of an object, parsed: exactly one per line.
pub fn parse_object(object: &[u8], start: u64) -> impl Iterator<Item = Parsed<'_>> {
    lines(object, start).map(|line| Parsed { line, record: parse_line(line.bytes) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn each_line_is_one_event_and_its_offset_finds_it_in_the_file() {
        let object = b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT 1',0\nnot a record\n20261121 22:43:58,vm,app,h,9,2,QUERY,shop,'SELECT 2',0";
        let events: Vec<Parsed> = parse_object(object, 1000).collect();
        assert_eq!(events.len(), 3);
        let first = b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT 1',0\n".len() as u64;
        let second = first + b"not a record\n".len() as u64;
        assert_eq!(events.iter().map(|e| e.line.offset).collect::<Vec<_>>(), vec![1000, 1000 + first, 1000 + second]);
        assert!(events[0].record.is_ok() && events[2].record.is_ok());
        assert_eq!(events[1].record.as_ref().unwrap_err().field, "timestamp");
        assert_eq!(events[1].line.bytes, b"not a record");
    }

    proptest! {
        /// Every line yields exactly one event, and each event's offset and
        /// bytes are its line in the file.
        #[test]
        fn events_reproduce_the_object_line_by_line(
            object in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b','), Just(b'\''), any::<u8>()], 0..400),
            start in 0u64..1_000_000,
        ) {
            let mut rebuilt = Vec::new();
            let mut count = 0;
            for e in parse_object(&object, start) {
                let at = (e.line.offset - start) as usize;
                prop_assert_eq!(at, rebuilt.len());
                prop_assert_eq!(&object[at..at + e.line.bytes.len()], e.line.bytes);
                rebuilt.extend_from_slice(e.line.bytes);
                if rebuilt.len() < object.len() {
                    rebuilt.push(b'\n');
                }
                count += 1;
            }
            prop_assert_eq!(&rebuilt, &object);
            let newlines = object.iter().filter(|&&b| b == b'\n').count();
            prop_assert_eq!(count, newlines + usize::from(object.last().is_some_and(|&b| b != b'\n')));
        }
    }
}
