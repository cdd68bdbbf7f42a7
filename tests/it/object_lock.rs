//! Object Lock: with `--object-lock-mode` and `--retain-days`, every object
//! and digest is written with that retention (moto keeps it on single-part
//! writes, which these objects are); a bucket without Object Lock refuses
//! the run with the fix, exit 2.

use crate::common::*;

const LOCKED_BUCKET: &str = "auditship-locked";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_object_and_digest_is_written_with_the_retention_asked_for() {
    let stack = Stack::start(Options::default()).await;
    stack.s3.create_bucket().bucket(LOCKED_BUCKET).object_lock_enabled_for_bucket(true).send().await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    let key = dir.path().join("signing.pem");
    std::fs::write(&key, crate::evidence::SIGNING_KEY).unwrap();
    stack.primary.traffic(200, Some(100));
    let lock =
        ["--object-lock-mode", "governance", "--retain-days", "3", "--digest-period", "60s", "--object-size", "4096"];
    for offset in [0, 180] {
        let mut cmd = stack.command(&lock);
        cmd.env("AUDITSHIP_BUCKET", LOCKED_BUCKET)
            .env("AUDITSHIP_SIGNING_KEY_FILE", &key)
            .env("AUDITSHIP_CLOCK_OFFSET_SECONDS", offset.to_string());
        let out = finished(cmd).await;
        assert_eq!(out.code, 0, "{out:?}");
    }

    let written = chrono::Utc::now();
    let keys = objects_in(&stack.s3, LOCKED_BUCKET).await.into_keys().collect::<Vec<_>>();
    let (mut objects, mut digests) = (0, 0);
    for key in &keys {
        let head = stack.s3.head_object().bucket(LOCKED_BUCKET).key(key).send().await.unwrap();
        if key.contains("/_state/") {
            assert_eq!(head.object_lock_mode(), None, "state objects are replaced, never locked: {key}");
            continue;
        }
        if key.contains("/_digests/") {
            digests += 1;
        } else {
            objects += 1;
        }
        assert_eq!(head.object_lock_mode().map(|m| m.as_str()), Some("GOVERNANCE"), "{key}");
        let until = head.object_lock_retain_until_date().unwrap_or_else(|| panic!("{key} has no retain-until date"));
        let until = chrono::DateTime::from_timestamp(until.secs(), 0).unwrap();
        let days = (until - written).num_minutes() as f64 / (24.0 * 60.0);
        assert!((2.9..=3.0).contains(&days), "{key}: retained until {until}, {days:.3} days from now");
    }
    assert!(objects >= 2 && digests >= 2, "{keys:?}");

    // The report counts the listed objects' retention as HEAD shows it.
    let public = dir.path().join("public.pem");
    std::fs::write(&public, crate::evidence::PUBLIC_KEY).unwrap();
    let report = dir.path().join("report");
    let mut cmd = stack.bare_command_for("verify");
    cmd.args(stack.selection()).arg("--public-key").arg(&public).arg("--report").arg(&report);
    cmd.env("AUDITSHIP_BUCKET", LOCKED_BUCKET);
    let out = finished(cmd).await;
    assert_eq!(out.code, 0, "{out:?}");
    let json: serde_json::Value =
        serde_json::from_slice(&std::fs::read(report.join("auditship-report.json")).unwrap()).unwrap();
    let primary = json["instances"].as_array().unwrap().iter().find(|i| i["instance"] == "primary").unwrap();
    let listed = primary["objects_checked"].as_u64().unwrap();
    assert!(listed >= 1, "{primary}");
    assert_eq!(primary["object_lock"]["retained"]["GOVERNANCE"].as_u64(), Some(listed), "{primary}");
    assert_eq!(primary["object_lock"]["unretained"], 0, "{primary}");
    let soonest: chrono::DateTime<chrono::Utc> =
        primary["object_lock"]["earliest_retain_until"].as_str().unwrap().parse().unwrap();
    assert!(soonest > written + chrono::Duration::days(2), "{primary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bucket_without_object_lock_refuses_the_run_with_the_fix() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(50, None);
    let out = stack.run(&["--object-lock-mode", "compliance", "--retain-days", "1"]).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(
        out.stdout.contains("has no Object Lock configuration")
            || out.stderr.contains("has no Object Lock configuration"),
        "{out:?}"
    );
    assert!(
        out.stderr.contains("put-object-lock-configuration") || out.stdout.contains("put-object-lock-configuration"),
        "{out:?}"
    );
}
