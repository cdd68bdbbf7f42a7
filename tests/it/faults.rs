//! Faults at the edges, each with the outcome an SRE should see: ridden
//! out within the run (exit 0), or reported with the right exit code and
//! nothing lost.

use crate::common::*;

/// A body that stops sending is abandoned after --read-timeout-seconds and
/// read again; RDS 5xx on discovery is retried by the SDK.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_body_and_rds_5xx_are_retried() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, None);
    stack.rds_faults(&[
        RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::StallBody)
            .instance("primary")
            .file_contains("server_audit.log.1")
            .after_bytes(3000)
            .skip(1),
        RdsFault::new("DescribeDBInstances", RdsFaultKind::ServerError),
        RdsFault::new("DescribeDBLogFiles", RdsFaultKind::Unavailable),
    ]);
    let out = stack.run(&["--read-timeout-seconds", "2"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert!(out.stderr.contains("stalled at byte"), "{}", out.stderr);
    stack.assert_all_shipped("primary").await;
}

/// DescribeDBLogFiles has been seen to answer an empty list transiently:
/// one empty answer is asked again, not taken as "auditing is off".
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transiently_empty_listing_is_asked_again() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(100, None);
    stack.rds_faults(&[RdsFault::new("DescribeDBLogFiles", RdsFaultKind::EmptyListing)]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;

    // Empty for good while unshipped bytes are tracked: transient (exit 1),
    // never a gap, nothing forgotten.
    stack.primary.traffic(50, None);
    stack.rds_faults(&[RdsFault::new("DescribeDBLogFiles", RdsFaultKind::EmptyListing).instance("primary").times(100)]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 1, "{out:?}");
    assert_eq!(out.outcome("primary"), "transient", "{out:?}");
    assert!(out.losses().is_empty(), "{}", out.stderr);
    stack.clear_rds_faults();
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
}

/// An instance deleted while the run ships it: exit 3, the message names
/// the instance; the other instance is unaffected.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_deleted_mid_run_is_reported_as_loss() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(400, Some(100));
    stack.rds_faults(&[RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::SlowBody)
        .instance("primary")
        .delay_ms(300)
        .times(1000)]);
    let mut child = stack.command(&[]).spawn().unwrap();
    // Deleted while one of its files is being read: the run is shipping it.
    stack.wait_for_download_in_flight(&mut child, Some("primary")).await;
    stack.emulator_control("POST", "delete-instance?id=primary", "");
    let out = child.wait_with_output().await.unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("instance primary") && stderr.contains("vanished"), "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains(": ok"), "replica ok");
    stack.assert_all_shipped("replica").await;
}

/// Deleted and recreated under the same identifier: a new DbiResourceId and
/// new local storage. What the old instance wrote after its last run is a
/// loss (exit 3, naming the old resource id), recorded once; the new one
/// starts new state, and `verify` counts the old trail apart.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_recreated_under_the_same_name_reports_what_the_old_one_had_not_shipped() {
    const NEW: &str = "db-RECREATED000000000000000001";
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(100));
    assert_eq!(stack.run(&[]).await.code, 0);
    // Written to the old instance after its last run: never shipped.
    stack.primary.traffic(50, None);
    stack.recreate_primary(NEW);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 3, "{out:?}");
    let losses = out.losses();
    assert!(!losses.is_empty(), "no loss reported: {}", out.stderr);
    for loss in &losses {
        assert_eq!(loss["dbi_resource_id"], stack.primary_rid.as_str(), "{loss}");
        assert_eq!(loss["lost_growing"], true, "the old active file was still being written: {loss}");
    }
    assert_eq!(out.shipped("primary")["dbi_resource_id"], NEW, "{out:?}");
    let objects = stack.objects().await;
    assert!(objects.contains_key(&format!("{PREFIX}/_state/{NEW}.json")));
    let old: serde_json::Value =
        serde_json::from_slice(&objects[&format!("{PREFIX}/_state/{}.json", stack.primary_rid)].bytes).unwrap();
    assert!(!old["gaps"].as_array().unwrap().is_empty(), "the loss is recorded in the old trail: {old}");
    // Reported once.
    let next = stack.run(&[]).await;
    assert_eq!(next.code, 0, "{next:?}");
    // The old trail is counted apart, not held against the new files.
    let mut cmd = stack.bare_command_for("verify");
    cmd.args(stack.selection()).arg("--json");
    let verified = finished(cmd).await;
    let summary = verified
        .stdout
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .find(|v| v["instance"] == "primary" && v.get("objects").is_some())
        .unwrap_or_else(|| panic!("no verify summary: {verified:?}"));
    assert!(summary["earlier_trails"][stack.primary_rid.as_str()].as_u64().unwrap_or(0) > 0, "{summary}");
    assert_eq!(summary["problems"], 0, "{verified:?}");
}

