//! Audit records as OCSF Datastore Activity events (class_uid 6005,
//! category Application Activity), schema version 1.3.0: the newest that
//! Amazon Security Lake takes from custom sources. Ids are checked
//! against the published schema (`events/application/datastore_activity.json`,
//! `dictionary.json` at tag 1.3.0).
//!
//! Every event carries its provenance in `unmapped`: the instance, cluster
//! and resource id, the raw object's key, and the file offset and length of
//! its line, so it can be checked against the signed raw trail. A line
//! that is not a record is an event too (activity Unknown, with the line
//! and the parse error). Pure.

use super::parse::{AuditRecord, Dialect, ParseError};
use super::{Parsed, RawLine};
use chrono::{DateTime, Utc};
use std::borrow::Cow;

/// The OCSF schema version the events follow.
pub const OCSF_VERSION: &str = "1.3.0";
pub const CLASS_UID: i32 = 6005;
pub const CLASS_NAME: &str = "Datastore Activity";
pub const CATEGORY_UID: i32 = 6;
pub const CATEGORY_NAME: &str = "Application Activity";
/// `metadata.profiles`: the cloud profile (`cloud`) and the datetime one
/// (`time_dt`).
pub const PROFILES: [&str; 2] = ["cloud", "datetime"];

/// Datastore Activity's `activity_id`s (OCSF 1.2.0 and later).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activity {
    Unknown = 0,
    Read = 1,
    Update = 2,
    Connect = 3,
    Query = 4,
    Write = 5,
    Create = 6,
    Delete = 7,
    Other = 99,
}

impl Activity {
    /// `type_name`: the class and the activity's caption.
    pub fn type_name(self) -> &'static str {
        match self {
            Activity::Unknown => "Datastore Activity: Unknown",
            Activity::Read => "Datastore Activity: Read",
            Activity::Update => "Datastore Activity: Update",
            Activity::Connect => "Datastore Activity: Connect",
            Activity::Query => "Datastore Activity: Query",
            Activity::Write => "Datastore Activity: Write",
            Activity::Create => "Datastore Activity: Create",
            Activity::Delete => "Datastore Activity: Delete",
            Activity::Other => "Datastore Activity: Other",
        }
    }

    pub fn caption(self) -> &'static str {
        match self {
            Activity::Unknown => "Unknown",
            Activity::Read => "Read",
            Activity::Update => "Update",
            Activity::Connect => "Connect",
            Activity::Query => "Query",
            Activity::Write => "Write",
            Activity::Create => "Create",
            Activity::Delete => "Delete",
            Activity::Other => "Other",
        }
    }
}

/// Where an event comes from: the instance and the raw object. The same
/// for every event of an object, so the writer lays these out as
/// constant columns rather than per event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance<'a> {
    pub dialect: Dialect,
    pub instance: &'a str,
    pub cluster: Option<&'a str>,
    pub dbi_resource_id: &'a str,
    pub region: &'a str,
    pub account: Option<&'a str>,
    /// The raw object's key.
    pub raw_key: &'a str,
}

/// What the dialect's plugin is, as OCSF names it.
pub struct Product {
    /// `metadata.product.name` / `.vendor_name`.
    pub name: &'static str,
    pub vendor_name: &'static str,
    /// `database.type`; `database.type_id` is 1, Relational.
    pub database_type: &'static str,
}

impl Provenance<'_> {
    pub fn product(&self) -> Product {
        let (name, vendor_name, database_type) = match self.dialect {
            Dialect::MariaDb => ("MariaDB Audit Plugin", "MariaDB", "MariaDB"),
            Dialect::RdsMySql => ("Amazon RDS for MySQL audit plugin", "Amazon Web Services", "MySQL"),
            Dialect::Aurora => ("Amazon Aurora MySQL advanced auditing", "Amazon Web Services", "Aurora MySQL"),
        };
        Product { name, vendor_name, database_type }
    }
}

