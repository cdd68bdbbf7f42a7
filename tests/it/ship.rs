//! End to end: the real binary against real MariaDB audit files, the RDS
//! emulator and an S3 server. Each test names the invariant it guards.

use crate::common::*;
use std::time::Duration;

fn data_objects(objects: &std::collections::BTreeMap<String, StoredObject>) -> Vec<String> {
    objects.keys().filter(|k| !k.contains("/_state/")).cloned().collect()
}

/// Invariants 1, 2 and 5: everything ships once, byte-exact; a run with
/// nothing new writes nothing and exits 0.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_run_ships_every_file_and_a_second_run_uploads_nothing() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(600, Some(150));
    stack.replica.traffic_with(80, None, &["--read-only"]);

    let first = stack.run(&[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert!(first.objects_new("primary") >= 4, "{}", first.stdout);
    assert!(first.objects_new("replica") >= 1, "{}", first.stdout);
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
    let before = stack.objects().await;

    let second = stack.run(&[]).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(second.objects_new("primary"), 0, "{}", second.stdout);
    assert_eq!(second.objects_new("replica"), 0, "{}", second.stdout);
    let after = stack.objects().await;
    assert_eq!(data_objects(&before), data_objects(&after), "a run with nothing new wrote objects");
    for k in data_objects(&before) {
        assert_eq!(before[&k], after[&k], "{k} changed");
    }
}

/// Invariant 5 across rotations: traffic and several renames between runs,
/// incremental shipping of the active file, and still every file's objects
/// are exactly its bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotations_between_runs_keep_every_file_byte_identical() {
    let stack = Stack::start(Options { rotations: 8, ..Options::default() }).await;
    stack.primary.traffic(200, None);
    assert_eq!(stack.run(&[]).await.code, 0);
    for round in 0..3 {
        // Grows the file shipped as active last time, then rotates it away
        // under a new name: its rest must ship from the renamed file.
        stack.primary.traffic(250, Some(120));
        stack.replica.traffic_with(30, None, &["--read-only", "--tag", &format!("r{round}")]);
        let out = stack.run(&["--object-size", "8192"]).await;
        assert_eq!(out.code, 0, "round {round}: {out:?}");
        stack.assert_all_shipped("primary").await;
        stack.assert_all_shipped("replica").await;
    }
    let objects = stack.objects().await;
    let primary_objects = data_objects(&objects).into_iter().filter(|k| k.contains("/primary/")).count();
    assert!(primary_objects > 8, "small --object-size should cut files into several objects");
    let role_ok = data_objects(&objects).iter().all(|k| {
        let m = &objects[k].metadata;
        let want = if k.contains("/primary/") { "writer" } else { "reader" };
        m["role"] == want && m["worker-version"] == env!("CARGO_PKG_VERSION")
    });
    assert!(role_ok, "metadata records role and version");
}

/// Invariant 3: killed after uploading but before the checkpoint commit,
/// the next run verifies what is there instead of duplicating it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn killed_between_upload_and_commit_converges_without_duplicates() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(500, Some(200));
    // Let the first checkpoint write through (it tracks the files seen,
    // nothing shipped), then hold every later one: objects land, the
    // commit that records them never does.
    stack.s3_faults(&[S3Fault::new("PUT", S3FaultKind::Stall)
        .path_contains(format!("/_state/{}", stack.primary_rid))
        .skip(1)
        .times(100)]);
    let mut child = stack.command(&[]).spawn().unwrap();
    // Wait until data objects are in S3, then kill the worker mid-commit.
    let mut landed = 0;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        landed = stack.object_keys("primary").await.len();
        if landed >= 1 {
            break;
        }
    }
    assert!(landed >= 1, "an object should land before the stalled commit");
    child.kill().await.unwrap();
    let cp_key = format!("{PREFIX}/_state/{}.json", stack.primary_rid);
    let cp: serde_json::Value = serde_json::from_slice(&stack.objects().await[&cp_key].bytes).unwrap();
    let files = cp["files"].as_object().unwrap();
    assert!(!files.is_empty() && files.values().all(|f| f["shipped"] == 0), "nothing shipped was committed: {cp}");
    let before = data_objects(&stack.objects().await);

    stack.clear_s3_faults();
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let verified = before.iter().filter(|k| k.contains("/primary/")).count() as u64;
    assert_eq!(out.objects_verified("primary"), verified, "{out:?}");
    let after = stack.objects().await;
    assert!(after.keys().any(|k| k.contains("/_state/")), "checkpoint converged");
    for k in &before {
        assert!(after.contains_key(k), "{k} vanished");
    }
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
    // A further run has nothing to do: the checkpoint now covers it all.
    let again = stack.run(&[]).await;
    assert_eq!(
        (again.code, again.objects_new("primary"), again.objects_verified("primary") == 0),
        (0, 0, true),
        "{again:?}"
    );
}

