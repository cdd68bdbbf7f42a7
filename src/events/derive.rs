//! Deriving the events of shipped raw objects: read an object, check its
//! bytes against its metadata (an event is only ever derived from bytes
//! the trail vouches for), parse every line, and write one Parquet file
//! per UTC day of its records with `If-None-Match`, under a key named from
//! the raw object. So a derivation is idempotent, and any number of them
//! (a run's, the catch-up command's, a repeat after a kill) agree.
//!
//! Where the files go is an `EventSink`: the trail's own bucket under
//! `{prefix}/_events/`, or an Amazon Security Lake custom source's
//! location. The raw trail is only read.

use super::ocsf::{each_object_event, OcsfEvent, Provenance, OCSF_VERSION};
use super::parquet::{EventFile, ROW_GROUP_ROWS};
use super::parse::Dialect;
use crate::error::Failure;
use crate::identify::FileId;
use crate::instance::Instance;
use crate::keys::{join, parse_object_key};
use crate::store::{Created, ObjectFacts, ObjectStore, Record};
use bytes::Bytes;
use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

/// Where derived events are written, and how.
#[derive(Clone)]
pub struct EventSink {
    pub store: Arc<dyn ObjectStore>,
    pub layout: Layout,
    /// `--redact literals`.
    pub redact: bool,
    /// The instances' region (`cloud.region`, and Security Lake's
    /// `region=` partition).
    pub region: String,
}

/// The key layout of the event files.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    /// `{prefix}/_events/ocsf[-redacted]/eventday=YYYYMMDD/…`, in the
    /// trail's bucket: the Athena table's layout.
    Trail { prefix: String },
    /// `{prefix}/region={region}/accountId={account}/eventDay=YYYYMMDD/…`
    /// under the location Security Lake gave the custom source.
    SecurityLake { prefix: String },
}

/// What derivation did: raw objects read, event files written, events.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct EventTally {
    /// Raw objects read.
    pub objects: usize,
    pub files_created: usize,
    /// Event files another derivation had written already.
    pub files_existing: usize,
    pub events: u64,
    /// Lines that are not records (kept as events with a parse error).
    pub unparsed: u64,
}

impl EventTally {
    pub fn add(&mut self, other: &EventTally) {
        self.objects += other.objects;
        self.files_created += other.files_created;
        self.files_existing += other.files_existing;
        self.events += other.events;
        self.unparsed += other.unparsed;
    }

    pub fn is_zero(&self) -> bool {
        *self == EventTally::default()
    }
}

impl EventSink {
    /// The key of the events of the raw object at `start` of `file` whose
    /// records fall on `day`. Named from the raw object, so every
    /// derivation names them the same; redacted events never share a key
    /// with others.
    pub fn key(&self, instance: &Instance, file: &FileId, start: u64, day: NaiveDate) -> Result<String, Failure> {
        let location = instance.cluster.as_deref().unwrap_or("standalone");
        let name = format!("{location}.{}.{file}.{start:020}.parquet", instance.id);
        let day = day.format("%Y%m%d");
        Ok(match &self.layout {
            Layout::Trail { prefix } => {
                let layout = if self.redact { "ocsf-redacted" } else { "ocsf" };
                join(prefix, &format!("_events/{layout}/eventday={day}/{name}"))
            }
            Layout::SecurityLake { prefix } => {
                let account = instance.account.as_deref().ok_or_else(|| {
                    Failure::needs_person(format!(
                        "instance {}: RDS gave no ARN to take its account from, which Security Lake's \
                         accountId= partition needs: check that rds:DescribeDBInstances answers in full",
                        instance.id
                    ))
                })?;
                join(prefix, &format!("region={}/accountId={account}/eventDay={day}/{name}", self.region))
            }
        })
    }

    /// The prefix a listing of every event file lies under (the catch-up
    /// command's `--json` names it).
    pub fn describe(&self) -> String {
        let prefix = match &self.layout {
            Layout::Trail { prefix } => join(prefix, "_events/"),
            Layout::SecurityLake { prefix } => join(prefix, ""),
        };
        self.store.location(&prefix)
    }
}