/// One OCSF event: what differs from line to line, borrowed from the
/// line wherever the line holds it as it is (valid UTF-8, no escapes), so
/// that mapping a line allocates nothing in the common case. Each field's
/// OCSF path is in its comment where it differs from the name; what is
/// the same for every event of an object is in `Provenance`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcsfEvent<'a> {
    pub activity_id: i32,
    /// The activity's caption, or the plugin's operation for Other.
    pub activity_name: Cow<'a, str>,
    pub type_uid: i64,
    /// `{class}: {activity caption}`.
    pub type_name: &'static str,
    /// `time`: milliseconds since the epoch; `time_dt` the same.
    pub time_ms: i64,
    pub status_id: i32,
    pub status: &'static str,
    /// `status_code`: the record's return code.
    pub retcode: Option<i64>,
    /// `metadata.original_time`: the record's time as the plugin wrote it.
    pub original_time: Option<Cow<'a, str>>,
    /// `metadata.correlation_uid`: the connection id.
    pub connection_id: Option<u64>,
    /// `actor.user.name`.
    pub user: Option<Cow<'a, str>>,
    /// `src_endpoint.ip` (an address) or `.hostname`, and `.port`.
    pub src_ip: Option<Cow<'a, str>>,
    pub src_hostname: Option<Cow<'a, str>>,
    pub src_port: Option<i32>,
    /// `dst_endpoint.hostname`: the server host the plugin names.
    pub dst_hostname: Option<Cow<'a, str>>,
    /// `database.name`.
    pub database: Option<Cow<'a, str>>,
    /// `table.name`: the object of a table event.
    pub table: Option<Cow<'a, str>>,
    /// `query_info.query_string` (the statement, lossy where it is not
    /// UTF-8) and `.uid` (the query id).
    pub query: Option<Cow<'a, str>>,
    pub query_id: Option<u64>,
    /// `raw_data`: the line (lossy where it is not UTF-8); none when
    /// literals are redacted (the line holds them).
    pub raw_data: Option<Cow<'a, str>>,
    /// `unmapped.raw_offset`, `.raw_length`: where the line is in its file.
    pub raw_offset: u64,
    pub raw_length: u64,
    /// `unmapped.operation`.
    pub operation: Option<Cow<'a, str>>,
    /// `unmapped.statement`: the statement's exact bytes, where they are
    /// not UTF-8 (else `query` holds them exactly).
    pub statement: Option<Cow<'a, [u8]>>,
    /// `unmapped.parse_error`: why a line is not a record.
    pub parse_error: Option<String>,
}

/// The event of one parsed line. `fallback_time` is for a line that is
/// not a record (the nearest record's time in its object). `redact`
/// replaces the statement's literals by `?` and leaves out the line.
pub fn event(parsed: Parsed<'_>, fallback_time: DateTime<Utc>, redact: bool) -> OcsfEvent<'_> {
    let mut event = match parsed.record {
        Ok(record) => of_record(record, parsed.line),
        Err(error) => of_unparsed(parsed.line, &error, fallback_time),
    };
    if redact {
        event.redact();
    }
    event
}

/// Every line of a raw object as an event, in line order. A line that is
/// not a record takes the time of the record before it in the object (or
/// after it, or `default_time` when the object has none), so that it lands
/// in the day its neighbours do.
pub fn object_events(object: &[u8], start: u64, default_time: DateTime<Utc>) -> Vec<OcsfEvent<'_>> {
    each_object_event(object, start, default_time, false).collect()
}

/// `object_events` one at a time, so that a large object's events need
/// not all be held at once (the object is parsed twice: once to find its
/// first record's time, which is cheap).
pub fn each_object_event(
    object: &[u8],
    start: u64,
    default_time: DateTime<Utc>,
    redact: bool,
) -> impl Iterator<Item = OcsfEvent<'_>> {
    let first_time = super::parse_object(object, start).find_map(|p| p.record.ok().map(|r| r.time));
    let mut time = first_time.unwrap_or(default_time);
    super::parse_object(object, start).map(move |p| {
        if let Ok(r) = &p.record {
            time = r.time;
        }
        event(p, time, redact)
    })
}

