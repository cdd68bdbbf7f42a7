//! Cut: where one object ends and the next begins.
//!
//! Objects end on line boundaries, and where they end depends only on the
//! file's content and the object's start offset, never on how the bytes
//! arrived (chunk sizes, retries) or on the run. Two runs that start an
//! object at the same offset therefore produce the same object, or one is a
//! prefix of the other (when one saw less of a growing file); the put stage
//! relies on that to reconcile with objects already in S3.
//!
//! The rule: an object ends right after the first newline that makes it at
//! least `target` bytes long; a single line longer than that is cut at
//! `hard_max` bytes (memory stays bounded); at the end of the stream a closed
//! (rotated) file ends with all its bytes, while the active file ends at its
//! last complete line — the partial line after it is still being written.

/// How large objects get (uncompressed bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutRule {
    /// An object ends at the first line boundary at or past this length.
    pub target: u64,
    /// No object is longer than this, even inside a very long line.
    pub hard_max: u64,
}

impl CutRule {
    pub fn new(target: u64) -> Self {
        let target = target.max(1);
        CutRule { target, hard_max: target + (target / 4).max(1) }
    }
}

/// Whether the stream being cut can still grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileState {
    /// Rotated: its bytes never change again, so every byte ships.
    Closed,
    /// Still written to: only complete lines ship.
    Active,
}

/// Cuts one object out of a stream, starting at the object's first byte.
/// Bytes that belong to the object are handed to a sink as soon as they are
/// known to belong to it; a partial line is held back until its newline (or
/// the hard cap) arrives, so it is at most `hard_max` bytes.
#[derive(Debug)]
pub struct ObjectCutter {
    rule: CutRule,
    emitted: u64,
    pending: Vec<u8>,
    complete: bool,
}

impl ObjectCutter {
    pub fn new(rule: CutRule) -> Self {
        ObjectCutter { rule, emitted: 0, pending: Vec::new(), complete: false }
    }

    /// True once the object has reached its end; later bytes belong to the
    /// next object.
    pub fn is_complete(&self) -> bool {
        self.complete
    }

    /// Offers the next bytes of the stream. Returns how many were taken; if
    /// fewer than `chunk.len()`, the object is complete and the rest belongs
    /// to the next object.
    pub fn push(&mut self, chunk: &[u8], sink: &mut impl FnMut(&[u8])) -> usize {
        let mut taken = 0;
        while taken < chunk.len() && !self.complete {
            let held = self.emitted + self.pending.len() as u64;
            let room = (self.rule.hard_max - held).min((chunk.len() - taken) as u64) as usize;
            let window = &chunk[taken..taken + room];
            // The first newline at or past `target` ends the object.
            let first_allowed = self.rule.target.saturating_sub(held + 1) as usize;
            let cut =
                window.get(first_allowed..).and_then(|w| w.iter().position(|&b| b == b'\n')).map(|i| i + first_allowed);
            if let Some(nl) = cut {
                self.emit_through(&window[..=nl], sink);
                taken += nl + 1;
                self.complete = true;
                break;
            }
            match window.iter().rposition(|&b| b == b'\n') {
                Some(nl) => {
                    self.emit_through(&window[..=nl], sink);
                    self.pending.extend_from_slice(&window[nl + 1..]);
                }
                None => self.pending.extend_from_slice(window),
            }
            taken += room;
            if self.emitted + self.pending.len() as u64 == self.rule.hard_max {
                // A line longer than the cap: cut inside it.
                self.emit_through(&[], sink);
                self.complete = true;
            }
        }
        taken
    }

    /// Ends the object at the end of the stream and returns its length. A
    /// closed file's final bytes ship even without a newline; an active
    /// file's partial last line does not.
    pub fn finish(mut self, state: FileState, sink: &mut impl FnMut(&[u8])) -> u64 {
        if state == FileState::Closed {
            self.emit_through(&[], sink);
        }
        self.emitted
    }

    /// The object's length if it is complete.
    pub fn len(&self) -> u64 {
        self.emitted
    }

    pub fn is_empty(&self) -> bool {
        self.emitted == 0
    }

    fn emit_through(&mut self, tail: &[u8], sink: &mut impl FnMut(&[u8])) {
        if !self.pending.is_empty() {
            sink(&self.pending);
            self.emitted += self.pending.len() as u64;
            self.pending.clear();
        }
        if !tail.is_empty() {
            sink(tail);
            self.emitted += tail.len() as u64;
        }
    }
}

