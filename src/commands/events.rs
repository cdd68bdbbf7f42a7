//! `events`: derive OCSF events from objects already shipped (see
//! `events::derive`), per raw object of the selected instances whose
//! records fall within `--since/--until`. Idempotent, and safe alongside
//! runs and other derivations: the raw trail is only read.

use super::{config_error, connect};
use crate::cli::EventsArgs;
use crate::error::{Failure, Severity};
use crate::events::derive::{derive_object, dialect_of, EventSink, EventTally, NotDerived};
use crate::instance::Instance;
use crate::keys::{instance_prefix, parse_object_key};
use crate::store::{ObjectFacts, ObjectStore};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::sync::Arc;

/// What derivation did for one instance.
#[derive(Debug, Serialize)]
pub struct Derived {
    pub instance: String,
    #[serde(flatten)]
    pub tally: EventTally,
    /// Where the event files are.
    pub destination: String,
}

/// The objects a derivation takes: those whose records may fall in the
/// window (objects made before record times were kept are always read).
struct Window {
    since: Option<DateTime<Utc>>,
    until: Option<DateTime<Utc>>,
}

impl Window {
    fn wants(&self, facts: &ObjectFacts) -> bool {
        let after = self.since.is_none_or(|since| facts.last_record.is_none_or(|last| last >= since));
        let before = self.until.is_none_or(|until| facts.first_record.is_none_or(|first| first <= until));
        after && before
    }
}

pub(crate) async fn command(args: EventsArgs) -> Result<Severity, Failure> {
    let cfg = Arc::new(args.to_config().map_err(config_error)?);
    let (clients, instances) = connect(cfg).await?;
    let sink = clients.events.as_ref().expect("the events command always has a sink");
    let window = Window { since: args.since, until: args.until };
    let mut severity = Severity::default();
    for instance in &instances {
        match derive_instance(&clients.s3, sink, instance, &clients.cfg.prefix, &window).await {
            Ok(tally) => {
                print(&Derived { instance: instance.id.0.clone(), tally, destination: sink.describe() }, args.json)
            }
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
    let t = &d.tally;
    crate::outln!(
        "{}: {} objects read, {} event files created, {} already there: {} events ({} lines that are not records) in {}",
        d.instance,
        t.objects,
        t.files_created,
        t.files_existing,
        t.events,
        t.unparsed,
        d.destination
    );
}

/// Every raw object of the instance in the window. An object that is not
/// what its metadata says stops the instance (`verify` names it).
async fn derive_instance(
    raw: &dyn ObjectStore,
    sink: &EventSink,
    instance: &Instance,
    prefix: &str,
    window: &Window,
) -> Result<EventTally, Failure> {
    let dialect = dialect_of(instance)?;
    let mut tally = EventTally::default();
    for key in raw.list_keys(&instance_prefix(prefix, instance)).await? {
        if parse_object_key(&key).is_none() {
            continue;
        }
        let Some(facts) = raw.head(&key).await?.and_then(|e| e.facts) else { continue };
        if window.wants(&facts) {
            let derived = derive_object(raw, sink, instance, dialect, &key, Some(&facts), None)
                .await
                .map_err(NotDerived::failure)?;
            tally.add(&derived);
        }
    }
    Ok(tally)
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
        let options = Window { since: at("2026-12-02T10:00:00Z"), until: at("2026-12-02T11:00:00Z") };
        assert!(options.wants(&facts(Some("2026-12-02T09:00:00Z"), Some("2026-12-02T10:00:00Z"))));
        assert!(options.wants(&facts(Some("2026-12-02T10:59:00Z"), Some("2026-12-02T12:00:00Z"))));
        assert!(!options.wants(&facts(Some("2026-12-02T08:00:00Z"), Some("2026-12-02T09:59:59Z"))));
        assert!(!options.wants(&facts(Some("2026-12-02T11:00:01Z"), Some("2026-12-02T12:00:00Z"))));
        assert!(options.wants(&facts(None, None)), "an object without record times is read");
    }
}
