//! `auditship doctor` against the real stack: a healthy deployment passes;
//! a denied RDS or S3 permission, an S3 endpoint that ignores conditional
//! writes, and auditing switched off on the real MariaDB each fail with the
//! thing named and the right exit code.

use crate::common::*;

async fn doctor(stack: &Stack, extra: &[&str], password: Option<&str>) -> RunOutput {
    let mut cmd = stack.bare_command_for("doctor");
    cmd.args(stack.selection()).args(extra);
    if let Some(p) = password {
        cmd.env("AUDITSHIP_DB_PASSWORD", p);
    }
    finished(cmd).await
}

const DB: [&str; 4] = ["--db-user", "app", "--db-tls", "off"];

fn line<'a>(out: &'a RunOutput, starts: &str) -> &'a str {
    out.stdout.lines().find(|l| l.starts_with(starts)).unwrap_or_else(|| panic!("no '{starts}' line: {}", out.stdout))
}

/// Every check passes on the local stack (versioning and Object Lock are
/// off on the test bucket: warnings, exit 0), and doctor leaves nothing
/// but its probe object behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_healthy_deployment_passes_every_check() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(50, None);
    let out = doctor(&stack, &DB, Some("app-pass")).await;
    assert_eq!(out.code, 0, "{out:?}");
    for check in [
        "ok    aws credentials: access key AKIDAUDI…, region us-east-1",
        "ok    rds:DescribeDBInstances: primary (writer), replica (reader)",
        "ok    rds:DescribeDBLogFiles primary",
        "ok    rds:DownloadCompleteDBLogFile replica",
        "ok    bucket ",
        "ok    s3:ListBucket",
        "ok    s3:GetObject checkpoint primary: none yet",
        "ok    s3:PutObject conditional writes",
        "warn  bucket versioning",
        "ok    database primary: logged in",
        "ok    server_audit_logging replica: ON",
        "ok    server_audit_events primary",
    ] {
        line(&out, check);
    }
    assert!(line(&out, "doctor: ").contains(" 0 failed"), "{}", out.stdout);
    assert!(!out.stdout.contains("app-pass") && !out.stderr.contains("app-pass"), "the password leaked");
    let keys: Vec<String> = stack.objects().await.into_keys().collect();
    assert_eq!(keys, [format!("{PREFIX}/_doctor/conditional-write-probe.json")]);
    // A second doctor finds its own probe and still proves the point.
    let again = doctor(&stack, &[], None).await;
    assert_eq!(again.code, 0, "{again:?}");
    line(&again, "ok    s3:PutObject conditional writes");

    // The same checks as JSON, one object each, then the summary.
    let json = doctor(&stack, &[&DB[..], &["--json"]].concat(), Some("app-pass")).await;
    assert_eq!(json.code, 0, "{json:?}");
    let lines: Vec<serde_json::Value> =
        json.stdout.lines().map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}"))).collect();
    let (summary, checks) = lines.split_last().unwrap();
    let names = |out: &RunOutput| -> Vec<String> {
        out.stdout
            .lines()
            .filter(|l| !l.starts_with("doctor: "))
            .map(|l| l[6..l.find(": ").unwrap()].to_string())
            .collect()
    };
    let json_names: Vec<String> = checks.iter().map(|c| c["check"].as_str().unwrap().to_string()).collect();
    assert_eq!(json_names, names(&out), "{}", json.stdout);
    assert!(checks.iter().all(|c| ["ok", "warn"].contains(&c["verdict"].as_str().unwrap())), "{}", json.stdout);
    assert_eq!((summary["failed"].as_u64(), summary["exit_code"].as_u64()), (Some(0), Some(0)), "{summary}");
    assert_eq!(summary["checks"].as_u64(), Some(checks.len() as u64), "{summary}");
}

