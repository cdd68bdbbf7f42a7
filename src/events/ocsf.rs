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

/// Where an event comes from: the instance and the raw object.
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

/// One OCSF event, flat, as the Parquet writer lays it out (each field's
/// OCSF path in its comment where it differs from the name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OcsfEvent {
    pub activity_id: i32,
    pub activity_name: String,
    pub type_uid: i64,
    pub type_name: String,
    pub severity_id: i32,
    /// `time`: milliseconds since the epoch; `time_dt` the same.
    pub time_ms: i64,
    pub status_id: i32,
    pub status: &'static str,
    pub status_code: Option<String>,
    /// `metadata.product.name` / `.vendor_name`.
    pub product_name: &'static str,
    pub vendor_name: &'static str,
    /// `metadata.uid`: `{raw key}#{offset}`, unique and the same however
    /// often the event is derived.
    pub uid: String,
    /// `metadata.original_time`: the record's time as the plugin wrote it.
    pub original_time: Option<String>,
    /// `metadata.correlation_uid`: the connection id.
    pub correlation_uid: Option<String>,
    /// `actor.user.name`.
    pub user: Option<String>,
    /// `src_endpoint.ip` (an address) or `.hostname`, and `.port`.
    pub src_ip: Option<String>,
    pub src_hostname: Option<String>,
    pub src_port: Option<i32>,
    /// `dst_endpoint.hostname` (serverhost), `.name` (the instance).
    pub dst_hostname: Option<String>,
    pub dst_name: String,
    /// `database.name` / `.type`; `database.type_id` is 1, Relational.
    pub database: Option<String>,
    pub database_type: &'static str,
    /// `table.name`: the object of a table event.
    pub table: Option<String>,
    /// `query_info.query_string` (the statement, lossy where it is not
    /// UTF-8) and `.uid` (the query id).
    pub query: Option<String>,
    pub query_uid: Option<String>,
    /// `cloud.region`, `cloud.account.uid`; `cloud.provider` is AWS.
    pub region: String,
    pub account: Option<String>,
    /// `raw_data`: the line (lossy where it is not UTF-8); none when
    /// literals are redacted (the line holds them).
    pub raw_data: Option<String>,
    /// `unmapped.*`: provenance, the plugin's own fields, the exact
    /// statement bytes, and why a line did not parse.
    pub instance: String,
    pub cluster: Option<String>,
    pub dbi_resource_id: String,
    pub raw_key: String,
    pub raw_offset: i64,
    pub raw_length: i64,
    pub operation: Option<String>,
    pub statement: Option<Vec<u8>>,
    pub parse_error: Option<String>,
}

/// The event of one parsed line. `fallback_time` is for a line that is
/// not a record (the nearest record's time in its object).
pub fn event(parsed: &Parsed<'_>, from: &Provenance<'_>, fallback_time: DateTime<Utc>) -> OcsfEvent {
    match &parsed.record {
        Ok(record) => of_record(record, parsed.line, from),
        Err(error) => of_unparsed(parsed.line, error, from, fallback_time),
    }
}

/// Every line of a raw object as an event, in line order. A line that is
/// not a record takes the time of the record before it in the object (or
/// after it, or `default_time` when the object has none), so that it lands
/// in the day its neighbours do.
pub fn object_events(object: &[u8], start: u64, from: &Provenance<'_>, default_time: DateTime<Utc>) -> Vec<OcsfEvent> {
    each_object_event(object, start, from, default_time).collect()
}

/// `object_events` one at a time, so that a large object's events need
/// not all be held at once (the object is parsed twice: once to find its
/// first record's time, which is cheap).
pub fn each_object_event<'a>(
    object: &'a [u8],
    start: u64,
    from: &'a Provenance<'a>,
    default_time: DateTime<Utc>,
) -> impl Iterator<Item = OcsfEvent> + 'a {
    let first_time = super::parse_object(object, start).find_map(|p| p.record.ok().map(|r| r.time));
    let mut time = first_time.unwrap_or(default_time);
    super::parse_object(object, start).map(move |p| {
        if let Ok(r) = &p.record {
            time = r.time;
        }
        event(&p, from, time)
    })
}

