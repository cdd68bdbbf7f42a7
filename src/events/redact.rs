//! `--redact literals`: string and number literals in a statement replaced
//! by `?`, for teams that may not keep personal data in a query store. For
//! the derived events only; the raw trail keeps every byte. Identifiers
//! (also in backticks), keywords, operators and comments stay, so the
//! statement's shape can still be searched. Pure.

/// The statement with every literal as `?`: `'…'` and `"…"` strings (with
/// backslash escapes and doubled quotes; a prefix such as `_utf8mb4` or
/// `X` stays), and numbers (`42`, `-`-less `3.14`, `1e-3`, `0x1F`,
/// `0b101`). A statement cut short inside a literal ends with `?`.
pub fn redact_literals(statement: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(statement.len());
    let mut i = 0;
    while i < statement.len() {
        let b = statement[i];
        let after_word = i > 0 && is_word(statement[i - 1]);
        i = match b {
            b'\'' | b'"' => {
                out.push(b'?');
                end_of_string(statement, i)
            }
            b'`' => copy(statement, i, end_of_quoted_identifier(statement, i), &mut out),
            b'/' if statement.get(i + 1) == Some(&b'*') => {
                copy(statement, i, end_of_block_comment(statement, i), &mut out)
            }
            b'#' => copy(statement, i, end_of_line(statement, i), &mut out),
            b'-' if statement.get(i + 1) == Some(&b'-') => copy(statement, i, end_of_line(statement, i), &mut out),
            b'0'..=b'9' if !after_word => {
                out.push(b'?');
                end_of_number(statement, i)
            }
            b'.' if !after_word && statement.get(i + 1).is_some_and(u8::is_ascii_digit) => {
                out.push(b'?');
                end_of_number(statement, i)
            }
            _ => {
                out.push(b);
                i + 1
            }
        };
    }
    out
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80
}

fn copy(statement: &[u8], from: usize, to: usize, out: &mut Vec<u8>) -> usize {
    out.extend_from_slice(&statement[from..to]);
    to
}

/// Past the string that opens at `at` (its quote doubled or
/// backslash-escaped inside), or the end of a statement cut inside it.
fn end_of_string(s: &[u8], at: usize) -> usize {
    let quote = s[at];
    let mut i = at + 1;
    while i < s.len() {
        match s[i] {
            b'\\' => i += 2,
            q if q == quote && s.get(i + 1) == Some(&quote) => i += 2,
            q if q == quote => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

fn end_of_quoted_identifier(s: &[u8], at: usize) -> usize {
    let mut i = at + 1;
    while i < s.len() {
        match s[i] {
            b'`' if s.get(i + 1) == Some(&b'`') => i += 2,
            b'`' => return i + 1,
            _ => i += 1,
        }
    }
    s.len()
}

fn end_of_block_comment(s: &[u8], at: usize) -> usize {
    s[at + 2..].windows(2).position(|w| w == b"*/").map_or(s.len(), |end| at + 2 + end + 2)
}

fn end_of_line(s: &[u8], at: usize) -> usize {
    s[at..].iter().position(|&b| b == b'\n').map_or(s.len(), |end| at + end)
}

/// Past the number at `at`: hex and binary forms, then digits, a
/// fraction, an exponent.
fn end_of_number(s: &[u8], at: usize) -> usize {
    let digits_from = |mut i: usize, ok: fn(&u8) -> bool| {
        while s.get(i).is_some_and(ok) {
            i += 1;
        }
        i
    };
    if s[at] == b'0' && matches!(s.get(at + 1), Some(b'x' | b'X')) {
        return digits_from(at + 2, u8::is_ascii_hexdigit);
    }
    if s[at] == b'0' && matches!(s.get(at + 1), Some(b'b' | b'B')) && s.get(at + 2).is_some_and(|b| b"01".contains(b)) {
        return digits_from(at + 2, |b| b"01".contains(b));
    }
    let mut i = digits_from(at, u8::is_ascii_digit);
    if s.get(i) == Some(&b'.') {
        i = digits_from(i + 1, u8::is_ascii_digit);
    }
    if matches!(s.get(i), Some(b'e' | b'E')) {
        let sign = usize::from(matches!(s.get(i + 1), Some(b'+' | b'-')));
        if s.get(i + 1 + sign).is_some_and(u8::is_ascii_digit) {
            i = digits_from(i + 1 + sign, u8::is_ascii_digit);
        }
    }
    // `123abc` is an identifier in MySQL: the rest of the word goes too.
    digits_from(i, |&b| is_word(b))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn redact(s: &str) -> String {
        String::from_utf8(redact_literals(s.as_bytes())).unwrap()
    }

    #[test]
    fn strings_and_numbers_become_placeholders_and_the_shape_stays() {
        for (statement, redacted) in [
            ("SELECT * FROM users WHERE email = 'a@b.c' AND id = 42", "SELECT * FROM users WHERE email = ? AND id = ?"),
            ("INSERT INTO t2 (a, b) VALUES (\"it\\\"s\", 3.14e-2)", "INSERT INTO t2 (a, b) VALUES (?, ?)"),
            ("UPDATE t SET n = 'O''Brien', h = 0x1F, bits = 0b101", "UPDATE t SET n = ?, h = ?, bits = ?"),
            ("SELECT `col 'x' 1` FROM db1.t3 WHERE a > -7", "SELECT `col 'x' 1` FROM db1.t3 WHERE a > -?"),
            ("SELECT _utf8mb4'x', X'AB', .5", "SELECT _utf8mb4?, X?, ?"),
            ("SELECT 1 /* keep 42 */ -- note 7\n, 2", "SELECT ? /* keep 42 */ -- note 7\n, ?"),
            ("SELECT 'cut short", "SELECT ?"),
        ] {
            assert_eq!(redact(statement), redacted, "{statement}");
        }
    }

    proptest! {
        #[test]
        fn no_literal_survives_and_redacting_twice_changes_nothing(
            secret in "zq[a-z0-9 @.]{2,20}",
            number in 0u64..1_000_000_000,
            quote in prop_oneof![Just('\''), Just('"')],
        ) {
            let statement = format!(
                "SELECT name FROM people WHERE note = {quote}{secret}{quote} AND id = {number} OR x IN ({number}.5, {quote}{secret}{quote})"
            );
            let redacted = redact(&statement);
            prop_assert!(!redacted.contains(&secret), "{}", redacted);
            prop_assert!(!redacted.contains(&number.to_string()), "{}", redacted);
            prop_assert_eq!(&redacted, "SELECT name FROM people WHERE note = ? AND id = ? OR x IN (?, ?)");
            prop_assert_eq!(redact(&redacted), redacted.clone());
        }

        #[test]
        fn any_bytes_are_redacted_once_and_for_all_without_growing(
            statement in proptest::collection::vec(
                prop_oneof![Just(b'\''), Just(b'"'), Just(b'`'), Just(b'\\'), Just(b'-'), Just(b'/'), Just(b'*'), Just(b'1'), any::<u8>()],
                0..200,
            ),
        ) {
            let redacted = redact_literals(&statement);
            prop_assert!(redacted.len() <= statement.len());
            prop_assert_eq!(redact_literals(&redacted), redacted);
        }
    }
}