/// A denied action is named, with exit 2; the other checks still run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn denied_permissions_are_named() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(50, None);
    stack.rds_faults(&[RdsFault::new("DownloadCompleteDBLogFile", RdsFaultKind::Forbidden)
        .instance("primary")
        .times(10)]);
    stack.s3_faults(&[S3Fault::new("PUT", S3FaultKind::Forbidden).path_contains("/_doctor/").times(10)]);
    let out = doctor(&stack, &[], None).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(line(&out, "FAIL  rds:DownloadCompleteDBLogFile primary").contains("rds:DownloadCompleteDBLogFile"));
    line(&out, "ok    rds:DownloadCompleteDBLogFile replica");
    assert!(line(&out, "FAIL  s3:PutObject conditional writes").contains("s3:PutObject"), "{}", out.stdout);
    line(&out, "ok    s3:ListBucket");
    assert!(line(&out, "doctor: ").contains(" 2 failed"), "{}", out.stdout);
    line(&out, "warn  bucket versioning: Off");

    // Settings it cannot read are one line each, in words: no SDK dump.
    stack.clear_rds_faults();
    stack.s3_faults(&[
        S3Fault::new("GET", S3FaultKind::ForeignAnswer).query_contains("versioning").times(10),
        S3Fault::new("GET", S3FaultKind::InternalError).query_contains("object-lock").times(10),
    ]);
    let out = doctor(&stack, &["--max-attempts", "1"], None).await;
    for check in ["warn  bucket versioning: cannot tell: ", "warn  bucket object lock: cannot tell: "] {
        let said = line(&out, check);
        assert!(said.len() < 400, "{said}");
        for debug in ["{ ", "ServiceError", "SdkError", "source:", "raw:"] {
            assert!(!said.contains(debug), "shows {debug}: {said}");
        }
    }
    let foreign = line(&out, "warn  bucket versioning");
    assert!(foreign.contains("answered HTTP 200 with a body that is not this call's response"), "{foreign}");
    // A denied read names the permission.
    stack.clear_s3_faults();
    stack.s3_faults(&[S3Fault::new("GET", S3FaultKind::Forbidden).query_contains("versioning").times(10)]);
    let out = doctor(&stack, &["--max-attempts", "1"], None).await;
    assert!(line(&out, "warn  bucket versioning").contains("s3:GetBucketVersioning"), "{}", out.stdout);
}

/// An S3 endpoint that drops If-Match / If-None-Match would let runs
/// overwrite each other: doctor refuses it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endpoint_ignoring_conditional_writes_fails() {
    let stack = Stack::start(Options::default()).await;
    stack.s3_faults(&[S3Fault::new("PUT", S3FaultKind::IgnorePreconditions).path_contains("/_doctor/").times(10)]);
    let out = doctor(&stack, &[], None).await;
    assert_eq!(out.code, 2, "{out:?}");
    assert!(line(&out, "FAIL  s3:PutObject conditional writes").contains("ignores conditional writes"));
}

/// Auditing switched off on the real MariaDB is exit 3, not a warning;
/// CONNECT/QUERY not recorded is exit 3 too; excluded users are a warning;
/// a missing password or wrong one is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auditing_off_or_incomplete_on_the_database_is_exit_3() {
    let stack = Stack::start(Options::default()).await;
    stack.primary.traffic(20, None);
    stack.primary.sql("SET GLOBAL server_audit_logging = OFF");
    stack.replica.sql("SET GLOBAL server_audit_events = 'QUERY_DDL'");
    stack.replica.sql("SET GLOBAL server_audit_excl_users = 'batch'");
    let out = doctor(&stack, &DB, Some("app-pass")).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(line(&out, "FAIL  server_audit_logging primary").contains("auditing is off on primary"));
    assert!(line(&out, "FAIL  server_audit_events replica").contains("does not record CONNECT and QUERY"));
    assert!(line(&out, "warn  server_audit_excl_users replica").contains("batch"));

    let no_password = doctor(&stack, &DB, None).await;
    assert_eq!(no_password.code, 2, "{no_password:?}");
    assert!(no_password.stderr.contains("AUDITSHIP_DB_PASSWORD"), "{}", no_password.stderr);
    let wrong = doctor(&stack, &DB, Some("not-the-password")).await;
    assert_eq!(wrong.code, 2, "{wrong:?}");
    assert!(line(&wrong, "FAIL  database primary").contains("cannot log in"), "{}", wrong.stdout);
    assert!(!wrong.stdout.contains("not-the-password") && !wrong.stderr.contains("not-the-password"));
}
