//! Metrics: the run's numbers as CloudWatch Embedded Metric Format lines on
//! stdout. In ECS the `awslogs` driver sends them to CloudWatch Logs, which
//! turns them into metrics without any API call from the worker (so no
//! `cloudwatch:PutMetricData` permission and no extra failure mode). Alarms
//! can then fire on staleness and on gaps, not only on a failed task.
//!
//! One line per instance (dimensions `cluster` + `instance`, and `cluster`
//! alone for fleet roll-ups) and one per run (dimension `command`, and
//! `command` + `shard` when the task is one shard of several).

use crate::report::InstanceReport;
use serde_json::{json, Map, Value};

/// Per-instance metrics: name, unit, value.
fn instance_metrics(r: &InstanceReport) -> [(&'static str, &'static str, u64); 15] {
    let t = &r.transfer;
    [
        ("BytesShipped", "Bytes", r.bytes_shipped),
        ("ObjectsShipped", "Count", r.objects_created as u64),
        ("FilesShipped", "Count", r.files_shipped.len() as u64),
        ("FilesPending", "Count", r.pending_files as u64),
        ("BytesPending", "Bytes", r.pending_bytes),
        ("LagSeconds", "Seconds", r.lag_seconds),
        ("Gaps", "Count", r.gaps as u64),
        ("Failures", "Count", r.failures.len() as u64),
        ("DurationSeconds", "Seconds", r.duration_ms / 1000),
        ("Downloads", "Count", t.downloads),
        ("BytesDownloaded", "Bytes", t.wire_bytes),
        ("RangeFallbacks", "Count", t.ranges_ignored + t.ranges_wrong + t.overlap_mismatches),
        ("EventsDerived", "Count", r.events.events),
        ("EventLinesUnparsed", "Count", r.events.unparsed),
        ("ObjectsAwaitingEvents", "Count", r.events_pending as u64),
    ]
}

/// The names an alarm can use, for the README and the Terraform module.
pub const INSTANCE_METRICS: [&str; 15] = [
    "BytesShipped",
    "ObjectsShipped",
    "FilesShipped",
    "FilesPending",
    "BytesPending",
    "LagSeconds",
    "Gaps",
    "Failures",
    "DurationSeconds",
    "Downloads",
    "BytesDownloaded",
    "RangeFallbacks",
    "EventsDerived",
    "EventLinesUnparsed",
    "ObjectsAwaitingEvents",
];
pub const RUN_METRICS: [&str; 3] = ["RunSucceeded", "RunDurationSeconds", "ExitCode"];

fn line(namespace: &str, timestamp_ms: i64, dimensions: Value, fields: Map<String, Value>, metrics: Value) -> String {
    let mut root = fields;
    root.insert(
        "_aws".into(),
        json!({
            "Timestamp": timestamp_ms,
            "CloudWatchMetrics": [{ "Namespace": namespace, "Dimensions": dimensions, "Metrics": metrics }],
        }),
    );
    Value::Object(root).to_string()
}

/// The EMF line of one instance's report.
pub fn instance_line(namespace: &str, timestamp_ms: i64, r: &InstanceReport) -> String {
    let mut fields = Map::new();
    fields.insert("cluster".into(), r.instance.cluster.clone().unwrap_or_else(|| "standalone".into()).into());
    fields.insert("instance".into(), r.instance.id.0.clone().into());
    fields.insert("role".into(), r.instance.role.as_str().into());
    fields.insert("dbi_resource_id".into(), r.instance.resource_id.0.clone().into());
    fields.insert("outcome".into(), r.outcome().into());
    let mut metrics = Vec::new();
    for (name, unit, value) in instance_metrics(r) {
        fields.insert(name.into(), value.into());
        metrics.push(json!({ "Name": name, "Unit": unit }));
    }
    line(namespace, timestamp_ms, json!([["cluster", "instance"], ["cluster"]]), fields, Value::Array(metrics))
}

