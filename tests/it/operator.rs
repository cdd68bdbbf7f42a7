//! Operator commands against the real stack: `status` (read-only view of
//! each instance), with its table and its JSON.

use crate::common::*;

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
    let row = &table_rows(&table)["primary"];
    assert_ne!(row["UNSHIPPED"], "0", "{row:?}");
    assert!(row["UNSHIPPED SIZE"].ends_with(" B") || row["UNSHIPPED SIZE"].ends_with("iB"), "{row:?}");
    assert_ne!(row["UNSHIPPED SIZE"], "0 B", "{row:?}");
    assert_eq!(row["LOSSES"], "0", "{row:?}");
    assert!(row["LAST COMMIT"].starts_with("20") && row["LAST COMMIT"].ends_with(" ago)"), "{row:?}");
}

/// The status table's rows by instance, each cell by its column's name.
/// Cells hold single spaces at most; columns are two or more apart.
fn table_rows(out: &RunOutput) -> std::collections::BTreeMap<String, std::collections::BTreeMap<String, String>> {
    let cells =
        |line: &str| line.split("  ").map(str::trim).filter(|c| !c.is_empty()).map(String::from).collect::<Vec<_>>();
    let mut lines = out.stdout.lines();
    let header = cells(lines.next().unwrap());
    assert!(header.starts_with(&["INSTANCE".to_string()]), "{header:?}");
    lines
        .filter(|l| !l.starts_with("  ! "))
        .map(|l| {
            let row = cells(l);
            assert_eq!(row.len(), header.len(), "a cell per column: {l}\n{}", out.stdout);
            (row[0].clone(), header.iter().cloned().zip(row).collect())
        })
        .collect()
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
    assert_ne!(table_rows(&table)["primary"]["LOSSES"], "0", "the loss is counted before a run reports it");
    // One wording of the loss, with the same numbers, in status, verify,
    // the run that reports it (on stdout, where a person reads) and
    // verify afterwards.
    let said = warnings.split("data already lost: ").nth(1).unwrap().split("; ").next().unwrap().to_string();
    assert!(said.contains("bytes") && said.contains("lost"), "{said}");
    let before = verify(&stack, &[]).await;
    assert!(before.stdout.contains(&said), "verify words it otherwise: {said}\n{}", before.stdout);
    let run = stack.run(&[]).await;
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stdout.contains(&format!("  ! DATA LOSS: {said}")), "{said}\n{}", run.stdout);
    let recorded = by_instance(&status(&stack, &["--json"]).await);
    assert_eq!(recorded["primary"]["gaps_recorded"].as_u64(), Some(1), "{}", recorded["primary"]);
    let after = verify(&stack, &[]).await;
    assert!(after.stdout.contains(&format!("recorded loss: {said}")), "{said}\n{}", after.stdout);
}

async fn verify(stack: &Stack, extra: &[&str]) -> RunOutput {
    let mut cmd = stack.bare_command_for("verify");
    cmd.args(stack.selection()).args(extra);
    finished(cmd).await
}

async fn put(stack: &Stack, key: &str, plain: &[u8], metadata: &std::collections::BTreeMap<String, String>) {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    std::io::Write::write_all(&mut gz, plain).unwrap();
    let mut put = stack.s3.put_object().bucket(&stack.bucket).key(key).body(gz.finish().unwrap().into());
    for (k, v) in metadata {
        put = put.metadata(k, v);
    }
    put.send().await.unwrap();
}

