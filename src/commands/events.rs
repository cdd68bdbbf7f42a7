//! `events`: derive OCSF events from objects already shipped. Per raw
//! object (of the selected instances, within `--since/--until`): read it,
//! check its bytes against its metadata (so an event is only ever derived
//! from the bytes the trail vouches for), parse every line, and write one
//! Parquet file per day of its records with `If-None-Match` under a key
//! named from the raw object. So it is idempotent and safe alongside runs
//! and other derivations; the raw trail is only read.

use super::{config_error, connect};
use crate::cli::{EventsArgs, Redact};
use crate::config::EventSettings;
use crate::error::{Failure, Severity};
use crate::events::ocsf::{object_events, OcsfEvent, Provenance, OCSF_VERSION};
use crate::events::parse::Dialect;
use crate::instance::Instance;
use crate::keys::{event_key, instance_prefix, parse_object_key};
use crate::store::{Created, ObjectFacts, ObjectStore, Record};
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// What derivation did for one instance.
#[derive(Debug, Default, Serialize)]
pub struct Derived {
    pub instance: String,
    /// Raw objects read (in the window).
    pub objects: usize,
    pub files_created: usize,
    /// Event files another derivation had written already.
    pub files_existing: usize,
    pub events: u64,
    /// Lines that are not records (kept as events with a parse error).
    pub unparsed: u64,
}

/// The choices every object's derivation shares.
struct Options<'a> {
    prefix: &'a str,
    region: &'a str,
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
    redact: bool,
}

impl Options<'_> {
    fn layout(&self) -> &'static str {
        if self.redact {
            "ocsf-redacted"
        } else {
            "ocsf"
        }
    }

    /// Whether an object's records may fall in the window (objects made
    /// before record times were kept are always read).
    fn wants(&self, facts: &ObjectFacts) -> bool {
        let after = self.since.is_none_or(|since| facts.last_record.is_none_or(|last| last >= since));
        let before = self.until.is_none_or(|until| facts.first_record.is_none_or(|first| first <= until));
        after && before
    }
}

pub(crate) async fn command(args: EventsArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let (clients, instances) = connect(cfg).await?;
    let options = Options {
        prefix: &clients.cfg.prefix,
        region: clients.identity.region(),
        since: args.since,
        until: args.until,
        redact: args.redact == Some(Redact::Literals),
    };
    let mut severity = Severity::default();
    for instance in &instances {
        match derive_instance(&clients.s3, instance, &options).await {
            Ok(derived) => print(&derived, args.json),
            Err(f) => {
                eprintln!("auditship: error: instance {}: {}", instance.id, f.message);
                severity.record(f.kind);
            }
        }
    }
    Ok(severity)
}

fn print(d: &Derived, json: bool) {
    if json {
        crate::outln!("{}", serde_json::to_value(d).expect("a tally serializes"));
        return;
    }
    crate::outln!(
        "{}: {} objects read, {} event files created, {} already there: {} events ({} lines that are not records)",
        d.instance,
        d.objects,
        d.files_created,
        d.files_existing,
        d.events,
        d.unparsed
    );
}

async fn derive_instance(
    store: &dyn ObjectStore,
    instance: &Instance,
    options: &Options<'_>,
) -> Result<Derived, Failure> {
    let dialect = dialect_of(instance)?;
    let mut derived = Derived { instance: instance.id.0.clone(), ..Derived::default() };
    for key in store.list_keys(&instance_prefix(options.prefix, instance)).await? {
        let Some(facts) = store.head(&key).await?.and_then(|e| e.facts) else { continue };
        if options.wants(&facts) {
            derive_object(store, instance, dialect, &key, &facts, options, &mut derived).await?;
        }
    }
    Ok(derived)
}

fn dialect_of(instance: &Instance) -> Result<Dialect, Failure> {
    Dialect::of_engine(&instance.engine).ok_or_else(|| {
        Failure::needs_person(format!(
            "instance {}: engine '{}' writes no audit log this parser knows (mariadb, mysql, aurora-mysql)",
            instance.id, instance.engine
        ))
    })
}

/// `run --events`: the events of the objects a pass landed.
pub(crate) async fn derive_landed(
    store: &dyn ObjectStore,
    prefix: &str,
    region: &str,
    settings: EventSettings,
    instance: &Instance,
    keys: &[String],
) -> Result<Derived, Failure> {
    let options = Options { prefix, region, since: None, until: None, redact: settings.redact };
    let dialect = dialect_of(instance)?;
    let mut derived = Derived { instance: instance.id.0.clone(), ..Derived::default() };
    for key in keys {
        let Some(facts) = store.head(key).await?.and_then(|e| e.facts) else {
            return Err(Failure::transient(format!("object {} landed and is gone", store.location(key))));
        };
        derive_object(store, instance, dialect, key, &facts, &options, &mut derived).await?;
    }
    Ok(derived)
}

/// One raw object's events, a file per day of its records.
async fn derive_object(
    store: &dyn ObjectStore,
    instance: &Instance,
    dialect: Dialect,
    key: &str,
    facts: &ObjectFacts,
    options: &Options<'_>,
    derived: &mut Derived,
) -> Result<(), Failure> {
    let Some((file, start)) = parse_object_key(key) else { return Ok(()) };
    let plain = read_vouched(store, key, facts).await?;
    derived.objects += 1;
    let from = Provenance {
        dialect,
        instance: &instance.id.0,
        cluster: instance.cluster.as_deref(),
        dbi_resource_id: &facts.dbi_resource_id,
        region: options.region,
        account: None,
        raw_key: key,
    };
    let default_time = facts.first_record.or(file.first_record_time()).unwrap_or_default();
    let events = object_events(&plain, start, &from, default_time);
    derived.events += events.len() as u64;
    derived.unparsed += events.iter().filter(|e| e.parse_error.is_some()).count() as u64;
    for (day, events) in by_day(events, options.redact) {
        let key = event_key(options.prefix, options.layout(), instance, &file, start, day);
        match write_events(store, &key, facts, events).await? {
            Created::Yes => derived.files_created += 1,
            Created::AlreadyExists => derived.files_existing += 1,
        }
    }
    Ok(())
}