fn of_record<'a>(r: AuditRecord<'a>, line: RawLine<'a>) -> OcsfEvent<'a> {
    let line_text = LineText::of(line.bytes);
    let operation = line_text.field(r.operation);
    let (activity, activity_name) = activity_of(&operation, &r);
    let failed = r.retcode != 0;
    let host = line_text.field(r.host);
    let (src_ip, src_hostname) = match host.parse::<std::net::IpAddr>() {
        Ok(_) => (Some(host), None),
        Err(_) => (None, Some(host).filter(|h| !h.is_empty())),
    };
    let table_event = !r.quoted && !r.object.is_empty() && !is_connection(&operation);
    let mut event = base(line, line_text.whole(), r.time, activity, activity_name);
    event.status_id = if failed { 2 } else { 1 };
    event.status = if failed { "Failure" } else { "Success" };
    event.retcode = Some(r.retcode);
    event.original_time = Some(line_text.field(r.time_text));
    event.connection_id = Some(r.connection_id);
    event.user = Some(line_text.field(r.user)).filter(|u| !u.is_empty());
    event.src_ip = src_ip;
    event.src_hostname = src_hostname;
    event.src_port = r.port.map(i32::from);
    event.dst_hostname = Some(line_text.field(r.server_host)).filter(|h| !h.is_empty());
    event.database = Some(line_text.field(r.database)).filter(|d| !d.is_empty());
    event.query_id = Some(r.query_id);
    event.operation = Some(operation);
    match (r.quoted, r.object) {
        (true, object) => {
            let (query, statement) = statement_text(&line_text, object);
            event.query = Some(query);
            event.statement = statement;
        }
        (false, object) if table_event => event.table = Some(statement_text(&line_text, object).0),
        _ => {}
    }
    event
}

/// A line as text, checked once: every field of a valid line is text too
/// (fields end at ASCII commas and quotes, never inside a character), so
/// a field is then taken from it without checking its bytes again.
struct LineText<'a> {
    bytes: &'a [u8],
    text: Option<&'a str>,
}

impl<'a> LineText<'a> {
    fn of(bytes: &'a [u8]) -> LineText<'a> {
        LineText { bytes, text: simdutf8::basic::from_utf8(bytes).ok() }
    }

    fn whole(&self) -> Cow<'a, str> {
        self.text.map_or_else(|| String::from_utf8_lossy(self.bytes), Cow::Borrowed)
    }

    /// `part` (a slice of the line, or of anything else) as text.
    fn field(&self, part: &'a [u8]) -> Cow<'a, str> {
        let at = (part.as_ptr() as usize).wrapping_sub(self.bytes.as_ptr() as usize);
        match self.text.and_then(|t| t.get(at..at.checked_add(part.len())?)) {
            Some(field) if field.as_bytes().as_ptr() == part.as_ptr() => Cow::Borrowed(field),
            _ => text(part),
        }
    }
}

/// A statement (or object) as text, and its exact bytes where the text
/// cannot hold them (they are not UTF-8).
fn statement_text<'a>(line: &LineText<'a>, statement: Cow<'a, [u8]>) -> (Cow<'a, str>, Option<Cow<'a, [u8]>>) {
    match statement {
        Cow::Borrowed(bytes) => match line.field(bytes) {
            Cow::Borrowed(text) => (Cow::Borrowed(text), None),
            lossy => (lossy, Some(Cow::Borrowed(bytes))),
        },
        Cow::Owned(bytes) => owned_statement_text(bytes),
    }
}