/// `verify` after a clean run finds nothing, shallow or deep. Then an
/// object deleted, one overwritten by another tool, one rewritten with
/// self-consistent metadata but other bytes, and an overlapping duplicate:
/// each is named by key or byte range, exit 3. Only `--deep` can see the
/// rewrite (it compares objects with the file on the instance).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verify_names_deleted_overwritten_rewritten_and_overlapping_objects() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(500, Some(200));
    stack.replica.traffic_with(40, None, &["--read-only"]);
    assert_eq!(stack.run(&["--object-size", "2048"]).await.code, 0);
    for deep in [&["--json"][..], &["--deep", "--json"][..]] {
        let clean = verify(&stack, deep).await;
        assert_eq!(clean.code, 0, "{clean:?}");
        let lines = verify_lines(&clean);
        assert_eq!(verify_summary(&lines, "primary")["problems"], 0, "{}", clean.stdout);
    }

    // Objects of one rotated file, still on the instance, in offset order.
    let objects = stack.objects().await;
    let mut keys: Vec<&String> = objects
        .keys()
        .filter(|k| k.contains("/primary/") && objects[*k].metadata["source-file"] == "audit/server_audit.log.1")
        .collect();
    keys.sort();
    assert!(keys.len() >= 5, "{keys:?}");
    let meta = |k: &str| objects[k].metadata.clone();
    let range = |k: &str| format!("{}..{}", meta(k)["start-offset"], meta(k)["end-offset"]);

    let deleted = keys[1].clone();
    stack.s3.delete_object().bucket(&stack.bucket).key(&deleted).send().await.unwrap();

    let overwritten = keys[2].clone();
    put(&stack, &overwritten, b"something else\n", &Default::default()).await;

    let rewritten = keys[3].clone();
    let mut plain = gunzip(&objects[&rewritten].bytes);
    plain[0] = if plain[0] == b'X' { b'Y' } else { b'X' };
    let mut m = meta(&rewritten);
    m.insert("sha256".into(), hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&plain)));
    put(&stack, &rewritten, &plain, &m).await;

    // A second object starting inside keys[4]'s range.
    let inside = keys[4].clone();
    let start: u64 = meta(&inside)["start-offset"].parse::<u64>().unwrap() + 1;
    let end: u64 = meta(&inside)["end-offset"].parse().unwrap();
    let dup_key = format!("{}/{start:020}.log.gz", &inside[..inside.rfind('/').unwrap()]);
    let mut m = meta(&inside);
    m.insert("start-offset".into(), start.to_string());
    let dup_plain = &gunzip(&objects[&inside].bytes)[1..];
    m.insert("sha256".into(), hex::encode(<sha2::Sha256 as sha2::Digest>::digest(dup_plain)));
    put(&stack, &dup_key, dup_plain, &m).await;

    let shallow = verify(&stack, &["--json"]).await;
    assert_eq!(shallow.code, 3, "{shallow:?}");
    let shallow_findings = verify_lines(&shallow);
    let missing = |f: &serde_json::Value| format!("{}..{}", f["start"], f["end"]);
    assert!(
        shallow_findings.iter().any(|f| f["problem"] == "missing" && missing(f) == range(&deleted)),
        "{}",
        shallow.stdout
    );
    assert!(
        shallow_findings.iter().any(|f| f["problem"] == "foreign" && f["key"] == overwritten.as_str()),
        "{}",
        shallow.stdout
    );
    assert!(
        shallow_findings
            .iter()
            .any(|f| f["problem"] == "overlap" && (f["start"].as_u64(), f["end"].as_u64()) == (Some(start), Some(end))),
        "{}",
        shallow.stdout
    );
    assert!(!shallow.stdout.contains(&rewritten), "metadata alone cannot see the rewrite: {}", shallow.stdout);

    let deep = verify(&stack, &["--deep", "--json"]).await;
    assert_eq!(deep.code, 3, "{deep:?}");
    let findings = verify_lines(&deep);
    let about = |key: &str| findings.iter().find(|f| f["key"] == key).cloned();
    let rewrite = about(&rewritten).unwrap_or_else(|| panic!("deep misses {rewritten}: {}", deep.stdout));
    assert_eq!(rewrite["problem"], "diverged");
    assert!(rewrite["why"].as_str().unwrap().contains("differs from the file"), "{rewrite}");
    assert_eq!(about(&overwritten).unwrap()["problem"], "foreign");
    assert!(findings.iter().any(|f| f["problem"] == "missing" && f["instance"] == "primary"));
    assert!(findings.iter().any(|f| f["problem"] == "overlap"));
    let summary = verify_summary(&findings, "primary");
    let shallow_problems = verify_summary(&shallow_findings, "primary")["problems"].as_u64().unwrap();
    assert_eq!(summary["problems"].as_u64(), Some(shallow_problems + 1), "{}", deep.stdout);
    assert_eq!(summary["deep"], true);
    assert_eq!(verify_summary(&findings, "replica")["problems"].as_u64(), Some(0), "{}", deep.stdout);

    // In text, a hole comes with the command that fills it.
    let text = verify(&stack, &[]).await;
    assert_eq!(text.code, 3, "{text:?}");
    let repair = format!(
        "to repair, if audit/server_audit.log.1 is still on the instance: auditship backfill --instance primary \
         --bucket {} --prefix {PREFIX} --file audit/server_audit.log.1",
        stack.bucket
    );
    assert!(text.stdout.contains(&repair), "{}", text.stdout);
}