fn of_record(r: &AuditRecord<'_>, line: RawLine<'_>, from: &Provenance<'_>) -> OcsfEvent {
    let operation = text(r.operation);
    let (activity, activity_name) = activity_of(&operation, r);
    let failed = r.retcode != 0;
    let host = text(r.host);
    let (src_ip, src_hostname) = match host.parse::<std::net::IpAddr>() {
        Ok(_) => (Some(host), None),
        Err(_) => (None, Some(host).filter(|h| !h.is_empty())),
    };
    let table_event = !r.quoted && !r.object.is_empty() && !is_connection(&operation);
    let mut event = base(line, from, r.time, activity, activity_name);
    event.status_id = if failed { 2 } else { 1 };
    event.status = if failed { "Failure" } else { "Success" };
    event.status_code = Some(r.retcode.to_string());
    event.original_time = Some(text(r.time_text));
    event.correlation_uid = Some(r.connection_id.to_string());
    event.user = Some(text(r.user)).filter(|u| !u.is_empty());
    event.src_ip = src_ip;
    event.src_hostname = src_hostname;
    event.src_port = r.port.map(i32::from);
    event.dst_hostname = Some(text(r.server_host)).filter(|h| !h.is_empty());
    event.database = Some(text(r.database)).filter(|d| !d.is_empty());
    event.table = table_event.then(|| text(&r.object));
    event.query = r.quoted.then(|| text(&r.object));
    event.query_uid = Some(r.query_id.to_string());
    event.operation = Some(operation);
    event.statement = r.quoted.then(|| r.object.to_vec());
    event
}

fn of_unparsed(line: RawLine<'_>, error: &ParseError, from: &Provenance<'_>, time: DateTime<Utc>) -> OcsfEvent {
    let mut event = base(line, from, time, Activity::Unknown, Activity::Unknown.caption().to_string());
    event.parse_error = Some(error.to_string());
    event
}