/// The object's bytes, once they are the ones its metadata vouches for.
async fn read_vouched(store: &dyn ObjectStore, key: &str, facts: &ObjectFacts) -> Result<Vec<u8>, Failure> {
    let location = store.location(key);
    let Some((gzip, _)) = store.get_small(key).await? else {
        return Err(Failure::transient(format!("object {location} was listed and is gone; run again")));
    };
    facts.unpack(&gzip).map_err(|why| {
        Failure::data_loss(format!(
            "object {location} does not hold the bytes its metadata names ({why}): no events are derived from it; \
             `auditship verify --deep` names what changed"
        ))
    })
}

/// The events by the UTC day of their time, each with `--redact` applied.
fn by_day(events: Vec<OcsfEvent>, redact: bool) -> BTreeMap<NaiveDate, Vec<OcsfEvent>> {
    let mut days: BTreeMap<NaiveDate, Vec<OcsfEvent>> = BTreeMap::new();
    for e in events {
        let day = DateTime::<Utc>::from_timestamp_millis(e.time_ms).unwrap_or_default().date_naive();
        days.entry(day).or_default().push(if redact { e.redacted() } else { e });
    }
    days
}

/// One event file, created only if its key is free.
async fn write_events(
    store: &dyn ObjectStore,
    key: &str,
    raw: &ObjectFacts,
    events: Vec<OcsfEvent>,
) -> Result<Created, Failure> {
    let count = events.len();
    let unparsed = events.iter().filter(|e| e.parse_error.is_some()).count();
    let body = tokio::task::spawn_blocking(move || crate::events::parquet::encode(events))
        .await
        .map_err(|e| Failure::transient(format!("encoding events for {key}: {e}")))?
        .map_err(|e| Failure::needs_person(format!("encoding events for {key} failed: {e}")))?;
    let metadata = HashMap::from([
        ("raw-sha256".to_string(), raw.sha256.clone()),
        ("raw-file-id".to_string(), raw.file_id.clone()),
        ("raw-start-offset".to_string(), raw.start.to_string()),
        ("events".to_string(), count.to_string()),
        ("unparsed".to_string(), unparsed.to_string()),
        ("ocsf-version".to_string(), OCSF_VERSION.to_string()),
    ]);
    let record = Record { body, content_type: "application/vnd.apache.parquet".into(), metadata };
    let created = store.create_record(key, &record).await?;
    tracing::info!(key, events = count, unparsed, created = created == Created::Yes, "events written");
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(first: Option<&str>, last: Option<&str>) -> ObjectFacts {
        ObjectFacts {
            start: 0,
            end: 1,
            sha256: String::new(),
            lines: 1,
            source_file: "audit/server_audit.log".into(),
            role: "writer".into(),
            instance_id: "i".into(),
            dbi_resource_id: "db-R".into(),
            file_id: "20261202T090000Z-00000001".into(),
            first_record: first.map(|t| t.parse().unwrap()),
            last_record: last.map(|t| t.parse().unwrap()),
        }
    }

    #[test]
    fn a_window_takes_the_objects_whose_records_overlap_it() {
        let at = |s: &str| Some(s.parse::<DateTime<Utc>>().unwrap());
        let options = Options {
            prefix: "p",
            region: "eu-west-1",
            since: at("2026-12-02T10:00:00Z"),
            until: at("2026-12-02T11:00:00Z"),
            redact: false,
        };
        assert!(options.wants(&facts(Some("2026-12-02T09:00:00Z"), Some("2026-12-02T10:00:00Z"))));
        assert!(options.wants(&facts(Some("2026-12-02T10:59:00Z"), Some("2026-12-02T12:00:00Z"))));
        assert!(!options.wants(&facts(Some("2026-12-02T08:00:00Z"), Some("2026-12-02T09:59:59Z"))));
        assert!(!options.wants(&facts(Some("2026-12-02T11:00:01Z"), Some("2026-12-02T12:00:00Z"))));
        assert!(options.wants(&facts(None, None)), "an object without record times is read");
    }

    #[test]
    fn events_split_by_the_day_of_their_time() {
        let from = Provenance {
            dialect: Dialect::MariaDb,
            instance: "i",
            cluster: None,
            dbi_resource_id: "db-R",
            region: "r",
            account: None,
            raw_key: "k",
        };
        let object = b"20261202 23:59:59,vm,app,h,9,1,QUERY,shop,'SELECT 1',0\n20261203 00:00:00,vm,app,h,9,2,QUERY,shop,'SELECT 2',0\n";
        let days = by_day(object_events(object, 0, &from, DateTime::UNIX_EPOCH), true);
        let counts: Vec<(String, usize)> = days.iter().map(|(d, e)| (d.to_string(), e.len())).collect();
        assert_eq!(counts, vec![("2026-12-02".into(), 1), ("2026-12-03".into(), 1)]);
        assert!(days.values().flatten().all(|e| e.raw_data.is_none() && e.query.as_deref() == Some("SELECT ?")));
    }
}
