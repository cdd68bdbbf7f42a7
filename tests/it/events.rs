//! The event parser against real MariaDB audit lines: statements with
//! quotes, commas, backslashes, a newline and a tab, bytes that are not
//! UTF-8, one longer than `server_audit_query_log_limit`, and a failed
//! login, each found field by field.

use crate::common::*;
use auditship::events::parse::AuditRecord;
use auditship::events::parse_object;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mariadb_lines_parse_field_by_field() {
    let stack = Stack::start(Options::default()).await;
    let db = &stack.primary;
    let statements: Vec<Vec<u8>> = vec![
        b"SELECT 'a,b' AS `comma, inside`".to_vec(),
        b"SELECT 'it''s', \"dq\", 'back\\\\slash', 'q\\'uote'".to_vec(),
        b"SELECT 'line\none',\t'tab'".to_vec(),
        b"SELECT '\xff\xfe not utf-8'".to_vec(),
        b"SELECT 'caf\xc3\xa9'".to_vec(),
    ];
    for s in &statements {
        db.sql_bytes(s);
    }
    let long = format!("SELECT '{}'", "x".repeat(3000));
    assert!(db.sql_bytes(long.as_bytes()));
    assert!(!db.login("app", "wrong-password"), "a wrong password is refused");

    let files = db.audit_files();
    let mut records: Vec<AuditRecord> = Vec::new();
    for (name, bytes) in &files {
        for event in parse_object(bytes, 0) {
            let record = event.record.unwrap_or_else(|e| {
                panic!("{name}@{}: {e}: {}", event.line.offset, String::from_utf8_lossy(event.line.bytes))
            });
            records.push(record);
        }
    }
    assert!(!records.is_empty());
    for s in &statements {
        let found = records.iter().find(|r| r.operation == b"QUERY" && *r.object == s[..]);
        let found = found.unwrap_or_else(|| panic!("no record of {}", String::from_utf8_lossy(s)));
        assert_eq!((found.user, found.host, found.retcode), (&b"root"[..], &b"localhost"[..], 0), "{found:?}");
        assert!(found.quoted && found.connection_id > 0 && found.query_id > 0, "{found:?}");
    }
    // Cut at the plugin's limit (1024 bytes by default): a prefix.
    let cut = records.iter().find(|r| r.object.starts_with(b"SELECT 'xxxx")).expect("the long statement");
    assert!(cut.object.len() < long.len() && long.as_bytes().starts_with(&cut.object), "{}", cut.object.len());
    let failed = records.iter().find(|r| r.operation == b"FAILED_CONNECT").expect("a failed login");
    assert_eq!((failed.user, failed.host, failed.retcode), (&b"app"[..], &b"127.0.0.1"[..], 1045), "{failed:?}");
}

