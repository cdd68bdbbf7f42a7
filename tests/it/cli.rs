//! Wrong flags and flag combinations: exit 2 and a message that names the
//! problem, before any AWS call; help and version exit 0.

use crate::common::*;

async fn run(args: &[&str]) -> (i32, String, String) {
    run_with(args, &[]).await
}

async fn run_with(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let out = auditship_command()
        .args(args)
        // Nothing listens here: reaching AWS would fail differently.
        .env("AUDITSHIP_RDS_ENDPOINT_URL", "http://127.0.0.1:9")
        .env("AUDITSHIP_S3_ENDPOINT_URL", "http://127.0.0.1:9")
        .envs(env.iter().copied())
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
        (
            &["run", "--bucket", "bkt", "--instance", "i", "--s3-endpoint-url", "localhost:9000"],
            "e.g. --s3-endpoint-url https://s3.eu-west-1.amazonaws.com",
        ),
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
        (&["discover", "--instance", "i", "--external-id", "x1"], "--external-id goes with --assume-role"),
        (
            &["discover", "--instance", "i", "--assume-role", "reader"],
            "is not an IAM role ARN: e.g. --assume-role arn:aws:iam::",
        ),
        (&["discover", "--instance", "i", "--assume-role", "arn:aws:iam::12:role/r"], "is not an IAM role ARN"),
        (
            &[
                "discover",
                "--instance",
                "i",
                "--assume-role",
                "arn:aws:iam::123456789012:role/r",
                "--role-session-name",
                "a b",
            ],
            "--role-session-name 'a b'",
        ),
        (&["run", "--bucket", "bkt", "--instance", "i", "--bucket-region", "Mars"], "--bucket-region 'Mars'"),
        (&["run", "--bucket", "bkt", "--instance", "i", "--sts-endpoint-url", "sts"], "--sts-endpoint-url"),
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
    // The version names the commit built and the day it was built.
    let (code, stdout, _) = run(&["--version"]).await;
    assert_eq!(code, 0, "{stdout}");
    let rest = stdout.trim().strip_prefix(&format!("auditship {} (commit ", env!("CARGO_PKG_VERSION"))).unwrap();
    let (commit, date) = rest.strip_suffix(')').unwrap().split_once(", built ").unwrap();
    let head = std::process::Command::new("git").args(["rev-parse", "HEAD"]).output().unwrap();
    assert!(head.status.success(), "tests run in a git checkout");
    assert_eq!(commit, &String::from_utf8_lossy(&head.stdout)[..12], "{stdout}");
    let built = chrono::NaiveDate::parse_from_str(date, "%Y-%m-%d").unwrap();
    assert!(built <= chrono::Utc::now().date_naive(), "{stdout}");
    let (code, stdout, _) = run(&["run", "--help"]).await;
    assert_eq!(code, 0);
    for flag in ["--cluster", "--with-replicas", "--max-run-seconds", "AUDITSHIP_BUCKET", "--active-file"] {
        assert!(stdout.contains(flag), "help mentions {flag}");
    }
}

/// A flag's environment variable takes the values people write for a
/// yes/no (1, true, yes, on; 0, false, no, off), and a value it cannot
/// take is named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn yes_no_variables_take_the_usual_spellings() {
    let needs_instance = "--with-replicas needs --instance";
    for yes in ["1", "true", "yes", "on", "TRUE"] {
        let (code, _, stderr) =
            run_with(&["run", "--bucket", "bkt", "--cluster", "c"], &[("AUDITSHIP_WITH_REPLICAS", yes)]).await;
        assert_eq!(code, 2, "{yes}: {stderr}");
        assert!(stderr.contains(needs_instance), "AUDITSHIP_WITH_REPLICAS={yes}: {stderr}");
    }
    for no in ["0", "false", "no", "off"] {
        let (_, _, stderr) =
            run_with(&["run", "--bucket", "bkt", "--cluster", "c"], &[("AUDITSHIP_WITH_REPLICAS", no)]).await;
        assert!(!stderr.contains(needs_instance), "AUDITSHIP_WITH_REPLICAS={no}: {stderr}");
        assert!(!stderr.contains("invalid value"), "AUDITSHIP_WITH_REPLICAS={no}: {stderr}");
    }
    let (code, _, stderr) =
        run_with(&["run", "--bucket", "bkt", "--instance", "i"], &[("AUDITSHIP_DRY_RUN", "maybe")]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("'maybe'") && stderr.contains("--dry-run"), "{stderr}");
}