/// The dialect of an instance's audit log, from its engine.
pub fn dialect_of(instance: &Instance) -> Result<Dialect, Failure> {
    Dialect::of_engine(&instance.engine).ok_or_else(|| {
        Failure::needs_person(format!(
            "instance {}: engine '{}' writes no audit log this parser knows (mariadb, mysql, aurora-mysql)",
            instance.id, instance.engine
        ))
    })
}

/// Why one raw object's events were not derived: worth trying again (S3
/// did not answer), or never (the object is gone or not what its metadata
/// says: `verify` is the command that names such a thing).
pub enum NotDerived {
    Retry(Failure),
    Never(Failure),
}

impl NotDerived {
    pub fn failure(self) -> Failure {
        match self {
            NotDerived::Retry(f) | NotDerived::Never(f) => f,
        }
    }
}

/// The events of the raw object `key` (whose metadata is `facts`, when
/// the caller has them), a file per day of its records. `dialect` is the
/// instance's (`dialect_of`), checked once by the caller; `encoded` is
/// what `Encoding::start` began at landing, when it did.
#[allow(clippy::too_many_arguments)]
pub async fn derive_object(
    raw: &dyn ObjectStore,
    sink: &EventSink,
    instance: &Instance,
    dialect: Dialect,
    key: &str,
    facts: Option<&ObjectFacts>,
    encoded: Option<Encoding>,
) -> Result<EventTally, NotDerived> {
    let Some((file, start)) = parse_object_key(key) else {
        return Err(NotDerived::Never(Failure::needs_person(format!(
            "{} is not named like a raw object: no events are derived from it",
            raw.location(key)
        ))));
    };
    let (days, facts) = match encoded {
        Some(encoding) => encoding.finish().await?,
        None => {
            let facts = match facts {
                Some(facts) => facts.clone(),
                None => head_facts(raw, key).await?,
            };
            let gzip = read_body(raw, key).await?;
            Encoding::start(raw.location(key), key, gzip, facts, sink, instance, dialect).finish().await?
        }
    };
    // Counted once every file of the object is there.
    let mut tally = EventTally { objects: 1, ..EventTally::default() };
    for (day, file_of_day) in days {
        tally.events += file_of_day.events as u64;
        tally.unparsed += file_of_day.unparsed as u64;
        let key = sink.key(instance, &file, start, day).map_err(NotDerived::Never)?;
        match write_events(&*sink.store, &key, &facts, file_of_day).await.map_err(NotDerived::Retry)? {
            Created::Yes => tally.files_created += 1,
            Created::AlreadyExists => tally.files_existing += 1,
        }
    }
    Ok(tally)
}

/// A raw object's event files being made from its gzip body: pure work,
/// on the blocking pool for any but a small object, so a run can begin it
/// the moment the object lands and write the files later.
pub struct Encoding {
    facts: ObjectFacts,
    work: EncodingWork,
}

enum EncodingWork {
    Done(Result<BTreeMap<NaiveDate, DayFile>, NotDerived>),
    Running(tokio::task::JoinHandle<Result<BTreeMap<NaiveDate, DayFile>, NotDerived>>),
}

impl Encoding {
    /// Unpacks `gzip` (checking it holds the bytes `facts` vouch for) and
    /// encodes its events.
    pub fn start(
        location: String,
        key: &str,
        gzip: Bytes,
        facts: ObjectFacts,
        sink: &EventSink,
        instance: &Instance,
        dialect: Dialect,
    ) -> Encoding {
        let origin = Origin {
            dialect,
            instance: instance.id.0.clone(),
            cluster: instance.cluster.clone(),
            dbi_resource_id: facts.dbi_resource_id.clone(),
            region: sink.region.clone(),
            account: instance.account.clone(),
            raw_key: key.to_string(),
        };
        let start = facts.start;
        let default_time = facts
            .first_record
            .or(parse_object_key(key).and_then(|(file, _)| file.first_record_time()))
            .unwrap_or_default();
        let (redact, vouched) = (sink.redact, facts.clone());
        let encode = move || {
            let plain = Bytes::from(unpack_vouched(&gzip, &vouched, &location)?);
            encode_days(&plain, start, &origin.provenance(), default_time, redact).map_err(|e| {
                NotDerived::Never(Failure::needs_person(format!("encoding the events of {location} failed: {e}")))
            })
        };
        // A small object is encoded where it stands (as every simulated
        // one is); a larger one on the blocking pool, off the runtime's
        // threads.
        let work = if facts.end - facts.start <= DERIVE_INLINE_UP_TO {
            EncodingWork::Done(encode())
        } else {
            EncodingWork::Running(tokio::task::spawn_blocking(encode))
        };
        Encoding { facts, work }
    }