/// S3 pushing back: SlowDown and 409 ConditionalRequestConflict on object
/// and checkpoint writes, a connection dropped after the write landed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_slowdown_conflict_and_lost_answers_are_ridden_out() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(300, Some(100));
    stack.s3_faults(&[
        S3Fault::new("PUT", S3FaultKind::SlowDown).path_contains("/primary/").times(2),
        S3Fault::new("PUT", S3FaultKind::Conflict).path_contains("/_state/").times(2),
        S3Fault::new("PUT", S3FaultKind::Conflict).path_contains("/primary/").skip(1),
        S3Fault::new("PUT", S3FaultKind::ForwardThenDrop).path_contains("/primary/").skip(2),
    ]);
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
    stack.primary.traffic(100, None);
    stack.clear_s3_faults();
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
}

/// An instance whose engine writes no MySQL audit log is a configuration
/// mistake: exit 2, named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_engine_needs_a_person() {
    let stack = Stack::start(Options { engine: Some("postgres"), ..Options::default() }).await;
    let out = stack.run(&[]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(out.stderr.contains("runs engine postgres"), "{}", out.stderr);
}

/// A run killed during a multipart upload leaves the upload open. It is
/// harmless: only the run that starts an upload completes it (with
/// If-None-Match), so the next run creates the object afresh and the
/// leftover never becomes an object (a lifecycle rule aborts it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_multipart_upload_left_by_a_killed_run_is_harmless() {
    let stack = Stack::start(Options { rotate_size: 64 << 20, ..Options::default() }).await;
    stack.primary.sql("SET GLOBAL server_audit_query_log_limit = 65536");
    stack.primary.traffic_with(3_000, None, &["--random-payload", "--payload", "3900"]);
    let threshold = (5u64 << 20).to_string();
    // Hold CompleteMultipartUpload (a POST carrying uploadId) forever.
    stack.s3_faults(&[S3Fault::new("POST", S3FaultKind::Stall).query_contains("uploadId")]);
    let child = stack.command(&["--multipart-threshold", &threshold]).spawn().unwrap();
    let mut open = 0;
    for _ in 0..200 {
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        let uploads = stack.s3.list_multipart_uploads().bucket(&stack.bucket).send().await.unwrap();
        open = uploads.uploads().len();
        let stats: std::collections::BTreeMap<String, u64> =
            serde_json::from_str(&http("GET", &format!("{}/_proxy/stats", stack.proxy.url), "").1).unwrap();
        if open > 0 && stats.get("POST").copied().unwrap_or(0) >= 2 {
            break;
        }
    }
    assert!(open > 0, "the run reached the multipart upload");
    let _ = std::process::Command::new("kill").args(["-KILL", &child.id().unwrap().to_string()]).status();
    let _ = child.wait_with_output().await;
    stack.clear_s3_faults();

    let out = stack.run(&["--multipart-threshold", &threshold]).await;
    assert_eq!(out.code, 0, "{out:?}");
    stack.assert_all_shipped("primary").await;
    let leftover = stack.s3.list_multipart_uploads().bucket(&stack.bucket).send().await.unwrap();
    assert_eq!(leftover.uploads().len(), open, "the killed run's upload is still open, and only it");
}

/// `--max-run-seconds` bounds every wait, not only the start of new work:
/// S3 that stops answering mid-run (however long the read timeout and
/// however many attempts) is abandoned a grace period after the limit, and
/// the run says why. The replica shipped, so the primary is `behind` (exit
/// 0, its lag estimated from its listing). Nothing is lost: the next run
/// ships it all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_time_limit_cuts_waits_still_in_flight() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(200, None);
    // Every object upload of the primary goes unanswered.
    stack.s3_faults(&[S3Fault::new("PUT", S3FaultKind::Stall).path_contains("/primary/").times(1000)]);
    // (Time enough for the replica, which nothing slows.)
    let out = stack.run(&["--max-run-seconds", "8", "--read-timeout-seconds", "3600", "--max-attempts", "20"]).await;
    assert_eq!(out.code, 0, "{out:?}");
    assert_eq!((out.outcome("primary"), out.outcome("replica")), ("behind".into(), "ok".into()), "{out:?}");
    assert!(out.shipped("primary")["pending_bytes"].as_u64() > Some(0), "{out:?}");
    let said = "instance primary: the run's time limit (--max-run-seconds) was reached, and its AWS calls were still \
                waiting 10s later: they are abandoned";
    assert!(out.stderr.contains(said), "{}", out.stderr);
    assert!(out.stdout.contains("primary (writer") && out.stdout.contains(": behind"), "{}", out.stdout);
    stack.clear_s3_faults();
    let again = stack.run(&[]).await;
    assert_eq!(again.code, 0, "{again:?}");
    stack.assert_all_shipped("primary").await;
    stack.assert_all_shipped("replica").await;
}