/// What DuckDB reads of an events file, one JSON object per row, in file
/// order: the reader is not the writer.
fn read_with_duckdb(path: &std::path::Path) -> Vec<serde_json::Value> {
    const QUERY: &str = r#"
import duckdb, json, sys
rows = duckdb.sql("""
  SELECT activity_id, activity_name, class_uid, category_uid, type_uid, type_name, time, epoch_ms(time_dt) AS time_dt,
         status_id, status_code, metadata.version AS version, metadata.uid AS uid, metadata.profiles AS profiles,
         metadata.correlation_uid AS correlation_uid,
         actor.user.name AS user, src_endpoint.ip AS src_ip, src_endpoint.hostname AS src_hostname,
         src_endpoint.port AS src_port, dst_endpoint.hostname AS dst_hostname, dst_endpoint.name AS dst_name,
         database.name AS database, "table".name AS tbl, query_info.query_string AS query, query_info.uid AS query_uid,
         cloud.region AS region, cloud.account.uid AS account, raw_data, unmapped.raw_key AS raw_key, unmapped.raw_offset AS raw_offset,
         unmapped.raw_length AS raw_length, hex(unmapped.statement) AS statement, unmapped.parse_error AS parse_error
  FROM read_parquet(?)""", params=[sys.argv[1]])
names = [d[0] for d in rows.description]
for row in rows.fetchall():
    print(json.dumps(dict(zip(names, row))))
"#;
    let python = repo_root().join(".stack/venv/bin/python");
    let out = std::process::Command::new(&python).arg("-c").arg(QUERY).arg(path).output().unwrap();
    assert!(out.status.success(), "duckdb: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Real lines as OCSF events in Parquet, read back by DuckDB field by
/// field: every line is a row, at its file offset.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn real_mariadb_lines_as_parquet_read_back_by_duckdb() {
    use auditship::events::ocsf::{object_events, Provenance};
    use auditship::events::parse::Dialect;
    let stack = Stack::start(Options::default()).await;
    let db = &stack.primary;
    db.sql_bytes(b"SELECT 'a,b', 'it''s', '\xff\xfe' AS raw");
    assert!(!db.login("app", "wrong-password"));
    let files = db.audit_files();
    let (name, bytes) = files.iter().find(|(n, _)| *n == "server_audit.log").expect("the active file");
    let raw_key = format!("p/standalone/primary/dt=2026-12-03/f/{name}");
    let from = Provenance {
        dialect: Dialect::MariaDb,
        instance: "primary",
        cluster: None,
        dbi_resource_id: "db-R",
        region: "eu-west-1",
        account: Some("123456789012"),
        raw_key: &raw_key,
    };
    let source = bytes::Bytes::from(bytes.clone());
    let mut events = object_events(&source, 0, chrono::DateTime::UNIX_EPOCH);
    let lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
    assert_eq!(events.len(), lines, "one event per line");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.parquet");
    std::fs::write(&path, auditship::events::parquet::encode(&source, &from, &events).unwrap()).unwrap();
    let rows = read_with_duckdb(&path);
    events.sort_by_key(|e| (e.time_ms, e.raw_offset));
    assert_eq!(rows.len(), events.len());
    let number = |n: Option<u64>| n.map(|n| n.to_string());
    for (row, e) in rows.iter().zip(&events) {
        let line = &bytes[e.raw_offset as usize..(e.raw_offset + e.raw_length) as usize];
        assert_eq!(row["raw_data"], String::from_utf8_lossy(line).as_ref(), "the offsets find the line");
        assert_eq!(row["activity_id"], e.activity_id, "{row}");
        assert_eq!(row["activity_name"], e.activity_name.as_ref());
        assert_eq!((row["class_uid"].as_i64(), row["category_uid"].as_i64()), (Some(6005), Some(6)));
        assert_eq!((row["type_uid"].as_i64(), row["type_name"].as_str()), (Some(e.type_uid), Some(e.type_name)));
        assert_eq!((row["time"].as_i64(), row["time_dt"].as_i64()), (Some(e.time_ms), Some(e.time_ms)));
        assert_eq!(row["status_id"], e.status_id);
        assert_eq!(row["status_code"].as_str(), e.retcode.map(|c| c.to_string()).as_deref());
        assert_eq!(row["version"], "1.3.0");
        assert_eq!(row["profiles"], serde_json::json!(["cloud", "datetime"]));
        assert_eq!(row["uid"], e.uid(&from).as_str());
        assert_eq!(row["correlation_uid"].as_str(), number(e.connection_id).as_deref());
        assert_eq!(row["user"].as_str(), e.user.as_deref());
        assert_eq!(row["src_ip"].as_str(), e.src_ip.as_deref());
        assert_eq!(row["src_hostname"].as_str(), e.src_hostname.as_deref());
        assert_eq!(row["src_port"].as_i64(), e.src_port.map(i64::from));
        assert_eq!(row["dst_hostname"].as_str(), e.dst_hostname.as_deref());
        assert_eq!(row["dst_name"], "primary");
        assert_eq!(row["database"].as_str(), e.database.as_deref());
        assert_eq!(row["tbl"].as_str(), e.table.as_deref());
        assert_eq!(row["query"].as_str(), e.query.as_deref());
        assert_eq!(row["query_uid"].as_str(), e.query.as_ref().and(number(e.query_id)).as_deref());
        assert_eq!(row["region"], "eu-west-1");
        assert_eq!(row["account"], "123456789012");
        assert_eq!(row["raw_key"], raw_key.as_str());
        assert_eq!(row["statement"].as_str(), e.statement.as_ref().map(hex::encode_upper).as_deref());
        assert_eq!(row["parse_error"].as_str(), e.parse_error.as_deref());
    }
    let failed = rows.iter().find(|r| r["status_code"] == "1045").expect("the failed login");
    assert_eq!((failed["activity_id"].as_i64(), failed["status_id"].as_i64()), (Some(3), Some(2)));
    let raw = rows.iter().find(|r| r["statement"].as_str().is_some_and(|s| s.contains("FFFE"))).expect("raw bytes");
    assert!(raw["query"].as_str().unwrap().contains('\u{fffd}'), "{raw}");
}

/// `auditship events` over a shipped trail: one event per raw line, each
/// row's raw key and offset find its line in the raw object; a second
/// derivation writes nothing new; `--redact literals` writes its own
/// files with no literal and no raw line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_derived_from_the_trail_point_back_at_every_raw_line() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(100));
    stack.primary.sql_bytes(b"SELECT 'secret-literal-42'");
    assert_eq!(stack.run(&[]).await.code, 0);
    let derive = |extra: &[&str]| {
        let mut cmd = stack.bare_command_for("events");
        cmd.args(stack.selection()).arg("--json").args(extra);
        finished(cmd)
    };
    let first = derive(&[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let tally = |out: &RunOutput| -> serde_json::Value {
        out.stdout
            .lines()
            .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
            .find(|v| v["instance"] == "primary")
            .unwrap()
    };
    let made = tally(&first);
    assert!(made["files_created"].as_u64().unwrap() > 0, "{made}");
    assert_eq!(made["files_existing"], 0, "{made}");

    let objects = stack.objects().await;
    let raw: Vec<&String> =
        stack.object_keys("primary").await.iter().map(|k| objects.get_key_value(k).unwrap().0).collect();
    let raw_lines: usize =
        raw.iter().map(|k| gunzip(&objects[*k].bytes).split(|&b| b == b'\n').filter(|l| !l.is_empty()).count()).sum();
    assert_eq!(made["events"].as_u64(), Some(raw_lines as u64), "one event per raw line: {made}");
    let dir = tempfile::tempdir().unwrap();
    let mut rows = Vec::new();
    for (key, o) in objects.iter().filter(|(k, _)| k.starts_with(&format!("{PREFIX}/_events/ocsf/eventday="))) {
        assert!(key.contains("standalone.primary.") || key.contains("standalone.replica."), "{key}");
        let path = dir.path().join(key.replace('/', "_"));
        std::fs::write(&path, &o.bytes).unwrap();
        rows.extend(read_with_duckdb(&path));
    }
    let primary_rows: Vec<&serde_json::Value> = rows.iter().filter(|r| r["dst_name"] == "primary").collect();
    assert_eq!(primary_rows.len(), raw_lines);
    for row in &primary_rows {
        let key = row["raw_key"].as_str().unwrap();
        let plain = gunzip(&objects[key].bytes);
        let start: u64 = objects[key].metadata["start-offset"].parse().unwrap();
        let at = (row["raw_offset"].as_u64().unwrap() - start) as usize;
        let line = &plain[at..at + row["raw_length"].as_u64().unwrap() as usize];
        assert_eq!(row["raw_data"], String::from_utf8_lossy(line).as_ref(), "{row}");
        assert!(row["parse_error"].is_null(), "real lines all parse: {row}");
    }

    let again = derive(&[]).await;
    assert_eq!(again.code, 0, "{again:?}");
    let repeated = tally(&again);
    assert_eq!(
        (repeated["files_created"].as_u64(), repeated["files_existing"].clone()),
        (Some(0), made["files_created"].clone())
    );

    let redacted = derive(&["--redact", "literals"]).await;
    assert_eq!(redacted.code, 0, "{redacted:?}");
    assert_eq!(tally(&redacted)["files_created"], made["files_created"]);
    let objects = stack.objects().await;
    let mut seen_secret_shape = false;
    for (key, o) in objects.iter().filter(|(k, _)| k.starts_with(&format!("{PREFIX}/_events/ocsf-redacted/"))) {
        let path = dir.path().join(key.replace('/', "_"));
        std::fs::write(&path, &o.bytes).unwrap();
        for row in read_with_duckdb(&path) {
            assert!(row["raw_data"].is_null(), "{row}");
            assert!(!row.to_string().contains("secret-literal-42"), "{row}");
            seen_secret_shape |= row["query"] == "SELECT ?";
        }
    }
    assert!(seen_secret_shape, "the statement is there, its literal is not");
}

/// `status --json`'s object for `instance`, the command having exited 0.
async fn status_of(stack: &Stack, instance: &str) -> serde_json::Value {
    let mut status = stack.bare_command_for("status");
    status.args(stack.selection()).arg("--json");
    let status = finished(status).await;
    assert_eq!(status.code, 0, "{status:?}");
    status
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .find(|v: &serde_json::Value| v["instance"] == instance)
        .unwrap_or_else(|| panic!("no status for {instance}: {}", status.stdout))
}

/// Every raw object of `instance` has an event file among `events` (keys)
/// under `under`.
async fn assert_events_for_every_object<'k>(
    stack: &Stack,
    instance: &str,
    events: impl IntoIterator<Item = &'k String>,
    under: &str,
) {
    let events: Vec<&String> = events.into_iter().collect();
    for raw in stack.object_keys(instance).await {
        let (file, start) = auditship::keys::parse_object_key(&raw).unwrap();
        let name = format!("standalone.{instance}.{file}.{start:020}.parquet");
        assert!(
            events.iter().any(|k| k.starts_with(under) && k.ends_with(&name)),
            "no events for {raw} under {under}: {events:#?}"
        );
    }
}

fn gunzip(gz: &[u8]) -> Vec<u8> {
    let mut plain = Vec::new();
    std::io::Read::read_to_end(&mut flate2::read::MultiGzDecoder::new(gz), &mut plain).unwrap();
    plain
}

/// `run --events` derives the events of what it lands: every raw object
/// has its event file, and a catch-up derivation finds nothing to add.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_with_events_derives_what_it_lands() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(200, Some(80));
    let out = stack.run(&["--events"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("events derived"), "{}", out.stderr);
    let objects = stack.objects().await;
    assert_events_for_every_object(&stack, "primary", objects.keys(), &format!("{PREFIX}/_events/ocsf/eventday="))
        .await;
    let primary = status_of(&stack, "primary").await;
    assert_eq!(
        (primary["events_derived"].as_bool(), primary["objects_awaiting_events"].as_u64()),
        (Some(true), Some(0)),
        "{primary}"
    );
    let mut cmd = stack.bare_command_for("events");
    cmd.args(stack.selection()).arg("--json");
    let catch_up = finished(cmd).await;
    assert_eq!(catch_up.code, 0, "{catch_up:?}");
    for line in catch_up.stdout.lines() {
        let tally: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(tally["files_created"], 0, "{tally}");
    }
}

/// `doctor --events` checks where runs' events go: the trail's own
/// prefix, or a Security Lake custom source whose provider role it
/// assumes (a role it cannot assume fails the check, exit 2).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn doctor_checks_where_events_go() {
    const ROLE: &str = "arn:aws:iam::111111111111:role/AmazonSecurityLake-Provider-auditship-us-east-1";
    let stack = Stack::start(Options::default()).await;
    let role = serde_json::json!({
        "arn": ROLE, "external_id": "lake-1",
        "access_key_id": "ASIAEMULATORLAKE0002", "secret_access_key": "emulator-lake-secret",
    });
    stack.emulator_control("POST", "account", &role.to_string());
    // The instances are in the role's account too, as in the run below.
    let url = stack.emulator.url.clone();
    let doctor = |flags: Vec<String>| {
        let mut cmd = stack.bare_command_for("doctor");
        cmd.args(stack.selection()).args([
            "--assume-role",
            ROLE,
            "--external-id",
            "lake-1",
            "--sts-endpoint-url",
            &url,
        ]);
        cmd.args(flags);
        finished(cmd)
    };
    let line = |out: &RunOutput, starts: &str| {
        let found = out.stdout.lines().find(|l| l.starts_with(starts)).map(str::to_string);
        found.unwrap_or_else(|| panic!("no '{starts}' line: {out:?}"))
    };
    let off = doctor(Vec::new()).await;
    line(&off, "ok    events destination: off");
    let trail = doctor(vec!["--events".into(), "--redact".into(), "literals".into()]).await;
    assert_eq!(trail.code, 0, "{trail:?}");
    let ok = line(&trail, "ok    events destination");
    assert!(ok.contains(&format!("s3://{}/{PREFIX}/_events/ocsf-redacted/", stack.bucket)), "{ok}");
    let lake = |external_id: &str| {
        let flags = [
            "--events",
            "--security-lake-location",
            "s3://aws-security-data-lake-us-east-1-test/ext/auditship/1.0/",
            "--security-lake-role-arn",
            ROLE,
            "--security-lake-external-id",
            external_id,
        ];
        doctor(flags.iter().map(|f| f.to_string()).collect())
    };
    let assumed = lake("lake-1").await;
    assert_eq!(assumed.code, 0, "{assumed:?}");
    let ok = line(&assumed, "ok    events destination");
    assert!(
        ok.contains("Security Lake custom source s3://aws-security-data-lake-us-east-1-test/ext/auditship/1.0/region=")
            && ok.contains(&format!("role {ROLE} (assumed)")),
        "{ok}"
    );
    let refused = lake("not-the-external-id").await;
    assert_eq!(refused.code, 2, "{refused:?}");
    let failed = line(&refused, "FAIL  events destination");
    assert!(failed.contains(&format!("cannot assume role {ROLE}")), "{failed}");
    // Output flags without --events are a configuration error.
    let mut cmd = stack.bare_command_for("doctor");
    cmd.args(stack.selection()).args(["--redact", "literals"]);
    assert_eq!(finished(cmd).await.code, 2);
}