    async fn finish(self) -> Result<(BTreeMap<NaiveDate, DayFile>, ObjectFacts), NotDerived> {
        let days = match self.work {
            EncodingWork::Done(days) => days?,
            EncodingWork::Running(handle) => handle.await.map_err(|e| {
                NotDerived::Retry(Failure::transient(format!("deriving the events of {}: {e}", self.facts.source_file)))
            })??,
        };
        Ok((days, self.facts))
    }
}

/// The event files of objects this run landed, begun at landing (up to a
/// budget of raw bytes), so that deriving them neither reads the objects
/// back from S3 nor waits for the encoding after the pass. What does not
/// fit is read back.
#[derive(Default)]
pub struct LandedEvents {
    kept: std::sync::Mutex<(HashMap<String, (Encoding, u64)>, u64)>,
}

/// Raw bytes whose events `LandedEvents` begins at most. Counted in raw
/// bytes, not gzip: what an encoding holds (the unpacked object, then its
/// Parquet) grows with those, and a log that compresses 80 : 1 would
/// otherwise start a gigabyte of encodings at once.
const LANDED_EVENTS_BUDGET: u64 = 64 << 20;

impl LandedEvents {
    /// Whether an object of `raw_bytes` fits the budget; if it does, its
    /// encoding is begun by `start` and kept under `key`.
    pub fn begin(&self, key: &str, raw_bytes: u64, start: impl FnOnce() -> Option<Encoding>) {
        let mut kept = self.kept.lock().expect("landed events");
        let (encodings, bytes) = &mut *kept;
        if *bytes + raw_bytes > LANDED_EVENTS_BUDGET || encodings.contains_key(key) {
            return;
        }
        if let Some(encoding) = start() {
            *bytes += raw_bytes;
            encodings.insert(key.to_string(), (encoding, raw_bytes));
        }
    }

    pub fn take(&self, key: &str) -> Option<Encoding> {
        let mut kept = self.kept.lock().expect("landed events");
        let (encodings, bytes) = &mut *kept;
        let (encoding, size) = encodings.remove(key)?;
        *bytes -= size;
        Some(encoding)
    }
}

/// Raw bytes derived where they stand, below which the blocking pool is
/// not worth its hand-off.
const DERIVE_INLINE_UP_TO: u64 = 64 * 1024;

/// A raw object's provenance, owned (to cross to the blocking pool).
struct Origin {
    dialect: Dialect,
    instance: String,
    cluster: Option<String>,
    dbi_resource_id: String,
    region: String,
    account: Option<String>,
    raw_key: String,
}

impl Origin {
    fn provenance(&self) -> Provenance<'_> {
        Provenance {
            dialect: self.dialect,
            instance: &self.instance,
            cluster: self.cluster.as_deref(),
            dbi_resource_id: &self.dbi_resource_id,
            region: &self.region,
            account: self.account.as_deref(),
            raw_key: &self.raw_key,
        }
    }
}

/// One day's events of a raw object, encoded.
pub struct DayFile {
    pub body: Vec<u8>,
    pub events: usize,
    pub unparsed: usize,
}