/// The EMF line of the run as a whole: alarms on "no successful run in N
/// intervals" sum `RunSucceeded`.
pub fn run_line(
    namespace: &str,
    timestamp_ms: i64,
    command: &str,
    shard: Option<&str>,
    exit_code: u8,
    duration_ms: u64,
) -> String {
    let mut fields = Map::new();
    fields.insert("command".into(), command.into());
    if let Some(shard) = shard {
        fields.insert("shard".into(), shard.into());
    }
    fields.insert("RunSucceeded".into(), u64::from(exit_code == 0).into());
    fields.insert("RunDurationSeconds".into(), (duration_ms / 1000).into());
    fields.insert("ExitCode".into(), exit_code.into());
    let metrics = json!([
        { "Name": "RunSucceeded", "Unit": "Count" },
        { "Name": "RunDurationSeconds", "Unit": "Seconds" },
        { "Name": "ExitCode", "Unit": "None" },
    ]);
    let dimensions = match shard {
        Some(_) => json!([["command"], ["command", "shard"]]),
        None => json!([["command"]]),
    };
    line(namespace, timestamp_ms, dimensions, fields, metrics)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::instance::{Instance, InstanceId, ResourceId, Role};

    fn report() -> InstanceReport {
        let mut r = InstanceReport::new(Instance {
            id: InstanceId("db-1".into()),
            resource_id: ResourceId("db-R".into()),
            cluster: Some("prod".into()),
            role: Role::Writer,
            engine: "mariadb".into(),
            status: "available".into(),
            endpoint: None,
            account: None,
        });
        r.bytes_shipped = 4096;
        r.lag_seconds = 42;
        r.gaps = 1;
        r.files_shipped.insert("f".into());
        r
    }

    /// The shape CloudWatch requires: every metric named in the directive
    /// is a number at the top level, every dimension a string there.
    fn assert_valid_emf(v: &Value) {
        let directive = &v["_aws"]["CloudWatchMetrics"][0];
        assert!(v["_aws"]["Timestamp"].is_i64());
        assert!(directive["Namespace"].is_string());
        for set in directive["Dimensions"].as_array().unwrap() {
            for d in set.as_array().unwrap() {
                assert!(v[d.as_str().unwrap()].is_string(), "dimension {d} missing");
            }
        }
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(v[m["Name"].as_str().unwrap()].is_number(), "metric {m} missing");
        }
    }

    #[test]
    fn instance_line_is_valid_emf_with_the_report_numbers() {
        let v: Value = serde_json::from_str(&instance_line("auditship", 1_700_000_000_000, &report())).unwrap();
        assert_valid_emf(&v);
        assert_eq!((v["cluster"].as_str(), v["instance"].as_str()), (Some("prod"), Some("db-1")));
        assert_eq!(v["BytesShipped"], 4096);
        assert_eq!(v["LagSeconds"], 42);
        assert_eq!(v["Gaps"], 1);
        assert_eq!(v["FilesShipped"], 1);
        let names: Vec<&str> = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["Name"].as_str().unwrap())
            .collect();
        assert_eq!(names, INSTANCE_METRICS);
    }

    #[test]
    fn run_line_is_valid_emf() {
        let v: Value = serde_json::from_str(&run_line("ns", 1, "run", None, 3, 12_500)).unwrap();
        assert_valid_emf(&v);
        assert_eq!((v["RunSucceeded"].as_u64(), v["ExitCode"].as_u64()), (Some(0), Some(3)));
        assert_eq!(v["RunDurationSeconds"], 12);
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["command"]]));
    }

    /// A shard's run line can be alarmed on by itself (command + shard),
    /// and still sums with the others' (command alone).
    #[test]
    fn a_shards_run_line_has_its_own_dimension() {
        let v: Value = serde_json::from_str(&run_line("ns", 1, "run", Some("payments"), 0, 1_000)).unwrap();
        assert_valid_emf(&v);
        assert_eq!(v["shard"], "payments");
        assert_eq!(v["_aws"]["CloudWatchMetrics"][0]["Dimensions"], json!([["command"], ["command", "shard"]]));
    }
}
