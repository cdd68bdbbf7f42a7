//! Operator commands against the real stack: `status` (read-only view of
//! each instance), with its table and its JSON.

mod common;

use common::*;

async fn status(stack: &Stack, extra: &[&str]) -> RunOutput {
    let mut cmd = stack.bare_command_for("status");
    cmd.args(stack.selection()).args(extra);
    finished(cmd).await
}

/// Parses `status --json`: one object per instance, by instance id.
fn by_instance(out: &RunOutput) -> std::collections::BTreeMap<String, serde_json::Value> {
    out.stdout
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .map(|v| (v["instance"].as_str().unwrap().to_string(), v))
        .collect()
}

fn state_keys_and_objects(objects: &std::collections::BTreeMap<String, StoredObject>) -> Vec<(String, Vec<u8>)> {
    objects.iter().map(|(k, o)| (k.clone(), o.bytes.clone())).collect()
}

/// Before the first run everything on the instance is unshipped and there
/// is no checkpoint; after it nothing is, and the commit time is shown.
/// The table names the same numbers. Status never writes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_shows_unshipped_bytes_and_the_last_commit() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(120));
    stack.replica.traffic_with(40, None, &["--read-only"]);

    let before = status(&stack, &["--json"]).await;
    assert_eq!(before.code, 0, "{before:?}");
    let rows = by_instance(&before);
    let on_disk: u64 = stack.primary.audit_files().values().map(|b| b.len() as u64).sum();
    let primary = &rows["primary"];
    assert_eq!(primary["role"], "writer");
    assert_eq!(primary["dbi_resource_id"], stack.primary_rid.as_str());
    assert_eq!(primary["files"].as_u64(), Some(stack.primary.audit_files().len() as u64), "{primary}");
    assert_eq!(primary["unshipped_bytes"].as_u64(), Some(on_disk), "{primary}");
    assert_eq!(primary["last_commit"], serde_json::Value::Null);
    assert!(primary["lag_seconds"].as_u64().is_some(), "{primary}");
    assert!(primary["warnings"].to_string().contains("no checkpoint yet"), "{primary}");
    assert_eq!(rows["replica"]["role"], "reader");
    assert!(stack.objects().await.is_empty(), "status wrote to the bucket");

    let run = stack.run(&[]).await;
    assert_eq!(run.code, 0, "{run:?}");
    let after = by_instance(&status(&stack, &["--json"]).await);
    for instance in ["primary", "replica"] {
        let row = &after[instance];
        assert_eq!(row["unshipped_bytes"].as_u64(), Some(0), "{row}");
        assert_eq!(row["unshipped_files"].as_u64(), Some(0), "{row}");
        assert_eq!(row["lag_seconds"], serde_json::Value::Null, "{row}");
        assert!(row["last_commit"].as_str().is_some_and(|t| t.starts_with("20")), "{row}");
        assert_eq!(row["warnings"].as_array().map(Vec::len), Some(0), "{row}");
    }

    // New lines since the run show as unshipped in the table.
    stack.primary.traffic(50, None);
    let table = status(&stack, &[]).await;
    assert_eq!(table.code, 0, "{table:?}");
    let header = table.stdout.lines().next().unwrap();
    assert!(header.starts_with("INSTANCE") && header.contains("UNSHIPPED") && header.contains("LAST COMMIT"));
    let row = table.stdout.lines().find(|l| l.starts_with("primary ")).unwrap();
    let unshipped_bytes: u64 = row.split_whitespace().nth(5).unwrap().parse().unwrap();
    assert!(unshipped_bytes > 0, "{row}");
    assert!(!row.contains("never"), "{row}");
}

/// Files rotated away before they shipped: status says data is already
/// lost (before any run reports it), exit 0, and changes nothing; the next
/// run then reports the loss with exit 3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn status_warns_of_data_already_lost_without_writing() {
    let stack = Stack::start(Options { rotations: 2, ..Options::default() }).await;
    stack.primary.traffic(100, None);
    assert_eq!(stack.run(&[]).await.code, 0);
    stack.primary.traffic(400, Some(50));
    let objects = state_keys_and_objects(&stack.objects().await);

    let out = status(&stack, &["--json"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let primary = &by_instance(&out)["primary"];
    let warnings = primary["warnings"].to_string();
    assert!(warnings.contains("data already lost"), "{primary}");
    assert!(warnings.contains("audit/server_audit.log"), "names the file: {primary}");
    assert_eq!(state_keys_and_objects(&stack.objects().await), objects, "status wrote to the bucket");

    let table = status(&stack, &[]).await;
    assert!(table.stdout.contains("  ! data already lost"), "{}", table.stdout);
    assert_eq!(stack.run(&[]).await.code, 3);
    let recorded = by_instance(&status(&stack, &["--json"]).await);
    assert_eq!(recorded["primary"]["gaps_recorded"].as_u64(), Some(1), "{}", recorded["primary"]);
}
