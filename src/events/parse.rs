//! One audit line into its fields, for the three dialects RDS writes:
//!
//! - MariaDB's server_audit plugin (RDS for MariaDB):
//!   `YYYYMMDD HH:MM:SS,serverhost,username,host,connectionid,queryid,operation,database,object,retcode`.
//!   From MariaDB 12 `host` may be `host:port`.
//! - The AWS audit plugin for MySQL (RDS for MySQL): the same fields, and
//!   more after `retcode` (connection events end `,retcode,connection_type`,
//!   query events `'statement',retcode,,`); the time is the server's local
//!   time (UTC unless its parameter group sets `time_zone`).
//! - Aurora MySQL: the same fields with the time as Unix epoch
//!   microseconds, `serverhost` the instance name.
//!
//! The statement (`object`) is single-quoted with backslash escapes, and
//! commas inside it are not escaped; it may be cut short at
//! `server_audit_query_log_limit`, even inside an escape. Nothing after it
//! holds a quote, so its closing quote is the line's last one. Pure: no
//! allocation but for a statement that had escapes.

use chrono::{DateTime, Utc};
use std::borrow::Cow;
use std::fmt;

/// Which audit plugin wrote a line, from the instance's engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Dialect {
    MariaDb,
    RdsMySql,
    Aurora,
}

impl Dialect {
    /// The dialect of an RDS engine name (`mariadb`, `mysql`,
    /// `aurora-mysql`); `None` for an engine whose audit log this does not
    /// know.
    pub fn of_engine(engine: &str) -> Option<Dialect> {
        match engine {
            "mariadb" => Some(Dialect::MariaDb),
            "mysql" => Some(Dialect::RdsMySql),
            e if e.starts_with("aurora-mysql") || e == "aurora" => Some(Dialect::Aurora),
            _ => None,
        }
    }
}

/// The fields of one audit record, borrowed from its line where they need
/// no unescaping.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord<'a> {
    pub time: DateTime<Utc>,
    /// The time as the plugin wrote it.
    pub time_text: &'a [u8],
    pub server_host: &'a [u8],
    pub user: &'a [u8],
    /// The client's host or address, without a port.
    pub host: &'a [u8],
    pub port: Option<u16>,
    pub connection_id: u64,
    pub query_id: u64,
    /// `CONNECT`, `DISCONNECT`, `FAILED_CONNECT`, `CHANGEUSER`, `QUERY`,
    /// `READ`, `WRITE`, `CREATE`, `ALTER`, `RENAME`, `DROP`, …
    pub operation: &'a [u8],
    pub database: &'a [u8],
    /// The statement (unescaped) or the object (a table name), exactly as
    /// the plugin wrote it, bytes that are not UTF-8 included.
    pub object: Cow<'a, [u8]>,
    /// Whether `object` was quoted in the line (a statement).
    pub quoted: bool,
    /// The operation's result: 0 for success, else the server's error code.
    pub retcode: i64,
    /// The fields after `retcode` (RDS for MySQL), as written.
    pub extra: Vec<&'a [u8]>,
}

impl AuditRecord<'_> {
    /// RDS for MySQL's connection type (`SSL`, `TCP/IP`, `Socket`, …),
    /// where the line has one.
    pub fn connection_type(&self) -> Option<&[u8]> {
        self.extra.iter().copied().find(|f| !f.is_empty())
    }
}

/// Why a line is not a record; the line is kept whole all the same.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    pub field: &'static str,
    pub why: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.field, self.why)
    }
}

fn fail<T>(field: &'static str, why: impl Into<String>) -> Result<T, ParseError> {
    Err(ParseError { field, why: why.into() })
}