/// Every line of `plain` as an event, in files by the UTC day of their
/// time, a row group at a time: memory holds one group per day, not every
/// event of the object.
pub fn encode_days(
    plain: &Bytes,
    start: u64,
    from: &Provenance<'_>,
    default_time: DateTime<Utc>,
    redact: bool,
) -> Result<BTreeMap<NaiveDate, DayFile>, parquet::errors::ParquetError> {
    struct Day<'a> {
        file: EventFile,
        group: Vec<OcsfEvent<'a>>,
        events: usize,
        unparsed: usize,
    }
    let mut days: BTreeMap<NaiveDate, Day> = BTreeMap::new();
    for event in each_object_event(plain, start, default_time, redact) {
        let day = match days.entry(day_of(&event)) {
            std::collections::btree_map::Entry::Occupied(o) => o.into_mut(),
            std::collections::btree_map::Entry::Vacant(v) => {
                v.insert(Day { file: EventFile::new()?, group: Vec::new(), events: 0, unparsed: 0 })
            }
        };
        day.events += 1;
        day.unparsed += usize::from(event.parse_error.is_some());
        day.group.push(event);
        if day.group.len() == ROW_GROUP_ROWS {
            day.file.write_row_group(plain, from, &day.group)?;
            day.group.clear();
        }
    }
    let mut files = BTreeMap::new();
    for (date, mut day) in days {
        if !day.group.is_empty() {
            day.file.write_row_group(plain, from, &day.group)?;
        }
        files.insert(date, DayFile { body: day.file.finish()?, events: day.events, unparsed: day.unparsed });
    }
    Ok(files)
}

fn day_of(event: &OcsfEvent) -> NaiveDate {
    DateTime::<Utc>::from_timestamp_millis(event.time_ms).unwrap_or_default().date_naive()
}

async fn head_facts(raw: &dyn ObjectStore, key: &str) -> Result<ObjectFacts, NotDerived> {
    let location = raw.location(key);
    match raw.head(key).await.map_err(NotDerived::Retry)? {
        Some(existing) => existing.facts.ok_or_else(|| {
            NotDerived::Never(Failure::data_loss(format!(
                "object {location} has lost the metadata that vouches for its bytes: no events are derived from \
                 it; `auditship verify` names what changed"
            )))
        }),
        None => Err(gone(&location)),
    }
}

/// A landed object that is no longer there.
fn gone(location: &str) -> NotDerived {
    NotDerived::Never(Failure::data_loss(format!(
        "object {location} landed and is gone: no events are derived from it; `auditship verify` names what is \
         missing"
    )))
}

/// The object's gzip body, as stored.
async fn read_body(raw: &dyn ObjectStore, key: &str) -> Result<Bytes, NotDerived> {
    match raw.get_small(key).await.map_err(NotDerived::Retry)? {
        Some((gzip, _)) => Ok(Bytes::from(gzip)),
        None => Err(gone(&raw.location(key))),
    }
}

/// The object's bytes, once they are the ones its metadata vouches for.
fn unpack_vouched(gzip: &[u8], facts: &ObjectFacts, location: &str) -> Result<Vec<u8>, NotDerived> {
    facts.unpack(gzip).map_err(|why| {
        NotDerived::Never(Failure::data_loss(format!(
            "object {location} does not hold the bytes its metadata names ({why}): no events are derived from it; \
             `auditship verify --deep` names what changed"
        )))
    })
}