/// `--security-lake-location` with the custom source's provider role: the
/// events land in the lake's bucket under its location, partitioned
/// `region=/accountId=/eventDay=`, written with the role's credentials
/// while the raw trail keeps the task's own; a second run adds nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_go_to_a_security_lake_custom_source_through_its_role() {
    const ROLE: &str = "arn:aws:iam::111111111111:role/AmazonSecurityLake-Provider-auditship-us-east-1";
    const ROLE_KEY_ID: &str = "ASIAEMULATORLAKE0001";
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(120, Some(60));
    let lake = "aws-security-data-lake-us-east-1-test";
    stack.s3.create_bucket().bucket(lake).send().await.unwrap();
    let role = serde_json::json!({
        "arn": ROLE, "external_id": "lake-1",
        "access_key_id": ROLE_KEY_ID, "secret_access_key": "emulator-lake-secret",
    });
    stack.emulator_control("POST", "account", &role.to_string());
    let flags = [
        "--events",
        "--assume-role",
        ROLE,
        "--external-id",
        "lake-1",
        "--sts-endpoint-url",
        stack.emulator.url.as_str(),
        "--security-lake-location",
        &format!("s3://{lake}/ext/auditship/1.0/"),
        "--security-lake-role-arn",
        ROLE,
        "--security-lake-external-id",
        "lake-1",
    ];
    let out = stack.run(&flags).await;
    assert_eq!(out.code, 0, "{out:?}");

    let events = objects_in(&stack.s3, lake).await;
    let partition = "ext/auditship/1.0/region=us-east-1/accountId=123456789012/eventDay=";
    assert_events_for_every_object(&stack, "primary", events.keys(), partition).await;
    let dir = tempfile::tempdir().unwrap();
    let (key, first) = events.iter().next().unwrap();
    let path = dir.path().join("lake.parquet");
    std::fs::write(&path, &first.bytes).unwrap();
    for row in read_with_duckdb(&path) {
        assert_eq!(
            (row["account"].as_str(), row["region"].as_str()),
            (Some("123456789012"), Some("us-east-1")),
            "{key}: {row}"
        );
    }
    let trail = stack.objects().await;
    assert!(!trail.keys().any(|k| k.contains("/_events/")), "events went to the trail's bucket too");
    let keys = stack.s3_access_keys();
    assert!(keys.get(ROLE_KEY_ID) > Some(&0) && keys.get(KEY_ID) > Some(&0), "{keys:?}");

    let again = stack.run(&flags).await;
    assert_eq!(again.code, 0, "{again:?}");
    assert_eq!(objects_in(&stack.s3, lake).await.len(), events.len(), "a run with nothing new wrote events");
}