/// `statement_text` of bytes made here (escapes undone, literals
/// redacted).
fn owned_statement_text<'a>(bytes: Vec<u8>) -> (Cow<'a, str>, Option<Cow<'a, [u8]>>) {
    // Checked by simdutf8 and copied: std's own check (`String::from_utf8`)
    // costs more than the copy on text that is not all ASCII.
    match simdutf8::basic::from_utf8(&bytes) {
        Ok(text) => (Cow::Owned(text.to_owned()), None),
        Err(_) => (Cow::Owned(String::from_utf8_lossy(&bytes).into_owned()), Some(Cow::Owned(bytes))),
    }
}

fn of_unparsed<'a>(line: RawLine<'a>, error: &ParseError, time: DateTime<Utc>) -> OcsfEvent<'a> {
    let mut event = base(line, text(line.bytes), time, Activity::Unknown, Cow::Borrowed(Activity::Unknown.caption()));
    event.parse_error = Some(error.to_string());
    event
}

/// What every event holds, whatever its line.
fn base<'a>(
    line: RawLine<'a>,
    raw_data: Cow<'a, str>,
    time: DateTime<Utc>,
    activity: Activity,
    activity_name: Cow<'a, str>,
) -> OcsfEvent<'a> {
    OcsfEvent {
        activity_id: activity as i32,
        activity_name,
        type_uid: i64::from(CLASS_UID) * 100 + activity as i64,
        type_name: activity.type_name(),
        time_ms: time.timestamp_millis(),
        status_id: 0,
        status: "Unknown",
        retcode: None,
        original_time: None,
        connection_id: None,
        user: None,
        src_ip: None,
        src_hostname: None,
        src_port: None,
        dst_hostname: None,
        database: None,
        table: None,
        query: None,
        query_id: None,
        raw_data: Some(raw_data),
        raw_offset: line.offset,
        raw_length: line.bytes.len() as u64,
        operation: None,
        statement: None,
        parse_error: None,
    }
}

fn is_connection(operation: &str) -> bool {
    matches!(operation, "CONNECT" | "DISCONNECT" | "FAILED_CONNECT" | "CHANGEUSER" | "PROXY_CONNECT")
}

/// The activity of a record: connections by their operation, table events
/// by theirs, statements by their first keyword.
fn activity_of<'a>(operation: &Cow<'a, str>, r: &AuditRecord<'_>) -> (Activity, Cow<'a, str>) {
    let named = |a: Activity| (a, Cow::Borrowed(a.caption()));
    match operation.as_ref() {
        "CONNECT" | "FAILED_CONNECT" | "PROXY_CONNECT" => named(Activity::Connect),
        "DISCONNECT" => (Activity::Other, Cow::Borrowed("Disconnect")),
        "CHANGEUSER" => (Activity::Other, Cow::Borrowed("Change User")),
        "READ" => named(Activity::Read),
        "WRITE" => named(Activity::Write),
        "CREATE" => named(Activity::Create),
        "DROP" => named(Activity::Delete),
        "ALTER" | "RENAME" => named(Activity::Update),
        op if op.starts_with("QUERY") => named(statement_activity(&r.object)),
        _ => (Activity::Other, operation.clone()),
    }
}

/// A statement's activity by its first keyword (after spaces, comments
/// and opening parentheses).
pub fn statement_activity(statement: &[u8]) -> Activity {
    const KEYWORDS: [(&[u8], Activity); 19] = [
        (b"SELECT", Activity::Query),
        (b"SHOW", Activity::Query),
        (b"DESCRIBE", Activity::Query),
        (b"DESC", Activity::Query),
        (b"EXPLAIN", Activity::Query),
        (b"WITH", Activity::Query),
        (b"TABLE", Activity::Query),
        (b"VALUES", Activity::Query),
        (b"INSERT", Activity::Write),
        (b"REPLACE", Activity::Write),
        (b"LOAD", Activity::Write),
        (b"UPDATE", Activity::Update),
        (b"ALTER", Activity::Update),
        (b"RENAME", Activity::Update),
        (b"GRANT", Activity::Update),
        (b"REVOKE", Activity::Update),
        (b"DELETE", Activity::Delete),
        (b"TRUNCATE", Activity::Delete),
        (b"DROP", Activity::Delete),
    ];
    let keyword = first_keyword(statement);
    if keyword.eq_ignore_ascii_case(b"CREATE") {
        return Activity::Create;
    }
    KEYWORDS.iter().find(|(k, _)| k.eq_ignore_ascii_case(keyword)).map_or(Activity::Query, |&(_, a)| a)
}