/// An endpoint no retry will reach: nothing listening, or an https:// URL
/// for a plain-HTTP endpoint. Exit 2 (a person must fix the URL), one line
/// that says so in words, without the SDK's debug structures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_endpoint_is_named_in_one_line_and_exits_2() {
    // Answers every connection in plain HTTP, as an http-only server does.
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = plain.local_addr().unwrap().port();
    tokio::spawn(async move {
        use tokio::io::AsyncWriteExt;
        while let Ok((mut conn, _)) = plain.accept().await {
            let _ = conn.write_all(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n\r\n").await;
        }
    });
    let https_to_plain = format!("https://127.0.0.1:{port}");
    let cases: [(&[(&str, &str)], &str); 2] = [
        (&[], "the connection was refused"),
        (
            &[("AUDITSHIP_S3_ENDPOINT_URL", &https_to_plain), ("AUDITSHIP_RDS_ENDPOINT_URL", &https_to_plain)],
            "the TLS handshake failed",
        ),
    ];
    for (env, says) in cases {
        for command in ["status", "run", "verify"] {
            let args = [command, "--bucket", "bkt", "--instance", "i", "--max-attempts", "2"];
            let (code, _, stderr) = run_with(&args, env).await;
            assert_eq!(code, 2, "{command} {env:?}: {stderr}");
            let line = stderr.lines().find(|l| l.starts_with("auditship: error:")).unwrap_or_default();
            assert!(line.contains(says) && line.contains("--s3-endpoint-url"), "{command} {env:?}: {stderr}");
            for debug in ["DispatchFailure", "ConnectorError", "{ ", "Os {"] {
                assert!(!stderr.contains(debug), "{command} {env:?} shows {debug}: {stderr}");
            }
        }
    }
}

/// An endpoint that accepts connections and never answers: every command
/// takes `--read-timeout-seconds` / `AUDITSHIP_READ_TIMEOUT_SECONDS`, says
/// what it waits for while it waits, gives up after its attempts, and exits
/// 1 (transient: the endpoint is there).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_endpoint_is_announced_while_waited_for_then_given_up_on() {
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", silent.local_addr().unwrap());
    tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((conn, _)) = silent.accept().await {
            held.push(conn);
        }
    });
    let endpoints = [("AUDITSHIP_S3_ENDPOINT_URL", url.as_str()), ("AUDITSHIP_RDS_ENDPOINT_URL", url.as_str())];
    let target = ["--bucket", "bkt", "--instance", "i", "--max-attempts", "1"];
    let by_flag = (["run", "--read-timeout-seconds", "10"].as_slice(), None);
    let by_env = (["status"].as_slice(), Some(("AUDITSHIP_READ_TIMEOUT_SECONDS", "10")));
    for (command, variable) in [by_flag, by_env] {
        let args: Vec<&str> = command.iter().chain(&target).copied().collect();
        let env: Vec<(&str, &str)> = endpoints.iter().copied().chain(variable).collect();
        let (code, _, stderr) = run_with(&args, &env).await;
        assert_eq!(code, 1, "{args:?}: {stderr}");
        assert!(
            stderr.contains("S3 HeadBucket: no answer yet after 2s; each attempt waits up to 10s"),
            "{args:?} waited in silence: {stderr}"
        );
        let last = stderr.lines().find(|l| l.starts_with("auditship: error:")).unwrap_or_default();
        assert!(last.contains("no answer within the read timeout"), "{args:?}: {stderr}");
    }
    // A run's time limit bounds the wait too, whatever the read timeout.
    let args =
        ["run", "--max-run-seconds", "1", "--read-timeout-seconds", "3600", "--bucket", "bkt", "--instance", "i"];
    let (code, _, stderr) = run_with(&args, &endpoints).await;
    assert_eq!(code, 1, "{stderr}");
    let last = stderr.lines().find(|l| l.starts_with("auditship: error:")).unwrap_or_default();
    assert!(
        last.contains("the run's time limit (--max-run-seconds) was reached while the bucket was checked"),
        "{stderr}"
    );
}