/// A run whose event writes are refused still ships the raw trail (the
/// instance fails, exit 2 for a denial, the cause named), and its objects
/// stay awaiting their events — `status` says so; the next run derives
/// them without being asked to look back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_a_run_could_not_write_are_derived_by_the_next() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(150, Some(60));
    let mut denied = S3Fault::new("PUT", S3FaultKind::Forbidden);
    denied.path_contains = "/_events/".into();
    denied.times = 1000;
    stack.s3_faults(&[denied]);
    let first = stack.run(&["--events"]).await;
    assert_eq!(first.code, 2, "{first:?}");
    assert!(first.stderr.contains("events not derived"), "{}", first.stderr);
    stack.assert_all_shipped("primary").await;
    assert!(!stack.objects().await.keys().any(|k| k.contains("/_events/")));

    let primary = status_of(&stack, "primary").await;
    let raw = stack.object_keys("primary").await;
    assert_eq!(primary["objects_awaiting_events"].as_u64(), Some(raw.len() as u64), "{primary}");
    assert!(primary["warnings"].to_string().contains("no derived events yet"), "{primary}");

    stack.clear_s3_faults();
    let second = stack.run(&["--events"]).await;
    assert_eq!(second.code, 0, "{second:?}");
    // Counted once written: the first run derived none, the second all.
    let derived = |out: &RunOutput| -> u64 {
        out.stdout
            .lines()
            .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
            .filter(|v| v["instance"] == "primary")
            .map(|v| v["EventsDerived"].as_u64().unwrap())
            .sum()
    };
    assert_eq!(derived(&first), 0, "no event file was written");
    assert!(derived(&second) > 0, "{second:?}");
    let objects = stack.objects().await;
    assert_events_for_every_object(&stack, "primary", objects.keys(), &format!("{PREFIX}/_events/ocsf/eventday="))
        .await;
}