fn first_keyword(statement: &[u8]) -> &[u8] {
    let mut s = statement;
    loop {
        let trimmed = s.trim_ascii_start();
        let trimmed = trimmed.strip_prefix(b"(").unwrap_or(trimmed);
        if let Some(rest) = trimmed.strip_prefix(b"/*") {
            // MySQL's executable comments (`/*!50001 … */`) hold the statement.
            if rest.first() == Some(&b'!') {
                s = rest[1..].trim_ascii_start();
                s = &s[s.iter().take_while(|b| b.is_ascii_digit()).count()..];
                continue;
            }
            match rest.windows(2).position(|w| w == b"*/") {
                Some(end) => s = &rest[end + 2..],
                None => return b"",
            }
        } else if trimmed.starts_with(b"--") || trimmed.starts_with(b"#") {
            match trimmed.iter().position(|&b| b == b'\n') {
                Some(end) => s = &trimmed[end + 1..],
                None => return b"",
            }
        } else if trimmed.len() < s.len() {
            s = trimmed;
        } else {
            let len = s.iter().take_while(|b| b.is_ascii_alphabetic()).count();
            return &s[..len];
        }
    }
}

impl OcsfEvent<'_> {
    /// The statement's literals replaced by `?` (`--redact literals`),
    /// and the line, which holds them, left out.
    pub fn redact(&mut self) {
        let statement = self.statement.take().or_else(|| match self.query.take()? {
            Cow::Borrowed(s) => Some(Cow::Borrowed(s.as_bytes())),
            Cow::Owned(s) => Some(Cow::Owned(s.into_bytes())),
        });
        if let Some(statement) = statement {
            let (query, exact) = owned_statement_text(super::redact::redact_literals(&statement));
            self.query = Some(query);
            self.statement = exact;
        }
        self.raw_data = None;
    }

    /// `metadata.uid`: `{raw key}#{offset}`, unique, and the same however
    /// often the event is derived (the Parquet writer lays the column out
    /// from the same two parts without making this String per event).
    pub fn uid(&self, from: &Provenance<'_>) -> String {
        format!("{}#{}", from.raw_key, self.raw_offset)
    }
}

