//! Wrong flags and flag combinations: exit 2 and a message that names the
//! problem, before any AWS call; help and version exit 0.

use crate::common::*;

async fn run(args: &[&str]) -> (i32, String, String) {
    let out = auditship_command()
        .args(args)
        // Nothing listens here: reaching AWS would fail differently.
        .env("AUDITSHIP_RDS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AUDITSHIP_S3_ENDPOINT_URL", "http://127.0.0.1:9")
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_flags_exit_2_naming_the_problem() {
    let cases: &[(&[&str], &str)] = &[
        (&["run", "--instance", "db-1"], "--bucket"),
        (&["run", "--bucket", "bkt"], "nothing selected"),
        (&["run", "--bucket", "bkt", "--cluster", "c", "--with-replicas"], "--with-replicas needs --instance"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--object-size", "10"], "--object-size"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--multipart-threshold", "1000"], "--multipart-threshold"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--active-file", "maybe"], "--active-file"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--tag", "novalue"], "KEY=VALUE"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--concurrency", "0"], "--concurrency"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--max-attempts", "0"], "--max-attempts"),
        (&["run", "--bucket", "", "--instance", "i"], "--bucket is empty"),
        (&["run", "--bucket", "s3://b/x", "--instance", "i"], "takes a bucket name"),
        (&["run", "--bucket", "b/x", "--instance", "i"], "--prefix"),
        (&["run", "--bucket", "b b", "--instance", "i"], "is not a bucket name"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--prefix", "a//b"], "empty path segment"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--region", "EU West"], "--region"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--s3-endpoint-url", "localhost:9000"], "--s3-endpoint-url"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--rds-endpoint-url", "ftp://x"], "--rds-endpoint-url"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--max-run-seconds", "0"], "--max-run-seconds"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--read-timeout-seconds", "0"], "--read-timeout-seconds"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--object-size", "lots"], "--object-size"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--log-format", "xml"], "--log-format"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--concurrency", "-1"], "--concurrency"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--no-such-flag"], "--no-such-flag"),
        (&["discover", "--instance", "i", "--bucket", "bkt"], "--bucket"),
        (&["discover", "--instance", "i", "--region", ""], "--region"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--interval", "0"], "at least 1s"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--interval", "5 minutes"], "not a duration"),
        (
            &["backfill", "--bucket", "bkt", "--instance", "i", "--since", "2026-01-01", "--interval", "5m"],
            "a backfill runs once",
        ),
        (&["run", "--bucket", "bkt", "--discover", "sql"], "--discover sql needs --db-endpoint"),
        (
            &["doctor", "--bucket", "bkt", "--instance", "i", "--db-user", "u", "--db-iam-auth", "--db-tls", "off"],
            "needs --db-tls required",
        ),
        (
            &["doctor", "--bucket", "bkt", "--instance", "i", "--db-user", "u", "--db-endpoint", "nohost"],
            "not HOST:PORT",
        ),
        (&["ship-everything"], "unrecognized subcommand"),
        (&["discover"], "nothing selected"),
    ];
    for (args, says) in cases {
        let (code, _, stderr) = run(args).await;
        assert_eq!(code, 2, "{args:?}: {stderr}");
        assert!(stderr.contains(says), "{args:?} should say {says:?}: {stderr}");
        assert!(!stderr.contains("127.0.0.1:9"), "{args:?} reached for AWS: {stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn help_and_version_exit_0() {
    let (code, stdout, _) = run(&["--version"]).await;
    assert_eq!((code, stdout.trim()), (0, format!("auditship {}", env!("CARGO_PKG_VERSION")).as_str()));
    let (code, stdout, _) = run(&["run", "--help"]).await;
    assert_eq!(code, 0);
    for flag in ["--cluster", "--with-replicas", "--max-run-seconds", "AUDITSHIP_BUCKET", "--active-file"] {
        assert!(stdout.contains(flag), "help mentions {flag}");
    }
}
