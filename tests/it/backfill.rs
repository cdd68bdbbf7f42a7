//! `auditship backfill`: chosen files walked from their first byte, what is
//! in S3 verified, what is missing created, never overlapping what is there;
//! safe alongside scheduled runs.

use crate::common::*;
use std::collections::BTreeMap;

/// Object keys of one instance grouped by file (the key's directory).
fn objects_by_file(objects: &BTreeMap<String, StoredObject>, instance_prefix: &str) -> BTreeMap<String, Vec<String>> {
    let mut files: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for key in objects.keys().filter(|k| k.starts_with(instance_prefix)) {
        let dir = key[..key.rfind('/').unwrap()].to_string();
        files.entry(dir).or_default().push(key.clone());
    }
    files
}

/// A deleted object (an operator's mistake, a lifecycle rule gone wrong)
/// is invisible to `run`, which trusts its checkpoint; `backfill` of that
/// file puts back exactly the missing bytes under the same keys, even with
/// a different object size, because a created object ends where the next
/// existing one starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_recreates_deleted_objects_exactly() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(600, Some(250));
    let first = stack.run(&["--object-size", "4096"]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let before = stack.objects().await;
    let instance_prefix = format!("{PREFIX}/standalone/primary/");
    let by_file = objects_by_file(&before, &instance_prefix);
    // A rotated file cut into at least three objects: remove one from the
    // middle and its last one.
    let (file_dir, keys) = by_file
        .iter()
        .find(|(_, keys)| keys.len() >= 3 && before[&keys[0]].metadata["source-file"] != "audit/server_audit.log")
        .unwrap_or_else(|| panic!("no rotated file with 3 objects: {by_file:?}"));
    let source = before[&keys[0]].metadata["source-file"].clone();
    let deleted = [keys[1].clone(), keys[keys.len() - 1].clone()];
    for key in &deleted {
        stack.s3.delete_object().bucket(&stack.bucket).key(key).send().await.unwrap();
    }

    let run = stack.run(&[]).await;
    assert_eq!((run.code, run.objects_new("primary")), (0, 0), "run trusts the checkpoint: {run:?}");

    let both = stack.backfill(&["--file", &source]).await;
    assert_eq!(both.code, 2, "{both:?}");
    assert!(both.stderr.contains("select one with --instance"), "{}", both.stderr);

    let mut one = stack.bare_command_for("backfill");
    one.args(["--instance", "primary", "--file", &source]);
    let out = finished(one).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.objects_new("primary"), 2, "{}", out.stdout);
    assert_eq!(out.objects_verified("primary"), keys.len() as u64 - 2, "{}", out.stdout);
    let after = stack.objects().await;
    for key in &deleted {
        let (was, now) = (&before[key], after.get(key).unwrap_or_else(|| panic!("{key} not recreated")));
        assert_eq!(gunzip(&was.bytes), gunzip(&now.bytes), "{key} holds other bytes than before");
        assert_eq!(was.metadata["end-offset"], now.metadata["end-offset"], "{key}");
    }
    let now_keys = objects_by_file(&after, &instance_prefix);
    assert_eq!(&now_keys[file_dir], keys, "same object set for {file_dir}");
    stack.assert_all_shipped("primary").await;
}