/// Invariant 2: runs started at the same moment all succeed and leave the
/// objects one run makes (compared with a single run into a second
/// bucket); four at once, as when schedules pile up, leave every file's
/// objects exact and contiguous.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simultaneous_runs_produce_the_object_set_of_one() {
    let stack = Stack::start(Options::default()).await;
    let all_succeed = |runs: usize| {
        let children: Vec<_> = (0..runs).map(|_| stack.command(&["--object-size", "16384"]).spawn().unwrap()).collect();
        async move {
            for child in children {
                let out = child.wait_with_output().await.unwrap();
                assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
            }
        }
    };
    stack.primary.traffic(700, Some(200));
    stack.replica.traffic_with(50, None, &["--read-only"]);
    all_succeed(2).await;
    let both = data_objects(&stack.objects().await);

    let single_bucket = unique("single").to_lowercase();
    stack.s3.create_bucket().bucket(&single_bucket).send().await.unwrap();
    let mut cmd = stack.command(&["--object-size", "16384", "--bucket", &single_bucket]);
    let out = cmd.output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let single = objects_in(&stack.s3, &single_bucket).await;
    assert_eq!(both, data_objects(&single), "overlapping runs wrote a different object set");

    for _ in 0..2 {
        stack.primary.traffic(300, Some(120));
        all_succeed(4).await;
        stack.assert_all_shipped("primary").await;
        stack.assert_all_shipped("replica").await;
    }
}

/// Invariant 1: a file that rotated away before its bytes shipped is a gap:
/// exit 3, the message names the instance and the file; reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_rotated_away_before_shipping_exits_3_naming_it() {
    let stack = Stack::start(Options { rotations: 2, ..Options::default() }).await;
    stack.primary.traffic(100, None);
    assert_eq!(stack.run(&[]).await.code, 0);
    // More rotations than the plugin keeps: the file that was active at the
    // last run, with new lines in it, is deleted before this run.
    stack.primary.traffic(400, Some(50));
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let losses = out.losses();
    let loss = losses.first().unwrap_or_else(|| panic!("no loss reported: {}", out.stderr));
    assert_eq!(loss["instance"], "primary", "{loss}");
    assert_eq!(loss["dbi_resource_id"], stack.primary_rid.as_str(), "{loss}");
    assert!(loss["lost_last_name"].as_str().unwrap().starts_with("audit/server_audit.log"), "names the file: {loss}");
    let message = loss["message"].as_str().unwrap();
    assert!(message.contains("instance primary") && message.contains(&stack.primary_rid), "{message}");
    // What still exists is shipped regardless.
    stack.assert_all_shipped("primary").await;
    // The loss is recorded in the checkpoint and pages once.
    let next = stack.run(&[]).await;
    assert_eq!(next.code, 0, "{next:?}");
    let cp = &stack.objects().await[&format!("{PREFIX}/_state/{}.json", stack.primary_rid)];
    let cp: serde_json::Value = serde_json::from_slice(&cp.bytes).unwrap();
    assert_eq!(cp["gaps"].as_array().map(Vec::len), Some(1), "{cp}");
}