/// The JSON lines `verify --json` printed: findings, then a summary per
/// instance.
fn verify_lines(out: &RunOutput) -> Vec<serde_json::Value> {
    out.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect()
}

fn verify_summary<'a>(lines: &'a [serde_json::Value], instance: &str) -> &'a serde_json::Value {
    lines
        .iter()
        .find(|f| f["instance"] == instance && f.get("problems").is_some())
        .unwrap_or_else(|| panic!("no summary for {instance} in {lines:?}"))
}

/// EMF lines of a run's stdout, by instance (the run line under "run").
fn emf(out: &RunOutput) -> std::collections::BTreeMap<String, serde_json::Value> {
    out.stdout
        .lines()
        .filter(|l| l.starts_with('{') && l.contains("\"_aws\""))
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .map(|v| (v["instance"].as_str().or(v["command"].as_str()).unwrap().to_string(), v))
        .collect()
}

/// A run in a container (stdout not a terminal) emits one EMF line per
/// instance with the summary's numbers and one for the run; a loss shows
/// as `Gaps` and a failed `RunSucceeded`; `--metrics off` and `--dry-run`
/// emit none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn runs_emit_embedded_metric_lines_for_alarms() {
    let stack = Stack::start(Options { rotations: 2, ..Options::default() }).await;
    stack.primary.traffic(100, None);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let lines = emf(&out);
    let primary = &lines["primary"];
    let directive = &primary["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "auditship");
    assert_eq!(directive["Dimensions"], serde_json::json!([["cluster", "instance"], ["cluster"]]));
    assert_eq!(primary["cluster"], "standalone");
    let event = out.shipped("primary");
    assert_eq!(primary["BytesShipped"], event["bytes_shipped"], "{event}");
    assert!(primary["FilesShipped"].as_u64().unwrap() >= 1, "{primary}");
    assert_eq!(primary["Gaps"], 0);
    assert_eq!(lines["run"]["RunSucceeded"], 1);
    assert_eq!(lines["run"]["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["command"]]));
    assert!(lines.contains_key("replica"));

    // One shard of several (as the Terraform module runs each target):
    // the run line can be alarmed on per shard.
    let mut sharded = stack.command(&[]);
    sharded.env("AUDITSHIP_SHARD", "shop");
    let out = finished(sharded).await;
    assert_eq!(out.code, 0, "{out:?}");
    let run = &emf(&out)["run"];
    assert_eq!(run["shard"], "shop", "{run}");
    assert_eq!(
        run["_aws"]["CloudWatchMetrics"][0]["Dimensions"],
        serde_json::json!([["command"], ["command", "shard"]])
    );

    // More rotations than kept: the next run finds a loss.
    stack.primary.traffic(400, Some(50));
    let out = stack.run(&["--metrics-namespace", "audit/prod"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let lines = emf(&out);
    assert_eq!(lines["primary"]["Gaps"], 1, "{}", lines["primary"]);
    assert_eq!(lines["primary"]["_aws"]["CloudWatchMetrics"][0]["Namespace"], "audit/prod");
    assert_eq!((lines["run"]["RunSucceeded"].as_u64(), lines["run"]["ExitCode"].as_u64()), (Some(0), Some(3)));

    for quiet in [&["--metrics", "off"][..], &["--dry-run", "--metrics", "emf"][..]] {
        let out = stack.run(quiet).await;
        assert!(emf(&out).is_empty(), "{quiet:?}: {}", out.stdout);
    }
}

/// `--discover sql`: with only one database endpoint (the primary's or a
/// replica's), the worker asks the real MariaDB for its primary and
/// replicas, maps them to instances through DescribeDBInstances, and ships
/// both. Asking for it wrongly is exit 2.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sql_discovery_finds_the_primary_and_its_replica_from_either_endpoint() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    stack.replica.traffic_with(20, None, &["--read-only"]);
    let sql = |port: u16| {
        vec![
            "--discover".to_string(),
            "sql".into(),
            "--db-endpoint".into(),
            format!("127.0.0.1:{port}"),
            "--db-user".into(),
            "app".into(),
            "--db-tls".into(),
            "off".into(),
        ]
    };
    for port in [stack.primary.port, stack.replica.port] {
        let mut cmd = stack.bare_command_for("discover");
        cmd.args(sql(port)).arg("--json").env("AUDITSHIP_DB_PASSWORD", "app-pass");
        let out = finished(cmd).await;
        assert_eq!(out.code, 0, "{out:?}");
        let found: Vec<(String, String)> = out
            .stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .map(|v| (v["instance"].as_str().unwrap().to_string(), v["role"].as_str().unwrap().to_string()))
            .collect();
        assert_eq!(found, [("primary".into(), "writer".into()), ("replica".into(), "reader".into())], "via {port}");
    }
    // For people: a table, one row per instance, "-" for no cluster.
    let mut cmd = stack.bare_command_for("discover");
    cmd.args(sql(stack.primary.port)).env("AUDITSHIP_DB_PASSWORD", "app-pass");
    let table = finished(cmd).await;
    assert_eq!(table.code, 0, "{table:?}");
    let rows = table_rows(&table);
    assert_eq!(rows.keys().collect::<Vec<_>>(), ["primary", "replica"], "{}", table.stdout);
    assert_eq!((rows["primary"]["ROLE"].as_str(), rows["primary"]["CLUSTER"].as_str()), ("writer", "-"));
    assert_eq!(rows["replica"]["RESOURCE ID"], stack.replica_rid, "{}", table.stdout);

    let mut run = stack.bare_command();
    run.args(sql(stack.replica.port)).env("AUDITSHIP_DB_PASSWORD", "app-pass");
    let out = finished(run).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;

    for (args, says) in [
        (&["--discover", "sql"][..], "--discover sql needs --db-endpoint"),
        (&["--discover", "sql", "--instance", "primary"][..], "drop --cluster, --instance and --tag"),
    ] {
        let mut cmd = stack.bare_command();
        cmd.args(args);
        let out = finished(cmd).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(says), "{args:?}: {}", out.stderr);
    }
}

/// No secret reaches the logs, whatever RUST_LOG asks for: not the AWS
/// secret key, not a session token, not a request signature, not the
/// database password.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_is_logged_even_at_trace_level() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(50, None);
    let token = "auditship-session-token-secret";
    let mut cmd = stack.command(&["--db-user", "app", "--db-tls", "off"]);
    cmd.env("RUST_LOG", "trace").env("AWS_SESSION_TOKEN", token).env("AUDITSHIP_DB_PASSWORD", "app-pass");
    let out = finished(cmd).await;
    assert_eq!(out.code, 0, "{}", out.stderr.lines().rev().take(20).collect::<Vec<_>>().join("\n"));
    let mut doctor = stack.bare_command_for("doctor");
    doctor.args(stack.selection()).args(["--db-user", "app", "--db-tls", "off"]);
    doctor.env("RUST_LOG", "trace").env("AWS_SESSION_TOKEN", token).env("AUDITSHIP_DB_PASSWORD", "app-pass");
    let checked = finished(doctor).await;
    for (what, text) in [("run", &out), ("doctor", &checked)] {
        let all = format!("{}{}", text.stdout, text.stderr);
        assert!(all.lines().count() > 20, "{what}: trace logging produced little: {all}");
        for secret in [SECRET, token, "app-pass", "Signature=", "X-Amz-Signature"] {
            assert!(!all.contains(secret), "{what} logged {secret:?}");
        }
    }
}

/// How many of a file's keys hold exactly its bytes, objects joined in
/// order from offset 0 (a file shipped once: one).
fn keys_holding(
    objects: &std::collections::BTreeMap<String, StoredObject>,
    instance_prefix: &str,
    bytes: &[u8],
) -> usize {
    let mut by_file: std::collections::BTreeMap<String, Vec<u8>> = std::collections::BTreeMap::new();
    for (key, o) in objects.iter().filter(|(k, _)| k.starts_with(instance_prefix)) {
        let dir = key.rsplit_once('/').map(|(d, _)| d.to_string()).unwrap();
        by_file.entry(dir).or_default().extend_from_slice(&gunzip(&o.bytes));
    }
    by_file.values().filter(|joined| joined.as_slice() == bytes).count()
}

/// Two rotated files that begin with the same line (a replayed session, a
/// restart that resets connection and query ids), the newer one longer in
/// one pair and the older one in the other: each ships byte-exact under a
/// key of its own, with no exit 3. Later runs change nothing (the
/// checkpoint does not flip between the names), and `status` and `verify`
/// see every file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_with_one_first_line_each_ship_once() {
    let stack = Stack::start(Options { rotations: 8, ..Options::default() }).await;
    stack.primary.traffic(20, None);
    let line =
        |second: u32, what: &str| format!("20261122 00:00:{second:02},host,rdsadmin,localhost,1,1,QUERY,,'{what}',0\n");
    let file = |first: &str, rest: &[String]| [first.to_string()].iter().chain(rest).cloned().collect::<String>();
    let (one, two) = (line(1, "SELECT 1"), line(2, "SELECT 1"));
    let files = [
        ("server_audit.log.1", file(&one, &[line(1, "newer a"), line(1, "newer b"), line(3, "newer c")])),
        ("server_audit.log.2", file(&one, &[line(1, "older")])),
        ("server_audit.log.3", file(&two, &[line(2, "newer")])),
        ("server_audit.log.4", file(&two, &[line(2, "older a"), line(2, "older b")])),
        ("server_audit.log.5", one.clone()),
    ];
    for (name, bytes) in &files {
        std::fs::write(stack.primary.audit_dir().join(name), bytes).unwrap();
    }

    let first = stack.run(&[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let objects = stack.objects().await;
    let at = format!("{PREFIX}/standalone/primary/");
    for (name, bytes) in &files {
        assert_eq!(keys_holding(&objects, &at, bytes.as_bytes()), 1, "{name} is not shipped exactly once, byte-exact");
    }
    let checkpoint_key = format!("{PREFIX}/_state/{}.json", stack.primary_rid);
    let tracked = |objects: &std::collections::BTreeMap<String, StoredObject>| {
        let cp: serde_json::Value = serde_json::from_slice(&objects[&checkpoint_key].bytes).unwrap();
        cp["files"].clone()
    };
    for _ in 0..2 {
        let again = stack.run(&[]).await;
        assert_eq!(again.code, 0, "{again:?}");
        assert_eq!(again.objects_new("primary"), 0, "{}", again.stdout);
        let now = stack.objects().await;
        assert_eq!(tracked(&now), tracked(&objects), "the checkpoint changed with nothing new");
    }

    let rows = by_instance(&status(&stack, &["--json"]).await);
    let primary = &rows["primary"];
    assert_eq!(primary["files"].as_u64(), Some(stack.primary.audit_files().len() as u64), "{primary}");
    assert_eq!(primary["unshipped_files"].as_u64(), Some(0), "{primary}");
    let checked = verify(&stack, &["--json", "--deep"]).await;
    assert_eq!(checked.code, 0, "{checked:?}");
    let lines = verify_lines(&checked);
    assert_eq!(verify_summary(&lines, "primary")["problems"].as_u64(), Some(0), "{lines:?}");
}

/// A reader that stops reading (`auditship status | head -1`): a command
/// that only reports ends quietly with exit 0; a run that ships finishes
/// its work, with the exit code of its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_stdout_ends_a_report_quietly_and_never_a_run() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(200, Some(80));
    // The reading end is closed before the command starts: its first line
    // meets a broken pipe, whenever it is written.
    let unread = || {
        let (reader, writer) = std::io::pipe().unwrap();
        drop(reader);
        writer
    };
    let mut run = stack.command(&[]);
    run.stdout(unread());
    let out = finished(run).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;

    let reports: [&[&str]; 3] = [&["status", "--json"], &["status"], &["verify"]];
    for args in reports {
        let mut cmd = stack.bare_command_for(args[0]);
        cmd.args(stack.selection()).args(&args[1..]).stdout(unread());
        let out = finished(cmd).await;
        assert_eq!(out.code, 0, "{args:?}: {out:?}");
        assert!(!out.stderr.contains("panicked") && !out.stderr.contains("Broken pipe"), "{args:?}: {out:?}");
    }
    // A dry run writes nothing, so it too ends at its first line.
    stack.primary.traffic(50, None);
    let before = stack.objects().await;
    let mut dry = stack.command(&["--dry-run"]);
    dry.stdout(unread());
    let out = finished(dry).await;
    assert_eq!(out.code, 0, "dry run: {out:?}");
    assert!(!out.stderr.contains("panicked"), "{out:?}");
    assert_eq!(stack.objects().await, before, "a dry run wrote to the bucket");
}

/// At a terminal a person reads: logs in colour unless NO_COLOR is set;
/// no CloudWatch metric lines, also when stdout is piped on (`run | cat`,
/// as `run | tee` does); each instance said once, in words.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_a_terminal_output_is_for_a_person() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    for (then, no_color) in [("", false), ("| cat", false), ("| cat", true)] {
        // As a person runs it: the stack's runs log JSON for the tests.
        let mut run = stack.command(&["--log-format", "auto"]);
        if no_color {
            run.env("NO_COLOR", "1");
        }
        let out = finished(at_a_terminal(&run, then)).await;
        assert_eq!(out.code, 0, "{then} {no_color}: {out:?}");
        let shown = &out.stdout;
        assert!(!shown.contains("\"_aws\""), "metric lines at a terminal ({then}): {shown}");
        assert_eq!(shown.contains("\u{1b}["), !no_color, "colour with NO_COLOR={no_color} ({then}): {shown:?}");
        for instance in ["primary", "replica"] {
            let said = shown.lines().filter(|l| l.contains(instance) && l.contains("objects")).count();
            assert_eq!(said, 1, "{instance} ({then}): {shown}");
        }
        assert!(!shown.contains("instance shipped"), "{shown}");
    }
    stack.assert_all_shipped("primary").await;
}

/// `-q` leaves warnings and errors only; `-v` adds auditship's debug
/// lines. What stdout says does not change.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn quiet_and_verbose_set_how_much_is_logged() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(60, None);
    let levels = |out: &RunOutput| -> std::collections::BTreeSet<String> {
        out.stderr
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["target"].as_str().is_some_and(|t| t.starts_with("auditship")))
            .map(|v| v["level"].as_str().unwrap_or_default().to_string())
            .collect()
    };
    let quiet = stack.run(&["-q"]).await;
    assert_eq!(quiet.code, 0, "{quiet:?}");
    assert!(!levels(&quiet).contains("INFO"), "{}", quiet.stderr);
    assert!(quiet.stdout.contains("primary (writer"), "{}", quiet.stdout);
    stack.primary.traffic(20, None);
    let verbose = stack.run(&["-v"]).await;
    assert_eq!(verbose.code, 0, "{verbose:?}");
    let seen = levels(&verbose);
    assert!(seen.contains("DEBUG") && seen.contains("INFO"), "{seen:?}: {}", verbose.stderr);
    assert!(!seen.contains("TRACE"), "{seen:?}");
}