/// Bytes as text: borrowed where they are UTF-8, else a lossy copy.
fn text(bytes: &[u8]) -> Cow<'_, str> {
    // A check first: much quicker than `from_utf8_lossy` on the valid
    // text that nearly every field is.
    match simdutf8::basic::from_utf8(bytes) {
        Ok(valid) => Cow::Borrowed(valid),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::events::parse_object;

    fn provenance() -> Provenance<'static> {
        Provenance {
            dialect: Dialect::MariaDb,
            instance: "shop-1",
            cluster: None,
            dbi_resource_id: "db-R",
            region: "eu-west-1",
            account: Some("123456789012"),
            raw_key: "p/standalone/shop-1/dt=2026-11-21/f/00000000000000001000.log.gz",
        }
    }

    fn events_of(object: &[u8]) -> Vec<OcsfEvent<'_>> {
        let fallback = DateTime::<Utc>::UNIX_EPOCH;
        parse_object(object, 1000).map(|p| event(p, fallback, false)).collect()
    }

    #[test]
    fn a_failed_login_is_a_failed_connect_with_its_error_code() {
        let line = b"20261121 22:43:57,vm,app,10.0.0.7:50412,9,0,FAILED_CONNECT,,,1045";
        let [e] = &events_of(line)[..] else { panic!() };
        assert_eq!((e.activity_id, e.type_uid, e.type_name), (3, 600503, "Datastore Activity: Connect"));
        assert_eq!((e.status_id, e.status, e.retcode), (2, "Failure", Some(1045)));
        assert_eq!((e.src_ip.as_deref(), e.src_port, e.user.as_deref()), (Some("10.0.0.7"), Some(50412), Some("app")));
        assert_eq!(e.time_ms, "2026-11-21T22:43:57Z".parse::<DateTime<Utc>>().unwrap().timestamp_millis());
        assert_eq!(e.uid(&provenance()), format!("{}#1000", provenance().raw_key));
        assert_eq!((e.raw_offset, e.raw_length), (1000, line.len() as u64));
        assert_eq!(e.table, None, "a connection has no table");
        assert!(matches!(e.user, Some(Cow::Borrowed(_))), "text the line holds as it is is borrowed");
    }

    #[test]
    fn an_operation_with_no_activity_of_its_own_is_other_named_by_the_plugin() {
        let [e] = &events_of(b"20261121 22:43:57,vm,app,h,9,0,DISCONNECT,,,0")[..] else { panic!() };
        assert_eq!(
            (e.activity_id, e.activity_name.as_ref(), e.type_name),
            (99, "Disconnect", "Datastore Activity: Other")
        );
        let [e] = &events_of(b"20261121 22:43:57,vm,app,h,9,0,TRIGGER,shop,t,0")[..] else { panic!() };
        assert_eq!((e.activity_id, e.activity_name.as_ref(), e.type_uid), (99, "TRIGGER", 600599));
    }

    #[test]
    fn statements_are_classed_by_their_first_keyword() {
        for (statement, activity) in [
            (&b"SELECT 1"[..], Activity::Query),
            (b"  /* hint */ (select 1)", Activity::Query),
            (b"insert into t values (1)", Activity::Write),
            (b"UPDATE t SET a = 1", Activity::Update),
            (b"DELETE FROM t", Activity::Delete),
            (b"DROP TABLE orders", Activity::Delete),
            (b"CREATE TABLE t (a int)", Activity::Create),
            (b"/*!40101 ALTER TABLE t ADD b int */", Activity::Update),
            (b"-- note\nTRUNCATE t", Activity::Delete),
            (b"SET NAMES utf8mb4", Activity::Query),
            (b"", Activity::Query),
        ] {
            assert_eq!(statement_activity(statement), activity, "{}", String::from_utf8_lossy(statement));
        }
    }

    #[test]
    fn a_query_keeps_its_exact_bytes_and_a_lossy_text() {
        let [e] = &events_of(b"20261121 22:43:57,vm,app,h,9,77,QUERY,shop,'SELECT \\'\xff\\'',0")[..] else { panic!() };
        assert_eq!(e.statement.as_deref(), Some(&b"SELECT '\xff'"[..]));
        assert_eq!(e.query.as_deref(), Some("SELECT '\u{fffd}'"));
        assert_eq!((e.database.as_deref(), e.query_id), (Some("shop"), Some(77)));
        assert_eq!(e.src_hostname.as_deref(), Some("h"));
        assert_eq!((e.status_id, e.activity_id), (1, 4));
    }

    #[test]
    fn a_line_that_is_not_utf8_keeps_its_fields_that_are() {
        let [e] = &events_of(b"20261121 22:43:57,vm,app,h,9,77,QUERY,shop,'SELECT x\xfe FROM t',0")[..] else {
            panic!()
        };
        assert_eq!(e.statement.as_deref(), Some(&b"SELECT x\xfe FROM t"[..]), "the exact bytes");
        assert_eq!(e.query.as_deref(), Some("SELECT x\u{fffd} FROM t"));
        assert_eq!(
            e.raw_data.as_deref(),
            Some("20261121 22:43:57,vm,app,h,9,77,QUERY,shop,'SELECT x\u{fffd} FROM t',0")
        );
        assert!(matches!(e.user, Some(Cow::Borrowed("app"))) && matches!(e.database, Some(Cow::Borrowed("shop"))));
    }

    #[test]
    fn a_utf8_query_is_its_text_alone_unescaped_where_the_line_escaped_it() {
        let events = events_of(b"20261121 22:43:57,vm,app,h,9,77,QUERY,shop,'SELECT \\'caf\xc3\xa9\\'',0\n20261121 22:43:57,vm,app,h,9,78,QUERY,shop,'SELECT 1',0");
        assert_eq!((events[0].query.as_deref(), &events[0].statement), (Some("SELECT 'caf\u{e9}'"), &None));
        assert_eq!((events[1].query.as_deref(), &events[1].statement), (Some("SELECT 1"), &None));
        assert!(matches!(events[1].query, Some(Cow::Borrowed(_))));
    }

    #[test]
    fn a_redacted_event_keeps_the_statement_shape_and_drops_the_line() {
        for (line, shape, exact) in [
            (
                &b"20261121 22:43:57,vm,app,h,9,77,QUERY,shop,'SELECT * FROM t WHERE email = \\'a@b.c\\'',0"[..],
                "SELECT * FROM t WHERE email = ?",
                None,
            ),
            (
                b"20261121 22:43:57,vm,app,h,9,77,QUERY,shop,'SELECT \\'\xff\\' FROM t\xfe',0",
                "SELECT ? FROM t\u{fffd}",
                Some(&b"SELECT ? FROM t\xfe"[..]),
            ),
        ] {
            let [e] = &events_of(line)[..] else { panic!() };
            let mut r = e.clone();
            r.redact();
            assert_eq!(r.query.as_deref(), Some(shape));
            assert_eq!(r.statement.as_deref(), exact);
            assert_eq!(r.raw_data, None);
            assert_eq!((r.raw_offset, r.raw_length), (e.raw_offset, e.raw_length));
        }
    }

    #[test]
    fn an_aurora_table_event_names_its_table() {
        let from = Provenance { dialect: Dialect::Aurora, ..provenance() };
        let parsed = parse_object(b"1733130000123456,shop-aurora-1,app,10.0.1.9,310,10442,READ,shop,orders,0", 0)
            .next()
            .unwrap();
        let e = event(parsed, DateTime::<Utc>::UNIX_EPOCH, false);
        assert_eq!((e.activity_id, e.table.as_deref(), e.query.as_deref()), (1, Some("orders"), None));
        let product = from.product();
        assert_eq!((product.database_type, product.vendor_name), ("Aurora MySQL", "Amazon Web Services"));
        assert_eq!(e.time_ms, 1_733_130_000_123);
    }

    #[test]
    fn a_line_that_is_not_a_record_takes_its_neighbours_time() {
        let object = b"oops\n20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT 1',0\nmid\n1733130000123456,a,b,h,1,2,READ,d,t,0\nend";
        let default = DateTime::<Utc>::UNIX_EPOCH;
        let times: Vec<i64> = object_events(object, 0, default).iter().map(|e| e.time_ms).collect();
        let maria = "2026-11-21T22:43:57Z".parse::<DateTime<Utc>>().unwrap().timestamp_millis();
        assert_eq!(times, vec![maria, maria, maria, 1_733_130_000_123, 1_733_130_000_123]);
        let none = object_events(b"oops\n", 0, default);
        assert_eq!(none.iter().map(|e| e.time_ms).collect::<Vec<_>>(), vec![0]);
    }

    #[test]
    fn a_line_that_is_not_a_record_is_an_unknown_event_with_its_line_and_error() {
        let events = events_of(b"20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT 1',0\ngarbage,\n");
        let e = &events[1];
        assert_eq!((e.activity_id, e.type_uid, e.status_id), (0, 600500, 0));
        assert_eq!(e.raw_data.as_deref(), Some("garbage,"));
        assert!(e.parse_error.as_deref().is_some_and(|w| w.starts_with("timestamp")), "{:?}", e.parse_error);
        assert_eq!(e.time_ms, 0, "the time given for it");
    }
}