/// Invariant 4: failover swaps roles; keys do not change (no duplicates)
/// and the roles recorded in new objects follow.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failover_between_runs_keeps_keys_and_records_new_roles() {
    let stack = Stack::start(Options { topology: Topology::Cluster, ..Options::default() }).await;
    stack.primary.traffic(200, None);
    stack.replica.traffic_with(40, None, &["--read-only"]);
    let first = stack.run(&[]).await;
    assert_eq!(first.code, 0, "{first:?}");
    assert_eq!(first.shipped("primary")["role"], "writer", "{first:?}");
    assert_eq!(first.shipped("replica")["role"], "reader", "{first:?}");
    let before = stack.objects().await;

    stack.emulator_control("POST", &format!("failover?cluster={CLUSTER}&writer=replica"), "");
    stack.primary.traffic(100, None);
    stack.replica.traffic_with(40, None, &["--read-only", "--tag", "after"]);
    let second = stack.run(&[]).await;
    assert_eq!(second.code, 0, "{second:?}");
    assert_eq!(second.shipped("replica")["role"], "writer", "{second:?}");
    assert_eq!(second.shipped("primary")["role"], "reader", "{second:?}");
    let after = stack.objects().await;
    for k in data_objects(&before) {
        assert_eq!(before[&k], after[&k], "{k} was rewritten");
    }
    let new: Vec<&String> = data_objects(&after)
        .iter()
        .filter(|k| !before.contains_key(*k))
        .map(|k| after.get_key_value(k).unwrap().0)
        .collect();
    assert!(new.iter().any(|k| k.contains("/replica/")) && new.iter().any(|k| k.contains("/primary/")), "{new:?}");
    for k in new {
        let want = if k.contains("/replica/") { "writer" } else { "reader" };
        assert_eq!(after[k].metadata["role"], want, "{k}");
    }
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
}