/// Parses one line (without its newline; a trailing `\r` is ignored).
pub fn parse_line(line: &[u8]) -> Result<AuditRecord<'_>, ParseError> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let mut rest = line;
    let mut next = |field: &'static str| -> Result<&[u8], ParseError> {
        match rest.iter().position(|&b| b == b',') {
            Some(at) => {
                let value = &rest[..at];
                rest = &rest[at + 1..];
                Ok(value)
            }
            None => fail(field, "the line ends before it"),
        }
    };
    let time_field = next("timestamp")?;
    let time = crate::identify::record_time(time_field)
        .map_or_else(|| fail("timestamp", format!("'{}' is not a time", lossy(time_field))), Ok)?;
    let server_host = next("serverhost")?;
    let user = next("username")?;
    let host_field = next("host")?;
    let connection_id = number("connectionid", next("connectionid")?)?;
    let query_id = number("queryid", next("queryid")?)?;
    let operation = next("operation")?;
    let database = next("database")?;
    if operation.is_empty() {
        return fail("operation", "it is empty");
    }
    let (host, port) = split_port(host_field);
    let (object, quoted, tail) = object_and_tail(rest)?;
    let mut tail = tail.split(|&b| b == b',');
    let retcode = match tail.next() {
        Some(code) => number("retcode", code)?,
        None => return fail("retcode", "the line ends before it"),
    };
    Ok(AuditRecord {
        time,
        time_text: time_field,
        server_host,
        user,
        host,
        port,
        connection_id,
        query_id,
        operation,
        database,
        object,
        quoted,
        retcode,
        extra: tail.collect(),
    })
}

/// The object (unescaped), whether it was quoted, and what follows its comma.
type ObjectAndTail<'a> = (Cow<'a, [u8]>, bool, &'a [u8]);

/// The object field and what follows its comma. A quoted statement ends
/// at the line's last quote, which must be followed by a comma.
fn object_and_tail(rest: &[u8]) -> Result<ObjectAndTail<'_>, ParseError> {
    if rest.first() != Some(&b'\'') {
        return match memchr::memchr(b',', rest) {
            Some(at) => Ok((Cow::Borrowed(&rest[..at]), false, &rest[at + 1..])),
            None => fail("retcode", "the line ends before it"),
        };
    }
    let close = memchr::memrchr(b'\'', rest).filter(|&at| at > 0);
    let Some(close) = close else { return fail("object", "its opening quote is never closed") };
    match rest.get(close + 1) {
        Some(b',') => Ok((unescape(&rest[1..close]), true, &rest[close + 2..])),
        _ => fail("object", "its closing quote is not followed by a comma and the return code"),
    }
}

/// The plugin's backslash escapes undone: `\'`, `\\`, `\n`, `\r`, `\t`,
/// `\"`. Any other backslash (or one left alone at a cut) stays as it is.
fn unescape(quoted: &[u8]) -> Cow<'_, [u8]> {
    let Some(first) = memchr::memchr(b'\\', quoted) else {
        return Cow::Borrowed(quoted);
    };
    let mut out = Vec::with_capacity(quoted.len());
    let mut rest = quoted;
    let mut at = Some(first);
    // Runs without a backslash are copied whole, then the escape after
    // each one is undone.
    while let Some(slash) = at {
        out.extend_from_slice(&rest[..slash]);
        let unescaped = match rest.get(slash + 1) {
            Some(b'\'') => Some(b'\''),
            Some(b'\\') => Some(b'\\'),
            Some(b'"') => Some(b'"'),
            Some(b'n') => Some(b'\n'),
            Some(b'r') => Some(b'\r'),
            Some(b't') => Some(b'\t'),
            _ => None,
        };
        rest = match unescaped {
            Some(b) => {
                out.push(b);
                &rest[slash + 2..]
            }
            None => {
                out.push(b'\\');
                &rest[slash + 1..]
            }
        };
        at = memchr::memchr(b'\\', rest);
    }
    out.extend_from_slice(rest);
    Cow::Owned(out)
}

/// `host`, `host:port` (MariaDB 12) or `[v6]:port`; a bare IPv6 address
/// (more than one colon) has no port.
fn split_port(field: &[u8]) -> (&[u8], Option<u16>) {
    let port_of = |digits: &[u8]| {
        (!digits.is_empty() && digits.len() <= 5 && digits.iter().all(u8::is_ascii_digit))
            .then(|| std::str::from_utf8(digits).ok()?.parse::<u16>().ok())
            .flatten()
    };
    if let Some(inner) = field.strip_prefix(b"[") {
        if let Some(end) = inner.iter().position(|&b| b == b']') {
            let port = inner[end + 1..].strip_prefix(b":").and_then(port_of);
            return (&inner[..end], port);
        }
    }
    let colons = field.iter().filter(|&&b| b == b':').count();
    match field.iter().rposition(|&b| b == b':') {
        Some(at) if colons == 1 => match port_of(&field[at + 1..]) {
            Some(port) => (&field[..at], Some(port)),
            None => (field, None),
        },
        _ => (field, None),
    }
}