/// One event file, created only if its key is free.
async fn write_events(
    store: &dyn ObjectStore,
    key: &str,
    raw: &ObjectFacts,
    file: DayFile,
) -> Result<Created, Failure> {
    let metadata = HashMap::from([
        ("raw-sha256".to_string(), raw.sha256.clone()),
        ("raw-file-id".to_string(), raw.file_id.clone()),
        ("raw-start-offset".to_string(), raw.start.to_string()),
        ("events".to_string(), file.events.to_string()),
        ("unparsed".to_string(), file.unparsed.to_string()),
        ("ocsf-version".to_string(), OCSF_VERSION.to_string()),
    ]);
    let record = Record { body: file.body, content_type: "application/vnd.apache.parquet".into(), metadata };
    let created = store.create_record(key, &record).await?;
    tracing::info!(
        key,
        events = file.events,
        unparsed = file.unparsed,
        created = created == Created::Yes,
        "events written"
    );
    Ok(created)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sink(layout: Layout, redact: bool) -> EventSink {
        EventSink { store: Arc::new(crate::sim::store::MemStore::new()), layout, redact, region: "eu-west-1".into() }
    }

    #[test]
    fn landed_events_begin_only_within_their_budget_and_free_it_when_taken() {
        let sink = sink(Layout::Trail { prefix: "p".into() }, false);
        let instance = Instance::for_tests("db-R");
        let encoding = |key: &str| {
            let facts = ObjectFacts {
                start: 0,
                end: 0,
                sha256: crate::compress::sha256_hex(b""),
                lines: 0,
                source_file: key.into(),
                role: "writer".into(),
                instance_id: "db-1".into(),
                dbi_resource_id: "db-R".into(),
                file_id: key.into(),
                first_record: None,
                last_record: None,
            };
            Some(Encoding::start(key.into(), key, Bytes::new(), facts, &sink, &instance, Dialect::MariaDb))
        };
        let landed = LandedEvents::default();
        let most = LANDED_EVENTS_BUDGET - 1;
        landed.begin("a", most, || encoding("a"));
        let mut asked = false;
        landed.begin("b", 2, || {
            asked = true;
            encoding("b")
        });
        assert!(!asked, "beyond the budget no encoding is begun");
        assert!(landed.take("b").is_none());
        assert!(landed.take("a").is_some() && landed.take("a").is_none());
        landed.begin("b", 2, || encoding("b"));
        assert!(landed.take("b").is_some(), "what was taken frees its share of the budget");
    }

    #[test]
    fn keys_of_each_layout() {
        let mut instance = Instance::for_tests("db-R");
        instance.account = Some("123456789012".into());
        let file = FileId("20261202T090000Z-00000001".into());
        let day = NaiveDate::from_ymd_opt(2026, 12, 2).unwrap();
        let name = "standalone.db-1.20261202T090000Z-00000001.00000000000000000042.parquet";
        let trail = sink(Layout::Trail { prefix: "audit".into() }, false);
        assert_eq!(
            trail.key(&instance, &file, 42, day).unwrap(),
            format!("audit/_events/ocsf/eventday=20261202/{name}")
        );
        let redacted = sink(Layout::Trail { prefix: "audit".into() }, true);
        assert_eq!(
            redacted.key(&instance, &file, 42, day).unwrap(),
            format!("audit/_events/ocsf-redacted/eventday=20261202/{name}")
        );
        let lake = sink(Layout::SecurityLake { prefix: "ext/auditship/1.0".into() }, false);
        assert_eq!(
            lake.key(&instance, &file, 42, day).unwrap(),
            format!("ext/auditship/1.0/region=eu-west-1/accountId=123456789012/eventDay=20261202/{name}")
        );
        instance.account = None;
        let e = lake.key(&instance, &file, 42, day).unwrap_err();
        assert!(e.message.contains("accountId="), "{}", e.message);
    }

    #[test]
    fn events_go_in_a_file_per_day_of_their_time_in_row_groups() {
        use parquet::file::reader::{FileReader, SerializedFileReader};
        let origin = Origin {
            dialect: Dialect::MariaDb,
            instance: "i".into(),
            cluster: None,
            dbi_resource_id: "db-R".into(),
            region: "r".into(),
            account: None,
            raw_key: "k".into(),
        };
        let mut object = b"20261202 23:59:59,vm,app,h,9,1,QUERY,shop,'SELECT 1',0\n".to_vec();
        let after_midnight = ROW_GROUP_ROWS + 5;
        for n in 0..after_midnight {
            object.extend_from_slice(format!("20261203 00:00:00,vm,app,h,9,{n},QUERY,shop,'SELECT 2',0\n").as_bytes());
        }
        let days = encode_days(&Bytes::from(object), 0, &origin.provenance(), DateTime::UNIX_EPOCH, true).unwrap();
        let shape: Vec<(String, usize, i64, usize)> = days
            .iter()
            .map(|(d, f)| {
                let reader = SerializedFileReader::new(bytes::Bytes::from(f.body.clone())).unwrap();
                let meta = reader.metadata();
                (d.to_string(), f.events, meta.file_metadata().num_rows(), meta.num_row_groups())
            })
            .collect();
        assert_eq!(
            shape,
            vec![("2026-12-02".into(), 1, 1, 1), ("2026-12-03".into(), after_midnight, after_midnight as i64, 2)]
        );
    }
}