/// Bad input needs a person: exit 2 and one line that names the cause.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_bucket_bad_credentials_and_unknown_instance_exit_2() {
    let stack = Stack::start(Options::default()).await;
    let fatal_line = |out: &RunOutput| -> String {
        let lines: Vec<&str> = out.stderr.lines().filter(|l| l.starts_with("auditship: error: ")).collect();
        assert_eq!(lines.len(), 1, "one error line expected: {}", out.stderr);
        lines[0].to_string()
    };

    let out = stack.run(&["--bucket", "no-such-bucket-here"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(fatal_line(&out).contains("bucket no-such-bucket-here does not exist"), "{}", out.stderr);

    let mut cmd = stack.command(&[]);
    cmd.env("AWS_SECRET_ACCESS_KEY", "wrong-secret");
    let o = cmd.output().await.unwrap();
    let out = RunOutput {
        code: o.status.code().unwrap(),
        stdout: String::from_utf8_lossy(&o.stdout).into(),
        stderr: String::from_utf8_lossy(&o.stderr).into(),
    };
    assert_eq!(out.code, 2, "{out:?}");
    assert!(fatal_line(&out).contains("SignatureDoesNotMatch"), "{}", out.stderr);

    let out = stack.run(&["--instance", "ghost"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(fatal_line(&out).contains("instance ghost not found"), "{}", out.stderr);

    // A wrong flag is a configuration error too.
    let out = stack.run(&["--concurrency", "zero"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    // Nothing was written by any of them.
    assert!(stack.objects().await.is_empty());
}

/// Transient faults at the RDS side are retried within the run: a body that
/// breaks off mid-file, throttling of the listing. Still byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reset_mid_body_and_throttling_are_retried() {
    let stack = Stack::start(Options::default()).await;
    // Rotation by size only, so `.1` is a full 20 KB file.
    stack.primary.traffic(400, None);
    stack.rds_faults(&[
        // The first download of `.1` identifies it (a few bytes); the next
        // two, which ship it, break off after 5000 bytes.
        RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::ResetMidBody)
            .instance("primary")
            .file_contains("server_audit.log.1")
            .after_bytes(5000)
            .skip(1)
            .times(2),
        RdsFault::new("DescribeDBLogFiles", RdsFaultKind::Throttle).times(2),
        RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::ThrottlingException).instance("primary").skip(3),
    ]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("broke off"), "the reset was seen and retried: {}", out.stderr);
    // Each throttled attempt the SDK retries is said, with its cause.
    assert!(
        out.stderr.contains("RDS DescribeDBLogFiles: attempt 1 of 3 failed (HTTP 400 Throttling); trying again"),
        "{}",
        out.stderr
    );
    // While the rate limiter holds the next attempt, the wait says so
    // (not "no answer").
    assert!(!out.stderr.contains("DescribeDBLogFiles: no answer yet"), "{}", out.stderr);
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
}

/// A fault that outlasts the retries is transient: exit 1, nothing lost,
/// and the next run completes the work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn persistent_s3_errors_exit_1_and_the_next_run_completes() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(100));
    stack.s3_faults(&[S3Fault::new("PUT", S3FaultKind::InternalError).path_contains("/primary/").times(1000)]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.outcome("primary"), "transient", "{out:?}");
    assert_eq!(out.outcome("replica"), "ok", "one instance's failure does not stop the other: {out:?}");
    stack.clear_s3_faults();
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
}

/// `--active-file skip` leaves the file being written until it rotates.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_file_skip_waits_for_rotation() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    let out = stack.run(&["--active-file", "skip"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(stack.object_keys("primary").await.is_empty(), "active file was shipped");
    stack.primary.rotate();
    let out = stack.run(&["--active-file", "skip"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let objects = stack.objects().await;
    let files = stack.primary.audit_files();
    let rotated = &files["server_audit.log.1"];
    assert_file_shipped(&objects, &format!("{PREFIX}/standalone/primary/"), "server_audit.log.1", rotated, false);
}

/// Selection by tag finds both instances; all flags also work from the
/// environment (the ECS task's way), proven by the stack itself.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tag_selection_finds_every_matching_instance() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(50, None);
    let mut plain = stack.bare_command();
    plain.env("AUDITSHIP_TAG", "team=shop");
    let shipped = |out: &RunOutput| -> Vec<String> {
        let events = out.events().into_iter().filter(|v| v["message"] == "instance shipped");
        events.map(|v| v["instance"].as_str().unwrap_or_default().to_string()).collect()
    };
    let both = finished(plain).await;
    assert_eq!(both.code, 0, "{both:?}");
    assert_eq!(shipped(&both), ["primary", "replica"], "{both:?}");
    let mut plain = stack.bare_command();
    plain.env("AUDITSHIP_TAG", "env=test");
    let one = finished(plain).await;
    assert_eq!(shipped(&one), ["primary"], "{one:?}");
}

/// Aurora MySQL's layout: four stripe files written at once, stable names,
/// several rotations per stripe. Every file ships byte-exact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aurora_four_stripe_files_ship_byte_identical() {
    let stack = Stack::start(Options { aurora: true, ..Options::default() }).await;
    let aurora = |extra: &'static [&'static str]| {
        let mut cmd = stack.bare_command();
        cmd.args(["--cluster", "aur"]).args(extra);
        cmd
    };
    let verify = || async {
        let objects = stack.objects().await;
        let files: Vec<_> = std::fs::read_dir(stack.aurora_dir())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("audit.log."))
            .collect();
        assert!(files.len() >= 4, "four stripes at least");
        for f in files {
            let bytes = std::fs::read(f.path()).unwrap();
            // The striper writes whole lines, so every byte ships.
            assert_file_shipped(
                &objects,
                &format!("{PREFIX}/aur/aurora-1/"),
                &f.file_name().to_string_lossy(),
                &bytes,
                false,
            );
        }
    };
    stack.primary.traffic(300, Some(100));
    stack.stripe(6_000);
    let out = aurora(&[]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    verify().await;

    // Active stripes grow and new ones appear; both ship.
    stack.primary.traffic(300, Some(100));
    stack.stripe(6_000);
    let out = aurora(&["--object-size", "4096"]).output().await.unwrap();
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    verify().await;
    let names: Vec<String> = std::fs::read_dir(stack.aurora_dir())
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into())
        .collect();
    for stripe in 0..4 {
        assert!(
            names.iter().filter(|n| n.starts_with(&format!("audit.log.{stripe}."))).count() >= 2,
            "stripe {stripe} rotated: {names:?}"
        );
    }
}