fn number<T: std::str::FromStr>(field: &'static str, digits: &[u8]) -> Result<T, ParseError> {
    let parsed = std::str::from_utf8(digits).ok().filter(|s| !s.is_empty()).and_then(|s| s.parse().ok());
    parsed.map_or_else(|| fail(field, format!("'{}' is not a number", lossy(digits))), Ok)
}

fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    let shown = &bytes[..bytes.len().min(40)];
    String::from_utf8_lossy(shown)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    #[test]
    fn a_mariadb_query_keeps_its_commas_and_escaped_quotes() {
        let r =
            parse_line(b"20261121 22:43:57,vm,app,127.0.0.1,9,8782,QUERY,shop,'INSERT INTO t VALUES (\\'a,b\\')',0\n")
                .unwrap();
        assert_eq!(r.time, at("2026-11-21T22:43:57Z"));
        assert_eq!((r.server_host, r.user, r.host, r.port), (&b"vm"[..], &b"app"[..], &b"127.0.0.1"[..], None));
        assert_eq!((r.connection_id, r.query_id, r.operation, r.database), (9, 8782, &b"QUERY"[..], &b"shop"[..]));
        assert_eq!(&*r.object, b"INSERT INTO t VALUES ('a,b')");
        assert!(r.quoted);
        assert_eq!(r.retcode, 0);
        assert!(r.extra.is_empty());
    }

    #[test]
    fn a_mariadb_12_host_has_its_port() {
        let r = parse_line(b"20261121 22:43:57,vm,app,10.0.0.7:50412,9,0,CONNECT,shop,,0").unwrap();
        assert_eq!((r.host, r.port), (&b"10.0.0.7"[..], Some(50412)));
        assert_eq!(&*r.object, b"");
        assert!(!r.quoted);
        let v6 = parse_line(b"20261121 22:43:57,vm,app,[fd00::1]:3306,9,0,CONNECT,shop,,0").unwrap();
        assert_eq!((v6.host, v6.port), (&b"fd00::1"[..], Some(3306)));
        let bare = parse_line(b"20261121 22:43:57,vm,app,fd00::1,9,0,CONNECT,shop,,0").unwrap();
        assert_eq!((bare.host, bare.port), (&b"fd00::1"[..], None));
    }

    #[test]
    fn rds_for_mysql_lines_carry_fields_after_the_return_code() {
        // The AWS audit plugin for MySQL, as its documentation shows it.
        let connect = parse_line(
            b"20230418 05:48:26,ip-172-22-1-235,appuser,10.8.51.65,4686871,0,CONNECT,information_schema,,0,SSL",
        )
        .unwrap();
        assert_eq!(connect.operation, b"CONNECT");
        assert_eq!(connect.database, b"information_schema");
        assert_eq!((connect.retcode, connect.connection_type()), (0, Some(&b"SSL"[..])));
        let failed =
            parse_line(b"20230418 05:48:27,ip-172-22-1-235,appuser,10.8.51.65,4686872,0,FAILED_CONNECT,,,1045,TCP/IP")
                .unwrap();
        assert_eq!((failed.operation, failed.retcode), (&b"FAILED_CONNECT"[..], 1045));
        let query = parse_line(
            b"20230418 05:48:29,ip-172-22-1-235,appuser,10.8.51.65,4686871,77,QUERY,shop,'SET PASSWORD FOR u = <secret>',0,,",
        )
        .unwrap();
        assert_eq!(&*query.object, b"SET PASSWORD FOR u = <secret>");
        assert_eq!(query.extra, vec![&b""[..], &b""[..]]);
        assert_eq!(query.connection_type(), None);
    }

    #[test]
    fn aurora_times_are_epoch_microseconds_and_its_objects_are_tables() {
        let read = parse_line(b"1733130000123456,shop-aurora-1,app,10.0.1.9,310,10442,READ,shop,orders,0").unwrap();
        assert_eq!(read.time, at("2024-12-02T09:00:00.123456Z"));
        assert_eq!((read.operation, read.database, &*read.object), (&b"READ"[..], &b"shop"[..], &b"orders"[..]));
        assert!(!read.quoted);
        let drop =
            parse_line(b"1733130000200000,shop-aurora-1,app,10.0.1.9,310,10443,QUERY,shop,'DROP TABLE orders',0")
                .unwrap();
        assert_eq!(&*drop.object, b"DROP TABLE orders");
    }

    #[test]
    fn a_statement_cut_inside_an_escape_still_ends_at_its_last_quote() {
        // Cut at the query log limit right after a backslash.
        let r = parse_line(b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT \\'it\\\\',0").unwrap();
        assert_eq!(&*r.object, b"SELECT 'it\\");
        let cut = parse_line(b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT \\',0").unwrap();
        assert_eq!(&*cut.object, b"SELECT \\", "a lone backslash at the cut stays");
    }

    #[test]
    fn bytes_that_are_not_utf8_are_kept() {
        let r = parse_line(b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT \xff\xfe',0").unwrap();
        assert_eq!(&*r.object, b"SELECT \xff\xfe");
    }

    #[test]
    fn a_line_that_is_not_a_record_says_which_field_is_wrong() {
        for (line, field) in [
            (&b""[..], "timestamp"),
            (b"garbage", "timestamp"),
            (b"yesterday,vm,app,h,9,1,QUERY,shop,'x',0", "timestamp"),
            (b"20261121 22:43:57,vm,app,h,nine,1,QUERY,shop,'x',0", "connectionid"),
            (b"20261121 22:43:57,vm,app,h,9,1,,shop,'x',0", "operation"),
            (b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'x", "object"),
            (b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'x'", "object"),
            (b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'x',ok", "retcode"),
            (b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,t", "retcode"),
        ] {
            let err = parse_line(line).unwrap_err();
            assert_eq!(err.field, field, "{}: {err}", String::from_utf8_lossy(line));
        }
    }

    #[test]
    fn engines_name_their_dialect() {
        assert_eq!(Dialect::of_engine("mariadb"), Some(Dialect::MariaDb));
        assert_eq!(Dialect::of_engine("mysql"), Some(Dialect::RdsMySql));
        assert_eq!(Dialect::of_engine("aurora-mysql"), Some(Dialect::Aurora));
        assert_eq!(Dialect::of_engine("postgres"), None);
    }

    /// A statement escaped as the plugin escapes it.
    fn escape(statement: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &b in statement {
            match b {
                b'\'' => out.extend_from_slice(b"\\'"),
                b'\\' => out.extend_from_slice(b"\\\\"),
                b'\n' => out.extend_from_slice(b"\\n"),
                b'\r' => out.extend_from_slice(b"\\r"),
                b'\t' => out.extend_from_slice(b"\\t"),
                b => out.push(b),
            }
        }
        out
    }

    proptest! {
        #[test]
        fn any_statement_the_plugin_escapes_comes_back_exactly(
            statement in proptest::collection::vec(any::<u8>(), 0..200),
            retcode in -1i64..70000,
            extra in proptest::option::of("(SSL|TCP/IP|)"),
        ) {
            let mut line = b"20261121 22:43:57,vm,app,10.0.0.1,9,77,QUERY,shop,'".to_vec();
            line.extend(escape(&statement));
            line.extend(format!("',{retcode}").bytes());
            if let Some(extra) = &extra {
                line.extend(format!(",{extra}").bytes());
            }
            let r = parse_line(&line).unwrap();
            prop_assert_eq!(&*r.object, &statement[..]);
            prop_assert_eq!(r.retcode, retcode);
            prop_assert_eq!(r.extra.len(), usize::from(extra.is_some()));
        }
    }
}