/// What backfill refuses and what it picks: a name not on the instance is
/// exit 2 naming it; a window before any file ships nothing; a window
/// covering everything verifies every object and creates none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_picks_files_by_name_and_time() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(150));
    let first = stack.run(&["--object-size", "8192"]).await;
    assert_eq!(first.code, 0, "{first:?}");
    let shipped = stack.object_keys("primary").await.len() as u64;
    let replica_shipped = stack.object_keys("replica").await.len() as u64;

    let mut cmd = stack.bare_command_for("backfill");
    cmd.args(["--instance", "primary", "--file", "audit/server_audit.log.77"]);
    let missing = finished(cmd).await;
    assert_eq!(missing.code, 2, "{missing:?}");
    assert!(missing.stderr.contains("no audit file audit/server_audit.log.77"), "{}", missing.stderr);
    // The hint names a command that lists the names.
    assert!(
        missing.stderr.contains("aws rds describe-db-log-files --db-instance-identifier primary"),
        "{}",
        missing.stderr
    );

    // A window no file falls in did nothing: said, exit 2 (the window is
    // most likely not the one meant).
    let nothing = stack.backfill(&["--until", "2001-01-01"]).await;
    assert_eq!(nothing.code, 2, "{nothing:?}");
    assert!(nothing.stderr.contains("no audit file of the 2 selected instance(s) has records"), "{}", nothing.stderr);
    assert_eq!((nothing.objects_new("primary"), nothing.objects_verified("primary")), (0, 0), "{}", nothing.stdout);

    let all = stack.backfill(&["--since", "2001-01-01", "--object-size", "8192"]).await;
    assert_eq!(all.code, 0, "{all:?}");
    assert_eq!(all.objects_new("primary"), 0, "{}", all.stdout);
    assert_eq!(all.objects_verified("primary"), shipped, "{}", all.stdout);
    assert_eq!(all.objects_verified("replica"), replica_shipped, "{}", all.stdout);

    for (args, says) in [
        (&["--since", "yesterday"][..], "is not a time"),
        (&["--since", "2026-02-02", "--until", "2026-01-01"][..], "is after --until"),
        (&["--file", "slowquery/mysql-slowquery.log"][..], "not an audit log name"),
        (&[][..], "backfill needs --file, --since or --until"),
    ] {
        let out = stack.backfill(args).await;
        assert_eq!(out.code, 2, "{args:?}: {out:?}");
        assert!(out.stderr.contains(says), "{args:?} should say {says:?}: {}", out.stderr);
    }
}

/// Issue-level overlap: a backfill of everything while four scheduled runs
/// start at the same moment, twice, with rotations in between. Every run
/// and the backfill succeed; every file's objects are exact and contiguous
/// (an overlapping duplicate would break contiguity).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_alongside_four_runs_duplicates_nothing() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(400, Some(150));
    stack.replica.traffic_with(60, None, &["--read-only"]);
    for round in 0..2 {
        let mut children: Vec<_> = (0..4).map(|_| stack.command(&["--object-size", "8192"]).spawn().unwrap()).collect();
        children.push(stack.backfill_command(&["--since", "2001-01-01", "--object-size", "8192"]).spawn().unwrap());
        for (i, child) in children.into_iter().enumerate() {
            let out = child.wait_with_output().await.unwrap();
            let what = if i == 4 { "backfill" } else { "run" };
            assert_eq!(out.status.code(), Some(0), "round {round} {what}: {}", String::from_utf8_lossy(&out.stderr));
        }
        stack.assert_all_shipped("primary").await;
        stack.assert_all_shipped("replica").await;
        stack.primary.traffic(300, Some(120));
    }
}

/// Keys of "would create" lines, in order.
fn planned_keys(stdout: &str, bucket: &str) -> Vec<String> {
    let head = format!("would create s3://{bucket}/");
    stdout.lines().filter_map(|l| l.strip_prefix(&head)).map(|l| l[..l.find(':').unwrap()].to_string()).collect()
}

/// `--dry-run` reads and cuts as usual and writes nothing, not even a
/// checkpoint; the keys it lists are the ones the real command then
/// creates, for `run` and for `backfill` alike.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dry_run_lists_the_keys_a_real_run_creates_and_writes_nothing() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(120));
    stack.replica.traffic_with(40, None, &["--read-only"]);

    // Asked for by its environment variable, as a task definition would.
    let mut cmd = stack.command(&["--object-size", "8192"]);
    cmd.env("AUDITSHIP_DRY_RUN", "1");
    let dry = finished(cmd).await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert!(dry.stdout.contains("dry run: nothing was written"), "{}", dry.stdout);
    assert!(stack.objects().await.is_empty(), "a dry run wrote to the bucket");
    // It says what it would do, never that it shipped.
    for instance in ["primary", "replica"] {
        let summary = dry.stdout.lines().find(|l| l.starts_with(&format!("{instance} ("))).unwrap_or_default();
        assert!(
            summary.contains("objects would be created") && summary.ends_with("(dry run: nothing was written)"),
            "{instance}: {}",
            dry.stdout
        );
    }
    assert!(!dry.stdout.contains("shipped") && !dry.stderr.contains("object shipped"), "{dry:?}");
    let mut planned = planned_keys(&dry.stdout, &stack.bucket);
    assert!(planned.len() >= 3, "{}", dry.stdout);

    let real = stack.run(&["--object-size", "8192"]).await;
    assert_eq!(real.code, 0, "{real:?}");
    let mut created: Vec<String> = stack.objects().await.into_keys().filter(|k| !k.contains("/_state/")).collect();
    planned.sort();
    created.sort();
    assert_eq!(planned, created, "the dry run listed other keys than the run created");

    let victim = created[created.len() / 2].clone();
    stack.s3.delete_object().bucket(&stack.bucket).key(&victim).send().await.unwrap();
    let before = stack.objects().await;
    let dry = stack.backfill(&["--since", "2001-01-01", "--dry-run"]).await;
    assert_eq!(dry.code, 0, "{dry:?}");
    assert_eq!(planned_keys(&dry.stdout, &stack.bucket), [victim], "{}", dry.stdout);
    assert_eq!(stack.objects().await, before, "a dry-run backfill wrote to the bucket");
}