/// Large objects go up as multipart uploads completed with If-None-Match;
/// byte-exact, and a second run verifies rather than re-uploads.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_objects_use_conditional_multipart_upload() {
    let stack = Stack::start(Options { rotate_size: 64 << 20, ..Options::default() }).await;
    // ~12 MB of incompressible audit lines: gzip stays above 5 MiB. The
    // plugin cuts logged queries at 1 KiB unless told otherwise.
    stack.primary.sql("SET GLOBAL server_audit_query_log_limit = 65536");
    stack.primary.traffic_with(3_000, None, &["--random-payload", "--payload", "3900"]);
    let threshold = (5u64 << 20).to_string();
    let out = stack.run(&["--multipart-threshold", &threshold, "--active-file", "ship"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let stats: std::collections::BTreeMap<String, u64> =
        serde_json::from_str(&http("GET", &format!("{}/_proxy/stats", stack.proxy.url), "").1).unwrap();
    assert!(stats.get("POST").copied().unwrap_or(0) >= 2, "multipart create and complete are POSTs: {stats:?}");
    let objects = stack.objects().await;
    let big = objects.iter().find(|(k, o)| k.contains("/primary/") && o.bytes.len() as u64 > (5 << 20));
    assert!(big.is_some(), "an object above the threshold exists");
    stack.assert_all_shipped("primary").await;
    let again = stack.run(&["--multipart-threshold", &threshold]).await;
    assert_eq!((again.code, again.objects_new("primary")), (0, 0), "{again:?}");
}

/// Every download of `instance` (or of both) waits 30 s per chunk: nothing
/// of it can ship before a short time limit.
fn crawl(stack: &Stack, instance: Option<&str>) {
    let fault = RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::SlowBody).delay_ms(30_000).times(1000);
    stack.rds_faults(&[match instance {
        Some(i) => fault.instance(i),
        None => fault,
    }]);
}