/// What every event holds, whatever its line.
fn base(
    line: RawLine<'_>,
    from: &Provenance<'_>,
    time: DateTime<Utc>,
    activity: Activity,
    activity_name: String,
) -> OcsfEvent {
    let (product_name, vendor_name, database_type) = match from.dialect {
        Dialect::MariaDb => ("MariaDB Audit Plugin", "MariaDB", "MariaDB"),
        Dialect::RdsMySql => ("Amazon RDS for MySQL audit plugin", "Amazon Web Services", "MySQL"),
        Dialect::Aurora => ("Amazon Aurora MySQL advanced auditing", "Amazon Web Services", "Aurora MySQL"),
    };
    OcsfEvent {
        activity_id: activity as i32,
        type_uid: i64::from(CLASS_UID) * 100 + activity as i64,
        type_name: format!("{CLASS_NAME}: {activity_name}"),
        activity_name,
        severity_id: 1,
        time_ms: time.timestamp_millis(),
        status_id: 0,
        status: "Unknown",
        status_code: None,
        product_name,
        vendor_name,
        uid: format!("{}#{}", from.raw_key, line.offset),
        original_time: None,
        correlation_uid: None,
        user: None,
        src_ip: None,
        src_hostname: None,
        src_port: None,
        dst_hostname: None,
        dst_name: from.instance.to_string(),
        database: None,
        database_type,
        table: None,
        query: None,
        query_uid: None,
        region: from.region.to_string(),
        account: from.account.map(str::to_string),
        raw_data: Some(text(line.bytes)),
        instance: from.instance.to_string(),
        cluster: from.cluster.map(str::to_string),
        dbi_resource_id: from.dbi_resource_id.to_string(),
        raw_key: from.raw_key.to_string(),
        raw_offset: line.offset as i64,
        raw_length: line.bytes.len() as i64,
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
fn activity_of(operation: &str, r: &AuditRecord<'_>) -> (Activity, String) {
    let named = |a: Activity| (a, a.caption().to_string());
    match operation {
        "CONNECT" | "FAILED_CONNECT" | "PROXY_CONNECT" => named(Activity::Connect),
        "DISCONNECT" => (Activity::Other, "Disconnect".into()),
        "CHANGEUSER" => (Activity::Other, "Change User".into()),
        "READ" => named(Activity::Read),
        "WRITE" => named(Activity::Write),
        "CREATE" => named(Activity::Create),
        "DROP" => named(Activity::Delete),
        "ALTER" | "RENAME" => named(Activity::Update),
        op if op.starts_with("QUERY") => named(statement_activity(&r.object)),
        op => (Activity::Other, op.to_string()),
    }
}

/// A statement's activity by its first keyword (after spaces, comments
/// and opening parentheses).
pub fn statement_activity(statement: &[u8]) -> Activity {
    let keyword = first_keyword(statement).to_ascii_uppercase();
    match keyword.as_slice() {
        b"SELECT" | b"SHOW" | b"DESCRIBE" | b"DESC" | b"EXPLAIN" | b"WITH" | b"TABLE" | b"VALUES" => Activity::Query,
        b"INSERT" | b"REPLACE" | b"LOAD" => Activity::Write,
        b"UPDATE" | b"ALTER" | b"RENAME" | b"GRANT" | b"REVOKE" => Activity::Update,
        b"DELETE" | b"TRUNCATE" | b"DROP" => Activity::Delete,
        b"CREATE" => Activity::Create,
        _ => Activity::Query,
    }
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

impl OcsfEvent {
    /// The event with its statement's literals replaced by `?`
    /// (`--redact literals`), and without the line, which holds them.
    pub fn redacted(mut self) -> OcsfEvent {
        if let Some(statement) = self.statement.take() {
            let redacted = super::redact::redact_literals(&statement);
            self.query = Some(text(&redacted));
            self.statement = Some(redacted);
        }
        self.raw_data = None;
        self
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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

    fn events_of(object: &[u8]) -> Vec<OcsfEvent> {
        let fallback = DateTime::<Utc>::UNIX_EPOCH;
        parse_object(object, 1000).map(|p| event(&p, &provenance(), fallback)).collect()
    }

    #[test]
    fn a_failed_login_is_a_failed_connect_with_its_error_code() {
        let line = b"20261121 22:43:57,vm,app,10.0.0.7:50412,9,0,FAILED_CONNECT,,,1045";
        let [e] = &events_of(line)[..] else { panic!() };
        assert_eq!((e.activity_id, e.type_uid, e.type_name.as_str()), (3, 600503, "Datastore Activity: Connect"));
        assert_eq!((e.status_id, e.status, e.status_code.as_deref()), (2, "Failure", Some("1045")));
        assert_eq!((e.src_ip.as_deref(), e.src_port, e.user.as_deref()), (Some("10.0.0.7"), Some(50412), Some("app")));
        assert_eq!(e.time_ms, "2026-11-21T22:43:57Z".parse::<DateTime<Utc>>().unwrap().timestamp_millis());
        assert_eq!(e.uid, format!("{}#1000", provenance().raw_key));
        assert_eq!((e.raw_offset, e.raw_length), (1000, line.len() as i64));
        assert_eq!(e.table, None, "a connection has no table");
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
        assert_eq!((e.database.as_deref(), e.query_uid.as_deref()), (Some("shop"), Some("77")));
        assert_eq!(e.src_hostname.as_deref(), Some("h"));
        assert_eq!((e.status_id, e.activity_id), (1, 4));
    }

    #[test]
    fn a_redacted_event_keeps_the_statement_shape_and_drops_the_line() {
        let [e] =
            &events_of(b"20261121 22:43:57,vm,app,h,9,77,QUERY,shop,'SELECT * FROM t WHERE email = \'a@b.c\'',0")[..]
        else {
            panic!()
        };
        let r = e.clone().redacted();
        assert_eq!(r.query.as_deref(), Some("SELECT * FROM t WHERE email = ?"));
        assert_eq!(r.statement.as_deref(), Some(&b"SELECT * FROM t WHERE email = ?"[..]));
        assert_eq!(r.raw_data, None);
        assert_eq!((r.raw_key, r.raw_offset, r.raw_length), (e.raw_key.clone(), e.raw_offset, e.raw_length));
    }

    #[test]
    fn an_aurora_table_event_names_its_table() {
        let from = Provenance { dialect: Dialect::Aurora, ..provenance() };
        let parsed = parse_object(b"1733130000123456,shop-aurora-1,app,10.0.1.9,310,10442,READ,shop,orders,0", 0)
            .next()
            .unwrap();
        let e = event(&parsed, &from, DateTime::<Utc>::UNIX_EPOCH);
        assert_eq!((e.activity_id, e.table.as_deref(), e.query.as_deref()), (1, Some("orders"), None));
        assert_eq!((e.database_type, e.vendor_name), ("Aurora MySQL", "Amazon Web Services"));
        assert_eq!(e.time_ms, 1_733_130_000_123);
    }

    #[test]
    fn a_line_that_is_not_a_record_takes_its_neighbours_time() {
        let object = b"oops\n20261121 22:43:57,vm,app,h,9,1,QUERY,shop,'SELECT 1',0\nmid\n1733130000123456,a,b,h,1,2,READ,d,t,0\nend";
        let default = DateTime::<Utc>::UNIX_EPOCH;
        let times: Vec<i64> = object_events(object, 0, &provenance(), default).iter().map(|e| e.time_ms).collect();
        let maria = "2026-11-21T22:43:57Z".parse::<DateTime<Utc>>().unwrap().timestamp_millis();
        assert_eq!(times, vec![maria, maria, maria, 1_733_130_000_123, 1_733_130_000_123]);
        let none = object_events(b"oops\n", 0, &provenance(), default);
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