/// Without a terminal, backfill reports progress as plain log lines, one
/// per file walked, with bytes done of the total, rate and ETA; on a
/// terminal (a pty from `script`) it draws a bar with bytes, rate and ETA.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backfill_shows_progress_as_log_lines_or_a_bar() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(400, Some(150));
    assert_eq!(stack.run(&[]).await.code, 0);
    let files = stack.primary.audit_files().len() + stack.replica.audit_files().len();

    let out = stack.backfill(&["--since", "2001-01-01"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let lines: Vec<serde_json::Value> = out
        .stderr
        .lines()
        .filter(|l| l.contains("backfill progress"))
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let walked = lines.iter().filter(|l| l["message"].as_str().unwrap().contains(" walked; ")).count();
    assert_eq!(walked, files, "{}", out.stderr);
    // Walked bytes never pass the total; once the total is known (every
    // instance scanned) it stays.
    for l in &lines {
        let (done, total) = (l["done_bytes"].as_u64().unwrap(), l["total_bytes"].as_u64().unwrap());
        assert!(done <= total, "{l}");
    }
    let last = lines.last().unwrap();
    assert_eq!(last["total_known"], true, "{last}");
    assert!(last["done_bytes"].as_u64().unwrap() > 0, "{last}");
    assert!(last["message"].as_str().unwrap().contains("ETA"), "{last}");

    // The same backfill under a pseudo-terminal: a bar that never starts
    // full nor runs back, log lines above it with no stale copy of it left
    // behind, and nothing of it on the screen at the end.
    let script = at_a_terminal(&stack.backfill_command(&["--since", "2001-01-01", "--log-format", "human"]), "");
    let tty = finished(script).await;
    assert_eq!(tty.code, 0, "{tty:?}");
    assert!(tty.stdout.contains("] "), "no bar drawn: {}", tty.stdout);
    assert!(!tty.stdout.contains("0 B/0 B"), "the bar started full: {:?}", tty.stdout);
    let mut drawn = Vec::new();
    for frame in tty.stdout.split(['\r', '\n']).filter_map(|f| f.split("] ").nth(1)) {
        let Some((done, rest)) = frame.split_once('/') else { continue };
        let total = rest.split_whitespace().take(2).collect::<Vec<_>>().join(" ");
        drawn.push((bytes_of(done.trim()), bytes_of(&total)));
    }
    assert!(!drawn.is_empty(), "{:?}", tty.stdout);
    for pair in drawn.windows(2) {
        let ((done_a, total_a), (done_b, total_b)) = (pair[0], pair[1]);
        assert!(done_a <= total_a * 1.01 && done_b >= done_a * 0.99, "ran back: {drawn:?}");
        assert!((total_b - total_a).abs() <= total_a * 0.01, "the total changed once shown: {drawn:?}");
    }
    let shown = screen(&tty.stdout);
    assert!(shown.iter().any(|l| l.contains("INFO")), "{shown:#?}");
    for line in &shown {
        assert!(!line.contains("ETA") && !line.contains("finding files"), "a stale bar: {line:?} in {shown:#?}");
    }
}

/// `12.34 KiB` → bytes (as the bar rounds them).
fn bytes_of(human: &str) -> f64 {
    let (number, unit) = human.split_once(' ').unwrap_or_else(|| panic!("not a size: {human:?}"));
    let scale = match unit {
        "B" => 1.0,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => panic!("unit {other:?} in {human:?}"),
    };
    number.parse::<f64>().unwrap_or_else(|e| panic!("{human:?}: {e}")) * scale
}