/// `--max-run-seconds` during a catch-up: a run that shipped something and
/// stopped at its limit with work left exits 0, the instance it left
/// `behind` rather than failed, so a backlog does not page every tick
/// (staleness alarms through the lag). The next run picks up.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_run_seconds_during_a_catch_up_is_behind_not_failing() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(200, Some(100));
    stack.replica.traffic_with(20, None, &["--read-only"]);
    assert_eq!(stack.run(&[]).await.code, 0);
    stack.primary.traffic(200, Some(100));
    stack.replica.traffic_with(20, None, &["--read-only"]);
    crawl(&stack, Some("primary"));
    let out = stack.run(&["--max-run-seconds", "8"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!((out.outcome("primary"), out.outcome("replica")), ("behind".into(), "ok".into()), "{out:?}");
    assert!(out.stdout.contains(": behind (the run's time limit was reached with work left"), "{}", out.stdout);
    stack.clear_faults_and_converge().await;
}

/// A run that ships nothing before its time limit is failing, not catching
/// up: exit 1, `deferred`. The instance it never reached still reports what
/// it is behind by: with no checkpoint yet, its files; with one, at least
/// the time since its last commit if a file was written since, else none.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_run_seconds_with_nothing_shipped_exits_1_and_estimates_the_rest() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    stack.replica.traffic_with(20, None, &["--read-only"]);
    crawl(&stack, None);
    let limited = ["--max-run-seconds", "3", "--concurrency", "1"];
    let out = stack.run(&limited).await;
    assert_eq!(out.code, 1, "{out:?}");
    for instance in ["primary", "replica"] {
        assert_eq!(out.outcome(instance), "deferred", "{out:?}");
    }
    assert!(
        out.stdout.contains("deferred (the run's time limit was reached before anything shipped"),
        "{}",
        out.stdout
    );
    assert!(stack.object_keys("primary").await.is_empty() && stack.object_keys("replica").await.is_empty());
    // One instance at a time: the first holds the turn until its reads are
    // abandoned at the limit; the second is never reached (it listed no
    // file) and says what it is behind by.
    let unreached: Vec<&str> = ["primary", "replica"].into_iter().filter(|i| out.shipped(i)["files"] == 0).collect();
    assert!(!unreached.is_empty(), "{out:?}");
    for instance in &unreached {
        let on_disk: u64 = stack.db(instance).audit_files().values().map(|b| b.len() as u64).sum();
        let pending = out.shipped(instance)["pending_bytes"].as_u64().unwrap();
        assert!(pending > 0 && pending <= on_disk, "{instance}: {pending} of {on_disk} bytes: {out:?}");
    }

    stack.clear_faults_and_converge().await;
    let mut committed = std::collections::BTreeMap::new();
    for (instance, rid) in [("primary", &stack.primary_rid), ("replica", &stack.replica_rid)] {
        committed.insert(instance, last_commit(&stack, rid).await);
    }
    let converged = ["primary", "replica"].map(|i| stack.db(i).audit_files());
    stack.primary.traffic(50, None);
    crawl(&stack, None);
    let started = chrono::Utc::now();
    let out = stack.run(&limited).await;
    assert_eq!(out.code, 1, "{out:?}");
    // The truth after the run: an instance whose files nobody wrote since
    // the converged state is idle, and reads no lag; one written since is
    // behind by at least the time since its last commit.
    for (instance, before) in ["primary", "replica"].into_iter().zip(&converged) {
        if out.shipped(instance)["files"] != 0 {
            continue;
        }
        let lag = out.shipped(instance)["lag_seconds"].as_u64().unwrap();
        if stack.db(instance).audit_files() == *before {
            assert_eq!(lag, 0, "{instance}: idle since its last commit, yet lag {lag}: {out:?}");
        } else {
            let at_least = (started - committed[instance]).num_seconds().max(0) as u64;
            assert!(lag >= at_least, "{instance}: lag {lag} < {at_least} s since its last commit: {out:?}");
        }
    }
    stack.clear_faults_and_converge().await;
}

/// When a run last stored an instance's checkpoint (`updated_at`).
async fn last_commit(stack: &Stack, rid: &str) -> chrono::DateTime<chrono::Utc> {
    let cp = &stack.objects().await[&format!("{PREFIX}/_state/{rid}.json")];
    let cp: serde_json::Value = serde_json::from_slice(&cp.bytes).unwrap();
    cp["updated_at"].as_str().unwrap().parse().unwrap()
}

/// A loss found before the run's waits are cut off is still reported: the
/// pass's report outlives the pass (exit 3, named on stdout).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_loss_found_before_a_cut_off_is_still_reported() {
    let stack = Stack::start(Options { rotations: 2, ..Options::default() }).await;
    stack.primary.traffic(100, None);
    assert_eq!(stack.run(&[]).await.code, 0);
    stack.primary.traffic(400, Some(50));
    // The loss is recorded (checkpoint writes pass); every object upload of
    // the primary then goes unanswered until the cut.
    stack.s3_faults(&[S3Fault::new("PUT", S3FaultKind::Stall).path_contains("/primary/").times(1000)]);
    // (Time enough to scan and record the loss on a busy machine.)
    let out = stack.run(&["--max-run-seconds", "8", "--read-timeout-seconds", "3600"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stderr.contains("its AWS calls were still waiting 10s later"), "{}", out.stderr);
    assert!(out.stdout.contains("  ! DATA LOSS: audit file"), "{}", out.stdout);
    assert!(!out.losses().is_empty(), "{}", out.stderr);
    stack.clear_s3_faults();
    let next = stack.run(&[]).await;
    assert_eq!(next.code, 3, "the loss was not marked reported by the cut-off run: {next:?}");
    stack.assert_all_shipped("primary").await;
}