/// In human logs a failure that ends the command is said once, on the
/// `auditship: error:` line.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fatal_error_is_said_once_in_human_logs() {
    let args = ["status", "--bucket", "bkt", "--instance", "i", "--max-attempts", "1", "--log-format", "human"];
    let (code, _, stderr) = run_with(&args, &[]).await;
    assert_eq!(code, 2, "{stderr}");
    let said = stderr.lines().filter(|l| l.contains("the connection was refused")).count();
    assert_eq!(said, 1, "{stderr}");
}

/// No credentials anywhere: one line naming the fix and how to check it,
/// exit 2, without the SDK's error structures.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_are_one_line_with_the_fix() {
    let out = auditship_command()
        .args(["status", "--bucket", "bkt", "--instance", "i"])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .env("HOME", "/nonexistent")
        .env("AWS_CONFIG_FILE", "/nonexistent/config")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    let line = stderr.lines().find(|l| l.starts_with("auditship: error:")).unwrap_or_default();
    assert!(line.contains("no usable AWS credentials") && line.contains("aws sts get-caller-identity"), "{stderr}");
    for debug in ["CredentialsNotLoaded", "{ ", "source:"] {
        assert!(!stderr.contains(debug), "shows {debug}: {stderr}");
    }
}

/// Completion scripts and man pages come from the flag definitions: every
/// shell's script knows the commands and their flags, bash's parses, and
/// the man pages carry the exit status and one page per command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_and_man_pages_are_generated_from_the_flags() {
    for shell in ["bash", "zsh", "fish", "elvish", "powershell"] {
        let (code, script, stderr) = run(&["completions", shell]).await;
        assert_eq!(code, 0, "{shell}: {stderr}");
        for word in ["backfill", "max-run-seconds", "read-timeout-seconds"] {
            assert!(script.contains(word), "{shell} completes {word}");
        }
    }
    let (_, bash, _) = run(&["completions", "bash"]).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("auditship.bash"), &bash).unwrap();
    let parsed = std::process::Command::new("bash").arg("-n").arg(dir.path().join("auditship.bash")).status().unwrap();
    assert!(parsed.success(), "bash -n refuses the script");
    let (code, _, stderr) = run(&["completions", "tcsh"]).await;
    assert_eq!(code, 2, "an unknown shell is a wrong flag: {stderr}");
    assert!(stderr.contains("tcsh") && stderr.contains("bash"), "{stderr}");

    let (code, page, _) = run(&["man"]).await;
    assert_eq!(code, 0);
    assert!(page.contains(".TH auditship 1"), "{page}");
    assert!(page.contains("Exit status") && page.contains("a person must fix something"), "{page}");
    let pages = dir.path().join("man1");
    let (code, said, stderr) = run(&["man", "--out-dir", pages.to_str().unwrap()]).await;
    assert_eq!(code, 0, "{stderr}");
    assert!(said.contains(pages.to_str().unwrap()), "{said}");
    for command in ["run", "backfill", "status", "verify", "doctor", "discover"] {
        let page = std::fs::read_to_string(pages.join(format!("auditship-{command}.1"))).unwrap();
        assert!(page.contains(&format!(".TH auditship-{command} 1")), "{command}: {page}");
        assert!(page.contains("AUDITSHIP_BUCKET") || command == "discover", "{command}'s page names the variables");
    }
    let blocked = dir.path().join("a-file");
    std::fs::write(&blocked, b"").unwrap();
    let (code, _, stderr) = run(&["man", "--out-dir", blocked.join("x").to_str().unwrap()]).await;
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("--out-dir") && stderr.contains("writable directory"), "{stderr}");
}