/// Cuts a whole stream, given as chunks, into objects. The pipeline cuts
/// incrementally with `ObjectCutter`; this is the same logic over an
/// in-memory stream, for tests and benchmarks.
pub fn cut_all<'a>(chunks: impl IntoIterator<Item = &'a [u8]>, rule: CutRule, state: FileState) -> Vec<Vec<u8>> {
    let mut objects = Vec::new();
    let mut current = Vec::new();
    let mut cutter = ObjectCutter::new(rule);
    for chunk in chunks {
        let mut rest = chunk;
        while !rest.is_empty() {
            let took = cutter.push(rest, &mut |b| current.extend_from_slice(b));
            rest = &rest[took..];
            if cutter.is_complete() {
                objects.push(std::mem::take(&mut current));
                cutter = ObjectCutter::new(rule);
            }
        }
    }
    cutter.finish(state, &mut |b| current.extend_from_slice(b));
    if !current.is_empty() {
        objects.push(current);
    }
    objects
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rule(target: u64, hard_max: u64) -> CutRule {
        CutRule { target, hard_max }
    }

    #[test]
    fn object_ends_at_first_newline_past_target() {
        let input = b"aaaa\nbbbb\ncccc\ndd";
        let objects = cut_all([&input[..]], rule(6, 100), FileState::Closed);
        assert_eq!(objects, vec![b"aaaa\nbbbb\n".to_vec(), b"cccc\ndd".to_vec()]);
    }

    #[test]
    fn active_file_keeps_partial_last_line_back() {
        let input = b"aaaa\nbbbb\ncccc\ndd";
        let objects = cut_all([&input[..]], rule(6, 100), FileState::Active);
        assert_eq!(objects, vec![b"aaaa\nbbbb\n".to_vec(), b"cccc\n".to_vec()]);
    }

    #[test]
    fn active_file_without_complete_line_ships_nothing() {
        assert!(cut_all([&b"partial"[..]], rule(6, 100), FileState::Active).is_empty());
    }

    #[test]
    fn overlong_line_is_cut_at_hard_max() {
        let input = b"0123456789abcdef\nxy\n";
        let objects = cut_all([&input[..]], rule(4, 8), FileState::Active);
        assert_eq!(objects, vec![b"01234567".to_vec(), b"89abcdef".to_vec(), b"\nxy\n".to_vec()]);
    }

    #[test]
    fn newline_exactly_at_target_ends_object() {
        let objects = cut_all([&b"abc\nde\n"[..]], rule(4, 100), FileState::Closed);
        assert_eq!(objects, vec![b"abc\n".to_vec(), b"de\n".to_vec()]);
    }

    /// Splits `input` at the given cut points (taken modulo its length).
    fn split<'a>(input: &'a [u8], points: &[usize]) -> Vec<&'a [u8]> {
        let mut cuts: Vec<usize> = points.iter().map(|p| p % (input.len() + 1)).collect();
        cuts.sort_unstable();
        let mut out = Vec::new();
        let mut prev = 0;
        for c in cuts.into_iter().chain([input.len()]) {
            out.push(&input[prev..c]);
            prev = c;
        }
        out
    }

    fn lines() -> impl Strategy<Value = Vec<u8>> {
        // Short and long lines, bytes of every value (audit lines can hold
        // any byte), newlines frequent enough to matter.
        proptest::collection::vec(prop_oneof![4 => Just(b'\n'), 20 => any::<u8>()], 0..600)
    }

    proptest! {
        #[test]
        fn any_split_into_reads_yields_the_same_objects(
            input in lines(),
            points in proptest::collection::vec(any::<usize>(), 0..12),
            target in 1u64..64,
            extra in 0u64..32,
            closed in any::<bool>(),
        ) {
            let rule = rule(target, target + extra);
            let state = if closed { FileState::Closed } else { FileState::Active };
            let whole = cut_all([&input[..]], rule, state);
            let pieces = cut_all(split(&input, &points), rule, state);
            prop_assert_eq!(&whole, &pieces);

            // Byte-exact: objects concatenate to the input (the active file
            // up to its last newline), and every object but an overlong-line
            // cut ends on a newline or at the end of a closed file.
            let joined: Vec<u8> = whole.concat();
            let expected_len = match state {
                FileState::Closed => input.len(),
                FileState::Active => joined.len(),
            };
            prop_assert_eq!(&joined[..], &input[..expected_len]);
            // Every complete line ships, even from the active file.
            prop_assert!(!input[joined.len()..].contains(&b'\n'));
            for o in &whole {
                prop_assert!(o.len() as u64 <= rule.hard_max);
                prop_assert!(!o.is_empty());
            }
        }

        #[test]
        fn resuming_at_an_object_boundary_yields_the_same_later_objects(
            input in lines(),
            target in 1u64..64,
        ) {
            // A later run starts at a confirmed object's end offset; it must
            // cut the rest of the file exactly as one pass would have.
            let rule = rule(target, target * 2);
            let whole = cut_all([&input[..]], rule, FileState::Closed);
            if let Some(first) = whole.first() {
                let rest = cut_all([&input[first.len()..]], rule, FileState::Closed);
                prop_assert_eq!(&whole[1..], &rest[..]);
            }
        }
    }
}