/// A time-limited backfill is never "behind": it walks from the first byte
/// each time, so verifying objects again is no progress. Work left is
/// exit 1.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_time_limited_backfill_that_leaves_work_exits_1() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(200, Some(100));
    stack.replica.traffic_with(20, None, &["--read-only"]);
    assert_eq!(stack.run(&[]).await.code, 0);
    crawl(&stack, Some("primary"));
    let out = stack.backfill(&["--since", "2001-01-01", "--max-run-seconds", "5"]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.outcome("primary"), "deferred", "{out:?}");
    assert!(!out.stdout.contains(": behind"), "{}", out.stdout);
    stack.clear_rds_faults();
}

/// Invariant 1 without false alarms: rotations while the worker identifies
/// and reads files shift every name under it. A file with unshipped bytes
/// that moved to a name the first listing did not have is found, shipped,
/// and not reported lost.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_during_the_run_is_neither_a_gap_nor_a_loss() {
    let stack = Stack::start(Options { rotations: 6, ..Options::default() }).await;
    stack.primary.traffic(150, None);
    assert_eq!(stack.run(&[]).await.code, 0);
    // The file shipped as active gets more lines, then rotates: it is now a
    // closed file with unshipped bytes.
    stack.primary.traffic(150, None);
    stack.primary.rotate();
    stack.primary.traffic(50, None);
    // Two more rotations, each right before a download is served.
    stack.rds_faults(&[RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::RotateFirst)
        .file_contains("server_audit.log")
        .times(2)]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.losses().is_empty(), "false gap: {}", out.stderr);
    stack.clear_rds_faults();
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
}

/// Invariants 5 and 1: a server that reads a file by name while a rotation
/// renames it would splice two files into one download. Nothing spliced is
/// written, no divergence is claimed, and the file ships intact.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_spliced_by_rotation_is_never_shipped() {
    let stack = Stack::start(Options { rotations: 8, rotate_size: 1 << 20, ..Options::default() }).await;
    // `.1` (X) and a larger active file (Y) behind it.
    stack.primary.traffic(200, None);
    stack.primary.rotate();
    stack.primary.traffic(400, None);
    // The second download of `.1` (the read that ships it, after the one
    // that identifies it) rotates after 9000 bytes: the rest of the body
    // is Y's bytes from offset 9000 on, which now has the name `.1`.
    stack.rds_faults(&[RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::SpliceOnRotation)
        .instance("primary")
        .file_contains("server_audit.log.1")
        .skip(1)
        .after_bytes(9000)]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("renamed by a rotation while it was read"), "{}", out.stderr);
    stack.assert_all_shipped("primary").await;
}

/// The RDS API's account-wide token bucket (shared with the console and
/// Terraform): a small burst and a slow refill throttle listing and
/// downloads alike; the run backs off and still ships everything.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn token_bucket_throttling_is_ridden_out() {
    let stack = Stack::start(Options { rate_limit: Some((6.0, 4.0)), ..Options::default() }).await;
    stack.primary.traffic(500, Some(100));
    let out = stack.run(&["--max-attempts", "8"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    let stats = stack.emulator_stats();
    assert!(stats.get("Throttled").copied().unwrap_or(0) > 0, "the bucket ran dry: {stats:?}");
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
}

/// Invariant 2, the race itself: another run creates the very same object
/// a moment before this one (412 on If-None-Match). It counts as shipped,
/// without starting the instance over.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn losing_a_create_race_to_an_identical_object_counts_as_shipped() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(100));
    stack.s3_faults(&[S3Fault::new("PUT", S3FaultKind::ForwardThenPreconditionFailed)
        .path_contains("/primary/")
        .times(2)]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!(out.objects_verified("primary"), 2, "{out:?}");
    assert!(!out.stderr.contains("starting the instance again"), "{}", out.stderr);
    stack.assert_all_shipped("primary").await;
}
